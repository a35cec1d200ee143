"""Logged model routes (MLflow 3)."""
from __future__ import annotations

from ..services.models import ModelService
from .api import BOOL, INT, STR, Route

ORDER_BY = {"field_name": STR, "ascending": BOOL, "dataset_name": STR, "dataset_digest": STR}


def routes(service: ModelService) -> list[Route]:
    def search(r):
        found, token = service.search_logged_models(r.get("experiment_ids"), r.get("filter"),
                                                    r.get("max_results"), r.get("page_token"))
        response = {"models": found} if found else {}
        if token:
            response["next_page_token"] = token
        return response

    return [Route("POST", "/mlflow/logged-models/search",
                  {"experiment_ids": [STR], "filter": STR, "max_results": INT, "order_by": [ORDER_BY],
                   "page_token": STR}, search)]
