"""The backend store's tables (SQLAlchemy Core; the migrations create them)."""
from sqlalchemy import (
    BigInteger, Boolean, Column, Double, ForeignKey, ForeignKeyConstraint, Index, Integer, MetaData,
    String, Table, Text, UniqueConstraint,
)
from sqlalchemy.dialects import mysql

metadata = MetaData()

# Values of columns below
ACTIVE, DELETED = "active", "deleted"  # lifecycle_stage
VIEW_STAGES = {"ACTIVE_ONLY": (ACTIVE,), "DELETED_ONLY": (DELETED,), "ALL": (ACTIVE, DELETED)}  # by run_view_type
MODEL_INPUT, MODEL_OUTPUT = "input", "output"  # run_models.direction

# Experiment ids are 64-bit (a file store's are random 18-digit numbers; migration 0013). On
# SQLite, INTEGER is already 64-bit, and only INTEGER PRIMARY KEY is the autoincrementing rowid.
EXPERIMENT_ID = BigInteger().with_variant(Integer, "sqlite")

experiments = Table(
    "experiments", metadata,
    Column("experiment_id", EXPERIMENT_ID, primary_key=True, autoincrement=True),
    Column("name", String(500), nullable=False, unique=True),
    Column("artifact_location", String(2000), nullable=False),
    Column("lifecycle_stage", String(32), nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
)

experiment_tags = Table(
    "experiment_tags", metadata,
    Column("experiment_id", EXPERIMENT_ID, ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
           primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", String(5000), nullable=False),
)

LONG_TEXT = Text().with_variant(mysql.LONGTEXT(), "mysql")

runs = Table(
    "runs", metadata,
    Column("run_uuid", String(32), primary_key=True),
    Column("experiment_id", EXPERIMENT_ID, ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
           nullable=False),
    Column("name", String(250), nullable=False),
    Column("user_id", String(256), nullable=False),
    Column("status", String(20), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger),
    Column("lifecycle_stage", String(20), nullable=False),
    Column("artifact_uri", String(2000), nullable=False),
    Column("deleted_time", BigInteger),
    # The run's params and tags as the JSON arrays a run read returns (NULL: none), rewritten
    # in every transaction that writes them, after locking this row: a search page reads them
    # with its runs instead of aggregating thousands of rows of params and tags.
    Column("params_json", LONG_TEXT),
    Column("tags_json", LONG_TEXT),
    Index("ix_runs_experiment_start", "experiment_id", "lifecycle_stage", "start_time"),
)

# On PostgreSQL, params and tags also have statistics on (key, value) pairs (migration 0005).
params = Table(
    "params", metadata,
    Column("run_uuid", String(32), ForeignKey("runs.run_uuid", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", String(6000), nullable=False),
    sqlite_with_rowid=False,
)

tags = Table(
    "tags", metadata,
    Column("run_uuid", String(32), ForeignKey("runs.run_uuid", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", String(8000), nullable=False),
    sqlite_with_rowid=False,
)

# Every logged point. The primary key orders a run's history by key, timestamp, step
# (the order the official server returns it in)
# (SQLite keeps it clustered: WITHOUT ROWID) and drops exact duplicates of a retried request.
# Non-finite values: NaN is is_nan with value 0; +-inf is stored as +-DOUBLE_MAX, since
# MySQL cannot store either and SQLite turns NaN into NULL.
metrics = Table(
    "metrics", metadata,
    Column("run_uuid", String(32), ForeignKey("runs.run_uuid", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("timestamp", BigInteger, primary_key=True),
    Column("step", BigInteger, primary_key=True),
    Column("value", Double, primary_key=True),
    Column("is_nan", Boolean, primary_key=True),
    # Steps in order (bulk-interval sampling). PostgreSQL: covering, so that sampled points are
    # read from the index alone (SQLite and MySQL secondary indexes hold the primary key anyway).
    Index("ix_metrics_run_key_step", "run_uuid", "key", "step", postgresql_include=["timestamp", "value", "is_nan"]),
    sqlite_with_rowid=False,
)

# The value shown for a run: the point with the highest (step, timestamp, value).
latest_metrics = Table(
    "latest_metrics", metadata,
    Column("run_uuid", String(32), ForeignKey("runs.run_uuid", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Double, nullable=False),
    Column("is_nan", Boolean, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("experiment_id", EXPERIMENT_ID, nullable=False),  # the run's, for searches in one experiment
    # The point as the JSON object a run read returns ({"key", "value", "timestamp", "step"}),
    # written with it: a search page concatenates these instead of formatting every metric.
    Column("metric_json", Text, nullable=False),
    # When the key's points are evenly spaced, one per step (the usual case: a point every
    # step or every n steps, logged in order), `points` points at steps step - stride *
    # (points - 1), ..., step; bulk-interval history then samples by arithmetic instead of
    # reading every step. stride is NULL when that is not known.
    Column("points", BigInteger),
    Column("stride", BigInteger),
    # Searches ordered by a metric read an experiment's runs in this order and stop after a page.
    Index("ix_latest_metrics_experiment_key_value", "experiment_id", "key", "is_nan", "value"),
    sqlite_with_rowid=False,
)

# MLflow 3 logged models (created by log_model; searched when listing a run's artifacts).
logged_models = Table(
    "logged_models", metadata,
    Column("model_id", String(36), primary_key=True),
    Column("experiment_id", EXPERIMENT_ID, ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
           nullable=False),
    Column("name", String(500), nullable=False),
    Column("artifact_location", String(2000), nullable=False),
    Column("creation_timestamp_ms", BigInteger, nullable=False),
    Column("last_updated_timestamp_ms", BigInteger, nullable=False),
    Column("status", String(32), nullable=False),
    Column("lifecycle_stage", String(32), nullable=False),
    Column("model_type", String(500)),
    Column("source_run_id", String(32)),
    Column("status_message", String(1000)),
    Index("ix_logged_models_experiment_name", "experiment_id", "name"),
)

# Datasets are shared by the runs of an experiment: one row per (experiment, name, digest).

datasets = Table(
    "datasets", metadata,
    Column("dataset_uuid", String(36), primary_key=True),
    Column("experiment_id", EXPERIMENT_ID, ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
           nullable=False),
    Column("name", String(500), nullable=False),
    Column("digest", String(36), nullable=False),
    Column("source_type", String(36), nullable=False),
    Column("source", LONG_TEXT, nullable=False),
    Column("schema", LONG_TEXT),
    Column("profile", LONG_TEXT),
    UniqueConstraint("experiment_id", "name", "digest", name="uq_datasets_experiment_name_digest"),
)

run_inputs = Table(
    "run_inputs", metadata,
    Column("run_uuid", String(32), ForeignKey("runs.run_uuid", ondelete="CASCADE"), primary_key=True),
    Column("dataset_uuid", String(36), ForeignKey("datasets.dataset_uuid", ondelete="CASCADE"),
           primary_key=True),
    Index("ix_run_inputs_dataset", "dataset_uuid"),
)

run_input_tags = Table(
    "run_input_tags", metadata,
    Column("run_uuid", String(32), primary_key=True),
    Column("dataset_uuid", String(36), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", String(500), nullable=False),
    ForeignKeyConstraint(["run_uuid", "dataset_uuid"], ["run_inputs.run_uuid", "run_inputs.dataset_uuid"],
                         ondelete="CASCADE"),
)

# Tags, params and metrics of logged models, and the models a run used or produced.
logged_model_tags = Table(
    "logged_model_tags", metadata,
    Column("model_id", String(36), ForeignKey("logged_models.model_id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", String(8000), nullable=False),
)

logged_model_params = Table(
    "logged_model_params", metadata,
    Column("model_id", String(36), ForeignKey("logged_models.model_id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", String(6000), nullable=False),
)

# A metric logged by a run with a model_id (log_metric(..., model_id=...)); same value encoding as metrics.
logged_model_metrics = Table(
    "logged_model_metrics", metadata,
    Column("model_id", String(36), ForeignKey("logged_models.model_id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("run_uuid", String(32), primary_key=True),
    Column("timestamp", BigInteger, primary_key=True),
    Column("step", BigInteger, primary_key=True),
    Column("value", Double, nullable=False),
    Column("is_nan", Boolean, nullable=False),
    Column("dataset_name", String(500)),
    Column("dataset_digest", String(36)),
)

# direction 'output': runs/outputs (the run logged the model, at a step); 'input': runs/log-inputs models.
run_models = Table(
    "run_models", metadata,
    Column("run_uuid", String(32), ForeignKey("runs.run_uuid", ondelete="CASCADE"), primary_key=True),
    Column("model_id", String(36), ForeignKey("logged_models.model_id", ondelete="CASCADE"), primary_key=True),
    Column("direction", String(6), primary_key=True),
    Column("step", BigInteger, nullable=False),
    Index("ix_run_models_model", "model_id"),
)

# The model registry (also holds prompts). It may live in its own database
# (--registry-store-uri), so nothing here refers to runs or logged models by foreign key.
# A registered model has a surrogate id, so a rename updates one row; last_version only
# grows, so a deleted version's number is never given out again.
registered_models = Table(
    "registered_models", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    Column("description", String(5000)),
    Column("last_version", Integer, nullable=False),
)

registered_model_tags = Table(
    "registered_model_tags", metadata,
    Column("registered_model_id", Integer, ForeignKey("registered_models.id", ondelete="CASCADE"),
           primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", String(5000), nullable=False),
)

model_versions = Table(
    "model_versions", metadata,
    Column("registered_model_id", Integer, ForeignKey("registered_models.id", ondelete="CASCADE"),
           primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    Column("description", String(5000)),
    Column("user_id", String(256)),
    Column("current_stage", String(20), nullable=False),
    Column("source", String(2000), nullable=False),
    Column("storage_location", String(2000)),
    Column("run_id", String(32)),
    Column("run_link", String(500)),
    Column("model_id", String(36)),
    Column("status", String(20), nullable=False),
    Column("status_message", String(500)),
    Index("ix_model_versions_run_id", "run_id"),
)

# A prompt version keeps its template in a tag (mlflow.prompt.text, up to 100,000 characters).
model_version_tags = Table(
    "model_version_tags", metadata,
    Column("registered_model_id", Integer, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", LONG_TEXT, nullable=False),
    ForeignKeyConstraint(["registered_model_id", "version"],
                         ["model_versions.registered_model_id", "model_versions.version"], ondelete="CASCADE"),
)

# Deleting a version deletes the aliases that point at it.
registered_model_aliases = Table(
    "registered_model_aliases", metadata,
    Column("registered_model_id", Integer, primary_key=True),
    Column("alias", String(255), primary_key=True),
    Column("version", Integer, nullable=False),
    ForeignKeyConstraint(["registered_model_id", "version"],
                         ["model_versions.registered_model_id", "model_versions.version"], ondelete="CASCADE"),
)

# Registry webhooks (MLflow 3.3+), in the registry's database. The secret is a Fernet token
# (app/services/webhooks.py), never the secret itself; events are 'entity.action' names.
webhooks = Table(
    "webhooks", metadata,
    Column("webhook_id", String(36), primary_key=True),
    Column("name", String(63), nullable=False),
    Column("description", String(1000)),
    Column("url", String(500), nullable=False),
    Column("status", String(20), nullable=False),
    Column("secret", String(1000)),
    Column("creation_timestamp", BigInteger, nullable=False),
    Column("last_updated_timestamp", BigInteger, nullable=False),
    Index("ix_webhooks_creation", "creation_timestamp", "webhook_id"),
)

webhook_events = Table(
    "webhook_events", metadata,
    Column("webhook_id", String(36), ForeignKey("webhooks.webhook_id", ondelete="CASCADE"), primary_key=True),
    Column("event", String(50), primary_key=True),
    Index("ix_webhook_events_event", "event"),
)

# Traces (MLflow 3 tracing). A trace belongs to an experiment; its tags and metadata are kept
# both as rows (which filters read) and as JSON objects in trace_info (which a page of results
# reads with its rows, as runs keep params_json and tags_json). Times are milliseconds, but a
# span's are nanoseconds, as OTLP sends them.
trace_info = Table(
    "trace_info", metadata,
    Column("trace_id", String(50), primary_key=True),
    Column("experiment_id", EXPERIMENT_ID, ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
           nullable=False),
    Column("request_time", BigInteger, nullable=False),
    Column("execution_duration", BigInteger),
    Column("state", String(50), nullable=False),
    Column("client_request_id", String(50)),
    Column("request_preview", String(1000)),
    Column("response_preview", String(1000)),
    Column("tags_json", LONG_TEXT),
    Column("metadata_json", LONG_TEXT),
    Index("ix_trace_info_experiment_time", "experiment_id", "request_time", "trace_id"),
)

trace_tags = Table(
    "trace_tags", metadata,
    Column("trace_id", String(50), ForeignKey("trace_info.trace_id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", String(8000), nullable=False),
    sqlite_with_rowid=False,
)

trace_metadata = Table(
    "trace_metadata", metadata,
    Column("trace_id", String(50), ForeignKey("trace_info.trace_id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", String(8000), nullable=False),
    sqlite_with_rowid=False,
)

# The runs a trace belongs to: its mlflow.sourceRun metadata and traces/link-to-run. No foreign
# key onto runs: a link outlives a run's deletion, as the official server's does.
trace_runs = Table(
    "trace_runs", metadata,
    Column("trace_id", String(50), ForeignKey("trace_info.trace_id", ondelete="CASCADE"), primary_key=True),
    Column("run_id", String(32), primary_key=True),
    Index("ix_trace_runs_run", "run_id"),
    sqlite_with_rowid=False,
)

# Each span: the columns filters read, and `content`, the span as the proto3 JSON of an OTLP
# Span (ids base64, times as strings, attributes as KeyValue lists), which traces/get returns as is.
spans = Table(
    "spans", metadata,
    Column("trace_id", String(50), ForeignKey("trace_info.trace_id", ondelete="CASCADE"), primary_key=True),
    Column("span_id", String(50), primary_key=True),
    Column("parent_span_id", String(50)),
    Column("name", Text),
    Column("span_type", String(500)),
    Column("status", String(50), nullable=False),
    Column("start_ns", BigInteger, nullable=False),
    Column("end_ns", BigInteger),
    Column("content", LONG_TEXT, nullable=False),
)

# Feedback and expectations on a trace (or one of its spans). value, error and metadata are JSON.
assessments = Table(
    "assessments", metadata,
    Column("assessment_id", String(50), primary_key=True),
    Column("trace_id", String(50), ForeignKey("trace_info.trace_id", ondelete="CASCADE"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("kind", String(20), nullable=False),  # feedback | expectation | issue
    Column("value", LONG_TEXT, nullable=False),
    Column("error", Text),
    Column("rationale", Text),
    Column("source_type", String(50), nullable=False),
    Column("source_id", String(250)),
    Column("span_id", String(50)),
    Column("run_id", String(32)),
    Column("overrides", String(50)),
    Column("valid", Boolean, nullable=False),
    Column("metadata", Text),
    Column("create_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
    Index("ix_assessments_trace", "trace_id", "create_time"),
    Index("ix_assessments_name", "name", "kind"),
)
