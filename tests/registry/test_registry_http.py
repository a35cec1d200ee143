"""The model registry through raw HTTP: registered models, versions, tags, aliases, stages and
searches, with the status and error code of every refusal."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import unique
from registry_support import (
    as_dict, assert_error, assert_ok, create_model, create_version, download_uri, get_model, get_version, new_run,
)


@pytest.fixture(scope="module")
def run(server):
    """A run whose model folder the versions below are registered from (module scope, so
    raw requests: the api fixture is per test)."""
    base = f"{server.url}/api/2.0/mlflow/"
    experiment = assert_ok(requests.post(base + "experiments/create", json={"name": unique("reg-http")}, timeout=30))
    created = assert_ok(requests.post(base + "runs/create", json={"experiment_id": experiment["experiment_id"]},
                                      timeout=30))
    return created["run"]["info"]


def runs_source(run) -> str:
    return f"runs:/{run['run_id']}/model"


# ---------------------------------------------------------------- registered models

def test_create_get_and_duplicate(api):
    name = unique("rm")
    created = create_model(api, name, description="first", tags=[{"key": "team", "value": "vision"}])
    assert created["name"] == name and created["description"] == "first"
    assert created["creation_timestamp"] == created["last_updated_timestamp"] > 0
    assert as_dict(created["tags"]) == {"team": "vision"}
    fetched = get_model(api, name)
    assert fetched == created
    assert_error(api.post("registered-models/create", json={"name": name}), 400, "RESOURCE_ALREADY_EXISTS")
    as_prompt = assert_error(api.post("registered-models/create", json={
        "name": name, "tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"}]}), 400, "RESOURCE_ALREADY_EXISTS")
    assert "prompt" in as_prompt["message"] and "already taken" in as_prompt["message"]


def test_ajax_api_serves_the_registry(server, api):
    name = create_model(api)["name"]
    resp = requests.get(f"{server.url}/ajax-api/2.0/mlflow/registered-models/get", params={"name": name}, timeout=30)
    assert assert_ok(resp)["registered_model"]["name"] == name


@pytest.mark.parametrize("name", ["", "   ", "a/b", "a:b", ".", "..", "x" * 257])
def test_invalid_model_names_are_refused(api, name):
    assert_error(api.post("registered-models/create", json={"name": name}), 400, "INVALID_PARAMETER_VALUE")


def test_missing_model_is_404(api):
    missing = unique("missing")
    assert_error(api.get("registered-models/get", params={"name": missing}), 404, "RESOURCE_DOES_NOT_EXIST")
    for method, path, body in [
        ("PATCH", "registered-models/update", {"name": missing, "description": "x"}),
        ("POST", "registered-models/rename", {"name": missing, "new_name": unique()}),
        ("DELETE", "registered-models/delete", {"name": missing}),
        ("POST", "registered-models/set-tag", {"name": missing, "key": "k", "value": "v"}),
        ("DELETE", "registered-models/delete-tag", {"name": missing, "key": "k"}),
        ("POST", "model-versions/create", {"name": missing, "source": "mlflow-artifacts:/1/x"}),
        ("GET", "registered-models/get-latest-versions", {"name": missing}),
        ("DELETE", "registered-models/alias", {"name": missing, "alias": "a"}),
    ]:
        kw = {"params": body} if method == "GET" else {"json": body}
        assert_error(api.request(method, path, **kw), 404, "RESOURCE_DOES_NOT_EXIST")


def test_update_description_and_tags(api):
    name = create_model(api)["name"]
    updated = assert_ok(api.request("PATCH", "registered-models/update",
                                    json={"name": name, "description": "better"}))["registered_model"]
    assert updated["description"] == "better"
    assert updated["last_updated_timestamp"] >= updated["creation_timestamp"]
    assert_ok(api.post("registered-models/set-tag", json={"name": name, "key": "k", "value": "1"}))
    assert_ok(api.post("registered-models/set-tag", json={"name": name, "key": "k", "value": "2"}))
    assert_ok(api.post("registered-models/set-tag", json={"name": name, "key": "other", "value": ""}))
    assert as_dict(get_model(api, name)["tags"]) == {"k": "2", "other": ""}
    assert_ok(api.request("DELETE", "registered-models/delete-tag", json={"name": name, "key": "k"}))
    assert_ok(api.request("DELETE", "registered-models/delete-tag", json={"name": name, "key": "k"}))  # as officially
    assert as_dict(get_model(api, name)["tags"]) == {"other": ""}


@pytest.mark.parametrize("key", ["", "a b!", "../x", "/x", "x" * 251])
def test_invalid_tag_keys_are_refused(api, key):
    name = create_model(api)["name"]
    assert_error(api.post("registered-models/set-tag", json={"name": name, "key": key, "value": "v"}),
                 400, "INVALID_PARAMETER_VALUE")


def test_tag_value_limits(api, run):
    name = create_model(api)["name"]
    assert_error(api.post("registered-models/set-tag", json={"name": name, "key": "k", "value": "x" * 5001}),
                 400, "INVALID_PARAMETER_VALUE")
    version = create_version(api, name, runs_source(run))["version"]
    long_text = "t" * 100_000  # a prompt template's size
    assert_ok(api.post("model-versions/set-tag",
                       json={"name": name, "version": version, "key": "mlflow.prompt.text", "value": long_text}))
    assert as_dict(get_version(api, name, version)["tags"])["mlflow.prompt.text"] == long_text
    assert_error(api.post("model-versions/set-tag",
                          json={"name": name, "version": version, "key": "k", "value": "x" * 100_001}),
                 400, "INVALID_PARAMETER_VALUE")


def test_rename_keeps_versions_aliases_and_tags(api, run):
    name, new_name = unique("old"), unique("new")
    create_model(api, name, tags=[{"key": "k", "value": "v"}])
    create_version(api, name, runs_source(run), tags=[{"key": "vt", "value": "1"}])
    create_version(api, name, runs_source(run))
    assert_ok(api.post("registered-models/alias", json={"name": name, "alias": "champion", "version": "2"}))
    renamed = assert_ok(api.post("registered-models/rename", json={"name": name, "new_name": new_name}))
    assert renamed["registered_model"]["name"] == new_name
    assert_error(api.get("registered-models/get", params={"name": name}), 404, "RESOURCE_DOES_NOT_EXIST")
    model = get_model(api, new_name)
    assert as_dict(model["tags"]) == {"k": "v"}
    assert model["aliases"] == [{"alias": "champion", "version": "2"}]
    assert [v["name"] for v in model["latest_versions"]] == [new_name]
    assert as_dict(get_version(api, new_name, "1")["tags"]) == {"vt": "1"}
    by_alias = assert_ok(api.get("registered-models/alias", params={"name": new_name, "alias": "champion"}))
    assert by_alias["model_version"]["version"] == "2"


def test_rename_onto_an_existing_name_is_refused(api):
    first, second = create_model(api)["name"], create_model(api)["name"]
    assert_error(api.post("registered-models/rename", json={"name": first, "new_name": second}),
                 400, "RESOURCE_ALREADY_EXISTS")
    assert_error(api.post("registered-models/rename", json={"name": first, "new_name": ""}),
                 400, "INVALID_PARAMETER_VALUE")
    assert get_model(api, first)["name"] == first


def test_delete_model_takes_its_versions(api, run):
    name = create_model(api)["name"]
    create_version(api, name, runs_source(run))
    assert_ok(api.request("DELETE", "registered-models/delete", json={"name": name}))
    assert_error(api.get("registered-models/get", params={"name": name}), 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(api.get("model-versions/get", params={"name": name, "version": "1"}), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    found = assert_ok(api.get("model-versions/search", params={"filter": f"name = '{name}'"}))
    assert found.get("model_versions", []) == []
    create_model(api, name)  # the name is free again


# ---------------------------------------------------------------- model versions

def test_versions_are_numbered_and_never_reused(api, run):
    name = create_model(api)["name"]
    first = create_version(api, name, runs_source(run), description="d", run_link="http://ui/run")
    assert first["version"] == "1" and first["status"] == "READY" and first["current_stage"] == "None"
    assert first["source"] == runs_source(run) and first["run_id"] == run["run_id"]
    assert first["description"] == "d" and first["run_link"] == "http://ui/run"
    assert create_version(api, name, runs_source(run))["version"] == "2"
    assert_ok(api.request("DELETE", "model-versions/delete", json={"name": name, "version": "2"}))
    assert_error(api.get("model-versions/get", params={"name": name, "version": "2"}), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    assert create_version(api, name, runs_source(run))["version"] == "3"
    model = get_model(api, name)
    assert [v["version"] for v in model["latest_versions"]] == ["3"]
    assert model["last_updated_timestamp"] >= first["creation_timestamp"]


def test_concurrent_creates_get_distinct_versions(api, run):
    name = create_model(api)["name"]
    with ThreadPoolExecutor(8) as pool:
        created = list(pool.map(lambda _: create_version(api, name, runs_source(run))["version"], range(16)))
    assert sorted(created, key=int) == [str(n) for n in range(1, 17)]


@pytest.mark.parametrize("version,status,code", [
    ("abc", 400, "INVALID_PARAMETER_VALUE"), ("1.5", 400, "INVALID_PARAMETER_VALUE"),
    ("", 400, "INVALID_PARAMETER_VALUE"), ("0", 404, "RESOURCE_DOES_NOT_EXIST"),
    ("-1", 404, "RESOURCE_DOES_NOT_EXIST"), ("99999999999999", 404, "RESOURCE_DOES_NOT_EXIST"),
    ("7", 404, "RESOURCE_DOES_NOT_EXIST"),
])
def test_bad_or_missing_version_numbers(api, run, version, status, code):
    name = create_model(api)["name"]
    create_version(api, name, runs_source(run))
    assert_error(api.get("model-versions/get", params={"name": name, "version": version}), status, code)
    assert_error(api.post("registered-models/alias", json={"name": name, "alias": "a", "version": version}),
                 status, code)


def test_update_and_tag_a_version(api, run):
    name = create_model(api)["name"]
    create_version(api, name, runs_source(run), tags=[{"key": "a", "value": "1"}])
    updated = assert_ok(api.request("PATCH", "model-versions/update",
                                    json={"name": name, "version": "1", "description": "tuned"}))
    assert updated["model_version"]["description"] == "tuned"
    assert_ok(api.post("model-versions/set-tag", json={"name": name, "version": "1", "key": "b", "value": "2"}))
    assert_ok(api.request("DELETE", "model-versions/delete-tag", json={"name": name, "version": "1", "key": "a"}))
    version = get_version(api, name, "1")
    assert version["description"] == "tuned" and as_dict(version["tags"]) == {"b": "2"}
    assert_error(api.post("model-versions/set-tag", json={"name": name, "version": "9", "key": "b", "value": "2"}),
                 404, "RESOURCE_DOES_NOT_EXIST")


def test_create_version_needs_a_source(api):
    name = create_model(api)["name"]
    assert_error(api.post("model-versions/create", json={"name": name}), 400, "INVALID_PARAMETER_VALUE")
    assert_error(api.post("model-versions/create", json={"source": "mlflow-artifacts:/1/x"}),
                 400, "INVALID_PARAMETER_VALUE")


def test_wrong_field_types_are_400(api):
    name = create_model(api)["name"]
    assert_error(api.post("model-versions/create", json={"name": name, "source": {"a": 1}}), 400)
    assert_error(api.post("registered-models/create", json={"name": unique(), "tags": "nope"}), 400)
    assert_error(api.post("registered-models/create", data=b"{not json"), 400)
    assert_error(api.get("registered-models/search", params={"max_results": "many"}), 400)


# ---------------------------------------------------------------- aliases

def test_aliases_set_get_move_and_delete(api, run):
    name = create_model(api)["name"]
    for _ in range(3):
        create_version(api, name, runs_source(run))
    assert_ok(api.post("registered-models/alias", json={"name": name, "alias": "champion", "version": "1"}))
    assert_ok(api.post("registered-models/alias", json={"name": name, "alias": "challenger-2", "version": "1"}))
    assert get_version(api, name, "1")["aliases"] == ["challenger-2", "champion"]
    assert_ok(api.post("registered-models/alias", json={"name": name, "alias": "champion", "version": "3"}))
    got = assert_ok(api.get("registered-models/alias", params={"name": name, "alias": "champion"}))
    assert got["model_version"]["version"] == "3" and got["model_version"]["aliases"] == ["champion"]
    assert get_model(api, name)["aliases"] == [{"alias": "challenger-2", "version": "1"},
                                               {"alias": "champion", "version": "3"}]
    latest = assert_ok(api.get("registered-models/alias", params={"name": name, "alias": "latest"}))
    assert latest["model_version"]["version"] == "3"
    assert_ok(api.request("DELETE", "registered-models/alias", json={"name": name, "alias": "champion"}))
    assert_error(api.get("registered-models/alias", params={"name": name, "alias": "champion"}), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    # deleting a version deletes the aliases that point at it
    assert_ok(api.request("DELETE", "model-versions/delete", json={"name": name, "version": "1"}))
    assert "aliases" not in get_model(api, name)


@pytest.mark.parametrize("alias", ["latest", "LATEST", "Latest", "v1", "V12", "v007"])
def test_reserved_aliases_are_refused(api, run, alias):
    name = create_model(api)["name"]
    create_version(api, name, runs_source(run))
    assert_error(api.post("registered-models/alias", json={"name": name, "alias": alias, "version": "1"}),
                 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("alias", ["", "a b", "a/b", "a.b", "../x", "champion\n", "x" * 256])
def test_invalid_aliases_are_refused(api, run, alias):
    name = create_model(api)["name"]
    create_version(api, name, runs_source(run))
    assert_error(api.post("registered-models/alias", json={"name": name, "alias": alias, "version": "1"}),
                 400, "INVALID_PARAMETER_VALUE")


def test_longest_alias_and_version_like_names_that_are_not_reserved(api, run):
    name = create_model(api)["name"]
    create_version(api, name, runs_source(run))
    for alias in ["a" * 255, "v", "v1a", "version1", "latest2"]:
        assert_ok(api.post("registered-models/alias", json={"name": name, "alias": alias, "version": "1"}))
    assert len(get_version(api, name, "1")["aliases"]) == 5


# ---------------------------------------------------------------- stages

def test_transition_stages_and_latest_versions(api, run):
    name = create_model(api)["name"]
    for _ in range(4):
        create_version(api, name, runs_source(run))

    def transition(version, stage, archive=False):
        return assert_ok(api.post("model-versions/transition-stage", json={
            "name": name, "version": version, "stage": stage, "archive_existing_versions": archive}))["model_version"]

    assert transition("1", "production")["current_stage"] == "Production"
    assert transition("2", "STAGING")["current_stage"] == "Staging"
    assert transition("3", "Production", archive=True)["current_stage"] == "Production"
    assert get_version(api, name, "1")["current_stage"] == "Archived"

    def latest(method, stages):
        kw = {"params": {"name": name, "stages": stages}} if method == "GET" else {
            "json": {"name": name, "stages": stages}}
        found = assert_ok(api.request(method, "registered-models/get-latest-versions", **kw))
        return {v["current_stage"]: v["version"] for v in found["model_versions"]}

    for method in ("GET", "POST"):
        assert latest(method, ["Production"]) == {"Production": "3"}
        assert latest(method, ["staging", "None"]) == {"Staging": "2", "None": "4"}
        assert latest(method, []) == {"Production": "3", "Staging": "2", "None": "4", "Archived": "1"}
    assert {v["version"] for v in get_model(api, name)["latest_versions"]} == {"1", "2", "3", "4"}


def test_invalid_stage_transitions(api, run):
    name = create_model(api)["name"]
    create_version(api, name, runs_source(run))
    for body in ({"stage": "Deployed"}, {"stage": ""}, {"stage": "Archived", "archive_existing_versions": True},
                 {"stage": "None", "archive_existing_versions": True}):
        assert_error(api.post("model-versions/transition-stage", json={"name": name, "version": "1", **body}),
                     400, "INVALID_PARAMETER_VALUE")
    assert_error(api.get("registered-models/get-latest-versions", params={"name": name, "stages": "Nope"}),
                 400, "INVALID_PARAMETER_VALUE")
    assert get_version(api, name, "1")["current_stage"] == "None"


# ---------------------------------------------------------------- search

def _search_models(api, **params) -> tuple[list[str], str | None]:
    found = assert_ok(api.get("registered-models/search", params=params))
    return [m["name"] for m in found.get("registered_models", [])], found.get("next_page_token")


def test_search_registered_models_filters(api):
    prefix = unique("srch")
    a = create_model(api, f"{prefix}-a", tags=[{"key": "team", "value": "vision"}])["name"]
    b = create_model(api, f"{prefix}-B", tags=[{"key": "team", "value": "nlp"}])["name"]
    prompt = create_model(api, f"{prefix}-prompt", tags=[{"key": "mlflow.prompt.is_prompt", "value": "true"}])["name"]
    assert _search_models(api, filter=f"name = '{a}'")[0] == [a]
    assert _search_models(api, filter=f"name LIKE '{prefix}-%'")[0] == [b, a]
    assert _search_models(api, filter=f"name ILIKE '{prefix.upper()}-b'")[0] == [b]
    assert _search_models(api, filter=f"name LIKE '{prefix}%' AND tags.team = 'nlp'")[0] == [b]
    assert _search_models(api, filter=f"name LIKE '{prefix}%' AND tag.`team` != 'nlp'")[0] == [a]
    assert _search_models(api, filter=f"name IN ('{a}', '{prompt}')")[0] == [a]
    # prompts stay out unless asked for, whatever the spelling of the prompt filter
    client_filter = f"tag.`mlflow.prompt.is_prompt` != 'true' AND name LIKE '{prefix}%'"
    assert _search_models(api, filter=client_filter)[0] == [b, a]
    assert _search_models(api, filter=f"tags.`mlflow.prompt.is_prompt` = 'false' AND name LIKE '{prefix}%'")[0] \
        == [b, a]
    assert _search_models(api, filter=f"tags.`mlflow.prompt.is_prompt` = 'true' AND name LIKE '{prefix}%'")[0] \
        == [prompt]


def test_search_registered_models_order_and_pages(api):
    prefix = unique("page")
    names = [create_model(api, f"{prefix}-{i}")["name"] for i in range(5)]
    assert _search_models(api, filter=f"name LIKE '{prefix}%'", order_by=["name DESC"])[0] == names[::-1]
    assert _search_models(api, filter=f"name LIKE '{prefix}%'", order_by=["creation_timestamp ASC"])[0] == names
    assert_ok(api.request("PATCH", "registered-models/update", json={"name": names[2], "description": "x"}))
    assert _search_models(api, filter=f"name LIKE '{prefix}%'", order_by=["timestamp DESC"])[0][0] == names[2]
    seen, token = [], None
    while True:
        page, token = _search_models(api, filter=f"name LIKE '{prefix}%'", max_results=2,
                                     **({"page_token": token} if token else {}))
        assert len(page) <= 2
        seen += page
        if not token:
            break
    assert seen == names


@pytest.mark.parametrize("params", [
    {"max_results": 1001}, {"max_results": 0}, {"filter": "name = "}, {"filter": "description = 'x'"},
    {"filter": "params.a = 'b'"}, {"filter": "name > 'a'"}, {"order_by": "version_number"},
    {"order_by": ["name", "name DESC"]}, {"order_by": ["timestamp", "last_updated_timestamp"]},
    {"order_by": "name SIDEWAYS"}, {"page_token": "garbage"},
])
def test_search_registered_models_refusals(api, params):
    assert_error(api.get("registered-models/search", params=params), 400, "INVALID_PARAMETER_VALUE")


def test_search_model_versions(api, run):
    other_run = new_run(api)[0]
    name = create_model(api)["name"]
    for source_run in (run["run_id"], other_run, run["run_id"]):
        create_version(api, name, f"runs:/{source_run}/model", tags=[{"key": "run", "value": source_run}])
    assert_ok(api.post("model-versions/transition-stage", json={"name": name, "version": "1", "stage": "Staging"}))

    def versions(**params):
        found = assert_ok(api.get("model-versions/search", params=params))
        return [v["version"] for v in found.get("model_versions", [])], found.get("next_page_token")

    assert versions(filter=f"name = '{name}'")[0] == ["1", "3", "2"]  # most recently updated first
    assert versions(filter=f"name = '{name}'", order_by="version_number ASC")[0] == ["1", "2", "3"]
    assert versions(filter=f"name = '{name}' AND version_number = 2")[0] == ["2"]
    assert versions(filter=f"name = '{name}' AND version_number >= '2'", order_by="version_number")[0] == ["2", "3"]
    assert versions(filter=f"name = '{name}' AND run_id = '{other_run}'")[0] == ["2"]
    assert versions(filter=f"name = '{name}' AND run_id IN ('{other_run}', 'nope')")[0] == ["2"]
    assert versions(filter=f"name = '{name}' AND tags.run = '{other_run}'")[0] == ["2"]
    assert versions(filter=f"name = '{name}' AND source_path = 'runs:/{other_run}/model'")[0] == ["2"]
    assert versions(filter=f"name LIKE '{name[:-2]}%' AND source_path LIKE '%{other_run}%'")[0] == ["2"]
    first, token = versions(filter=f"name = '{name}'", max_results=2, order_by="version_number DESC")
    rest, last = versions(filter=f"name = '{name}'", max_results=2, order_by="version_number DESC", page_token=token)
    assert (first, rest, last) == (["3", "2"], ["1"], None)


@pytest.mark.parametrize("params", [
    {"filter": "version_number = 'x'"}, {"filter": "version_number = 1.5"}, {"filter": "stage = 'None'"},
    {"filter": "source_path IN ('a')"}, {"filter": "metrics.x > 1"}, {"order_by": "source_path"},
    {"max_results": 200_001}, {"page_token": "Zm9v"},
])
def test_search_model_versions_refusals(api, params):
    assert_error(api.get("model-versions/search", params=params), 400, "INVALID_PARAMETER_VALUE")


def test_download_uri_of_a_runs_source(api, run):
    name = create_model(api)["name"]
    create_version(api, name, runs_source(run))
    assert download_uri(api, name, "1") == f"{run['artifact_uri']}/model"
