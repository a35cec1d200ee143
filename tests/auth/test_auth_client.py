"""basic-auth with the official client (3.17), as the admin, an owner, a reader (the default
permission, READ) and a user granted more, on SQLite, PostgreSQL and MariaDB."""
from __future__ import annotations

import mlflow
import pytest
import requests
from mlflow.exceptions import MlflowException, RestException
from mlflow.server import get_app_client

from auth_support import ADMIN, ADMIN_PASSWORD, As, assert_error, assert_ok, auth_server, make_user, signed_in  # noqa: F401
from conftest import BACKENDS, unique


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, tmp_path_factory):
    with auth_server(tmp_path_factory.mktemp(f"auth-{request.param}"), request.param) as server:
        yield server


@pytest.fixture(autouse=True)
def tracking_uri(server, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    mlflow.set_tracking_uri(server.url)


@pytest.fixture
def admin_client(server, signed_in):
    signed_in(ADMIN)
    return get_app_client("basic-auth", tracking_uri=server.url)


def denied(call) -> RestException:
    with pytest.raises(RestException) as raised:
        call()
    assert raised.value.error_code == "PERMISSION_DENIED", raised.value
    return raised.value


def test_without_credentials_the_server_asks_for_them(server):
    for user, password in ((None, None), (ADMIN, "wrong-password-0001"), ("nobody", "whatever-password")):
        response = As(server, user, password).get("experiments/search", params={"max_results": 1})
        assert_error(response, 401, "UNAUTHENTICATED")
        assert response.headers["WWW-Authenticate"] == 'Basic realm="mlflow"'
    for path in ("/health", "/version", "/ready", "/api/3.0/mlflow/server-info"):
        assert As(server, None).get(path).status_code == 200, path


def test_owner_reader_and_granted_user(server, admin_client, signed_in, tmp_path):
    alice, bob = make_user(server), make_user(server)
    client = mlflow.MlflowClient(server.url)

    signed_in(alice)  # the creator manages what she creates
    experiment_id = client.create_experiment(unique())
    run = client.create_run(experiment_id)
    run_id = run.info.run_id
    client.log_metric(run_id, "loss", 0.5, step=1)
    client.log_param(run_id, "lr", "0.1")
    (tmp_path / "notes.txt").write_text("alice's notes")
    client.log_artifact(run_id, str(tmp_path / "notes.txt"))

    signed_in(bob)  # READ by default: he sees everything and changes nothing
    assert client.get_experiment(experiment_id).experiment_id == experiment_id
    assert client.get_run(run_id).data.params == {"lr": "0.1"}
    assert [m.value for m in client.get_metric_history(run_id, "loss")] == [0.5]
    assert [r.info.run_id for r in client.search_runs([experiment_id])] == [run_id]
    downloaded = client.download_artifacts(run_id, "notes.txt", str(tmp_path / "bob"))
    assert open(downloaded).read() == "alice's notes"
    denied(lambda: client.log_metric(run_id, "loss", 0.1))
    denied(lambda: client.set_tag(run_id, "by", "bob"))
    denied(lambda: client.create_run(experiment_id))
    denied(lambda: client.delete_experiment(experiment_id))
    denied(lambda: client.rename_experiment(experiment_id, unique()))
    (tmp_path / "bob.txt").write_text("bob was here")
    with pytest.raises(requests.HTTPError, match="403"):
        client.log_artifact(run_id, str(tmp_path / "bob.txt"))
    assert [f.path for f in client.list_artifacts(run_id)] == ["notes.txt"]
    # nor can he give himself more
    bobs_client = get_app_client("basic-auth", tracking_uri=server.url)
    denied(lambda: bobs_client.grant_user_permission(bob, "experiment", experiment_id, "EDIT"))

    signed_in(alice)  # she manages her experiment: she lets bob edit it
    alices_client = get_app_client("basic-auth", tracking_uri=server.url)
    alices_client.grant_user_permission(bob, "experiment", experiment_id, "EDIT")
    shared = assert_ok(As(server, alice).get("/api/3.0/mlflow/permissions/list",
                                             params={"resource_type": "experiment", "resource_id": experiment_id}))
    assert sorted(shared["permissions"], key=str) == sorted([{"username": alice, "permission": "MANAGE"},
                                                            {"username": bob, "permission": "EDIT"}], key=str)

    signed_in(bob)
    mine = bobs_client.get_user_permission(bob, "experiment", experiment_id)
    assert (mine.permission, mine.allowed) == ("EDIT", True)
    client.log_metric(run_id, "loss", 0.25, step=2)
    client.create_run(experiment_id)
    denied(lambda: client.delete_experiment(experiment_id))  # EDIT does not delete

    signed_in(alice)
    alices_client.revoke_user_permission(bob, "experiment", experiment_id)
    signed_in(bob)
    denied(lambda: client.log_metric(run_id, "loss", 0.125))

    signed_in(alice)
    client.delete_experiment(experiment_id)
    signed_in(ADMIN)  # the admin may do everything
    client.restore_experiment(experiment_id)
    assert [m.value for m in client.get_metric_history(run_id, "loss")] == [0.5, 0.25]


def test_registry_and_prompts_follow_their_creator(server, signed_in):
    alice, bob = make_user(server), make_user(server)
    client = mlflow.MlflowClient(server.url)
    signed_in(alice)
    name = unique("model")
    client.create_registered_model(name)
    run = client.create_run(client.create_experiment(unique()))
    version = client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id)
    prompt = mlflow.genai.register_prompt(unique("prompt"), "Hello {{name}}")

    signed_in(bob)
    assert client.get_registered_model(name).name == name
    assert client.get_model_version(name, version.version).run_id == run.info.run_id
    assert mlflow.genai.load_prompt(f"prompts:/{prompt.name}/1").template == "Hello {{name}}"
    denied(lambda: client.set_registered_model_tag(name, "k", "v"))
    denied(lambda: client.set_registered_model_alias(name, "champion", version.version))
    denied(lambda: client.delete_registered_model(name))
    with pytest.raises(MlflowException):
        mlflow.genai.register_prompt(prompt.name, "Bye {{name}}")
    # his own copy of her version needs EDIT on the copy only; the source is readable to him
    mine = unique("model")
    client.create_registered_model(mine)
    assert client.copy_model_version(f"models:/{name}/{version.version}", mine).version == "1"

    signed_in(alice)
    client.rename_registered_model(name, name + "-v2")  # her grants follow the new name
    client.set_registered_model_tag(name + "-v2", "stage", "prod")
    client.delete_registered_model(name + "-v2")
    signed_in(bob)  # a new model of the old name is his, not hers
    client.create_registered_model(name + "-v2")
    signed_in(alice)
    denied(lambda: client.delete_registered_model(name + "-v2"))


def test_user_administration(server, admin_client, signed_in):
    carol = unique("carol")
    user = admin_client.create_user(carol, "carols-password-1")
    assert (user.username, user.is_admin) == (carol, False)
    with pytest.raises(RestException) as taken:
        admin_client.create_user(carol, "carols-password-2")
    assert taken.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(RestException) as short:
        admin_client.create_user(unique(), "short")
    assert short.value.error_code == "INVALID_PARAMETER_VALUE" and "12 characters" in short.value.message

    signed_in(carol, "carols-password-1")
    carols_client = get_app_client("basic-auth", tracking_uri=server.url)
    assert carols_client.get_user(carol).id == user.id
    denied(lambda: carols_client.get_user(ADMIN))
    denied(lambda: carols_client.create_user(unique(), "some-password-1"))
    denied(lambda: carols_client.update_user_admin(carol, True))
    with pytest.raises(RestException):  # her own password: only with the current one
        carols_client.update_user_password(carol, "carols-password-2")
    carols_client.update_user_password(carol, "carols-password-2", current_password="carols-password-1")
    assert_error(As(server, carol, "carols-password-1").get("users/current"), 401, "UNAUTHENTICATED")
    current = assert_ok(As(server, carol, "carols-password-2").get("users/current"))
    assert current["user"] == {"id": user.id, "username": carol, "is_admin": False}

    signed_in(ADMIN)
    admin_client.update_user_admin(carol, True)
    assert admin_client.get_user(carol).is_admin
    listed = assert_ok(As(server, ADMIN).get("users/list"))["users"]
    assert {carol, ADMIN} <= {u["username"] for u in listed}
    assert all("password" not in str(u).lower() for u in listed)
    with pytest.raises(RestException):
        admin_client.delete_user(ADMIN)  # not oneself
    admin_client.delete_user(carol)
    assert_error(As(server, carol, "carols-password-2").get("users/current"), 401, "UNAUTHENTICATED")


def test_roles(server, admin_client, signed_in):
    dave = make_user(server)
    client = mlflow.MlflowClient(server.url)
    signed_in(ADMIN)
    experiment_id = client.create_experiment(unique())
    run_id = client.create_run(experiment_id).info.run_id
    role = admin_client.create_role("default", unique("editors"), "may edit every experiment")
    grant = admin_client.add_role_permission(role.id, "experiment", "*", "EDIT")
    assert [p.id for p in admin_client.list_role_permissions(role.id)] == [grant.id]
    with pytest.raises(RestException):
        admin_client.create_role("another-workspace", unique())

    signed_in(dave)
    denied(lambda: client.log_metric(run_id, "m", 1.0))
    signed_in(ADMIN)
    assignment = admin_client.assign_role(dave, role.id)
    assert [a.id for a in admin_client.list_role_users(role.id)] == [assignment.id]
    assert role.name in [r.name for r in admin_client.list_user_roles(dave)]
    signed_in(dave)
    client.log_metric(run_id, "m", 1.0)
    roles_client = get_app_client("basic-auth", tracking_uri=server.url)
    denied(lambda: roles_client.create_role("default", unique()))

    signed_in(ADMIN)  # a DENY of his own outweighs the role's EDIT
    admin_client.grant_user_permission(dave, "experiment", experiment_id, "DENY")
    signed_in(dave)
    denied(lambda: client.get_run(run_id))
    signed_in(ADMIN)
    admin_client.revoke_user_permission(dave, "experiment", experiment_id)
    admin_client.update_role_permission(grant.id, "READ")
    signed_in(dave)
    denied(lambda: client.log_metric(run_id, "m", 2.0))
    signed_in(ADMIN)
    admin_client.unassign_role(dave, role.id)
    admin_client.delete_role(role.id)
    with pytest.raises(RestException) as gone:
        admin_client.get_role(role.id)
    assert gone.value.error_code == "RESOURCE_DOES_NOT_EXIST"
