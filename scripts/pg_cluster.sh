#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests, from Debian's `postgresql`:
#
#   scripts/pg_cluster.sh start DIR   # initdb in DIR, start it on a free
#                                     # port of 127.0.0.1; prints its URL
#   scripts/pg_cluster.sh stop DIR    # stop it (DIR is then removed)
#
# initdb refuses to run as root, so under root the cluster runs as the
# unprivileged `postgres` user the Debian package creates. Authentication is
# `trust` on 127.0.0.1 and a socket inside DIR only; fsync is off (nothing
# here outlives the test run).
set -euo pipefail
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
[ -x "$bindir/initdb" ] || {
  echo "pg_cluster: error: PostgreSQL is not installed (apt-get install postgresql; scripts/setup.sh does it)" >&2
  exit 1
}
as_owner=()
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || { echo "pg_cluster: error: running as root and there is no 'postgres' user to run the cluster as" >&2; exit 1; }
  as_owner=(runuser -u postgres --)
fi

case "$cmd" in
start)
  mkdir -p "$dir"
  if [ ${#as_owner[@]} -gt 0 ]; then
    chown postgres: "$dir"
    "${as_owner[@]}" test -w "$dir" || {
      echo "pg_cluster: error: the postgres user cannot reach $dir (make its parent folders traversable, e.g. chmod 755)" >&2
      exit 1
    }
  fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${as_owner[@]}" "$bindir/initdb" -D "$dir/data" -U obscura --auth=trust -E UTF8 --locale=C.UTF-8 \
    > "$dir/initdb.log" 2>&1 || { echo "pg_cluster: error: initdb failed:" >&2; cat "$dir/initdb.log" >&2; exit 1; }
  "${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w -t 60 start \
    -o "-p $port -k $dir/data -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
    > /dev/null 2>&1 || { echo "pg_cluster: error: the server did not start:" >&2; tail -n 20 "$dir/data/server.log" >&2; exit 1; }
  echo "postgres://obscura@127.0.0.1:$port/postgres"
  ;;
stop)
  if [ -f "$dir/data/postmaster.pid" ]; then
    "${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop > /dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
