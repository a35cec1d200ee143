"""MLflow 3 logged models. Creating and finalizing them is still to come (issue 4); the
client already searches them whenever it lists or downloads a run's artifacts."""
from __future__ import annotations

import base64
import json

import sqlalchemy as sa

from ..errors import invalid
from ..services.search import Clause
from .db import Database
from .schema import logged_models
from .search_sql import string_condition
from .tracking import ACTIVE

def _encode_offset_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_offset_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
        if not isinstance(offset, int) or offset < 0:
            raise ValueError
        return offset
    except (ValueError, KeyError, TypeError):
        raise invalid(f"Invalid page token '{token[:60]}'") from None


_STRING_FIELDS = {"name": logged_models.c.name, "model_id": logged_models.c.model_id,
                  "source_run_id": logged_models.c.source_run_id, "status": logged_models.c.status,
                  "model_type": logged_models.c.model_type}


class LoggedModelStore:
    def __init__(self, database: Database):
        self.db = database

    def search(self, experiment_ids: list[int], clauses: list[Clause], max_results: int,
               page_token: str | None) -> tuple[list[dict], str | None]:
        offset = _decode_offset_token(page_token)
        where = [logged_models.c.experiment_id.in_(experiment_ids), logged_models.c.lifecycle_stage == ACTIVE]
        for clause in clauses:
            column = _STRING_FIELDS.get(clause.key) if clause.entity == "attribute" else None
            if column is None:
                raise invalid(f"Filtering logged models on '{clause.key}' is not supported yet")
            where.append(string_condition(column, clause))
        query = (sa.select(logged_models).where(*where)
                 .order_by(logged_models.c.creation_timestamp_ms.desc(), logged_models.c.model_id)
                 .limit(max_results + 1).offset(offset))
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        token = _encode_offset_token(offset + max_results) if len(rows) > max_results else None
        return [self._model_json(r) for r in rows[:max_results]], token

    @staticmethod
    def _model_json(row) -> dict:
        info = {"model_id": row.model_id, "experiment_id": str(row.experiment_id), "name": row.name,
                "artifact_uri": row.artifact_location, "creation_timestamp_ms": row.creation_timestamp_ms,
                "last_updated_timestamp_ms": row.last_updated_timestamp_ms, "status": row.status}
        for field in ("model_type", "source_run_id", "status_message"):
            if getattr(row, field):
                info[field] = getattr(row, field)
        return {"info": info, "data": {}}
