#!/bin/sh
# The size of our image next to the official `mlflow` server packaged the same way
# (bench/official-image.Dockerfile: same base, venv, multi-stage, drivers and store SDKs):
#   bench/image-size.sh                       with docker
#   CONTAINER_ENGINE=podman bench/image-size.sh
set -eu
cd "$(dirname "$0")/.."
engine=${CONTAINER_ENGINE:-docker}
$engine build --quiet --file docker/Dockerfile --tag mlflow-server:size . >/dev/null
$engine build --quiet --file bench/official-image.Dockerfile --tag mlflow-official:size . >/dev/null
ours=$($engine image inspect --format '{{.Size}}' mlflow-server:size)
official=$($engine image inspect --format '{{.Size}}' mlflow-official:size)
echo "mlflow-server: $((ours / 1000000)) MB; official mlflow server: $((official / 1000000)) MB;" \
     "ratio $(python3 -c "print(round($ours / $official, 2))")"
