"""Artifacts in S3 or an S3-compatible server (s3://bucket/prefix) through boto3.

Credentials and region come from boto3's usual chain (AWS_* variables, profiles, instance
roles). MLFLOW_S3_ENDPOINT_URL names an S3-compatible server, MLFLOW_S3_IGNORE_TLS=true skips
certificate checks, MLFLOW_S3_UPLOAD_EXTRA_ARGS is a JSON object of extra upload arguments
(e.g. {"ServerSideEncryption": "aws:kms"}). Uploads go up as multipart uploads one part at a
time, so memory stays at one part whatever the size; the object appears only when complete.

Presigned URLs (SigV4) let clients upload parts and download objects directly; they name
MLFLOW_S3_ENDPOINT_URL's host, or AWS's endpoint of AWS_DEFAULT_REGION, which must then be
the bucket's region.
"""
from __future__ import annotations

import contextlib
import json
from typing import BinaryIO
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from ..errors import MlflowError, invalid, not_found
from ..options import S3, environment, parse_bool, secret_values
from .base import (DENIED, FAILED, MISSING, UNAVAILABLE, UPLOAD_URL_SECONDS, ArtifactRepository, FileInfo,
                   attachment, download_url_seconds, short_upload, store_error)
from .paths import object_key

PART_SIZE = 8 * 1024 * 1024  # one part in memory per upload; S3's minimum is 5 MB
MAX_PARTS = 10_000
READ_CHUNK = 1024 * 1024
DELETE_BATCH = 1000  # the most keys one DeleteObjects request takes
_CODES = {
    "NoSuchBucket": MISSING,
    "AccessDenied": DENIED, "InvalidAccessKeyId": DENIED, "SignatureDoesNotMatch": DENIED,
    "InvalidClientTokenId": DENIED, "ExpiredToken": DENIED, "InvalidToken": DENIED,
    "SlowDown": UNAVAILABLE, "ServiceUnavailable": UNAVAILABLE, "RequestTimeout": UNAVAILABLE,
}
# A multipart upload the client named wrongly: its id, or the parts it says it uploaded.
_UPLOAD_REFUSED = ("NoSuchUpload", "InvalidPart", "InvalidPartOrder", "EntityTooSmall")


def _environment_settings() -> tuple[str | None, bool, dict]:
    """(endpoint URL, verify TLS, extra upload arguments) from the MLFLOW_S3_* variables."""
    try:
        ignore_tls = parse_bool(environment("MLFLOW_S3_IGNORE_TLS"))
    except ValueError as error:
        raise invalid(f"MLFLOW_S3_IGNORE_TLS: {error}") from None
    try:
        extra = json.loads(environment("MLFLOW_S3_UPLOAD_EXTRA_ARGS") or "{}")
    except ValueError as error:
        raise invalid(f"MLFLOW_S3_UPLOAD_EXTRA_ARGS is not JSON: {error}") from None
    if not isinstance(extra, dict):
        raise invalid("MLFLOW_S3_UPLOAD_EXTRA_ARGS must be a JSON object")
    return environment("MLFLOW_S3_ENDPOINT_URL") or None, not ignore_tls, extra


class S3ArtifactRepository(ArtifactRepository):
    presigned = True

    def __init__(self, location: str):
        self.location = location.rstrip("/")
        bucket_and_prefix = self.location[len("s3://"):]
        self.bucket, _, prefix = bucket_and_prefix.partition("/")
        self.prefix = prefix.strip("/")
        endpoint, verify, self.extra_args = _environment_settings()
        self.download_url_seconds = download_url_seconds()
        self.client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint, verify=verify,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"} if endpoint else {}))

    @contextlib.contextmanager
    def _errors(self, action: str):
        """Botocore failures as store errors; MlflowErrors (404s, bad input) pass through."""
        try:
            yield
        except ClientError as error:
            code = _code(error)
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            kind = _CODES.get(code) or (DENIED if status == 403 else UNAVAILABLE if status == 503 else FAILED)
            raise self._error(action, f"{code or status}: {error.response.get('Error', {}).get('Message', '')}",
                              kind) from None
        except NoCredentialsError:
            raise self._error(action, "no AWS credentials found", DENIED) from None
        except EndpointConnectionError as error:
            endpoint = urlsplit(error.kwargs.get("endpoint_url", ""))
            raise self._error(action, f"cannot reach {endpoint.scheme}://{endpoint.netloc}", UNAVAILABLE) from None
        except BotoCoreError as error:
            raise self._error(action, f"{type(error).__name__}: {error}", UNAVAILABLE) from None

    def _error(self, action: str, cause: str, kind: str) -> MlflowError:
        return store_error(self.location, action, cause, kind, secret_values(S3))

    def write(self, rel: str, stream: BinaryIO, size: int | None = None) -> None:
        if not rel:
            raise invalid("An artifact upload needs a file path")
        key = object_key(self.prefix, rel)
        part_size = max(PART_SIZE, -(-(size or 0) // MAX_PARTS))
        with self._errors(f"upload of '{rel}'"):
            first = _read_part(stream, part_size)
            if len(first) < part_size:  # fits in one request
                if size is not None and len(first) != size:
                    raise short_upload(rel, len(first), size)
                self.client.put_object(Bucket=self.bucket, Key=key, Body=first, **self.extra_args)
                return
            upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=key,
                                                            **self.extra_args)["UploadId"]
            try:
                self._upload_parts(key, upload_id, first, stream, part_size, rel, size)
            except BaseException:
                with contextlib.suppress(Exception):
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
                raise

    def _upload_parts(self, key, upload_id, part, stream, part_size, rel, size) -> None:
        parts, written = [], 0
        while part:
            number = len(parts) + 1
            etag = self.client.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                           PartNumber=number, Body=part)["ETag"]
            parts.append({"ETag": etag, "PartNumber": number})
            written += len(part)
            part = _read_part(stream, part_size)
        if size is not None and written != size:
            raise short_upload(rel, written, size)
        self.client.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                              MultipartUpload={"Parts": parts})

    def open(self, rel: str) -> tuple[BinaryIO, int]:
        with self._errors(f"download of '{rel}'"), self._missing(rel):
            response = self.client.get_object(Bucket=self.bucket, Key=object_key(self.prefix, rel))
        return response["Body"], response["ContentLength"]

    @contextlib.contextmanager
    def _missing(self, rel: str):
        """A missing object as RESOURCE_DOES_NOT_EXIST (a missing bucket stays a store error)."""
        try:
            yield
        except ClientError as error:
            if _code(error) in ("NoSuchKey", "404"):
                raise not_found(f"No such artifact: '{rel}'") from None
            raise

    @contextlib.contextmanager
    def _upload_named(self, rel: str):
        """The store's refusal of an upload id or of parts as the client's error."""
        try:
            yield
        except ClientError as error:
            if _code(error) in _UPLOAD_REFUSED:
                message = error.response.get("Error", {}).get("Message", "")
                raise invalid(f"Multipart upload of '{rel}': {_code(error)}: {message}") from None
            raise

    def create_multipart_upload(self, rel: str, parts: int) -> tuple[str, list[str]]:
        key = object_key(self.prefix, rel)
        with self._errors(f"multipart upload of '{rel}'"):
            upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=key,
                                                            **self.extra_args)["UploadId"]
            urls = [self.client.generate_presigned_url(
                "upload_part", ExpiresIn=UPLOAD_URL_SECONDS,
                Params={"Bucket": self.bucket, "Key": key, "UploadId": upload_id, "PartNumber": number})
                for number in range(1, parts + 1)]
        return upload_id, urls

    def complete_multipart_upload(self, rel: str, upload_id: str, etags: dict[int, str]) -> None:
        key = object_key(self.prefix, rel)
        parts = [{"PartNumber": number, "ETag": etag} for number, etag in sorted(etags.items())]
        with self._errors(f"completion of the upload of '{rel}'"), self._upload_named(rel):
            self._check_in_progress(key, upload_id, rel)
            self.client.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                                  MultipartUpload={"Parts": parts})

    def abort_multipart_upload(self, rel: str, upload_id: str) -> None:
        key = object_key(self.prefix, rel)
        with self._errors(f"abort of the upload of '{rel}'"), self._upload_named(rel):
            self._check_in_progress(key, upload_id, rel)
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    def _check_in_progress(self, key: str, upload_id: str, rel: str) -> None:
        """The upload must be one in progress for this very key. AWS checks that itself, but
        not every S3-compatible server does (moto completes any upload at any key, and fails
        on unknown ones), so look first, where the credentials may list uploads."""
        pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=key)
        try:
            found = any(upload["Key"] == key and upload["UploadId"] == upload_id
                        for page in pages for upload in page.get("Uploads", []))
        except ClientError as error:
            if _code(error) == "AccessDenied":  # a policy without s3:ListBucketMultipartUploads
                return
            raise
        if not found:
            raise invalid(f"Multipart upload of '{rel}': no upload '{upload_id}' is in progress there "
                          f"(unknown, completed or aborted)")

    def presigned_download(self, rel: str) -> tuple[str, int]:
        key = object_key(self.prefix, rel)
        with self._errors(f"presigned download of '{rel}'"):
            with self._missing(rel):
                size = self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"]
            url = self.client.generate_presigned_url(
                "get_object", ExpiresIn=self.download_url_seconds,
                Params={"Bucket": self.bucket, "Key": key, "ResponseContentDisposition": attachment(rel)})
        return url, size

    def list(self, rel: str) -> list[FileInfo]:
        key = object_key(self.prefix, rel)
        prefix = f"{key}/" if key else ""
        result = []
        with self._errors(f"listing of '{rel or '/'}'"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, Delimiter="/")
            for page in pages:
                for common in page.get("CommonPrefixes", []):
                    if name := common["Prefix"][len(prefix):].rstrip("/"):
                        result.append(FileInfo(name, True, None))
                for item in page.get("Contents", []):
                    if name := item["Key"][len(prefix):]:  # skip a folder's own marker object
                        result.append(FileInfo(name, False, item["Size"]))
        return sorted(result, key=lambda info: info.name)

    def delete(self, rel: str) -> None:
        if not rel:
            raise invalid("Refusing to delete the artifact root")
        key = object_key(self.prefix, rel)
        deleted = 0
        with self._errors(f"deletion of '{rel}'"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=key + "/", PaginationConfig={"PageSize": DELETE_BATCH})
            for page in pages:
                self._delete_keys([item["Key"] for item in page.get("Contents", [])])
                deleted += page.get("KeyCount", 0)
            try:
                self.client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as error:
                if _code(error) not in ("404", "NoSuchKey"):
                    raise
            else:
                self._delete_keys([key])
                deleted += 1
        if not deleted:
            raise not_found(f"No such artifact: '{rel}'")

    def _delete_keys(self, keys: list[str]) -> None:
        if not keys:
            return
        response = self.client.delete_objects(Bucket=self.bucket,
                                              Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})
        if errors := response.get("Errors"):
            raise ClientError({"Error": errors[0], "ResponseMetadata": {}}, "DeleteObjects")


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def _read_part(stream: BinaryIO, size: int) -> bytes:
    """Up to `size` bytes: a request body's read may return less than asked before its end."""
    chunks, length = [], 0
    while length < size and (chunk := stream.read(min(READ_CHUNK, size - length))):
        chunks.append(chunk)
        length += len(chunk)
    return b"".join(chunks)
