#!/usr/bin/env bash
# Real-browser check of the HTML digests, in headless Chromium.
#
#   tests/browser/check.sh [HTML_FILE...]
#
# With no arguments, runs `cargo run -q -- demo --output target/browser-demo`
# and checks the .html digests it wrote. Each file is rendered at 375 and
# 800 px wide, in the light and the dark colour scheme; see check.py for what
# is checked. Screenshots go to target/screenshots/<name>-<width>-<scheme>.png.
# Prints one line per render, then `browser check: N passed, M failed`;
# exits 1 if any render failed. Without Chromium it says so and exits 0.
# Without arguments it then checks the readers' web pages too (web.py).
#
# Environment: CHROMIUM (default: chromium on PATH), PYTHON (default: python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

chromium="${CHROMIUM:-chromium}"
if ! command -v "$chromium" >/dev/null 2>&1; then
    echo "browser check: skipped (chromium not installed)"
    exit 0
fi
chromium="$(command -v "$chromium")"
python="${PYTHON:-python3}"

files=()
if [ $# -gt 0 ]; then
    for f in "$@"; do
        # Make relative paths absolute before we change directory.
        case "$f" in
            /*) files+=("$f") ;;
            *) files+=("$PWD/$f") ;;
        esac
    done
    cd "$root"
else
    cd "$root"
    demo_log="$(mktemp)"
    trap 'rm -f "$demo_log"' EXIT
    if ! cargo run -q -- demo --output target/browser-demo >"$demo_log" 2>&1; then
        cat "$demo_log" >&2
        echo "browser check: 0 passed, 1 failed (cargo run -- demo failed)"
        exit 1
    fi
    # The demo prints the paths of the digests it wrote, one an indented line.
    while IFS= read -r line; do
        line="${line#"${line%%[![:space:]]*}"}"
        case "$line" in
            *.html) [ -f "$line" ] && files+=("$line") ;;
        esac
    done <"$demo_log"
    if [ ${#files[@]} -eq 0 ]; then
        # Output format changed? The demo lays out mail/ afresh each run.
        shopt -s nullglob
        files=("$root"/target/browser-demo/mail/*.html)
        shopt -u nullglob
    fi
    if [ ${#files[@]} -eq 0 ]; then
        cat "$demo_log" >&2
        echo "browser check: 0 passed, 1 failed (the demo wrote no .html digest)"
        exit 1
    fi
fi

status=0
"$python" "$here/check.py" --chromium "$chromium" \
    --screenshots "$root/target/screenshots" "${files[@]}" || status=1
# The readers' web pages, served by the daemon itself (web.py). Not with
# files given: those are digests only.
if [ $# -eq 0 ]; then
    cargo build -q --bin feed-digest
    "$python" "$here/web.py" --bin "${FEED_DIGEST_BIN:-$root/target/debug/feed-digest}" \
        --chromium "$chromium" --screenshots "$root/target/screenshots" || status=1
fi
exit "$status"
