#!/usr/bin/env bash
# The unit file passes `systemd-analyze verify` and its hardening keeps the
# exposure score at 1.5 or lower. The unit names /usr/local/bin/feed-digest;
# the check points it at the freshly built binary instead.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "systemd unit check: skipped (systemd-analyze not installed)"
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Where cargo put it: CARGO_TARGET_DIR when set (a shared target), else ./target.
target=$(realpath -m "${CARGO_TARGET_DIR:-target}")
sed "s|/usr/local/bin/feed-digest|$target/debug/feed-digest|" systemd/feed-digest.service > "$work/feed-digest.service"
if ! out=$(systemd-analyze verify --man=false "$work/feed-digest.service" 2>&1) || [ -n "$out" ]; then
    echo "$out"
    echo "systemd unit check: 0 passed, 1 failed"
    exit 1
fi
score=$(systemd-analyze security --offline=true "$work/feed-digest.service" 2>&1 \
    | sed -n 's/.*Overall exposure level for feed-digest.service: \([0-9.]*\).*/\1/p')
if [ -z "$score" ] || ! awk -v s="$score" 'BEGIN { exit !(s <= 1.5) }'; then
    echo "systemd exposure level ${score:-unknown}, must be 1.5 or lower"
    echo "systemd unit check: 0 passed, 1 failed"
    exit 1
fi
echo "systemd unit check: verify clean, exposure $score"
