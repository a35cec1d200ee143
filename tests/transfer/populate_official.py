"""Fill a tracking server through the official client, as a team would have over time.

Run with the Python of a venv holding the official mlflow (3.x or 2.x):
    python populate_official.py <tracking uri> [--auth <admin password>]
It works with mlflow 2.22 and 3.17 (logged models and prompts only with 3.x). Prints a JSON
summary of what it made (ids, names) on its last line.
"""
import json
import math
import sys

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag

uri = sys.argv[1]
mlflow.set_tracking_uri(uri)
client = MlflowClient(uri)
major = int(mlflow.__version__.split(".")[0])
made = {"version": mlflow.__version__}

experiment = client.create_experiment("move-in", tags={"team": "vision", "note": "multi\nline"})
other = client.create_experiment("move-in-other", artifact_location="s3://old-bucket/artifacts/other")
gone = client.create_experiment("move-in-deleted")
made["experiments"] = [experiment, other, gone]

parent = client.create_run(experiment, run_name="parent", tags={"stage": "train"})
pid = parent.info.run_id
client.log_batch(pid, params=[Param("lr", "0.01"), Param("layers", "3")],
                 tags=[RunTag("mlflow.note.content", "a note")],
                 metrics=[Metric("loss", 1.0 / (s + 1), 1700000000000 + s, s) for s in range(120)]
                 + [Metric("acc", 0.5 + s / 100, 1700000000000 + s, s * 5) for s in range(20)])
client.log_metric(pid, "odd", math.nan, timestamp=1700000001000, step=0)
client.log_metric(pid, "odd", math.inf, timestamp=1700000001001, step=1)
client.log_metric(pid, "odd", -math.inf, timestamp=1700000001002, step=2)
client.log_metric(pid, "odd", 2.5, timestamp=1700000001003, step=2)
client.log_inputs(pid, [DatasetInput(Dataset("train", "d1g3st", "http", '{"url": "http://x/train.csv"}',
                                             schema='{"cols": ["a"]}', profile='{"rows": 10}'),
                                     tags=[InputTag("mlflow.data.context", "training")])])
children = []
for i in range(3):
    child = client.create_run(experiment, run_name=f"child-{i}", tags={"mlflow.parentRunId": pid})
    client.log_param(child.info.run_id, "i", str(i))
    for step in range(10):
        client.log_metric(child.info.run_id, "loss", 1.0 / (i + step + 1), timestamp=1700000002000 + step, step=step)
    client.log_inputs(child.info.run_id, [DatasetInput(Dataset("train", "d1g3st", "http",
                                                               '{"url": "http://x/train.csv"}'))])
    client.set_terminated(child.info.run_id, "FINISHED" if i else "FAILED")
    children.append(child.info.run_id)
client.set_terminated(pid)
other_run = client.create_run(other, run_name="other-run")
client.log_metric(other_run.info.run_id, "m", 3.0)
deleted_run = client.create_run(experiment, run_name="deleted-run")
client.log_param(deleted_run.info.run_id, "p", "v")
client.delete_run(deleted_run.info.run_id)
gone_run = client.create_run(gone, run_name="in-deleted-experiment")
client.log_metric(gone_run.info.run_id, "m", 1.0)
client.delete_experiment(gone)
made["runs"] = [pid, *children, other_run.info.run_id, deleted_run.info.run_id, gone_run.info.run_id]

made["logged_models"] = []
if major >= 3:
    from mlflow.entities import LoggedModelInput, LoggedModelOutput, LoggedModelStatus
    model = client.create_logged_model(experiment, name="classifier", source_run_id=pid,
                                       params={"depth": "4"}, tags={"owner": "ana"}, model_type="sklearn")
    client.log_outputs(pid, [LoggedModelOutput(model.model_id, 7)])
    client.log_batch(pid, metrics=[Metric("val_acc", 0.93, 1700000003000, 7, model_id=model.model_id,
                                          dataset_name="train", dataset_digest="d1g3st")])
    client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    client.log_inputs(children[1], models=[LoggedModelInput(model.model_id)])
    pending = client.create_logged_model(other, name="pending-model")
    made["logged_models"] = [model.model_id, pending.model_id]

client.create_registered_model("clf", tags={"domain": "vision"}, description="the classifier")
for n in range(3):
    client.create_model_version("clf", f"runs:/{pid}/model", run_id=pid, tags={"n": str(n)},
                                description=f"version {n + 1}")
client.set_registered_model_alias("clf", "champion", "2")
client.set_model_version_tag("clf", "1", "validated", "yes")
client.transition_model_version_stage("clf", "2", "Production")
client.transition_model_version_stage("clf", "1", "Archived")
client.delete_model_version("clf", "3")
client.create_registered_model("empty-model")
made["registered_models"] = ["clf", "empty-model"]
if major >= 3:
    prompt = mlflow.genai.register_prompt("greeting", "Hello {{name}}!", commit_message="first",
                                          tags={"lang": "en"})
    mlflow.genai.register_prompt("greeting", "Hi {{name}}, welcome!", commit_message="second")
    mlflow.genai.set_prompt_alias("greeting", "production", 1)
    made["registered_models"].append("greeting")

if len(sys.argv) > 3 and sys.argv[2] == "--auth":
    from mlflow.server import get_app_client
    auth = get_app_client("basic-auth", tracking_uri=uri)
    auth.create_user("ana", "ana-password-123")
    auth.create_user("bo", "bo-password-1234")
    if hasattr(auth, "grant_user_permission"):  # 3.12+: roles
        auth.grant_user_permission("ana", "experiment", experiment, "MANAGE")
        auth.grant_user_permission("bo", "experiment", other, "READ")
        auth.grant_user_permission("bo", "registered_model", "clf", "EDIT")
        role = auth.create_role("default", "reviewers", "read every model")
        auth.add_role_permission(role.id, "registered_model", "*", "READ")
        auth.assign_role("ana", role.id)
    else:
        auth.create_experiment_permission(experiment, "ana", "MANAGE")
        auth.create_experiment_permission(other, "bo", "READ")
        auth.create_registered_model_permission("clf", "bo", "EDIT")
    made["users"] = {"ana": "ana-password-123", "bo": "bo-password-1234"}

print(json.dumps(made))
