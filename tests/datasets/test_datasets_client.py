"""Datasets as a user logs them with the official client: mlflow.log_input of a pandas
dataset, what get_run/search_runs give back, deduplication per run and per experiment,
MlflowClient.log_inputs with entities, and the MLflow 3 `log_metric(..., dataset=...)`."""
from __future__ import annotations

import json
import warnings

import mlflow
import mlflow.data
import pandas as pd
import pytest
from conftest import unique
from mlflow.entities import Dataset, DatasetInput, InputTag

CONTEXT = "mlflow.data.context"


@pytest.fixture(autouse=True)
def _quiet():
    # pandas integer columns make the schema inference warn; irrelevant here
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.fixture
def exp_id(client):
    return client.create_experiment(unique("ds"))


def frame(rows: int = 4, offset: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"x": [float(i + offset) for i in range(rows)],
                         "label": [i % 2 for i in range(rows)]})


def pandas_dataset(name="train", rows=4, offset=0, source="s3://bucket/path/train.parquet"):
    return mlflow.data.from_pandas(frame(rows, offset), source=source, name=name, targets="label")


def inputs(client, run_id) -> list:
    return client.get_run(run_id).inputs.dataset_inputs


def tags_of(dataset_input) -> dict:
    return {t.key: t.value for t in dataset_input.tags}


def test_log_input_round_trips_every_field(client, exp_id):
    ds = pandas_dataset()
    sent = ds._to_mlflow_entity()
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.log_input(ds, context="training", tags={"team": "vision", "split": "v2"})
    [got] = inputs(client, run.info.run_id)
    d = got.dataset
    assert (d.name, d.digest, d.source_type, d.source, d.schema, d.profile) == \
        (sent.name, sent.digest, sent.source_type, sent.source, sent.schema, sent.profile)
    assert d.name == "train" and d.digest == ds.digest and d.source_type == "s3"
    assert json.loads(d.source) == {"uri": "s3://bucket/path/train.parquet"}
    assert {c["name"] for c in json.loads(d.schema)["mlflow_colspec"]} == {"x", "label"}
    assert json.loads(d.profile) == {"num_rows": 4, "num_elements": 8}
    assert tags_of(got) == {CONTEXT: "training", "team": "vision", "split": "v2"}
    # the client can rebuild the source from what the server stored
    assert mlflow.data.get_source(got).uri == "s3://bucket/path/train.parquet"


def test_run_without_inputs_has_no_dataset_inputs(client, exp_id):
    run = client.create_run(exp_id)
    assert inputs(client, run.info.run_id) == []


def test_logging_the_same_dataset_twice_keeps_one_input(client, exp_id):
    ds = pandas_dataset()
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.log_input(ds, context="training", tags={"first": "yes"})
        mlflow.log_input(ds, context="training", tags={"first": "yes"})
        # the official server keeps the first input of a (name, digest) and ignores the
        # context and tags of a later one
        mlflow.log_input(ds, context="eval", tags={"second": "yes"})
    [got] = inputs(client, run.info.run_id)
    assert got.dataset.digest == ds.digest
    assert tags_of(got) == {CONTEXT: "training", "first": "yes"}


def test_two_datasets_on_one_run(client, exp_id):
    train, test = pandas_dataset("train", rows=6), pandas_dataset("test", rows=2, offset=100)
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.log_input(train, context="training")
        mlflow.log_input(test, context="testing")
    got = {i.dataset.name: (i.dataset.digest, tags_of(i)[CONTEXT]) for i in inputs(client, run.info.run_id)}
    assert got == {"train": (train.digest, "training"), "test": (test.digest, "testing")}


def test_same_name_other_digest_is_another_dataset(client, exp_id):
    v1, v2 = pandas_dataset("data", rows=3), pandas_dataset("data", rows=5)
    assert v1.digest != v2.digest
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.log_input(v1, context="training")
        mlflow.log_input(v2, context="training")
    assert sorted(i.dataset.digest for i in inputs(client, run.info.run_id)) == sorted([v1.digest, v2.digest])


def test_runs_of_one_experiment_share_a_dataset(client, exp_id):
    ds = pandas_dataset("shared")
    run_ids = []
    for context in ("training", "eval"):
        with mlflow.start_run(experiment_id=exp_id) as run:
            mlflow.log_input(ds, context=context)
            run_ids.append(run.info.run_id)
    got = [inputs(client, r) for r in run_ids]
    assert [len(g) for g in got] == [1, 1]
    assert got[0][0].dataset.digest == got[1][0].dataset.digest == ds.digest
    assert got[0][0].dataset == got[1][0].dataset
    # the input tags belong to each run's input, not to the shared dataset
    assert [tags_of(g[0])[CONTEXT] for g in got] == ["training", "eval"]
    found = client.search_runs([exp_id], filter_string="dataset.name = 'shared'")
    assert sorted(r.info.run_id for r in found) == sorted(run_ids)


def test_same_dataset_in_two_experiments(client):
    ds = pandas_dataset("everywhere")
    exps = [client.create_experiment(unique("ds2")) for _ in range(2)]
    run_ids = []
    for exp in exps:
        with mlflow.start_run(experiment_id=exp) as run:
            mlflow.log_input(ds, context="training")
            run_ids.append(run.info.run_id)
    for exp, run_id in zip(exps, run_ids):
        [got] = inputs(client, run_id)
        assert (got.dataset.name, got.dataset.digest) == ("everywhere", ds.digest)
        [found] = client.search_runs([exp], filter_string=f"dataset.digest = '{ds.digest}'")
        assert found.info.run_id == run_id


def test_search_runs_returns_inputs_and_the_dataframe_still_works(client, exp_id):
    ds = pandas_dataset()
    with mlflow.start_run(experiment_id=exp_id) as with_input:
        mlflow.log_input(ds, context="training")
        mlflow.log_param("lr", "0.1")
        mlflow.log_metric("acc", 0.75)
    with mlflow.start_run(experiment_id=exp_id) as without_input:
        mlflow.log_metric("acc", 0.5)
    runs = {r.info.run_id: r for r in client.search_runs([exp_id])}
    assert [i.dataset.digest for i in runs[with_input.info.run_id].inputs.dataset_inputs] == [ds.digest]
    assert runs[without_input.info.run_id].inputs.dataset_inputs == []
    df = mlflow.search_runs([exp_id], order_by=["metrics.acc DESC"])
    assert list(df["run_id"]) == [with_input.info.run_id, without_input.info.run_id]
    assert list(df["metrics.acc"]) == [0.75, 0.5]
    assert df.loc[0, "params.lr"] == "0.1"


def test_search_runs_by_dataset(client, exp_id):
    train, test = pandas_dataset("train-set"), pandas_dataset("test-set", rows=2)
    with mlflow.start_run(experiment_id=exp_id) as a:
        mlflow.log_input(train, context="training")
    with mlflow.start_run(experiment_id=exp_id) as b:
        mlflow.log_input(train, context="training")
        mlflow.log_input(test, context="eval")
    with mlflow.start_run(experiment_id=exp_id):
        pass

    def ids(filter_string):
        return sorted(r.info.run_id for r in client.search_runs([exp_id], filter_string=filter_string))
    both = sorted([a.info.run_id, b.info.run_id])
    assert ids("dataset.name = 'train-set'") == both
    assert ids("datasets.name = 'test-set'") == [b.info.run_id]
    assert ids(f"dataset.digest = '{test.digest}'") == [b.info.run_id]
    assert ids("dataset.context = 'eval'") == [b.info.run_id]
    assert ids("dataset.context = 'training'") == both
    assert ids("dataset.name LIKE '%-set'") == both
    assert ids("dataset.name = 'nothing'") == []


def test_client_log_inputs_with_entities(client, exp_id):
    run_id = client.create_run(exp_id).info.run_id
    ds = Dataset(name="tbl", digest="abc123", source_type="delta_table",
                 source='{"path": "catalog.schema.tbl"}', schema=None, profile=None)
    client.log_inputs(run_id, datasets=[DatasetInput(ds, tags=[InputTag(CONTEXT, "training"),
                                                                InputTag("k", "v")])])
    [got] = inputs(client, run_id)
    assert (got.dataset.name, got.dataset.digest, got.dataset.source_type, got.dataset.source) == \
        ("tbl", "abc123", "delta_table", '{"path": "catalog.schema.tbl"}')
    assert not got.dataset.schema and not got.dataset.profile
    assert tags_of(got) == {CONTEXT: "training", "k": "v"}


def test_log_metric_with_dataset(client, exp_id):
    """MLflow 3: the client logs the dataset as an input of the run (no tags) and sends the
    metric with dataset_name and dataset_digest; the metric is stored as usual."""
    ds = pandas_dataset("eval-set")
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.log_metric("accuracy", 0.91, step=3, dataset=ds)
        mlflow.log_metric("accuracy", 0.93, step=4, dataset=ds)
        mlflow.log_metrics({"f1": 0.8, "recall": 0.7}, step=4, dataset=ds)
    run_id = run.info.run_id
    got = client.get_run(run_id)
    assert got.data.metrics == {"accuracy": 0.93, "f1": 0.8, "recall": 0.7}
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "accuracy")] == [(3, 0.91), (4, 0.93)]
    assert [(i.dataset.name, i.dataset.digest) for i in got.inputs.dataset_inputs] == [("eval-set", ds.digest)]


def test_log_input_to_a_deleted_run_fails(client, exp_id):
    run_id = client.create_run(exp_id).info.run_id
    client.delete_run(run_id)
    ds = pandas_dataset()._to_mlflow_entity()
    with pytest.raises(mlflow.exceptions.MlflowException) as info:
        client.log_inputs(run_id, datasets=[DatasetInput(ds, tags=[])])
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    client.restore_run(run_id)
    assert inputs(client, run_id) == []
    client.log_inputs(run_id, datasets=[DatasetInput(ds, tags=[])])
    assert [i.dataset.digest for i in inputs(client, run_id)] == [ds.digest]
