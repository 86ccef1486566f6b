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
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
start_feed_server "$work/bin/bench_feed_server" "$work/feeds" "$tmp/server.out"
config=$tmp/feed-digest.toml
bench_config "$tmp" warn "$port" > "$config"
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
