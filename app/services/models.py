"""Rules for MLflow 3 logged models: names, statuses, limits, and what search accepts."""
from __future__ import annotations

import dataclasses

from ..errors import invalid
from ..store.filters import Clause
from ..store.models import PENDING, LoggedModelStore, ModelOrder
from . import validation as v
from .names import random_run_name
from .search import admitted, parse_filter
from .tracking import experiment_id_arg, now_ms, searched_experiment_id

DEFAULT_SEARCH_RESULTS = 100  # as the official server
MAX_NAME_LENGTH = 500
MAX_MODEL_TYPE_LENGTH = 500
NAME_FORBIDDEN = ("/", ":", ".", "%", '"', "'")  # a name becomes part of models:/ URIs
_STATUS_NAMES = (PENDING, "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED")  # enum numbers 1, 2, 3
# A status by enum name, enum number, or the Python client's short name (LoggedModelStatus).
STATUSES = {**{name: name for name in _STATUS_NAMES},
            **{str(number): name for number, name in enumerate(_STATUS_NAMES, 1)},
            "PENDING": _STATUS_NAMES[0], "READY": _STATUS_NAMES[1], "FAILED": _STATUS_NAMES[2]}
FINAL_STATUSES = _STATUS_NAMES[1:]
ENTITY_ALIASES = {"metric": "metric", "metrics": "metric", "param": "param", "params": "param",
                  "tag": "tag", "tags": "tag", "attribute": "attribute", "attributes": "attribute"}


def _model_id(value) -> str:
    if not value:
        raise invalid("Missing value for required parameter 'model_id'.")
    return value


def _name(value) -> str:
    if not value:
        return random_run_name()
    if len(value) > MAX_NAME_LENGTH or any(c in value for c in NAME_FORBIDDEN):
        raise invalid(f"Invalid model name '{value[:100]}': at most {MAX_NAME_LENGTH} characters, none of "
                      f"{' '.join(NAME_FORBIDDEN)}")
    return value


def _params(items) -> list[tuple[str, str]]:
    items = items or []
    if len(items) > v.MAX_BATCH_PARAMS:
        raise invalid(f"A request can log at most {v.MAX_BATCH_PARAMS} params of a logged model. Got "
                      f"{len(items)}; split them across several requests.")
    return [(v.check_key(item.get("key"), "param"),
             v.check_value_length(item.get("value"), v.MAX_PARAM_VALUE_LENGTH, "param", item.get("key")))
            for item in items]


def _tags(items) -> list[tuple[str, str]]:
    return [(v.check_key(item.get("key"), "tag"),
             v.check_value_length(item.get("value") or "", v.MAX_RUN_TAG_VALUE_LENGTH, "tag", item.get("key")))
            for item in items or []]


def _status_clause(clause: Clause) -> Clause:
    """status = 'READY' compares as the stored enum name LOGGED_MODEL_READY."""
    if clause.entity != "attribute" or clause.key != "status":
        return clause
    if isinstance(clause.value, tuple):
        return dataclasses.replace(clause, value=tuple(STATUSES.get(s, s) for s in clause.value))
    return dataclasses.replace(clause, value=STATUSES.get(clause.value, clause.value))


def _order(item: dict) -> ModelOrder:
    field = item.get("field_name")
    if not field:
        raise invalid("Missing value for required parameter 'order_by.field_name'.")
    entity, dot, key = field.partition(".")
    dataset_name, dataset_digest = item.get("dataset_name"), item.get("dataset_digest")
    if dataset_digest and not dataset_name:
        raise invalid(f"order_by '{field}': dataset_digest needs dataset_name")
    if dot and entity in ("metric", "metrics") and key:
        return ModelOrder(key, item.get("ascending", True), True, dataset_name, dataset_digest)
    if dot:
        raise invalid(f"Invalid order_by field '{field}': logged models sort by attributes and metrics.<key> only")
    if dataset_name:
        raise invalid(f"order_by '{field}': dataset_name applies to metrics only")
    return ModelOrder(field, item.get("ascending", True))


def _dataset(item: dict) -> tuple[str, str | None]:
    if not item.get("dataset_name"):
        raise invalid("Missing value for required parameter 'datasets.dataset_name'.")
    return item["dataset_name"], item.get("dataset_digest") or None


class ModelService:
    def __init__(self, store: LoggedModelStore):
        self.store = store

    def create_logged_model(self, experiment_id, name, model_type, source_run_id, param_items, tag_items) -> dict:
        if model_type and len(model_type) > MAX_MODEL_TYPE_LENGTH:
            raise invalid(f"Model type of length {len(model_type)} exceeds the limit of {MAX_MODEL_TYPE_LENGTH}.")
        if source_run_id and len(source_run_id) > 32:
            raise invalid(f"Invalid source_run_id '{source_run_id[:100]}': not a run id")
        return self.store.create(experiment_id_arg(experiment_id), _name(name), model_type or None,
                                 source_run_id or None, _params(param_items), _tags(tag_items), now_ms())

    def get_logged_model(self, model_id, allow_deleted: bool = False) -> dict:
        """The LoggedModel JSON {"info": ..., "data": ...}; 404 when missing or deleted
        (unless allow_deleted)."""
        return self.store.get(_model_id(model_id), bool(allow_deleted))

    def finalize_logged_model(self, model_id, status) -> dict:
        status = STATUSES.get(str(status or ""))
        if status not in FINAL_STATUSES:
            raise invalid(f"Invalid status for finalizing a logged model: use {' or '.join(FINAL_STATUSES)}")
        return self.store.finalize(_model_id(model_id), status, now_ms())

    def set_logged_model_tags(self, model_id, tag_items) -> None:
        tag_pairs = _tags(tag_items)
        if tag_pairs:
            self.store.set_tags(_model_id(model_id), tag_pairs)
        else:
            self.get_logged_model(model_id)

    def delete_logged_model_tag(self, model_id, key) -> None:
        self.store.delete_tag(_model_id(model_id), v.check_key(key, "tag"))

    def log_logged_model_params(self, model_id, param_items) -> None:
        param_pairs = _params(param_items)
        if param_pairs:
            self.store.log_params(_model_id(model_id), param_pairs)
        else:
            self.get_logged_model(model_id)

    def delete_logged_model(self, model_id) -> None:
        self.store.delete(_model_id(model_id), now_ms())

    def search_logged_models(self, experiment_ids, filter_text, datasets, max_results, order_by, page_token,
                             scope: Clause | None = None):
        """scope: a clause on experiment_id that keeps what the caller may read (with auth on)."""
        max_results = v.check_max_results(max_results, DEFAULT_SEARCH_RESULTS, v.MAX_SEARCH_RESULTS)
        if not experiment_ids:
            raise invalid("Missing value for required parameter 'experiment_ids'.")
        ids = admitted(scope, [searched_experiment_id(e) for e in experiment_ids])
        clauses = [_status_clause(c) for c in parse_filter(filter_text, ENTITY_ALIASES)]
        return self.store.search(ids, clauses, [_dataset(d) for d in datasets or []],
                                 [_order(item) for item in order_by or []], max_results, page_token)
