"""A tracking session with whichever official mlflow client runs this script.

Usage: python workflow.py TRACKING_URI. Exits non-zero (an AssertionError) when the server
does not behave as the official one. The tests run it with the 3.x and the 2.x client.
"""
import math
import os
import sys
import tempfile

import mlflow
from mlflow import MlflowClient

uri = sys.argv[1]
mlflow.set_tracking_uri(uri)
client = MlflowClient(uri)
experiment = mlflow.set_experiment(f"workflow-{mlflow.__version__}-{os.getpid()}")

with mlflow.start_run(run_name="parent", description="a note") as parent:
    mlflow.log_params({"lr": 0.1, "layers": 3})
    for step in range(10):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    mlflow.log_metrics({"acc": 0.9, "bad": float("nan"), "big": float("inf")})
    mlflow.set_tags({"team": "search", "stage": "dev"})
    mlflow.log_dict({"k": [1, 2]}, "config/params.json")
    mlflow.log_text("hello", "notes.txt")
    folder = tempfile.mkdtemp()
    os.makedirs(os.path.join(folder, "sub"))
    with open(os.path.join(folder, "sub", "data.csv"), "w") as out:
        out.write("a,b\n1,2\n")
    mlflow.log_artifacts(folder, "tree")
    with mlflow.start_run(run_name="child", nested=True) as child:
        mlflow.log_metric("x", 1.0)

run = client.get_run(parent.info.run_id)
assert run.info.status == "FINISHED" and run.info.end_time, run.info
assert run.info.artifact_uri.startswith("mlflow-artifacts:/"), run.info.artifact_uri
assert run.data.params == {"lr": "0.1", "layers": "3"}, run.data.params
assert run.data.metrics["loss"] == 0.1 and run.data.metrics["acc"] == 0.9, run.data.metrics
assert math.isnan(run.data.metrics["bad"]) and run.data.metrics["big"] == math.inf, run.data.metrics
assert run.data.tags["mlflow.runName"] == "parent" and run.data.tags["mlflow.note.content"] == "a note"
assert client.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == parent.info.run_id

history = client.get_metric_history(parent.info.run_id, "loss")
assert [m.step for m in history] == list(range(10)), history

assert sorted(a.path for a in client.list_artifacts(parent.info.run_id)) == ["config", "notes.txt", "tree"]
local = mlflow.artifacts.download_artifacts(run_id=parent.info.run_id, artifact_path="tree")
with open(os.path.join(local, "sub", "data.csv")) as handle:
    assert handle.read() == "a,b\n1,2\n"
assert mlflow.artifacts.load_dict(f"runs:/{parent.info.run_id}/config/params.json") == {"k": [1, 2]}

found = mlflow.search_runs([experiment.experiment_id], filter_string="metrics.acc > 0.5")
assert list(found["run_id"]) == [parent.info.run_id], found
assert found.loc[0, "params.lr"] == "0.1" and found.loc[0, "tags.team"] == "search"
assert {r.info.run_name for r in client.search_runs([experiment.experiment_id])} == {"parent", "child"}

client.delete_run(child.info.run_id)
assert [r.info.run_id for r in client.search_runs([experiment.experiment_id])] == [parent.info.run_id]
print(f"workflow ok with mlflow {mlflow.__version__}")
