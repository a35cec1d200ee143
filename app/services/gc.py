"""gc's rules: which runs, logged models and experiments go for good, and in what order.

plan() decides everything before anything is deleted: the entities in the deleted stage
(deleted at least `older_than` ago, when given), or only the ids given; an experiment takes
all its runs, logged models and traces with it. An id that does not exist, is not in the deleted stage
or was deleted too recently is refused, as the official `mlflow gc` refuses it, and so is a
local artifacts destination that does not exist: then nothing at all is deleted.

execute() deletes each run and logged model, its artifacts first, then its rows in one
database transaction; an experiment goes (one transaction, its traces' rows with it) after
all its runs and logged models went and, when it has traces, its traces' artifact folder
(<experiment artifact location>/traces, where the client puts each trace's traces.json).
Artifacts first because a run whose artifact deletion fails keeps its rows in the deleted
stage, so the next gc finds it and finishes the job; the other order would leave artifacts
that nothing in the database points at any more. A failure (a store refusing, an
artifact root no store here reaches) therefore leaves a run or model with some of its artifacts
gone but all its rows, never rows half-deleted; its experiment
stays too. gc carries on with the rest and reports the failures. Artifacts already missing are
not a failure. A run restored between the deletion of its artifacts and its transaction is
kept (the transaction checks the stage again) but has lost its artifacts: gc checks the stage
again just before deleting artifacts, which makes that window milliseconds wide.

An artifact root is reached as the server reaches it: mlflow-artifacts: URIs (and http(s) URIs
of the artifact proxy) in the artifacts destination, URIs below the default artifact root with
its credentials, local paths only below the default artifact root or the artifacts
destination, other stores' URIs by their own. What is deleted is the entity's own folder:
<root>/<run id> when the artifact URI is <root>/<run id>/artifacts (as the server makes them),
else the artifact URI itself. After an experiment went, its artifact folder (and the models
folder in it) is removed when nothing is left in it.
"""
from __future__ import annotations

import dataclasses
import os
import posixpath
import re
from datetime import timedelta
from typing import Callable
from urllib.parse import urlsplit

from ..artifacts import STORES, ArtifactRepository, repository_for
from ..artifacts.credentials import without_password
from ..artifacts.local import LocalArtifactRepository
from ..artifacts.remote_proxy import PROXY_ROUTE, names_proxy
from ..errors import MlflowError, invalid, not_found
from ..store.gc import EXPERIMENT, MODEL, RUN, Entity, GcStore
from ..store.schema import DELETED
from .artifacts import PROXY_SCHEME
from .tracking import EXPERIMENT_IDS

TRACE = "trace"  # counted with their experiment, not an entity of their own
_DURATION = re.compile(r"^((?P<days>[\.\d]+?)d)?((?P<hours>[\.\d]+?)h)?((?P<minutes>[\.\d]+?)m)"
                       r"?((?P<seconds>[\.\d]+?)s)?$")


def parse_duration(text: str) -> int:
    """Milliseconds of an official --older-than duration: #d#h#m#s, each part optional and
    possibly fractional (1d2h3m4s, 1.5d, 30m)."""
    parts = _DURATION.match(text)
    try:
        values = {name: float(value) for name, value in parts.groupdict().items() if value} if parts else None
    except ValueError:  # "1.2.3d"
        values = None
    if not values:
        raise invalid(f"Could not parse any time information from '{text}'. "
                      "Examples of valid strings: '8h', '2d8h5m20s', '2m4s'")
    return int(timedelta(**values).total_seconds() * 1000)


@dataclasses.dataclass
class Plan:
    runs: list[Entity]  # runs and logged models deleted on their own
    models: list[Entity]
    experiments: list[tuple[Entity, list[Entity]]]  # each with its runs and logged models
    traces: dict[str, int]  # experiment id -> how many traces it holds (those with none left out)

    def counts(self) -> dict[str, int]:
        contents = [e for _, inside in self.experiments for e in inside]
        return {RUN: len(self.runs) + sum(e.kind == RUN for e in contents),
                MODEL: len(self.models) + sum(e.kind == MODEL for e in contents),
                EXPERIMENT: len(self.experiments), TRACE: sum(self.traces.values())}


def plan(store: GcStore, artifacts: "ArtifactRoots", now_ms: int, older_than_ms: int | None,
         run_ids: list[str] | None, experiment_ids: list[str] | None, model_ids: list[str] | None) -> Plan:
    """What gc deletes; raises an MlflowError (and decides nothing) on any id it must refuse.
    With no ids, everything in the deleted stage (older than older_than_ms, when given); with
    ids, only those."""
    cutoff = now_ms - (older_than_ms or 0)

    def old_enough(entity: Entity) -> bool:
        if older_than_ms is None:
            return True
        if entity.kind == EXPERIMENT:  # as the official: strictly before, others at or before
            return entity.deleted_at is not None and entity.deleted_at < cutoff
        return entity.deleted_at is not None and entity.deleted_at <= cutoff

    def chosen(kind: str, ids: list[str] | None) -> list[Entity]:
        if ids is None:
            return [e for e in store.find(kind, deleted=True) if old_enough(e)]
        found = {e.id: e for e in store.find(kind, ids=_typed(kind, ids))}
        for entity_id in ids:
            entity = found.get(entity_id)
            if entity is None:
                raise not_found(f"{kind.capitalize()} '{entity_id}' does not exist")
            if entity.stage != DELETED:
                raise invalid(f"{kind.capitalize()} {entity_id} is not in `deleted` lifecycle stage. Only "
                              f"{kind}s in `deleted` lifecycle stage can be deleted.")
            if not old_enough(entity):
                raise invalid(f"{kind.capitalize()} {entity_id} is not older than the required age. Only "
                              f"{kind}s deleted longer ago than the --older-than duration can be deleted.")
        return [found[i] for i in dict.fromkeys(ids)]

    given = any(ids is not None for ids in (run_ids, experiment_ids, model_ids))
    experiments, runs, models = ([] if given and ids is None else chosen(kind, ids) for kind, ids in
                                 ((EXPERIMENT, experiment_ids), (RUN, run_ids), (MODEL, model_ids)))
    gone = {e.id for e in experiments}
    contents = {e.id: [] for e in experiments}
    if experiments:
        for kind in (RUN, MODEL):
            for entity in store.find(kind, experiment_ids=[int(e) for e in gone]):
                contents[entity.experiment_id].append(entity)
    result = Plan([r for r in runs if r.experiment_id not in gone], [m for m in models if m.experiment_id not in gone],
                  [(e, contents[e.id]) for e in experiments],
                  store.trace_counts([int(e) for e in gone]) if gone else {})
    artifacts.check([*result.runs, *result.models, *(e for _, inside in result.experiments for e in inside)])
    return result


def _proxied(uri: str) -> bool:
    """Whether an artifact root is in the artifacts destination (served by the proxy)."""
    return urlsplit(uri).scheme == PROXY_SCHEME or names_proxy(uri)


def _typed(kind: str, ids: list[str]) -> list:
    """Ids as the database compares them: experiment ids are integers (others match nothing)."""
    if kind != EXPERIMENT:
        return ids
    return [int(i) for i in ids if i.isascii() and i.isdigit() and int(i) in EXPERIMENT_IDS]


@dataclasses.dataclass
class Outcome:
    deleted: dict[str, int] = dataclasses.field(default_factory=lambda: {RUN: 0, MODEL: 0, EXPERIMENT: 0, TRACE: 0})
    failed: dict[str, int] = dataclasses.field(default_factory=lambda: {RUN: 0, MODEL: 0, EXPERIMENT: 0})


def execute(the_plan: Plan, store: GcStore, artifacts: "ArtifactRoots",
            report: Callable[[Entity, str | None], None]) -> Outcome:
    """Delete what the plan says; report(entity, None) after each deletion, report(entity,
    reason) for each entity kept."""
    outcome = Outcome()

    def delete(entity: Entity, within_experiment: bool = False) -> bool:
        kind, entity_id = (EXPERIMENT, entity.experiment_id) if within_experiment else (entity.kind, entity.id)
        try:
            if not store.find(kind, ids=_typed(kind, [entity_id]), deleted=True):  # checked again below
                raise invalid("it is no longer in the deleted stage (restored meanwhile); kept")
            if entity.kind != EXPERIMENT:
                artifacts.delete(entity)
            elif the_plan.traces.get(entity.id):
                artifacts.delete_traces(entity)
            if not store.delete(entity, within_experiment):
                raise invalid("it is no longer in the deleted stage (restored meanwhile); kept")
        except MlflowError as error:
            outcome.failed[entity.kind] += 1
            report(entity, error.message)
            return False
        outcome.deleted[entity.kind] += 1
        report(entity, None)
        return True

    for entity in [*the_plan.runs, *the_plan.models]:
        delete(entity)
    for experiment, inside in the_plan.experiments:
        if all([delete(entity, within_experiment=True) for entity in inside]):
            if delete(experiment):
                outcome.deleted[TRACE] += the_plan.traces.get(experiment.id, 0)
                artifacts.remove_empty_folders(experiment)
        else:
            outcome.failed[EXPERIMENT] += 1
            report(experiment, "some of its runs or logged models could not be deleted; kept")
    return outcome


class ArtifactRoots:
    """Reaches artifact roots as the server does (see the module's docstring)."""

    def __init__(self, artifacts_destination: str, default_artifact_root: str):
        self._destination = artifacts_destination
        self._proxy: ArtifactRepository | None = None
        root = urlsplit(default_artifact_root)
        self._remote_root = default_artifact_root.rstrip("/") if root.scheme in STORES else None
        self._local_roots = [os.path.realpath(urlsplit(location).path if location.startswith("file:") else location)
                             for location in (default_artifact_root, artifacts_destination)
                             if urlsplit(location).scheme in ("", "file")]
        self._repositories: dict[str, ArtifactRepository] = {}

    def locate(self, entity: Entity) -> tuple[ArtifactRepository, str]:
        """(repository, path in it) of the entity's own artifact folder."""
        uri = entity.artifact_uri.rstrip("/")
        head, tail = posixpath.split(uri)
        if tail == "artifacts" and posixpath.basename(head) == entity.id:
            uri = head
        parts = urlsplit(uri)
        if _proxied(uri):
            path = parts.path if parts.scheme == PROXY_SCHEME else parts.path.split(PROXY_ROUTE + "/", 1)[1]
            repository, rel = self._proxy_repository(), path.strip("/")
        elif self._remote_root and uri.startswith(without_password(self._remote_root) + "/"):
            repository = self._repository(self._remote_root, lambda: repository_for(self._remote_root))
            rel = uri[len(without_password(self._remote_root)) + 1:]
        elif parts.scheme in ("", "file"):
            real = os.path.realpath(parts.path)
            root = next((r for r in self._local_roots if real.startswith(r + os.sep)), None)
            if root is None:
                raise invalid(f"The artifacts of {entity.kind} {entity.id} at '{uri}' are outside the default "
                              f"artifact root and the artifacts destination; gc deletes local artifacts only "
                              f"below those (give the server's --default-artifact-root)")
            repository, rel = self._repository(root, lambda: LocalArtifactRepository(root)), real[len(root) + 1:]
        elif parts.scheme in STORES and parts.path.strip("/"):
            parent, rel = uri.rsplit("/", 1)
            repository = self._repository(parent, lambda: repository_for(parent))
        else:
            raise invalid(f"The artifacts of {entity.kind} {entity.id} at '{without_password(uri)}' are in no "
                          f"store gc can delete from")
        if not rel:
            raise invalid(f"The artifacts of {entity.kind} {entity.id} are the root of a store; gc does not "
                          f"delete a store's root")
        return repository, rel

    def delete(self, entity: Entity) -> None:
        self._delete(entity, *self.locate(entity))

    def delete_traces(self, experiment: Entity) -> None:
        """The experiment's traces folder: each trace's artifacts are <location>/traces/<trace id>."""
        repository, rel = self.locate(experiment)
        self._delete(experiment, repository, posixpath.join(rel, "traces"))

    @staticmethod
    def _delete(entity: Entity, repository: ArtifactRepository, rel: str) -> None:
        try:
            repository.delete(rel)
        except MlflowError as error:
            if error.error_code != "RESOURCE_DOES_NOT_EXIST":  # no artifacts (left): nothing to do
                raise
        except OSError as error:  # a local file system refused (permissions, a read-only mount)
            raise MlflowError(f"deleting the artifacts at '{entity.artifact_uri}' failed: {error.strerror}",
                              "INTERNAL_ERROR") from None

    def remove_empty_folders(self, experiment: Entity) -> None:
        """After an experiment went: its artifact folder and the models folder in it, when
        nothing is left in them (stores with folders keep empty ones). Best effort: a folder
        still holding something, or a location gc does not reach, stays."""
        try:
            repository, rel = self.locate(experiment)
        except MlflowError:
            return
        for folder in (posixpath.join(rel, "models"), rel):
            try:
                if not repository.list(folder):
                    repository.delete(folder)
            except (MlflowError, OSError):
                pass

    def check(self, entities: list[Entity]) -> None:
        """Refuse, before anything is deleted, an artifacts destination that cannot be the
        server's (a local folder that does not exist) when some entity's artifacts are there."""
        if any(_proxied(e.artifact_uri) for e in entities):
            self._proxy_repository()

    def _proxy_repository(self) -> ArtifactRepository:
        if self._proxy is None:
            local = urlsplit(self._destination).scheme in ("", "file")
            if local and not os.path.isdir(urlsplit(self._destination).path):
                raise invalid(f"The artifacts destination {self._destination} does not exist: give the "
                              f"server's --artifacts-destination")
            self._proxy = repository_for(self._destination)
        return self._proxy

    def _repository(self, key: str, make: Callable[[], ArtifactRepository]) -> ArtifactRepository:
        if key not in self._repositories:
            self._repositories[key] = make()
        return self._repositories[key]
