"""A 300 MB artifact through the official client: intact both ways, and streamed (the
server's memory stays flat instead of holding the file)."""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from artifact_support import RssSampler, start_sqlite_server, tree_rss_bytes
from conftest import unique

SIZE = 300 * 1024 * 1024
MAX_GROWTH = 100 * 1024 * 1024


@pytest.fixture(scope="module")
def art_server(tmp_path_factory):
    server = start_sqlite_server(tmp_path_factory.mktemp("art-large"))
    yield server
    server.stop()


def write_random(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for _ in range(size // (4 * 1024 * 1024)):
            chunk = os.urandom(4 * 1024 * 1024)
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def test_300mb_upload_and_download_stream_with_flat_memory(art_server, monkeypatch, tmp_path):
    import mlflow
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "300")
    client = mlflow.MlflowClient(art_server.url)
    mlflow.set_tracking_uri(art_server.url)
    run = client.create_run(client.create_experiment(unique()))

    # warm up every worker (imports, first upload and download) before the idle reading
    warm = tmp_path / "warm.bin"
    warm.write_bytes(os.urandom(2 * 1024 * 1024))
    for _ in range(4):
        client.log_artifact(run.info.run_id, str(warm), "warm")
        client.download_artifacts(run.info.run_id, "warm/warm.bin", str(tmp_path / "warm-dl"))
    time.sleep(0.5)
    idle = tree_rss_bytes(art_server.process.pid)
    assert idle > 0, "could not read the server's memory from /proc"

    big = tmp_path / "big.bin"
    expected = write_random(big, SIZE)

    sampler = RssSampler(art_server.process.pid)
    sampler.start()
    try:
        client.log_artifact(run.info.run_id, str(big), "large")
    finally:
        upload_peak = sampler.stop()
    assert sampler.samples >= 3, "the transfer ended before memory could be sampled"
    stored = art_server.artifacts / run.info.experiment_id / run.info.run_id / "artifacts" / "large" / "big.bin"
    assert stored.stat().st_size == SIZE
    assert sha256_of(stored) == expected
    listed = {f.path: f.file_size for f in client.list_artifacts(run.info.run_id, "large")}
    assert listed == {"large/big.bin": SIZE}

    sampler = RssSampler(art_server.process.pid)
    sampler.start()
    try:
        local = Path(client.download_artifacts(run.info.run_id, "large/big.bin", str(tmp_path / "dl")))
    finally:
        download_peak = sampler.stop()
    assert sampler.samples >= 3, "the transfer ended before memory could be sampled"
    print(f"idle {idle >> 20} MB, upload peak {upload_peak >> 20} MB, download peak {download_peak >> 20} MB")
    assert local.stat().st_size == SIZE
    assert sha256_of(local) == expected

    mb = 1024 * 1024
    assert upload_peak - idle < MAX_GROWTH, (
        f"server RSS grew from {idle / mb:.0f} MB to {upload_peak / mb:.0f} MB during a 300 MB upload")
    assert download_peak - idle < MAX_GROWTH, (
        f"server RSS grew from {idle / mb:.0f} MB to {download_peak / mb:.0f} MB during a 300 MB download")
