"""Registry webhooks (MLflow 3.3+) with the official client: created, listed, updated, tested
and deleted; every registry and prompt event reaches a receiver on 127.0.0.1, signed; a failing
receiver is retried, a slow one does not slow the request, a redirect is not followed, and the
secret is in no answer and not stored in clear. The module's server allows private URLs (the
receiver is on loopback); a server that does not refuses them, at creation and at delivery."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import mlflow
import pytest
import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet
from mlflow.exceptions import MlflowException

from conftest import BACKENDS, Server, backend_uri, unique
from registry_support import assert_error, assert_ok, new_run

KEY = Fernet.generate_key().decode()
SECRET = "webhook-secret-Zq81"
PERMISSIVE = {"MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true", "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
              "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": KEY}
ALL_EVENTS = ["registered_model.created", "model_version.created", "model_version_tag.set",
              "model_version_tag.deleted", "model_version_alias.created", "model_version_alias.deleted",
              "prompt.created", "prompt_version.created", "prompt_tag.set", "prompt_tag.deleted",
              "prompt_version_tag.set", "prompt_version_tag.deleted", "prompt_alias.created", "prompt_alias.deleted"]


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, tmp_path_factory):
    """The module's server (replacing conftest's): webhooks may target loopback."""
    tmp = tmp_path_factory.mktemp(f"webhooks-{request.param}")
    uri, cleanup = backend_uri(request.param, tmp)
    srv = Server({"MLFLOW_BACKEND_STORE_URI": uri, "MLFLOW_ARTIFACTS_DESTINATION": str(tmp / "artifacts"),
                  **PERMISSIVE}, tmp)
    try:
        srv.wait_ready()
        srv.backend, srv.uri = request.param, uri
        yield srv
    finally:
        srv.stop()
        cleanup()


class Receiver:
    """An HTTP server on 127.0.0.1 that records every request. By the first path segment:
    /ok answers 200, /flaky 500 twice then 200, /slow after 10 s, /redirect 302 to /ok."""

    def __init__(self):
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                with receiver.lock:
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                              "time": time.monotonic()})
                    seen = sum(r["path"] == self.path for r in receiver.requests)
                kind = self.path.split("/")[1]
                if kind == "slow":
                    time.sleep(10)
                if kind == "redirect":
                    self.send_response(302)
                    self.send_header("Location", f"http://127.0.0.1:{receiver.port}/ok/followed{self.path}")
                else:
                    self.send_response(500 if kind == "flaky" and seen <= 2 else 200)
                self.send_header("Content-Length", "8")
                self.end_headers()
                self.wfile.write(b"received")

            def log_message(self, *args):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.http.handle_error = lambda *args: None  # a stopped server hangs up on the slow receiver
        self.port = self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def url(self, kind: str) -> str:
        return f"http://127.0.0.1:{self.port}/{kind}/{unique('hook')}"

    def at(self, url: str) -> list[dict]:
        path = url.split(str(self.port), 1)[1]
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def wait(self, url: str, count: int = 1, timeout: float = 20) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.at(url)) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        received = self.at(url)
        assert len(received) >= count, f"{len(received)} of {count} deliveries to {url}"
        return received


@pytest.fixture(scope="module")
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.http.shutdown()


def signature_is_valid(request: dict, secret: str = SECRET) -> bool:
    headers = request["headers"]
    signed = f"{headers['X-MLflow-Delivery-Id']}.{headers['X-MLflow-Timestamp']}.{request['body']}"
    digest = hmac.new(secret.encode(), signed.encode(), hashlib.sha256).digest()
    return hmac.compare_digest(headers.get("X-MLflow-Signature", ""), "v1," + base64.b64encode(digest).decode())


def events_of(requests_: list[dict]) -> list[tuple[str, dict]]:
    bodies = [json.loads(r["body"]) for r in requests_]
    return [(f"{b['entity']}.{b['action']}", b["data"]) for b in bodies]


def test_create_list_update_delete_with_the_official_client(client, receiver):
    url = receiver.url("ok")
    created = client.create_webhook(unique("crud"), url, ["registered_model.created", "model_version.created"],
                                    description="first", secret=SECRET)
    assert created.url == url and created.description == "first" and created.status == "ACTIVE"
    assert sorted(map(str, created.events)) == ["model_version.created", "registered_model.created"]
    assert created.creation_timestamp == created.last_updated_timestamp > 0
    assert client.get_webhook(created.webhook_id).name == created.name

    updated = client.update_webhook(created.webhook_id, name=unique("renamed"), description="second",
                                    events=["prompt.created"], status="DISABLED")
    assert (updated.description, [str(e) for e in updated.events], updated.status) == \
        ("second", ["prompt.created"], "DISABLED")
    assert updated.url == url and updated.last_updated_timestamp >= created.last_updated_timestamp

    more = [client.create_webhook(unique("page"), url, ["prompt.created"]).webhook_id for _ in range(2)]
    listed = client.list_webhooks()
    assert {created.webhook_id, *more} <= {w.webhook_id for w in listed}
    first = client.list_webhooks(max_results=2)
    second = client.list_webhooks(max_results=2, page_token=first.token)
    assert first.token and not {w.webhook_id for w in first} & {w.webhook_id for w in second}
    assert [w.webhook_id for w in first][:2] == [w.webhook_id for w in listed][:2]  # newest first

    for webhook_id in (created.webhook_id, *more):
        client.delete_webhook(webhook_id)
    with pytest.raises(MlflowException, match="RESOURCE_DOES_NOT_EXIST"):
        client.get_webhook(created.webhook_id)
    assert created.webhook_id not in {w.webhook_id for w in client.list_webhooks()}


def test_invalid_webhooks_are_refused(api, receiver):
    good = {"name": "w", "url": receiver.url("ok"), "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}]}
    for change in ({"name": "-bad"}, {"name": "x" * 64}, {"url": "ftp://127.0.0.1/x"}, {"url": "not a url"},
                   {"url": f"http://user:pw@127.0.0.1:{receiver.port}/x"}, {"events": []},
                   {"events": [{"entity": "MODEL_VERSION", "action": "SET"}]},
                   {"events": [{"entity": "model_version", "action": "created"}]},
                   {"events": [{"entity": "BUDGET_POLICY", "action": "EXCEEDED"}]}, {"status": "SLEEPING"}):
        assert_error(api.post("webhooks", json={**good, **change}), 400, "INVALID_PARAMETER_VALUE")
    assert_error(api.get("webhooks/no-such-id"), 404, "RESOURCE_DOES_NOT_EXIST")
    created = assert_ok(api.post("webhooks", json={**good, "events": good["events"] * 2, "status": "DISABLED"}))
    assert created["webhook"]["events"] == [{"entity": "MODEL_VERSION", "action": "CREATED"}]
    assert created["webhook"]["status"] == "DISABLED"
    assert_ok(api.request("DELETE", f"webhooks/{created['webhook']['webhook_id']}"))


def test_every_event_reaches_the_receiver_signed(client, receiver, api):
    url = receiver.url("ok")
    webhook = client.create_webhook(unique("all"), url, ALL_EVENTS, secret=SECRET)
    model, prompt = unique("hooked-model"), unique("hooked-prompt")
    run_id, _ = new_run(api)
    client.create_registered_model(model, tags={"team": "a"})
    client.create_model_version(model, f"runs:/{run_id}/model", run_id=run_id, tags={"t": "1"}, description="v1")
    client.set_model_version_tag(model, "1", "stage", "qa")
    client.delete_model_version_tag(model, "1", "stage")
    client.set_registered_model_alias(model, "champion", "1")
    client.delete_registered_model_alias(model, "champion")
    client.set_registered_model_tag(model, "no-event", "models have no tag events")
    mlflow.genai.register_prompt(prompt, "Hello {{name}}", commit_message="first", tags={"lang": "en"})
    mlflow.genai.set_prompt_tag(prompt, "owner", "b")
    mlflow.genai.delete_prompt_tag(prompt, "owner")
    mlflow.genai.set_prompt_version_tag(prompt, 1, "quality", "good")
    mlflow.genai.delete_prompt_version_tag(prompt, 1, "quality")
    mlflow.genai.set_prompt_alias(prompt, "production", 1)
    mlflow.genai.delete_prompt_alias(prompt, "production")

    expected = [
        ("registered_model.created", {"name": model, "tags": {"team": "a"}, "description": ""}),
        ("model_version.created", {"name": model, "version": "1", "source": f"runs:/{run_id}/model",
                                   "run_id": run_id, "tags": {"t": "1"}, "description": "v1"}),
        ("model_version_tag.set", {"name": model, "version": "1", "key": "stage", "value": "qa"}),
        ("model_version_tag.deleted", {"name": model, "version": "1", "key": "stage"}),
        ("model_version_alias.created", {"name": model, "alias": "champion", "version": "1"}),
        ("model_version_alias.deleted", {"name": model, "alias": "champion"}),
        ("prompt.created", {"name": prompt, "tags": {"lang": "en"}, "description": "first"}),
        ("prompt_version.created", {"name": prompt, "version": "1", "template": "Hello {{name}}",
                                    "tags": {"lang": "en"}, "description": "first"}),
        ("prompt_tag.set", {"name": prompt, "key": "owner", "value": "b"}),
        ("prompt_tag.deleted", {"name": prompt, "key": "owner"}),
        ("prompt_version_tag.set", {"name": prompt, "version": "1", "key": "quality", "value": "good"}),
        ("prompt_version_tag.deleted", {"name": prompt, "version": "1", "key": "quality"}),
        ("prompt_alias.created", {"name": prompt, "alias": "production", "version": "1"}),
        ("prompt_alias.deleted", {"name": prompt, "alias": "production"}),
    ]
    deadline = time.monotonic() + 20
    while not all(e in events_of(receiver.at(url)) for e in expected) and time.monotonic() < deadline:
        time.sleep(0.05)
    received = receiver.at(url)
    assert [e for e in expected if e not in events_of(received)] == []
    assert all(signature_is_valid(r) for r in received)
    assert all(r["headers"]["Content-Type"] == "application/json" for r in received)
    assert len({r["headers"]["X-MLflow-Delivery-Id"] for r in received}) == len(received)
    # the client tags a new prompt with the experiment it belongs to; nothing else was sent
    assert {e for e, data in events_of(received) if (e, data) not in expected} <= {"prompt_tag.set"}
    client.delete_webhook(webhook.webhook_id)


def test_a_disabled_webhook_receives_nothing(client, receiver):
    url = receiver.url("ok")
    webhook = client.create_webhook(unique("off"), url, ["registered_model.created"], status="DISABLED")
    client.create_registered_model(unique("unseen"))
    time.sleep(2)
    assert receiver.at(url) == []
    client.delete_webhook(webhook.webhook_id)


def test_a_failing_receiver_is_retried(client, receiver):
    url = receiver.url("flaky")
    webhook = client.create_webhook(unique("flaky"), url, ["registered_model.created"], secret=SECRET)
    client.create_registered_model(unique("retried"))
    attempts = receiver.wait(url, 3)
    assert len({a["headers"]["X-MLflow-Delivery-Id"] for a in attempts}) == 1  # one delivery, three attempts
    assert all(signature_is_valid(a) for a in attempts)
    assert attempts[1]["time"] - attempts[0]["time"] >= 0.9  # backed off
    time.sleep(1.5)
    assert len(receiver.at(url)) == 3  # the third was answered 200: no more
    client.delete_webhook(webhook.webhook_id)


def test_a_slow_receiver_does_not_slow_the_request(client, receiver, api):
    url = receiver.url("slow")
    webhook = client.create_webhook(unique("slow"), url, ["registered_model.created", "model_version_tag.set"])
    assert_ok(api.post("registered-models/create", json={"name": unique("warm-up")}))
    timings = []
    for _ in range(3):
        started = time.monotonic()
        assert_ok(api.post("registered-models/create", json={"name": unique("fast")}))
        timings.append(time.monotonic() - started)
    assert max(timings) < 0.2, timings
    receiver.wait(url, 4)  # they are being delivered meanwhile
    client.delete_webhook(webhook.webhook_id)


def test_a_redirect_is_not_followed(client, receiver):
    url = receiver.url("redirect")
    webhook = client.create_webhook(unique("redirect"), url, ["registered_model.created"])
    client.create_registered_model(unique("redirected"))
    receiver.wait(url)
    result = client.test_webhook(webhook.webhook_id)
    assert (result.success, result.response_status) == (False, 302)
    time.sleep(2)
    with receiver.lock:
        assert not [r for r in receiver.requests if r["path"].startswith("/ok/followed/")]
    assert len(receiver.at(url)) == 2  # the event and the test, not retried
    client.delete_webhook(webhook.webhook_id)


def test_test_sends_the_example_payload(client, receiver):
    url = receiver.url("ok")
    webhook = client.create_webhook(unique("test"), url, ["model_version_alias.created", "prompt.created"],
                                    secret=SECRET)
    result = client.test_webhook(webhook.webhook_id)
    assert (result.success, result.response_status, result.response_body, result.error_message) == \
        (True, 200, "received", None)
    result = client.test_webhook(webhook.webhook_id, event="prompt.created")
    assert result.success
    first, second = receiver.wait(url, 2)
    assert events_of([first, second]) == [
        ("model_version_alias.created", {"name": "example_model", "alias": "example_alias", "version": "1"}),
        ("prompt.created", {"name": "example_prompt", "tags": {"example_key": "example_value"},
                            "description": "An example prompt"})]
    assert signature_is_valid(first) and signature_is_valid(second)
    client.delete_webhook(webhook.webhook_id)
    failing = client.create_webhook(unique("closed"), "http://127.0.0.1:9/nothing-listens", ["prompt.created"])
    result = client.test_webhook(failing.webhook_id)
    assert not result.success and "Failed to test webhook" in result.error_message
    client.delete_webhook(failing.webhook_id)


def test_the_secret_is_in_no_answer_and_not_stored_in_clear(api, server, receiver):
    body = {"name": unique("secret"), "url": receiver.url("ok"), "secret": SECRET,
            "events": [{"entity": "PROMPT", "action": "CREATED"}]}
    answers = [api.post("webhooks", json=body)]
    webhook_id = assert_ok(answers[0])["webhook"]["webhook_id"]
    answers += [api.get(f"webhooks/{webhook_id}"), api.get("webhooks"),
                api.request("PATCH", f"webhooks/{webhook_id}", json={"secret": SECRET + "2", "description": "d"}),
                api.post(f"webhooks/{webhook_id}/test", json={})]
    for answer in answers:
        assert answer.status_code == 200 and SECRET not in answer.text and "secret" not in answer.json()
    engine = sa.create_engine(server.uri.replace("postgresql://", "postgresql+psycopg2://", 1)
                              .replace("mysql://", "mysql+pymysql://", 1))
    try:
        with engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT secret FROM webhooks WHERE webhook_id = :id"),
                                  {"id": webhook_id}).scalar()
    finally:
        engine.dispose()
    assert SECRET not in stored and Fernet(KEY.encode()).decrypt(stored.encode()).decode() == SECRET + "2"
    assert_ok(api.request("DELETE", f"webhooks/{webhook_id}"))


def test_a_server_that_does_not_allow_private_urls_refuses_them(start_server, receiver, tmp_path):
    """At creation, and at delivery for a webhook made while they were allowed; and without an
    encryption key it refuses secrets."""
    database = {"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    permissive = start_server({**database, **PERMISSIVE})
    url = receiver.url("ok")
    earlier = assert_ok(requests.post(f"{permissive.url}/api/2.0/mlflow/webhooks", timeout=30, json={
        "name": "earlier", "url": url, "events": [{"entity": "REGISTERED_MODEL", "action": "CREATED"}]}))["webhook"]
    permissive.stop()

    strict = start_server({**database, "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https"})
    base = f"{strict.url}/api/2.0/mlflow/"
    event = [{"entity": "REGISTERED_MODEL", "action": "CREATED"}]
    for private in (url, f"http://localhost:{receiver.port}/x", "http://[::1]/x", "http://169.254.169.254/latest",
                    "http://10.0.0.1/x", "http://192.168.1.1/x", "http://[::ffff:127.0.0.1]/x", "http://0.0.0.0/x"):
        refused = assert_error(requests.post(base + "webhooks", timeout=30, json={
            "name": "private", "url": private, "events": event}), 400, "INVALID_PARAMETER_VALUE")
        assert "not a public address" in refused["message"], refused
    refused = assert_error(requests.post(base + "webhooks", timeout=30, json={
        "name": "secret", "url": "https://8.8.8.8/hook", "events": event, "secret": SECRET}),
        400, "INVALID_PARAMETER_VALUE")
    assert "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY" in refused["message"] and SECRET not in refused["message"]

    assert_ok(requests.post(base + "registered-models/create", json={"name": "not-delivered"}, timeout=30))
    result = assert_ok(requests.post(base + f"webhooks/{earlier['webhook_id']}/test", json={}, timeout=30))["result"]
    assert not result["success"] and "not a public address" in result["error_message"]
    time.sleep(2)
    assert receiver.at(url) == []
