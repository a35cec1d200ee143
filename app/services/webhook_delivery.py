"""Webhook delivery: signed HTTP POSTs to receivers that are not on this server's networks,
sent from background threads of the worker process.

- Signature (the official server's, after Standard Webhooks): X-MLflow-Delivery-Id (a UUID),
  X-MLflow-Timestamp (Unix seconds) and, when the webhook has a secret,
  X-MLflow-Signature: v1,<base64 HMAC-SHA256 of "<delivery id>.<timestamp>.<body>">.
- SSRF: every address the receiver's host resolves to must be public (not loopback,
  link-local, private, shared, multicast or reserved, also inside IPv4-mapped, 6to4 and NAT64
  IPv6 addresses), checked when connecting, and the connection goes to an address that was
  checked, so a DNS answer that changes after the check (rebinding) cannot redirect it.
  MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS lifts this. No proxy from the environment is used, and
  redirects are not followed (a 3xx answer is a failed delivery).
- Retries: a connection failure, a timeout, or an answer 429, 500, 502, 503 or 504 is retried
  up to MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES times after 1, 2, 4, ... s (at most 60, plus up to
  1 s of jitter, or the receiver's Retry-After), with the same delivery id, timestamp and
  signature, so a receiver can drop a repeat. Other answers are final.
- Queue: the request that caused an event hands it over after its transaction committed and
  returns at once; the worker's delivery threads look up the subscribed webhooks and send. The
  queue lives in memory: events not yet delivered when the worker process stops or crashes
  (a restart, a deploy, a retry still waiting) are lost, and deliveries may arrive out of order.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import http.client
import ipaddress
import logging
import queue
import random
import socket
import ssl
import threading
import time
import uuid
from urllib.parse import urlsplit


log = logging.getLogger(__name__)

RETRIED_STATUSES = (429, 500, 502, 503, 504)
MAX_BACKOFF = 60.0
MAX_RESPONSE_BODY = 64 * 1024  # of a receiver's answer kept for a test result
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclasses.dataclass(frozen=True)
class WebhookSettings:
    """The official server's variables, with its defaults."""
    encryption_key: str = ""  # Fernet key(s), comma-separated: the first encrypts, any decrypts
    allow_private_ips: bool = False
    allowed_schemes: tuple[str, ...] = ("https",)
    request_timeout: float = 30
    max_retries: int = 3
    delivery_workers: int = 10

    @property
    def schemes(self) -> list[str]:
        """The URL schemes webhooks may use: those allowed that this module speaks."""
        return [scheme for scheme in self.allowed_schemes if scheme in ("http", "https")]


class DeliveryError(Exception):
    """A delivery attempt failed; the message says why, for the log or a test result."""


class Refused(DeliveryError):
    """The receiver's address is not allowed: never retried."""


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.partition("%")[0])  # without an IPv6 zone
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        ip = embedded or ip
    return ip.is_global and not ip.is_multicast


def resolve(host: str, port: int, allow_private: bool) -> list[tuple]:
    """getaddrinfo's answers for the host, refused when any address is not public."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise DeliveryError(f"cannot resolve host '{host}': {error}") from None
    if not allow_private:
        for *_, sockaddr in answers:
            if not is_public(sockaddr[0]):
                raise Refused(f"host '{host}' resolves to {sockaddr[0]}, which is not a public address "
                              f"(loopback, link-local and private addresses need MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS)")
    return answers


def _connect(host: str, port: int, timeout: float, allow_private: bool) -> socket.socket:
    error = None
    for family, kind, protocol, _, sockaddr in resolve(host, port, allow_private):
        sock = socket.socket(family, kind, protocol)
        sock.settimeout(timeout)
        try:
            sock.connect(sockaddr)  # the address just checked: no second lookup
            return sock
        except OSError as failure:
            sock.close()
            error = failure
    raise DeliveryError(f"cannot connect to {host}:{port}: {error}")


class _Connection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int | None, settings: WebhookSettings):
        super().__init__(host, port, timeout=settings.request_timeout)
        self.allow_private = settings.allow_private_ips

    def connect(self):
        self.sock = _connect(self.host, self.port, self.timeout, self.allow_private)


class _TLSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int | None, settings: WebhookSettings):
        self.tls = ssl.create_default_context()
        super().__init__(host, port, timeout=settings.request_timeout, context=self.tls)
        self.allow_private = settings.allow_private_ips

    def connect(self):
        sock = _connect(self.host, self.port, self.timeout, self.allow_private)
        self.sock = self.tls.wrap_socket(sock, server_hostname=self.host)


def signed_headers(secret: str | None, body: str) -> dict:
    delivery_id, timestamp = str(uuid.uuid4()), str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-MLflow-Delivery-Id": delivery_id,
               "X-MLflow-Timestamp": timestamp}
    if secret:
        digest = hmac.new(secret.encode(), f"{delivery_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
        headers["X-MLflow-Signature"] = "v1," + base64.b64encode(digest).decode()
    return headers


def post(url: str, body: str, headers: dict, settings: WebhookSettings) -> tuple[int, str, str | None]:
    """One attempt: (status, the start of the answer's body, its Retry-After)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in settings.schemes:  # allowed when the webhook was made, not since
        raise Refused(f"the URL scheme '{scheme}' is not allowed (MLFLOW_WEBHOOK_ALLOWED_SCHEMES)")
    connection = (_TLSConnection if scheme == "https" else _Connection)(parts.hostname, parts.port, settings)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, body=body.encode(), headers={**headers, "Connection": "close"})
        response = connection.getresponse()
        text = response.read(MAX_RESPONSE_BODY).decode("utf-8", "replace")
        return response.status, text, response.getheader("Retry-After")
    except DeliveryError:
        raise
    except (OSError, http.client.HTTPException) as error:
        raise DeliveryError(f"POST {url} failed: {error or type(error).__name__}") from None
    finally:
        connection.close()


def _backoff(attempt: int, retry_after: str | None) -> float:
    if retry_after and retry_after.strip().isdigit():
        return min(float(retry_after), MAX_BACKOFF)
    return min(2.0 ** attempt, MAX_BACKOFF) + random.uniform(0, 1)


def deliver(webhook_id: str, url: str, secret: str | None, body: str, settings: WebhookSettings) -> bool:
    """Send with retries; whether the receiver accepted it (2xx). Failures are logged."""
    headers = signed_headers(secret, body)
    for attempt in range(settings.max_retries + 1):
        try:
            status, _, retry_after = post(url, body, headers, settings)
        except Refused as error:
            log.error("webhook %s: not delivered: %s", webhook_id, error)
            return False
        except DeliveryError as error:
            reason, retry_after = str(error), None
        else:
            if 200 <= status < 300:
                return True
            reason = f"{url} answered {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
            if status not in RETRIED_STATUSES:
                log.error("webhook %s: not delivered: %s", webhook_id, reason)
                return False
        if attempt == settings.max_retries:
            log.error("webhook %s: not delivered after %d attempts: %s", webhook_id, attempt + 1, reason)
            return False
        log.warning("webhook %s: attempt %d failed (%s); retrying", webhook_id, attempt + 1, reason)
        time.sleep(_backoff(attempt, retry_after))
    return False


class Deliveries:
    """This worker process's delivery threads, started at the first job (so after the fork).
    Daemon threads: a stopping worker does not wait for receivers."""

    def __init__(self, threads: int):
        self.threads = max(1, threads)
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.started = False
        self.lock = threading.Lock()

    def submit(self, job, *args) -> None:
        if not self.started:
            with self.lock:
                if not self.started:
                    for number in range(self.threads):
                        threading.Thread(target=self._work, name=f"webhook-delivery-{number}", daemon=True).start()
                    self.started = True
        self.jobs.put((job, args))

    def _work(self) -> None:
        while True:
            job, args = self.jobs.get()
            try:
                job(*args)
            except Exception:
                log.exception("webhook delivery job failed")
