"""Build real official MLflow databases, and read every entity through a server's REST API.

official_server(): the official `mlflow server` of a venv (.venv-official: 3.17; .venv-client2:
2.22) on a backend store URI, optionally with basic-auth; populate(): fills it through the
official client of the same venv (populate_official.py); snapshot(): the REST JSON of every
experiment, run, metric history, logged model, registered model, version and alias, made
comparable (comparable()) so that two servers' answers compare with ==. Drivers the official venvs lack (PyMySQL; psycopg2
in the 2.x venv) are lent from .venv-test on PYTHONPATH, not installed.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from conftest import ROOT, free_port

OFFICIAL = ROOT / ".venv-official"
OFFICIAL_2X = ROOT / ".venv-client2"
_TEST_SITE = ROOT / ".venv-test" / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
ADMIN = ("admin", "admin-password-1234")


def official_uri(uri: str) -> str:
    """A backend URI as the official server takes it (its drivers named: psycopg2, PyMySQL)."""
    for scheme, driver in (("postgresql://", "postgresql+psycopg2://"), ("mysql://", "mysql+pymysql://")):
        if uri.startswith(scheme):
            return driver + uri[len(scheme):]
    return uri


def _lent_drivers(tmp: Path) -> str:
    lent = tmp / "lent-drivers"
    lent.mkdir(exist_ok=True)
    for name in ("pymysql", "psycopg2", "psycopg2_binary.libs"):
        if (_TEST_SITE / name).exists() and not (lent / name).exists():
            (lent / name).symlink_to(_TEST_SITE / name)
    return str(lent)


def _env(venv: Path, tmp: Path, extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update({"PYTHONPATH": _lent_drivers(tmp), "VIRTUAL_ENV": str(venv),
                "PATH": f"{venv / 'bin'}:{env.get('PATH', '')}"}, **(extra or {}))
    return env


@contextlib.contextmanager
def official_server(backend_uri: str, tmp: Path, venv: Path = OFFICIAL, auth_db: str | None = None):
    """The official server on backend_uri (artifacts in tmp/mlartifacts); with auth_db, basic-auth
    whose users live there (admin: ADMIN). Yields its base URL."""
    port = free_port()
    extra, args = {}, []
    if auth_db:
        ini = tmp / "basic_auth.ini"
        ini.write_text(f"[mlflow]\ndefault_permission = READ\ndatabase_uri = {official_uri(auth_db)}\n"
                       f"admin_username = {ADMIN[0]}\nadmin_password = {ADMIN[1]}\n")
        extra = {"MLFLOW_AUTH_CONFIG_PATH": str(ini), "MLFLOW_FLASK_SERVER_SECRET_KEY": "x" * 32}
        args = ["--app-name", "basic-auth"]
    log = open(tmp / f"official-{port}.log", "wb")
    process = subprocess.Popen(
        [str(venv / "bin" / "mlflow"), "server", "--backend-store-uri", official_uri(backend_uri),
         "--artifacts-destination", str(tmp / "mlartifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", *args], env=_env(venv, tmp, extra), cwd=tmp, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the official server exited:\n{(tmp / log.name).read_text()[-3000:]}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the official server did not start in 180 s")
            time.sleep(0.3)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 9)
            process.wait()
        log.close()


def populate(url: str, tmp: Path, venv: Path = OFFICIAL, auth: bool = False) -> dict:
    """Fill the server through the official client of `venv`; what populate_official.py made."""
    extra = {"MLFLOW_TRACKING_USERNAME": ADMIN[0], "MLFLOW_TRACKING_PASSWORD": ADMIN[1]} if auth else {}
    done = subprocess.run([str(venv / "bin" / "python"), str(Path(__file__).with_name("populate_official.py")), url,
                           *(["--auth", ADMIN[1]] if auth else [])],
                          env=_env(venv, tmp, extra), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


_DOUBLE_MAX = 1.7976931348623157e308


def comparable(value, within: str = ""):
    """A snapshot with the differences between the servers that are not data taken out (README,
    "Differences from the official server"): lists in a stable order; the official server's
    empty strings (proto defaults, which ours leaves out) and its `workspace` field dropped;
    its clamped +-1.797e308 read as the infinities they were logged as; the aliases ours also
    lists in a registered model's latest_versions dropped."""
    if isinstance(value, dict):
        return {k: comparable(v, k) for k, v in value.items()
                if v != "" and k != "workspace" and not (within == "latest_versions" and k == "aliases")}
    if isinstance(value, list):
        items = [comparable(v, within) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, float) and abs(value) == _DOUBLE_MAX:
        return "Infinity" if value > 0 else "-Infinity"
    return value


def snapshot(url: str, auth: tuple[str, str] | None = None) -> dict:
    """Every entity a client can read, as the server's REST JSON: {what: answer}."""
    session = requests.Session()
    session.auth = auth
    api = f"{url}/api/2.0/mlflow"

    def get(path, **params):
        answer = session.get(f"{api}/{path}", params=params, timeout=60)
        assert answer.status_code == 200, (path, params, answer.text)
        return answer.json()

    def post(path, body):
        answer = session.post(f"{api}/{path}", json=body, timeout=60)
        assert answer.status_code == 200, (path, body, answer.text)
        return answer.json()

    found = {}
    experiments = post("experiments/search", {"view_type": "ALL", "max_results": 1000})["experiments"]
    ids = sorted(e["experiment_id"] for e in experiments)
    for experiment_id in ids:
        found[f"experiment {experiment_id}"] = get("experiments/get", experiment_id=experiment_id)
    found_runs = post("runs/search", {"experiment_ids": ids, "run_view_type": "ALL", "max_results": 1000}).get("runs", [])
    for run in found_runs:
        run_id = run["info"]["run_id"]
        found[f"run {run_id}"] = get("runs/get", run_id=run_id)
        for metric in run["data"].get("metrics", []):
            found[f"history {run_id} {metric['key']}"] = get("metrics/get-history", run_id=run_id,
                                                              metric_key=metric["key"])
    models = session.post(f"{api}/logged-models/search", json={"experiment_ids": ids}, timeout=60)
    if models.status_code == 200:  # 3.x
        for model in models.json().get("models", []):
            model_id = model["info"]["model_id"]
            found[f"logged model {model_id}"] = get(f"logged-models/{model_id}")
    names = [m["name"] for m in get("registered-models/search", max_results=1000).get("registered_models", [])]
    names += [m["name"] for m in get("registered-models/search", max_results=1000,
                                     filter="tags.`mlflow.prompt.is_prompt` = 'true'").get("registered_models", [])]
    for name in sorted(set(names)):
        model = found[f"registered model {name}"] = get("registered-models/get", name=name)
        for version in get("model-versions/search", filter=f"name='{name}'").get("model_versions", []):
            found[f"version {name} {version['version']}"] = get("model-versions/get", name=name,
                                                                  version=version["version"])
        for alias in model["registered_model"].get("aliases", []):
            found[f"alias {name} {alias['alias']}"] = get("registered-models/alias", name=name, alias=alias["alias"])
    return comparable(found)
