"""With default_permission NO_PERMISSIONS, users see only what they created or were granted:
in searches (pages included), through runs and logged models, in the artifact proxy, in the
registry; on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest

from auth_support import ADMIN, As, assert_error, assert_ok, auth_server, make_user
from conftest import unique


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def server(request, tmp_path_factory):
    with auth_server(tmp_path_factory.mktemp(f"private-{request.param}"), request.param,
                     MLFLOW_AUTH_DEFAULT_PERMISSION="NO_PERMISSIONS") as server:
        yield server


@pytest.fixture(scope="module")
def world(server):
    """Erin owns three experiments (a run, a logged model and an artifact in the first) and two
    registered models; Frank owns one of each; Gina owns nothing."""
    erin, frank, gina = (make_user(server) for _ in range(3))
    as_erin, as_frank = As(server, erin), As(server, frank)
    experiments = [assert_ok(as_erin.post("experiments/create", json={"name": unique()}))["experiment_id"]
                   for _ in range(3)]
    franks = assert_ok(as_frank.post("experiments/create", json={"name": unique()}))["experiment_id"]
    run = assert_ok(as_erin.post("runs/create", json={"experiment_id": experiments[0]}))["run"]["info"]
    assert_ok(as_erin.post("runs/log-metric", json={"run_id": run["run_id"], "key": "m", "value": 1,
                                                    "timestamp": 1, "step": 0}))
    model = assert_ok(as_erin.post("logged-models", json={"experiment_id": experiments[0], "name": "lm"}))["model"]
    artifact = run["artifact_uri"].split("mlflow-artifacts:/", 1)[1] + "/notes.txt"
    assert_ok(as_erin.request("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{artifact}", data=b"erin's"))
    models = [assert_ok(as_erin.post("registered-models/create", json={"name": unique("rm")}))["registered_model"]
              ["name"] for _ in range(2)]
    franks_model = assert_ok(as_frank.post("registered-models/create", json={"name": unique("rm")}))[
        "registered_model"]["name"]
    return dict(erin=erin, frank=frank, gina=gina, experiments=experiments, franks=franks, run=run,
                model=model["info"]["model_id"], artifact=artifact, models=models, franks_model=franks_model)


def experiment_ids(server, user, **params) -> list[str]:
    found, token = [], None
    while True:
        page = assert_ok(As(server, user).get("experiments/search", params={**params, "page_token": token}))
        found += [e["experiment_id"] for e in page.get("experiments", [])]
        if not (token := page.get("next_page_token")):
            return found


def model_names(server, user) -> set[str]:
    page = assert_ok(As(server, user).get("registered-models/search", params={"max_results": 1000}))
    return {m["name"] for m in page.get("registered_models", [])}


def test_searches_show_only_what_each_user_may_read(server, world):
    erin, frank, gina = world["erin"], world["frank"], world["gina"]
    assert sorted(experiment_ids(server, erin), key=int) == world["experiments"]
    assert experiment_ids(server, erin, max_results=1) == sorted(world["experiments"], key=int, reverse=True)
    assert experiment_ids(server, frank) == [world["franks"]]
    assert experiment_ids(server, gina) == []
    assert set(experiment_ids(server, ADMIN)) >= {*world["experiments"], world["franks"], "0"}
    assert model_names(server, erin) == set(world["models"])
    assert model_names(server, frank) == {world["franks_model"]}
    assert model_names(server, gina) == set()
    versions = assert_ok(As(server, gina).get("model-versions/search", params={"filter": f"name='{world['models'][0]}'"}))
    assert versions.get("model_versions", []) == []
    # runs and logged models of experiments she may not read are left out, not refused
    runs = assert_ok(As(server, gina).post("runs/search", json={"experiment_ids": world["experiments"]}))
    assert runs == {}
    mine = assert_ok(As(server, erin).post("runs/search", json={"experiment_ids": world["experiments"]}))
    assert [r["info"]["run_id"] for r in mine["runs"]] == [world["run"]["run_id"]]
    models = assert_ok(As(server, gina).post("logged-models/search", json={"experiment_ids": world["experiments"]}))
    assert models.get("models", []) == []


def test_a_grant_opens_one_experiment_and_its_runs(server, world):
    gina, run = world["gina"], world["run"]
    as_gina = As(server, gina)
    assert_error(as_gina.get("runs/get", params={"run_id": run["run_id"]}), 403, "PERMISSION_DENIED")
    assert_error(as_gina.get("metrics/get-history", params={"run_id": run["run_id"], "metric_key": "m"}), 403)
    assert_error(as_gina.get(f"/api/2.0/mlflow/logged-models/{world['model']}"), 403, "PERMISSION_DENIED")
    assert_error(as_gina.get("metrics/get-history-bulk-interval",
                             params={"run_ids": [run["run_id"]], "metric_key": "m"}), 403)
    assert_ok(As(server, world["erin"]).post("/api/3.0/mlflow/users/permissions/grant", json={
        "username": gina, "resource_type": "experiment", "resource_id": world["experiments"][0],
        "permission": "READ"}))
    assert experiment_ids(server, gina) == [world["experiments"][0]]
    assert assert_ok(as_gina.get("runs/get", params={"run_id": run["run_id"]}))["run"]["info"]["run_id"] == run["run_id"]
    assert assert_ok(as_gina.get(f"/api/2.0/mlflow/logged-models/{world['model']}"))["model"]["info"]["name"] == "lm"
    assert_error(as_gina.post("runs/log-metric", json={"run_id": run["run_id"], "key": "m", "value": 2,
                                                       "timestamp": 2}), 403, "PERMISSION_DENIED")


def test_the_artifact_proxy_judges_a_path_by_its_experiment(server, world):
    path = f"/api/2.0/mlflow-artifacts/artifacts/{world['artifact']}"
    frank = As(server, world["frank"])
    assert_error(frank.get(path), 403, "PERMISSION_DENIED")
    assert_error(frank.get("/api/2.0/mlflow-artifacts/artifacts", params={"path": world["artifact"].rsplit("/", 1)[0]}),
                 403, "PERMISSION_DENIED")
    assert_error(frank.request("PUT", path, data=b"frank's"), 403, "PERMISSION_DENIED")
    assert_error(frank.request("DELETE", path), 403, "PERMISSION_DENIED")
    assert As(server, world["erin"]).get(path).content == b"erin's"
    # a path of no experiment (the proxy's root, a folder no experiment uses) is for admins only
    for other in ("/api/2.0/mlflow-artifacts/artifacts/elsewhere/file.txt", "/api/2.0/mlflow-artifacts/artifacts"):
        assert_error(As(server, world["erin"]).get(other), 403, "PERMISSION_DENIED")
    assert As(server, ADMIN).get("/api/2.0/mlflow-artifacts/artifacts").status_code == 200
    # paths that try to leave their experiment are refused before any permission is granted
    assert As(server, world["frank"]).get(f"/api/2.0/mlflow-artifacts/artifacts/{world['franks']}/../"
                                          f"{world['artifact']}").status_code in (400, 403, 404)


def test_a_model_version_source_must_be_readable(server, world):
    frank, run = As(server, world["frank"]), world["run"]
    for source in (f"runs:/{run['run_id']}/model", f"models:/{world['model']}",
                   f"models:/{world['models'][0]}/1", run["artifact_uri"] + "/model"):
        response = frank.post("model-versions/create", json={"name": world["franks_model"], "source": source})
        assert_error(response, 403, "PERMISSION_DENIED")
