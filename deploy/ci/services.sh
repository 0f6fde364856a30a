#!/usr/bin/env bash
# A lasting PostgreSQL 15 on a Debian/Ubuntu machine (installed and started when absent or
# stopped), for the benchmarks, a local stack on PostgreSQL, or a test suite that should
# use this server instead of its own throwaway cluster. Source it to get the
# DAGSTER_POSTGRES_* variables of a role that may create databases:
#   source deploy/ci/services.sh
set -euo pipefail

_apt_install() {
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/15/bin/postgres >/dev/null 2>&1; then
  echo "installing PostgreSQL 15" >&2
  _apt_install postgresql-15
fi

if ! pg_lsclusters -h 2>/dev/null | grep -q '^15 \+main'; then
  pg_createcluster 15 main >/dev/null
fi
if ! pg_lsclusters -h | grep -q '^15 \+main .* online'; then
  pg_ctlcluster 15 main start
fi

PG_PORT=$(pg_lsclusters -h | awk '$1 == "15" && $2 == "main" {print $3}')
export DAGSTER_POSTGRES_HOST=127.0.0.1
export DAGSTER_POSTGRES_PORT="$PG_PORT"
export DAGSTER_POSTGRES_USER=dagster_ci
export DAGSTER_POSTGRES_DB=dagster_ci
# A random password, so nothing secret is committed and the tests can grep logs for it.
# Made once per machine user and kept outside the checkout: a second shell sourcing this
# while a suite runs must not change the password under it.
_pw_dir="${XDG_STATE_HOME:-${HOME:-/tmp}/.local/state}/dagster-platform"
_pw_file="$_pw_dir/postgres-password"
if [ ! -s "$_pw_file" ]; then
  mkdir -p "$_pw_dir"
  _pw_new="$(mktemp "$_pw_dir/.password.XXXXXX")"  # mode 600
  echo "ci-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$_pw_new"
  # A hard link appears whole or not at all, and never replaces one made meanwhile.
  ln "$_pw_new" "$_pw_file" 2>/dev/null || true
  rm -f "$_pw_new"
fi
DAGSTER_POSTGRES_PASSWORD="$(cat "$_pw_file")"
if [ "${#DAGSTER_POSTGRES_PASSWORD}" -lt 16 ]; then
  echo "unusable password in $_pw_file: delete it and source this again" >&2
  return 1 2>/dev/null || exit 1
fi
export DAGSTER_POSTGRES_PASSWORD

_psql() { (cd / && su postgres -c "psql -v ON_ERROR_STOP=1 -qtA -p $PG_PORT $*") ; }
if [ "$(id -u)" -ne 0 ]; then _psql() { sudo -u postgres psql -v ON_ERROR_STOP=1 -qtA -p "$PG_PORT" "$@"; }; fi
if [ "$(_psql -c "\"SELECT 1 FROM pg_roles WHERE rolname = '$DAGSTER_POSTGRES_USER'\"")" != "1" ]; then
  _psql -c "\"CREATE ROLE $DAGSTER_POSTGRES_USER LOGIN CREATEDB\""
fi
_psql -c "\"ALTER ROLE $DAGSTER_POSTGRES_USER PASSWORD '$DAGSTER_POSTGRES_PASSWORD'\""
if [ "$(_psql -c "\"SELECT 1 FROM pg_database WHERE datname = '$DAGSTER_POSTGRES_DB'\"")" != "1" ]; then
  _psql -c "\"CREATE DATABASE $DAGSTER_POSTGRES_DB OWNER $DAGSTER_POSTGRES_USER\""
fi
echo "PostgreSQL 15 ready on 127.0.0.1:$PG_PORT (role $DAGSTER_POSTGRES_USER)" >&2
