"""moto in server mode on 127.0.0.1: the S3 store's test server (S3 in the test's memory).

moto accepts any credentials unless started with `enforce_auth`, where every request with
keys it did not issue is refused (InvalidAccessKeyId): the wrong-credentials test.
"""
from __future__ import annotations

import shutil
import sys
import uuid
from pathlib import Path

import pytest
import requests

from conftest import free_port
from servers.loopback import LoopbackServer, unavailable

MOTO_SERVER = Path(sys.executable).parent / "moto_server"
ACCESS_KEY = "AKIAMOTOTESTKEY"
SECRET_KEY = "moto-secret-never-in-messages-7f3a9c"
REGION = "us-east-1"


class MotoServer(LoopbackServer):
    def __init__(self, tmp: Path, enforce_auth: bool = False):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        argv = [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(self.port)]
        if enforce_auth:  # moto reads this from its environment: authenticate from the first request
            argv = [shutil.which("env") or "/usr/bin/env", "INITIAL_NO_AUTH_ACTION_COUNT=0", *argv]
        super().__init__("moto", argv, tmp / f"moto-{self.port}.log",
                         lambda: requests.get(self.endpoint + "/moto-api/", timeout=1).ok)

    def env(self, secret: str = SECRET_KEY) -> dict:
        """What a server or client process needs to reach this S3."""
        return {"MLFLOW_S3_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": REGION}

    def client(self):
        import boto3
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name=REGION)

    def create_bucket(self) -> str:
        name = f"bucket-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def objects(self, bucket: str) -> dict[str, str]:
        """{key: ETag} of every object in the bucket."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return {item["Key"]: item["ETag"] for page in pages for item in page.get("Contents", [])}


def start_moto(tmp: Path, enforce_auth: bool = False) -> MotoServer:
    """moto on a free port, or a skip (a fail under CI) naming what is missing."""
    if not MOTO_SERVER.exists():
        unavailable(f"{MOTO_SERVER} is missing: install the test group (moto[s3,server], flask-cors)")
    return MotoServer(tmp, enforce_auth)


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory):
    """One moto server for the test session (import this fixture into a test module)."""
    server = start_moto(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()
