"""The web UI with basic-auth on, in Chromium: the browser signs in (Playwright's
http_credentials answer the server's Basic challenge) as the admin or as a plain user. Who is
signed in shows in the top bar; only admins have the admin area, where they manage users and
roles; a user makes, sees once and revokes an access token; a manager of an experiment or
model grants, changes and revokes permissions in its panel, and a reader has none."""
from __future__ import annotations

import contextlib
import re

import pytest
import requests
from playwright.sync_api import expect
from ui_support import browser, shot, watched_page  # noqa: F401 (fixtures)

from conftest import Server

pytestmark = pytest.mark.ui

ADMIN, ADMIN_PASSWORD = "admin", "admin-password-0001"
MANAGER, EDITOR, READER = "alice", "bob", "carol"  # alice creates the experiment and the model
EXPERIMENT, MODEL, PROMPT = "alice-experiment", "alice-model", "alice-prompt"
XSS_USER = '<img src=x onerror="window.__xss=7">'  # a username is any text without ':'


def password(user: str) -> str:
    return ADMIN_PASSWORD if user == ADMIN else f"password-of-{user}-0001"


class Seeded:
    def __init__(self, server: Server, experiment_id: str, run_id: str):
        self.server, self.url, self.experiment_id, self.run_id = server, server.url, experiment_id, run_id

    def http(self, user: str | None, method: str, path: str, *, token: str | None = None, v3: bool = False, **kw):
        """Plain HTTP to the REST API as a user (by password, or by an access token)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        auth = (user, password(user)) if user and not token else None
        url = f"{self.url}/api/{'3.0' if v3 else '2.0'}/mlflow/{path}"
        return requests.request(method, url, auth=auth, headers=headers, timeout=30, **kw)

    def log_metric(self, user: str) -> requests.Response:
        return self.http(user, "POST", "runs/log-metric", json={
            "run_id": self.run_id, "key": "loss", "value": 0.5, "timestamp": 1, "step": 0})


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A basic-auth server with three plain users; alice made an experiment with a run and a
    registered model through the official client, so she manages them."""
    tmp = tmp_path_factory.mktemp("ui-auth")
    server = Server({"MLFLOW_APP_NAME": "basic-auth", "MLFLOW_AUTH_ADMIN_USERNAME": ADMIN,
                     "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
                     "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp / 'mlflow.db'}",
                     "MLFLOW_ARTIFACTS_DESTINATION": str(tmp / "artifacts")}, tmp)
    try:
        server.wait_ready()
        for user in (MANAGER, EDITOR, READER, XSS_USER):
            response = requests.post(f"{server.url}/api/2.0/mlflow/users/create", auth=(ADMIN, ADMIN_PASSWORD),
                                     json={"username": user, "password": password(user)}, timeout=30)
            assert response.status_code == 200, response.text
        from mlflow import MlflowClient
        with pytest.MonkeyPatch.context() as env:
            env.setenv("MLFLOW_TRACKING_USERNAME", MANAGER)
            env.setenv("MLFLOW_TRACKING_PASSWORD", password(MANAGER))
            env.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
            client = MlflowClient(server.url)
            experiment_id = client.create_experiment(EXPERIMENT)
            run = client.create_run(experiment_id, run_name="first")
            client.create_registered_model(MODEL, description="Made by alice.")
        seeded = Seeded(server, experiment_id, run.info.run_id)
        response = seeded.http(MANAGER, "POST", "registered-models/create", json={  # as the prompt APIs make one
            "name": PROMPT, "tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"}]})
        assert response.status_code == 200, response.text
        yield seeded
    finally:
        server.stop()


@contextlib.contextmanager
def signed_in(browser, user: str):  # noqa: F811 (the fixture)
    with watched_page(browser, http_credentials={"username": user, "password": password(user)}) as page:
        yield page


def open_page(page, seeded: Seeded, route: str):
    page.goto(f"{seeded.url}/#{route}")
    return page


def quiet_shot(page, name: str):
    """A screenshot without the notices of what was done before."""
    page.evaluate("document.getElementById('toasts').replaceChildren()")
    shot(page, name)


def settled(page):
    """Wait until the page has made its requests (a panel shown to managers is added once the
    user's permission is known)."""
    page.wait_for_load_state("networkidle")


# ---------------------------------------------------------------- who is signed in

def test_the_signed_in_user_is_shown_with_a_menu_to_their_account(browser, seeded):
    with signed_in(browser, MANAGER) as page:
        open_page(page, seeded, "/experiments")
        user = page.locator(".user-menu summary")
        expect(user).to_contain_text(MANAGER)
        expect(user.locator(".admin-badge")).to_have_count(0)
        user.focus()
        page.keyboard.press("Enter")  # the menu opens from the keyboard
        page.get_by_role("link", name="My account").click()
        expect(page.get_by_role("heading", name="My account", level=1)).to_be_visible()
        expect(page.locator(".meta")).to_contain_text(f"Signed in as {MANAGER}")
        expect(page.locator(".user-menu")).not_to_have_attribute("open", "")
    with signed_in(browser, ADMIN) as page:
        open_page(page, seeded, "/experiments")
        expect(page.locator(".user-menu summary")).to_contain_text(ADMIN)
        expect(page.locator(".user-menu .admin-badge")).to_have_text("admin")
        expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin")).to_be_visible()
        quiet_shot(page, "auth-signed-in-admin")
        page.set_viewport_size({"width": 390, "height": 800})  # the top bar wraps instead of overflowing
        open_page(page, seeded, "/admin/users")
        expect(page.get_by_role("table", name="Users")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 391
        quiet_shot(page, "auth-admin-users-narrow")


def test_a_user_who_is_not_an_admin_has_no_admin_area(browser, seeded):
    with signed_in(browser, READER) as page:
        open_page(page, seeded, "/experiments")
        expect(page.locator(".user-menu summary")).to_contain_text(READER)
        expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_text(["Experiments", "Models"])
        page.locator(".user-menu summary").click()
        expect(page.locator(".user-menu .menu-panel a")).to_have_text(["My account"])
        for route in ("/admin", "/admin/users", "/admin/roles", f"/admin/users/{ADMIN}"):
            open_page(page, seeded, route)
            expect(page.get_by_role("alert")).to_contain_text("Permission denied: only admins")
            expect(page.get_by_role("table")).to_have_count(0)
            expect(page.get_by_role("button", name="New user")).to_have_count(0)
        quiet_shot(page, "auth-admin-refused")
    assert seeded.http(READER, "GET", "roles/users/list", v3=True, params={"role_id": 1}).status_code == 403


# ---------------------------------------------------------------- the admin area

def test_the_admin_creates_a_user_and_a_role_and_assigns_it(browser, seeded):
    with signed_in(browser, ADMIN) as page:
        open_page(page, seeded, "/admin")
        page.get_by_role("button", name="New user").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_label("Username").fill("dana")
        dialog.get_by_label("Password").fill("password-of-dana-0001")
        dialog.get_by_role("button", name="Create").click()
        users = page.get_by_role("table", name="Users")
        expect(users.get_by_role("link", name="dana")).to_be_visible()
        expect(users.get_by_role("link", name=XSS_USER)).to_be_visible()  # as text: the page fails on window.__xss
        assert page.locator("main img").count() == 0
        assert seeded.http("dana", "GET", "users/current").json()["user"]["username"] == "dana"

        # make and unmake an admin, set a password
        users.get_by_role("button", name="Make admin: dana").click()
        page.get_by_role("dialog").get_by_role("button", name="Make admin").click()
        expect(users.locator("tr", has_text="dana").locator(".admin-badge")).to_be_visible()
        assert seeded.http(ADMIN, "GET", "users/get", params={"username": "dana"}).json()["user"]["is_admin"] is True
        users.get_by_role("button", name="Remove admin: dana").click()
        page.get_by_role("dialog").get_by_role("button", name="Remove admin").click()
        expect(users.locator("tr", has_text="dana").locator(".admin-badge")).to_have_count(0)
        users.get_by_role("button", name="Set password of dana").click()
        page.get_by_role("dialog").get_by_label("New password").fill("new-password-of-dana-1")
        page.get_by_role("dialog").get_by_role("button", name="Set password").click()
        expect(page.locator(".toast", has_text="Password of dana set")).to_be_visible()
        response = requests.get(f"{seeded.url}/api/2.0/mlflow/users/current", auth=("dana", "new-password-of-dana-1"), timeout=30)
        assert response.status_code == 200
        quiet_shot(page, "auth-admin-users")

        # a role: create, describe, permissions added and changed, a user assigned
        page.get_by_role("link", name="Roles", exact=True).click()
        page.get_by_role("button", name="New role").click()
        page.get_by_role("dialog").get_by_label("Name").fill("model-readers")
        page.get_by_role("dialog").get_by_label("Description").fill("Read every model")
        page.get_by_role("dialog").get_by_role("button", name="Create").click()
        expect(page.get_by_role("heading", name="model-readers", level=1)).to_be_visible()
        role_id = int(re.search(r"#/admin/roles/(\d+)", page.url)[1])

        page.get_by_label("Resource type").select_option("registered_model")
        page.get_by_label("Resource", exact=True).fill("*")
        page.get_by_label("Permission", exact=True).select_option("READ")
        page.get_by_role("button", name="Add permission").click()
        grants = page.get_by_role("table", name="Permissions of the role")
        expect(grants).to_contain_text("every registered model")
        grants.get_by_label("Permission on every registered model").select_option("EDIT")
        expect(page.locator(".toast", has_text="Permission changed")).to_be_visible()
        role = seeded.http(ADMIN, "GET", "roles/get", v3=True, params={"role_id": role_id}).json()["role"]
        assert [(p["resource_type"], p["resource_pattern"], p["permission"]) for p in role["permissions"]] == [
            ("registered_model", "*", "EDIT")]

        page.get_by_label("User to assign the role to").fill("dana")
        page.get_by_role("button", name="Assign", exact=True).click()
        expect(page.get_by_role("list", name="Users with the role")).to_contain_text("dana")
        roles = seeded.http(ADMIN, "GET", "users/roles/list", v3=True, params={"username": "dana"}).json()["roles"]
        assert "model-readers" in [r["name"] for r in roles]

        page.get_by_role("button", name="Rename or describe").click()
        page.get_by_role("dialog").get_by_label("Name").fill("model-editors")
        page.get_by_role("dialog").get_by_role("button", name="Save").click()
        expect(page.get_by_role("heading", name="model-editors", level=1)).to_be_visible()
        quiet_shot(page, "auth-admin-role")

        # the user's page shows the role and what it grants
        page.get_by_role("list", name="Users with the role").get_by_role("link", name="dana").click()
        expect(page.get_by_role("heading", name="dana", level=1)).to_be_visible()
        expect(page.locator("section.panel", has=page.get_by_role("heading", name="Roles"))).to_contain_text("model-editors")
        expect(page.locator("section.panel", has=page.get_by_role("heading", name="Permissions"))).to_contain_text("EDIT")
        quiet_shot(page, "auth-admin-user")

        # unassign, remove the grant, delete the role and the user
        open_page(page, seeded, f"/admin/roles/{role_id}")
        page.get_by_role("button", name="Unassign dana").click()
        page.get_by_role("dialog").get_by_role("button", name="Unassign").click()
        expect(page.get_by_text("No user has this role.")).to_be_visible()
        page.get_by_role("button", name="Remove the grant on every registered model").click()
        expect(page.get_by_text("This role grants nothing yet.")).to_be_visible()
        page.get_by_role("button", name="Delete").click()
        page.get_by_role("dialog").get_by_role("button", name="Delete").click()
        expect(page.get_by_role("table", name="Roles")).to_have_count(0)  # no role left
        expect(page.get_by_text("No roles yet.")).to_be_visible()
        open_page(page, seeded, "/admin/users")
        page.get_by_role("button", name="Delete dana").click()
        page.get_by_role("dialog").get_by_role("button", name="Delete").click()
        expect(page.get_by_role("link", name="dana")).to_have_count(0)
        expect(page.get_by_role("button", name=f"Delete {ADMIN}")).to_be_disabled()
        assert seeded.http(ADMIN, "GET", "users/get", params={"username": "dana"}).status_code == 404


# ---------------------------------------------------------------- my account

def test_a_user_creates_a_token_sees_it_once_and_revokes_it(browser, seeded):
    with signed_in(browser, EDITOR) as page:
        open_page(page, seeded, "/account")
        page.get_by_label("Token name").fill("ci-pipeline")
        page.get_by_label("Expires in days").fill("30")
        page.get_by_role("button", name="Create token").click()
        box = page.locator(".secret-box")
        expect(box).to_contain_text("it will not be shown again")
        secret = page.get_by_label("New token secret").input_value()
        assert secret.startswith("mlft_")
        quiet_shot(page, "auth-token-created")
        response = seeded.http(None, "GET", "users/current", token=secret)
        assert response.status_code == 200 and response.json()["user"]["username"] == EDITOR

        tokens = page.get_by_role("table", name="Access tokens")
        expect(tokens).to_contain_text("ci-pipeline")
        box.get_by_role("button", name="Done").click()
        expect(box).to_have_count(0)
        page.reload()
        expect(page.get_by_role("table", name="Access tokens")).to_contain_text("ci-pipeline")
        assert secret not in page.content()

        page.get_by_role("button", name="Revoke ci-pipeline").click()
        page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
        expect(page.get_by_text("No access tokens.")).to_be_visible()
        assert seeded.http(None, "GET", "users/current", token=secret).status_code == 401


def test_a_user_changes_their_password_with_the_current_one(browser, seeded):
    requests.post(f"{seeded.url}/api/2.0/mlflow/users/create", auth=(ADMIN, ADMIN_PASSWORD), timeout=30,
                  json={"username": "erin", "password": password("erin")}).raise_for_status()
    with signed_in(browser, "erin") as page:
        page.allowed_console = ("status of 400",)  # the refused wrong current password
        open_page(page, seeded, "/account")
        page.get_by_label("Current password").fill("not-the-password")
        page.get_by_label("New password", exact=True).fill("a-new-password-for-erin")
        page.get_by_label("New password again").fill("a-new-password-for-erin")
        page.get_by_role("button", name="Change password").click()
        expect(page.locator(".toast.error")).to_contain_text("Current password does not match")
        page.get_by_label("Current password").fill(password("erin"))
        page.get_by_role("button", name="Change password").click()
        expect(page.locator(".toast", has_text="Password changed")).to_be_visible()
    response = requests.get(f"{seeded.url}/api/2.0/mlflow/users/current", auth=("erin", "a-new-password-for-erin"), timeout=30)
    assert response.status_code == 200


def test_my_permissions_list_what_was_granted(browser, seeded):
    with signed_in(browser, MANAGER) as page:
        open_page(page, seeded, "/account")
        mine = page.locator("section.panel", has=page.get_by_role("heading", name="My permissions"))
        expect(mine.get_by_role("row", name=re.compile(f"Experiment {seeded.experiment_id}.*MANAGE"))).to_be_visible()
        expect(mine.get_by_role("row", name=re.compile(f"{MODEL}.*MANAGE"))).to_be_visible()
        expect(mine).to_contain_text("granted directly")
        quiet_shot(page, "auth-account")


# ---------------------------------------------------------------- permissions of an experiment or a model

def test_a_manager_grants_edit_on_the_experiment_and_that_user_can_log(browser, seeded):
    assert seeded.log_metric(EDITOR).status_code == 403  # READ, the default
    with signed_in(browser, MANAGER) as page:
        open_page(page, seeded, f"/experiments/{seeded.experiment_id}")
        page.get_by_role("navigation", name="Sections").get_by_role("link", name="Permissions").click()
        panel = page.locator(".permissions-panel")
        expect(panel.get_by_role("table", name="Users' permissions")).to_contain_text(MANAGER)
        panel.get_by_label("User to grant a permission to").fill(EDITOR)
        panel.get_by_label("Permission to grant").select_option("EDIT")
        panel.get_by_role("button", name="Grant").click()
        expect(panel.get_by_label(f"Permission of {EDITOR}")).to_have_value("EDIT")
        quiet_shot(page, "auth-experiment-permissions")
        assert seeded.log_metric(EDITOR).status_code == 200

        panel.get_by_label(f"Permission of {EDITOR}").select_option("READ")
        expect(page.locator(".toast", has_text=f"{EDITOR} now has READ")).to_be_visible()
        assert seeded.log_metric(EDITOR).status_code == 403
        panel.get_by_role("button", name=f"Revoke {EDITOR}").click()
        page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
        expect(panel.get_by_label(f"Permission of {EDITOR}")).to_have_count(0)
    grants = seeded.http(ADMIN, "GET", "permissions/list", v3=True,
                         params={"resource_type": "experiment", "resource_id": seeded.experiment_id}).json()
    assert grants["permissions"] == [{"username": MANAGER, "permission": "MANAGE"}]


def test_a_manager_grants_on_the_registered_model(browser, seeded):
    with signed_in(browser, MANAGER) as page:
        open_page(page, seeded, f"/models/{MODEL}")
        panel = page.locator(".permissions-panel")
        panel.get_by_label("User to grant a permission to").fill(READER)
        panel.get_by_label("Permission to grant").select_option("DENY")
        panel.get_by_role("button", name="Grant").click()
        expect(panel.get_by_label(f"Permission of {READER}")).to_have_value("DENY")
        quiet_shot(page, "auth-model-permissions")
    assert seeded.http(READER, "GET", "registered-models/get", params={"name": MODEL}).status_code == 403
    with signed_in(browser, ADMIN) as page:  # admins manage everything
        open_page(page, seeded, f"/models/{MODEL}")
        panel = page.locator(".permissions-panel")
        panel.get_by_role("button", name=f"Revoke {READER}").click()
        page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
        expect(panel.get_by_label(f"Permission of {READER}")).to_have_count(0)
    assert seeded.http(READER, "GET", "registered-models/get", params={"name": MODEL}).status_code == 200


def test_a_prompt_has_the_permissions_panel_of_a_prompt(browser, seeded):
    with signed_in(browser, MANAGER) as page:
        open_page(page, seeded, f"/models/{PROMPT}")
        panel = page.locator(".permissions-panel")
        expect(panel).to_contain_text("on this prompt")
        panel.get_by_label("User to grant a permission to").fill(EDITOR)
        panel.get_by_role("button", name="Grant").click()  # READ, the level offered first
        expect(panel.get_by_label(f"Permission of {EDITOR}")).to_have_value("READ")
    grants = seeded.http(ADMIN, "GET", "permissions/list", v3=True,
                         params={"resource_type": "prompt", "resource_id": PROMPT}).json()["permissions"]
    assert {"username": EDITOR, "permission": "READ"} in grants


def test_a_reader_sees_no_permissions_panel(browser, seeded):
    with signed_in(browser, READER) as page:
        open_page(page, seeded, f"/experiments/{seeded.experiment_id}")
        expect(page.locator(".vgrid[data-state=ready]")).to_be_visible()
        settled(page)
        tabs = page.get_by_role("navigation", name="Sections")
        expect(tabs.get_by_role("link")).to_have_text(["Runs", "Traces", "Logged models"])
        open_page(page, seeded, f"/experiments/{seeded.experiment_id}/permissions")
        expect(page.get_by_role("alert")).to_contain_text("Only those who manage this experiment")
        expect(page.locator(".permissions-panel")).to_have_count(0)
        open_page(page, seeded, f"/models/{MODEL}")
        expect(page.get_by_role("heading", name="Tags")).to_be_visible()
        settled(page)
        expect(page.locator(".permissions-panel")).to_have_count(0)
        quiet_shot(page, "auth-reader-model")


def test_a_refused_change_says_permission_denied(browser, seeded):
    with signed_in(browser, READER) as page:
        page.allowed_console = ("status of 403",)
        open_page(page, seeded, "/experiments")
        row = page.locator("tr", has=page.get_by_role("link", name=EXPERIMENT, exact=True))
        row.get_by_role("button", name="Rename").click()
        page.get_by_role("textbox", name="New name").fill("taken-over")
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".toast.error")).to_contain_text("Permission denied")
        shot(page, "auth-refused-toast")
    assert seeded.http(ADMIN, "GET", "experiments/get", params={"experiment_id": seeded.experiment_id}
                       ).json()["experiment"]["name"] == EXPERIMENT
