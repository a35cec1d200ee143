"""The runs/search filter grammar, operator by operator and entity by entity, on every database.

Expected results are the official server's (3.17.2) for the same runs: which comparators each
entity type accepts, how keys and values are quoted, the attribute aliases, numeric against
string comparison, NaN and infinities, IS NULL, and what is refused with a 400.
tests/tracking/test_search.py covers the basic cases; this file covers the rest of the grammar.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from conftest import unique
from search_support import Rest, assert_invalid, run_ids, search_body, seed_run

NAN, INF = float("nan"), float("inf")

# a..e active in experiment G, f deleted in G, g in a second experiment.
RUNS = {
    "a": dict(name="alpha", start=1000, status="FINISHED", end=1500, user="u1",
              params={"p": "x", "lr": "0.1", "my key": "v1", "k-dash": "d1", "n": "10",
                      "path": "C:\\data\\x"},
              metrics={"m": 0.9, "i": 10, "a.b": 1.0, "neg": -1.5, "m-dash": 3},
              tags={"t": "Yes", "t.dot": "1", "sp ace": "q", "q": "it''s"}),
    "b": dict(name="Beta", start=2000, status="FAILED", end=2500, user="u2",
              params={"p": "y", "lr": "0.01", "n": "9"},
              metrics={"m": 0.2, "i": 2, "nanm": NAN},
              tags={"t": "no", "q": "it's", "dq": 'say "hi"'}),
    "c": dict(name="gamma_1", start=3000, status="RUNNING", user="u1",
              params={"p": "X", "n": "100"},
              metrics={"m": 0.7, "nanm": 1.0, "inf": INF},
              tags={"t": "yes%"}),
    "d": dict(name="de%lta", start=3500, status="KILLED", end=4000, user="U1",
              params={"lr": "1e-3", "sp": "x "},
              metrics={"inf": -INF}),
    "e": dict(name="eps", start=4000, status="FINISHED", end=4500, user="u3",
              params={"p": ""}, metrics={"m": 0}, tags={"t": ""}),
    "f": dict(name="zeta", start=5000, params={"p": "x"}, metrics={"m": 5.0}, deleted=True),
}


@pytest.fixture(scope="module")
def g(server):
    rest = Rest(server)
    exp = rest.experiment(unique("grammar"))
    other = rest.experiment(unique("grammar-other"))
    ids = {label: seed_run(rest, exp, **spec) for label, spec in RUNS.items()}
    ids["g"] = seed_run(rest, other, name="other", start=6000, params={"p": "x"}, metrics={"m": 0.6})
    return SimpleNamespace(rest=rest, server=server, exp=exp, other=other, ids=ids,
                           label_of={v: k for k, v in ids.items()})


def find(g, flt, experiments=None, **extra):
    response = g.rest.post("runs/search", search_body(experiments or [g.exp], flt, **extra))
    found = [g.label_of[r] for r in run_ids(response)]
    assert len(found) == len(set(found)), f"a run came back twice: {found}"
    return set(found)


def case(flt, expected, id=None):
    return pytest.param(flt, set(expected), id=id or flt)


METRIC_CASES = [
    case("metrics.m < 0.7", "be"),
    case("metrics.m >= 0.7", "ac"),
    case("metrics.m > 0", "abc"),
    case("metrics.m <= 0", "e"),
    case("metrics.m != 0", "abc"),
    case("metrics.m = 0.2", "b"),
    case("metrics.m != 12345", "abce", id="!= skips runs without the metric"),
    case("metrics.i = 10", "a", id="integer literal"),
    case("metrics.i = 10.0", "a"),
    case("metrics.i = 1e1", "a", id="exponent literal"),
    case("metrics.i > 9.5", "a"),
    case("metrics.neg < -1", "a", id="negative literal"),
    case("metrics.m > .5", "ac", id="leading-dot literal"),
    case("metrics.m > 5e-1", "ac"),
    case("metrics.M > 0", "", id="keys are case-sensitive"),
    case("metric.m > 0.5", "ac", id="entity alias metric"),
    case('metrics."a.b" = 1', "a", id="double-quoted dotted key"),
    case("metrics.a.b = 1", "a", id="unquoted dotted key"),
    case("metrics.`m-dash` = 3", "a", id="backticked dash key"),
    case('metrics."m-dash" >= 3', "a", id="double-quoted dash key"),
    # NaN compares unequal to everything and fails every other comparison
    case("metrics.nanm != 1", "b", id="NaN satisfies !="),
    case("metrics.nanm != 5", "bc", id="NaN and a value both !="),
    case("metrics.nanm = 1", "c"),
    case("metrics.nanm >= 0", "c", id="NaN fails >="),
    case("metrics.nanm < 100", "c", id="NaN fails <"),
    case("metrics.inf > 1e308", "c", id="+inf above any finite value"),
    case("metrics.inf < -1e308", "d", id="-inf below any finite value"),
    case("metrics.inf != 0", "cd"),
]

PARAM_CASES = [
    case("params.p = 'X'", "c", id="= is case-sensitive"),
    case("params.p != 'x'", "bce", id="!= skips runs without the param"),
    case("params.p = ''", "e", id="empty value"),
    case("params.p != ''", "abc"),
    case("params.p LIKE 'x'", "a", id="LIKE without wildcards"),
    case("params.p ILIKE 'x'", "ac"),
    case("params.p LIKE '_'", "abc", id="underscore matches one character"),
    case("params.p LIKE '%'", "abce", id="percent matches the empty value"),
    case("params.p LIKE ''", "e"),
    case("params.n = '10'", "a", id="numeric-looking param compared as string"),
    case("params.lr LIKE '0._'", "a"),
    case("params.lr LIKE '%.%'", "ab"),
    case("params.p like 'x'", "a", id="lower-case like"),
    case("params.p ilike 'X'", "ac", id="lower-case ilike"),
    case('params."my key" = \'v1\'', "a", id="double-quoted key with space"),
    case("params.'my key' = 'v1'", "a", id="single-quoted key with space"),
    case("params.`k-dash` = 'd1'", "a", id="backticked dash key"),
    case('params."k-dash" LIKE \'d%\'', "a", id="double-quoted dash key"),
    case("params.sp = 'x '", "d", id="trailing space is significant"),
    case("params.sp = 'x'", "", id="no match without the trailing space"),
    case("params.sp LIKE 'x'", "", id="LIKE keeps the trailing space too"),
    case("params.path = 'C:\\data\\x'", "a", id="backslashes are literal"),
    case("param.p = 'x'", "a", id="entity alias param"),
    case("parameter.p = 'x'", "a", id="entity alias parameter"),
    case("parameters.p = 'x'", "a", id="entity alias parameters"),
    case("`params`.p = 'x'", "a", id="backticked entity"),
    case("`params`.`my key` = 'v1'", "a", id="backticked entity and key"),
]

TAG_CASES = [
    case("tags.t = 'Yes'", "a"),
    case("tags.t != 'yes'", "abce"),
    case("tags.t LIKE 'yes%'", "c", id="LIKE is case-sensitive"),
    case("tags.t ILIKE 'yes%'", "ac"),
    case("tags.t = ''", "e"),
    case("tags.t.dot = '1'", "a", id="unquoted dotted key"),
    case("tags.`t.dot` = '1'", "a"),
    case('tags."sp ace" = \'q\'', "a"),
    case("tags.q = \"it's\"", "b", id="double-quoted value with an apostrophe"),
    case("tags.q = 'it''s'", "a", id="doubled quotes are not unescaped"),
    case("tags.q = 'it\\'s'", "", id="a backslash before a quote is kept"),
    case("tags.dq = 'say \"hi\"'", "b", id="single-quoted value with double quotes"),
    case("tag.t = 'no'", "b", id="entity alias tag"),
    case("tags.`mlflow.runName` ILIKE 'BETA'", "b"),
    case("tags.mlflow.runName LIKE '%a'", "abd"),
]

ATTRIBUTE_CASES = [
    case("attributes.status = 'finished'", "", id="status is case-sensitive"),
    case("attributes.status ILIKE 'finished'", "ae"),
    case("attributes.status LIKE 'F%'", "abe"),
    case("attributes.status LIKE '%ED'", "abde"),
    case("attr.status = 'FAILED'", "b", id="entity alias attr"),
    case("run.status = 'FAILED'", "b", id="entity alias run"),
    case("attribute.status = 'KILLED'", "d", id="entity alias attribute"),
    case("attributes.user_id = 'u1'", "ac"),
    case("attributes.user_id ILIKE 'u1'", "acd"),
    case("attributes.user_id != 'U1'", "abce"),
    case("user_id LIKE 'u%'", "abce", id="user_id without prefix"),
    case("attributes.run_name ILIKE 'beta'", "b"),
    case("attributes.run_name LIKE 'gamma_1'", "c"),
    case("attributes.run_name LIKE 'gamma_'", "", id="underscore is exactly one character"),
    case("attributes.run_name != 'alpha'", "bcde"),
    case("run_name = 'alpha'", "a", id="run_name without prefix"),
    case("attributes.`Run name` = 'alpha'", "a", id="alias Run name"),
    case("attributes.`run name` = 'alpha'", "a", id="alias run name"),
    case("`Run Name` = 'alpha'", "a", id="alias Run Name without prefix"),
    case("attributes.start_time = 3000", "c"),
    case("start_time != 3000", "abde"),
    case("attributes.start_time > 2500.5", "cde", id="float against a time"),
    case("attributes.start_time = 1e3", "a"),
    case("attributes.start_time <= 2000", "ab"),
    case("attributes.end_time != 1500", "bde", id="!= skips a running run without end_time"),
    case("attributes.end_time > 0", "abde"),
    case("attributes.end_time < 2600", "ab"),
    case("created > 2500", "cde", id="alias created"),
    case("Created >= 3500", "de", id="alias Created"),
    case("attributes.created < 2000", "a"),
]

COMBINED_CASES = [
    case("params.p = 'x' AND params.p = 'y'", ""),
    case("params.p != 'x' AND params.p != 'y'", "ce"),
    case("metrics.m > 0.1 AND metrics.m < 0.8", "bc", id="range on one metric"),
    case("metrics.m >= 0 and tags.t != 'no' and attributes.status = 'FINISHED'", "ae",
         id="three entity types, lower-case and"),
    case("params.p='x'", "a", id="no spaces around ="),
    case("metrics.m>0.5", "ac", id="no spaces around >"),
    case("  metrics.m > 0.5   ", "ac", id="surrounding blanks"),
    case("metrics.m >\n0.5\tAND\nparams.p = 'x'", "a", id="newlines and tabs"),
]


@pytest.mark.parametrize("flt, expected", METRIC_CASES)
def test_metric_filters(g, flt, expected):
    assert find(g, flt) == expected


@pytest.mark.parametrize("flt, expected", PARAM_CASES)
def test_param_filters(g, flt, expected):
    assert find(g, flt) == expected


@pytest.mark.parametrize("flt, expected", TAG_CASES)
def test_tag_filters(g, flt, expected):
    assert find(g, flt) == expected


@pytest.mark.parametrize("flt, expected", ATTRIBUTE_CASES)
def test_attribute_filters(g, flt, expected):
    assert find(g, flt) == expected


@pytest.mark.parametrize("flt, expected", COMBINED_CASES)
def test_combined_filters(g, flt, expected):
    assert find(g, flt) == expected


@pytest.mark.parametrize("flt, expected", [
    case("params.p IS NULL", "d"),
    case("params.p IS NOT NULL", "abce"),
    case("tags.t IS NULL", "d"),
    case("tags.t is not null", "abce", id="lower-case is not null"),
    case("params.zz IS NULL", "abcde", id="a key no run has"),
    case("tags.t IS NOT NULL AND params.p IS NULL", ""),
    case("params.lr IS NOT NULL AND metrics.m > 0", "ab"),
])
def test_is_null_on_params_and_tags(g, flt, expected):
    assert find(g, flt) == expected


def test_run_id_comparators(g):
    ids = g.ids
    assert find(g, f"attributes.run_id LIKE '{ids['b'][:12]}%'") == {"b"}
    assert find(g, f"attributes.run_id ILIKE '{ids['b'].upper()}'") == {"b"}
    assert find(g, f"attributes.run_id != '{ids['a']}'") == set("bcde")
    assert find(g, f"attributes.run_id in ('{ids['a']}', 'nope')") == {"a"}
    assert find(g, f"run_id not in ('{ids['a']}', '{ids['b']}')") == set("cde")
    assert find(g, f"attributes.run_id IN ('{ids['a']}',)") == {"a"}  # a trailing comma, as in Python
    assert find(g, f"attributes.run_id IN ('{ids['a']}', \"{ids['b']}\", 'it\\'s')") == {"a", "b"}
    assert find(g, f"attributes.artifact_uri LIKE '%{ids['c']}%'") == {"c"}
    # a run of another experiment or a deleted run never leaks in
    assert find(g, f"attributes.run_id IN ('{ids['f']}', '{ids['g']}')") == set()
    assert find(g, f"attributes.run_id IN ('{ids['f']}', '{ids['g']}')", run_view_type="ALL") == {"f"}


def test_filters_over_several_experiments_and_view_types(g):
    assert find(g, "params.p = 'x'", [g.exp, g.other]) == {"a", "g"}
    assert find(g, "params.p = 'x'", [g.exp, g.other], run_view_type="ALL") == {"a", "f", "g"}
    assert find(g, "metrics.m >= 5", run_view_type="DELETED_ONLY") == {"f"}
    assert find(g, "metrics.m >= 5", run_view_type="ACTIVE_ONLY") == set()


def test_searches_of_one_shape_answer_for_their_own_values(g):
    """The server builds a search's SQL once per shape (keys, comparators, order) and runs it with
    each search's values: searches alternating values each get their own answer."""
    for _ in range(2):
        assert find(g, "metrics.m > 0.5") == {"a", "c"}
        assert find(g, "metrics.m > 0.1") == {"a", "b", "c"}
        assert find(g, "params.p = 'y' AND metrics.m < 1") == {"b"}
        assert find(g, "params.p = 'x' AND metrics.m < 1") == {"a"}
        assert find(g, f"attributes.run_id IN ('{g.ids['a']}', '{g.ids['c']}')") == {"a", "c"}
        assert find(g, f"attributes.run_id IN ('{g.ids['b']}')") == {"b"}


@pytest.mark.parametrize("view, expected", [(1, "abcde"), (2, "f"), (3, "abcdef")])
def test_run_view_type_as_enum_number(g, view, expected):
    """Proto JSON enums may be sent by number: ACTIVE_ONLY=1, DELETED_ONLY=2, ALL=3."""
    assert find(g, "", run_view_type=view) == set(expected)


# What the official server refuses with 400 (INVALID_PARAMETER_VALUE), and what the message of
# that 400 must mention (any one of the words, case-insensitive).
INVALID_FILTERS = [
    # comparators that do not exist
    ("metrics.x >>> 1", [">>>"]),
    ("metrics.x == 1", ["=="]),
    ("metrics.x => 1", ["=>"]),
    ("metrics.x <> 1", ["<>"]),
    ("params.p NOT LIKE 'x'", ["NOT LIKE", "NOT"]),
    # comparators of the wrong type
    ("metrics.m LIKE '0%'", ["LIKE"]),
    ("params.n > '9'", [">"]),
    ("tags.t <= 'a'", ["<="]),
    ("attributes.status > 'A'", [">"]),
    ("attributes.run_id < 'z'", ["<"]),
    ("attributes.start_time LIKE 1000", ["LIKE"]),
    # IN / NOT IN only for run_id
    ("params.p IN ('x', 'y')", ["IN", "list"]),
    ("params.p NOT IN ('x')", ["IN", "list"]),
    ("tags.t IN ('no')", ["IN", "list"]),
    ("attributes.status IN ('FINISHED')", ["IN", "list"]),
    ("attributes.run_name IN ('alpha')", ["IN", "list"]),
    ("attributes.user_id NOT IN ('u1')", ["IN", "list"]),
    ("metrics.m IN (1)", ["IN", "list", "numeric"]),
    ("attributes.start_time IN (1000)", ["IN", "list", "numeric"]),
    ("attributes.run_id IN ()", ["empty", "list"]),
    ("attributes.run_id IN ('a', 1)", ["string", "1"]),
    ("attributes.run_id IN 'a'", ["list", "parenthes", "("]),
    # IS NULL only for params and tags
    ("metrics.m IS NULL", ["IS NULL", "metric"]),
    ("attributes.status IS NULL", ["IS NULL", "status"]),
    # values of the wrong type
    ("metrics.m > '0.5'", ["numeric", "number"]),
    ("metrics.m = NaN", ["NaN"]),
    ("params.n = 10", ["quoted", "string"]),
    ("tags.t = 1", ["quoted", "string"]),
    ("attributes.status = 1", ["quoted", "string"]),
    ("attributes.start_time > '2500'", ["numeric", "number"]),
    ("attributes.end_time = 'never'", ["numeric", "number"]),
    ("params.p = x", ["quote", "'x'"]),
    # entity types and attribute keys
    ("foo.bar = 'x'", ["foo"]),
    ("PARAMS.p = 'x'", ["PARAMS"]),
    ("Metrics.m > 0", ["Metrics"]),
    ("attributes.lifecycle_stage = 'active'", ["lifecycle_stage"]),
    ("attributes.run_uuid = 'x'", ["run_uuid"]),
    ("attributes.experiment_id = '0'", ["experiment_id"]),
    ("attributes.nope = 'x'", ["nope"]),
    ("params.k-dash = 'd1'", ["k-dash"]),
    # structure
    ("params.p = 'x", ["quote", "'x"]),
    ('params.p = "x', ["quote", '"x']),
    ("params.`p = 'x'", ["quote", "`"]),
    ("params.p = 'x' 'y'", ["'y'"]),
    ("params.p LIKE", ["value", "LIKE"]),
    ("metrics.m", ["comparator", "metrics.m"]),
    ("metrics.m > 0 OR metrics.m < 0", ["OR"]),
    ("(metrics.m > 0)", ["("]),
    ("metrics.m > 0 AND (params.p = 'x')", ["("]),
    ("metrics.m > 0 ; params.p = 'x'", [";"]),
    ("metrics.m > -inf", ["inf"]),
]


@pytest.mark.parametrize("flt, needles", [pytest.param(f, n, id=f) for f, n in INVALID_FILTERS])
def test_invalid_filters_are_400_saying_why(g, flt, needles):
    response = g.rest.post("runs/search", search_body([g.exp], flt))
    assert_invalid(response, g.server, *needles, echo=flt)


# --------------------------------------------------------------- search_experiments filters


@pytest.fixture(scope="module")
def ex(server):
    rest = Rest(server)
    prefix = unique("gx")
    specs = {"A": ("Alpha", {"team": "a", "k.dot": "1"}), "b": ("beta", {"team": "b"}),
             "g": ("gamma-x", {}), "d": ("delta_1", {"team": "A"})}
    ids = {label: rest.experiment(f"{prefix}-{name}", tags) for label, (name, tags) in specs.items()}
    return SimpleNamespace(rest=rest, server=server, prefix=prefix, ids=ids,
                           label_of={v: k for k, v in ids.items()})


def find_experiments(ex, flt, **extra):
    body = {"max_results": 1000, "filter": f"name LIKE '{ex.prefix}-%' AND {flt}", **extra}
    response = ex.rest.post("experiments/search", body)
    assert response.status_code == 200, response.text
    return {ex.label_of[e["experiment_id"]] for e in response.json().get("experiments", [])}


@pytest.mark.parametrize("flt, expected", [
    case("name = '{p}-beta'", "b"),
    case("attribute.name LIKE '%eta'", "b", id="entity alias attribute"),
    case("name ILIKE '%ALPHA'", "A"),
    case("name LIKE '%a_1'", "d"),
    case("name != '{p}-beta'", "Agd"),
    case("tags.team = 'a'", "A", id="tag = is case-sensitive"),
    case("tags.team ILIKE 'a'", "Ad"),
    case("tags.team != 'a'", "bd", id="tag != skips experiments without the tag"),
    case("tags.team LIKE '%'", "Abd"),
    case("tag.team = 'b'", "b", id="entity alias tag"),
    case("tags.k.dot = '1'", "A", id="unquoted dotted tag key"),
    case('tags."k.dot" = \'1\'', "A", id="double-quoted tag key"),
    case("tags.team IS NULL", "g"),
    case("tags.team IS NOT NULL", "Abd"),
    case("creation_time > 0", "Abgd"),
    case("last_update_time >= 0", "Abgd"),
    case("experiment_id = '{A}'", "A", id="experiment_id = quoted id"),
    case("experiment_id IN ('{A}', '{b}')", "Ab"),
    case("experiment_id NOT IN ('{A}')", "bgd"),
    case("experiment_id = '0{A}'", "A", id="experiment_id compares as a number"),
    case("experiment_id != '{A}'", "bgd"),
    case("experiment_id IN ('{A}',)", "A", id="IN list with a trailing comma"),
])
def test_experiment_filters(ex, flt, expected):
    flt = flt.format(p=ex.prefix, **ex.ids)
    assert find_experiments(ex, flt) == expected


@pytest.mark.parametrize("flt, needles", [pytest.param(f, n, id=f) for f, n in [
    ("attributes.name = 'x'", ["attributes"]),
    ("params.x = 'a'", ["params"]),
    ("metrics.x > 0", ["metrics"]),
    ("TAGS.team = 'a'", ["TAGS"]),
    ("lifecycle_stage = 'active'", ["lifecycle_stage"]),
    ("name IN ('x')", ["IN", "list"]),
    ("name > 'a'", [">"]),
    ("name = 1", ["quoted", "string"]),
    ("tags.team IN ('a')", ["IN", "list"]),
    ("tags.team > 'a'", [">"]),
    ("tags.team = 1", ["quoted", "string"]),
    ("creation_time > 0.5", ["0.5", "integer"]),
    ("creation_time > '0'", ["numeric", "number"]),
    ("creation_time LIKE '1%'", ["LIKE", "numeric"]),
    ("creation_time IS NULL", ["IS NULL", "creation_time"]),
    ("experiment_id > '0'", [">"]),
    ("experiment_id = 1", ["quoted", "string"]),
    ("experiment_id LIKE '1%'", ["LIKE"]),
    ("experiment_id = 'one'", ["experiment ID", "one"]),
    ("experiment_id IN ('1', 'x')", ["experiment ID", "x"]),
    ("name = 'x' OR name = 'y'", ["OR"]),
]])
def test_invalid_experiment_filters_are_400_saying_why(ex, flt, needles):
    response = ex.rest.post("experiments/search", {"max_results": 10, "filter": flt})
    assert_invalid(response, ex.server, *needles, echo=flt)
