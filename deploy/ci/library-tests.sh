#!/bin/sh
# The suites that need no running platform, side by side: each location's tests in its
# own environment and the shared library's in the dev environment. They are mostly
# single-threaded, so on two or more cores this saves minutes; each suite's output is
# printed whole, in order, once all have finished.
# Usage (under tests.with_servers, so that all share one PostgreSQL and one S3 server):
#   sh deploy/ci/library-tests.sh UV LOCATION... [-- PYTEST_ARGS]
# Exit status 1 if a suite failed; pytest's "no test selected" (5) is not a failure, so
# that PYTEST_ARGS may narrow the run to some suites.
set -u
uv=$1
shift
parts=""
args=""
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then
    shift
    args="$*"
    break
  fi
  parts="$parts $1"
  shift
done
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# $args is split into words on purpose: it holds pytest options, as make's ARGS does.
for part in $parts shared; do
  if [ "$part" = shared ]; then
    # shellcheck disable=SC2086
    ("$uv" run --frozen pytest shared/tests $args >"$logs/$part.log" 2>&1
     echo $? >"$logs/$part.rc") &
  else
    # shellcheck disable=SC2086
    (".venvs/$part/bin/pytest" "locations/$part" $args >"$logs/$part.log" 2>&1
     echo $? >"$logs/$part.rc") &
  fi
done
wait

status=0
for part in $parts shared; do
  if [ "$part" = shared ]; then
    echo "== shared: shared/tests, on a SQLite and a PostgreSQL lake catalog, a folder and a bucket"
  else
    echo "== $part: locations/$part in .venvs/$part, on a SQLite and a PostgreSQL lake catalog, a folder and a bucket"
  fi
  cat "$logs/$part.log"
  rc=$(cat "$logs/$part.rc")
  [ "$rc" -eq 0 ] || [ "$rc" -eq 5 ] || status=1
done
exit $status
