"""The webhook store: registry webhooks and the events each one receives, in the registry's
database. Methods take and return dictionaries of the columns; the secret stays the token the
service encrypted it to, and the service decides what of a webhook a caller sees."""
from __future__ import annotations

import sqlalchemy as sa

from ..errors import not_found
from .db import Database
from .pages import decode_keyset_token, encode_keyset_token
from .schema import webhook_events, webhooks
from .search_sql import after

w, e = webhooks.c, webhook_events.c
_ORDER = [(w.creation_timestamp, False), (w.webhook_id, True)]  # newest first, as the official lists them
_LIST = ("webhooks",)  # the one listing page tokens belong to


class WebhookStore:
    def __init__(self, database: Database):
        self.db = database

    @staticmethod
    def _with_events(conn, rows) -> list[dict]:
        events: dict[str, list[str]] = {}
        ids = [row.webhook_id for row in rows]
        if ids:
            for webhook_id, event in conn.execute(sa.select(e.webhook_id, e.event).where(e.webhook_id.in_(ids))
                                                  .order_by(e.event)):
                events.setdefault(webhook_id, []).append(event)
        return [{**row._asdict(), "events": events.get(row.webhook_id, [])} for row in rows]

    def _get(self, conn, webhook_id: str) -> dict:
        row = conn.execute(sa.select(webhooks).where(w.webhook_id == webhook_id)).first()
        if row is None:
            raise not_found(f"Webhook with ID {webhook_id} not found.")
        return self._with_events(conn, [row])[0]

    def create(self, fields: dict, events: list[str]) -> dict:
        """fields: every column of webhooks."""
        def work(conn):
            conn.execute(webhooks.insert().values(**fields))
            conn.execute(webhook_events.insert(), [{"webhook_id": fields["webhook_id"], "event": x} for x in events])
            return self._get(conn, fields["webhook_id"])
        return self.db.write(work)

    def get(self, webhook_id: str) -> dict:
        with self.db.read() as conn:
            return self._get(conn, webhook_id)

    def list(self, max_results: int, page_token: str | None) -> tuple[list[dict], str | None]:
        query = sa.select(webhooks).order_by(w.creation_timestamp.desc(), w.webhook_id).limit(max_results + 1)
        if page_token:
            query = query.where(after(_ORDER, decode_keyset_token(page_token, _LIST, _ORDER)))
        with self.db.read() as conn:
            rows = conn.execute(query).all()
            token = None
            if len(rows) > max_results:
                rows = rows[:max_results]
                token = encode_keyset_token(_LIST, [rows[-1].creation_timestamp, rows[-1].webhook_id])
            return self._with_events(conn, rows), token

    def update(self, webhook_id: str, fields: dict, events: list[str] | None) -> dict:
        """fields: the columns to change; events: the new list, or None to keep it."""
        def work(conn):
            self._get(conn, webhook_id)
            conn.execute(webhooks.update().where(w.webhook_id == webhook_id).values(**fields))
            if events is not None:
                conn.execute(webhook_events.delete().where(e.webhook_id == webhook_id))
                conn.execute(webhook_events.insert(), [{"webhook_id": webhook_id, "event": x} for x in events])
            return self._get(conn, webhook_id)
        return self.db.write(work)

    def delete(self, webhook_id: str) -> None:
        def work(conn):
            if not conn.execute(webhooks.delete().where(w.webhook_id == webhook_id)).rowcount:
                raise not_found(f"Webhook with ID {webhook_id} not found.")
        self.db.write(work)

    def active_for(self, event: str) -> list[dict]:
        """The active webhooks subscribed to an event, with what delivery needs."""
        query = (sa.select(w.webhook_id, w.url, w.secret).join(webhook_events, e.webhook_id == w.webhook_id)
                 .where(e.event == event, w.status == "ACTIVE"))
        with self.db.read() as conn:
            return [row._asdict() for row in conn.execute(query)]
