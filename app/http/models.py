"""Logged model routes (MLflow 3)."""
from __future__ import annotations

from ..services.models import ModelService
from .access import DELETE, EXPERIMENT, LOGGED_MODEL, RUN, SCOPE, SEARCH_SCOPE, UPDATE, Need, on
from .api import BOOL, ENUM, INT, STR, TAG, Route, page

ORDER_BY = {"field_name": STR, "ascending": BOOL, "dataset_name": STR, "dataset_digest": STR}
DATASET = {"dataset_name": STR, "dataset_digest": STR}
MODEL = "/mlflow/logged-models/{model_id}"


def routes(service: ModelService) -> list[Route]:
    s = service

    def create(r):
        return {"model": s.create_logged_model(r.get("experiment_id"), r.get("name"), r.get("model_type"),
                                               r.get("source_run_id"), r.get("params"), r.get("tags"))}

    def search(r):
        return page("models", *s.search_logged_models(r.get("experiment_ids"), r.get("filter"), r.get("datasets"),
                                                      r.get("max_results"), r.get("order_by"), r.get("page_token"),
                                                      r.get(SCOPE)))

    read, edit = on(LOGGED_MODEL, "model_id"), on(LOGGED_MODEL, "model_id", UPDATE)
    return [
        Route("POST", "/mlflow/logged-models",
              {"experiment_id": STR, "name": STR, "model_type": STR, "source_run_id": STR, "params": [TAG],
               "tags": [TAG]}, create, on(EXPERIMENT, "experiment_id", UPDATE, Need(RUN, "source_run_id"))),
        Route("GET", MODEL, {"allow_deleted": BOOL},
              lambda r: {"model": s.get_logged_model(r["model_id"], r.get("allow_deleted"))}, read),
        Route("PATCH", MODEL, {"status": ENUM},
              lambda r: {"model": s.finalize_logged_model(r["model_id"], r.get("status"))}, edit),
        Route("DELETE", MODEL, {}, lambda r: s.delete_logged_model(r["model_id"]),
              on(LOGGED_MODEL, "model_id", DELETE)),
        Route("PATCH", f"{MODEL}/tags", {"tags": [TAG]},
              lambda r: s.set_logged_model_tags(r["model_id"], r.get("tags")), edit),
        Route("DELETE", f"{MODEL}/tags/{{tag_key:path}}", {},
              lambda r: s.delete_logged_model_tag(r["model_id"], r["tag_key"]), edit),
        Route("POST", f"{MODEL}/params", {"params": [TAG]},
              lambda r: s.log_logged_model_params(r["model_id"], r.get("params")), edit),
        Route("POST", "/mlflow/logged-models/search",
              {"experiment_ids": [STR], "filter": STR, "datasets": [DATASET], "max_results": INT,
               "order_by": [ORDER_BY], "page_token": STR}, search, on(SEARCH_SCOPE, EXPERIMENT)),
    ]
