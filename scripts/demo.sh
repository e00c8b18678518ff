#!/usr/bin/env bash
# Builds the format plugins from source, seeds the demo database (SQLite
# under ./data), exports datasets from it through the sandboxed plugins,
# runs a file of rows through each format, and certifies the CSV plugin.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2 >/dev/null
cargo xtask plugins
cargo build --release -p exporter --bin exporter
exporter=target/release/exporter
out=target/demo
mkdir -p "$out"

echo
"$exporter" migrate
"$exporter" demo-data
"$exporter" dataset export --data-type sessions --format csv --organization acme \
    --from 2026-01-01 --to 2026-01-31 --out "$out/acme-sessions-january.csv"
head -n 3 "$out/acme-sessions-january.csv"
"$exporter" dataset export --data-type analytics --format json --organization globex \
    --column event_type --column value --column properties --column occurred_at \
    --from 2026-03-01 --to 2026-03-31 --out "$out/globex-analytics-march.json"
head -c 400 "$out/globex-analytics-march.json"; echo

for format in csv json ndjson; do
    echo
    "$exporter" plugin run "$format" --input examples/sessions.ndjson \
        --output "$out/sessions.$format" --generated-at 2026-01-31T00:00:00Z
    head -c 600 "$out/sessions.$format"; echo
done

echo
"$exporter" plugin run csv --input examples/sessions.ndjson --output "$out/sessions-excel.csv" \
    --option delimiter=';' --option bom=true
echo
"$exporter" plugin check csv
