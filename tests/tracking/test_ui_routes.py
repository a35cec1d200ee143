"""Tracking routes the official web UI calls beside the REST API, answered as the official
server (mlflow 3.17) answers them; what it answered is noted beside each check. Its file routes
are in tests/artifacts/test_artifacts_official_routes.py."""
from __future__ import annotations

import requests

from api_checks import assert_error, assert_ok
from conftest import unique


def bulk(server, **params) -> requests.Response:
    return requests.get(f"{server.url}/ajax-api/2.0/mlflow/metrics/get-history-bulk", params=params, timeout=30)


def test_get_history_bulk(server, client):
    experiment = client.create_experiment(unique())
    run, other = (client.create_run(experiment).info.run_id for _ in range(2))
    for step, timestamp in enumerate((100, 99, 98)):
        client.log_metric(run, "loss", step * 1.5, timestamp=timestamp, step=step)
    client.log_metric(other, "loss", 7.0, timestamp=5, step=0)
    # official: a GET with run_id repeated; runs in the order of their ids, each run's points in
    # (timestamp, step, value) order, each with its run_id
    points = {run: [(3.0, 98, 2), (1.5, 99, 1), (0.0, 100, 0)], other: [(7.0, 5, 0)]}
    expected = [{"key": "loss", "value": v, "timestamp": t, "step": s, "run_id": r}
                for r in sorted(points) for v, t, s in points[r]]
    assert assert_ok(bulk(server, run_id=[run, other], metric_key="loss")) == {"metrics": expected}
    # official: max_results caps the points of all runs together
    assert assert_ok(bulk(server, run_id=[run, other], metric_key="loss", max_results=2)) == {"metrics": expected[:2]}
    # official: a run that does not exist, or a key never logged, has no points
    assert assert_ok(bulk(server, run_id=unique("run"), metric_key="loss")) == {"metrics": []}
    assert assert_ok(bulk(server, run_id=other, metric_key="nothing")) == {"metrics": []}
    # official: 400 INVALID_PARAMETER_VALUE without run_id, with more than 100, without metric_key
    assert_error(bulk(server, metric_key="loss"), 400, "INVALID_PARAMETER_VALUE")
    assert_error(bulk(server, run_id=[str(i) for i in range(101)], metric_key="loss"), 400, "INVALID_PARAMETER_VALUE")
    assert_error(bulk(server, run_id=other), 400, "INVALID_PARAMETER_VALUE")
