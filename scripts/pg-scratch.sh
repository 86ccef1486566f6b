#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for trying a database store or running
# scripts/bench-poll.py --postgres: initdb into target/pg-scratch, a server
# on a Unix socket there (no TCP port), password authentication. Prints the
# URL and the password file to use; `scripts/pg-scratch.sh stop` ends it.
# pg_stat_statements is loaded, for scripts/bench-scale.py to say where the
# database spends its time.
# Needs PostgreSQL's server binaries (Debian: apt-get install postgresql).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(realpath -m target/pg-scratch)
bindir=${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
    echo "no PostgreSQL server binaries (set PG_BINDIR, or apt-get install postgresql)" >&2
    exit 1
fi
# PostgreSQL refuses to run as root: the postgres account runs it then.
as=()
if [ "$(id -u)" = 0 ]; then as=(runuser -u postgres --); fi
if [ "${1:-}" = stop ]; then
    "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop
    exit 0
fi
if [ ! -d "$dir/data" ]; then
    mkdir -p "$dir/socket"
    umask 077
    od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$dir/password"
    if [ "$(id -u)" = 0 ]; then chown -R postgres: "$dir"; fi
    "${as[@]}" "$bindir/initdb" -D "$dir/data" -U feed_digest --auth=scram-sha-256 \
        --pwfile="$dir/password" -E UTF8 --no-locale >/dev/null
fi
"${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-k $dir/socket -c listen_addresses='' -c shared_preload_libraries=pg_stat_statements" start >/dev/null
url="postgres://feed_digest@$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$dir/socket")/"
echo "PostgreSQL running; socket in $dir/socket"
echo "  store = \"${url}postgres\""
echo "  store_password_file = \"$dir/password\""
echo "  scripts/bench-poll.py --postgres '$url' --pg-password-file '$dir/password'"
