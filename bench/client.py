"""HTTP to an MLflow tracking server for the benchmarks: one keep-alive session per server,
non-200 answers raised as BenchError; and the argument type of --target."""
import argparse
import time
import uuid
from urllib.parse import urlparse

import requests

from servers import BenchError

API = "/api/2.0/mlflow/"
HISTORY_PAGE = 25000  # what the official client asks for per page


def now_ms():
    return int(time.time() * 1000)


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def passed(self):
        return time.monotonic() > self.end


class Client:
    """One keep-alive session against one server; non-200 answers raise BenchError."""

    new_connections = False  # --new-connections: one TCP connection per request

    def __init__(self, url, auth=None):
        """auth: (username, password), sent as HTTP Basic with every request."""
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.trust_env = False  # never route 127.0.0.1 through a proxy
        self.session.auth = auth
        if self.new_connections:
            self.session.headers["Connection"] = "close"

    def call(self, method, path, what, timeout=60, **kwargs):
        try:
            response = self.session.request(method, self.url + path, timeout=timeout, **kwargs)
        except requests.Timeout:
            raise BenchError(f"{what}: timeout after {timeout}s") from None
        except requests.ConnectionError:
            raise BenchError(f"{what}: connection failed") from None
        if response.status_code != 200:
            try:
                body = response.json()
            except ValueError:
                body = {}
            code = body.get("error_code", "") if isinstance(body, dict) else ""
            raise BenchError(f"{what}: HTTP {response.status_code} {code}".strip())
        return response

    def json(self, method, endpoint, timeout=60, **kwargs):
        response = self.call(method, API + endpoint, endpoint, timeout=timeout, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise BenchError(f"{endpoint}: answer is not JSON") from None

    def post(self, endpoint, body, timeout=60):
        return self.json("POST", endpoint, json=body, timeout=timeout)

    def post_raw(self, endpoint, data, timeout=60):
        """POST an already encoded JSON body (keeps client-side encoding out of timings)."""
        headers = {"Content-Type": "application/json"}
        return self.json("POST", endpoint, data=data, headers=headers, timeout=timeout)

    def get(self, endpoint, params, timeout=60):
        return self.json("GET", endpoint, params=params, timeout=timeout)

    def new_experiment(self, scenario):
        name = f"bench-{scenario}-{uuid.uuid4().hex[:10]}"
        return self.post("experiments/create", {"name": name})["experiment_id"]

    def new_run(self, experiment_id, name):
        # The fields the official client sends on mlflow.start_run().
        body = {
            "experiment_id": experiment_id,
            "user_id": "bench",
            "start_time": now_ms(),
            "run_name": name,
            "tags": [
                {"key": "mlflow.user", "value": "bench"},
                {"key": "mlflow.source.name", "value": "bench.py"},
                {"key": "mlflow.source.type", "value": "LOCAL"},
                {"key": "mlflow.runName", "value": name},
            ],
        }
        return self.post("runs/create", body)["run"]["info"]["run_id"]


def fetch_history(client, run_id, key, deadline):
    """All points of one metric, page by page as the official client does; returns the count."""
    total, token, pages = 0, None, 0
    while True:
        params = {"run_id": run_id, "run_uuid": run_id, "metric_key": key, "max_results": HISTORY_PAGE}
        if token:
            params["page_token"] = token
        page = client.get("metrics/get-history", params, timeout=300)
        got = len(page.get("metrics") or [])
        total += got
        pages += 1
        token = page.get("next_page_token")
        if not token:
            return total
        if got == 0 or pages >= 1000:
            raise BenchError(f"get-history: endless paging ({pages} pages, {total} points)")
        if deadline.passed():
            raise BenchError("time budget used up while reading history")


def parse_target(text):
    name, sep, url = text.partition("=")
    if not sep:
        name, url = "", text
    parsed = urlparse(url)
    if parsed.scheme != "http" or parsed.hostname not in ("127.0.0.1", "localhost"):
        raise argparse.ArgumentTypeError(f"{url}: only http://127.0.0.1:PORT targets are allowed")
    return name or parsed.netloc, url.rstrip("/")
