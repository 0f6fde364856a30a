#!/bin/sh
# The warehouse lake's catalog, made once when the cluster is initialised: a database of
# its own, owned by the role `warehouse` (the locations' runs write the lake as it and can
# touch nothing of Dagster's), and the role `warehouse_reader`, which may only read it
# (notebooks, BI tools). Runs from the official image's /docker-entrypoint-initdb.d and
# from deploy/docker/postgres/entrypoint.sh alike, against the socket-only server.
set -eu

for name in WAREHOUSE_CATALOG_PASSWORD WAREHOUSE_READER_PASSWORD; do
    eval "value=\${$name-}"
    [ -n "$value" ] || {
        echo "10-warehouse.sh: $name is required" >&2
        exit 1
    }
done

# The passwords reach psql as variables on standard input, never on a command line, and
# the server quotes them (format %L), so no character of theirs can change the SQL.
quoted() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g"; }
psql -v ON_ERROR_STOP=1 --quiet --username "$POSTGRES_USER" --dbname postgres <<SQL
\set writer '$(quoted "$WAREHOUSE_CATALOG_PASSWORD")'
\set reader '$(quoted "$WAREHOUSE_READER_PASSWORD")'
SELECT format('CREATE ROLE warehouse LOGIN PASSWORD %L', :'writer') \gexec
SELECT format('CREATE ROLE warehouse_reader LOGIN PASSWORD %L', :'reader') \gexec
CREATE DATABASE warehouse OWNER warehouse;
REVOKE ALL ON DATABASE warehouse FROM PUBLIC;
GRANT CONNECT ON DATABASE warehouse TO warehouse_reader;
\connect warehouse
GRANT USAGE ON SCHEMA public TO warehouse_reader;
-- The catalog's tables are made by DuckLake on its first attach, as the role warehouse.
ALTER DEFAULT PRIVILEGES FOR ROLE warehouse IN SCHEMA public GRANT SELECT ON TABLES TO warehouse_reader;
SQL
echo "10-warehouse.sh: database warehouse for the lake catalog, roles warehouse and warehouse_reader"
