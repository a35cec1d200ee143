"""What a resource belongs to, for permissions: the experiment of a run, a logged model, a trace
or an artifact location, an experiment's id by name, and which registered models are prompts."""
from __future__ import annotations

import sqlalchemy as sa

from .db import Database
from .in_list import in_list
from .registry import PROMPT_TAG
from .schema import experiments, logged_models, registered_model_tags, registered_models, runs, trace_info


class Owners:
    def __init__(self, tracking: Database | None, registry: Database | None):
        """None, None: an artifacts-only server's, which knows no experiments' locations."""
        self.tracking = tracking
        self.registry = registry

    def _pairs(self, database: Database, query, ids: list[str]) -> dict:
        with database.read() as conn:
            return dict(conn.execute(query, {"ids": ids}).all()) if ids else {}

    def run_experiments(self, run_ids: list[str]) -> dict[str, int]:
        return self._pairs(self.tracking, _RUN_EXPERIMENTS, run_ids)

    def model_experiments(self, model_ids: list[str]) -> dict[str, int]:
        return self._pairs(self.tracking, _MODEL_EXPERIMENTS, model_ids)

    def trace_experiments(self, trace_ids: list[str]) -> dict[str, int]:
        return self._pairs(self.tracking, _TRACE_EXPERIMENTS, trace_ids)

    def experiment_named(self, name: str) -> int | None:
        with self.tracking.read() as conn:
            return conn.execute(sa.select(experiments.c.experiment_id).where(experiments.c.name == name)).scalar()

    def experiment_at(self, locations: list[str]) -> int | None:
        """The experiment whose artifact location is one of `locations` (the longest wins)."""
        if self.tracking is None:
            return None
        query = (sa.select(experiments.c.experiment_id).where(experiments.c.artifact_location.in_(locations))
                 .order_by(sa.func.length(experiments.c.artifact_location).desc()).limit(1))
        with self.tracking.read() as conn:
            return conn.execute(query).scalar()

    def prompts(self, names: list[str]) -> set[str]:
        """Those of the registered models named that are prompts."""
        rm, tags = registered_models.c, registered_model_tags.c
        query = (sa.select(rm.name).join(registered_model_tags, tags.registered_model_id == rm.id)
                 .where(in_list(rm.name, "ids"), tags.key == PROMPT_TAG, sa.func.lower(tags.value) == "true"))
        if not names:
            return set()
        with self.registry.read() as conn:
            return set(conn.execute(query, {"ids": names}).scalars())

    def model_names(self) -> dict[str, bool]:
        """Every registered model's name, and whether it is a prompt."""
        rm, tags = registered_models.c, registered_model_tags.c
        prompt = sa.exists().where(tags.registered_model_id == rm.id, tags.key == PROMPT_TAG,
                                   sa.func.lower(tags.value) == "true")
        with self.registry.read() as conn:
            return dict(conn.execute(sa.select(rm.name, prompt)).all())


_RUN_EXPERIMENTS = sa.select(runs.c.run_uuid, runs.c.experiment_id).where(in_list(runs.c.run_uuid, "ids"))
_MODEL_EXPERIMENTS = sa.select(logged_models.c.model_id, logged_models.c.experiment_id).where(
    in_list(logged_models.c.model_id, "ids"))
_TRACE_EXPERIMENTS = sa.select(trace_info.c.trace_id, trace_info.c.experiment_id).where(
    in_list(trace_info.c.trace_id, "ids"))
