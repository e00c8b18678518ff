#!/usr/bin/env bash
# Builds the format plugins from source and runs a sample export through
# each of them in the sandbox, then certifies the CSV plugin.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2 >/dev/null
cargo xtask plugins
cargo build --release -p exporter --bin exporter
exporter=target/release/exporter
out=target/demo
mkdir -p "$out"

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
