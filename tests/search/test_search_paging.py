"""Paging runs/search and experiments/search at scale: max_results (default 1000, at most
50000), a few hundred runs paged while other runs are being inserted, stable tie-breaks, several
experiments and view types. tests/tracking covers the small cases (50 runs, bad tokens)."""
from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from conftest import unique
from search_support import Rest, assert_invalid, run_ids, search_body, seed_run

BASE = 1_000_000  # start times of the paged runs: BASE + i


def _create_many(rest, experiment_id, count, spec_of, workers=8):
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda i: seed_run(rest, experiment_id, **spec_of(i)), range(count)))


@pytest.fixture(scope="module")
def big(server):
    """1001 runs without data: one more than the default page."""
    rest = Rest(server)
    exp = rest.experiment(unique("big"))
    ids = _create_many(rest, exp, 1001, lambda i: dict(start=i, status="RUNNING"), workers=12)
    return SimpleNamespace(rest=rest, server=server, exp=exp, ids=ids)


@pytest.fixture(scope="module")
def paged(server):
    """300 runs with many ties: grp has 5 values, k has 4 values on half of the runs."""
    rest = Rest(server)
    exp = rest.experiment(unique("paged"))
    ids = _create_many(rest, exp, 300, lambda i: dict(
        start=BASE + i, status="RUNNING", params={"grp": str(i % 5)}, metrics={"k": i % 4} if i % 2 else {}))
    small = [rest.experiment(unique("paged-small")) for _ in range(2)]
    small_ids = [seed_run(rest, e, start=BASE + 10 * i + j, status="RUNNING", params={"grp": str(j % 5)},
                          metrics={"k": j % 4})
                 for i, e in enumerate(small) for j in range(12)]
    return SimpleNamespace(rest=rest, server=server, exp=exp, ids=ids, small=small, small_ids=small_ids)


def page_all(rest, experiment_ids, page_size, order_by=None, flt=None, between_pages=None, **extra):
    """Every page of a search, concatenated; `between_pages()` runs after each page."""
    seen, token, pages = [], None, 0
    while True:
        body = search_body(experiment_ids, flt, order_by, max_results=page_size, **extra)
        if token:
            body["page_token"] = token
        response = rest.post("runs/search", body)
        page = run_ids(response)
        assert len(page) <= page_size
        seen.extend(page)
        token = response.json().get("next_page_token")
        pages += 1
        if not token:
            return seen
        assert page, "a page with a token must not be empty"
        assert pages < 10_000 // page_size + 50, "paging does not terminate"
        if between_pages:
            between_pages()


def one_shot(rest, experiment_ids, order_by=None, flt=None, **extra):
    response = rest.post("runs/search", search_body(experiment_ids, flt, order_by, max_results=50000, **extra))
    assert not response.json().get("next_page_token")
    return run_ids(response)


# --------------------------------------------------------------------------- max_results


def test_default_max_results_is_1000(big):
    response = big.rest.post("runs/search", {"experiment_ids": [big.exp]})
    first = run_ids(response)
    assert len(first) == 1000
    token = response.json().get("next_page_token")
    assert token
    rest = run_ids(big.rest.post("runs/search", {"experiment_ids": [big.exp], "page_token": token}))
    assert len(rest) == 1
    assert first + rest == big.ids[::-1]  # newest start_time first, nothing lost or repeated


def test_max_results_bounds(big):
    everything = big.rest.post("runs/search", {"experiment_ids": [big.exp], "max_results": 50000})
    assert len(run_ids(everything)) == 1001 and not everything.json().get("next_page_token")
    exact = big.rest.post("runs/search", {"experiment_ids": [big.exp], "max_results": 1001})
    assert len(run_ids(exact)) == 1001 and not exact.json().get("next_page_token")
    short = big.rest.post("runs/search", {"experiment_ids": [big.exp], "max_results": 1000})
    assert len(run_ids(short)) == 1000 and short.json().get("next_page_token")
    for bad in (50001, 0, -3):
        response = big.rest.post("runs/search", {"experiment_ids": [big.exp], "max_results": bad})
        assert_invalid(response, big.server, "max_results")


def test_experiments_max_results_bounds(big):
    ok = big.rest.post("experiments/search", {"max_results": 50000})
    assert ok.status_code == 200, ok.text
    for bad in (50001, 0, -1):
        response = big.rest.post("experiments/search", {"max_results": bad})
        assert_invalid(response, big.server, "max_results")


def test_official_client_pages_through_1001_runs(client, big):
    runs = client.search_runs([big.exp])
    assert len(runs) == 1000 and runs.token
    more = client.search_runs([big.exp], page_token=runs.token)
    assert [r.info.run_id for r in more] == [big.ids[0]] and not more.token


# ------------------------------------------------------------- paging with concurrent inserts


class Inserter(threading.Thread):
    """Inserts runs into the experiment while the test pages through it: start times spread
    before, among and after the existing runs, random grp and k (or none)."""

    def __init__(self, rest, experiment_id, count, seed):
        super().__init__(daemon=True)
        self.rest, self.exp, self.count = rest, experiment_id, count
        self.rng = random.Random(seed)
        self.ids, self.error = [], None
        self.started_one = threading.Event()

    def run(self):
        try:
            for _ in range(self.count):
                i = self.rng.randrange(-100, 400)
                metrics = {"k": self.rng.randrange(4)} if self.rng.random() < 0.5 else {}
                self.ids.append(seed_run(self.rest, self.exp, start=BASE + i, status="RUNNING",
                                         params={"grp": str(self.rng.randrange(5))}, metrics=metrics))
                self.started_one.set()
                time.sleep(0.002)
        except Exception as error:  # reported by the test
            self.error = error
            self.started_one.set()


@pytest.mark.parametrize("order_by", [
    pytest.param(None, id="default order"),
    pytest.param(["attributes.start_time ASC"], id="start_time ASC"),
    pytest.param(["params.grp ASC"], id="grp ASC (ties)"),
    pytest.param(["metrics.k DESC", "params.grp DESC"], id="k DESC + grp DESC (ties, missing)"),
])
def test_paging_during_inserts_loses_and_repeats_nothing(paged, order_by):
    before = one_shot(paged.rest, [paged.exp], order_by)
    inserter = Inserter(paged.rest, paged.exp, 40, seed=len(order_by or []))
    inserter.start()
    inserter.started_one.wait(10)
    seen = page_all(paged.rest, [paged.exp], 23, order_by, between_pages=lambda: time.sleep(0.01))
    inserter.join(60)
    assert inserter.error is None, inserter.error
    assert inserter.ids, "nothing was inserted"
    # what the official server guarantees too: nothing that was there all along is lost, and
    # those runs keep their relative order
    missing = set(before) - set(seen)
    assert not missing, f"{len(missing)} of {len(before)} runs were skipped"
    assert set(seen) <= set(before) | set(inserter.ids)
    assert list(dict.fromkeys(r for r in seen if r in set(before))) == before
    # stronger than the official server, whose offset tokens repeat a run each time a new run
    # is inserted before the page boundary: our tokens continue after the last run returned
    repeated = {r for r in seen if seen.count(r) > 1}
    assert not repeated, f"{len(repeated)} runs were returned twice"


# ------------------------------------------------------------------- stable paging, no inserts


@pytest.fixture(scope="module")
def settled(server):
    """An experiment nobody inserts into: 120 runs in 4 start_time groups, grp with 3 values,
    k on two thirds; and one with deleted runs."""
    rest = Rest(server)
    exp = rest.experiment(unique("settled"))
    ids = _create_many(rest, exp, 120, lambda i: dict(
        start=BASE + (i // 3) % 4, status="RUNNING", params={"grp": "abc"[i % 3]}, metrics={"k": i % 2} if i % 3 else {}))
    mixed = rest.experiment(unique("settled-deleted"))
    mixed_ids = _create_many(rest, mixed, 40, lambda i: dict(start=i, deleted=i % 3 == 0))
    return SimpleNamespace(rest=rest, server=server, exp=exp, ids=ids, mixed=mixed, mixed_ids=mixed_ids)


@pytest.mark.parametrize("order_by, flt", [
    (None, None),
    (["params.grp DESC"], None),
    (["metrics.k ASC"], None),
    (["metrics.k DESC", "params.grp ASC"], None),
    (["attributes.start_time ASC"], None),
    (["attributes.status ASC"], None),
    (["params.grp ASC"], "metrics.k >= 0"),
    (["tags.nobody ASC"], None),
])
@pytest.mark.parametrize("page_size", [7, 50])
def test_pages_with_ties_equal_one_search(settled, order_by, flt, page_size):
    expected = one_shot(settled.rest, [settled.exp], order_by, flt)
    seen = page_all(settled.rest, [settled.exp], page_size, order_by, flt)
    assert seen == expected
    assert len(seen) == len(set(seen))


def test_one_run_pages_equal_one_search(settled):
    order_by = ["metrics.k DESC", "params.grp ASC"]
    assert page_all(settled.rest, [settled.exp], 1, order_by) == one_shot(settled.rest, [settled.exp], order_by)


def test_ties_are_broken_by_start_time_desc_then_run_id(settled):
    found = one_shot(settled.rest, [settled.exp], ["params.grp ASC"])
    index = {r: i for i, r in enumerate(settled.ids)}
    keys = [("abc"[index[r] % 3], -((index[r] // 3) % 4), r) for r in found]
    assert keys == sorted(keys)


def test_paging_over_several_experiments(paged):
    experiments = [paged.exp, *paged.small]
    for order_by in (None, ["metrics.k ASC", "params.grp DESC"]):
        expected = one_shot(paged.rest, experiments, order_by)
        assert set(paged.small_ids) <= set(expected)
        assert page_all(paged.rest, experiments, 11, order_by) == expected
    # the same experiment twice, or one that does not exist, changes nothing
    expected = one_shot(paged.rest, paged.small, None)
    assert len(expected) == 24
    assert page_all(paged.rest, [*paged.small, paged.small[0], "987654"], 5) == expected


def test_paging_with_view_types(settled):
    deleted = {r for i, r in enumerate(settled.mixed_ids) if i % 3 == 0}
    only_deleted = page_all(settled.rest, [settled.mixed], 4, run_view_type="DELETED_ONLY")
    assert set(only_deleted) == deleted and len(only_deleted) == len(deleted)
    everything = page_all(settled.rest, [settled.mixed], 6, run_view_type="ALL")
    assert everything == settled.mixed_ids[::-1]
    active = page_all(settled.rest, [settled.mixed], 9)
    assert active == [r for r in settled.mixed_ids[::-1] if r not in deleted]


def test_a_token_continues_with_another_page_size(settled):
    expected = one_shot(settled.rest, [settled.exp], ["params.grp ASC"])
    first = settled.rest.post("runs/search", search_body([settled.exp], None, ["params.grp ASC"], max_results=10))
    token = first.json()["next_page_token"]
    second = settled.rest.post("runs/search", search_body([settled.exp], None, ["params.grp ASC"],
                                                          max_results=25, page_token=token))
    assert run_ids(first) + run_ids(second) == expected[:35]


# ------------------------------------------------------------------------ experiments/search


@pytest.fixture(scope="module")
def many_experiments(server):
    """25 experiments created as fast as possible (so many share a millisecond), 5 deleted."""
    rest = Rest(server)
    prefix = unique("pgx")
    ids = [rest.experiment(f"{prefix}-{i:02d}", {"even": str(i % 2 == 0).lower()}) for i in range(25)]
    for experiment_id in ids[::5]:
        rest.ok("experiments/delete", {"experiment_id": experiment_id})
    return SimpleNamespace(rest=rest, server=server, prefix=prefix, ids=ids, deleted=set(ids[::5]))


def experiment_pages(rest, page_size, **body):
    seen, token = [], None
    for _ in range(200):
        request = {"max_results": page_size, **body}
        if token:
            request["page_token"] = token
        response = rest.post("experiments/search", request)
        assert response.status_code == 200, response.text
        seen += [e["experiment_id"] for e in response.json().get("experiments", [])]
        token = response.json().get("next_page_token")
        if not token:
            return seen
    raise AssertionError("paging does not terminate")


@pytest.mark.parametrize("order_by", [None, ["creation_time DESC"], ["last_update_time ASC"], ["name DESC"]])
@pytest.mark.parametrize("view_type", ["ACTIVE_ONLY", "ALL", "DELETED_ONLY"])
def test_experiment_pages_equal_one_search(many_experiments, order_by, view_type):
    body = {"filter": f"name LIKE '{many_experiments.prefix}-%'", "view_type": view_type}
    if order_by:
        body["order_by"] = order_by
    expected = experiment_pages(many_experiments.rest, 1000, **body)
    wanted = {"ACTIVE_ONLY": set(many_experiments.ids) - many_experiments.deleted,
              "DELETED_ONLY": many_experiments.deleted, "ALL": set(many_experiments.ids)}[view_type]
    assert set(expected) == wanted and len(expected) == len(wanted)
    assert experiment_pages(many_experiments.rest, 3, **body) == expected


def test_experiment_pages_with_tag_filter(many_experiments):
    body = {"filter": f"name LIKE '{many_experiments.prefix}-%' AND tags.even = 'true'", "order_by": ["name ASC"]}
    expected = [e for i, e in enumerate(many_experiments.ids) if i % 2 == 0 and e not in many_experiments.deleted]
    assert experiment_pages(many_experiments.rest, 2, **body) == expected
