"""experiments/search-datasets, the official UI's dataset filter: the distinct (experiment,
name, digest, context) of the datasets logged as run inputs, as the official server 3.17.2
answers it (checked side by side for the same logged data), and narrowed to the experiments a
caller may read with basic-auth on."""
from __future__ import annotations

import mlflow
import numpy as np
import pytest
import requests
from conftest import unique
from datasets_support import assert_error, assert_ok, dataset, dataset_input, log_inputs, raw_experiment, raw_run
from mlflow.entities import Dataset, DatasetInput, InputTag

CONTEXT = "mlflow.data.context"


def search(server, experiment_ids, prefix="/ajax-api", auth=None) -> requests.Response:
    return requests.post(f"{server.url}{prefix}/2.0/mlflow/experiments/search-datasets",
                         json={"experiment_ids": experiment_ids}, auth=auth, timeout=30)


def rows(found) -> list[tuple]:
    return sorted(found, key=str)  # a context may be None


def summaries(server, experiment_ids, **kw) -> list[tuple]:
    """The answer's summaries as (experiment_id, name, digest, context) tuples, sorted."""
    found = assert_ok(search(server, experiment_ids, **kw)).get("dataset_summaries", [])
    assert all(set(s) <= {"experiment_id", "name", "digest", "context"} for s in found), found
    return rows((s["experiment_id"], s["name"], s["digest"], s.get("context")) for s in found)


def test_one_summary_per_dataset_and_context(server, client):
    first, second, empty = (client.create_experiment(unique("sd")) for _ in range(3))
    train = mlflow.data.from_numpy(np.arange(6.0).reshape(3, 2), name="train")
    for experiment, context in ((first, "training"), (first, "training"), (first, "testing"), (second, "training")):
        with mlflow.start_run(experiment_id=experiment):
            mlflow.log_input(train, context=context)
    bare = DatasetInput(Dataset("bare", "dg1", "local", '{"uri": "/x"}'), [InputTag("other", "v")])
    client.log_inputs(client.create_run(first).info.run_id, [bare])

    ours = [(first, "train", train.digest, "testing"), (first, "train", train.digest, "training"),
            (first, "bare", "dg1", None)]
    theirs = [(second, "train", train.digest, "training")]
    assert summaries(server, [first]) == rows(ours)
    assert summaries(server, [first, second]) == rows(ours + theirs)
    assert summaries(server, [second, second]) == theirs
    assert summaries(server, [second], prefix="/api") == theirs  # the official: /ajax-api only
    assert assert_ok(search(server, [empty])) == {}


def test_deleted_runs_and_experiments_still_count(server, api):
    experiment = raw_experiment(api, unique("sd"))
    run = raw_run(api, experiment)
    assert_ok(log_inputs(api, run, dataset_input(dataset("gone", "d9"), {CONTEXT: "eval"})))
    assert_ok(api.post("runs/delete", json={"run_id": run}))
    assert summaries(server, [experiment]) == [(experiment, "gone", "d9", "eval")]
    assert_ok(api.post("experiments/delete", json={"experiment_id": experiment}))
    assert summaries(server, [experiment]) == [(experiment, "gone", "d9", "eval")]


def test_at_most_1000_summaries(server, api):
    experiment = raw_experiment(api, unique("sd"))
    run = raw_run(api, experiment)
    for start in range(0, 1005, 335):
        assert_ok(log_inputs(api, run, *(dataset_input(dataset(f"d{i:04d}", f"g{i}"), {CONTEXT: "training"})
                                         for i in range(start, start + 335))))
    found = summaries(server, [experiment])
    assert found == rows((experiment, f"d{i:04d}", f"g{i}", "training") for i in range(1000))  # by name


@pytest.mark.parametrize("body, message", [
    ({}, "SearchDatasets request must specify at least one experiment_id."),
    ({"experiment_ids": []}, "SearchDatasets request must specify at least one experiment_id."),
    ({"experiment_ids": [str(i) for i in range(21)]},
     "SearchDatasets request cannot specify more than 20 experiment_ids. Received 21 experiment_ids."),
    ({"experiment_ids": ["0"] * 21},
     "SearchDatasets request cannot specify more than 20 experiment_ids. Received 21 experiment_ids."),
    ({"experiment_ids": ["abc"]}, "Invalid experiment ID 'abc'. Experiment ID must be a valid integer."),
])
def test_refused_requests(server, body, message):
    response = requests.post(f"{server.url}/ajax-api/2.0/mlflow/experiments/search-datasets", json=body, timeout=30)
    assert assert_error(response, 400, "INVALID_PARAMETER_VALUE")["message"] == message


def test_experiments_that_do_not_exist_have_none(server):
    assert assert_ok(search(server, [str(10**6 + i) for i in range(20)])) == {}
    assert assert_ok(search(server, ["99999999999", "-5"])) == {}


def test_with_basic_auth_only_readable_experiments_answer(start_server, tmp_path):
    """The official refuses the whole request (403) when one experiment is not readable; this
    server leaves that experiment's datasets out, as its runs/search leaves out its runs."""
    admin = ("admin", "admin-password-0001")
    server = start_server({"MLFLOW_APP_NAME": "basic-auth", "MLFLOW_AUTH_ADMIN_USERNAME": admin[0],
                           "MLFLOW_AUTH_ADMIN_PASSWORD": admin[1], "MLFLOW_AUTH_DEFAULT_PERMISSION": "NO_PERMISSIONS",
                           "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path}/mlflow.db",
                           "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts")})
    user = ("erin", "password-of-erin-0001")

    def post(who, path, body):
        return assert_ok(requests.post(f"{server.url}/api/2.0/mlflow/{path}", json=body, auth=who, timeout=30))

    post(admin, "users/create", {"username": user[0], "password": user[1]})
    experiments = []
    for who, name in ((user, "hers"), (admin, "admins")):
        experiment = post(who, "experiments/create", {"name": unique(name)})["experiment_id"]
        run = post(who, "runs/create", {"experiment_id": experiment})["run"]["info"]["run_id"]
        post(who, "runs/log-inputs", {"run_id": run, "datasets": [dataset_input(dataset(name, "d1"))]})
        experiments.append(experiment)
    hers, admins = experiments
    assert summaries(server, experiments, auth=user) == [(hers, "hers", "d1", None)]
    assert summaries(server, [admins], auth=user) == []
    assert summaries(server, experiments, auth=admin) == rows([(hers, "hers", "d1", None),
                                                               (admins, "admins", "d1", None)])
    assert_error(search(server, experiments), 401)
