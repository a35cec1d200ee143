"""Registry webhooks (MLflow 3.3+): the rules of the webhook routes, the events the registry
emits, and their payloads, as the official server has them.

A webhook subscribes a URL to events named '<entity>.<action>' (EVENTS); on the wire an event
is {"entity": "MODEL_VERSION", "action": "CREATED"} (proto enum names).
Secrets are kept encrypted with Fernet under MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY (the official
server's variable and key format; several keys, comma-separated, let an operator rotate: the
first encrypts, any decrypts). Without a key a webhook cannot have a secret, rather than one
encrypted with a key that dies with the process. No answer ever contains a secret.
Delivery: app/services/webhook_delivery.py.
"""
from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import datetime, timezone
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from ..errors import invalid
from ..store.webhooks import WebhookStore
from . import validation as v
from .tracking import now_ms
from .webhook_delivery import DeliveryError, Deliveries, WebhookSettings, deliver, post, resolve, signed_headers

log = logging.getLogger(__name__)

# The official server's example payloads, sent by the test route.
EXAMPLES = {
    "registered_model.created": {"name": "example_model", "tags": {"example_key": "example_value"},
                                 "description": "An example registered model"},
    "model_version.created": {"name": "example_model", "version": "1", "source": "models:/123",
                              "run_id": "abcd1234abcd5678", "tags": {"example_key": "example_value"},
                              "description": "An example model version"},
    "model_version_tag.set": {"name": "example_model", "version": "1", "key": "example_key",
                              "value": "example_value"},
    "model_version_tag.deleted": {"name": "example_model", "version": "1", "key": "example_key"},
    "model_version_alias.created": {"name": "example_model", "alias": "example_alias", "version": "1"},
    "model_version_alias.deleted": {"name": "example_model", "alias": "example_alias"},
    "prompt.created": {"name": "example_prompt", "tags": {"example_key": "example_value"},
                       "description": "An example prompt"},
    "prompt_version.created": {"name": "example_prompt", "version": "1", "template": "Hello {{name}}!",
                               "tags": {"example_key": "example_value"},
                               "description": "An example prompt version"},
    "prompt_tag.set": {"name": "example_prompt", "key": "example_key", "value": "example_value"},
    "prompt_tag.deleted": {"name": "example_prompt", "key": "example_key"},
    "prompt_version_tag.set": {"name": "example_prompt", "version": "1", "key": "example_key",
                               "value": "example_value"},
    "prompt_version_tag.deleted": {"name": "example_prompt", "version": "1", "key": "example_key"},
    "prompt_alias.created": {"name": "example_prompt", "alias": "example_alias", "version": "1"},
    "prompt_alias.deleted": {"name": "example_prompt", "alias": "example_alias"},
}
EVENTS = tuple(EXAMPLES)
# the event of a change to a prompt, by that of the same change to a model
PROMPT_EVENTS = {"registered_model.created": "prompt.created", "model_version.created": "prompt_version.created",
                 "model_version_tag.set": "prompt_version_tag.set",
                 "model_version_tag.deleted": "prompt_version_tag.deleted",
                 "model_version_alias.created": "prompt_alias.created",
                 "model_version_alias.deleted": "prompt_alias.deleted"}
# (entity, action) as the wire names them; the official's budget_policy.exceeded belongs to its
# AI gateway, which this server does not have
_WIRE_EVENTS = {tuple(event.upper().split(".")): event for event in EVENTS}
STATUSES = ("ACTIVE", "DISABLED")

_NAME = re.compile(r"(?=.{1,63}$)[a-z0-9]([a-z0-9._-]*[a-z0-9])?", re.IGNORECASE)
MAX_URL_LENGTH, MAX_DESCRIPTION_LENGTH, MAX_SECRET_BYTES = 500, 1000, 500
DEFAULT_RESULTS, MAX_RESULTS = 100, 1000


def _status(value) -> str:
    if value not in STATUSES:
        raise invalid(f"Invalid webhook status '{str(value)[:50]}': use ACTIVE or DISABLED.")
    return value


def _event(item: dict) -> str:
    entity, action = item.get("entity"), item.get("action")
    event = _WIRE_EVENTS.get((entity, action))
    if event is None:
        raise invalid(f"Invalid webhook event: entity '{entity}', action '{action}'. Valid events are "
                      f"{', '.join(EVENTS)}, sent in upper case: {{\"entity\": \"MODEL_VERSION\", "
                      f"\"action\": \"CREATED\"}}.")
    return event


def _events(items) -> list[str]:
    if not items:
        raise invalid("Webhook events must be a non-empty list of events.")
    return list(dict.fromkeys(_event(item) for item in items))


def _name(value) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise invalid(f"Webhook name {str(value)[:80]!r} is invalid. It must start and end with a letter or digit, "
                      f"be less than 63 characters long, and contain only letters, digits, dots (.), "
                      f"underscores (_), and hyphens (-).")
    return value


def _description(value) -> str | None:
    if value is not None and len(value) > MAX_DESCRIPTION_LENGTH:
        raise invalid(f"Webhook description of {len(value)} characters exceeds the limit of {MAX_DESCRIPTION_LENGTH}.")
    return value or None


def _entity_action(event: str) -> dict:
    entity, action = event.split(".")
    return {"entity": entity.upper(), "action": action.upper()}


def _json(row: dict) -> dict:
    """A webhook as the API shows it: everything but the secret."""
    item = {"webhook_id": row["webhook_id"], "name": row["name"]}
    if row["description"]:
        item["description"] = row["description"]
    item.update(url=row["url"], events=[_entity_action(e) for e in row["events"]], status=row["status"],
                creation_timestamp=row["creation_timestamp"], last_updated_timestamp=row["last_updated_timestamp"])
    return item


def cipher(keys: str) -> MultiFernet | None:
    """What MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY names: Fernet keys, comma-separated (None
    without one). ValueError for a key that is not one."""
    try:
        return MultiFernet([Fernet(key.strip()) for key in keys.split(",") if key.strip()]) if keys.strip() else None
    except ValueError:
        raise ValueError("MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY: not a Fernet key (32 url-safe base64-encoded "
                         "bytes, e.g. from cryptography.fernet.Fernet.generate_key())") from None


def envelope(event: str, data: dict) -> str:
    """The body of a delivery, as the official server writes it."""
    entity, action = event.split(".")
    return json.dumps({"entity": entity, "action": action, "timestamp": datetime.now(timezone.utc).isoformat(),
                       "data": data})


class WebhookService:
    def __init__(self, store: WebhookStore, settings: WebhookSettings):
        self.store = store
        self.settings = settings
        self.cipher = cipher(settings.encryption_key)
        self.deliveries = Deliveries(settings.delivery_workers)

    # ------------------------------------------------------------ rules

    def _url(self, value) -> str:
        if not isinstance(value, str) or not value.strip():
            raise invalid("Missing value for required parameter 'url'.")
        if len(value) > MAX_URL_LENGTH:
            raise invalid(f"Webhook URL of {len(value)} characters exceeds the limit of {MAX_URL_LENGTH}.")
        try:
            parts = urlsplit(value)
            parts.port
        except ValueError as error:
            raise invalid(f"Invalid webhook URL: {error}") from None
        scheme = parts.scheme.lower()
        if scheme not in self.settings.schemes:
            raise invalid(f"Invalid webhook URL scheme: '{parts.scheme}'. Allowed schemes are: "
                          f"{', '.join(self.settings.schemes)}.")
        if "@" in parts.netloc:  # answers show the URL: credentials in it would leak
            raise invalid("Invalid webhook URL: it must not contain credentials; use the webhook's secret to "
                          "authenticate deliveries.")
        if not parts.hostname or any(c.isspace() or ord(c) < 32 for c in value):
            raise invalid("Invalid webhook URL: it needs a host and no spaces or control characters.")
        try:
            resolve(parts.hostname, parts.port or (443 if scheme == "https" else 80),
                    self.settings.allow_private_ips)
        except DeliveryError as error:
            raise invalid(f"Invalid webhook URL: {error}.") from None
        return value

    def _secret(self, value) -> str | None:
        if not value:
            return None
        if len(value.encode()) > MAX_SECRET_BYTES:
            raise invalid(f"Webhook secret exceeds the limit of {MAX_SECRET_BYTES} bytes.")
        if self.cipher is None:
            raise invalid("This server cannot store webhook secrets: its operator has not set "
                          "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY, the key secrets are encrypted with.")
        return self.cipher.encrypt(value.encode()).decode()

    def _decrypt(self, token: str | None) -> str | None:
        if token is None:
            return None
        try:
            return self.cipher.decrypt(token.encode()).decode()
        except (AttributeError, InvalidToken):  # no key, or not the key it was encrypted with
            raise DeliveryError("cannot decrypt the webhook's secret with MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY "
                                "(was the key changed?)") from None

    # ------------------------------------------------------------ routes

    def create(self, name, url, event_items, description, secret, status) -> dict:
        now = now_ms()
        fields = {"webhook_id": str(uuid.uuid4()), "name": _name(name), "url": self._url(url),
                  "description": _description(description), "secret": self._secret(secret),
                  "status": _status(status) if status else "ACTIVE",
                  "creation_timestamp": now, "last_updated_timestamp": now}
        return _json(self.store.create(fields, _events(event_items)))

    def get(self, webhook_id) -> dict:
        return _json(self.store.get(webhook_id or ""))

    def list(self, max_results, page_token) -> tuple[list[dict], str | None]:
        max_results = v.check_max_results(max_results or None, DEFAULT_RESULTS, MAX_RESULTS)
        rows, token = self.store.list(max_results, page_token)
        return [_json(row) for row in rows], token

    def update(self, webhook_id, fields: dict) -> dict:
        """fields: those the request sent. As officially, an empty name, URL or list of events
        changes nothing; an empty description or secret removes it."""
        changes = {"last_updated_timestamp": now_ms()}
        if fields.get("name"):
            changes["name"] = _name(fields["name"])
        if fields.get("url"):
            changes["url"] = self._url(fields["url"])
        if "description" in fields:
            changes["description"] = _description(fields["description"])
        if "secret" in fields:
            changes["secret"] = self._secret(fields["secret"])
        if fields.get("status"):
            changes["status"] = _status(fields["status"])
        events = _events(fields["events"]) if fields.get("events") else None
        return _json(self.store.update(webhook_id or "", changes, events))

    def delete(self, webhook_id) -> None:
        self.store.delete(webhook_id or "")

    def test(self, webhook_id, event_item) -> dict:
        """Send the example payload of an event (default: the webhook's first) once, now."""
        webhook = self.store.get(webhook_id or "")
        event = _event(event_item) if event_item else webhook["events"][0]
        body = envelope(event, EXAMPLES[event])
        try:
            status, text, _ = post(webhook["url"], body, signed_headers(self._decrypt(webhook["secret"]), body),
                                   self.settings)
        except DeliveryError as error:
            return {"success": False, "error_message": f"Failed to test webhook: {error}"}
        result = {"success": 200 <= status < 300, "response_status": status, "response_body": text}
        if 300 <= status < 400:
            result["error_message"] = "The receiver answered with a redirect, which is not followed."
        return result

    # ------------------------------------------------------------ events

    def emit(self, event: str, data: dict) -> None:
        """Hand an event over to the delivery threads; call after the change committed."""
        self.deliveries.submit(self._dispatch, event, envelope(event, data))

    def _dispatch(self, event: str, body: str) -> None:
        for webhook in self.store.active_for(event):
            try:
                secret = self._decrypt(webhook["secret"])
            except DeliveryError as error:
                log.error("webhook %s: not delivered: %s", webhook["webhook_id"], error)
                continue
            self.deliveries.submit(deliver, webhook["webhook_id"], webhook["url"], secret, body, self.settings)
