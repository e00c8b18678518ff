#!/usr/bin/env python3
"""Issue 6's targets on PostgreSQL, side by side in one run.

1. Export N sessions rows (default 10,000,000) to CSV in the blob store, end
   to end through `exporter api` + `exporter worker`, against
   `psql -c "\\copy (the same SELECT) TO file CSV"`. Rounds interleave.
2. The worker's peak RSS (VmHWM) over those exports.
3. A queue of 200 small exports drained by one worker and by two.
4. (`parts`, not run by default) the same export as one file and as
   BENCH_PARTS parts (10), to show what publishing part by part costs.

Run through scripts/bench-scale.sh, which builds the release binary.
Environment: BENCH_EXPORTER, BENCH_ROWS, BENCH_SMALL, BENCH_ROUNDS, BENCH_PARTS,
BENCH_DB_SUFFIX.
"""

import atexit
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

PG = "postgres://postgres@127.0.0.1:5432"
SECRET = "bench-scale-secret"
# Every column but the long `notes`, as in scripts/bench-service.sh.
COLUMNS = [
    "id", "user_id", "user_email", "started_at", "ended_at", "duration_seconds",
    "device", "browser", "country", "ip_address", "status", "pages_viewed",
    "session_date",
]

# BENCH_EXPORTER runs another build (an older one, to compare); the SELECT
# given to psql always comes from this checkout's `dataset sql`.
CURRENT = "target/release/exporter"
EXPORTER = os.environ.get("BENCH_EXPORTER", CURRENT)
ROWS = int(os.environ.get("BENCH_ROWS", "10000000"))
SMALL = int(os.environ.get("BENCH_SMALL", "200"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
PARTS = int(os.environ.get("BENCH_PARTS", "10"))
# A database per build when comparing builds whose migrations differ (an
# older binary refuses a database migrated past what it knows).
DB_SUFFIX = os.environ.get("BENCH_DB_SUFFIX", "")
WORK = Path("target/bench-scale").resolve()


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def psql(db, sql, *extra):
    out = subprocess.run(
        ["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
         "-U", "postgres", "-d", db, *extra, "-c", sql],
        check=True, capture_output=True, text=True)
    return out.stdout.strip()


def env(db, name):
    return {
        **os.environ,
        "EXPORTER_DATABASE_URL": f"{PG}/{db}",
        "EXPORTER_BLOB_URL": f"file://{WORK / db / 'blobs'}",
        "EXPORTER_JWT_SECRET": SECRET,
        "EXPORTER_DATA_DIR": str(WORK / db / name),
        # The built-ins' conformance kit (1M rows) would run beside the
        # measured exports; it is measured in BENCHMARKS.md on its own.
        "EXPORTER_CHECK_BUILTINS": "false",
        "RUST_LOG": "warn",
    }


def exporter(db, *args, binary=None):
    out = subprocess.run([binary or EXPORTER, *args], env=env(db, "cli"),
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"exporter {' '.join(args)} failed:\n{out.stderr}")
    return out.stdout.strip()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


STARTED = []


@atexit.register
def stop_all():
    """No process outlives the run, whatever stopped it: a stray worker
    would take the next run's jobs."""
    for child in STARTED:
        if child.poll() is None:
            child.kill()
            child.wait()


class Process:
    """`exporter api` or `exporter worker`, waited on until ready."""

    def __init__(self, db, role, name, wait=True):
        self.role = role
        self.url = f"http://127.0.0.1:{free_port()}"
        self.child = subprocess.Popen(
            [EXPORTER, role, "--listen", self.url.removeprefix("http://")],
            env=env(db, name), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        STARTED.append(self.child)
        if wait:
            self.wait_ready()

    def wait_ready(self):
        role = self.role
        for _ in range(600):
            try:
                urllib.request.urlopen(self.url + "/readyz", timeout=1)
                return
            except OSError:
                if self.child.poll() is not None:
                    raise SystemExit(f"exporter {role} exited with {self.child.returncode}")
                time.sleep(0.1)
        raise SystemExit(f"exporter {role} never became ready")

    def peak_rss_mib(self):
        for line in Path(f"/proc/{self.child.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM")

    def cpu_seconds(self):
        """User + system CPU time so far."""
        fields = Path(f"/proc/{self.child.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.child.terminate()
        self.child.wait(timeout=60)


def api(base, token, method, path, body=None):
    request = urllib.request.Request(
        base + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as e:
        raise SystemExit(f"{method} {path}: {e.code} {e.read().decode()}") from None


def create_database(db, sessions):
    if psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{db}'") == "1":
        return
    log(f"seeding {db} with {sessions:,} sessions (once; kept for the next run)")
    psql("postgres", f"CREATE DATABASE {db}")
    exporter(db, "migrate")
    base = min(sessions, 100_000)
    exporter(db, "demo-data", "--rows", str(base))
    if sessions > base:
        # Copies of acme's demo sessions, a second apart, until acme alone
        # has `sessions` rows: the export reads one tenant's range, as a
        # client's would. The long notes are left out of the copies.
        acme = psql(db, "SELECT id FROM organizations WHERE slug = 'acme'")
        have = int(psql(db, f"SELECT count(*) FROM sessions WHERE organization_id = '{acme}'"))
        need = sessions - have
        copies = -(-need // have)
        psql(db, f"""
            INSERT INTO sessions (id, organization_id, user_id, started_at, ended_at,
                duration_seconds, device, browser, country, ip_address, status, pages_viewed)
            SELECT s.id || '.' || g, s.organization_id, s.user_id,
                s.started_at + g * interval '1 second', s.ended_at + g * interval '1 second',
                s.duration_seconds, s.device, s.browser, s.country, s.ip_address, s.status,
                s.pages_viewed + g
            FROM generate_series(1, {copies}) g, sessions s
            WHERE s.organization_id = '{acme}'
            LIMIT {need}""")
    psql(db, "VACUUM ANALYZE")


def wait_done(base, token, job_id, poll=0.05):
    while True:
        job = api(base, token, "GET", f"/api/export-jobs/{job_id}")
        if job["status"] in ("Completed", "Failed", "Cancelled"):
            return job
        time.sleep(poll)


def machine_cpu():
    """(busy, total) jiffies of all cores, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def large():
    db = f"exporter_bench_{ROWS}{DB_SUFFIX}"
    create_database(db, ROWS)
    select = exporter(db, "dataset", "sql", "--data-type", "sessions", "--organization", "acme",
                      *[a for c in COLUMNS for a in ("--column", c)], binary=CURRENT)
    # Only the exports: the plugin registry keeps its components in the store.
    shutil.rmtree(WORK / db / "blobs" / "exports", ignore_errors=True)
    # Once to compile the plugins into each process's artifact cache, so the
    # worker's peak is the export's, not the compiler's.
    for name, role in (("api", "api"), ("worker", "worker")):
        Process(db, role, name).stop()
    api_process = Process(db, "api", "api")
    worker = Process(db, "worker", "worker")
    token = exporter(db, "token", "--user", "admin@acme.test")
    psql_out = WORK / "psql.csv"
    results = []
    for round_ in range(ROUNDS):
        started = time.monotonic()
        psql(db, f"\\copy ({select}) TO '{psql_out}' CSV HEADER")
        psql_seconds = time.monotonic() - started
        psql_lines = sum(1 for _ in open(psql_out, "rb"))
        psql_bytes = psql_out.stat().st_size
        psql_out.unlink()

        started = time.monotonic()
        cpu = worker.cpu_seconds()
        job = api(api_process.url, token, "POST", "/api/export-jobs",
                  {"dataType": "sessions", "format": "csv", "columns": COLUMNS})
        job = wait_done(api_process.url, token, job["id"])
        seconds = time.monotonic() - started
        cpu = worker.cpu_seconds() - cpu
        assert job["status"] == "Completed", job
        files = list((WORK / db / "blobs" / "exports").rglob("*.csv"))
        assert len(files) == 1, files
        file = files[0]
        lines = sum(1 for _ in open(file, "rb"))
        assert lines == psql_lines == ROWS + 1, (lines, psql_lines)
        if round_ == 0:
            assert sha256_file(file) == job["file"]["sha256"], "checksum"
        size = file.stat().st_size
        file.unlink()
        results.append((psql_seconds, seconds, psql_bytes, size, cpu))
        log(f"round {round_ + 1}: psql \\copy {psql_seconds:.2f} s ({psql_bytes:,} B), "
            f"exporter {seconds:.2f} s ({size:,} B, worker CPU {cpu:.1f} s), "
            f"ratio {seconds / psql_seconds:.2f}x")
    peak = worker.peak_rss_mib()
    worker.stop()
    api_process.stop()
    print(f"\n{ROWS:,} sessions rows, {len(COLUMNS)} columns, CSV, one tenant's rows in order:\n")
    print("| round | psql `\\copy ... CSV` | exporter (create to Completed) | ratio | worker CPU |")
    print("|---|---|---|---|---|")
    for i, (p, e, _, _, c) in enumerate(results):
        print(f"| {i + 1} | {p:.2f} s | {e:.2f} s | {e / p:.2f}x | {c:.1f} s |")
    ratios = [r[1] / r[0] for r in results]
    print(f"| **median** | {statistics.median(r[0] for r in results):.2f} s | "
          f"{statistics.median(r[1] for r in results):.2f} s | **{statistics.median(ratios):.2f}x** | "
          f"{statistics.median(r[4] for r in results):.1f} s |")
    print(f"\nfile sizes: psql {results[0][2]:,} B, exporter {results[0][3]:,} B")
    print(f"worker peak RSS over the {ROUNDS} exports: **{peak:.1f} MiB**")


def small():
    db = f"exporter_bench_small{DB_SUFFIX}"
    create_database(db, 20_000)
    # Only the exports: the plugin registry keeps its components in the store.
    shutil.rmtree(WORK / db / "blobs" / "exports", ignore_errors=True)
    for name in ("api", "worker-1", "worker-2"):
        Process(db, "api" if name == "api" else "worker", name).stop()
    api_process = Process(db, "api", "api")
    tokens = [exporter(db, "token", "--user", user)
              for user in ("admin@acme.test", "admin@globex.test")]
    makespans = {1: [], 2: []}
    # Both cores' busy share while draining (polling included), and the
    # workers' own CPU time: is the machine, not the worker, the limit?
    utilisation = {1: [], 2: []}
    worker_cpus = {1: [], 2: []}
    for round_ in range(ROUNDS):
        for workers in (1, 2):
            ids = []
            for i in range(SMALL):
                # One month of one tenant's sessions; tenants and formats alternate.
                month = 1 + i % 12
                job = api(api_process.url, tokens[i % 2], "POST", "/api/export-jobs", {
                    "dataType": "sessions", "format": ("csv", "json")[i // 2 % 2],
                    "dateRange": {"from": f"2026-{month:02}-01", "to": f"2026-{month:02}-28"},
                    # Without the long notes (one session in twelve has 36 kB):
                    # with them a month is 2 MB, and this is about many
                    # small jobs.
                    "columns": COLUMNS,
                })
                ids.append(job["id"])
            # Started together: the makespan below is read from the jobs'
            # own start and finish times, so start-up is not counted.
            processes = [Process(db, "worker", f"worker-{n + 1}", wait=False)
                         for n in range(workers)]
            for process in processes:
                process.wait_ready()
            busy, total = machine_cpu()
            worker_cpu = sum(p.cpu_seconds() for p in processes)
            for i, job_id in enumerate(ids):
                job = wait_done(api_process.url, tokens[i % 2], job_id, poll=0.2)
                assert job["status"] == "Completed", job
            busy2, total2 = machine_cpu()
            worker_cpu = sum(p.cpu_seconds() for p in processes) - worker_cpu
            utilisation[workers].append((busy2 - busy) / (total2 - total))
            worker_cpus[workers].append(worker_cpu)
            for process in processes:
                process.stop()
            id_list = ",".join(f"'{i}'" for i in ids)
            span, rows = psql(db, f"""SELECT (max(finished_at) - min(started_at)) / 1e6, sum(file_rows)
                FROM export_jobs WHERE id IN ({id_list})""").split("|")
            makespans[workers].append(float(span))
            log(f"round {round_ + 1}: {workers} worker(s) drained {SMALL} exports "
                f"({int(rows):,} rows in all) in {float(span):.2f} s")
    api_process.stop()
    one, two = (statistics.median(makespans[n]) for n in (1, 2))
    print(f"\n{SMALL} small exports (one month of one tenant's sessions each, CSV and JSON),")
    print("queued first, then drained; makespan = last finish - first start:\n")
    print("| round | 1 worker | 2 workers | speed-up |")
    print("|---|---|---|---|")
    for i, (a, b) in enumerate(zip(makespans[1], makespans[2])):
        print(f"| {i + 1} | {a:.2f} s | {b:.2f} s | {a / b:.2f}x |")
    print(f"| **median** | {one:.2f} s | {two:.2f} s | **{one / two:.2f}x** |")
    for n in (1, 2):
        print(f"\n{n} worker(s): machine busy {statistics.median(utilisation[n]) * 100:.0f}% "
              f"of both cores while draining, workers' CPU {statistics.median(worker_cpus[n]):.1f} s")


def parts():
    """One tenant's ROWS sessions to CSV as one file and as PARTS parts
    (partMaxRows = ROWS / PARTS), in turn in each round: what publishing a
    part at a time costs."""
    db = f"exporter_bench_{ROWS}{DB_SUFFIX}"
    create_database(db, ROWS)
    shutil.rmtree(WORK / db / "blobs" / "exports", ignore_errors=True)
    for name, role in (("api", "api"), ("worker", "worker")):
        Process(db, role, name).stop()
    api_process = Process(db, "api", "api")
    worker = Process(db, "worker", "worker")
    token = exporter(db, "token", "--user", "admin@acme.test")
    part_rows = max(ROWS // PARTS, 1)
    many = f"{PARTS} parts"
    results = {"one file": [], many: []}
    for round_ in range(ROUNDS):
        for label, extra in (("one file", {}), (many, {"partMaxRows": part_rows})):
            started = time.monotonic()
            cpu = worker.cpu_seconds()
            job = api(api_process.url, token, "POST", "/api/export-jobs",
                      {"dataType": "sessions", "format": "csv", "columns": COLUMNS, **extra})
            job = wait_done(api_process.url, token, job["id"])
            seconds = time.monotonic() - started
            cpu = worker.cpu_seconds() - cpu
            assert job["status"] == "Completed", job
            assert job["progress"]["rowsWritten"] == ROWS, job["progress"]
            files = list((WORK / db / "blobs" / "exports").rglob("*.csv"))
            assert len(files) == (-(-ROWS // part_rows) if extra else 1), len(files)
            assert sum(sum(1 for _ in open(f, "rb")) for f in files) == ROWS + len(files)
            for f in files:
                f.unlink()
            results[label].append((seconds, cpu))
            log(f"round {round_ + 1}: {label}: {seconds:.2f} s, worker CPU {cpu:.1f} s")
    peak = worker.peak_rss_mib()
    worker.stop()
    api_process.stop()
    one = statistics.median(r[0] for r in results["one file"])
    split = statistics.median(r[0] for r in results[many])
    print(f"\n{ROWS:,} sessions rows, {len(COLUMNS)} columns, CSV, median of {ROUNDS}:\n")
    print("| | create to Completed | worker CPU |")
    print("|---|---|---|")
    for label, rows in results.items():
        print(f"| {label} | {statistics.median(r[0] for r in rows):.2f} s | "
              f"{statistics.median(r[1] for r in rows):.1f} s |")
    print(f"\n{many} / one file: **{split / one:.2f}x**; worker peak RSS {peak:.1f} MiB")


if __name__ == "__main__":
    WORK.mkdir(parents=True, exist_ok=True)
    modes = sys.argv[1:] or ["large", "small"]
    for mode in modes:
        {"large": large, "small": small, "parts": parts}[mode]()
