#!/usr/bin/env python3
"""Issue 19's MariaDB figure, side by side in one run.

An `orders` table of BENCH_ROWS rows (default 1,000,000; one organization)
in MariaDB (127.0.0.1:3306), added to the catalog of a running
`exporter serve` as a configured source, exported to CSV through the API
(create -> Completed: count, the read, the CSV plugin, hashing, upload to
the blob store, publish), against the `mariadb` client's own tab-separated
batch output of the same rows (`mariadb --batch --quick -e SELECT ...`,
written to a file). Rounds interleave. The client also runs the host's
wrapped SELECT (`SELECT ... FROM (SELECT ...) AS d WHERE ... ORDER BY ...`),
to show what the wrapping costs the server.

Run through scripts/bench-sources.sh, which builds the release binary.
Environment: BENCH_ROWS, BENCH_ROUNDS.
"""

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
EXPORTER = "target/release/exporter"
WORK = Path("target/bench-sources").resolve()
DB = f"exporter_bench_orders_{ROWS}"
USER, PASSWORD = "exporter_bench", "exporter-bench-pw"
# The demo's acme (`demo_id("organization", "acme")`), read from the
# service's database once it is seeded.
COLUMNS = ["id", "amount", "note", "payload", "placed_at", "due", "paid"]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def mariadb(sql, database=None, out=None):
    command = ["mariadb", "--protocol=tcp", "-h", "127.0.0.1", "-P", "3306", "-u", "root"]
    if database:
        command.append(database)
    if out is None:
        return subprocess.run(command + ["-N", "-B", "-e", sql], check=True,
                              capture_output=True, text=True).stdout.strip()
    with open(out, "wb") as file:
        subprocess.run(command + ["--batch", "--quick", "-e", sql], check=True, stdout=file)


def seed(acme):
    exists = mariadb(f"SELECT COUNT(*) FROM information_schema.tables "
                     f"WHERE table_schema = '{DB}' AND table_name = 'orders'")
    if exists == "1" and mariadb("SELECT COUNT(*) FROM orders", DB) == str(ROWS):
        log(f"{DB}: kept from an earlier run")
        return
    log(f"{DB}: seeding {ROWS:,} rows")
    mariadb(f"DROP DATABASE IF EXISTS {DB}; CREATE DATABASE {DB}")
    mariadb(
        "CREATE TABLE orders (id BIGINT PRIMARY KEY, org_id VARCHAR(36) NOT NULL, "
        "amount DECIMAL(38, 10), note TEXT, payload JSON, placed_at DATETIME(6) NOT NULL, "
        "due DATE, paid BOOLEAN, KEY by_org (org_id, placed_at, id))", DB)
    # The Sequence engine's seq_1_to_N: one INSERT ... SELECT.
    mariadb(
        f"INSERT INTO orders SELECT seq, '{acme}', seq * 1.25, CONCAT('order ', seq, ', \"ok\"'), "
        f"JSON_OBJECT('n', seq, 'tags', JSON_ARRAY('a', 'b')), "
        f"TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq SECOND, "
        f"DATE'2026-01-01' + INTERVAL (seq % 365) DAY, IF(seq % 3 = 0, NULL, seq % 2) "
        f"FROM seq_1_to_{ROWS}", DB)
    mariadb(f"CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'; "
            f"GRANT SELECT ON {DB}.* TO '{USER}'@'%'")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    config = WORK / "exporter.toml"
    source = f"mysql://{USER}:{PASSWORD}@127.0.0.1:3306/{DB}"
    config.write_text(f'data_dir = "{WORK}"\n[sources.shop]\nurl = "{source}"\n')
    env = {**os.environ, "EXPORTER_CONFIG": str(config), "EXPORTER_DATA_DIR": str(WORK),
           "EXPORTER_CHECK_BUILTINS": "false", "RUST_LOG": "warn"}
    for name in ("EXPORTER_DATABASE_URL", "EXPORTER_BLOB_URL", "EXPORTER_JWT_SECRET"):
        env.pop(name, None)
    subprocess.run([EXPORTER, "demo-data", "--rows", "100"], env=env, check=True,
                   capture_output=True)
    acme = subprocess.run(
        ["sqlite3", str(WORK / "exporter.db"), "SELECT id FROM organizations WHERE slug = 'acme'"],
        check=True, capture_output=True, text=True).stdout.strip()
    seed(acme)

    port = free_port()
    serve = subprocess.Popen([EXPORTER, "serve", "--listen", f"127.0.0.1:{port}"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                urllib.request.urlopen(f"{base}/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        entry = subprocess.run(
            [EXPORTER, "dataset", "add", "orders", "--source", "shop", "--table", "orders",
             "--tenant-column", "org_id", "--range-column", "placed_at", "--key", "id"],
            env=env, check=True, capture_output=True, text=True).stdout
        (WORK / "orders.toml").write_text(entry)
        subprocess.run([EXPORTER, "dataset", "apply", str(WORK / "orders.toml")], env=env,
                       check=True, capture_output=True)
        token = subprocess.run([EXPORTER, "token", "--user", "admin@acme.test"], env=env,
                               check=True, capture_output=True, text=True).stdout.strip()
        time.sleep(1.5)  # every process polls the catalog twice a second

        def api(method, path, body=None):
            request = urllib.request.Request(
                f"{base}{path}", method=method,
                data=json.dumps(body).encode() if body is not None else None,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            with urllib.request.urlopen(request) as response:
                return json.load(response)

        def export():
            started = time.monotonic()
            job = api("POST", "/api/export-jobs",
                      {"dataType": "orders", "format": "csv", "columns": COLUMNS})
            while job["status"] in ("Pending", "Processing"):
                time.sleep(0.05)
                job = api("GET", f"/api/export-jobs/{job['id']}")
            elapsed = time.monotonic() - started
            assert job["status"] == "Completed", job
            assert job["progress"]["rowsWritten"] == ROWS, job
            return elapsed, job["file"]["size"]

        plain = (f"SELECT {', '.join(COLUMNS)} FROM orders WHERE org_id = '{acme}' "
                 f"ORDER BY placed_at, id")
        # The host's shape: its columns over `d`, its predicate and order.
        wrapped = (f"SELECT {', '.join('d.' + c for c in COLUMNS[:3])}, CAST(d.payload AS CHAR), "
                   f"{', '.join('d.' + c for c in COLUMNS[4:])} FROM orders AS d "
                   f"WHERE d.org_id = '{acme}' ORDER BY d.placed_at, d.id")

        def client(sql):
            out = WORK / "client.tsv"
            started = time.monotonic()
            mariadb(sql, DB, out)
            return time.monotonic() - started, out.stat().st_size

        export()  # warm: the plugin's compiled artifact cached, the pages read
        rounds = []
        for n in range(ROUNDS):
            c, c_bytes = client(plain)
            w, _ = client(wrapped)
            e, e_bytes = export()
            rounds.append((c, w, e))
            log(f"round {n + 1}: mariadb {c:.2f} s ({c_bytes:,} B), "
                f"mariadb wrapped {w:.2f} s, exporter {e:.2f} s ({e_bytes:,} B), "
                f"ratio {e / c:.2f}")
        ratio = statistics.median(e / c for c, _, e in rounds)
        print(json.dumps({
            "rows": ROWS,
            "rounds": [{"mariadb": c, "mariadb_wrapped": w, "exporter": e} for c, w, e in rounds],
            "median_ratio_exporter_to_mariadb": round(ratio, 3),
            "median_ratio_wrapped_to_plain": round(
                statistics.median(w / c for c, w, _ in rounds), 3),
        }, indent=2))
    finally:
        serve.terminate()
        serve.wait(timeout=30)


if __name__ == "__main__":
    main()
