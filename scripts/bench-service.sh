#!/usr/bin/env bash
# Peak RSS of `exporter serve` while it exports N sessions rows to CSV
# through the API, for a small and a large N (default 50,000 and
# 5,000,000). Streaming means the two peaks are close (target: <= 1.2x).
# Every column but the long `notes`: with it, 5,000,000 demo sessions make
# a 16 GB file (and the client's copy another 16 GB).
#   ./scripts/bench-service.sh [SMALL LARGE]
set -euo pipefail
cd "$(dirname "$0")/.."
small=${1:-50000}
large=${2:-5000000}
cargo xtask plugins >/dev/null 2>&1
cargo build --release -p exporter --bin exporter >/dev/null 2>&1
exporter=$PWD/target/release/exporter
work=$PWD/target/bench-service
mkdir -p "$work"

measure() { # rows -> prints "rows seconds bytes peak_rss_mib"
    local rows=$1 dir=$work/data-$1 port=$((18080 + RANDOM % 1000))
    if [ ! -f "$dir/exporter.db" ]; then
        mkdir -p "$dir"
        EXPORTER_DATA_DIR=$dir "$exporter" demo-data --rows "$rows" \
            --database-url "sqlite://$dir/exporter.db" >/dev/null
    fi
    rm -rf "$dir/blobs"
    # Start once to compile the plugins into the artifact cache, so the
    # measured run's peak is the export's, not the compiler's.
    EXPORTER_DATA_DIR=$dir "$exporter" serve --listen 127.0.0.1:$port >/dev/null 2>&1 &
    local server=$!
    for _ in $(seq 1 600); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
    kill -TERM $server; wait $server || true
    EXPORTER_DATA_DIR=$dir "$exporter" serve --listen 127.0.0.1:$port >/dev/null 2>&1 &
    server=$!
    for _ in $(seq 1 600); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
    local token
    token=$(EXPORTER_DATA_DIR=$dir "$exporter" token --user super@exporter.test)
    local start end
    start=$(date +%s.%N)
    EXPORTER_URL=http://127.0.0.1:$port EXPORTER_TOKEN=$token "$exporter" export \
        --data-type sessions --format csv --out "$work/out.csv" \
        --column id --column user_id --column user_email --column started_at --column ended_at \
        --column duration_seconds --column device --column browser --column country \
        --column ip_address --column status --column pages_viewed --column session_date >/dev/null 2>&1
    end=$(date +%s.%N)
    local peak
    peak=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$server/status")
    kill -TERM $server; wait $server || true
    echo "$rows $(echo "$end - $start" | bc) $(stat -c %s "$work/out.csv") $peak"
    rm -rf "$work/out.csv" "$dir/blobs"  # a large run leaves gigabytes
}

echo "| sessions rows | export (create to verified download) | file | peak RSS of serve |"
echo "|---|---|---|---|"
read -r r1 s1 b1 p1 < <(measure "$small")
echo "| $r1 | ${s1} s | $b1 B | $p1 MiB |"
read -r r2 s2 b2 p2 < <(measure "$large")
echo "| $r2 | ${s2} s | $b2 B | $p2 MiB |"
echo
echo "peak RSS ratio large/small: $(echo "scale=2; $p2 / $p1" | bc)"
