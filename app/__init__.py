"""mlflow-server: a fast tracking server for the MLflow REST API (see app.factory.create_app)."""

__version__ = "0.1.0"
# The MLflow release whose REST API this server speaks; clients read it from /version.
MLFLOW_API_VERSION = "3.17.2"
