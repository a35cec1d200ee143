"""Registry webhook routes (MLflow 3.3+): create, list, get, update, delete and test. Admins
only, as under the official server's basic-auth."""
from __future__ import annotations

from ..services.webhooks import WebhookService
from .access import ADMIN_ONLY
from .api import INT, STR, Route, page

EVENT = {"entity": STR, "action": STR}
FIELDS = {"name": STR, "url": STR, "events": [EVENT], "description": STR, "secret": STR, "status": STR}


def routes(service: WebhookService) -> list[Route]:
    s = service
    base, one = "/mlflow/webhooks", "/mlflow/webhooks/{webhook_id}"
    return [
        Route("POST", base, FIELDS, lambda r: {"webhook": s.create(
            r.get("name"), r.get("url"), r.get("events"), r.get("description"), r.get("secret"), r.get("status"))},
              ADMIN_ONLY),
        Route("GET", base, {"max_results": INT, "page_token": STR},
              lambda r: page("webhooks", *s.list(r.get("max_results"), r.get("page_token"))), ADMIN_ONLY),
        Route("GET", one, {}, lambda r: {"webhook": s.get(r.get("webhook_id"))}, ADMIN_ONLY),
        Route("PATCH", one, FIELDS, lambda r: {"webhook": s.update(r.get("webhook_id"), r)}, ADMIN_ONLY),
        Route("DELETE", one, {}, lambda r: s.delete(r.get("webhook_id")), ADMIN_ONLY),
        Route("POST", f"{one}/test", {"event": EVENT},
              lambda r: {"result": s.test(r.get("webhook_id"), r.get("event"))}, ADMIN_ONLY),
    ]
