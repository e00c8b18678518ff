#!/usr/bin/env bash
# Issue 19's MariaDB target: BENCH_ROWS (1,000,000) rows of an `orders`
# table in MariaDB exported to CSV through the API, against the `mariadb`
# client's own batch output of the same SELECT. Seeds its database once and
# keeps it for the next run.
#   ./scripts/bench-sources.sh        BENCH_ROWS=1000000 BENCH_ROUNDS=3
set -euo pipefail
cd "$(dirname "$0")/.."
cargo xtask plugins >/dev/null 2>&1
cargo build --release -p exporter --bin exporter >/dev/null 2>&1
exec python3 scripts/bench_sources.py "$@"
