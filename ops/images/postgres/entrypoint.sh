#!/bin/sh
# First start: initdb with POSTGRES_USER as the superuser (password POSTGRES_PASSWORD,
# scram-sha-256 over TCP; peer/trust only on the container's own Unix socket), and
# create POSTGRES_DB. Every start: the server in the foreground on
# IVR_DB_LISTEN:IVR_DB_PORT (loopback by default; the container uses the host's network).
# Sessions default to UTC, as on the test machines (queries name Asia/Tokyo themselves);
# the server's own log lines are in Japan time.
set -eu
: "${POSTGRES_USER:=ivr}" "${POSTGRES_DB:=myna_ivr}" "${IVR_DB_PORT:=5432}" "${IVR_DB_LISTEN:=127.0.0.1}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "myna-ivr-postgres: POSTGRES_PASSWORD is empty (set it in .env)" >&2
    exit 1
  fi
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  # Only through the Unix socket inside this container, never over the network.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" \
    -w start >/dev/null
  createdb -h /var/run/postgresql -U "$POSTGRES_USER" "$POSTGRES_DB"
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "myna-ivr-postgres: cluster created, database $POSTGRES_DB owned by $POSTGRES_USER"
fi

exec postgres -D "$PGDATA" \
  -c listen_addresses="$IVR_DB_LISTEN" -c port="$IVR_DB_PORT" \
  -c unix_socket_directories=/var/run/postgresql \
  -c password_encryption=scram-sha-256 \
  -c log_timezone=Asia/Tokyo -c timezone=Etc/UTC \
  -c log_line_prefix='%m [%p] %q%u@%d ' \
  "$@"
