# For comparison only: the official `mlflow` server packaged exactly like docker/Dockerfile
# (Debian's Python, a venv, multi-stage, non-root) with the same database drivers and store
# SDKs at the versions pyproject.toml pins. bench/image-size.sh builds both and compares.
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /app/.venv
WORKDIR /src
COPY pyproject.toml ./
RUN python3 -c "import re, tomllib; p = tomllib.load(open('pyproject.toml', 'rb')); \
drivers = {'psycopg2-binary', 'pymysql', 'boto3', 'azure-storage-blob', 'google-cloud-storage', 'paramiko'}; \
print('\n'.join([d for d in p['dependency-groups']['official'] if d.startswith('mlflow==')] \
+ [d for d in p['project']['dependencies'] if re.split('[=<>]', d)[0] in drivers]))" > requirements.txt \
 && /app/.venv/bin/pip install --no-cache-dir --disable-pip-version-check --use-pep517 -r requirements.txt \
 && /app/.venv/bin/pip uninstall --yes --quiet pip setuptools

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && groupadd --gid 10001 mlflow \
 && useradd --uid 10001 --gid 10001 --create-home --shell /usr/sbin/nologin mlflow
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 5000
ENTRYPOINT ["mlflow", "server", "--host", "0.0.0.0"]
