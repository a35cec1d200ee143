"""Scale-out: the Helm chart's multi-replica values run as replicaCount server processes on one
PostgreSQL database and one S3 bucket (moto), behind a round-robin proxy that sends each request
to the next server, while 16 official clients at once create runs, log params, metrics and
batches, upload artifacts and register model versions of one model. Afterwards everything is
there exactly once: every run, param, metric point (through the API and counted in the
database), artifact (listed, read back, and as objects in the bucket) and model version, whose
numbers are 1..N without a gap or a repeat.

The servers' environment is what the chart renders from deploy/helm/mlflow-server/ci/
multi-replica-values.yaml (its ConfigMap and Secret; the migration Job's command runs first, as
the chart's pre-install hook does), with only the addresses pointed at the test's database and
S3: so the chart's multi-replica values are what this test runs."""
from __future__ import annotations

import base64
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import psycopg2
import pytest
import yaml
from conftest import PG, ROOT, Server, create_postgres_database, unique
from servers.moto import start_moto
from servers.round_robin import RoundRobinProxy

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(600)]

CHART = ROOT / "deploy" / "helm" / "mlflow-server"
CLIENTS, RUNS_PER_CLIENT, STEPS = 16, 3, 20
MODEL = "scaled-out"


def chart_environment() -> tuple[int, dict, list[str]]:
    """(replicas, environment of a pod, the migration Job's command) from the multi-replica values."""
    from helm_python.chart import Chart
    values = yaml.safe_load((CHART / "ci" / "multi-replica-values.yaml").read_text())
    rendered = Chart.load(CHART).render(values=values, name="mlflow", namespace="ml", is_install=True)
    docs = {f"{d['kind']}/{d['metadata']['name']}": d for path, text in rendered.items() if path.endswith(".yaml")
            for d in yaml.safe_load_all(text) if d}
    env = dict(docs["ConfigMap/mlflow-mlflow-server"]["data"])
    env.update({k: base64.b64decode(v).decode() for k, v in docs["Secret/mlflow-mlflow-server"]["data"].items()})
    job = docs["Job/mlflow-mlflow-server-migrate"]["spec"]["template"]["spec"]["containers"][0]
    return docs["Deployment/mlflow-mlflow-server"]["spec"]["replicas"], env, job["command"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The proxy's URL, the database URI and the S3 stand-in with its bucket, for as long as the module runs."""
    tmp = tmp_path_factory.mktemp("scale-out")
    replicas, env, migrate = chart_environment()
    uri, drop = create_postgres_database()
    moto = start_moto(tmp)
    bucket = urlsplit(env["MLFLOW_ARTIFACTS_DESTINATION"]).netloc
    moto.client().create_bucket(Bucket=bucket)
    env.update(moto.env(), MLFLOW_BACKEND_STORE_URI=uri)  # the test's database and S3, the chart's settings
    servers, proxy = [], None
    try:
        assert migrate[:3] == ["python", "-m", "app"]
        job = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), *migrate[1:]], cwd=ROOT, env={
            "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **env}, capture_output=True, text=True, timeout=120)
        assert job.returncode == 0, job.stderr
        for index in range(replicas):
            folder = tmp / f"pod-{index}"
            folder.mkdir()
            servers.append(Server(env, folder))
        for server in servers:
            server.wait_ready(60)
        proxy = RoundRobinProxy([("127.0.0.1", s.port) for s in servers])
        yield proxy, servers, uri, moto, bucket
    finally:
        if proxy:
            proxy.close()
        for server in servers:
            server.stop()
        moto.stop()
        drop()


def client_session(client, experiment_id: str, number: int, folder) -> list[dict]:
    """What one client writes, and what it wrote."""
    written = []
    for r in range(RUNS_PER_CLIENT):
        run = client.create_run(experiment_id, run_name=f"c{number}-r{r}")
        run_id = run.info.run_id
        client.log_param(run_id, "client", str(number))
        for step in range(STEPS):
            client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step, timestamp=1000 + step)
        from mlflow.entities import Metric, Param, RunTag
        client.log_batch(run_id, metrics=[Metric("acc", step / 100, 2000 + step, step) for step in range(STEPS)],
                         params=[Param(f"p{i}", f"v{number}-{r}-{i}") for i in range(5)],
                         tags=[RunTag("batch", "yes")])
        path = folder / f"notes-{number}-{r}.txt"
        path.write_text(f"client {number} run {r}\n")
        client.log_artifact(run_id, str(path))
        version = client.create_model_version(MODEL, f"{run.info.artifact_uri}/notes-{number}-{r}.txt", run_id)
        client.set_terminated(run_id)
        written.append({"run_id": run_id, "name": f"c{number}-r{r}", "client": str(number), "version": version.version,
                        "file": path.name, "text": path.read_text()})
    return written


def test_sixteen_clients_on_three_servers_lose_and_duplicate_nothing(cluster, tmp_path, monkeypatch):
    import mlflow
    proxy, servers, uri, moto, bucket = cluster
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # a failed request fails the test, not retried
    client = mlflow.MlflowClient(proxy.url)
    experiment_id = client.create_experiment(unique("scale-out"))
    client.create_registered_model(MODEL)

    started = threading.Barrier(CLIENTS)

    def session(number: int):
        started.wait()
        folder = tmp_path / f"client-{number}"
        folder.mkdir()
        return client_session(mlflow.MlflowClient(proxy.url), experiment_id, number, folder)

    with ThreadPoolExecutor(CLIENTS) as pool:
        written = [item for result in pool.map(session, range(CLIENTS)) for item in result]
    assert len(written) == CLIENTS * RUNS_PER_CLIENT
    assert min(proxy.counts) > 0.3 * sum(proxy.counts) / len(proxy.counts)  # every server took its share

    reader = mlflow.MlflowClient(f"http://127.0.0.1:{servers[0].port}")
    runs = reader.search_runs([experiment_id], max_results=1000)
    assert sorted(r.info.run_id for r in runs) == sorted(w["run_id"] for w in written)
    by_id = {r.info.run_id: r for r in runs}
    for w in written:
        run = by_id[w["run_id"]]
        assert run.info.run_name == w["name"] and run.info.status == "FINISHED"
        number, r = w["name"][1:].split("-r")
        assert run.data.params == {"client": w["client"], **{f"p{i}": f"v{number}-{r}-{i}" for i in range(5)}}
        assert run.data.tags["batch"] == "yes"
        assert [(m.step, m.value) for m in reader.get_metric_history(w["run_id"], "loss")] == \
            [(step, 1.0 / (step + 1)) for step in range(STEPS)]
        assert [(m.step, m.value) for m in reader.get_metric_history(w["run_id"], "acc")] == \
            [(step, step / 100) for step in range(STEPS)]
        assert [a.path for a in reader.list_artifacts(w["run_id"])] == [w["file"]]
        downloaded = reader.download_artifacts(w["run_id"], w["file"], str(tmp_path))
        assert open(downloaded).read() == w["text"]

    points = CLIENTS * RUNS_PER_CLIENT * STEPS * 2
    with psycopg2.connect(dbname=urlsplit(uri).path.lstrip("/"), **PG) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*), count(DISTINCT (run_uuid, key, step, timestamp, value)) FROM metrics")
        assert cursor.fetchone() == (points, points)
    objects = [key for key in moto.objects(bucket) if key.endswith(".txt")]
    assert sorted(key.rsplit("/", 1)[1] for key in objects) == sorted(w["file"] for w in written)

    versions = reader.search_model_versions(f"name = '{MODEL}'", max_results=1000)
    numbers = sorted(int(v.version) for v in versions)
    assert numbers == list(range(1, len(written) + 1))  # unique and gapless
    assert sorted(int(w["version"]) for w in written) == numbers
    assert {v.run_id for v in versions} == {w["run_id"] for w in written}
    for server in servers:
        assert "Traceback" not in server.log()
