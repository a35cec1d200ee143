"""No route is forgotten: every URL rule of the app declares what it asks of its caller, and with
basic-auth on every one of them but the probes and the UI's static files refuses a request
without credentials."""
from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from auth_support import ADMIN, ADMIN_PASSWORD, As, assert_error, auth_server
from conftest import ROOT

PUBLIC_PATHS = {"/health", "/ready", "/version", "/static-files/<stamp>/<path:path>",
                "/api/3.0/mlflow/server-info", "/ajax-api/3.0/mlflow/server-info"}

# Run by the server's own interpreter: builds the app as the server does and reports on it.
APP_SCRIPT = """
import json, os, sys
from app.config import resolve
from app.factory import create_app
from app.options import Settings
from app.server import prepare
auth = sys.argv[2] == "basic-auth"
settings = prepare(resolve(Settings(backend_store_uri=f"sqlite:///{sys.argv[1]}/mlflow.db",
                                    artifacts_destination=sys.argv[1] + "/artifacts",
                                    app_name="basic-auth" if auth else "")))
app = create_app(settings)
declared = app.extensions["access"]
rules = [{"rule": r.rule, "methods": sorted(r.methods - {"HEAD", "OPTIONS"}),
          "who": declared[r.endpoint].who if r.endpoint in declared else None} for r in app.url_map.iter_rules()]
forgotten = None
if auth:
    app.add_url_rule("/forgotten", "forgotten", lambda: "secret")
    import base64
    header = "Basic " + base64.b64encode(f"admin:{os.environ['MLFLOW_AUTH_ADMIN_PASSWORD']}".encode()).decode()
    answer = app.test_client().get("/forgotten", headers={"Authorization": header})
    forgotten = [answer.status_code, answer.json]
print(json.dumps({"rules": rules, "forgotten": forgotten}))
"""


def app_report(tmp_path, auth: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(PYTHONPATH=str(ROOT), MLFLOW_AUTH_ADMIN_PASSWORD=ADMIN_PASSWORD)
    result = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-c", APP_SCRIPT, str(tmp_path),
                             "basic-auth" if auth else ""], env=env, capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("auth", [False, True], ids=["auth-off", "basic-auth"])
def test_every_url_rule_declares_its_access(auth, tmp_path):
    rules = app_report(tmp_path, auth)["rules"]
    assert len(rules) > 100
    undeclared = [f"{rule['methods']} {rule['rule']}" for rule in rules if rule["who"] is None]
    assert not undeclared, f"URL rules without an access declaration: {undeclared}"
    assert {rule["rule"] for rule in rules if rule["who"] == "public"} == PUBLIC_PATHS


def test_a_rule_added_without_a_declaration_is_refused_even_to_admins(tmp_path):
    status, body = app_report(tmp_path, True)["forgotten"]
    assert status == 403 and body["error_code"] == "PERMISSION_DENIED", body


def test_every_route_refuses_a_request_without_credentials(tmp_path):
    """Each rule of the app, each of its methods, against a real server with auth on."""
    rules = app_report(tmp_path, True)["rules"]
    (tmp_path / "live").mkdir()
    with auth_server(tmp_path / "live") as server:
        anonymous, checked = As(server, None), 0
        for rule in rules:
            path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: "1" if m[1] != "path" else "x/y", rule["rule"])
            for method in rule["methods"]:
                response = anonymous.request(method, path, json={} if method != "GET" else None)
                if rule["rule"] in PUBLIC_PATHS:
                    assert response.status_code != 401, (method, path)
                else:
                    assert_error(response, 401, "UNAUTHENTICATED")
                    assert response.headers["WWW-Authenticate"] == 'Basic realm="mlflow"', (method, path)
                checked += 1
        assert checked > 150
        # an unknown route asks for credentials first too, then says there is no such route
        assert_error(anonymous.get("no-such-route"), 401, "UNAUTHENTICATED")
        assert_error(As(server, ADMIN).get("no-such-route"), 404, "ENDPOINT_NOT_FOUND")
