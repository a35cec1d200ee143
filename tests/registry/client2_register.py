"""Register a model from runs:/ with whichever official client runs this script (the tests
use the 2.x one), then load it back by alias.

Usage: python client2_register.py TRACKING_URI MODEL_NAME. Exits non-zero on any difference.
"""
import os
import sys
import tempfile

import mlflow
from mlflow import MlflowClient

uri, name = sys.argv[1], sys.argv[2]
mlflow.set_tracking_uri(uri)
client = MlflowClient(uri)
mlflow.set_experiment(f"client2-{name}")
folder = tempfile.mkdtemp()
with open(os.path.join(folder, "MLmodel"), "w") as out:
    out.write("flavors: {}\n")
with mlflow.start_run() as run:
    mlflow.log_artifacts(folder, "model")

version = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
assert version.version == "1" and version.run_id == run.info.run_id, version
assert client.get_model_version_download_uri(name, "1") == f"{run.info.artifact_uri}/model"
client.set_registered_model_alias(name, "champion", "1")
local = mlflow.artifacts.download_artifacts(f"models:/{name}@champion")
assert open(os.path.join(local, "MLmodel")).read() == "flavors: {}\n"
print(f"registered with mlflow {mlflow.__version__}")
