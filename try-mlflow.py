#!/usr/bin/env python3
"""A realistic MLflow client session against a running tracking server.

    python try-mlflow.py [http://host:5555]      (default: $MLFLOW_TRACKING_URI)

Needs the official client and scikit-learn (`pip install mlflow scikit-learn`). Trains a
classifier, logs params, metrics, an artifact and the model, registers it, sets an alias,
loads it back four ways and checks that every copy predicts the same. Prints each step;
exits non-zero when something does not hold.
"""
import json
import os
import sys
import tempfile
import time

import mlflow
import numpy as np
from mlflow import MlflowClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split


def step(text):
    print(f"- {text}", flush=True)


def main():
    uri = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        sys.exit("usage: try-mlflow.py SERVER_URL (or set MLFLOW_TRACKING_URI)")
    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    suffix = time.strftime("%Y%m%d-%H%M%S")
    model_name = f"try-mlflow-iris-{suffix}"
    step(f"server {uri}")

    experiment = mlflow.set_experiment(f"try-mlflow-{suffix}")
    step(f"experiment '{experiment.name}' (id {experiment.experiment_id})")

    X, y = load_iris(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=42)
    params = {"C": 0.5, "max_iter": 300}

    with mlflow.start_run(run_name="iris-logreg") as run:
        mlflow.log_params(params)
        model = LogisticRegression(**params).fit(X_train, y_train)
        for epoch, fraction in enumerate((0.25, 0.5, 0.75, 1.0)):
            rows = int(len(X_train) * fraction)
            partial = LogisticRegression(**params).fit(X_train[:rows], y_train[:rows])
            mlflow.log_metric("train_accuracy", partial.score(X_train, y_train), step=epoch)
        accuracy = model.score(X_test, y_test)
        mlflow.log_metric("test_accuracy", accuracy)
        mlflow.set_tag("purpose", "try-mlflow")
        with tempfile.TemporaryDirectory() as tmp:
            report = os.path.join(tmp, "report.json")
            with open(report, "w") as f:
                json.dump({"test_accuracy": accuracy, "features": list(X.columns)}, f)
            mlflow.log_artifact(report, artifact_path="reports")
        logged = mlflow.sklearn.log_model(model, name="model", registered_model_name=model_name,
                                          input_example=X_test.iloc[:3])
    step(f"run {run.info.run_id}: params {params}, test_accuracy {accuracy:.3f}, "
         f"artifact reports/report.json, model {logged.model_id}")

    got = client.get_run(run.info.run_id)
    check(got.data.params == {k: str(v) for k, v in params.items()}, "params read back")
    check(abs(got.data.metrics["test_accuracy"] - accuracy) < 1e-12, "latest metric read back")
    history = client.get_metric_history(run.info.run_id, "train_accuracy")
    check([m.step for m in history] == [0, 1, 2, 3], "metric history has 4 steps")
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="reports/report.json",
                                                   dst_path=tmp)
        with open(path) as f:
            check(json.load(f)["test_accuracy"] == accuracy, "artifact downloaded intact")

    version = logged.registered_model_version
    client.set_registered_model_alias(model_name, "champion", version)
    step(f"registered '{model_name}' version {version}, alias 'champion'")

    expected = model.predict(X_test)
    for model_uri in (f"models:/{model_name}/{version}", f"models:/{model_name}@champion",
                      f"runs:/{run.info.run_id}/model", f"models:/{logged.model_id}"):
        predictions = mlflow.pyfunc.load_model(model_uri).predict(X_test)
        check(np.array_equal(np.asarray(predictions), expected), f"{model_uri} predicts the same")
    print("all good", flush=True)


def check(condition, what):
    if not condition:
        print(f"FAILED: {what}", file=sys.stderr, flush=True)
        sys.exit(1)
    step(what)


if __name__ == "__main__":
    main()
