"""The MLflow 3 model workflow with the official client and real scikit-learn: log_model without
registration, loading back through models:/m-<id> and runs:/<run>/model, autolog, and the
client's logged-model API (get, search, tags, params, finalize, delete, metrics for a model)."""
from __future__ import annotations

import time

import mlflow
import numpy as np
import pytest
from conftest import unique
from mlflow.exceptions import MlflowException
from models_support import MODEL_ID, iris_model


@pytest.fixture
def experiment_id(client):
    return mlflow.set_experiment(unique("models")).experiment_id


def test_log_model_and_load_it_back(client, server, experiment_id):
    model, X = iris_model()
    with mlflow.start_run() as run:
        mlflow.log_param("C", "1.0")
        mlflow.log_metric("accuracy", 0.97)
        info = mlflow.sklearn.log_model(model, name="model", input_example=X[:3])
    run_id = run.info.run_id

    assert MODEL_ID.match(info.model_id)
    assert info.model_uri == f"models:/{info.model_id}"
    assert mlflow.last_logged_model().model_id == info.model_id
    logged = mlflow.get_logged_model(info.model_id)
    assert (logged.name, logged.status.value, logged.source_run_id, logged.experiment_id) == \
        ("model", "READY", run_id, experiment_id)
    assert logged.artifact_location == f"mlflow-artifacts:/{experiment_id}/models/{info.model_id}/artifacts"
    stored = server.artifacts / experiment_id / "models" / info.model_id / "artifacts"
    assert (stored / "MLmodel").is_file()
    # the run's params, and its metrics at the model's step, are the model's too
    assert logged.params == {"C": "1.0"}
    assert [(m.key, m.value, m.run_id) for m in logged.metrics] == [("accuracy", 0.97, run_id)]

    outputs = client.get_run(run_id).outputs.model_outputs
    assert [(o.model_id, o.step) for o in outputs] == [(info.model_id, 0)]

    expected = model.predict(X)
    for uri in (f"models:/{info.model_id}", f"runs:/{run_id}/model"):
        assert np.array_equal(mlflow.pyfunc.load_model(uri).predict(X), expected), uri
    assert np.array_equal(mlflow.sklearn.load_model(f"models:/{info.model_id}").predict(X), expected)


def test_several_models_of_one_run_load_by_name(client, experiment_id):
    from sklearn.dummy import DummyClassifier
    model, X = iris_model()
    constant = DummyClassifier(strategy="constant", constant=2).fit(X, model.predict(X))
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(model, name="main")
        mlflow.sklearn.log_model(constant, name="baseline")
    run_id = run.info.run_id
    assert np.array_equal(mlflow.pyfunc.load_model(f"runs:/{run_id}/main").predict(X), model.predict(X))
    assert set(mlflow.pyfunc.load_model(f"runs:/{run_id}/baseline").predict(X)) == {2}
    assert len(client.get_run(run_id).outputs.model_outputs) == 2


def test_autolog_records_params_metrics_dataset_and_model(client, experiment_id):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    X, y = load_iris(return_X_y=True)
    mlflow.sklearn.autolog()
    try:
        with mlflow.start_run() as run:
            model = LogisticRegression(max_iter=321).fit(X, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
    got = client.get_run(run.info.run_id)
    assert got.data.params["max_iter"] == "321"
    assert got.data.metrics["training_accuracy_score"] == pytest.approx(model.score(X, y))
    [dataset_input] = got.inputs.dataset_inputs
    assert {t.key: t.value for t in dataset_input.tags} == {"mlflow.data.context": "train"}
    [output] = got.outputs.model_outputs

    [found] = mlflow.search_logged_models(filter_string=f"source_run_id = '{run.info.run_id}'",
                                          output_format="list")
    assert found.model_id == output.model_id == mlflow.last_logged_model().model_id
    assert found.status.value == "READY" and found.params["max_iter"] == "321"
    metrics = {m.key: m for m in found.metrics}
    assert metrics["training_accuracy_score"].value == pytest.approx(model.score(X, y))
    assert metrics["training_accuracy_score"].dataset_digest == dataset_input.dataset.digest
    loaded = mlflow.pyfunc.load_model(f"models:/{found.model_id}")
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_logged_model_api(client, experiment_id):
    created = client.create_logged_model(experiment_id, name="hand-made", model_type="agent",
                                         tags={"team": "a"}, params={"lr": "0.1"})
    assert MODEL_ID.match(created.model_id) and created.status.value == "PENDING"
    model_id = created.model_id

    mlflow.set_logged_model_tags(model_id, {"team": "b", "stage": "dev"})
    mlflow.log_model_params({"depth": "3"}, model_id=model_id)
    mlflow.delete_logged_model_tag(model_id, "stage")
    finalized = mlflow.finalize_logged_model(model_id, "READY")
    assert finalized.status.value == "READY"
    assert finalized.last_updated_timestamp >= created.creation_timestamp

    got = mlflow.get_logged_model(model_id)
    assert got.tags == {"team": "b"}
    assert got.params == {"lr": "0.1", "depth": "3"}
    assert (got.name, got.model_type) == ("hand-made", "agent")

    assert [m.model_id for m in mlflow.search_logged_models(filter_string="tags.team = 'b'",
                                                            output_format="list")] == [model_id]
    client.delete_logged_model(model_id)
    with pytest.raises(MlflowException) as error:
        mlflow.get_logged_model(model_id)
    assert error.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert mlflow.search_logged_models(output_format="list") == []


def test_metrics_logged_for_a_model_rank_it(client, experiment_id):
    ids = [client.create_logged_model(experiment_id, name=f"m{i}").model_id for i in range(3)]
    evaluation = mlflow.data.from_numpy(np.arange(12.0).reshape(6, 2), name="eval")
    with mlflow.start_run() as run:
        for model_id, accuracy in zip(ids, (0.7, 0.9, 0.8)):
            mlflow.log_metric("accuracy", accuracy, model_id=model_id, dataset=evaluation)
        mlflow.log_metric("accuracy", 0.99, model_id=ids[0])  # no dataset: ignored when ranking on "eval"
    assert client.get_run(run.info.run_id).data.metrics["accuracy"] == 0.99

    ranked = mlflow.search_logged_models(
        order_by=[{"field_name": "metrics.accuracy", "ascending": False, "dataset_name": "eval"}],
        output_format="list")
    assert [m.model_id for m in ranked] == [ids[1], ids[2], ids[0]]
    best = mlflow.search_logged_models(filter_string="metrics.accuracy > 0.85",
                                       datasets=[{"dataset_name": "eval"}], output_format="list")
    assert [m.model_id for m in best] == [ids[1]]
    [point] = [m for m in mlflow.get_logged_model(ids[1]).metrics]
    assert (point.value, point.dataset_name, point.dataset_digest, point.run_id) == \
        (0.9, "eval", evaluation.digest, run.info.run_id)


def test_search_pages_with_the_client(client, experiment_id):
    names = [f"model-{i:02d}" for i in range(7)]
    for name in names:
        time.sleep(0.002)  # distinct creation times: the default order is newest first
        client.create_logged_model(experiment_id, name=name)
    pages, token = [], None
    while True:
        page = client.search_logged_models([experiment_id], order_by=[{"field_name": "name"}], max_results=3,
                                           page_token=token)
        pages.append([m.name for m in page])
        token = page.token
        if not token:
            break
    assert pages == [names[:3], names[3:6], names[6:]]
    df = mlflow.search_logged_models(filter_string="name LIKE 'model-0%'", max_results=2)
    assert len(df) == 2 and list(df["name"]) == ["model-06", "model-05"]  # newest first by default
