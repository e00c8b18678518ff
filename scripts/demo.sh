#!/usr/bin/env bash
# Runs the service on its embedded defaults (SQLite file and local blob
# store under ./data, in-process worker, plugins built from source), seeds
# the demo, exports through the REST API with the `exporter export` client,
# installs a new format plugin while serving, and keeps serving until Ctrl-C;
# it ends with the web console's address to open in a browser.
#
# EXPORTER_LISTEN picks the address (default 127.0.0.1:8080; a bare port
# means 127.0.0.1:PORT).
set -euo pipefail
cd "$(dirname "$0")/.."

listen=${EXPORTER_LISTEN:-127.0.0.1:8080}
[[ $listen == *:* ]] || listen=127.0.0.1:$listen
port=${listen##*:}
# The address clients use: a wildcard bind is reached on loopback.
host=${listen%:*}
[[ $host == 0.0.0.0 || -z $host ]] && host=127.0.0.1
# Before minutes of building: is something already answering there?
if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
    echo "port $port on $host is taken (another exporter serve, or another program:" >&2
    echo "  see which with: ss -ltnp 'sport = :$port')." >&2
    echo "Stop it, or pick a free port: EXPORTER_LISTEN=127.0.0.1:8081 $0" >&2
    exit 1
fi
export EXPORTER_LISTEN=$listen

rustup target add wasm32-wasip2 >/dev/null
cargo xtask plugins
cargo build --release -p exporter --bin exporter
exporter=target/release/exporter
out=target/demo
mkdir -p "$out"
url=http://$host:$port

"$exporter" serve --demo --listen "$listen" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM
for _ in $(seq 1 600); do
    curl -fsS "$url/readyz" >/dev/null 2>&1 && break
    kill -0 $server 2>/dev/null || { echo "the service did not start" >&2; exit 1; }
    sleep 0.1
done

export EXPORTER_URL=$url
EXPORTER_TOKEN=$("$exporter" token --user admin@acme.test)
export EXPORTER_TOKEN

echo
echo "== Export job: acme's January sessions as CSV (create, follow, download, verify)"
"$exporter" export --data-type sessions --format csv --from 2026-01-01 --to 2026-01-31 \
    --out "$out/acme-sessions-january.csv"
head -n 3 "$out/acme-sessions-january.csv"

echo
echo "== Export job: analytics events of March as JSON, chosen columns"
"$exporter" export --data-type analytics --format json --from 2026-03-01 --to 2026-03-31 \
    --column event_type --column value --column properties --column occurred_at \
    --out "$out/acme-analytics-march.json"
head -c 300 "$out/acme-analytics-march.json"; echo

echo
echo "== Export jobs: the same sessions as an Excel workbook and a PDF report"
"$exporter" export --data-type sessions --format xlsx --from 2026-01-01 --to 2026-01-31 \
    --out "$out/acme-sessions-january.xlsx"
"$exporter" export --data-type sessions --format pdf --from 2026-01-01 --to 2026-01-31 \
    --column user_email --column country --column device --column started_at --column pages_viewed \
    --out "$out/acme-sessions-january.pdf"
ls -l "$out"/acme-sessions-january.*

echo
echo "== Export job in parts: all of acme's sessions as 500-row CSV files plus a manifest, each part checked against it"
"$exporter" export --data-type sessions --format csv --part-max-rows 500 --out "$out/acme-sessions-parts"
ls "$out/acme-sessions-parts" | head -n 4

echo
echo "== Hot install: a new format plugin (the Markdown example), validated and activated while the service runs"
"$exporter" plugin install target/test-plugins/markdown.wasm
sleep 1 # the service picks activations up within its registry poll interval (250 ms)
"$exporter" export --data-type users --format markdown --out "$out/acme-users.md"
head -n 4 "$out/acme-users.md"
"$exporter" plugin list

echo
echo "== The job list (newest first), and the formats on offer"
"$exporter" jobs list --limit 5
"$exporter" formats | head -n 8

echo
echo "== The web console: the same service, in a browser"
curl -fsS -o /dev/null "$url/" && echo "GET $url/ serves the console's page; its scripts and styles are built into the binary"
echo
echo "The service keeps running (API docs: $url/api/docs). Ctrl-C stops it."
echo
echo "  Open the console:  $url/"
echo "  Sign in with a demo account: Max Manager exports, Sam Super runs the operator pages."
echo
wait $server
