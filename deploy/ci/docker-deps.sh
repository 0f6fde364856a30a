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

if [ "$(id -u)" -eq 0 ]; then
    sudo=
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=sudo
else
    sudo=none
fi
if [ "$sudo" = none ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "the compose tests need $missing: run \`sudo apt-get install -y $missing\` (or your system's equivalent), then make test-compose again" >&2
    exit 1
fi
echo "installing $missing for the compose tests" >&2
$sudo apt-get update -qq
# shellcheck disable=SC2086  # one word per package
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
