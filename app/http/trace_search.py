"""Trace search routes: v3 traces/search and the 2.x client's GET /api/2.0/mlflow/traces."""
from __future__ import annotations

from ..errors import invalid
from ..services.trace_search import TraceSearchService
from .access import LOCATIONS, SIGNED_IN, Access, Need
from .api import ENUM, INT, STR, Route, page
from .locations import searched_experiments

LOCATION = {"type": ENUM, "mlflow_experiment": {"experiment_id": STR}}
SEARCH = {"filter": STR, "max_results": INT, "order_by": [STR], "page_token": STR}


def routes(service: TraceSearchService) -> list[Route]:
    s = service

    def search_v3(r):
        """Experiment locations are searched; others (Unity Catalog tables) have no traces here."""
        locations = r.get("locations")
        if not locations:
            raise invalid("Missing value for required parameter 'locations'.")
        found, token = s.search(searched_experiments(locations), r.get("filter"), r.get("order_by"),
                                r.get("max_results"), r.get("page_token"))
        return page("traces", found, token)

    def search_v2(r):
        found, token = s.search_v2(r.get("experiment_ids"), r.get("filter"), r.get("order_by"),
                                   r.get("max_results"), r.get("page_token"))
        return page("traces", found, token)

    return [
        Route("POST", "/mlflow/traces/search", {"locations": [LOCATION], **SEARCH}, search_v3,
              Access(SIGNED_IN, (Need(LOCATIONS, "locations"),)), versions=("3.0",)),
        Route("GET", "/mlflow/traces", {"experiment_ids": [STR], **SEARCH}, search_v2,
              Access(SIGNED_IN, (Need(LOCATIONS, "experiment_ids"),))),
    ]
