#!/usr/bin/env bash
# Start the official MLflow tracking server (the version pinned in the "official"
# dependency group of pyproject.toml) for side-by-side benchmarks.
#
#   bench/official_server.sh [PORT [DATA_DIR]]   start it (in the foreground, via exec)
#   bench/official_server.sh --setup             only create .venv-official if missing
#
# PORT defaults to 5600; DATA_DIR (sqlite database + artifacts) defaults to a new temp dir.
# OFFICIAL_WORKERS sets the number of uvicorn worker processes (default 4, mlflow's own default);
# OFFICIAL_BACKEND_STORE_URI another backend store than the sqlite file in DATA_DIR.
# OFFICIAL_APP_NAME=basic-auth turns on users and permissions (--app-name basic-auth); it needs
# MLFLOW_AUTH_ADMIN_PASSWORD and, unless MLFLOW_AUTH_CONFIG_PATH names one, gets an ini file in
# DATA_DIR whose users database is DATA_DIR/basic_auth.db (the shipped one's is relative to the
# cwd), and a random MLFLOW_FLASK_SERVER_SECRET_KEY (CSRF protection of its web forms) unless set.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if [ ! -f .venv-official/.installed ] || [ pyproject.toml -nt .venv-official/.installed ]; then
    echo "official_server.sh: installing .venv-official (once per change of pyproject.toml)" >&2
    python3 -m venv .venv-official
    .venv-official/bin/pip install -q -U "pip>=25.1"
    .venv-official/bin/pip install -q --group official
    touch .venv-official/.installed
fi
if [ "${1:-}" = "--setup" ]; then
    exit 0
fi

port="${1:-5600}"
dir="${2:-$(mktemp -d -t mlflow-official.XXXXXX)}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
echo "official_server.sh: port $port, data in $dir, ${OFFICIAL_WORKERS:-4} workers" >&2

app=()
if [ -n "${OFFICIAL_APP_NAME:-}" ]; then
    app=(--app-name "$OFFICIAL_APP_NAME")
    if [ "$OFFICIAL_APP_NAME" = basic-auth ] && [ -z "${MLFLOW_AUTH_CONFIG_PATH:-}" ]; then
        export MLFLOW_AUTH_CONFIG_PATH="$dir/basic_auth.ini"
        printf '[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///%s/basic_auth.db\nadmin_username = admin\n' \
            "$dir" > "$MLFLOW_AUTH_CONFIG_PATH"
    fi
    if [ -z "${MLFLOW_FLASK_SERVER_SECRET_KEY:-}" ]; then
        MLFLOW_FLASK_SERVER_SECRET_KEY="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
        export MLFLOW_FLASK_SERVER_SECRET_KEY
    fi
fi

# Default server of mlflow 3.x: uvicorn running the FastAPI app, with --workers processes.
exec .venv-official/bin/mlflow server \
    --backend-store-uri "${OFFICIAL_BACKEND_STORE_URI:-sqlite:///$dir/mlflow.db}" \
    --artifacts-destination "$dir/mlartifacts" \
    --host 127.0.0.1 --port "$port" \
    --workers "${OFFICIAL_WORKERS:-4}" \
    ${app[@]+"${app[@]}"}
