#!/bin/sh
# Initialises the cluster on first start (an empty data volume), then runs the server in
# the foreground. First start: superuser POSTGRES_USER with POSTGRES_PASSWORD
# (scram-sha-256 over TCP), database POSTGRES_DB, then the scripts in
# /docker-entrypoint-initdb.d (*.sh), as the official image does.
set -eu

for name in POSTGRES_USER POSTGRES_PASSWORD; do
    eval "value=\${$name:-}"
    [ -n "$value" ] || {
        echo "postgres-entrypoint: $name is required" >&2
        exit 1
    }
done
db=${POSTGRES_DB:-$POSTGRES_USER}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
        --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA" >/dev/null
    rm -f "$pwfile"
    # Any peer on the compose network, by password; the socket stays local to the container.
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    # The database is made by a server that listens on its socket only, so no client sees
    # a half-initialised cluster.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    [ "$db" = postgres ] || createdb --username="$POSTGRES_USER" "$db"
    for script in /docker-entrypoint-initdb.d/*.sh; do
        [ -e "$script" ] || continue
        sh "$script"
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "postgres-entrypoint: initialised $PGDATA (database $db)"
fi

exec postgres -D "$PGDATA" -c listen_addresses='*'
