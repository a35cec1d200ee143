"""Helpers shared by the tests in tests/search: raw REST seeding, searching by run labels and
checks of the 400 answers.

Every expectation in these tests is what the official server 3.17.2 answers for the same data
(checked against it on SQLite, PostgreSQL and MariaDB). Error messages are ours to get right:
a 400 must say what is wrong, which `assert_invalid` checks unless the server under test is the
official one (`server.official`, set only when these tests are pointed at it for comparison).
"""
from __future__ import annotations

import threading

import requests

from api_checks import wire  # noqa: F401

API = "/api/2.0/mlflow/"
_local = threading.local()


class Rest:
    """Plain JSON over HTTP, one keep-alive session per thread."""

    def __init__(self, server):
        self.server = server
        self.base = server.url + API

    @property
    def session(self) -> requests.Session:
        sessions = getattr(_local, "sessions", None)
        if sessions is None:
            sessions = _local.sessions = {}
        if self.base not in sessions:
            sessions[self.base] = requests.Session()
        return sessions[self.base]

    def post(self, path: str, body: dict) -> requests.Response:
        return self.session.post(self.base + path, json=body, timeout=60)

    def get(self, path: str, params: dict) -> requests.Response:
        return self.session.get(self.base + path, params=params, timeout=60)

    def ok(self, path: str, body: dict) -> dict:
        response = self.post(path, body)
        assert response.status_code == 200, f"{path} {body}: {response.status_code} {response.text[:500]}"
        return response.json()

    def experiment(self, name: str, tags: dict | None = None) -> str:
        body = {"name": name}
        if tags:
            body["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        return self.ok("experiments/create", body)["experiment_id"]


def seed_run(rest: Rest, experiment_id: str, *, start: int, name: str | None = None,
             status: str = "FINISHED", end: int | None = None, user: str | None = None,
             params: dict | None = None, metrics: dict | None = None, tags: dict | None = None,
             deleted: bool = False) -> str:
    """Create one run as described and return its id. RUNNING runs keep no end time."""
    body = {"experiment_id": experiment_id, "start_time": start}
    if name is not None:
        body["run_name"] = name
    if user is not None:
        body["user_id"] = user
    run_id = rest.ok("runs/create", body)["run"]["info"]["run_id"]
    if params or metrics or tags:
        rest.ok("runs/log-batch", {
            "run_id": run_id,
            "metrics": [{"key": k, "value": wire(float(v)), "timestamp": 1, "step": 0}
                        for k, v in (metrics or {}).items()],
            "params": [{"key": k, "value": v} for k, v in (params or {}).items()],
            "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
        })
    if status != "RUNNING":
        rest.ok("runs/update", {"run_id": run_id, "status": status,
                                "end_time": end if end is not None else start + 500})
    if deleted:
        rest.ok("runs/delete", {"run_id": run_id})
    return run_id


def search_body(experiment_ids, flt=None, order_by=None, **extra) -> dict:
    body = {"experiment_ids": list(experiment_ids), **extra}
    if flt is not None:
        body["filter"] = flt
    if order_by is not None:
        body["order_by"] = list(order_by)
    return body


def run_ids(response: requests.Response) -> list[str]:
    assert response.status_code == 200, f"{response.status_code}: {response.text[:500]}"
    return [r["info"]["run_id"] for r in response.json().get("runs", [])]


def is_official(server) -> bool:
    return bool(getattr(server, "official", False))


def assert_invalid(response: requests.Response, server, *needles: str, echo: str = "") -> str:
    """A 400 INVALID_PARAMETER_VALUE whose message names what is wrong: at least one of the
    needles (case-insensitive) appears in it, outside of `echo` (the request's own text, such
    as a whole filter, which a message may quote in full without saying anything; a one-word
    echo such as a bad key is left in, since naming it is saying what is wrong)."""
    assert response.status_code == 400, f"expected 400, got {response.status_code}: {response.text[:500]}"
    body = response.json()
    assert body.get("error_code") == "INVALID_PARAMETER_VALUE", body
    message = body.get("message") or ""
    assert message, body
    if needles and not is_official(server):
        said = message.replace(echo, "") if echo and len(echo.split()) > 1 else message
        assert any(n.lower() in said.lower() for n in needles), \
            f"the message does not say what is wrong (expected one of {needles}): {message!r}"
    return message
