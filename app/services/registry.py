"""Model registry rules: names, versions, stages, aliases, tags, searches and sources.

Runs and logged models live in the tracking store, which may be another database than the
registry's (--registry-store-uri): sources are resolved through the tracking and model
services, never by reading their tables. A version registered from a logged model is added to
the model's mlflow.modelVersions tag, as the official server does.

Writes emit the webhook events the official server emits (app/services/webhooks.py), after
their transaction committed, with its payloads: a prompt's events are prompt_* ones, and its
payloads leave out the tags that mark it as a prompt.
"""
from __future__ import annotations

import json
import logging
import re

from ..errors import MlflowError, invalid, not_found
from ..store.filters import Clause
from ..store.registry import PROMPT_TAG, STAGES, RegistryStore
from . import sources
from . import validation as v
from .models import ModelService
from .search import EXPERIMENT_ENTITY_ALIASES, parse_filter, parse_order_by
from .tracking import TrackingService, now_ms
from .webhooks import PROMPT_EVENTS, WebhookService

MAX_NAME_LENGTH = 256
MAX_DESCRIPTION_LENGTH = 5000
MAX_MODEL_TAG_VALUE_LENGTH = 5000
MAX_VERSION_TAG_VALUE_LENGTH = 100_000  # prompt templates live in a version tag
MAX_RUN_LINK_LENGTH = 500
MAX_ALIAS_LENGTH = 255
DEFAULT_MODEL_RESULTS, MAX_MODEL_RESULTS = 100, 1000
DEFAULT_VERSION_RESULTS, MAX_VERSION_RESULTS = 10_000, 200_000
ACTIVE_STAGES = ("Staging", "Production")
_ALIAS = re.compile(r"[\w\-]*")
_VERSION_ALIAS = re.compile(r"v\d+", re.IGNORECASE)
_STAGE_NAMES = {stage.lower(): stage for stage in STAGES}
log = logging.getLogger(__name__)
PROMPT_TEXT_TAG, PROMPT_TYPE_TAG = "mlflow.prompt.text", "_mlflow_prompt_type"
MODEL_VERSIONS_TAG = "mlflow.modelVersions"  # a logged model's registered versions, as JSON


def _name(value, field: str = "name") -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"Missing value for required parameter '{field}'.")
    if "/" in value or ":" in value:
        raise invalid(f"Invalid model name '{value}'. Names cannot contain '/' or ':'.")
    if value in (".", "..") or len(value) > MAX_NAME_LENGTH:
        raise invalid(f"Invalid model name '{value[:60]}': it must not be '.' or '..' and at most "
                      f"{MAX_NAME_LENGTH} characters long.")
    return value


def _version(value) -> int:
    if value is None or value == "":
        raise invalid("Missing value for required parameter 'version'.")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid(f"Parameter 'version' must be an integer, got '{value}'.") from None
    if not 0 < number < 2**31:  # beyond the column's range: it cannot exist
        raise not_found(f"Model Version (version={value}) not found")
    return number


def _text(value, limit: int, what: str) -> str | None:
    if value is not None and len(value) > limit:
        raise invalid(f"{what} of {len(value)} characters exceeds the limit of {limit}.")
    return value or None


def _tag(key, value, limit: int, what: str) -> tuple[str, str]:
    key = v.check_key(key, what)
    return key, v.check_value_length("" if value is None else value, limit, what, key)


def _alias(value) -> str:
    if not value:
        raise invalid("Registered model alias name cannot be empty.")
    if not _ALIAS.fullmatch(value):
        raise invalid(f"Invalid alias name: '{value}'. Names may only contain alphanumerics, underscores (_) "
                      f"and dashes (-).")
    if len(value) > MAX_ALIAS_LENGTH:
        raise invalid(f"Alias name '{value[:50]}...' is {len(value)} characters long; the limit is "
                      f"{MAX_ALIAS_LENGTH}.")
    return value


def _stage(value) -> str:
    stage = _STAGE_NAMES.get(str(value or "").strip().lower())
    if stage is None:
        raise invalid(f"Invalid Model Version stage: '{value}'. Value must be one of {', '.join(STAGES)}.")
    return stage


def _is_prompt(tags: list[tuple[str, str]]) -> bool:
    return dict(tags).get(PROMPT_TAG, "").lower() == "true"


def _payload_tags(tags: list[tuple[str, str]], prompt: bool, *more: str) -> dict:
    """A webhook payload's tags: a prompt's without those that mark it as one (and `more`)."""
    hidden = (PROMPT_TAG, PROMPT_TYPE_TAG, *more) if prompt else ()
    return {key: value for key, value in tags if key not in hidden}


def _unresolved(location: str) -> bool:
    """A stored runs:/ source, kept as given because its run did not exist at registration."""
    return location[:5].lower() == "runs:"


def _prompt_scope(clauses: list[Clause]) -> tuple[list[Clause], bool]:
    """Searches return models, not prompts, unless the filter asks for prompts with
    tags.`mlflow.prompt.is_prompt` = 'true' (or != 'false'), as the official server decides;
    otherwise that tag's conditions give way to leaving prompts out."""
    for clause in clauses:
        if clause.entity == "tag" and clause.key == PROMPT_TAG and isinstance(clause.value, str):
            value = clause.value.lower()
            if (clause.comparator, value) in (("=", "true"), ("!=", "false")):
                return clauses, True
            break
    return [c for c in clauses if not (c.entity == "tag" and c.key == PROMPT_TAG)], False


class RegistryService:
    def __init__(self, store: RegistryStore, tracking: TrackingService, models: ModelService,
                 policy: sources.SourcePolicy, webhooks: WebhookService):
        self.store = store
        self.tracking = tracking
        self.models = models
        self.policy = policy
        self.webhooks = webhooks

    def _emit(self, prompt: bool, event: str, data: dict) -> None:
        """A model's event, or its prompt's twin."""
        self.webhooks.emit(PROMPT_EVENTS[event] if prompt else event, data)

    # ------------------------------------------------------------ registered models

    def create_registered_model(self, name, tag_items, description) -> dict:
        tags = [_tag(t.get("key"), t.get("value"), MAX_MODEL_TAG_VALUE_LENGTH, "registered model tag")
                for t in tag_items or []]
        model = self.store.create_registered_model(
            _name(name), _text(description, MAX_DESCRIPTION_LENGTH, "Description"), tags, now_ms())
        prompt = _is_prompt(tags)
        self._emit(prompt, "registered_model.created",
                   {"name": model["name"], "tags": _payload_tags(tags, prompt), "description": description or ""})
        return model

    def get_registered_model(self, name) -> dict:
        return self.store.get_registered_model(_name(name))

    def rename_registered_model(self, name, new_name) -> dict:
        return self.store.rename_registered_model(_name(name), _name(new_name, "new_name"), now_ms())

    def update_registered_model(self, name, description) -> dict:
        return self.store.update_registered_model(
            _name(name), _text(description, MAX_DESCRIPTION_LENGTH, "Description"), now_ms())

    def delete_registered_model(self, name) -> None:
        self.store.delete_registered_model(_name(name))

    def set_registered_model_tag(self, name, key, value) -> None:
        name, (key, value) = _name(name), _tag(key, value, MAX_MODEL_TAG_VALUE_LENGTH, "registered model tag")
        if self.store.set_registered_model_tag(name, key, value):  # models have no tag events
            self.webhooks.emit("prompt_tag.set", {"name": name, "key": key, "value": value})

    def delete_registered_model_tag(self, name, key) -> None:
        name, key = _name(name), v.check_key(key, "registered model tag")
        if self.store.set_registered_model_tag(name, key, None):
            self.webhooks.emit("prompt_tag.deleted", {"name": name, "key": key})

    def search_registered_models(self, filter_text, max_results, order_by, page_token, scope: Clause | None = None):
        """scope: a clause on name that keeps what the caller may read (with auth on)."""
        max_results = v.check_max_results(max_results, DEFAULT_MODEL_RESULTS, MAX_MODEL_RESULTS)
        clauses = parse_filter(filter_text, EXPERIMENT_ENTITY_ALIASES) + ([scope] if scope else [])
        clauses, prompts = _prompt_scope(clauses)
        order = parse_order_by(order_by, EXPERIMENT_ENTITY_ALIASES)
        return self.store.search_registered_models(clauses, prompts, order, max_results, page_token)

    def get_latest_versions(self, name, stages) -> list[dict]:
        wanted = tuple(dict.fromkeys(_stage(s) for s in stages)) if stages else STAGES
        return self.store.latest_versions(_name(name), wanted)

    # ------------------------------------------------------------ aliases

    def set_alias(self, name, alias, version) -> None:
        alias = _alias(alias)
        if alias.lower() == "latest":
            raise invalid("'latest' alias name (case insensitive) is reserved.")
        if _VERSION_ALIAS.fullmatch(alias):
            raise invalid(f"Version alias name '{alias}' is reserved.")
        name, number = _name(name), _version(version)
        prompt = self.store.set_alias(name, alias, number)
        self._emit(prompt, "model_version_alias.created", {"name": name, "alias": alias, "version": str(number)})

    def delete_alias(self, name, alias) -> None:
        name, alias = _name(name), _alias(alias)
        prompt = self.store.delete_alias(name, alias)
        self._emit(prompt, "model_version_alias.deleted", {"name": name, "alias": alias})

    def version_by_alias(self, name, alias) -> dict:
        name, alias = _name(name), _alias(alias)
        if alias.lower() == "latest":
            return self.store.newest_version(name)
        return self.store.version_by_alias(name, alias)

    # ------------------------------------------------------------ model versions

    def create_model_version(self, name, source, run_id, tag_items, run_link, description, model_id) -> dict:
        name = _name(name)
        if not source:
            raise invalid("Missing value for required parameter 'source'.")
        tags = [_tag(t.get("key"), t.get("value"), MAX_VERSION_TAG_VALUE_LENGTH, "model version tag")
                for t in tag_items or []]
        prompt = _is_prompt(tags)
        if prompt:
            if source not in sources.PROMPT_SOURCES:
                raise invalid(f"Invalid prompt source '{source[:300]}': prompt versions use the placeholder "
                              f"source '{sources.PROMPT_SOURCES[1]}'.")
            location = None
        else:
            location, run_id, model_id = self._resolve_source(source, run_id or None, model_id or None)
        fields = {"source": source, "storage_location": location, "run_id": run_id or None,
                  "model_id": model_id or None,
                  "run_link": _text(run_link, MAX_RUN_LINK_LENGTH, "run_link"),
                  "description": _text(description, MAX_DESCRIPTION_LENGTH, "Description")}
        created = self.store.create_model_version(name, fields, tags, now_ms())
        if prompt:
            self.webhooks.emit("prompt_version.created", {
                "name": name, "version": created["version"], "template": dict(tags).get(PROMPT_TEXT_TAG),
                "tags": _payload_tags(tags, True, PROMPT_TEXT_TAG), "description": description or None})
            return created
        if model_id:
            self._link_logged_model(model_id, name, int(created["version"]))
        self.webhooks.emit("model_version.created", {
            "name": name, "version": created["version"], "source": source, "run_id": run_id or None,
            "tags": dict(tags), "description": description or None})
        return created

    def _link_logged_model(self, model_id: str, name: str, version: int) -> None:
        """Add the version to the logged model's mlflow.modelVersions tag, a JSON list of
        {"name", "version"} written as the official server writes it (the version a number)."""
        try:
            tags = self.models.get_logged_model(model_id)["info"].get("tags", [])
            linked = json.loads(next((t["value"] for t in tags if t["key"] == MODEL_VERSIONS_TAG), None) or "[]")
            entry = {"name": name, "version": version}
            if entry not in linked:
                self.models.set_logged_model_tags(model_id, [{"key": MODEL_VERSIONS_TAG,
                                                              "value": json.dumps(linked + [entry])}])
        except MlflowError as error:  # the version exists: failing the request would invite a second one
            if error.status >= 500:
                raise
            log.warning("model version %s/%d: not added to logged model %s's %s: %s", name, version, model_id,
                        MODEL_VERSIONS_TAG, error.message)

    def _resolve_source(self, source: str, run_id: str | None, model_id: str | None):
        """(storage location, run_id, model_id) of a model's source; see app/services/sources.py."""
        uri = sources.split(source)
        if uri.scheme not in ("models", "runs"):
            return self.policy.check_location(source), run_id, model_id
        segments = uri.segments if not uri.authority else ()
        if uri.scheme == "runs" and segments:
            return self._run_source(source, segments[0], run_id, model_id)
        if uri.scheme == "models" and len(segments) == 1 and sources.LOGGED_MODEL_ID.fullmatch(segments[0]):
            return self._logged_model_source(source, segments[0], run_id, model_id)
        if uri.scheme == "models" and len(segments) == 2:
            return self._version_source(source, *segments, run_id, model_id)
        raise invalid(f"Invalid model version source '{source}': use models:/m-<id>, models:/<name>/<version> "
                      f"or runs:/<run_id>/<path>.")

    def _run_source(self, source: str, source_run: str, run_id: str | None, model_id: str | None):
        if run_id and run_id != source_run:
            raise invalid(f"Invalid model version source '{source}': run_id '{run_id}' is not the run it names.")
        return self._run_location(source, must_exist=False), source_run, model_id

    def _run_location(self, source: str, must_exist: bool = True) -> str | None:
        """Where runs:/<run_id>/<path> points: the run's artifact URI + path, inside the store. A
        run that does not exist: None, as the official server accepts such a source and resolves
        it when it is used; refused then (must_exist) while the run still does not exist."""
        run_id, *path = sources.split(source).segments
        run = self._lookup(lambda: self.tracking.get_run(run_id), source, "run", missing_ok=not must_exist)
        return run and self._inside(sources.join(run["info"]["artifact_uri"], tuple(path)), source)

    def _logged_model_source(self, source: str, source_model: str, run_id: str | None, model_id: str | None):
        if model_id and model_id != source_model:
            raise invalid(f"Invalid model version source '{source}': model_id '{model_id}' is not the "
                          f"logged model it names.")
        info = self._lookup(lambda: self.models.get_logged_model(source_model), source, "logged model")["info"]
        return self._inside(info["artifact_uri"], source), run_id or info.get("source_run_id"), source_model

    def _version_source(self, source: str, registered: str, version: str, run_id: str | None,
                        model_id: str | None):
        """A copy of another registered version (MlflowClient.copy_model_version)."""
        location, copied_run, copied_model = self._lookup(
            lambda: self.store.version_location(_name(registered), _version(version)), source, "model version")
        if location in sources.PROMPT_SOURCES:
            raise invalid(f"Invalid model version source '{source}': prompt versions hold no model.")
        if _unresolved(location):
            location = self._run_location(location)
        return self._inside(location, source), run_id or copied_run, model_id or copied_model

    @staticmethod
    def _lookup(fetch, source: str, what: str, missing_ok: bool = False):
        """fetch(), its client errors restated as an invalid source (missing_ok: None for a 404)."""
        try:
            return fetch()
        except MlflowError as error:
            if error.status == 404 and missing_ok:
                return None
            if error.status >= 500:
                raise
            reason = f"the {what} does not exist." if error.status == 404 else error.message
            raise invalid(f"Invalid model version source '{source}': {reason}") from None

    def _inside(self, location: str, source: str) -> str:
        try:
            return self.policy.check_location(location)
        except MlflowError:
            raise invalid(f"Invalid model version source '{source}': it resolves to '{location}', which lies "
                          f"outside this server's artifact store.") from None

    def get_model_version(self, name, version) -> dict:
        return self.store.get_model_version(_name(name), _version(version))

    def update_model_version(self, name, version, description) -> dict:
        return self.store.update_model_version(
            _name(name), _version(version), _text(description, MAX_DESCRIPTION_LENGTH, "Description"), now_ms())

    def transition_stage(self, name, version, stage, archive_existing_versions) -> dict:
        stage = _stage(stage)
        if archive_existing_versions and stage not in ACTIVE_STAGES:
            raise invalid(f"Model version transition cannot archive existing model versions because '{stage}' "
                          f"is not an active stage. Valid stages are {', '.join(ACTIVE_STAGES)}.")
        return self.store.transition_stage(_name(name), _version(version), stage, bool(archive_existing_versions),
                                           now_ms())

    def delete_model_version(self, name, version) -> None:
        self.store.delete_model_version(_name(name), _version(version), now_ms())

    def set_model_version_tag(self, name, version, key, value) -> None:
        name, number = _name(name), _version(version)
        key, value = _tag(key, value, MAX_VERSION_TAG_VALUE_LENGTH, "model version tag")
        prompt = self.store.set_model_version_tag(name, number, key, value)
        self._emit(prompt, "model_version_tag.set", {"name": name, "version": str(number), "key": key, "value": value})

    def delete_model_version_tag(self, name, version, key) -> None:
        name, number, key = _name(name), _version(version), v.check_key(key, "model version tag")
        prompt = self.store.set_model_version_tag(name, number, key, None)
        self._emit(prompt, "model_version_tag.deleted", {"name": name, "version": str(number), "key": key})

    def search_model_versions(self, filter_text, max_results, order_by, page_token, scope: Clause | None = None):
        """scope: a clause on the model's name that keeps what the caller may read (with auth on)."""
        max_results = v.check_max_results(max_results, DEFAULT_VERSION_RESULTS, MAX_VERSION_RESULTS)
        clauses = parse_filter(filter_text, EXPERIMENT_ENTITY_ALIASES) + ([scope] if scope else [])
        clauses, prompts = _prompt_scope(clauses)
        order = parse_order_by(order_by, EXPERIMENT_ENTITY_ALIASES)
        return self.store.search_model_versions(clauses, prompts, order, max_results, page_token)

    def download_uri(self, name, version) -> str:
        """Where the version's files are; checked again on the way out, so that a location
        stored under another configuration cannot lead outside today's artifact roots."""
        location = self.store.version_location(_name(name), _version(version))[0]
        if location in sources.PROMPT_SOURCES:
            return location
        if _unresolved(location):
            return self._run_location(location)
        try:
            return self.policy.check_location(location)
        except MlflowError:
            raise invalid(f"Model version {name}/{version} has a location outside this server's artifact "
                          f"store; it cannot be downloaded through this server.") from None
