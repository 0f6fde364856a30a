#!/bin/sh
# Builds the platform's images for the compose stack: `make images`, `make up` and
# `make deploy` call it. Compose's own build works too where images can be pulled; this
# script adds what it cannot pass on every Compose version:
#
#   - CA_BUNDLE: a PEM file the package index's TLS chain needs (a TLS-inspecting proxy).
#     It reaches the build as the BuildKit secret `ca_bundle`, mounted only for the steps
#     that download; no layer and no final image contains it.
#   - BASE_IMAGE: the image every stage builds FROM (default: the pinned official Python
#     image). A data-platform/base:* tag that does not exist yet is made from Debian's
#     packages by offline-base.sh, for hosts that reach no image registry.
#   - POSTGRES_IMAGE: a data-platform/* tag is built from deploy/docker/postgres/ on
#     BASE_IMAGE; any other (default postgres:15.14) is left to compose to pull.
#
# Usage: deploy/docker/build-images.sh [SERVICE...]   (default: every platform image)
#   SERVICE is a location (its code-server image, from location.Dockerfile), `host`
#   (webservers and daemon, from host.Dockerfile), `proxy` (the sign-in proxy, nginx
#   from Debian's packages, from proxy/Dockerfile) or `objects` (the object store,
#   SeaweedFS, from objects/Dockerfile).
# Each variable comes from the environment, else from .env, else its default; IMAGE_TAG
# (default local) names the tags, data-platform/<service>:<tag>, as docker-compose.yml does.
set -eu

root=$(CDPATH='' cd -- "$(dirname -- "$0")/../.." && pwd)
cd "$root"

# A value from the environment, else from .env (the file compose reads), else a default.
setting() {
    eval "value=\${$1:-}"
    if [ -z "$value" ] && [ -f .env ]; then
        value=$(sed -n "s/^$1=//p" .env | tail -n 1)
    fi
    echo "${value:-$2}"
}

tag=$(setting IMAGE_TAG local)
base=$(setting BASE_IMAGE python:3.11.14-slim-trixie)
postgres=$(setting POSTGRES_IMAGE postgres:15.14)
ca_bundle=$(setting CA_BUNDLE "")

locations=$(sed -n 's/^ *location_name: *//p' workspace.yaml | tr '\n' ' ')
[ $# -gt 0 ] || set -- host proxy objects $locations
for service in "$@"; do
    case " host proxy objects $locations " in
        *" $service "*) ;;
        *)
            echo "build-images: unknown image '$service'; one of: host proxy objects $locations" >&2
            exit 2
            ;;
    esac
done

# BuildKit (cache and secret mounts): the buildx plugin, or a client older than 23 whose
# built-in BuildKit DOCKER_BUILDKIT=1 turns on. A newer client without buildx has neither.
docker=${DOCKER:-}
if [ -z "$docker" ]; then
    for candidate in $(which -a docker 2>/dev/null); do
        if "$candidate" buildx version >/dev/null 2>&1; then
            docker=$candidate
            break
        fi
        major=$("$candidate" version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1)
        if [ -n "$major" ] && [ "$major" -lt 23 ] 2>/dev/null; then
            docker=$candidate
            break
        fi
    done
fi
[ -n "$docker" ] || {
    echo "build-images: no Docker client with BuildKit: install the buildx plugin" >&2
    exit 1
}
export DOCKER_BUILDKIT=1


ca_flag=
if [ -n "$ca_bundle" ]; then
    [ -s "$ca_bundle" ] || {
        echo "build-images: CA_BUNDLE=$ca_bundle is not a readable file" >&2
        exit 1
    }
    ca_flag="--secret id=ca_bundle,src=$ca_bundle"
fi

case "$base" in
    data-platform/base:*)
        if ! "$docker" image inspect "$base" >/dev/null 2>&1; then
            OFFLINE_BASE_TAG=$base sh deploy/docker/offline-base.sh
        fi
        ;;
esac

# build IMAGE DOCKERFILE [DOCKER-BUILD-OPTION...]
build() {
    image=$1
    dockerfile=$2
    shift 2
    started=$(date +%s)
    # shellcheck disable=SC2086  # $ca_flag is empty or two words
    "$docker" build --quiet --build-arg BASE_IMAGE="$base" $ca_flag "$@" \
        -f "$dockerfile" -t "$image" . >/dev/null
    size=$("$docker" image inspect --format '{{.Size}}' "$image")
    echo "build-images: $image in $(($(date +%s) - started)) s, $((size / 1000000)) MB"
}

case "$postgres" in
    data-platform/*) build "$postgres" deploy/docker/postgres/Dockerfile ;;
esac
for service in "$@"; do
    case "$service" in
        host) build "data-platform/host:$tag" deploy/docker/host.Dockerfile ;;
        proxy) build "data-platform/proxy:$tag" deploy/docker/proxy/Dockerfile ;;
        objects) build "data-platform/objects:$tag" deploy/docker/objects/Dockerfile ;;
        # Every location from the one recipe, named by its build argument.
        *) build "data-platform/$service:$tag" deploy/docker/location.Dockerfile \
            --build-arg LOCATION="$service" ;;
    esac
done
