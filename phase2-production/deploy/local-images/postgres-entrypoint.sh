#!/bin/sh
# The official postgres image's first start, in its essentials (postgres.Dockerfile): a new
# cluster owned by POSTGRES_USER with its password, a database POSTGRES_DB, password logins
# from the network; later starts find the cluster and only run the server.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  user=${POSTGRES_USER:-postgres}
  if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then password=$(cat "$POSTGRES_PASSWORD_FILE"); else password=${POSTGRES_PASSWORD:-}; fi
  if [ -z "$password" ]; then
    echo "postgres: POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) must be set" >&2
    exit 1
  fi
  printf '%s\n' "$password" >/tmp/pwfile
  initdb --username="$user" --pwfile=/tmp/pwfile --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --no-locale >/dev/null
  rm -f /tmp/pwfile
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  pg_ctl --wait --silent --options="-c listen_addresses=''" start
  db=${POSTGRES_DB:-$user}
  if [ "$db" != "postgres" ]; then psql --username="$user" --dbname=postgres --quiet --command="CREATE DATABASE \"$db\""; fi
  pg_ctl --wait --silent --mode=fast stop
fi
if [ "${1:-}" = "postgres" ]; then shift; exec postgres -c listen_addresses='*' "$@"; fi
exec "$@"
