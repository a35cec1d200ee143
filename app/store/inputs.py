"""Run inputs: datasets (shared per experiment by name and digest) and their input tags."""
from __future__ import annotations

import uuid

import sqlalchemy as sa

from . import bulk
from .db import fetch_tuples
from .in_list import in_list
from .schema import datasets, run_input_tags, run_inputs

_DATASET_FIELDS = ("name", "digest", "source_type", "source", "schema", "profile")
CONTEXT_TAG = "mlflow.data.context"  # the input tag mlflow.log_input(..., context=) sets


def log_dataset_inputs(conn, experiment_id: int, run_id: str, items: list[tuple[dict, list]]) -> None:
    """Link datasets (dicts of _DATASET_FIELDS) with their input tags [(key, value)] to a run.
    A dataset already in the experiment (same name and digest) is reused as stored."""
    for dataset, tag_pairs in items:
        key = (datasets.c.experiment_id == experiment_id, datasets.c.name == dataset["name"],
               datasets.c.digest == dataset["digest"])
        bulk.insert_ignore(conn, datasets, ("dataset_uuid", "experiment_id", *_DATASET_FIELDS),
                           [(uuid.uuid4().hex, experiment_id, *(dataset.get(f) for f in _DATASET_FIELDS))])
        dataset_uuid = conn.execute(sa.select(datasets.c.dataset_uuid).where(*key)).scalar_one()
        linked = conn.execute(sa.select(run_inputs.c.run_uuid).where(
            run_inputs.c.run_uuid == run_id, run_inputs.c.dataset_uuid == dataset_uuid)).first()
        if linked:  # as the official server: an input logged again changes nothing, tags included
            continue
        bulk.insert_ignore(conn, run_inputs, ("run_uuid", "dataset_uuid"), [(run_id, dataset_uuid)])
        bulk.insert_ignore(conn, run_input_tags, ("run_uuid", "dataset_uuid", "key", "value"),
                           [(run_id, dataset_uuid, k, v) for k, v in tag_pairs])


_INPUTS = (
    sa.select(run_inputs.c.run_uuid, datasets.c.dataset_uuid, *(datasets.c[f] for f in _DATASET_FIELDS),
              run_input_tags.c.key, run_input_tags.c.value)
    .select_from(run_inputs.join(datasets, datasets.c.dataset_uuid == run_inputs.c.dataset_uuid)
                 .outerjoin(run_input_tags, sa.and_(run_input_tags.c.run_uuid == run_inputs.c.run_uuid,
                                                    run_input_tags.c.dataset_uuid == run_inputs.c.dataset_uuid)))
    .where(in_list(run_inputs.c.run_uuid, "ids"))
    .order_by(run_inputs.c.run_uuid, datasets.c.name, datasets.c.dataset_uuid, run_input_tags.c.key)
)


def dataset_inputs(conn, run_ids: list[str]) -> dict[str, list[dict]]:
    """{run id: [{"tags": [...], "dataset": {...}}]} for the runs that have inputs."""
    found: dict[str, dict[str, dict]] = {}
    for run_id, dataset_uuid, *values, tag_key, tag_value in fetch_tuples(conn, _INPUTS, {"ids": run_ids}):
        entry = found.setdefault(run_id, {}).get(dataset_uuid)
        if entry is None:
            dataset = {f: v for f, v in zip(_DATASET_FIELDS, values) if v is not None}
            entry = found[run_id][dataset_uuid] = {"dataset": dataset}
        if tag_key is not None:
            entry.setdefault("tags", []).append({"key": tag_key, "value": tag_value})
    return {run_id: list(entries.values()) for run_id, entries in found.items()}


_SUMMARIES = (
    sa.select(datasets.c.experiment_id, datasets.c.name, datasets.c.digest, run_input_tags.c.value).distinct()
    .select_from(datasets.join(run_inputs, run_inputs.c.dataset_uuid == datasets.c.dataset_uuid)
                 .outerjoin(run_input_tags, sa.and_(run_input_tags.c.run_uuid == run_inputs.c.run_uuid,
                                                    run_input_tags.c.dataset_uuid == run_inputs.c.dataset_uuid,
                                                    run_input_tags.c.key == CONTEXT_TAG)))
    .where(in_list(datasets.c.experiment_id, "ids"))
    .order_by(datasets.c.experiment_id, datasets.c.name, datasets.c.digest, run_input_tags.c.value)
)


def dataset_summaries(conn, experiment_ids: list[int], limit: int) -> list[dict]:
    """The distinct (experiment, name, digest, context) of the datasets that runs of the
    experiments, deleted ones included, logged as inputs, the first `limit` in that order; the
    context is the input's CONTEXT_TAG, absent when it has none."""
    return [{"experiment_id": str(experiment_id), "name": name, "digest": digest,
             **({"context": context} if context is not None else {})}
            for experiment_id, name, digest, context
            in fetch_tuples(conn, _SUMMARIES.limit(limit), {"ids": experiment_ids})]
