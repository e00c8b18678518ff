#!/usr/bin/env bash
# Issue 6's targets on PostgreSQL (127.0.0.1:5432): 10M sessions rows to CSV
# end to end vs psql's \copy, the worker's peak RSS, and 200 small exports
# drained by one worker vs two. Seeds its databases once (~10 min for 10M
# rows) and keeps them for the next run.
#   ./scripts/bench-scale.sh [large|small|parts]...   (large and small by default)
#   BENCH_ROWS=1000000 BENCH_SMALL=200 BENCH_ROUNDS=3 to change the sizes
set -euo pipefail
cd "$(dirname "$0")/.."
cargo xtask plugins >/dev/null 2>&1
cargo build --release -p exporter --bin exporter >/dev/null 2>&1
exec python3 scripts/bench_scale.py "$@"
