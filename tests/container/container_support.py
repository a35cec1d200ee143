"""Fixtures of the container tests (imported by the test modules): a podman of their own, the
server image built from docker/Dockerfile and the stand-ins of compose's upstream images, and
the official client's workflow (try-mlflow.py) with the checks that its data is still there
after a restart.

Nothing can be pulled here (see tests/servers/install-podman.sh): the base image
debian:bookworm-slim is made with debootstrap and kept, with every image and build layer, under
tests/container/.cache/ (gitignored), so only the first run pays for it. The tests remove the
containers, pods and volumes they create; the images stay as the cache.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from conftest import CI, ROOT

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
BASE_IMAGE = "docker.io/library/debian:bookworm-slim"
SERVER_IMAGE = "localhost/mlflow-server:test"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
STARTUP_LIMIT = 2.0  # seconds from `podman start` to a healthy /health on an existing database


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique(prefix: str) -> str:
    return f"mlflow-test-{prefix}-{uuid.uuid4().hex[:8]}"


class Podman:
    """podman with a configuration and storage of the tests' own (containers.md): the runc
    runtime and cgroupfs (no systemd here), the machine's hard ulimits, images under CACHE."""

    def __init__(self):
        CACHE.mkdir(exist_ok=True)
        # sockets live in the run root, whose paths must stay short: a folder in /tmp per cache
        run_root = Path(tempfile.gettempdir()) / f"mlflow-podman-{hashlib.sha1(bytes(CACHE)).hexdigest()[:8]}"
        # podman's default ulimits exceed this machine's hard limits, which cannot be raised
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
        nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
        nproc = pid_max if nproc == resource.RLIM_INFINITY else min(nproc, pid_max)
        (CACHE / "containers.conf").write_text(
            "[containers]\n"
            f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
            "[engine]\n"
            'runtime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
            f'tmp_dir = "{run_root}/libpod"\n')
        (CACHE / "storage.conf").write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{CACHE / "storage"}"\nrunroot = "{run_root}/storage"\n')
        self.env = {**os.environ, "CONTAINERS_CONF": str(CACHE / "containers.conf"),
                    "CONTAINERS_STORAGE_CONF": str(CACHE / "storage.conf"),
                    "BUILDAH_FORMAT": "docker"}  # OCI images would drop HEALTHCHECK

    def __call__(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        done = subprocess.run(["podman", *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done

    def exists(self, kind: str, name: str) -> bool:
        return self(kind, "exists", name, check=False).returncode == 0

    def build(self, tag: str, context: Path, *args: str) -> None:
        self("build", "--pull=never", "--tag", tag, *args, str(context), timeout=1200)


def make_base_image(podman: Podman) -> None:
    """debian:bookworm-slim from debootstrap (about a minute), trimmed like the official slim
    image; the host's extra CA certificates are added so that pip and npm work behind this
    machine's TLS-inspecting proxy. The root file system is kept as a tarball in CACHE."""
    if podman.exists("image", BASE_IMAGE):
        return
    tarball = CACHE / "debian-bookworm-slim.tar"
    if not tarball.exists():
        rootfs = CACHE / "rootfs"
        shutil.rmtree(rootfs, ignore_errors=True)
        subprocess.run(["debootstrap", "--variant=minbase", "--include=ca-certificates", "bookworm",
                        str(rootfs), "http://deb.debian.org/debian"], check=True, capture_output=True, timeout=900)
        (rootfs / "etc/apt/sources.list.d/debian.sources").write_text(
            "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n"
            "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
            "Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n"
            "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
        (rootfs / "etc/apt/sources.list").unlink(missing_ok=True)
        (rootfs / "etc/dpkg/dpkg.cfg.d/slim").write_text(
            "".join(f"path-exclude /usr/share/{d}/*\n" for d in ("doc", "man", "info", "locale", "lintian")))
        for cert in Path("/usr/local/share/ca-certificates").glob("*.crt"):
            shutil.copy(cert, rootfs / "usr/local/share/ca-certificates")
        subprocess.run(["chroot", str(rootfs), "update-ca-certificates"], check=True, capture_output=True)
        for trimmed in ("var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
                        "usr/share/info", "usr/share/locale"):
            for entry in (rootfs / trimmed).glob("*"):
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
        shutil.rmtree(rootfs)
    podman("import", "--change", 'CMD ["bash"]', str(tarball), BASE_IMAGE)


@pytest.fixture(scope="session")
def podman():
    if not shutil.which("podman") or not shutil.which("debootstrap"):
        message = "podman or debootstrap is missing (tests/servers/install-podman.sh installs them)"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    engine = Podman()
    make_base_image(engine)
    return engine


@pytest.fixture(scope="session")
def images(podman):
    """The image of docker/Dockerfile, built from the repository as an operator would, and the
    stand-ins of compose's upstream images (tests/container/standins/), side by side: a first
    build is mostly downloads."""
    builds = [(SERVER_IMAGE, ROOT, "--file", str(ROOT / "docker" / "Dockerfile"))]
    builds += [(f"localhost/mlflow-test-{folder.name}", folder) for folder in (HERE / "standins").iterdir()]
    with ThreadPoolExecutor() as pool:
        for build in [pool.submit(podman.build, *args) for args in builds]:
            build.result()


@pytest.fixture(scope="session")
def server_image(images):
    return SERVER_IMAGE


@pytest.fixture
def volume(podman):
    name = unique("data")
    podman("volume", "create", name)
    yield name
    podman("volume", "rm", "--force", name, check=False)


class Container:
    """A server container on 127.0.0.1:port, removed at teardown."""

    def __init__(self, podman: Podman, name: str, port: int):
        self.podman, self.name, self.port = podman, name, port
        self.url = f"http://127.0.0.1:{port}"

    def wait_healthy(self, timeout: float = 30) -> float:
        """Seconds until /health answers 200; fails with the container's log otherwise."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                if requests.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except requests.RequestException:
                pass
            time.sleep(0.02)
        raise AssertionError(f"{self.name} not healthy within {timeout}s:\n{self.logs()}")

    def logs(self) -> str:
        done = self.podman("logs", self.name, check=False)
        return done.stdout + done.stderr


@pytest.fixture
def run_server(podman, server_image):
    """run_server(*podman_run_args, env={}) -> Container: the image with a read-only root, a
    tmpfs /tmp and its port published on loopback; healthy before it returns."""
    started = []

    def run(*args: str, env: dict | None = None) -> Container:
        container = Container(podman, unique("server"), free_port())
        started.append(container)
        variables = [f"--env={k}={v}" for k, v in {"MLFLOW_WORKERS": "2", **(env or {})}.items()]
        podman("run", "--detach", "--name", container.name, "--read-only", "--tmpfs", "/tmp",
               "--publish", f"127.0.0.1:{container.port}:5555", *variables, *args, server_image)
        container.wait_healthy()
        return container
    yield run
    for container in started:
        podman("rm", "--force", "--time", "5", container.name, check=False)


# ------------------------------------------------------------------ the client's workflow

def try_mlflow(url: str) -> dict:
    """Run try-mlflow.py (the official client: train, log, register, load) against url;
    returns the run id and registered model name it printed."""
    done = subprocess.run([sys.executable, str(ROOT / "try-mlflow.py"), url], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and "all good" in done.stdout, done.stdout + done.stderr
    return {"run_id": re.search(r"^- run (\w+):", done.stdout, re.MULTILINE).group(1),
            "model": re.search(r"^- registered '([^']+)'", done.stdout, re.MULTILINE).group(1)}


def check_persisted(url: str, session: dict) -> None:
    """What try_mlflow logged is all there: params, metrics and their history, the artifact,
    the registered model's alias, and the model's files (it loads and predicts)."""
    import mlflow
    from mlflow import MlflowClient
    from sklearn.datasets import load_iris
    mlflow.set_tracking_uri(url)
    client = MlflowClient(url)
    run = client.get_run(session["run_id"])
    assert run.data.params == {"C": "0.5", "max_iter": "300"}
    assert "test_accuracy" in run.data.metrics
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train_accuracy")] == [0, 1, 2, 3]
    with tempfile.TemporaryDirectory() as tmp:
        report = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="reports/report.json",
                                                     dst_path=tmp, tracking_uri=url)
        assert json.loads(Path(report).read_text())["test_accuracy"] == run.data.metrics["test_accuracy"]
    assert client.get_model_version_by_alias(session["model"], "champion").version == "1"
    model = mlflow.pyfunc.load_model(f"models:/{session['model']}@champion")
    assert len(model.predict(load_iris(as_frame=True).data.iloc[:3])) == 3
