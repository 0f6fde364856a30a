# Image of the platform's own processes, the webserver (default command; with --read-only
# for the viewers of the compose stack) and the daemon (`dagster-daemon run -w ...`). It
# holds the `host` dependency group of the root pyproject.toml and no user code: both
# reach the code locations over gRPC, as listed in workspace.yaml.
#
# Build from the repository root (the context is filtered by .dockerignore):
#   docker build -f deploy/docker/host.Dockerfile -t data-platform/host .
# The install steps are deploy/docker/install.sh, replayed by tests/deploy/test_image_recipes.py.

# The base: the official Python image by default; with no registry in reach, the Debian
# image of deploy/docker/offline-base.sh (BASE_IMAGE=data-platform/base:bookworm). Both
# put Python 3.11 on PATH as python3.
ARG BASE_IMAGE=python:3.11.14-slim-trixie
FROM ${BASE_IMAGE} AS build

# uv from the package index, pinned like the rest of the toolchain, in an environment of
# its own (Debian's Python refuses system-wide pip installs). A CA bundle for the index
# (a TLS-inspecting proxy) comes as the build secret `ca_bundle`: mounted for the steps
# that download, never copied into a layer.
RUN --mount=type=secret,id=ca_bundle \
    python3 -m venv /opt/uv \
    && if [ -s /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
    && /opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check uv==0.13.8

ENV PATH=/opt/uv/bin:$PATH \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=python3

WORKDIR /src

# The host group: the root manifest, the lock and the instance's storage package; no
# user code and not the shared library.
COPY deploy/docker/install.sh deploy/docker/install.sh
COPY pyproject.toml uv.lock ./
COPY deploy/instance/ deploy/instance/
RUN --mount=type=cache,target=/root/.cache/uv --mount=type=secret,id=ca_bundle \
    sh deploy/docker/install.sh host /opt/dagster/venv

# The instance file: the repository's dagster.yaml with the PostgreSQL storage and compute
# logs in the object store, made by the environment's own platform_instance (the images run
# against the platform's server and store, sharing no volume).
COPY dagster.yaml dagster.yaml
RUN /opt/dagster/venv/bin/python -m platform_instance.config dagster.yaml --postgres \
        --s3-compute-logs --out /opt/dagster/dagster.yaml

FROM ${BASE_IMAGE}

# DAGSTER_EVENT_BATCH_SIZE: the daemon creates the runs sensors request, with one planned
# event per partition, written in one batch (platform_instance.storage.EVENT_BATCH_SIZE).
ENV PATH=/opt/dagster/venv/bin:$PATH \
    DAGSTER_HOME=/opt/dagster/instance \
    DAGSTER_EVENT_BATCH_SIZE=1200 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# The same non-root uid/gid as the location images. The webservers read compute logs from
# the object store: nothing is shared with the code servers but the network.
RUN groupadd --system --gid 10001 dagster \
    && useradd --system --uid 10001 --gid dagster --create-home --home-dir /opt/dagster/user \
        --shell /usr/sbin/nologin dagster \
    && mkdir -p /opt/dagster/instance/storage /opt/dagster/app \
    && chown -R dagster:dagster /opt/dagster/instance

COPY --from=build /opt/dagster/venv /opt/dagster/venv
COPY --from=build /opt/dagster/dagster.yaml /opt/dagster/instance/dagster.yaml
COPY workspace.yaml /opt/dagster/app/workspace.yaml
# `make deploy` reloads a location through this, inside the webserver's container: the
# compose stack publishes only the sign-in proxy.
COPY deploy/docker/reload_location.py /opt/dagster/app/reload_location.py

USER 10001:10001
WORKDIR /opt/dagster/app
EXPOSE 3000

CMD ["dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-w", "/opt/dagster/app/workspace.yaml"]
