#!/usr/bin/env bash
# Issue 20's console targets against `exporter serve --demo` (data in a
# temporary folder under target/): the first page's transfer size (< 200 kB)
# and 500 Server-Sent Events subscribers held open while export jobs run,
# with the p99 of GET /api/export-jobs/{id} at 50 req/s beside the same with
# no subscribers (target < 20 ms), 3 rounds, medians. Prints markdown for
# BENCHMARKS.md on stdout, progress on stderr. Python standard library only.
#   ./scripts/bench-console.sh [page] [sse]       (both by default)
#   BENCH_SUBSCRIBERS=500 BENCH_RATE=50 BENCH_SECONDS=30 BENCH_ROUNDS=3
#   BENCH_JOB_RATE=2 BENCH_DEMO_ROWS=100000
#   BENCH_EXPORTER=path/to/exporter   skip the build and use that binary
#   BENCH_URL=http://127.0.0.1:8080 BENCH_DATA_DIR=./data   measure a running
#       `exporter serve --demo` instead (its data dir mints the tokens)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BENCH_EXPORTER:-}" ]; then
    cargo xtask plugins >/dev/null 2>&1
    cargo build --release -p exporter --bin exporter >/dev/null 2>&1
    export BENCH_EXPORTER=$PWD/target/release/exporter
fi
# 500 streams, the server's own files and the clients' sockets.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 4096 2>/dev/null || true
exec python3 scripts/bench_console.py "$@"
