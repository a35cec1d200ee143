"""One-shot service of docker-compose.yaml: create the artifact bucket if it is missing.

    python create-bucket.py BUCKET      (endpoint: MLFLOW_S3_ENDPOINT_URL; keys: AWS_*)

Waits up to a minute for the S3 server to answer, since compose may start both at once.
"""
import os
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

bucket = sys.argv[1]
endpoint = os.environ.get("MLFLOW_S3_ENDPOINT_URL") or None
s3 = boto3.client("s3", endpoint_url=endpoint,
                  config=Config(s3={"addressing_style": "path"} if endpoint else {}))
deadline = time.monotonic() + 60
while True:
    try:
        s3.head_bucket(Bucket=bucket)
        print(f"bucket {bucket} exists")
        break
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("404", "NoSuchBucket"):
            raise
        s3.create_bucket(Bucket=bucket)
        print(f"bucket {bucket} created")
        break
    except EndpointConnectionError:
        if time.monotonic() > deadline:
            raise
        print(f"waiting for the S3 server at {s3.meta.endpoint_url}", flush=True)
        time.sleep(1)
