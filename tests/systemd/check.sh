#!/usr/bin/env bash
# The unit file passes `systemd-analyze verify` and its hardening keeps the
# exposure score at 1.5 or lower, alone, with the web endpoint's drop-in
# (systemd/web.conf) and with the database store's (systemd/postgres.conf). The unit names /usr/local/bin/feed-digest;
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
sed "s|/usr/local/bin/feed-digest|$target/debug/feed-digest|" systemd/feed-digest.service > "$work/base.service"
failed=0
report=""
# The unit as installed, then with the web endpoint's drop-in: its lines
# appended are what systemd merges (a second [Service] section).
for variant in base web postgres; do
    unit="$work/$variant/feed-digest.service"
    mkdir -p "$work/$variant"
    cp "$work/base.service" "$unit"
    if [ "$variant" = web ]; then
        printf '\n' >> "$unit"
        cat systemd/web.conf >> "$unit"
        # The credential must exist for verify; any file will do.
        touch "$work/web-key"
        sed -i "s|/etc/feed-digest/web-key|$work/web-key|" "$unit"
    fi
    if [ "$variant" = postgres ]; then
        printf '\n' >> "$unit"
        cat systemd/postgres.conf >> "$unit"
        touch "$work/store-password"
        sed -i "s|/etc/feed-digest/store-password|$work/store-password|" "$unit"
    fi
    if ! out=$(systemd-analyze verify --man=false "$unit" 2>&1) || [ -n "$out" ]; then
        echo "$variant: $out"
        failed=$((failed + 1))
        continue
    fi
    score=$(systemd-analyze security --offline=true "$unit" 2>&1 \
        | sed -n 's/.*Overall exposure level for feed-digest.service: \([0-9.]*\).*/\1/p')
    if [ -z "$score" ] || ! awk -v s="$score" 'BEGIN { exit !(s <= 1.5) }'; then
        echo "systemd exposure level (${variant}) ${score:-unknown}, must be 1.5 or lower"
        failed=$((failed + 1))
        continue
    fi
    report="$report, $variant exposure $score"
done
if [ "$failed" -gt 0 ]; then
    echo "systemd unit check: $((3 - failed)) passed, $failed failed"
    exit 1
fi
echo "systemd unit check: verify clean$report"
