"""The model registry as users drive it with the official client: register models from runs,
versions, aliases, tags, stages, searches, rename and delete; prompts; the 2.x client."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import mlflow
import pytest
from mlflow.exceptions import MlflowException

from conftest import CI, ROOT, unique

CLIENT2_PYTHON = ROOT / ".venv-client2" / "bin" / "python"
CLIENT2_SCRIPT = Path(__file__).with_name("client2_register.py")
MLMODEL = "flavors:\n  python_function:\n    loader_module: none\n"


def _logged_run(tmp_path) -> str:
    """A run with a model folder (an MLmodel file) among its artifacts."""
    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    (folder / "MLmodel").write_text(MLMODEL)
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(folder), "model")
    return run.info.run_id


def _code(error: pytest.ExceptionInfo) -> str:
    return error.value.error_code


@pytest.mark.filterwarnings("ignore:.*stages:FutureWarning")  # stages are deprecated, still used
def test_register_version_alias_stage_search_rename_delete(client, tmp_path):
    mlflow.set_experiment(unique("reg-client"))
    name = unique("iris")
    client.create_registered_model(name, tags={"team": "vision"}, description="classifier")
    with pytest.raises(MlflowException) as error:
        client.create_registered_model(name)
    assert _code(error) == "RESOURCE_ALREADY_EXISTS"

    first_run, second_run = _logged_run(tmp_path), _logged_run(tmp_path)
    v1 = mlflow.register_model(f"runs:/{first_run}/model", name)
    v2 = mlflow.register_model(f"runs:/{second_run}/model", name)  # the name exists: a new version
    assert (v1.version, v2.version) == ("1", "2")
    assert v1.run_id == first_run and v1.status == "READY" and v1.current_stage == "None"

    client.set_registered_model_alias(name, "champion", "1")
    client.set_model_version_tag(name, "1", "validated", "yes")
    client.update_model_version(name, "1", description="first good one")
    champion = client.get_model_version_by_alias(name, "champion")
    assert champion.version == "1" and champion.aliases == ["champion"]
    assert champion.tags == {"validated": "yes"} and champion.description == "first good one"
    local = mlflow.artifacts.download_artifacts(f"models:/{name}@champion", dst_path=str(tmp_path / "dl"))
    assert Path(local, "MLmodel").read_text() == MLMODEL
    with pytest.raises(MlflowException):
        client.set_registered_model_alias(name, "latest", "1")

    client.transition_model_version_stage(name, "1", "production")
    client.transition_model_version_stage(name, "2", "Production", archive_existing_versions=True)
    assert client.get_model_version(name, "1").current_stage == "Archived"
    assert [v.version for v in client.get_latest_versions(name, stages=["Production"])] == ["2"]

    assert [m.name for m in client.search_registered_models(filter_string=f"name = '{name}'")] == [name]
    assert [m.name for m in client.search_registered_models(filter_string=f"tags.team = 'vision' AND name = '{name}'")]\
        == [name]
    assert sorted(v.version for v in client.search_model_versions(f"name = '{name}'")) == ["1", "2"]
    assert [v.version for v in client.search_model_versions(f"run_id = '{second_run}'")] == ["2"]

    new_name = unique("renamed")
    client.rename_registered_model(name, new_name)
    renamed = client.get_registered_model(new_name)
    assert renamed.tags == {"team": "vision"} and renamed.description == "classifier"
    assert renamed.aliases == {"champion": "1"}
    assert client.get_model_version(new_name, "1").tags == {"validated": "yes"}
    assert mlflow.artifacts.download_artifacts(f"models:/{new_name}/2", dst_path=str(tmp_path / "dl2"))

    client.delete_model_version(new_name, "1")
    assert client.get_registered_model(new_name).aliases == {}
    client.delete_registered_model(new_name)
    with pytest.raises(MlflowException) as error:
        client.get_registered_model(new_name)
    assert _code(error) == "RESOURCE_DOES_NOT_EXIST"


def test_copy_model_version(client, tmp_path):
    mlflow.set_experiment(unique("reg-copy"))
    source, target = unique("src"), unique("dst")
    version = mlflow.register_model(f"runs:/{_logged_run(tmp_path)}/model", source)
    copied = client.copy_model_version(f"models:/{source}/{version.version}", target)
    assert copied.name == target and copied.version == "1" and copied.run_id == version.run_id
    assert client.get_model_version_download_uri(target, "1") == client.get_model_version_download_uri(source, "1")


def test_prompts_register_load_alias_and_stay_out_of_model_search(client):
    name = unique("greet")
    first = mlflow.genai.register_prompt(name=name, template="Hello {{who}}!", commit_message="first")
    second = mlflow.genai.register_prompt(name=name, template="Hi {{who}}, " + "x" * 20_000)
    assert (first.version, second.version) == (1, 2)
    assert mlflow.genai.load_prompt(f"prompts:/{name}/1").format(who="Ada") == "Hello Ada!"
    mlflow.genai.set_prompt_alias(name, alias="production", version=1)
    assert mlflow.genai.load_prompt(f"prompts:/{name}@production").version == 1
    assert mlflow.genai.load_prompt(f"prompts:/{name}@latest").template.startswith("Hi {{who}}")
    assert name in [p.name for p in mlflow.genai.search_prompts(filter_string=f"name = '{name}'")]
    assert client.search_registered_models(filter_string=f"name = '{name}'") == []
    model_name = unique("model")
    client.create_registered_model(model_name)
    with pytest.raises(MlflowException):
        mlflow.genai.register_prompt(name=model_name, template="x")
    assert client.get_registered_model(model_name).latest_versions == []


def test_register_with_the_2x_client(server, tmp_path):
    if not CLIENT2_PYTHON.exists():
        message = f"no mlflow 2.x client in {CLIENT2_PYTHON.parent.parent} (make test installs it)"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    done = subprocess.run([str(CLIENT2_PYTHON), str(CLIENT2_SCRIPT), server.url, unique("v2")], cwd=tmp_path,
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "registered with mlflow 2." in done.stdout
