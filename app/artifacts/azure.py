"""Artifacts in Azure Blob Storage: wasbs://container@account.blob.core.windows.net/path and
abfss://container@account.dfs.core.windows.net/path (ADLS Gen2, reached through its blob endpoint).

Credentials: AZURE_STORAGE_CONNECTION_STRING (whose BlobEndpoint also names emulators such as
Azurite), else AZURE_STORAGE_ACCESS_KEY for the account in the URI, else azure-identity's
DefaultAzureCredential when that package is installed, else anonymous access.

With an account key (in the connection string or AZURE_STORAGE_ACCESS_KEY) clients get SAS
URLs to upload blocks and download blobs directly; other credentials cannot sign them here.
"""
from __future__ import annotations

import base64
import contextlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import BinaryIO
from urllib.parse import quote, urlsplit

from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import (ClientAuthenticationError, HttpResponseError, ResourceNotFoundError,
                                   ServiceRequestError, ServiceResponseError)
from azure.storage.blob import (BlobBlock, BlobPrefix, BlobSasPermissions, BlobServiceClient, ExponentialRetry,
                                generate_blob_sas)

from ..errors import MlflowError, invalid, not_found
from ..options import AZURE, environment, secret_values
from .base import (DENIED, FAILED, MISSING, UNAVAILABLE, UPLOAD_URL_SECONDS, ArtifactRepository, FileInfo,
                   attachment, download_url_seconds, short_upload, store_error)
from .paths import object_key, safe_relative_path

CHUNK = 8 * 1024 * 1024  # block size of uploads and range size of downloads
# A few quick retries: the official client retries our 503 itself, and an unreachable
# account should fail in seconds, not after the SDK's default minutes of back-off.
RETRY = ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=2, random_jitter_range=1)
NO_CREDENTIALS = ("no credentials are configured (set AZURE_STORAGE_CONNECTION_STRING or "
                  "AZURE_STORAGE_ACCESS_KEY, or install azure-identity)")
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


class AzureBlobArtifactRepository(ArtifactRepository):
    def __init__(self, location: str):
        parts = urlsplit(location)
        self.location = location
        self.container = parts.username
        self.account = parts.hostname.split(".", 1)[0]
        # ADLS Gen2's dfs endpoint and the blob endpoint serve the same data
        host = parts.netloc.split("@", 1)[1].replace(".dfs.", ".blob.", 1)
        self.account_url = f"https://{host}"
        self.prefix = safe_relative_path(parts.path.lstrip("/"))
        self._connection_string = environment("AZURE_STORAGE_CONNECTION_STRING")
        self._access_key = environment("AZURE_STORAGE_ACCESS_KEY")
        self._secrets = secret_values(AZURE)
        self._credential = None if self._connection_string else self._account_credential()
        self._signing_key = (_account_key(self._connection_string) if self._connection_string
                             else self._access_key or None)
        self.presigned = self._signing_key is not None
        self.download_url_seconds = download_url_seconds()

    def _account_credential(self):
        if self._access_key:
            return AzureNamedKeyCredential(self.account, self._access_key)
        try:
            from azure.identity import DefaultAzureCredential
        except ImportError:
            return None  # anonymous: enough for a public container's reads
        return DefaultAzureCredential()

    @cached_property
    def _container(self):
        options = {"max_block_size": CHUNK, "max_single_get_size": CHUNK, "max_chunk_get_size": CHUNK,
                   "retry_policy": RETRY}
        if not self._connection_string:
            service = BlobServiceClient(self.account_url, credential=self._credential, **options)
        else:
            try:
                service = BlobServiceClient.from_connection_string(self._connection_string, **options)
            except ValueError:
                raise store_error(self.location, "connecting", "AZURE_STORAGE_CONNECTION_STRING is "
                                  "malformed", DENIED) from None
        return service.get_container_client(self.container)

    @contextlib.contextmanager
    def _failure(self, action: str):
        """Turns the SDK's exceptions into errors that name the store and the cause."""
        try:
            yield
        except MlflowError:
            raise
        except ClientAuthenticationError as error:
            raise self._error(action, error, DENIED) from None
        except ResourceNotFoundError as error:
            raise self._error(action, error, MISSING) from None
        except (ServiceRequestError, ServiceResponseError) as error:
            raise self._error(action, error, UNAVAILABLE) from None
        except HttpResponseError as error:
            code = (DENIED if error.status_code in (401, 403)
                    else UNAVAILABLE if error.status_code in (408, 429, 500, 502, 503, 504) else FAILED)
            raise self._error(action, error, code) from None

    def _error(self, action: str, error: Exception, code: str) -> MlflowError:
        if isinstance(error, HttpResponseError) and error.status_code:
            # error_code names the cause (AuthenticationFailed, ContainerNotFound, ...); the
            # message would quote the request, and with it the account's name and signature
            name = getattr(error.error_code, "value", error.error_code) or type(error).__name__
            cause = f"{name}, HTTP {error.status_code}"
        else:
            cause = f"{type(error).__name__}: {error}"
        if code == MISSING:
            cause = f"container '{self.container}' does not exist ({cause})"
        elif code == DENIED:
            cause += (f"; {NO_CREDENTIALS}" if not self._connection_string and self._credential is None
                      else "; check the account key or connection string and the container's permissions")
        return store_error(self.location, action, cause, code, self._secrets)

    def _sas(self, key: str, permission: BlobSasPermissions, seconds: int, **options) -> str:
        return generate_blob_sas(self._container.account_name, self.container, key, account_key=self._signing_key,
                                 permission=permission, expiry=datetime.now(UTC) + timedelta(seconds=seconds),
                                 **options)

    def write(self, rel: str, stream: BinaryIO, size: int | None = None) -> None:
        if not rel:
            raise invalid("An artifact upload needs a file path")
        # Blocks stay invisible until the block list is committed, so a failed upload leaves
        # the previous blob as it was; ids unique to this upload keep concurrent uploads of
        # the same path from committing each other's blocks.
        upload = uuid.uuid4().hex
        blocks, written = [], 0
        with self._failure(f"upload of '{rel}'"):
            blob = self._container.get_blob_client(object_key(self.prefix, rel))
            while chunk := stream.read(CHUNK):
                block_id = _block_id(upload, len(blocks))
                blob.stage_block(block_id, chunk, length=len(chunk))
                blocks.append(BlobBlock(block_id))
                written += len(chunk)
            if size is not None and written != size:
                raise short_upload(rel, written, size)
            blob.commit_block_list(blocks)

    def open(self, rel: str) -> tuple[BinaryIO, int]:
        with self._failure(f"download of '{rel}'"):
            try:
                download = self._container.download_blob(object_key(self.prefix, rel), max_concurrency=1)
            except ResourceNotFoundError as error:
                if error.error_code == "BlobNotFound":
                    raise not_found(f"No such artifact: '{rel}'") from None
                raise
        return _Download(download), download.size

    def list(self, rel: str) -> list[FileInfo]:
        key = object_key(self.prefix, rel)
        prefix = f"{key}/" if key else ""
        entries = {}
        with self._failure(f"listing of '{rel or '/'}'"):
            for item in self._container.walk_blobs(name_starts_with=prefix, delimiter="/"):
                name = item.name[len(prefix):].rstrip("/")
                if isinstance(item, BlobPrefix):
                    entries[name] = FileInfo(name, True, None)
                elif name and name not in entries:  # ADLS Gen2 lists a directory as a blob too
                    entries[name] = FileInfo(name, False, item.size)
        return sorted(entries.values(), key=lambda info: info.name)

    def delete(self, rel: str) -> None:
        if not rel:
            raise invalid("Refusing to delete the artifact root")
        key = object_key(self.prefix, rel)
        with self._failure(f"deletion of '{rel}'"):
            # deepest names first: ADLS Gen2 refuses to delete a directory that is not empty
            names = sorted((b.name for b in self._container.list_blobs(name_starts_with=f"{key}/")),
                           reverse=True)
            for name in names:
                self._container.delete_blob(name)
            try:
                self._container.delete_blob(key)
            except ResourceNotFoundError as error:
                if error.error_code != "BlobNotFound":
                    raise
                if not names:
                    raise not_found(f"No such artifact: '{rel}'") from None

    def create_multipart_upload(self, rel: str, parts: int) -> tuple[str, list[str]]:
        # Each part is a block staged under the upload's own ids (as in write); completing
        # commits them. The URL only lets its holder write this one blob.
        upload_id = uuid.uuid4().hex
        with self._failure(f"multipart upload of '{rel}'"):
            blob = self._container.get_blob_client(object_key(self.prefix, rel))
            sas = self._sas(blob.blob_name, BlobSasPermissions(write=True), UPLOAD_URL_SECONDS)
        return upload_id, [f"{blob.url}?comp=block&blockid={quote(_wire_block_id(upload_id, n), safe='')}&{sas}"
                           for n in range(1, parts + 1)]

    def complete_multipart_upload(self, rel: str, upload_id: str, etags: dict[int, str]) -> None:
        _check_upload_id(upload_id)
        with self._failure(f"completion of the upload of '{rel}'"):
            blob = self._container.get_blob_client(object_key(self.prefix, rel))
            try:
                blob.commit_block_list([BlobBlock(_block_id(upload_id, n)) for n in sorted(etags)])
            except HttpResponseError as error:
                if error.error_code != "InvalidBlockList":
                    raise
                raise invalid(f"Multipart upload of '{rel}': upload '{upload_id}' has no such parts "
                              f"(never uploaded, or already completed)") from None

    def abort_multipart_upload(self, rel: str, upload_id: str) -> None:
        # Azure cannot delete staged blocks: it drops them at the blob's next commit, or
        # after a week.
        _check_upload_id(upload_id)

    def presigned_download(self, rel: str) -> tuple[str, int]:
        with self._failure(f"presigned download of '{rel}'"):
            blob = self._container.get_blob_client(object_key(self.prefix, rel))
            try:
                size = blob.get_blob_properties().size
            except ResourceNotFoundError as error:
                if error.error_code == "BlobNotFound":
                    raise not_found(f"No such artifact: '{rel}'") from None
                raise
            sas = self._sas(blob.blob_name, BlobSasPermissions(read=True), self.download_url_seconds,
                            content_disposition=attachment(rel))
        return f"{blob.url}?{sas}", size


def _block_id(upload: str, index: int) -> str:
    """Block ids unique to an upload: concurrent uploads of a blob never commit each other's
    blocks. Every id of a blob has the same length, as Azure requires."""
    return f"{upload}-{index:06d}"


def _wire_block_id(upload: str, index: int) -> str:
    """A block id as Put Block takes it (the SDK encodes the ids it is given likewise)."""
    return base64.b64encode(_block_id(upload, index).encode()).decode()


def _check_upload_id(upload_id: str) -> None:
    if not _UPLOAD_ID.fullmatch(upload_id):
        raise invalid(f"Invalid upload_id '{upload_id}': not one this server started")


def _account_key(connection_string: str) -> str | None:
    """The AccountKey of a connection string (None for one with a SAS token instead)."""
    fields = dict(field.split("=", 1) for field in connection_string.split(";") if "=" in field)
    return fields.get("AccountKey") or None


class _Download:
    """The SDK's download, read in ranges of CHUNK, with the close() the server calls."""

    def __init__(self, download):
        self.read = download.read

    def close(self) -> None:
        pass
