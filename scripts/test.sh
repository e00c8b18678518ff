#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, builds the
# plugins, checks formatting and lints, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step says when it started, so a slow run shows where its time went.
started=$SECONDS
step() { printf '\n==> %s  [+%dm%02ds]\n' "$*" $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60)); }

step "toolchain: wasm32-wasip2 target, rustfmt, clippy, nextest"
rustup target add wasm32-wasip2 >/dev/null
rustup component add rustfmt clippy >/dev/null 2>&1 || true
if ! cargo nextest --version >/dev/null 2>&1; then
    cargo install --locked cargo-nextest
fi

step "independent readers: python3 (csv, json, gzip), openpyxl, LibreOffice, qpdf, poppler, zstd; componentize-py; schemathesis, openapi-python-client"
missing=()
command -v python3 >/dev/null || missing+=(python3 python3-pip)
command -v soffice >/dev/null || missing+=(libreoffice-calc-nogui)
command -v qpdf >/dev/null || missing+=(qpdf)
command -v pdftotext >/dev/null || missing+=(poppler-utils)
command -v zstd >/dev/null || missing+=(zstd)
if ((${#missing[@]})); then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! python3 -c 'import openpyxl' 2>/dev/null; then
    # pyenv's or the system's python3; the system one is externally managed.
    python3 -m pip install -q openpyxl 2>/dev/null ||
        python3 -m pip install -q --break-system-packages openpyxl
fi
if ! python3 -c 'import importlib.metadata as m, sys; sys.exit(m.version("componentize-py") != "0.25.1")' 2>/dev/null; then
    # Builds examples/python-plugin for tests/tests/python_plugin.rs, which
    # runs it as `python3 -c "from componentize_py import script; ..."`, so
    # no PATH entry is needed. Keep the version in step with that test.
    python3 -m pip install -q componentize-py==0.25.1 2>/dev/null ||
        python3 -m pip install -q --break-system-packages componentize-py==0.25.1
fi

if ! python3 -c 'import importlib.metadata as m, sys; sys.exit(m.version("schemathesis") != "4.32.5" or m.version("openapi-python-client") != "0.29.1")' 2>/dev/null; then
    # tests/tests/contract.rs: schemathesis fuzzes the API from its own
    # OpenAPI document; openapi-python-client generates a client from it.
    # Both run as commands (`schemathesis`, `openapi-python-client`).
    python3 -m pip install -q schemathesis==4.32.5 openapi-python-client==0.29.1 2>/dev/null ||
        python3 -m pip install -q --break-system-packages schemathesis==4.32.5 openapi-python-client==0.29.1
fi

step "Azurite, the Azure Storage emulator (npm), for the Azure blob store test"
if ! command -v azurite-blob >/dev/null; then
    npm install -g --silent azurite@3.35.0 >/dev/null
fi

step "the console's browser: Debian's Chromium, driven by Playwright (npm, no browser download); the test OpenID provider (npm)"
command -v chromium >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
}
# Exact versions from the lock files; tests/browser and tests/oidc are the
# only npm projects, and neither downloads a browser.
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --silent --no-audit --no-fund --prefix tests/browser
npm ci --silent --no-audit --no-fund --prefix tests/oidc

step "services: PostgreSQL on 127.0.0.1:5432 (the tests create and drop their own databases)"
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432

step "services: MariaDB on 127.0.0.1:3306 (the MySQL/MariaDB source tests create and drop their own databases)"
if ! mariadb-admin --protocol=tcp -h 127.0.0.1 -P 3306 -u root ping >/dev/null 2>&1; then
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    for _ in $(seq 1 30); do mariadb-admin --protocol=tcp -h 127.0.0.1 -P 3306 -u root ping >/dev/null 2>&1 && break; sleep 1; done
fi
mariadb-admin --protocol=tcp -h 127.0.0.1 -P 3306 -u root ping

step "format check"
cargo fmt --all --check

step "import graph: no loop between the host's crates or folders"
python3 scripts/import-graph.py

step "plugins -> target/plugins, test guests -> target/test-plugins"
cargo xtask plugins

step "clippy (host and guests, native and wasm32-wasip2)"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --target wasm32-wasip2 \
    -p exporter-plugin-sdk -p exporter-plugin-csv -p exporter-plugin-json -p exporter-plugin-ndjson \
    -p exporter-plugin-xlsx -p exporter-plugin-pdf -p exporter-example-markdown \
    -- -D warnings

step "tests"
cargo nextest run --workspace --no-fail-fast

step "the job service's API suite, its contract, tenancy, delivery, parts, dataset catalog, column access, event stream and sessions again, on PostgreSQL (database and job queue); the browser suite runs once"
# --workspace with a filter, not -p: the same feature set as above, so
# nothing is rebuilt.
EXPORTER_TEST_DATABASE=postgres cargo nextest run --workspace --no-fail-fast \
    -E 'binary_id(exporter-tests::api) | binary_id(exporter-tests::contract) | binary_id(exporter-tests::delivery) | binary_id(exporter-tests::parts) | binary_id(exporter-tests::tenancy) | binary_id(exporter-tests::catalog) | binary_id(exporter-tests::access) | binary_id(exporter-tests::events) | binary_id(exporter-tests::session)'

step "done"
