#!/bin/sh
# The one install recipe of the platform's Python environments.
#
# Every Dockerfile runs it (--deps-only, then in full; a location's also --split);
# tests/deploy/test_image_recipes.py
# replays those same Dockerfile steps into a clean virtual environment, so what the tests
# prove is what the images contain. `make setup` uses it (with --editable) for the local
# per-location environments.
#
# Usage: deploy/docker/install.sh TARGET VENV [--deps-only | --editable | --split DIR]
#
#   TARGET       a code location (`ingestion`, ...): platform-shared + that location and
#                their locked dependencies, nothing of the other locations, no dev tools;
#                or `host`: the webserver and daemon, i.e. the `host` dependency group of
#                the root pyproject.toml (with the instance's storage package, which every
#                target gets) and no user code at all.
#   VENV         the virtual environment to create or sync (e.g. /opt/dagster/venv); a
#                relative path is taken from the current directory.
#   --deps-only  third-party dependencies only, no workspace member: that layer needs only
#                uv.lock and the pyproject.toml files, so editing code does not rebuild it.
#   --editable   workspace members linked to their sources (local development: edits show
#                on the next code-server reload), plus a location's `test` dependency
#                group so its tests run in its own environment. Without it they are built as wheels, so
#                an image's runtime stage copies the environment alone; those wheels are
#                rebuilt on every run, so re-running the script always installs the
#                current sources.
#   --split DIR  installs nothing: moves the workspace members a full install put in VENV
#                (their files as listed in RECORD, with their bytecode) to DIR, at the same
#                paths below it. VENV is left as --deps-only made it, byte for byte, so an
#                image's runtime stage copies the dependencies as a layer the build cache
#                keeps and the platform's own code (DIR) as a small layer on top: a code
#                change ships that layer alone.
#
# The workspace root is two levels above this script. Only the files the Dockerfile copied
# are needed: the root pyproject.toml and uv.lock, plus deploy/instance/, shared/ and the
# location (their pyproject.toml alone with --deps-only). uv.lock is used as it is (--frozen): whether it is
# up to date with every pyproject.toml is checked where the whole workspace is present
# (CI runs `uv lock --check`).
#
# The interpreter is uv's choice unless UV_PYTHON names one (the images set it). uv reuses
# its cache when it has one (works offline once warm) and downloads from the index otherwise.
set -eu

usage() {
    echo "usage: $0 TARGET VENV [--deps-only | --editable]" >&2
    exit 2
}

[ $# -ge 2 ] && [ $# -le 4 ] || usage
target=$1
venv=$2
mode=${3:-wheels}
case "$mode:$#" in
    wheels:2 | --deps-only:3 | --editable:3 | --split:4) ;;
    *) usage ;;
esac
layer=${4:-}
case "$venv" in
    /*) ;;
    *) venv=$(pwd)/$venv ;;
esac

root=$(CDPATH='' cd -- "$(dirname -- "$0")/../.." && pwd)
[ -f "$root/uv.lock" ] || {
    echo "install.sh: no uv.lock in $root" >&2
    exit 2
}

instance=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$root/deploy/instance/pyproject.toml" | head -n 1)

case "$target" in
    host)
        # A dependency group of the virtual root project: of the workspace members, only
        # the instance's storage package.
        set -- --only-group host
        members=$instance
        ;;
    "" | -* | *[!a-z0-9_-]*)
        echo "install.sh: invalid target '$target'" >&2
        exit 2
        ;;
    *)
        [ -f "$root/locations/$target/pyproject.toml" ] || {
            echo "install.sh: no locations/$target/pyproject.toml under $root" >&2
            exit 2
        }
        set -- --package "$target"
        shared=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$root/shared/pyproject.toml" | head -n 1)
        members="$instance $shared $target"
        ;;
esac

if [ "$mode" = --split ]; then
    case "$layer" in
        /*) ;;
        *) layer=$(pwd)/$layer ;;
    esac
    [ -x "$venv/bin/python" ] || {
        echo "install.sh: --split: no environment at $venv" >&2
        exit 2
    }
    # shellcheck disable=SC2086 # one distribution name per word
    exec "$venv/bin/python" -I -B "$root/deploy/docker/split_members.py" "$layer" $members
fi

case "$mode" in
    --deps-only) set -- "$@" --no-install-workspace --no-editable ;;
    # Local environments are compiled to bytecode like the images (UV_COMPILE_BYTECODE):
    # where .pyc files cannot be written (PYTHONDONTWRITEBYTECODE, a read-only checkout),
    # every process would otherwise compile Dagster's sources again, 1.5 s per start.
    --editable) set -- "$@" --compile-bytecode --group test ;;
    wheels)
        set -- "$@" --no-editable
        # uv rebuilds a local wheel only when its pyproject.toml changes: force it.
        for member in $members; do
            set -- "$@" --reinstall-package "$member"
        done
        ;;
esac

# In an image build, a CA bundle for the index arrives as the secret `ca_bundle` (a
# TLS-inspecting proxy); uv trusts it through SSL_CERT_FILE for this process only.
if [ -s /run/secrets/ca_bundle ]; then
    export SSL_CERT_FILE=/run/secrets/ca_bundle
fi

# --frozen: the lock as it is. --no-default-groups: never the `dev` group.
export UV_PROJECT_ENVIRONMENT="$venv"
exec uv sync --project "$root" --frozen --no-default-groups "$@"
