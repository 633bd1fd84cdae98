#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server on loopback, named in
# KLAXON_TEST_POSTGRES_URL and KLAXON_BENCH_DATABASE_URL, and removes the
# server afterwards. When KLAXON_TEST_POSTGRES_URL is already set, the
# command runs against that server instead. As root it installs Debian's
# postgresql package when missing; otherwise it says what to install and
# runs the command without PostgreSQL.
set -euo pipefail

if [ -n "${KLAXON_TEST_POSTGRES_URL:-}" ]; then
  export KLAXON_BENCH_DATABASE_URL="${KLAXON_BENCH_DATABASE_URL:-$KLAXON_TEST_POSTGRES_URL}"
  exec "$@"
fi

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    echo "with-postgres: installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q postgresql >/dev/null
  else
    echo "with-postgres: PostgreSQL is not installed (sudo apt-get install -y postgresql): running without it" >&2
    exec "$@"
  fi
fi

pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
pgdir=$(mktemp -d /tmp/klaxon-pg.XXXXXX)
pgport=${KLAXON_PG_PORT:-55432}
# A port another server already uses: take the next free one.
while (exec 3<>/dev/tcp/127.0.0.1/$pgport) 2>/dev/null; do pgport=$((pgport + 1)); done
as_pg() { if [ "$(id -u)" = "0" ]; then su postgres -s /bin/sh -c "$1"; else sh -c "$1"; fi; }
[ "$(id -u)" = "0" ] && chown postgres "$pgdir"
cleanup() { as_pg "$pgbin/pg_ctl -D '$pgdir/data' -m immediate stop" >/dev/null 2>&1 || true; rm -rf "$pgdir"; }
trap cleanup EXIT
as_pg "$pgbin/initdb -D '$pgdir/data' -A trust -U postgres -E UTF8 >/dev/null"
as_pg "$pgbin/pg_ctl -D '$pgdir/data' -l '$pgdir/log' -w -o \"-c listen_addresses=127.0.0.1 -p $pgport -k '$pgdir' -c fsync=on -c max_connections=200\" start >/dev/null"
as_pg "$pgbin/createdb -h 127.0.0.1 -p $pgport -U postgres klaxon_test"
export KLAXON_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$pgport/klaxon_test?sslmode=disable"
export KLAXON_BENCH_DATABASE_URL="$KLAXON_TEST_POSTGRES_URL"
echo "with-postgres: PostgreSQL $($pgbin/postgres --version | awk '{print $3}') on 127.0.0.1:$pgport"
"$@"
