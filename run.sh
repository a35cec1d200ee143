#!/bin/sh
# Entrypoint: every option is an MLFLOW_* environment variable (see README or
# `./run.sh --help`); command-line flags override them. The Python process becomes the
# gunicorn master (exec), so signals such as SIGTERM reach it directly.
set -e
here=$(cd "$(dirname "$0")" && pwd)
if [ -n "$MLFLOW_SERVER_PYTHON" ]; then
    python=$MLFLOW_SERVER_PYTHON
elif [ -x "$here/.venv/bin/python" ]; then
    python=$here/.venv/bin/python
else
    python=python3
fi
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
exec "$python" -m app serve "$@"
