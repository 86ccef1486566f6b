#!/usr/bin/env bash
# The daemon's memory around its first poll of the polling benchmark's 1,000
# feeds (docs/benchmarks.md, "Daemon memory"): resident memory every 0.25 s
# while `feed-digest run` polls, prunes and then idles.
#
#     scripts/bench-poll.py --no-r2e --runs 1   # once: generates the feeds and builds
#     scripts/bench-daemon-memory.sh [SECONDS]  # default 15 s of samples
#
# MODEL=DIR (e.g. target/test-data/usem3) polls with the sentence encoder:
# every new article's title is encoded during the poll.
set -euo pipefail
cd "$(dirname "$0")/.."
work=target/bench-poll
bin=target/release
[[ -d $work/feeds && -x $bin/feed-digest && -x $bin/examples/bench_feed_server ]] || {
    echo "run scripts/bench-poll.py --no-r2e --runs 1 first (feeds and release binaries)" >&2
    exit 1
}
seconds=${1:-15}
state=$(mktemp -d)
out=$(mktemp)
cleanup() {
    [[ -n ${daemon:-} ]] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
    [[ -n ${server:-} ]] && kill "$server" 2>/dev/null
    rm -rf "$state" "$out"
}
trap cleanup EXIT
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
start_feed_server "$bin/examples/bench_feed_server" "$work/feeds" "$out"
config=$state/feed-digest.toml
model=
[[ -n ${MODEL:-} ]] && model=$'\n[digest]\nencoder = "'"$(realpath "$MODEL")"$'"\n'
bench_config "$state" info "$port" "$model" > "$config"
"$bin/feed-digest" run --config "$config" > "$state/daemon.log" 2>&1 &
daemon=$!
echo "seconds  RSS MB  (poll done / store pruned as logged)"
for i in $(seq 1 $((seconds * 4))); do
    sleep 0.25
    rss=$(awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$daemon/status")
    marks=$(grep -oE 'poll done|store pruned' "$state/daemon.log" | tr '\n' ' ' || true)
    printf '%6.2f  %6s  %s\n' "$(awk -v i="$i" 'BEGIN { print i / 4 }')" "$rss" "$marks"
done
echo "peak: $(awk '/^VmHWM/ {printf "%.1f MB", $2 / 1024}' "/proc/$daemon/status")"
