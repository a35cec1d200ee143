"""What each route asks of its caller, declared in the route tables beside the route itself.

Every route of the app carries an Access (a route cannot be registered without one), which the
guard (app/http/guard.py) reads when authentication is on: who may call it at all, and which
resources named by the request's fields need which action. Without authentication the
declarations are kept but nothing reads them.

Resources, each named by one request field (`field`; a dotted path names a field of a nested
message, as StartTraceV3's trace.trace_info.trace_location.mlflow_experiment.experiment_id):
- EXPERIMENT: an experiment id; EXPERIMENT_NAME: an experiment's name.
- RUN: a run id (run_id, or run_uuid for the older clients), judged by its experiment;
  RUNS: a list of run ids, each judged so.
- LOGGED_MODEL: a logged model id, judged by its experiment; NAMED_MODELS: the logged models
  a write names besides its run: `field` is a model_id, or a list of objects with a model_id
  (metrics, inputs, outputs), each judged so.
- REGISTERED_MODEL: a registered model's name, judged as a prompt when the model is one.
- MODEL_SOURCE: a model version's source (runs:/, models:/, mlflow-artifacts:/), judged by
  the run, logged model, registered model or experiment it reads.
- ARTIFACT: a path under the artifact proxy, judged by the experiment it belongs to.
- GRANT_TARGET: the resource_type and resource_id fields of a permission request.
- TRACE: a trace id, judged by its experiment; TRACES: a list of trace ids, each judged so.
- LOCATIONS: a trace search's `locations` (or the 2.x client's `experiment_ids`), each
  experiment judged; a search naming none is for admins only, as officially.
- OTLP_EXPERIMENT: the experiment an OTLP export's header names (`field` is the header's name,
  x-mlflow-experiment-id); without the header, 400.
One more narrows a listing instead of refusing it:
- SEARCH_SCOPE: a search of experiments (or of their runs or logged models) or of registered
  models (`field` is EXPERIMENT or REGISTERED_MODEL), given the filter clause that keeps what
  the caller may read, under the field name SCOPE, which no request can send.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

# who may call a route
PUBLIC, SIGNED_IN, ADMIN, SELF = "public", "signed-in", "admin", "self-or-admin"
# actions on a resource, as the official permission model names them
READ, USE, UPDATE, DELETE, MANAGE = "read", "use", "update", "delete", "manage"
# resources
EXPERIMENT, EXPERIMENT_NAME, RUN, RUNS = "experiment", "experiment_name", "run", "runs"
LOGGED_MODEL, NAMED_MODELS, REGISTERED_MODEL = "logged_model", "named_models", "registered_model"
MODEL_SOURCE, ARTIFACT, GRANT_TARGET = "model_source", "artifact", "grant_target"
SEARCH_SCOPE = "search_scope"
TRACE, TRACES, LOCATIONS, OTLP_EXPERIMENT = "trace", "traces", "locations", "otlp_experiment"

SCOPE = " scope"  # the field a search handler reads its SEARCH_SCOPE clause from


@dataclass(frozen=True)
class Need:
    resource: str
    field: str
    action: str = READ


# what follows a successful request: the creator of an experiment or registered model manages
# it; a deleted or renamed registered model's grants go or follow (its name is its id)
CREATED_EXPERIMENT, CREATED_MODEL, DELETED_MODEL, RENAMED_MODEL = "created experiment", "created model", \
    "deleted model", "renamed model"


@dataclass(frozen=True)
class Access:
    who: str
    needs: tuple[Need, ...] = ()
    user_field: str = ""  # SELF: the field naming the user the route is about (absent: the caller)
    then: str = ""


PUBLIC_ACCESS = Access(PUBLIC)
ANY_USER = Access(SIGNED_IN)
ADMIN_ONLY = Access(ADMIN)


def on(resource: str, field: str, action: str = READ, *more: Need) -> Access:
    """A signed-in caller allowed `action` on the resource named by `field` (and `more`)."""
    return Access(SIGNED_IN, (Need(resource, field, action), *more))


def self_or_admin(field: str = "username") -> Access:
    return Access(SELF, user_field=field)


def then(access: Access, follow_up: str) -> Access:
    return replace(access, then=follow_up)
