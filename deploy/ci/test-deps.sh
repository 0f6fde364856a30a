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

# shellcheck disable=SC2086  # one word per package
exec sh "$(dirname "$0")/apt-install.sh" "make test" $missing
