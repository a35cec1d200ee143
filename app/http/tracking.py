"""Tracking routes: experiments, runs, params, metrics, tags, search."""
from __future__ import annotations

from ..errors import MlflowError, invalid
from ..services.tracking import TrackingService
from ..services.validation import MAX_BATCH_REQUEST_BYTES
from .access import (
    ANY_USER, CREATED_EXPERIMENT, DELETE, EXPERIMENT, EXPERIMENT_NAME, NAMED_MODELS, RUN,
    RUNS, SCOPE, SEARCH_SCOPE, UPDATE, Need, on, then,
)
from .api import DOUBLE, ENUM, INT, STR, TAG, Route, page

METRIC = {"key": STR, "value": DOUBLE, "timestamp": INT, "step": INT,
          "model_id": STR, "dataset_name": STR, "dataset_digest": STR}
RUN_ID = {"run_id": STR, "run_uuid": STR}
EXPERIMENT_ID = {"experiment_id": STR}
DATASET = {"name": STR, "digest": STR, "source_type": STR, "source": STR, "schema": STR, "profile": STR}
# the official UI's get-history-bulk: at most this many runs, and points in all
MAX_BULK_RUNS, MAX_BULK_POINTS = 100, 25_000


def _run_id(req: dict):
    return req.get("run_id") or req.get("run_uuid")


def routes(service: TrackingService) -> list[Route]:
    s = service

    def create_experiment(r):
        return {"experiment_id": s.create_experiment(r.get("name"), r.get("artifact_location"), r.get("tags"))}

    def search_experiments(r):
        found, token = s.search_experiments(r.get("view_type"), r.get("filter"), r.get("order_by"),
                                            r.get("max_results"), r.get("page_token"), r.get(SCOPE))
        return page("experiments", found, token)

    def search_runs(r):
        found, token = s.search_runs(r.get("experiment_ids"), r.get("filter"), r.get("run_view_type"),
                                     r.get("max_results"), r.get("order_by"), r.get("page_token"), r.get(SCOPE))
        return page("runs", found, token)

    def metric_history(r):
        found, token = s.metric_history(_run_id(r), r.get("metric_key"), r.get("max_results"),
                                        r.get("page_token"))
        return page("metrics", found, token)

    def metric_history_bulk(r):
        """Each run's points in (timestamp, step, value) order, runs by id, as the official server
        answers; runs that do not exist have none."""
        run_ids, key = sorted(set(r.get("run_id") or [])), r.get("metric_key")
        if not run_ids or len(run_ids) > MAX_BULK_RUNS:
            raise invalid(f"GetMetricHistoryBulk request must specify 1 to {MAX_BULK_RUNS} run_ids; "
                          f"received {len(run_ids)}.")
        if key is None:
            raise invalid("GetMetricHistoryBulk request must specify a metric_key.")
        limit = min(r.get("max_results") or MAX_BULK_POINTS, MAX_BULK_POINTS)
        metrics = []
        for run_id in run_ids:
            if len(metrics) >= limit:
                break
            try:
                points, _ = s.metric_history(run_id, key, limit - len(metrics), None)
            except MlflowError as error:
                if error.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
                points = []
            metrics += [{**point, "run_id": run_id} for point in points]
        return {"metrics": metrics}

    search_experiments_shape = {"max_results": INT, "page_token": STR, "filter": STR,
                                "order_by": [STR], "view_type": ENUM}
    experiment = on(EXPERIMENT, "experiment_id")
    edit_experiment = on(EXPERIMENT, "experiment_id", UPDATE)
    delete_experiment = on(EXPERIMENT, "experiment_id", DELETE)
    search_experiments_access = on(SEARCH_SCOPE, EXPERIMENT)
    read_run, edit_run = on(RUN, "run_id"), on(RUN, "run_id", UPDATE)
    # metrics, inputs and outputs may name logged models, in this run's experiment or another
    log_to_run = on(RUN, "run_id", UPDATE, Need(NAMED_MODELS, "metrics", UPDATE))
    return [
        # experiments
        Route("POST", "/mlflow/experiments/create",
              {"name": STR, "artifact_location": STR, "tags": [TAG]}, create_experiment,
              then(ANY_USER, CREATED_EXPERIMENT)),
        Route("GET", "/mlflow/experiments/get", EXPERIMENT_ID,
              lambda r: {"experiment": s.get_experiment(r.get("experiment_id"))}, experiment),
        Route("GET", "/mlflow/experiments/get-by-name", {"experiment_name": STR},
              lambda r: {"experiment": s.get_experiment_by_name(r.get("experiment_name"))},
              on(EXPERIMENT_NAME, "experiment_name")),
        Route("POST", "/mlflow/experiments/update", {"experiment_id": STR, "new_name": STR},
              lambda r: s.rename_experiment(r.get("experiment_id"), r.get("new_name")), edit_experiment),
        Route("POST", "/mlflow/experiments/delete", EXPERIMENT_ID,
              lambda r: s.delete_experiment(r.get("experiment_id")), delete_experiment),
        Route("POST", "/mlflow/experiments/restore", EXPERIMENT_ID,
              lambda r: s.restore_experiment(r.get("experiment_id")), delete_experiment),
        Route("POST", "/mlflow/experiments/set-experiment-tag", {"experiment_id": STR, "key": STR, "value": STR},
              lambda r: s.set_experiment_tag(r.get("experiment_id"), r.get("key"), r.get("value")),
              edit_experiment),
        Route("POST", "/mlflow/experiments/delete-experiment-tag", {"experiment_id": STR, "key": STR},
              lambda r: s.delete_experiment_tag(r.get("experiment_id"), r.get("key")), edit_experiment),
        Route("POST", "/mlflow/experiments/search", search_experiments_shape, search_experiments,
              search_experiments_access),
        Route("GET", "/mlflow/experiments/search", search_experiments_shape, search_experiments,
              search_experiments_access),
        # runs
        Route("POST", "/mlflow/runs/create",
              {"experiment_id": STR, "user_id": STR, "start_time": INT, "run_name": STR, "tags": [TAG]},
              lambda r: {"run": s.create_run(r.get("experiment_id"), r.get("user_id"), r.get("start_time"),
                                             r.get("run_name"), r.get("tags"))},
              on(EXPERIMENT, "experiment_id", UPDATE)),
        Route("GET", "/mlflow/runs/get", RUN_ID, lambda r: {"run": s.get_run(_run_id(r))}, read_run),
        Route("POST", "/mlflow/runs/update",
              {**RUN_ID, "status": ENUM, "end_time": INT, "run_name": STR},
              lambda r: {"run_info": s.update_run(_run_id(r), r.get("status"), r.get("end_time"),
                                                  r.get("run_name"))}, edit_run),
        Route("POST", "/mlflow/runs/delete", RUN_ID, lambda r: s.delete_run(_run_id(r)),
              on(RUN, "run_id", DELETE)),
        Route("POST", "/mlflow/runs/restore", RUN_ID, lambda r: s.restore_run(_run_id(r)),
              on(RUN, "run_id", DELETE)),
        Route("POST", "/mlflow/runs/log-metric", {**RUN_ID, **METRIC}, lambda r: s.log_metric(_run_id(r), r),
              on(RUN, "run_id", UPDATE, Need(NAMED_MODELS, "model_id", UPDATE))),
        Route("POST", "/mlflow/runs/log-parameter", {**RUN_ID, "key": STR, "value": STR},
              lambda r: s.log_param(_run_id(r), r.get("key"), r.get("value")), edit_run),
        Route("POST", "/mlflow/runs/set-tag", {**RUN_ID, "key": STR, "value": STR},
              lambda r: s.set_tag(_run_id(r), r.get("key"), r.get("value")), edit_run),
        Route("POST", "/mlflow/runs/delete-tag", {**RUN_ID, "key": STR},
              lambda r: s.delete_tag(_run_id(r), r.get("key")), edit_run),
        Route("POST", "/mlflow/runs/log-batch",
              {**RUN_ID, "metrics": [METRIC], "params": [TAG], "tags": [TAG]},
              lambda r: s.log_batch(_run_id(r), r.get("metrics"), r.get("params"), r.get("tags")),
              log_to_run, max_body=MAX_BATCH_REQUEST_BYTES),
        Route("GET", "/mlflow/metrics/get-history",
              {**RUN_ID, "metric_key": STR, "max_results": INT, "page_token": STR}, metric_history, read_run),
        Route("POST", "/mlflow/runs/log-inputs",
              {**RUN_ID, "datasets": [{"tags": [TAG], "dataset": DATASET}], "models": [{"model_id": STR}]},
              lambda r: s.log_inputs(_run_id(r), r.get("datasets"), r.get("models")),
              on(RUN, "run_id", UPDATE, Need(NAMED_MODELS, "models", UPDATE)), max_body=64 * 1024 * 1024),
        Route("POST", "/mlflow/runs/outputs", {"run_id": STR, "models": [{"model_id": STR, "step": INT}]},
              lambda r: s.log_outputs(r.get("run_id"), r.get("models")),
              on(RUN, "run_id", UPDATE, Need(NAMED_MODELS, "models", UPDATE))),
        Route("GET", "/mlflow/metrics/get-history-bulk-interval",
              {"run_ids": [STR], "metric_key": STR, "start_step": INT, "end_step": INT, "max_results": INT},
              lambda r: page("metrics", s.metric_history_bulk_interval(
                  r.get("run_ids"), r.get("metric_key"), r.get("start_step"), r.get("end_step"),
                  r.get("max_results")), None), on(RUNS, "run_ids")),
        Route("GET", "/mlflow/metrics/get-history-bulk", {"run_id": [STR], "metric_key": STR, "max_results": INT},
              metric_history_bulk, on(RUNS, "run_id")),
        Route("POST", "/mlflow/runs/search",
              {"experiment_ids": [STR], "filter": STR, "run_view_type": ENUM, "max_results": INT,
               "order_by": [STR], "page_token": STR}, search_runs, search_experiments_access),
        # the official UI's; the official serves it under /ajax-api only, this table under both
        Route("POST", "/mlflow/experiments/search-datasets", {"experiment_ids": [STR]},
              lambda r: page("dataset_summaries", s.search_datasets(r.get("experiment_ids"), r.get(SCOPE)), None),
              search_experiments_access),
    ]
