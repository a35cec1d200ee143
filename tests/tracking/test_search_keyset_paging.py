"""Paging through runs while other runs are being created: nothing repeats, nothing is lost."""
import time

from conftest import unique


def _page(api, experiment_id, token, order_by, max_results=40):
    body = {"experiment_ids": [experiment_id], "max_results": max_results, "order_by": order_by}
    if token:
        body["page_token"] = token
    response = api.post("runs/search", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    return [r["info"]["run_id"] for r in data.get("runs", [])], data.get("next_page_token")


def _create(api, experiment_id, start_time, metric=None):
    run = api.post("runs/create", json={"experiment_id": experiment_id, "start_time": start_time}).json()
    run_id = run["run"]["info"]["run_id"]
    if metric is not None:
        api.post("runs/log-metric", json={"run_id": run_id, "key": "m", "value": metric,
                                          "timestamp": 1, "step": 0})
    return run_id


def _page_all_while_inserting(api, order_by, metric_of):
    experiment_id = api.post("experiments/create", json={"name": unique()}).json()["experiment_id"]
    now = int(time.time() * 1000)
    original = {_create(api, experiment_id, now - i, metric_of(i)) for i in range(150)}
    seen, token, inserted = [], None, 0
    while True:
        page, token = _page(api, experiment_id, token, order_by)
        seen += page
        if not token:
            break
        # newer and older runs, with metrics on both sides of the page boundary
        _create(api, experiment_id, now + 1000 + inserted, metric_of(inserted))
        _create(api, experiment_id, now - 10_000 - inserted, metric_of(149 - inserted))
        inserted += 1
    assert len(seen) == len(set(seen)), "a run was returned twice"
    assert original <= set(seen), f"{len(original - set(seen))} runs were skipped"


def test_default_order_pages_survive_concurrent_inserts(api):
    _page_all_while_inserting(api, [], lambda i: None)


def test_metric_order_pages_survive_concurrent_inserts(api):
    # ties on the metric value too: only the tie-break keeps the order total
    _page_all_while_inserting(api, ["metrics.m DESC"], lambda i: float(i % 7))


def test_a_token_from_another_search_is_refused(api):
    experiment_id = api.post("experiments/create", json={"name": unique()}).json()["experiment_id"]
    for i in range(3):
        _create(api, experiment_id, i)
    _, token = _page(api, experiment_id, None, [], max_results=1)
    assert token
    body = {"experiment_ids": [experiment_id], "max_results": 1, "page_token": token,
            "order_by": ["metrics.m DESC", "params.p"]}
    response = api.post("runs/search", json=body)
    assert response.status_code == 400 and response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_experiment_pages_survive_concurrent_creates(api):
    prefix = unique("paging")
    original = {api.post("experiments/create", json={"name": f"{prefix}-{i}"}).json()["experiment_id"]
                for i in range(30)}
    seen, token, extra = [], None, 0
    while True:
        body = {"max_results": 7, "filter": f"name LIKE '{prefix}-%'"}
        if token:
            body["page_token"] = token
        data = api.post("experiments/search", json=body).json()
        seen += [e["experiment_id"] for e in data.get("experiments", [])]
        token = data.get("next_page_token")
        if not token:
            break
        # newer experiments sort first (creation_time DESC): offsets would shift by one each time
        api.post("experiments/create", json={"name": f"{prefix}-new-{extra}"})
        extra += 1
    assert len(seen) == len(set(seen)), "an experiment was returned twice"
    assert original <= set(seen), "experiments were skipped"
