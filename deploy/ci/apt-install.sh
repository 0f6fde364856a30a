#!/bin/sh
# Installs the Debian packages a make verb needs: with apt, as root or through
# passwordless sudo; anywhere else it stops with the one command to run. test-deps.sh and
# docker-deps.sh call it with what they found missing.
#
# Usage: deploy/ci/apt-install.sh VERB [PACKAGE...]   (VERB: e.g. "make test")
set -eu

verb=$1
shift
[ $# -gt 0 ] || exit 0

if [ "$(id -u)" -eq 0 ]; then
    sudo=
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=sudo
else
    sudo=none
fi
if [ "$sudo" = none ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "$verb needs $*: run \`sudo apt-get install -y $*\` (or your system's equivalent), then $verb again" >&2
    exit 1
fi
echo "installing $* for $verb" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
