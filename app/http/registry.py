"""Model registry routes: registered models, model versions, tags, aliases, stages (prompts
are registry entries too)."""
from __future__ import annotations

from ..services.registry import RegistryService
from .access import (
    ANY_USER, CREATED_MODEL, DELETE, DELETED_MODEL, LOGGED_MODEL, MODEL_SOURCE, REGISTERED_MODEL, RENAMED_MODEL,
    RUN, SCOPE, SEARCH_SCOPE, UPDATE, Need, on, then,
)
from .api import BOOL, INT, STR, TAG, Route, page

NAME = {"name": STR}
VERSION = {"name": STR, "version": STR}
ALIAS = {"name": STR, "alias": STR}
SEARCH = {"filter": STR, "max_results": INT, "order_by": [STR], "page_token": STR}


def routes(service: RegistryService) -> list[Route]:
    s = service

    def search_models(r):
        return page("registered_models", *s.search_registered_models(
            r.get("filter"), r.get("max_results"), r.get("order_by"), r.get("page_token"), r.get(SCOPE)))

    def search_versions(r):
        return page("model_versions", *s.search_model_versions(
            r.get("filter"), r.get("max_results"), r.get("order_by"), r.get("page_token"), r.get(SCOPE)))

    def latest_versions(r):
        return page("model_versions", s.get_latest_versions(r.get("name"), r.get("stages")), None)

    def create_version(r):
        return {"model_version": s.create_model_version(
            r.get("name"), r.get("source"), r.get("run_id"), r.get("tags"), r.get("run_link"),
            r.get("description"), r.get("model_id"))}

    latest_shape = {"name": STR, "stages": [STR]}
    rm, mv = "/mlflow/registered-models", "/mlflow/model-versions"
    read, edit = on(REGISTERED_MODEL, "name"), on(REGISTERED_MODEL, "name", UPDATE)
    delete = on(REGISTERED_MODEL, "name", DELETE)
    scoped = on(SEARCH_SCOPE, REGISTERED_MODEL)
    # what a new version reads (its source, run and logged model) must be readable by whoever registers it
    register = on(REGISTERED_MODEL, "name", UPDATE, Need(MODEL_SOURCE, "source"), Need(RUN, "run_id"),
                  Need(LOGGED_MODEL, "model_id"))
    return [
        # registered models
        Route("POST", f"{rm}/create", {"name": STR, "tags": [TAG], "description": STR},
              lambda r: {"registered_model": s.create_registered_model(r.get("name"), r.get("tags"),
                                                                       r.get("description"))},
              then(ANY_USER, CREATED_MODEL)),
        Route("GET", f"{rm}/get", NAME, lambda r: {"registered_model": s.get_registered_model(r.get("name"))}, read),
        Route("POST", f"{rm}/rename", {"name": STR, "new_name": STR},
              lambda r: {"registered_model": s.rename_registered_model(r.get("name"), r.get("new_name"))},
              then(edit, RENAMED_MODEL)),
        Route("PATCH", f"{rm}/update", {"name": STR, "description": STR},
              lambda r: {"registered_model": s.update_registered_model(r.get("name"), r.get("description"))}, edit),
        Route("DELETE", f"{rm}/delete", NAME, lambda r: s.delete_registered_model(r.get("name")),
              then(delete, DELETED_MODEL)),
        Route("POST", f"{rm}/set-tag", {"name": STR, "key": STR, "value": STR},
              lambda r: s.set_registered_model_tag(r.get("name"), r.get("key"), r.get("value")), edit),
        Route("DELETE", f"{rm}/delete-tag", {"name": STR, "key": STR},
              lambda r: s.delete_registered_model_tag(r.get("name"), r.get("key")), edit),
        Route("GET", f"{rm}/search", SEARCH, search_models, scoped),
        Route("GET", f"{rm}/get-latest-versions", latest_shape, latest_versions, read),
        Route("POST", f"{rm}/get-latest-versions", latest_shape, latest_versions, read),
        # aliases
        Route("POST", f"{rm}/alias", {**ALIAS, "version": STR},
              lambda r: s.set_alias(r.get("name"), r.get("alias"), r.get("version")), edit),
        Route("GET", f"{rm}/alias", ALIAS,
              lambda r: {"model_version": s.version_by_alias(r.get("name"), r.get("alias"))}, read),
        Route("DELETE", f"{rm}/alias", ALIAS, lambda r: s.delete_alias(r.get("name"), r.get("alias")), delete),
        # model versions
        Route("POST", f"{mv}/create",
              {"name": STR, "source": STR, "run_id": STR, "tags": [TAG], "run_link": STR, "description": STR,
               "model_id": STR}, create_version, register),
        Route("GET", f"{mv}/get", VERSION,
              lambda r: {"model_version": s.get_model_version(r.get("name"), r.get("version"))}, read),
        Route("PATCH", f"{mv}/update", {**VERSION, "description": STR},
              lambda r: {"model_version": s.update_model_version(r.get("name"), r.get("version"),
                                                                 r.get("description"))}, edit),
        Route("DELETE", f"{mv}/delete", VERSION, lambda r: s.delete_model_version(r.get("name"), r.get("version")),
              delete),
        Route("POST", f"{mv}/set-tag", {**VERSION, "key": STR, "value": STR},
              lambda r: s.set_model_version_tag(r.get("name"), r.get("version"), r.get("key"), r.get("value")),
              edit),
        Route("DELETE", f"{mv}/delete-tag", {**VERSION, "key": STR},
              lambda r: s.delete_model_version_tag(r.get("name"), r.get("version"), r.get("key")), delete),
        Route("POST", f"{mv}/transition-stage", {**VERSION, "stage": STR, "archive_existing_versions": BOOL},
              lambda r: {"model_version": s.transition_stage(r.get("name"), r.get("version"), r.get("stage"),
                                                             r.get("archive_existing_versions"))}, edit),
        Route("GET", f"{mv}/search", SEARCH, search_versions, scoped),
        Route("GET", f"{mv}/get-download-uri", VERSION,
              lambda r: {"artifact_uri": s.download_uri(r.get("name"), r.get("version"))}, read),
    ]
