"""Rules for MLflow 3 logged models."""
from __future__ import annotations

from ..store.models import LoggedModelStore
from . import validation as v
from .search import parse_filter
from .tracking import experiment_id_arg


class ModelService:
    def __init__(self, store: LoggedModelStore):
        self.store = store

    def search_logged_models(self, experiment_ids, filter_text, max_results, page_token):
        max_results = v.check_max_results(max_results, v.DEFAULT_SEARCH_RESULTS, v.MAX_SEARCH_RESULTS)
        ids = [experiment_id_arg(e) for e in experiment_ids or []]
        return self.store.search(ids, parse_filter(filter_text), max_results, page_token)
