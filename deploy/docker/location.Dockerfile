# Image of a code location: its gRPC code server on port 4000, which also runs the
# location's jobs (default run launcher). One recipe for every location, named by the build
# argument LOCATION (a location_name of workspace.yaml). The image holds platform-shared,
# that location and their locked dependencies: no other location, no dev tools, no sources.
#
# Build from the repository root (the context is filtered by .dockerignore):
#   docker build -f deploy/docker/location.Dockerfile --build-arg LOCATION=ingestion \
#     -t data-platform/ingestion .
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

# Layer 1: third-party dependencies. Invalidated by uv.lock or a manifest only, not by code.
COPY deploy/docker/install.sh deploy/docker/install.sh
COPY pyproject.toml uv.lock ./
COPY deploy/instance/pyproject.toml deploy/instance/pyproject.toml
COPY shared/pyproject.toml shared/pyproject.toml
# The location, declared this late so that every step above is shared by all of them.
ARG LOCATION
RUN test -n "$LOCATION" || { echo "build with --build-arg LOCATION=<location>" >&2; exit 1; }
COPY locations/${LOCATION}/pyproject.toml locations/${LOCATION}/pyproject.toml
RUN --mount=type=cache,target=/root/.cache/uv --mount=type=secret,id=ca_bundle \
    sh deploy/docker/install.sh "$LOCATION" /opt/dagster/venv --deps-only

# Layer 2: the workspace packages, built as wheels into the same environment.
COPY deploy/instance/ deploy/instance/
COPY shared/ shared/
COPY locations/${LOCATION}/src/ locations/${LOCATION}/src/
RUN --mount=type=cache,target=/root/.cache/uv --mount=type=secret,id=ca_bundle \
    sh deploy/docker/install.sh "$LOCATION" /opt/dagster/venv

# The instance file: the repository's dagster.yaml with the PostgreSQL storage and compute
# logs in the object store, made by the environment's own platform_instance (the images run
# against the platform's server and store, sharing no volume).
# -B: no bytecode written into the dependencies, which must stay as layer 1 left them.
COPY dagster.yaml dagster.yaml
RUN /opt/dagster/venv/bin/python -B -m platform_instance.config dagster.yaml --postgres \
        --s3-compute-logs --out /opt/dagster/dagster.yaml

# The workspace packages move to a folder of their own: the environment is layer 1's again,
# so the runtime stage's copy of it stays cached and a code change ships only that folder.
COPY deploy/docker/split_members.py deploy/docker/split_members.py
RUN sh deploy/docker/install.sh "$LOCATION" /opt/dagster/venv --split /opt/dagster/code

FROM ${BASE_IMAGE}

# DAGSTER_EVENT_BATCH_SIZE: a run over a partition range writes its per-partition events
# in one batch (platform_instance.storage.EVENT_BATCH_SIZE).
ENV PATH=/opt/dagster/venv/bin:$PATH \
    DAGSTER_HOME=/opt/dagster/instance \
    DAGSTER_EVENT_BATCH_SIZE=1200 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# The same non-root uid/gid in every image of the platform. No volume: files live in the
# object store, runs and events in PostgreSQL; $DAGSTER_HOME/storage holds only what a
# process writes for itself (compute logs before their upload).
RUN groupadd --system --gid 10001 dagster \
    && useradd --system --uid 10001 --gid dagster --create-home --home-dir /opt/dagster/user \
        --shell /usr/sbin/nologin dagster \
    && mkdir -p /opt/dagster/instance/storage /opt/dagster/app \
    && chown -R dagster:dagster /opt/dagster/instance

# Dependencies, then the platform's code: two layers, the first unchanged by a code change.
COPY --from=build /opt/dagster/venv /opt/dagster/venv
COPY --from=build /opt/dagster/code/ /opt/dagster/venv/
# The instance: runs started here write their events to the platform's Postgres.
COPY --from=build /opt/dagster/dagster.yaml /opt/dagster/instance/dagster.yaml
# Where the alert sensors send each team's alerts (ALERT_ROUTES, relative to WORKDIR).
COPY alerts.toml /opt/dagster/app/alerts.toml

USER 10001:10001
WORKDIR /opt/dagster/app
EXPOSE 4000

# The location served. `dagster api grpc` reads its module and location name from these
# variables, so one CMD fits every location; compose and the Helm chart also pass them as
# arguments. Declared last, so the base and account layers are shared by every location.
ARG LOCATION
ENV DAGSTER_MODULE_NAME=${LOCATION}.definitions \
    DAGSTER_LOCATION_NAME=${LOCATION}

# No ENTRYPOINT: the Helm chart replaces the arguments (`dagster api grpc ...`). One
# process serves the definitions: `dagster code-server start` would put a proxy in front,
# a second Python start-up, only to reload code that never changes inside an image.
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "4000"]
