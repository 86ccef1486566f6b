#!/usr/bin/env bash
# Fuzz the read path and the HTML-to-text extractor (fuzz/fuzz_targets/).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]    default: 60 s each, both targets
#
# Seeds come from the repository's feed fixtures and, when fetched
# (scripts/test-data.sh), feedparser's test suite. Uses cargo-fuzz (installed
# from crates.io when missing) on the pinned stable toolchain: RUSTC_BOOTSTRAP
# lets it use the sanitizer flags that need a nightly. A crash, a panic or a
# leak fails the run; its input is kept in fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(read_path html_text)
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked --version 0.13.2
fi
export RUSTC_BOOTSTRAP=1
for target in "${targets[@]}"; do
    corpus=fuzz/corpus/$target
    mkdir -p "$corpus"
    # Seeds: every fixture feed, and feedparser's suite when it is here.
    find tests/fixtures -type f -size -256k -exec cp -n {} "$corpus"/ \; 2>/dev/null || true
    if [ -d target/test-data/feedparser/tests ]; then
        i=0
        while IFS= read -r -d '' file; do
            i=$((i + 1))
            cp -n "$file" "$corpus/feedparser-$i" 2>/dev/null || true
        done < <(find target/test-data/feedparser/tests -type f -print0)
    fi
    echo "fuzz $target for ${seconds}s ($(ls "$corpus" | wc -l) inputs in the corpus)"
    cargo fuzz run --fuzz-dir fuzz "$target" "$corpus" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
done
