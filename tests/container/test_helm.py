"""The Helm chart rendered offline by Helm's own engine (helm-python-sdk) with each values file
of its ci/ folder, linted, validated against Kubernetes' schemas (kubernetes-validate), refused
when its values cannot work; and the Deployment it renders for SQLite run by `podman kube play`
against the image built from docker/Dockerfile."""
from __future__ import annotations

import base64
import json
import time

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


def env_of(container: dict) -> dict[str, dict]:
    return {entry["name"]: entry for entry in container.get("env", [])}


def decoded(secret: dict) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


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
    assert "MLFLOW_APP_NAME" not in manifests["ConfigMap/mlflow-mlflow-server"]["data"]  # auth is off by default


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


def test_multi_replica_values():
    """ci/multi-replica-values.yaml, which tests/operate/test_scale_out.py runs: three pods on one
    database and one bucket, spread over nodes; values that would make replicas unsafe are refused."""
    values = values_file("multi-replica")
    manifests = checked(values)
    deployment = manifests["Deployment/mlflow-mlflow-server"]
    assert deployment["spec"]["replicas"] == 3 and deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert deployment["spec"]["template"]["spec"]["topologySpreadConstraints"][0]["maxSkew"] == 1
    assert manifests["PodDisruptionBudget/mlflow-mlflow-server"]["spec"]["minAvailable"] == 2
    assert not any(key.startswith("PersistentVolumeClaim/") for key in manifests)
    assert "Job/mlflow-mlflow-server-migrate" in manifests
    assert "MLFLOW_UPGRADE_DB" not in manifests["ConfigMap/mlflow-mlflow-server"]["data"]
    for unsafe, refusal in [({"config": {"MLFLOW_UPGRADE_DB": "true"}}, "every pod would upgrade"),
                            ({"secretEnv": {"MLFLOW_BACKEND_STORE_URI": "sqlite:////data/mlflow.db"}}, "set database.uri"),
                            ({"config": {"MLFLOW_ARTIFACTS_DESTINATION": "/data/mlartifacts"}}, "set database.uri")]:
        with pytest.raises(Exception, match=refusal):
            render({**values, **{key: {**values.get(key, {}), **more} for key, more in unsafe.items()}})


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


def test_service_monitor_turns_on_metrics():
    """The ServiceMonitor scrapes /metrics, which the server then serves: MLFLOW_EXPOSE_PROMETHEUS
    names a folder of the /tmp emptyDir (the root file system is read-only). With basic-auth on, it
    sends an admin's access token from a Secret."""
    manifests = checked({"serviceMonitor": {"enabled": True, "interval": "15s"}})
    container = container_of(manifests, "Deployment/mlflow-mlflow-server")
    assert env_of(container)["MLFLOW_EXPOSE_PROMETHEUS"]["value"] == "/tmp/prometheus"
    endpoint = manifests["ServiceMonitor/mlflow-mlflow-server"]["spec"]["endpoints"][0]
    assert endpoint == {"port": "http", "path": "/metrics", "interval": "15s"}
    off = container_of(checked({}), "Deployment/mlflow-mlflow-server")
    assert "MLFLOW_EXPOSE_PROMETHEUS" not in env_of(off)
    assert "authorization" not in endpoint
    secured = checked({"serviceMonitor": {"enabled": True, "tokenSecret": {"name": "metrics", "key": "token"}}})
    assert secured["ServiceMonitor/mlflow-mlflow-server"]["spec"]["endpoints"][0]["authorization"] == {
        "type": "Bearer", "credentials": {"name": "metrics", "key": "token"}}  # an admin's token, with basic-auth


def test_auth_with_an_existing_secret():
    """basic-auth on PostgreSQL: the ConfigMap turns it on, the admin's password reaches the server
    only, from the existing Secret; the hook Job creates the auth schema in its own database."""
    manifests = checked(values_file("auth"))
    config = manifests["ConfigMap/mlflow-mlflow-server"]["data"]
    assert config["MLFLOW_APP_NAME"] == "basic-auth"
    assert {key: value for key, value in config.items() if key.startswith("MLFLOW_AUTH_")} == {
        "MLFLOW_AUTH_ADMIN_USERNAME": "mlflow-admin", "MLFLOW_AUTH_DEFAULT_PERMISSION": "NO_PERMISSIONS",
        "MLFLOW_AUTH_PROXY_HEADER": "X-Forwarded-User", "MLFLOW_AUTH_TRUSTED_PROXIES": "10.42.0.0/16"}
    server = container_of(manifests, "Deployment/mlflow-mlflow-server")
    assert env_of(server)["MLFLOW_AUTH_ADMIN_PASSWORD"]["valueFrom"] == {
        "secretKeyRef": {"name": "mlflow-admin", "key": "password"}}
    # the probes stay open: no credentials needed
    assert server["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert server["startupProbe"]["httpGet"] == server["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    secret = decoded(manifests["Secret/mlflow-mlflow-server"])
    assert secret["MLFLOW_AUTH_DATABASE_URI"] == "postgresql://mlflow_auth:change-me@postgres.db.svc:5432/mlflow_auth"
    assert "MLFLOW_AUTH_ADMIN_PASSWORD" not in secret
    # `db upgrade` with MLFLOW_APP_NAME creates the auth schema too, in MLFLOW_AUTH_DATABASE_URI
    job = container_of(manifests, "Job/mlflow-mlflow-server-migrate")
    assert job["command"] == ["python", "-m", "app", "db", "upgrade"]
    assert env_of(job)["MLFLOW_APP_NAME"] == {"name": "MLFLOW_APP_NAME", "value": "basic-auth"}
    assert "MLFLOW_AUTH_ADMIN_PASSWORD" not in env_of(job)
    assert {"secretRef": {"name": "mlflow-mlflow-server-migrate"}} in job["envFrom"]
    assert decoded(manifests["Secret/mlflow-mlflow-server-migrate"]) == secret


def test_auth_password_kept_in_the_chart_secret():
    """auth.adminPassword is in the chart's Secret and nowhere else: not in the ConfigMap, the
    pod specs or the migration Job's copy of the Secret."""
    password = "a-long-secret-of-the-admin"
    manifests = checked({"auth": {"enabled": True, "adminPassword": password},
                         "database": {"uri": "postgresql://mlflow:pw@db/mlflow"}})
    secret = decoded(manifests["Secret/mlflow-mlflow-server"])
    assert secret["MLFLOW_AUTH_ADMIN_PASSWORD"] == password
    assert "MLFLOW_AUTH_DATABASE_URI" not in secret  # the backend store's database by default
    server = container_of(manifests, "Deployment/mlflow-mlflow-server")
    assert {"secretRef": {"name": "mlflow-mlflow-server"}} in server["envFrom"]
    assert "MLFLOW_AUTH_ADMIN_PASSWORD" not in env_of(server)
    config = manifests["ConfigMap/mlflow-mlflow-server"]["data"]
    assert config["MLFLOW_APP_NAME"] == "basic-auth" and config["MLFLOW_AUTH_ADMIN_USERNAME"] == "admin"
    assert "MLFLOW_AUTH_ADMIN_PASSWORD" not in decoded(manifests["Secret/mlflow-mlflow-server-migrate"])
    encoded = base64.b64encode(password.encode()).decode()
    for key, manifest in manifests.items():
        if key != "Secret/mlflow-mlflow-server":
            text = yaml.safe_dump(manifest)
            assert password not in text and encoded not in text, key


def test_auth_values_ignored_when_off():
    manifests = checked({"auth": {"adminPassword": "a-long-secret-of-the-admin", "existingSecret": "admin"}})
    assert not any(key.startswith("Secret/") for key in manifests)
    assert not any(key.startswith(("MLFLOW_APP_NAME", "MLFLOW_AUTH_"))
                   for key in manifests["ConfigMap/mlflow-mlflow-server"]["data"])
    assert "MLFLOW_AUTH_ADMIN_PASSWORD" not in env_of(container_of(manifests, "Deployment/mlflow-mlflow-server"))


AUTH = {"enabled": True, "adminPassword": "a-long-secret-of-the-admin"}


@pytest.mark.parametrize("values, refusal", [
    ({"replicaCount": 2}, "replicaCount > 1 needs a database"),
    ({"replicaCount": 2, "database": {"uri": "postgresql://u:p@db/mlflow"}}, "needs a remote artifact store"),
    ({"database": {"uri": "postgresql://u:p@db/mlflow", "existingSecret": "db"}}, "not both"),
    ({"replicaCount": "two"}, "replicaCount"),
    ({"replicas": 2}, "replicas"),  # a misspelt key is refused, not ignored
    ({"database": {"uri": "sqlite:///mlflow.db"}}, "uri"),
    ({"auth": {"enabled": True}}, "auth.enabled needs the admin's password for the first start: auth.adminPassword"),
    ({"auth": {**AUTH, "adminPassword": "too-short"}}, "auth.adminPassword: at least 12 characters"),
    ({"auth": {**AUTH, "existingSecret": "admin"}}, "auth: set adminPassword or existingSecret, not both"),
    ({"auth": {**AUTH, "proxyHeader": "X-Forwarded-User"}}, "auth.proxyHeader needs auth.trustedProxies"),
    ({"auth": {**AUTH, "defaultPermission": "WRITE"}}, "defaultPermission"),
    ({"auth": {**AUTH, "trustedProxies": ["proxy.example.com"]}}, "trustedProxies"),
    ({"config": {"MLFLOW_APP_NAME": "basic-auth"}}, "config.MLFLOW_APP_NAME: set authentication with the auth values"),
    ({"secretEnv": {"MLFLOW_AUTH_ADMIN_PASSWORD": "a-long-secret"}}, "secretEnv.MLFLOW_AUTH_ADMIN_PASSWORD: set auth"),
], ids=["sqlite-replicas", "local-artifacts-replicas", "two-database-sources", "type", "unknown-key", "uri-scheme",
        "auth-without-password", "auth-short-password", "auth-two-password-sources", "auth-proxy-header-alone",
        "auth-permission", "auth-proxy-names", "auth-in-config", "auth-in-secret-env"])
def test_refuses_values_that_cannot_work(values, refusal):
    with pytest.raises(Exception, match=refusal):
        render(values)


ADMIN = ("admin", "kube-admin-password")


@pytest.mark.parametrize("auth", [False, True], ids=["open", "basic-auth"])
def test_rendered_deployment_serves_under_podman_kube_play(podman, server_image, tmp_path, auth):
    """The SQLite install as Kubernetes would run it: ConfigMap, PersistentVolumeClaim and
    Deployment (probes, security context, /tmp volume) from the chart, the image built here.
    With auth on, the admin's password from the chart's Secret: the probes stay open, the API
    answers 401 without credentials and 200 with the admin's."""
    name = unique("kube")
    repository, tag = server_image.rsplit(":", 1)
    values = {"image": {"repository": repository, "tag": tag, "pullPolicy": "Never"}}
    if auth:
        values["auth"] = {"enabled": True, "adminPassword": ADMIN[1]}
    manifests = render(values, name=name)
    wanted = [m for m in manifests.values() if m["kind"] in ("ConfigMap", "PersistentVolumeClaim", "Deployment")]
    # podman 4.3's kube play stores a Secret document as YAML, then fails to read it as JSON:
    # each Secret becomes a podman secret holding the JSON of its data, which kube play reads
    # for envFrom and secretKeyRef
    secrets = [m for m in manifests.values() if m["kind"] == "Secret"]
    assert bool(secrets) == auth
    deployment = next(m for m in wanted if m["kind"] == "Deployment")
    port = free_port()
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(hostPort=port, hostIP="127.0.0.1")
    kube = tmp_path / "kube.yaml"
    kube.write_text(yaml.safe_dump_all(wanted))
    try:
        for secret in secrets:
            (tmp_path / "secret.json").write_text(json.dumps(secret["data"]))
            podman("secret", "create", secret["metadata"]["name"], str(tmp_path / "secret.json"))
        podman("kube", "play", str(kube))
        running = podman("ps", "--format", "{{.Names}}").stdout.split()
        prefix = deployment["metadata"]["name"]  # podman names it <deployment>-pod-<n>-<container>
        server = Container(podman, next(n for n in running if n.startswith(prefix) and n.endswith("-mlflow-server")), port)
        server.wait_healthy(timeout=60)
        assert requests.get(f"{server.url}/ready", timeout=10).text == "OK"
        api = f"{server.url}/api/2.0/mlflow"
        if auth:
            refused = requests.post(f"{api}/experiments/create", json={"name": "kube"}, timeout=10)
            assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == 'Basic realm="mlflow"'
            wrong = requests.post(f"{api}/experiments/create", json={"name": "kube"}, auth=(ADMIN[0], "not-the-password"), timeout=10)
            assert wrong.status_code == 401
        created = requests.post(f"{api}/experiments/create", json={"name": "kube"}, auth=ADMIN if auth else None, timeout=10)
        assert created.status_code == 200, created.text
        if auth:  # a lost password, reset in the pod (kubectl exec deploy/<name> -- python -m app auth set-password)
            reset = podman("exec", server.name, "sh", "-c", "echo 'a-new-admin-password' | python -m app auth set-password admin")
            assert "the password of 'admin' is set" in reset.stdout
            for _ in range(8):  # the server's workers see it within 2 s
                time.sleep(1)
                got = requests.get(f"{api}/experiments/get-by-name", params={"experiment_name": "kube"},
                                   auth=(ADMIN[0], "a-new-admin-password"), timeout=10)
                if got.status_code == 200:
                    break
            assert got.status_code == 200, got.text
        inspected = json.loads(podman("inspect", server.name).stdout)[0]
        assert inspected["Config"]["User"] == "10001:10001" and inspected["HostConfig"]["ReadonlyRootfs"] is True
        assert podman("exec", server.name, "ls", "/data/mlflow.db").returncode == 0
    finally:
        podman("kube", "down", str(kube), check=False)
        for claim in (m for m in wanted if m["kind"] == "PersistentVolumeClaim"):
            podman("volume", "rm", "--force", claim["metadata"]["name"], check=False)
        for secret in secrets:
            podman("secret", "rm", secret["metadata"]["name"], check=False)
