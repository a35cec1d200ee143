"""What a version says about where it comes from, with the official client: registering a
logged model adds the version to the model's mlflow.modelVersions tag, as the official server
writes it; a runs:/ source whose run does not exist is accepted, as officially, and refused
when it is used (a download URI, a copy), never resolved to a path outside the stores."""
from __future__ import annotations

import json

import mlflow
import pytest
from mlflow.exceptions import MlflowException

from conftest import unique
from registry_support import assert_error, create_model

MISSING_RUN = "f" * 32


def test_registering_a_logged_model_lists_the_version_in_its_tag(client):
    mlflow.set_experiment(unique("lineage"))
    with mlflow.start_run() as run:
        model_id = mlflow.initialize_logged_model(name="model").model_id
    name = unique("registered")
    mlflow.register_model(f"models:/{model_id}", name)
    # the server's entry (the version a number), then the one the client adds itself (a string)
    assert client.get_logged_model(model_id).tags["mlflow.modelVersions"] == json.dumps(
        [{"name": name, "version": 1}, {"name": name, "version": "1"}])
    client.create_model_version(name, f"models:/{model_id}", run_id=run.info.run_id, model_id=model_id)
    assert json.loads(client.get_logged_model(model_id).tags["mlflow.modelVersions"])[-1] == \
        {"name": name, "version": 2}


def test_a_version_of_a_run_that_does_not_exist_is_accepted_and_refused_when_used(client, api):
    name = unique("missing-run")
    client.create_registered_model(name)
    source = f"runs:/{MISSING_RUN}/model"
    version = client.create_model_version(name, source, run_id=MISSING_RUN)
    assert (version.source, version.run_id) == (source, MISSING_RUN)
    with pytest.raises(MlflowException, match="the run does not exist"):
        client.get_model_version_download_uri(name, version.version)
    assert_error(api.post("model-versions/create", json={"name": create_model(api)["name"],
                                                         "source": f"models:/{name}/{version.version}"}),
                 400, "INVALID_PARAMETER_VALUE")
    # traversal is refused as before, whether the run exists or not
    assert_error(api.post("model-versions/create", json={"name": name, "source": f"runs:/{MISSING_RUN}/../x"}),
                 400, "INVALID_PARAMETER_VALUE")

