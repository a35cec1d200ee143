"""Artifact store locations are checked before start-up: each supported scheme in its
shape, with a one-line reason otherwise, and never a password in the message."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT, RUN_SH, free_port

sys.path.insert(0, str(ROOT))
from app.artifacts import check_location  # noqa: E402
from app.errors import MlflowError  # noqa: E402

ACCEPTED = ["s3://bucket/path", "s3://my.bucket-1", "gs://bucket/a/b",
            "wasbs://container@account.blob.core.windows.net/p", "abfss://fs@account.dfs.core.windows.net/p", "ftp://user:pw@host:2121/p", "sftp://user@host/p",
            "hdfs://namenode:9870/p", "webhdfs://namenode/p", "hdfs:///p", "file:///tmp/x", "./relative"]
REFUSED = [
    ("s3://b/path", "bucket"), ("s3:///path", "bucket"), ("gs://bucket/../x", "'..'"),
    ("wasbs://account.blob.core.windows.net/p", "container@account"), ("ftp:///p", "host"),
    ("sftp://u:hunter2@host:99999/p", "port"), ("s3://bucket/p?x=1", "query"), ("foo://x/y", "Unknown"),
    ("file://otherhost/x", "host"),
]


def start_up(env: dict, tmp_path) -> subprocess.CompletedProcess:
    base = {"MLFLOW_PORT": str(free_port()), "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
            "PATH": "/usr/bin:/bin"}
    return subprocess.run([str(RUN_SH)], env={**base, **env}, capture_output=True, text=True, timeout=60)


def test_accepted_shapes():
    for location in ACCEPTED:
        check_location(location)


@pytest.mark.parametrize("location, reason", REFUSED)
def test_refused_shapes(location, reason):
    with pytest.raises(MlflowError) as error:
        check_location(location)
    assert reason in error.value.message and "hunter2" not in error.value.message
    assert error.value.status == 400


@pytest.mark.parametrize("env, words", [
    ({"MLFLOW_ARTIFACTS_DESTINATION": "s3://b/x"}, ["--artifacts-destination", "bucket"]),
    ({"MLFLOW_SERVE_ARTIFACTS": "false", "MLFLOW_DEFAULT_ARTIFACT_ROOT": "ftp://u:hunter2@/x"},
     ["--default-artifact-root", "host"]),
    ({"MLFLOW_ARTIFACTS_DESTINATION": "s3://bucket/x", "MLFLOW_S3_UPLOAD_EXTRA_ARGS": "{bad"},
     ["MLFLOW_S3_UPLOAD_EXTRA_ARGS", "JSON"]),
    ({"MLFLOW_SERVE_ARTIFACTS": "false", "MLFLOW_DEFAULT_ARTIFACT_ROOT": "mlflow-artifacts:/x"},
     ["mlflow-artifacts", "--serve-artifacts"]),
])
def test_bad_locations_stop_start_up(env, words, tmp_path):
    result = start_up(env, tmp_path)
    assert result.returncode == 1, result.stderr[-2000:]
    line = result.stderr.strip().splitlines()[-1]
    for word in words:
        assert word in line, line
    assert "hunter2" not in result.stderr
