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
# glibc gives memory blocks of 128 KiB and more back to the system when freed. Without this it
# raises that threshold to the largest block freed, and keeps the heap that big: each worker
# and thread that checked a password (argon2's 19 MiB) held 19 MiB more for good.
export MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-131072}"
exec "$python" -m app serve "$@"
