"""Tracking rules: what a client may send, defaults, and which store calls it takes."""
from __future__ import annotations

import pathlib
import time
import urllib.parse
from dataclasses import replace

from ..artifacts.credentials import refuse_password, without_password
from ..errors import invalid, not_found
from ..store.filters import ID_COMPARATORS, Clause
from ..store.tracking import ACTIVE, DELETED, RUN_NAME_TAG, VIEW_STAGES, TrackingStore
from . import validation as v
from .names import random_run_name
from .search import EXPERIMENT_ENTITY_ALIASES, admitted, parse_filter, parse_order_by

RUN_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
USER_TAG = "mlflow.user"
# experiments/search-datasets: experiment ids a request may name, summaries answered (as the official)
MAX_DATASET_SEARCH_EXPERIMENTS, MAX_DATASET_SUMMARIES = 20, 1000


def now_ms() -> int:
    return int(time.time() * 1000)


EXPERIMENT_IDS = range(2**63)  # what the experiments' id column holds (a 64-bit BIGINT)
NO_EXPERIMENT = -1  # an id no experiment has


def _experiment_number(value) -> int:
    """An experiment id's text as its number (400 when it is not an integer's)."""
    if value is None or value == "":
        raise invalid("Missing value for required parameter 'experiment_id'.")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid(f"Invalid experiment ID '{value}'. Experiment ID must be a valid integer.") from None


def experiment_id_arg(value) -> int:
    """The experiment a request names; one that cannot be ours is not found (404), as on the
    official server."""
    number = _experiment_number(value)
    if number not in EXPERIMENT_IDS:
        raise not_found(f"No Experiment with id={number} exists")
    return number


def searched_experiment_id(value) -> int:
    """An experiment id a search names; one that cannot be ours matches nothing."""
    number = _experiment_number(value)
    return number if number in EXPERIMENT_IDS else NO_EXPERIMENT


def _experiment_id_clause(clause: Clause) -> Clause:
    """Experiment filters name ids as quoted strings, as the official server reads them; they
    compare as numbers. Other comparators the store refuses."""
    if (clause.entity, clause.key) != ("attribute", "experiment_id") or clause.comparator not in ID_COMPARATORS:
        return clause
    if isinstance(clause.value, tuple):
        return replace(clause, value=tuple(searched_experiment_id(value) for value in clause.value))
    if not isinstance(clause.value, str):
        raise invalid(f"Expected a quoted string value for 'experiment_id', got {clause.value!r}")
    return replace(clause, value=searched_experiment_id(clause.value))


def _run_id(value) -> str:
    if not value:
        raise invalid("Missing value for required parameter 'run_id'.")
    return value


_VIEW_TYPE_NUMBERS = {"1": "ACTIVE_ONLY", "2": "DELETED_ONLY", "3": "ALL"}  # the proto enums' numbers
_RUN_STATUS_NUMBERS = {str(number): status for number, status in enumerate(RUN_STATUSES, 1)}


def _view_type(value) -> str:
    value = _VIEW_TYPE_NUMBERS.get(value, value) or "ACTIVE_ONLY"
    if value not in VIEW_STAGES:
        raise invalid(f"Invalid view type '{value}': use ACTIVE_ONLY, DELETED_ONLY or ALL")
    return value


def _model_id(item: dict) -> str:
    if not item.get("model_id"):
        raise invalid("Missing value for required parameter 'model_id' of a model input or output.")
    return item["model_id"]


def _metric_rows(items: list[dict]) -> tuple[list[tuple], list[tuple]]:
    """Run metric rows (key, value, timestamp, step), and for the items that name a model_id
    also logged-model metric rows (model_id, key, value, timestamp, step, dataset_name,
    dataset_digest)."""
    rows, model_rows = [], []
    for item in items:
        key, value, timestamp = item.get("key"), item.get("value"), item.get("timestamp")
        step = item.get("step") or 0
        v.check_metric(key, value, timestamp, step)
        rows.append((key, value, timestamp, step))
        if item.get("model_id"):
            dataset = [item.get("dataset_name") or None, item.get("dataset_digest") or None]
            for field, text in zip(("name", "digest"), dataset):
                if text and len(text) > v.DATASET_LIMITS[field]:
                    raise invalid(f"Metric '{key}': dataset_{field} of length {len(text)} exceeds the limit "
                                  f"of {v.DATASET_LIMITS[field]}.")
            model_rows.append((item["model_id"], key, value, timestamp, step, *dataset))
    return rows, model_rows


def _absolute_if_local(location: str) -> str:
    """A relative local path or file: URI made absolute against the server's working directory,
    as the official server stores it (mlflow.utils.uri.resolve_uri_if_local, on POSIX)."""
    parts = urllib.parse.urlsplit(location)
    if parts.scheme not in ("", "file"):
        return location
    path = urllib.parse.unquote(parts.path if parts.scheme else location)
    if path.startswith("/"):
        return location
    absolute = (pathlib.Path.cwd() / path).as_posix()
    return urllib.parse.urlunsplit(("file", None, absolute, parts.query, parts.fragment)) if parts.scheme else absolute


def _tag_pairs(items, limit: int, what: str) -> list[tuple[str, str]]:
    pairs = []
    for item in items or []:
        key = v.check_key(item.get("key"), what)
        pairs.append((key, v.check_value_length(item.get("value", ""), limit, what, key)))
    return pairs


class TrackingService:
    def __init__(self, store: TrackingStore, default_artifact_root: str):
        self.store = store
        self.default_artifact_root = without_password(default_artifact_root)

    # ------------------------------------------------------------ experiments

    def create_experiment(self, name, artifact_location, tag_items) -> str:
        name = v.check_experiment_name(name)
        tag_pairs = _tag_pairs(tag_items, v.MAX_EXPERIMENT_TAG_VALUE_LENGTH, "experiment tag")
        if artifact_location:
            refuse_password(artifact_location, "artifact_location")
            artifact_location = _absolute_if_local(artifact_location)
            if len(artifact_location) > v.MAX_ARTIFACT_LOCATION_LENGTH:
                raise invalid(f"Invalid artifact path length. The length of the artifact path cannot be greater "
                              f"than {v.MAX_ARTIFACT_LOCATION_LENGTH} characters.")
        return self.store.create_experiment(name, self.default_artifact_root, artifact_location or None,
                                            tag_pairs, now_ms())

    def get_experiment(self, experiment_id) -> dict:
        return self.store.get_experiment(experiment_id_arg(experiment_id))

    def get_experiment_by_name(self, name) -> dict:
        if not name:
            raise invalid("Missing value for required parameter 'experiment_name'.")
        return self.store.get_experiment_by_name(name)

    def rename_experiment(self, experiment_id, new_name) -> None:
        experiment_id = experiment_id_arg(experiment_id)
        if new_name:
            self.store.rename_experiment(experiment_id, v.check_experiment_name(new_name), now_ms())

    def delete_experiment(self, experiment_id) -> None:
        self.store.set_experiment_lifecycle(experiment_id_arg(experiment_id), DELETED, now_ms())

    def restore_experiment(self, experiment_id) -> None:
        self.store.set_experiment_lifecycle(experiment_id_arg(experiment_id), ACTIVE, now_ms())

    def set_experiment_tag(self, experiment_id, key, value) -> None:
        key = v.check_key(key, "experiment tag")
        value = v.check_value_length(value or "", v.MAX_EXPERIMENT_TAG_VALUE_LENGTH, "experiment tag", key)
        self.store.set_experiment_tag(experiment_id_arg(experiment_id), key, value)

    def delete_experiment_tag(self, experiment_id, key) -> None:
        self.store.set_experiment_tag(experiment_id_arg(experiment_id), v.check_key(key, "experiment tag"), None)

    def search_experiments(self, view_type, filter_text, order_by, max_results, page_token,
                           scope: Clause | None = None):
        """scope: a clause on experiment_id that keeps what the caller may read (with auth on)."""
        max_results = v.check_max_results(max_results, v.DEFAULT_SEARCH_RESULTS, v.MAX_SEARCH_RESULTS)
        clauses = [_experiment_id_clause(c) for c in parse_filter(filter_text, EXPERIMENT_ENTITY_ALIASES)]
        if scope is not None:
            clauses.append(_experiment_id_clause(scope))
        return self.store.search_experiments(
            _view_type(view_type), clauses, parse_order_by(order_by, EXPERIMENT_ENTITY_ALIASES), max_results,
            page_token)

    # ------------------------------------------------------------ runs

    def create_run(self, experiment_id, user_id, start_time, run_name, tag_items) -> dict:
        tag_pairs = _tag_pairs(tag_items, v.MAX_RUN_TAG_VALUE_LENGTH, "tag")
        tag_map = dict(tag_pairs)
        name_tag = tag_map.get(RUN_NAME_TAG)
        if run_name and name_tag and run_name != name_tag:
            raise invalid(f"Both 'run_name' argument and 'mlflow.runName' tag are specified, but with "
                          f"different values (run_name='{run_name}', mlflow.runName='{name_tag}').")
        run_name = run_name or name_tag or random_run_name()
        v.check_run_name(run_name)
        user_id = user_id or tag_map.get(USER_TAG) or ""
        if start_time is not None and start_time < 0:
            raise invalid(f"Invalid start_time {start_time}: must be non-negative")
        return self.store.create_run(experiment_id_arg(experiment_id or "0"), user_id,
                                     start_time if start_time is not None else now_ms(), run_name, tag_pairs)

    def get_run(self, run_id) -> dict:
        return self.store.get_run(_run_id(run_id))

    def update_run(self, run_id, status, end_time, run_name) -> dict:
        status = _RUN_STATUS_NUMBERS.get(status, status)
        if status is not None and status not in RUN_STATUSES:
            raise invalid(f"Invalid run status '{status}': use one of {', '.join(RUN_STATUSES)}")
        if end_time is not None and end_time < 0:
            raise invalid(f"Invalid end_time {end_time}: must be non-negative")
        v.check_run_name(run_name)
        return self.store.update_run(_run_id(run_id), status, end_time, run_name)

    def delete_run(self, run_id) -> None:
        self.store.set_run_lifecycle(_run_id(run_id), DELETED, now_ms())

    def restore_run(self, run_id) -> None:
        self.store.set_run_lifecycle(_run_id(run_id), ACTIVE, now_ms())

    def log_metric(self, run_id, metric: dict) -> None:
        """One metric (key, value, timestamp, step; model_id and dataset_* when logged for a model)."""
        rows, model_rows = _metric_rows([metric])
        self.store.log_batch(_run_id(run_id), rows, [], [], model_rows)

    def log_param(self, run_id, key, value) -> None:
        key = v.check_key(key, "param")
        value = v.check_value_length(value, v.MAX_PARAM_VALUE_LENGTH, "param", key)
        self.store.log_batch(_run_id(run_id), [], [(key, value)], [])

    def set_tag(self, run_id, key, value) -> None:
        key = v.check_key(key, "tag")
        value = v.check_value_length(value if value is not None else "", v.MAX_RUN_TAG_VALUE_LENGTH, "tag", key)
        self.store.log_batch(_run_id(run_id), [], [], [(key, value)])

    def delete_tag(self, run_id, key) -> None:
        self.store.delete_tag(_run_id(run_id), v.check_key(key, "tag"))

    def log_batch(self, run_id, metric_items, param_items, tag_items) -> None:
        metric_items, param_items, tag_items = metric_items or [], param_items or [], tag_items or []
        for items, limit, what in ((metric_items, v.MAX_BATCH_METRICS, "metrics"),
                                   (param_items, v.MAX_BATCH_PARAMS, "params"),
                                   (tag_items, v.MAX_BATCH_TAGS, "tags")):
            if len(items) > limit:
                raise invalid(f"A batch logging request can contain at most {limit} {what}. Got {len(items)} "
                              f"{what}. Please split up {what} across multiple requests and try again.")
        total = len(metric_items) + len(param_items) + len(tag_items)
        if total > v.MAX_BATCH_ENTITIES:
            raise invalid(f"A batch logging request can contain at most {v.MAX_BATCH_ENTITIES} metrics, params "
                          f"and tags in total. Got {total}.")
        metric_rows, model_metric_rows = _metric_rows(metric_items)
        param_pairs = _tag_pairs(param_items, v.MAX_PARAM_VALUE_LENGTH, "param")
        keys = [k for k, _ in param_pairs]
        if len(set(keys)) != len(keys):
            duplicates = sorted({k for k in keys if keys.count(k) > 1})
            raise invalid(f"Duplicate parameter keys have been submitted: {duplicates}. Please ensure "
                          f"the request contains only one param value per param key.")
        tag_pairs = _tag_pairs(tag_items, v.MAX_RUN_TAG_VALUE_LENGTH, "tag")
        if total:
            self.store.log_batch(_run_id(run_id), metric_rows, param_pairs, tag_pairs, model_metric_rows)
        else:
            self.get_run(run_id)

    def log_inputs(self, run_id, dataset_items, model_items) -> None:
        items = [(v.check_dataset(item.get("dataset")),
                  [v.check_input_tag(t.get("key"), t.get("value")) for t in item.get("tags") or []])
                 for item in dataset_items or []]
        model_ids = [_model_id(item) for item in model_items or []]
        if items or model_ids:
            self.store.log_inputs(_run_id(run_id), items, model_ids)
        else:
            self.get_run(run_id)

    def log_outputs(self, run_id, model_items) -> None:
        if not model_items:
            raise invalid("Missing value for required parameter 'models'.")
        outputs = [(_model_id(item), item.get("step") or 0) for item in model_items]
        self.store.log_outputs(_run_id(run_id), outputs)

    def metric_history_bulk_interval(self, run_ids, key, start_step, end_step, max_results):
        if not run_ids:
            raise invalid("Missing value for required parameter 'run_ids'.")
        if len(run_ids) > v.MAX_BULK_INTERVAL_RUNS:
            raise invalid(f"GetMetricHistoryBulkInterval request must specify at most "
                          f"{v.MAX_BULK_INTERVAL_RUNS} run_ids. Received {len(run_ids)} run_ids.")
        if not key:
            raise invalid("Missing value for required parameter 'metric_key'.")
        if (start_step is None) != (end_step is None):
            raise invalid("If either start step or end step are specified, both must be specified.")
        if start_step is not None and start_step > end_step:
            raise invalid(f"end_step must be greater than start_step. Found start_step={start_step} "
                          f"and end_step={end_step}.")
        if max_results is None:
            max_results = v.MAX_BULK_INTERVAL_RESULTS
        elif not 1 <= max_results <= v.MAX_BULK_INTERVAL_RESULTS:
            raise invalid(f"max_results must be between 1 and {v.MAX_BULK_INTERVAL_RESULTS}.")
        return self.store.sampled_history(list(dict.fromkeys(run_ids)), key, start_step, end_step, max_results)

    def metric_history(self, run_id, key, max_results, page_token):
        if not key:
            raise invalid("Missing value for required parameter 'metric_key'.")
        if max_results is not None and max_results < 1:  # any page size above, as the official server
            raise invalid(f"Invalid value {max_results} for parameter 'max_results' supplied. It must be at least 1.")
        return self.store.metric_history(_run_id(run_id), key, max_results, page_token)

    def search_runs(self, experiment_ids, filter_text, view_type, max_results, order_by, page_token,
                    scope: Clause | None = None):
        """scope: a clause on experiment_id that keeps what the caller may read (with auth on)."""
        max_results = v.check_max_results(max_results, v.DEFAULT_SEARCH_RESULTS, v.MAX_SEARCH_RESULTS)
        # none: no runs, but a bad filter is a 400
        ids = admitted(scope, [searched_experiment_id(e) for e in experiment_ids or []])
        return self.store.search_runs(ids, parse_filter(filter_text), _view_type(view_type), max_results,
                                      parse_order_by(order_by), page_token)

    def search_datasets(self, experiment_ids, scope: Clause | None = None) -> list[dict]:
        """The datasets the experiments' runs logged as inputs (the official UI's dataset
        filter). scope: a clause on experiment_id that keeps what the caller may read."""
        experiment_ids = experiment_ids or []
        if not experiment_ids:
            raise invalid("SearchDatasets request must specify at least one experiment_id.")
        if len(experiment_ids) > MAX_DATASET_SEARCH_EXPERIMENTS:
            raise invalid(f"SearchDatasets request cannot specify more than {MAX_DATASET_SEARCH_EXPERIMENTS} "
                          f"experiment_ids. Received {len(experiment_ids)} experiment_ids.")
        ids = admitted(scope, [searched_experiment_id(e) for e in experiment_ids])
        return self.store.search_datasets(ids, MAX_DATASET_SUMMARIES)
