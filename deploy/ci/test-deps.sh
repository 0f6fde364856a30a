#!/bin/sh
# What the test suite needs from the machine besides Python: PostgreSQL's server binaries
# (the suite makes a throwaway cluster from them) and Chromium (the UI test). `make test`
# runs this first. What is missing is installed with apt on Debian or Ubuntu, as root or
# through passwordless sudo; anywhere else it stops with the one command to run.
set -eu

have_postgres() {
    command -v pg_ctl >/dev/null 2>&1 && return 0
    for pg_ctl in /usr/lib/postgresql/*/bin/pg_ctl; do
        [ -x "$pg_ctl" ] && return 0
    done
    return 1
}

missing=
have_postgres || missing="postgresql"
# The UI test launches this executable by path.
[ -x /usr/bin/chromium ] || missing="$missing chromium"
# A root session runs the server as the account Debian's package creates.
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    missing="$missing postgresql"
fi
missing=$(echo "$missing" | tr ' ' '\n' | sort -u | tr '\n' ' ' | sed 's/ *$//; s/^ *//')
[ -n "$missing" ] || exit 0

if [ "$(id -u)" -eq 0 ]; then
    sudo=
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=sudo
else
    sudo=none
fi
if [ "$sudo" = none ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "the tests need $missing: run \`sudo apt-get install -y $missing\` (or your system's equivalent), then make test again" >&2
    exit 1
fi
echo "installing $missing for the tests" >&2
$sudo apt-get update -qq
# shellcheck disable=SC2086  # one word per package
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
