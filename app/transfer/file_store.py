"""An official MLflow file store (`mlruns/`, as the official FileStore writes it) read as a Source.

The layout (mlflow/store/tracking/file_store.py and model_registry/file_store.py):

    <root>/<experiment id>/meta.yaml, tags/<key>          experiments (deleted ones in .trash/)
    <root>/<experiment id>/<run id>/meta.yaml              runs, with params/, tags/ and metrics/
                                                           ("timestamp value step" lines), inputs/
                                                           (datasets and models used), outputs/
    <root>/<experiment id>/datasets/<id>/meta.yaml         datasets
    <root>/<experiment id>/models/<model id>/meta.yaml     logged models, with params/ tags/ metrics/
    <root>/<experiment id>/traces/<trace id>/trace_info.yaml  traces, with tags/, request_metadata/ and
                                                           assessments/<assessment id>.yaml
    <root>/models/<name>/meta.yaml, tags/, aliases/        registered models
    <root>/models/<name>/version-<n>/meta.yaml, tags/      model versions

Each is read as the rows the official SQL store would hold for the same data: run statuses
and source types as names, NaN metric values as 0 with is_nan, the step of a point logged with
a dataset (a 5-field line, whose step the official FileStore itself reads as 0), an experiment
in .trash as deleted, inputs with the SQL store's source and destination types. Ids are the file store's
own (the folder names): experiments, runs, logged models; a dataset's id is its folder's name,
an input's the name of its folder (an output has none: a hash of run and model), so a second
read gives the same rows. Traces are read as the official `mlflow migrate-filestore` reads them
(mlflow/store/fs2db/_tracking.py), from their V2 (request_id, timestamp_ms) or V3 (trace_id,
request_time) trace_info.yaml; their spans stay in their traces.json artifact, as there. Unlike
that tool, an assessment keeps its times (its yaml has them as timestamps) and an expectation
its serialized value.

A table is read owner by owner (experiments, runs, logged models, registered models or
versions, in the sorted order of their folders, listed once per Source), one file at a time,
so a run with millions of metric points is streamed. A position is [owner index, rows of that
owner already read]: resuming lists the owners again and skips that many rows of the first.
Points are counted as lines (for progress), not parsed twice. A file that cannot be read or
parsed (yaml through the safe loader) skips what it describes and what hangs off it, with one
warning naming the file; a malformed metric line skips that line. Nothing is ever written into
the store; it should not change while it is read (a resume counts on the same sorted folders).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from datetime import datetime, timezone
from itertools import islice
from typing import Callable, Iterator

import yaml

from ..config import ConfigError

log = logging.getLogger(__name__)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

TRASH, REGISTRY = ".trash", "models"
RESERVED = {"tags", "datasets", "traces", "models"}  # folders of an experiment that are not runs
RUN_STATUSES = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
SOURCE_TYPES = {1: "NOTEBOOK", 2: "JOB", 3: "PROJECT", 4: "LOCAL", 5: "UNKNOWN"}
MODEL_STATUSES = {"UNSPECIFIED": 0, "PENDING": 1, "READY": 2, "FAILED": 3, "UPLOAD_FAILED": 3}

TABLES = {
    "experiments": {"experiment_id", "name", "artifact_location", "lifecycle_stage", "creation_time",
                    "last_update_time"},
    "experiment_tags": {"experiment_id", "key", "value"},
    "runs": {"run_uuid", "experiment_id", "name", "source_type", "source_name", "entry_point_name", "user_id",
             "status", "start_time", "end_time", "deleted_time", "source_version", "lifecycle_stage",
             "artifact_uri"},
    "params": {"run_uuid", "key", "value"},
    "tags": {"run_uuid", "key", "value"},
    "metrics": {"run_uuid", "key", "value", "timestamp", "step", "is_nan"},
    "datasets": {"dataset_uuid", "experiment_id", "name", "digest", "dataset_source_type", "dataset_source",
                 "dataset_schema", "dataset_profile"},
    "inputs": {"input_uuid", "source_type", "source_id", "destination_type", "destination_id", "step"},
    "input_tags": {"input_uuid", "name", "value"},
    "logged_models": {"model_id", "experiment_id", "name", "artifact_location", "creation_timestamp_ms",
                      "last_updated_timestamp_ms", "status", "lifecycle_stage", "model_type", "source_run_id",
                      "status_message"},
    "logged_model_tags": {"model_id", "experiment_id", "tag_key", "tag_value"},
    "logged_model_params": {"model_id", "experiment_id", "param_key", "param_value"},
    "logged_model_metrics": {"model_id", "metric_name", "metric_timestamp_ms", "metric_step", "metric_value",
                             "experiment_id", "run_id", "dataset_uuid", "dataset_name", "dataset_digest"},
    "registered_models": {"name", "creation_time", "last_updated_time", "description"},
    "registered_model_tags": {"name", "key", "value"},
    "registered_model_aliases": {"name", "alias", "version"},
    "model_versions": {"name", "version", "creation_time", "last_updated_time", "description", "user_id",
                       "current_stage", "source", "storage_location", "run_id", "run_link", "status",
                       "status_message"},
    "model_version_tags": {"name", "version", "key", "value"},
    "trace_info": {"request_id", "experiment_id", "timestamp_ms", "execution_time_ms", "status", "client_request_id",
                   "request_preview", "response_preview"},
    "trace_tags": {"request_id", "key", "value"},
    "trace_request_metadata": {"request_id", "key", "value"},
    "assessments": {"assessment_id", "trace_id", "name", "assessment_type", "value", "error", "created_timestamp",
                    "last_updated_timestamp", "source_type", "source_id", "run_id", "span_id", "rationale",
                    "overrides", "valid", "assessment_metadata"},
}
TRACE_INFO = "trace_info.yaml"


def _ms(value) -> int:
    """A time of a trace yaml in milliseconds: a number, or a proto Timestamp's RFC 3339 text."""
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, datetime):  # a YAML timestamp left unquoted
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return 0
    return int(moment.replace(tzinfo=moment.tzinfo or timezone.utc).timestamp() * 1000)


def _subdirs(path: str) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(path) if e.is_dir())
    except OSError:
        return []


class FileStoreSource:
    """Source over an official file store directory (mlruns/ itself, or a folder holding it)."""

    def __init__(self, path: str):
        root = os.path.abspath(path)
        if os.path.isdir(os.path.join(root, "mlruns")) and not os.path.exists(os.path.join(root, "meta.yaml")):
            root = os.path.join(root, "mlruns")
        if not any(name.isdigit() or name in (TRASH, REGISTRY) for name in _subdirs(root)):
            raise ConfigError(f"--from: {root} is not an MLflow file store (no experiment folders, .trash "
                              "or models/ in it)")
        self.root = root
        self.name = root
        self._warned: set[str] = set()
        self._owners: dict[str, list] = {}

    # ------------------------------------------------------------ reading files

    def _warn(self, path: str, reason: str) -> None:
        if path not in self._warned:
            self._warned.add(path)
            log.warning("skipped %s: %s", path, reason)

    def _yaml(self, path: str, required: tuple[str, ...] = ()) -> dict | None:
        """A meta.yaml as a dict, or None (with a warning) when it is unreadable or lacks a key."""
        try:
            with open(path, "rb") as f:
                data = yaml.load(f, Loader=_Loader)
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as error:
            self._warn(path, f"cannot read it ({str(error).splitlines()[0] if str(error) else type(error).__name__})")
            return None
        if not isinstance(data, dict):
            self._warn(path, "not a YAML mapping")
            return None
        missing = [key for key in required if data.get(key) in (None, "")]
        if missing:
            self._warn(path, f"no {', '.join(missing)} in it")
            return None
        return data

    def _files(self, folder: str) -> Iterator[tuple[str, str]]:
        """(key, path) of the files below folder, keys with '/' for nested folders, sorted."""
        found = []
        for top, _, names in os.walk(folder):
            for name in names:
                path = os.path.join(top, name)
                found.append((os.path.relpath(path, folder).replace(os.sep, "/"), path))
        return iter(sorted(found))

    def _key_values(self, folder: str) -> Iterator[tuple[str, str]]:
        """(key, text) of each file below folder: tags and params, one value a file."""
        for key, path in self._files(folder):
            try:
                with open(path, "rb") as f:
                    yield key, f.read().decode("utf-8")
            except (OSError, UnicodeDecodeError) as error:
                self._warn(path, f"cannot read it ({type(error).__name__})")

    def _points(self, path: str, fields: tuple[int, ...]) -> Iterator[tuple[int, float, int, list[bytes]]]:
        """(timestamp, value, step, the fields after them) of each line of a metric file
        ("timestamp value [step ...]", `fields` fields); a line of another shape is skipped."""
        try:
            with open(path, "rb") as f:
                for number, line in enumerate(f, 1):
                    parts = line.split()
                    try:
                        if len(parts) not in fields:
                            raise ValueError(f"{len(parts)} fields, not {' or '.join(map(str, fields))}")
                        point = int(parts[0]), float(parts[1]), int(parts[2]) if len(parts) > 2 else 0, parts[3:]
                    except ValueError as error:
                        if parts:
                            self._warn(path, f"line {number} (and any other malformed line): {error}")
                        continue
                    yield point
        except OSError as error:
            self._warn(path, f"cannot read it ({type(error).__name__})")

    def _lines(self, owner) -> int:
        """How many points the metric files of an owner (run or logged model) hold."""
        total = 0
        for _, path in self._files(os.path.join(owner[2], "metrics")):
            with open(path, "rb") as f:
                total += sum(1 for line in f if not line.isspace())
        return total

    # ------------------------------------------------------------ owners, listed once

    def _experiments(self) -> list[tuple[int, str, bool]]:
        """(experiment id, folder, deleted) of each experiment folder whose meta.yaml reads."""
        if "experiments" not in self._owners:
            self._owners["experiments"] = [
                (int(name), os.path.join(parent, name), deleted)
                for parent, deleted in ((self.root, False), (os.path.join(self.root, TRASH), True))
                for name in sorted(_subdirs(parent), key=lambda n: (len(n), n))
                if name.isdigit() and os.path.isfile(os.path.join(parent, name, "meta.yaml"))
                and self._experiment_meta(os.path.join(parent, name)) is not None]
        return self._owners["experiments"]

    def _runs(self) -> list[tuple[int, str, str]]:
        """(experiment id, run id, folder) of each run whose meta.yaml reads."""
        if "runs" not in self._owners:
            self._owners["runs"] = [
                (experiment_id, name, os.path.join(folder, name))
                for experiment_id, folder, _ in self._experiments() for name in _subdirs(folder)
                if name not in RESERVED and os.path.isfile(os.path.join(folder, name, "meta.yaml"))
                and self._run_meta(os.path.join(folder, name)) is not None]
        return self._owners["runs"]

    def _logged_models(self) -> list[tuple[int, str, str]]:
        if "logged_models" not in self._owners:
            self._owners["logged_models"] = [
                (experiment_id, name, os.path.join(folder, "models", name))
                for experiment_id, folder, _ in self._experiments()
                for name in _subdirs(os.path.join(folder, "models"))
                if self._logged_model_meta(os.path.join(folder, "models", name)) is not None]
        return self._owners["logged_models"]

    def _traces(self) -> list[tuple[int, str, str]]:
        """(experiment id, trace id, folder) of each trace whose trace_info.yaml reads."""
        if "traces" not in self._owners:
            self._owners["traces"] = [
                (experiment_id, found[1], path) for experiment_id, folder, _ in self._experiments()
                for path in (os.path.join(folder, "traces", name) for name in _subdirs(os.path.join(folder, "traces")))
                if (found := self._trace_meta(path)) is not None]
        return self._owners["traces"]

    def _registered_models(self) -> list[str]:
        if "registered_models" not in self._owners:
            parent = os.path.join(self.root, REGISTRY)
            self._owners["registered_models"] = [
                os.path.join(parent, name) for name in _subdirs(parent)
                if self._named_meta(os.path.join(parent, name)) is not None]
        return self._owners["registered_models"]

    def _versions(self) -> list[str]:
        if "versions" not in self._owners:
            self._owners["versions"] = [
                os.path.join(model, name) for model in self._registered_models()
                for name in sorted(_subdirs(model), key=lambda n: (len(n), n))
                if name.startswith("version-") and name[8:].isdigit()
                and self._version_meta(os.path.join(model, name)) is not None]
        return self._owners["versions"]

    # ------------------------------------------------------------ an owner's meta.yaml, checked

    def _experiment_meta(self, folder: str) -> dict | None:
        return self._yaml(os.path.join(folder, "meta.yaml"), ("name",))

    def _run_meta(self, folder: str) -> dict | None:
        path, run_id = os.path.join(folder, "meta.yaml"), os.path.basename(folder)
        meta = self._yaml(path)
        if meta is not None and (meta.get("run_id") or meta.get("run_uuid")) != run_id:
            self._warn(path, f"its run id is not its folder's name {run_id}")
            return None
        return meta

    def _logged_model_meta(self, folder: str) -> dict | None:
        path, model_id = os.path.join(folder, "meta.yaml"), os.path.basename(folder)
        meta = self._yaml(path, ("model_id",))
        if meta is not None and meta["model_id"] != model_id:
            self._warn(path, f"its model id is not its folder's name {model_id}")
            return None
        return meta

    def _trace_meta(self, folder: str) -> tuple[dict, str] | None:
        """A trace's trace_info.yaml and its id (V3 trace_id, V2 request_id, else the folder's name)."""
        path = os.path.join(folder, TRACE_INFO)
        if not os.path.isfile(path):
            return None
        meta = self._yaml(path)
        if meta is None:
            return None
        return meta, str(meta.get("trace_id") or meta.get("request_id") or os.path.basename(folder))

    def _named_meta(self, folder: str) -> dict | None:
        """A registered model's meta.yaml."""
        return self._yaml(os.path.join(folder, "meta.yaml"), ("name",))

    def _version_meta(self, folder: str) -> dict | None:
        path = os.path.join(folder, "meta.yaml")
        meta = self._yaml(path, ("name", "version"))
        if meta is not None and str(meta["version"]) != os.path.basename(folder)[8:]:
            self._warn(path, f"its version is not its folder's {os.path.basename(folder)}")
            return None
        return meta

    # ------------------------------------------------------------ rows of one owner

    def _experiment_row(self, owner) -> Iterator[dict]:
        experiment_id, folder, deleted = owner
        meta = self._experiment_meta(folder)
        if meta is not None:
            yield {"experiment_id": experiment_id, "name": str(meta["name"]),
                   "artifact_location": meta.get("artifact_location"),
                   "lifecycle_stage": "deleted" if deleted else meta.get("lifecycle_stage") or "active",
                   "creation_time": meta.get("creation_time"), "last_update_time": meta.get("last_update_time")}

    def _experiment_tags(self, owner) -> Iterator[dict]:
        experiment_id, folder, _ = owner
        for key, value in self._key_values(os.path.join(folder, "tags")):
            yield {"experiment_id": experiment_id, "key": key, "value": value}

    def _run_row(self, owner) -> Iterator[dict]:
        experiment_id, run_id, folder = owner
        meta = self._run_meta(folder)
        if meta is None:
            return
        status, source_type = meta.get("status", 1), meta.get("source_type", 4)
        yield {"run_uuid": run_id, "experiment_id": experiment_id, "name": meta.get("run_name") or None,
               "source_type": SOURCE_TYPES.get(source_type, str(source_type)),
               "source_name": meta.get("source_name") or "", "entry_point_name": meta.get("entry_point_name") or "",
               "user_id": meta.get("user_id"), "status": RUN_STATUSES.get(status, str(status)),
               "start_time": meta.get("start_time"), "end_time": meta.get("end_time"),
               "deleted_time": meta.get("deleted_time"), "source_version": meta.get("source_version") or "",
               "lifecycle_stage": meta.get("lifecycle_stage") or "active", "artifact_uri": meta.get("artifact_uri")}

    def _run_files(self, folder_name: str) -> Callable:
        def rows(owner) -> Iterator[dict]:
            _, run_id, folder = owner
            for key, value in self._key_values(os.path.join(folder, folder_name)):
                yield {"run_uuid": run_id, "key": key, "value": value}
        return rows

    def _metrics(self, owner) -> Iterator[dict]:
        _, run_id, folder = owner
        for key, path in self._files(os.path.join(folder, "metrics")):
            for timestamp, step, value in self._unique_points(path):
                yield {"run_uuid": run_id, "key": key, "value": 0.0 if value is None else value,
                       "timestamp": timestamp, "step": step, "is_nan": value is None}

    def _unique_points(self, path: str) -> Iterator[tuple[int, int, float | None]]:
        """(timestamp, step, value or None for NaN) of each point of a run's metric file
        ("timestamp value [step [dataset_name dataset_digest]]"), each once: the official table
        holds a point once, where a file store appends a retried batch again. In the usual file,
        whose timestamps never go back, a repeat can only be among the points of one timestamp,
        which are next to each other, so only those are remembered; from the first timestamp
        that goes back on, every point of the file is."""
        latest = first = same = seen = None
        for read, (timestamp, value, step, _) in enumerate(self._points(path, (2, 3, 5))):
            point = timestamp, step, None if value != value else value  # NaN: None, as is_nan
            if seen is None:
                if latest is None or timestamp > latest:
                    latest, first, same = timestamp, point, None
                elif timestamp == latest:
                    same = same or {first}
                    if point in same:
                        continue
                    same.add(point)
                else:
                    seen = {(t, s, None if v != v else v) for t, v, s, _ in islice(self._points(path, (2, 3, 5)), read)}
            if seen is not None:
                if point in seen:
                    continue
                seen.add(point)
            yield point

    def _datasets(self, owner) -> Iterator[dict]:
        experiment_id, folder, _ = owner
        parent = os.path.join(folder, "datasets")
        for name in _subdirs(parent):
            meta = self._yaml(os.path.join(parent, name, "meta.yaml"), ("name", "digest"))
            if meta is not None:
                yield {"dataset_uuid": name, "experiment_id": experiment_id, "name": str(meta["name"]),
                       "digest": str(meta["digest"]), "dataset_source_type": meta.get("source_type") or "",
                       "dataset_source": meta.get("source") or "", "dataset_schema": meta.get("schema"),
                       "dataset_profile": meta.get("profile")}

    def _links(self, owner) -> Iterator[tuple[dict, dict]]:
        """(inputs row, input tags) of each dataset or model a run used and each model it logged."""
        _, run_id, folder = owner
        for name in _subdirs(os.path.join(folder, "inputs")):
            meta = self._yaml(os.path.join(folder, "inputs", name, "meta.yaml"), ("source_type", "source_id"))
            if meta is None:
                continue
            if meta["source_type"] == "DATASET":
                row = {"source_type": "DATASET", "source_id": meta["source_id"], "destination_type": "RUN",
                       "destination_id": run_id}
            else:  # MODEL: as the SQL store keeps a model a run used
                row = {"source_type": "RUN_INPUT", "source_id": run_id, "destination_type": "MODEL_INPUT",
                       "destination_id": meta["source_id"]}
            tags = meta.get("tags") if isinstance(meta.get("tags"), dict) else {}
            yield {"input_uuid": name, **row, "step": 0}, tags
        for model_id in _subdirs(os.path.join(folder, "outputs")):
            meta = self._yaml(os.path.join(folder, "outputs", model_id, "meta.yaml"))
            if meta is not None:
                uuid = hashlib.md5(f"{run_id}/outputs/{model_id}".encode()).hexdigest()
                yield {"input_uuid": uuid, "source_type": "RUN_OUTPUT", "source_id": run_id,
                       "destination_type": "MODEL_OUTPUT", "destination_id": model_id,
                       "step": int(meta.get("step") or 0)}, {}

    def _inputs(self, owner) -> Iterator[dict]:
        for row, _ in self._links(owner):
            yield row

    def _input_tags(self, owner) -> Iterator[dict]:
        for row, tags in self._links(owner):
            for name, value in sorted(tags.items()):
                yield {"input_uuid": row["input_uuid"], "name": str(name), "value": str(value)}

    def _logged_model_row(self, owner) -> Iterator[dict]:
        experiment_id, model_id, folder = owner
        meta = self._logged_model_meta(folder)
        if meta is None:
            return
        status = meta.get("status", 1)
        if isinstance(status, str):
            status = MODEL_STATUSES.get(status.removeprefix("LOGGED_MODEL_").removeprefix("STATUS_"), 0)
        created = meta.get("creation_timestamp") or 0
        yield {"model_id": model_id, "experiment_id": experiment_id, "name": str(meta.get("name") or ""),
               "artifact_location": meta.get("artifact_location") or "", "creation_timestamp_ms": created,
               "last_updated_timestamp_ms": meta.get("last_updated_timestamp") or created, "status": status,
               "lifecycle_stage": meta.get("lifecycle_stage") or "active", "model_type": meta.get("model_type"),
               "source_run_id": meta.get("source_run_id"), "status_message": meta.get("status_message")}

    def _model_files(self, folder_name: str, key: str, value: str) -> Callable:
        def rows(owner) -> Iterator[dict]:
            experiment_id, model_id, folder = owner
            for k, v in self._key_values(os.path.join(folder, folder_name)):
                yield {"model_id": model_id, "experiment_id": experiment_id, key: k, value: v}
        return rows

    def _logged_model_metrics(self, owner) -> Iterator[dict]:
        experiment_id, model_id, folder = owner
        for key, path in self._files(os.path.join(folder, "metrics")):
            # timestamp value step run_id [dataset_name dataset_digest]
            for timestamp, value, step, more in self._points(path, (4, 6)):
                run_id, *dataset = (part.decode("utf-8", "replace") for part in more)
                yield {"model_id": model_id, "metric_name": key, "metric_timestamp_ms": timestamp,
                       "metric_step": step, "metric_value": value, "experiment_id": experiment_id,
                       "run_id": run_id, "dataset_uuid": None, "dataset_name": (dataset or [None])[0],
                       "dataset_digest": (dataset[1:] or [None])[0]}

    def _registered_model_row(self, folder) -> Iterator[dict]:
        meta = self._named_meta(folder)
        if meta is not None:
            created = meta.get("creation_timestamp")
            yield {"name": str(meta["name"]), "creation_time": created,
                   "last_updated_time": meta.get("last_updated_timestamp") or created,
                   "description": meta.get("description")}

    def _registered_model_tags(self, folder) -> Iterator[dict]:
        meta = self._named_meta(folder)
        if meta is not None:
            for key, value in self._key_values(os.path.join(folder, "tags")):
                yield {"name": str(meta["name"]), "key": key, "value": value}

    def _aliases(self, folder) -> Iterator[dict]:
        meta = self._named_meta(folder)
        if meta is not None:
            for alias, value in self._key_values(os.path.join(folder, "aliases")):
                if value.strip().isdigit():
                    yield {"name": str(meta["name"]), "alias": alias, "version": int(value)}
                else:
                    self._warn(os.path.join(folder, "aliases", alias), f"not a version number: {value[:40]!r}")

    def _version_row(self, folder) -> Iterator[dict]:
        meta = self._version_meta(folder)
        if meta is not None:
            created = meta.get("creation_timestamp")
            yield {"name": str(meta["name"]), "version": int(meta["version"]), "creation_time": created,
                   "last_updated_time": meta.get("last_updated_timestamp") or created,
                   "description": meta.get("description"), "user_id": meta.get("user_id") or None,
                   "current_stage": meta.get("current_stage") or "None", "source": meta.get("source"),
                   "storage_location": meta.get("storage_location") or None, "run_id": meta.get("run_id") or None,
                   "run_link": meta.get("run_link") or None, "status": meta.get("status") or "READY",
                   "status_message": meta.get("status_message")}

    def _version_tags(self, folder) -> Iterator[dict]:
        meta = self._version_meta(folder)
        if meta is not None:
            for key, value in self._key_values(os.path.join(folder, "tags")):
                yield {"name": str(meta["name"]), "version": int(meta["version"]), "key": key, "value": value}

    def _trace_row(self, owner) -> Iterator[dict]:
        experiment_id, trace_id, folder = owner
        meta, _ = self._trace_meta(folder)
        started = meta.get("timestamp_ms")
        yield {"request_id": trace_id, "experiment_id": experiment_id,
               "timestamp_ms": _ms(meta.get("request_time") if started is None else started),
               "execution_time_ms": meta.get("execution_time_ms") or meta.get("execution_duration_ms"),
               "status": meta.get("status") or meta.get("state") or "OK",
               "client_request_id": meta.get("client_request_id"), "request_preview": meta.get("request_preview"),
               "response_preview": meta.get("response_preview")}

    def _trace_files(self, folder_name: str) -> Callable:
        def rows(owner) -> Iterator[dict]:
            _, trace_id, folder = owner
            for key, value in self._key_values(os.path.join(folder, folder_name)):
                yield {"request_id": trace_id, "key": key, "value": value}
        return rows

    def _assessments(self, owner) -> Iterator[dict]:
        """The feedback and expectations of a trace (Assessment.to_dictionary() yaml files) as
        the official SQL store's rows."""
        _, trace_id, folder = owner
        for name, path in self._files(os.path.join(folder, "assessments")):
            meta = self._yaml(path) if name.endswith(".yaml") else None
            if meta is None:
                continue
            feedback, expectation = meta.get("feedback"), meta.get("expectation")
            if isinstance(feedback, dict):
                kind, value, error = "feedback", feedback.get("value"), feedback.get("error")
            elif isinstance(expectation, dict):
                kind, value, error = "expectation", expectation.get("value"), None
                serialized = expectation.get("serialized_value") or {}
                if "value" not in expectation and serialized.get("value") is not None:
                    try:
                        value = json.loads(serialized["value"])
                    except ValueError:
                        value = serialized["value"]
            else:
                continue
            source = meta.get("source") or {}
            created = _ms(meta.get("create_time") or meta.get("create_time_ms") or 0)
            yield {"assessment_id": meta.get("assessment_id") or name[:-5], "trace_id": trace_id,
                   "name": str(meta.get("assessment_name") or meta.get("name") or ""), "assessment_type": kind,
                   "value": json.dumps(value), "error": json.dumps(error) if error else None,
                   "created_timestamp": created,
                   "last_updated_timestamp": _ms(meta.get("last_update_time") or meta.get("last_update_time_ms")
                                                 or created),
                   "source_type": source.get("source_type") or "CODE", "source_id": source.get("source_id"),
                   "run_id": meta.get("run_id"), "span_id": meta.get("span_id"), "rationale": meta.get("rationale"),
                   "overrides": meta.get("overrides"), "valid": meta.get("valid", True),
                   "assessment_metadata": json.dumps(meta["metadata"]) if meta.get("metadata") else None}

    # ------------------------------------------------------------ the Source protocol

    def _plan(self, table: str) -> tuple[Callable[[], list], Callable]:
        """(owners of the table's rows, the rows of one owner)."""
        return {
            "experiments": (self._experiments, self._experiment_row),
            "experiment_tags": (self._experiments, self._experiment_tags),
            "runs": (self._runs, self._run_row),
            "params": (self._runs, self._run_files("params")),
            "tags": (self._runs, self._run_files("tags")),
            "metrics": (self._runs, self._metrics),
            "datasets": (self._experiments, self._datasets),
            "inputs": (self._runs, self._inputs),
            "input_tags": (self._runs, self._input_tags),
            "logged_models": (self._logged_models, self._logged_model_row),
            "logged_model_tags": (self._logged_models, self._model_files("tags", "tag_key", "tag_value")),
            "logged_model_params": (self._logged_models, self._model_files("params", "param_key", "param_value")),
            "logged_model_metrics": (self._logged_models, self._logged_model_metrics),
            "registered_models": (self._registered_models, self._registered_model_row),
            "registered_model_tags": (self._registered_models, self._registered_model_tags),
            "registered_model_aliases": (self._registered_models, self._aliases),
            "model_versions": (self._versions, self._version_row),
            "model_version_tags": (self._versions, self._version_tags),
            "trace_info": (self._traces, self._trace_row),
            "trace_tags": (self._traces, self._trace_files("tags")),
            "trace_request_metadata": (self._traces, self._trace_files("request_metadata")),
            "assessments": (self._traces, self._assessments),
        }[table]

    def tables(self) -> dict[str, set[str]]:
        return {name: set(columns) for name, columns in TABLES.items()}

    def count(self, table: str) -> int:
        if table not in TABLES:
            return 0
        owners, produce = self._plan(table)
        if table in ("metrics", "logged_model_metrics"):  # lines, without parsing them
            return sum(self._lines(owner) for owner in owners())
        return sum(sum(1 for _ in produce(owner)) for owner in owners())

    def rows(self, table: str, after=None, size: int = 10_000) -> Iterator[tuple[list[dict], list[int]]]:
        if table not in TABLES:
            return
        owners, produce = self._plan(table)
        owners = owners()
        start, skip = after or (0, 0)
        batch: list[dict] = []
        for index in range(start, len(owners)):
            done = skip if index == start else 0
            for row in islice(produce(owners[index]), done, None):
                batch.append(row)
                done += 1
                if len(batch) == size:
                    yield batch, [index, done]
                    batch = []
        if batch:
            yield batch, [len(owners), 0]

    def close(self) -> None:
        pass
