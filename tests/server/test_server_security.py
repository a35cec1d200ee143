"""Security options: allowed Host headers, CORS origins, X-Frame-Options, and serving under
a URL prefix (--static-prefix) that the official client can use."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest
import requests

from conftest import Server, unique
from server_support import wait_http

API = "/api/2.0/mlflow"


def sqlite_env(tmp_path: Path, **extra) -> dict:
    return {"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
            "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts"), **extra}


def assert_json_error(response: requests.Response, status: int, codes: tuple[str, ...]) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    body = response.json()
    assert body["error_code"] in codes and body.get("message"), body
    return body


# ---------------------------------------------------------------- allowed hosts

@pytest.fixture(scope="module")
def host_checked(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hosts")
    server = Server(sqlite_env(tmp, MLFLOW_SERVER_ALLOWED_HOSTS="example.com,*.corp.example"), tmp)
    try:
        wait_http(f"{server.url}/health", process=server.process, headers={"Host": "example.com"},
                  log=server.log)
        yield server
    finally:
        server.stop()


def test_disallowed_host_gets_403_json(host_checked):
    url = f"{host_checked.url}{API}/experiments/search?max_results=1"
    for host in ("127.0.0.1", f"127.0.0.1:{host_checked.port}", "evil.example", "example.com.evil.net",
                 "corp.example"):
        assert_json_error(requests.get(url, headers={"Host": host}, timeout=10), 403, ("PERMISSION_DENIED",))
    # a refused write does nothing
    name = unique()
    refused = requests.post(f"{host_checked.url}{API}/experiments/create", json={"name": name},
                            headers={"Host": "evil.example"}, timeout=10)
    assert_json_error(refused, 403, ("PERMISSION_DENIED",))
    lookup = requests.get(f"{host_checked.url}{API}/experiments/get-by-name", params={"experiment_name": name},
                          headers={"Host": "example.com"}, timeout=10)
    assert lookup.status_code == 404


def test_allowed_hosts_are_served(host_checked):
    url = f"{host_checked.url}{API}/experiments/search?max_results=1"
    for host in ("example.com", f"example.com:{host_checked.port}", "EXAMPLE.com", "a.corp.example",
                 f"b.corp.example:{host_checked.port}"):
        response = requests.get(url, headers={"Host": host}, timeout=10)
        assert response.status_code == 200, (host, response.text)


def test_health_and_version_are_exempt_from_host_check(host_checked):
    """Like the official server (security_utils.HEALTH_ENDPOINTS): load balancers and
    container health checks probe by IP."""
    for path in ("/health", "/ready", "/version"):
        response = requests.get(f"{host_checked.url}{path}", headers={"Host": "127.0.0.1"}, timeout=10)
        assert response.status_code == 200, (path, response.status_code, response.text[:200])


def test_artifact_routes_are_host_checked_too(host_checked):
    target = f"{host_checked.url}/api/2.0/mlflow-artifacts/artifacts/hosts/x.txt"
    assert_json_error(requests.put(target, data=b"x", headers={"Host": "evil.example"}, timeout=10), 403,
                      ("PERMISSION_DENIED",))
    assert not (host_checked.cwd / "artifacts" / "hosts").exists()
    assert requests.put(target, data=b"x", headers={"Host": "example.com"}, timeout=10).status_code == 200


@pytest.fixture(scope="module")
def default_hosts(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("default-hosts")
    server = Server(sqlite_env(tmp), tmp)
    try:
        yield server.wait_ready()
    finally:
        server.stop()


def test_dns_rebinding_is_refused_by_default(default_hosts):
    """A page of attacker.example whose name now resolves to this server (DNS rebinding) sends
    its own name as Host and Origin, so the origin check takes it for a same-site request: with
    no --allowed-hosts the Host check refuses it, and the experiment survives."""
    api = f"{default_hosts.url}{API}"
    experiment_id = requests.post(f"{api}/experiments/create", json={"name": unique()}, timeout=10).json()[
        "experiment_id"]
    attacker = {"Host": f"attacker.example:{default_hosts.port}",
                "Origin": f"http://attacker.example:{default_hosts.port}"}
    refused = requests.post(f"{api}/experiments/delete", json={"experiment_id": experiment_id}, headers=attacker,
                            timeout=10)
    body = assert_json_error(refused, 403, ("PERMISSION_DENIED",))
    assert "--allowed-hosts" in body["message"], body
    assert_json_error(requests.get(f"{api}/experiments/get", params={"experiment_id": experiment_id},
                                   headers=attacker, timeout=10), 403, ("PERMISSION_DENIED",))
    experiment = requests.get(f"{api}/experiments/get", params={"experiment_id": experiment_id}, timeout=10).json()
    assert experiment["experiment"]["lifecycle_stage"] == "active"


def test_default_hosts_are_local_and_private_addresses(default_hosts):
    """The official server's defaults (localhost, 127.0.0.1, [::1], 0.0.0.0 and private addresses,
    on any port) and the machine's own name; private addresses only as addresses, never as the
    first label of a name."""
    url = f"{default_hosts.url}{API}/experiments/search?max_results=1"
    port = default_hosts.port
    for host in ("localhost", f"localhost:{port}", "127.0.0.1", f"127.0.0.1:{port}", f"[::1]:{port}", "0.0.0.0:80",
                 "10.1.2.3", f"172.16.0.1:{port}", "172.31.255.255", f"192.168.1.20:{port}", "[fd12:3456::1]:8080",
                 "[fc00::1]", f"{socket.gethostname()}:{port}", "LOCALHOST"):
        response = requests.get(url, headers={"Host": host}, timeout=10)
        assert response.status_code == 200, (host, response.text[:200])
    for host in ("attacker.example", "10.attacker.example", "192.168.1.1.attacker.example",
                 "localhost.attacker.example", "172.32.0.1", "11.0.0.1", "[2001:db8::1]:5555", "127.0.0.2",
                 f"evil.{socket.gethostname()}"):
        assert_json_error(requests.get(url, headers={"Host": host}, timeout=10), 403, ("PERMISSION_DENIED",))


def test_probes_are_exempt_from_default_host_check(default_hosts):
    for path in ("/health", "/ready", "/version"):
        response = requests.get(f"{default_hosts.url}{path}", headers={"Host": "attacker.example"}, timeout=10)
        assert response.status_code == 200, (path, response.status_code, response.text[:200])


def test_bound_address_is_accepted(start_server, tmp_path):
    """--host names an address clients use: it is accepted besides the defaults."""
    server = start_server(env=sqlite_env(tmp_path, MLFLOW_HOST="127.0.0.2"), wait=False)
    url = f"http://127.0.0.2:{server.port}"
    wait_http(f"{url}/health", process=server.process, log=server.log)
    assert requests.get(f"{url}{API}/experiments/search?max_results=1", timeout=10).status_code == 200


def test_star_accepts_any_host(start_server, tmp_path):
    server = start_server(env=sqlite_env(tmp_path, MLFLOW_SERVER_ALLOWED_HOSTS="*"))
    for host in ("attacker.example", f"mlflow.example.com:{server.port}"):
        response = requests.get(f"{server.url}{API}/experiments/search?max_results=1", headers={"Host": host},
                                timeout=10)
        assert response.status_code == 200, (host, response.text[:200])


# ---------------------------------------------------------------- CORS and frame options

@pytest.fixture(scope="module")
def cors_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cors")
    server = Server(sqlite_env(tmp, MLFLOW_SERVER_CORS_ALLOWED_ORIGINS="http://ui.example"), tmp)
    try:
        yield server.wait_ready()
    finally:
        server.stop()


def test_cors_header_only_for_allowed_origin(cors_server):
    url = f"{cors_server.url}{API}/experiments/search?max_results=1"
    allowed = requests.get(url, headers={"Origin": "http://ui.example"}, timeout=10)
    assert allowed.status_code == 200
    assert allowed.headers.get("Access-Control-Allow-Origin") == "http://ui.example"
    assert "Origin" in allowed.headers.get("Vary", "")
    for origin in ("http://evil.example", "http://ui.example.evil.net", "https://ui.example"):
        other = requests.get(url, headers={"Origin": origin}, timeout=10)
        assert "Access-Control-Allow-Origin" not in other.headers, origin
    plain = requests.get(url, timeout=10)
    assert "Access-Control-Allow-Origin" not in plain.headers


def test_cors_preflight_for_allowed_origin(cors_server):
    response = requests.options(f"{cors_server.url}{API}/experiments/create", timeout=10, headers={
        "Origin": "http://ui.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert response.status_code in (200, 204)
    assert response.headers.get("Access-Control-Allow-Origin") == "http://ui.example"
    assert "POST" in response.headers.get("Access-Control-Allow-Methods", "")
    assert "content-type" in response.headers.get("Access-Control-Allow-Headers", "").lower()
    denied = requests.options(f"{cors_server.url}{API}/experiments/create", timeout=10, headers={
        "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in denied.headers


def test_cross_origin_writes_from_other_origins_are_blocked(cors_server):
    """As the official server does (security.block_cross_origin_state_changes): a POST from a
    browser page of another origin is refused with 403 and changes nothing; the allowed
    origin may write."""
    name = unique()
    blocked = requests.post(f"{cors_server.url}{API}/experiments/create", json={"name": name},
                            headers={"Origin": "http://evil.example"}, timeout=10)
    assert blocked.status_code == 403, (blocked.status_code, blocked.text[:200])
    lookup = requests.get(f"{cors_server.url}{API}/experiments/get-by-name",
                          params={"experiment_name": name}, timeout=10)
    assert lookup.status_code == 404, "the blocked cross-origin request created the experiment"
    ok = requests.post(f"{cors_server.url}{API}/experiments/create", json={"name": name},
                       headers={"Origin": "http://ui.example"}, timeout=10)
    assert ok.status_code == 200, ok.text


def test_security_headers_by_default(start_server, tmp_path):
    """On pages, API answers and errors; Referrer-Policy same-origin: the UI's URLs (experiments,
    runs, filters) reach no other site through the Referer of its links."""
    server = start_server(env=sqlite_env(tmp_path))
    for path in ("/", "/health", f"{API}/experiments/search?max_results=1", f"{API}/experiments/get?experiment_id=999"):
        response = requests.get(f"{server.url}{path}", timeout=10)
        assert response.headers.get("X-Frame-Options") == "SAMEORIGIN", path
        assert response.headers.get("X-Content-Type-Options") == "nosniff", path
        assert response.headers.get("Referrer-Policy") == "same-origin", path


@pytest.mark.parametrize("value, expected", [("DENY", "DENY"), ("NONE", None)])
def test_frame_options_configurable(start_server, tmp_path, value, expected):
    server = start_server(env=sqlite_env(tmp_path, MLFLOW_SERVER_X_FRAME_OPTIONS=value))
    response = requests.get(f"{server.url}{API}/experiments/search?max_results=1", timeout=10)
    assert response.headers.get("X-Frame-Options") == expected


# ---------------------------------------------------------------- static prefix

def test_static_prefix_serves_api_and_client(start_server, tmp_path, monkeypatch):
    import mlflow
    server = start_server(env=sqlite_env(tmp_path, MLFLOW_STATIC_PREFIX="/mlflow"), wait=False)
    wait_http(f"{server.url}/mlflow/health", process=server.process, log=server.log)
    response = requests.get(f"{server.url}/mlflow{API}/experiments/get", params={"experiment_id": "0"}, timeout=10)
    assert response.status_code == 200 and response.json()["experiment"]["name"] == "Default"
    unprefixed = requests.get(f"{server.url}{API}/experiments/get", params={"experiment_id": "0"}, timeout=10)
    assert unprefixed.status_code == 404

    uri = f"{server.url}/mlflow"
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri)
    exp_id = client.create_experiment(unique())
    run = client.create_run(exp_id)
    client.log_metric(run.info.run_id, "m", 2.0, step=1)
    client.log_param(run.info.run_id, "p", "v")
    client.log_text(run.info.run_id, "prefixed", "dir/t.txt")
    assert client.get_run(run.info.run_id).data.metrics == {"m": 2.0}
    assert [f.path for f in client.list_artifacts(run.info.run_id, "dir")] == ["dir/t.txt"]
    assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/dir/t.txt") == "prefixed"
    landed = tmp_path / "artifacts" / exp_id / run.info.run_id / "artifacts" / "dir" / "t.txt"
    assert landed.read_text() == "prefixed"
    client.set_terminated(run.info.run_id)
    assert client.get_run(run.info.run_id).info.status == "FINISHED"
