#!/usr/bin/env bash
# Interleaved cold polls of several feed-digest binaries against one server
# (docs/benchmarks.md, "The round's one thread"): this machine's speed drifts
# by a third within an hour, so builds are compared run by run, A B A B, not
# an hour apart. Each run is a fresh state directory and one
# `feed-digest poll` of the polling benchmark's 1,000 feeds; prints each
# run's wall, user and system seconds and peak RSS, then each binary's means.
#
#     scripts/bench-poll.py --no-r2e --runs 1          # once: the feeds and the binaries
#     cp target/release/feed-digest /tmp/before         # a build to compare with
#     scripts/bench-poll-ab.sh 6 /tmp/before target/release/feed-digest
set -euo pipefail
cd "$(dirname "$0")/.."
work=target/bench-poll
[[ -d $work/feeds && -x $work/bin/bench_feed_server ]] || {
    echo "run scripts/bench-poll.py --no-r2e --runs 1 first (feeds and binaries)" >&2
    exit 1
}
(($# >= 2)) || {
    echo "usage: $0 RUNS BINARY..." >&2
    exit 2
}
runs=$1
shift
tmp=$(mktemp -d)
cleanup() {
    [[ -n ${server:-} ]] && kill "$server" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
"$work/bin/bench_feed_server" "$work/feeds" --threads 1 --delay-ms 0 > "$tmp/server.out" 2>/dev/null &
server=$!
until grep -q '^port=' "$tmp/server.out"; do
    kill -0 "$server"
    sleep 0.1
done
port=$(sed -n 's/^port=//p' "$tmp/server.out")
config=$tmp/feed-digest.toml
{
    printf 'state_dir = "%s"\nfirst_poll_window = "all"\nlog = "warn"\n' "$tmp/state"
    printf '\n[delivery]\ntransport = "file"\ndir = "%s"\n' "$tmp/outbox"
    printf '\n[fetch]\nconcurrency = 16\nper_host = 2\n'
    printf '\n[[subscribers]]\nemail = "bench@example.org"\n'
    for n in $(seq 1 1000); do
        printf '\n[[feeds]]\nurl = "http://127.0.0.%d:%d/feed-%d.xml"\n' $(((n - 1) % 100 + 1)) "$port" "$n"
    done
} > "$config"
printf '%-40s %7s %7s %7s %8s\n' binary wall user sys "RSS MB"
for _ in $(seq 1 "$runs"); do
    for bin in "$@"; do
        rm -rf "$tmp/state" "$tmp/outbox"
        /usr/bin/time -o "$tmp/time" -f '%e %U %S %M' "$bin" poll --config "$config" > "$tmp/poll.out" 2> "$tmp/poll.err" || {
            echo "$bin failed:" >&2
            tail -5 "$tmp/poll.err" >&2
            exit 1
        }
        grep -q '^1000 feeds polled, 0 failed' "$tmp/poll.out" || {
            echo "$bin: not every feed was polled:" >&2
            tail -3 "$tmp/poll.out" >&2
            exit 1
        }
        read -r wall user sys rss < "$tmp/time"
        printf '%-40s %7s %7s %7s %8.1f\n' "$bin" "$wall" "$user" "$sys" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')"
    done
done | tee "$tmp/runs"
echo
awk 'NR > 0 { n[$1]++; w[$1] += $2; u[$1] += $3; s[$1] += $4 }
     END { for (b in n) printf "%-40s mean of %d: wall %.3f s, user %.3f s, sys %.3f s\n", b, n[b], w[b] / n[b], u[b] / n[b], s[b] / n[b] }' "$tmp/runs"
