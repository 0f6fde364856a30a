#!/bin/sh
# What the compose tests need from the machine: Docker Engine, Compose (v2 plugin or
# 1.29) and debootstrap (the offline base image). `make test-compose` runs this first;
# what is missing is installed with apt on Debian or Ubuntu, as root or through
# passwordless sudo, as deploy/ci/test-deps.sh does for PostgreSQL. The engine is not
# started here: the tests start one when none answers, and stop the one they started.
set -eu

missing=
command -v dockerd >/dev/null 2>&1 || missing="docker.io"
docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1 \
    || missing="$missing docker-compose"
command -v debootstrap >/dev/null 2>&1 || missing="$missing debootstrap"
missing=$(echo "$missing" | sed 's/^ *//')
[ -n "$missing" ] || exit 0

# shellcheck disable=SC2086  # one word per package
exec sh "$(dirname "$0")/apt-install.sh" "make test-compose" $missing
