#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on loopback for the store tests.
#   source .ci/postgres.sh && pg_start   -> exports GASLEAK_TEST_DATABASE_URL, sets PG_DIR
#   pg_stop                              -> stops it and removes its data directory
# fsync is off (tests need no durability) unless PG_FSYNC=on (python -m bench --postgres).
# Installs the Debian package when initdb/pg_ctl are missing. PostgreSQL refuses to run as
# root, so the cluster belongs to an unprivileged user (postgres, or gasleak-ci if absent).

pg_bin_dir() {
  if command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then
    dirname "$(command -v pg_ctl)"; return
  fi
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
  if [[ -z "$d" ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    d=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  fi
  echo "$d"
}

pg_as() {  # run a command as the cluster's owner
  if [[ $(id -u) -eq 0 ]]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi
}

pg_start() {
  local bin port
  bin=$(pg_bin_dir)
  PG_USER=$(id -un)
  if [[ $(id -u) -eq 0 ]]; then
    PG_USER=postgres
    id "$PG_USER" >/dev/null 2>&1 || { PG_USER=gasleak-ci; id "$PG_USER" >/dev/null 2>&1 || useradd --system --no-create-home "$PG_USER"; }
  fi
  PG_DIR=$(mktemp -d /tmp/gasleak-pg.XXXXXX)
  PG_BIN=$bin
  export PG_DIR PG_BIN PG_USER  # set before anything can fail, so pg_stop cleans up
  chown "$PG_USER" "$PG_DIR"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  pg_as "$bin/initdb" -D "$PG_DIR/data" -U gasleak --auth=trust -E UTF8 >/dev/null
  pg_as "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR -c fsync=${PG_FSYNC:-off}" start >/dev/null
  export GASLEAK_TEST_DATABASE_URL="postgresql+asyncpg://gasleak@127.0.0.1:$port/postgres"
  echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($PG_DIR)"
}

pg_stop() {
  if [[ -n "${PG_DIR:-}" && -d "$PG_DIR" ]]; then
    if [[ -n "${PG_BIN:-}" && -f "$PG_DIR/data/postmaster.pid" ]]; then
      pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PG_DIR"
  fi
}
