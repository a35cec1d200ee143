"""The Helm chart rendered offline by Helm's own engine (helm-python-sdk) with each values file
of its ci/ folder, linted, validated against Kubernetes' schemas (kubernetes-validate), refused
when its values cannot work; and the Deployment it renders for SQLite run by `podman kube play`
against the image built from docker/Dockerfile."""
from __future__ import annotations

import base64
import json

import kubernetes_validate
import pytest
import requests
import yaml
from container_support import Container, free_port, images, podman, server_image, unique  # noqa: F401
from helm_python.chart import Chart, lint

from conftest import ROOT

pytestmark = [pytest.mark.container, pytest.mark.timeout(600)]

CHART = ROOT / "deploy" / "helm" / "mlflow-server"
KUBERNETES = "1.30.0"  # schemas of the oldest Kubernetes release still supported by its vendors
CUSTOM_KINDS = {"ServiceMonitor"}  # Prometheus Operator's: no schema in Kubernetes itself


def values_file(name: str) -> dict:
    return yaml.safe_load((CHART / "ci" / f"{name}-values.yaml").read_text())


def render(values: dict, name: str = "mlflow") -> dict[str, dict]:
    """{"Kind/name": manifest} of an install of the chart with these values."""
    rendered = Chart.load(CHART).render(values=values, name=name, namespace="ml", is_install=True)
    docs = [doc for path, text in rendered.items() if path.endswith(".yaml")
            for doc in yaml.safe_load_all(text) if doc]
    return {f"{doc['kind']}/{doc['metadata']['name']}": doc for doc in docs}


def checked(values: dict) -> dict[str, dict]:
    """render(values) after lint and schema checks of every manifest."""
    linted = lint(CHART, values=values, strict=True)
    assert linted["errors"] == [] and all(m["severity"] < 2 for m in linted["messages"]), linted
    manifests = render(values)
    for key, manifest in manifests.items():
        if manifest["kind"] not in CUSTOM_KINDS:
            kubernetes_validate.validate(manifest, KUBERNETES, strict=True)
    for kind in ("Deployment", "Job"):
        for pod in (m["spec"]["template"]["spec"] for k, m in manifests.items() if k.startswith(f"{kind}/")):
            assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
            container = pod["containers"][0]
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    return manifests


def container_of(manifests: dict, key: str) -> dict:
    return manifests[key]["spec"]["template"]["spec"]["containers"][0]


def test_sqlite():
    manifests = checked(values_file("sqlite"))
    deployment = manifests["Deployment/mlflow-mlflow-server"]
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert manifests["PersistentVolumeClaim/mlflow-mlflow-server"]["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert manifests["ConfigMap/mlflow-mlflow-server"]["data"]["MLFLOW_UPGRADE_DB"] == "true"
    container = container_of(manifests, "Deployment/mlflow-mlflow-server")
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["startupProbe"]["httpGet"]["path"] == container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert not any(key.startswith(("Job/", "Secret/", "PodDisruptionBudget/")) for key in manifests)


def test_postgresql_and_s3_with_replicas():
    manifests = checked(values_file("postgres-s3"))
    deployment = manifests["Deployment/mlflow-mlflow-server"]
    assert deployment["spec"]["replicas"] == 3 and deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert manifests["PodDisruptionBudget/mlflow-mlflow-server"]["spec"]["minAvailable"] == 1
    assert not any(key.startswith("PersistentVolumeClaim/") for key in manifests)
    secret = manifests["Secret/mlflow-mlflow-server"]["data"]
    assert base64.b64decode(secret["MLFLOW_BACKEND_STORE_URI"]).decode().startswith("postgresql://mlflow:")
    assert base64.b64decode(secret["AWS_SECRET_ACCESS_KEY"]) == b"example-secret"
    assert manifests["ConfigMap/mlflow-mlflow-server"]["data"]["MLFLOW_ARTIFACTS_DESTINATION"] == "s3://mlflow-artifacts/proxied"
    # the migrations run before any pod, from a hook copy of the Secret (the release's does not exist yet)
    job = manifests["Job/mlflow-mlflow-server-migrate"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert container_of(manifests, "Job/mlflow-mlflow-server-migrate")["command"] == ["python", "-m", "app", "db", "upgrade"]
    hook_secret = manifests["Secret/mlflow-mlflow-server-migrate"]
    assert int(hook_secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < 0
    assert hook_secret["data"] == secret
    # the server itself never upgrades a database that several replicas share
    assert "MLFLOW_UPGRADE_DB" not in manifests["ConfigMap/mlflow-mlflow-server"]["data"]


def test_ingress_with_tls():
    manifests = checked(values_file("ingress-tls"))
    ingress = manifests["Ingress/mlflow-mlflow-server"]["spec"]
    assert ingress["tls"] == [{"secretName": "mlflow-example-com-tls", "hosts": ["mlflow.example.com"]}]
    assert ingress["rules"][0]["host"] == "mlflow.example.com"
    assert ingress["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "mlflow-mlflow-server"
    assert manifests["ConfigMap/mlflow-mlflow-server"]["data"]["MLFLOW_SERVER_ALLOWED_HOSTS"].endswith(
        ",mlflow-mlflow-server.ml.svc.cluster.local,mlflow.example.com")


def test_allowed_hosts():
    """Against DNS rebinding the server accepts loopback (port-forward), the Service's names
    and the ingress hosts; a value, or the same variable in `config`, replaces the list."""
    def allowed(values: dict) -> str:
        return checked(values)["ConfigMap/mlflow-mlflow-server"]["data"]["MLFLOW_SERVER_ALLOWED_HOSTS"]
    assert allowed({}) == ("localhost,127.0.0.1,[::1],mlflow-mlflow-server,mlflow-mlflow-server.ml,"
                           "mlflow-mlflow-server.ml.svc,mlflow-mlflow-server.ml.svc.cluster.local")
    assert allowed({"allowedHosts": ["mlflow.corp.example", "10.1.2.3"]}) == "mlflow.corp.example,10.1.2.3"
    assert allowed({"config": {"MLFLOW_SERVER_ALLOWED_HOSTS": "*"}}) == "*"


def test_credentials_from_existing_secrets():
    manifests = checked(values_file("existing-secrets"))
    assert not any(key.startswith("Secret/") for key in manifests)
    for key in ("Deployment/mlflow-mlflow-server", "Job/mlflow-mlflow-server-migrate"):
        container = container_of(manifests, key)
        uri = next(e for e in container["env"] if e["name"] == "MLFLOW_BACKEND_STORE_URI")
        assert uri["valueFrom"] == {"secretKeyRef": {"name": "mlflow-database", "key": "uri"}}
        assert {"secretRef": {"name": "mlflow-azure"}} in container["envFrom"]
    mounts = container_of(manifests, "Deployment/mlflow-mlflow-server")["volumeMounts"]
    assert {"name": "gcs-key", "mountPath": "/secrets/gcs", "readOnly": True} in mounts
    assert manifests["ServiceMonitor/mlflow-mlflow-server"]["spec"]["endpoints"][0]["port"] == "http"


@pytest.mark.parametrize("values, refusal", [
    ({"replicaCount": 2}, "replicaCount > 1 needs a database"),
    ({"replicaCount": 2, "database": {"uri": "postgresql://u:p@db/mlflow"}}, "needs a remote artifact store"),
    ({"database": {"uri": "postgresql://u:p@db/mlflow", "existingSecret": "db"}}, "not both"),
    ({"replicaCount": "two"}, "replicaCount"),
    ({"replicas": 2}, "replicas"),  # a misspelt key is refused, not ignored
    ({"database": {"uri": "sqlite:///mlflow.db"}}, "uri"),
], ids=["sqlite-replicas", "local-artifacts-replicas", "two-database-sources", "type", "unknown-key", "uri-scheme"])
def test_refuses_values_that_cannot_work(values, refusal):
    with pytest.raises(Exception, match=refusal):
        render(values)


def test_rendered_deployment_serves_under_podman_kube_play(podman, server_image, tmp_path):
    """The SQLite install as Kubernetes would run it: ConfigMap, PersistentVolumeClaim and
    Deployment (probes, security context, /tmp volume) from the chart, the image built here."""
    name = unique("kube")
    repository, tag = server_image.rsplit(":", 1)
    manifests = render({"image": {"repository": repository, "tag": tag, "pullPolicy": "Never"}}, name=name)
    wanted = [m for m in manifests.values() if m["kind"] in ("ConfigMap", "PersistentVolumeClaim", "Deployment")]
    deployment = next(m for m in wanted if m["kind"] == "Deployment")
    port = free_port()
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(hostPort=port, hostIP="127.0.0.1")
    kube = tmp_path / "kube.yaml"
    kube.write_text(yaml.safe_dump_all(wanted))
    try:
        podman("kube", "play", str(kube))
        running = podman("ps", "--format", "{{.Names}}").stdout.split()
        prefix = deployment["metadata"]["name"]  # podman names it <deployment>-pod-<n>-<container>
        server = Container(podman, next(n for n in running if n.startswith(prefix) and n.endswith("-mlflow-server")), port)
        server.wait_healthy(timeout=60)
        assert requests.get(f"{server.url}/ready", timeout=10).text == "OK"
        api = f"{server.url}/api/2.0/mlflow"
        assert requests.post(f"{api}/experiments/create", json={"name": "kube"}, timeout=10).status_code == 200
        inspected = json.loads(podman("inspect", server.name).stdout)[0]
        assert inspected["Config"]["User"] == "10001:10001" and inspected["HostConfig"]["ReadonlyRootfs"] is True
        assert podman("exec", server.name, "ls", "/data/mlflow.db").returncode == 0
    finally:
        podman("kube", "down", str(kube), check=False)
        for claim in (m for m in wanted if m["kind"] == "PersistentVolumeClaim"):
            podman("volume", "rm", "--force", claim["metadata"]["name"], check=False)
