#!/usr/bin/env python3
"""Issue 20's performance targets for the web console, in one run.

1. The console's first page: GET / and every file it references
   (<script src>, <link href>, <img src>, ES module imports `import ... from
   './x.js'` / `export ... from` followed recursively, CSS @import and url()),
   summed as transferred: the bytes read off the socket (status line, headers
   and body) with `Accept-Encoding: identity` and with `gzip, deflate, br`,
   and the bodies alone. Target: < 200 kB (200,000 bytes) transferred.
   Dynamic `import('...')` targets are listed apart (not loaded at first).
2. 500 concurrent subscribers to GET /api/export-jobs/events (Server-Sent
   Events, bearer tokens of demo users of both organizations, acme and
   globex) held open while export jobs run, and meanwhile the latency of
   GET /api/export-jobs/{id} at a steady rate (50 req/s for 30 s) from a
   separate client process. The same with 0 subscribers (same job load)
   side by side, the two phases alternating over 3 rounds; medians.
   Target: p99 < 20 ms with 500 subscribers. Also reported: `event: job`
   messages each subscriber received (from the probe's start until the
   phase's jobs have all finished), the delay from a job's updatedAt to its
   event arriving, and any event of another organization (must be 0).

Standard library only (asyncio and a small HTTP/1.1 client), so nothing is
installed. Run through scripts/bench-console.sh, which builds the release
binary, or directly:

    python3 scripts/bench_console.py              # start a server, both parts
    python3 scripts/bench_console.py page         # first-page size only
    python3 scripts/bench_console.py sse          # subscribers + latency only

Environment:
  BENCH_EXPORTER     the binary (default target/release/exporter, else
                     target/debug/exporter with a warning)
  BENCH_URL          measure an already-running `exporter serve --demo`
                     instead of starting one; BENCH_DATA_DIR must then be its
                     data directory (tokens are minted with `exporter token`)
  BENCH_SUBSCRIBERS  500      BENCH_RATE     50 (GET/s)   BENCH_SECONDS 30
  BENCH_ROUNDS       3        BENCH_JOB_RATE 2 (jobs created per second,
                                              in both phases)
  BENCH_DEMO_ROWS    100000 (demo sessions seeded; more rows = longer jobs;
                     each phase waits for its jobs to finish before the next)
  BENCH_KEEP=1       keep the temporary data directory
"""

import asyncio
import gzip
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

ROOT = Path(__file__).resolve().parent.parent
PAGE_LIMIT = 200_000
P99_TARGET_MS = 20.0

SUBSCRIBERS = int(os.environ.get("BENCH_SUBSCRIBERS", "500"))
RATE = float(os.environ.get("BENCH_RATE", "50"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "30"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
JOB_RATE = float(os.environ.get("BENCH_JOB_RATE", "2"))
DEMO_ROWS = int(os.environ.get("BENCH_DEMO_ROWS", "100000"))

# Who subscribes (round-robin over the 500) and who creates jobs: the
# Managers and Admins of both organizations. (Members may not use export
# jobs: the stream answers them 403; the SuperAdmin sees every organization,
# which would void the other-organization check.)
SUBSCRIBER_USERS = [
    "manager@acme.test", "admin@acme.test", "manager@globex.test", "admin@globex.test",
]
CREATORS = ["manager@acme.test", "manager@globex.test", "admin@acme.test", "admin@globex.test"]
PROBE_USER = "manager@acme.test"
# All of an organization's sessions (about half of BENCH_DEMO_ROWS): long
# enough for a job to be seen pending, processing and completed (the feed
# reads the change log every 200 ms and sends a job's latest state once).
JOB_BODY = {
    "dataType": "sessions",
    "format": "csv",
    "dateRange": {"from": "2026-01-01", "to": "2026-12-31"},
}


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- HTTP/1.1


class HttpError(Exception):
    pass


class Conn:
    """One keep-alive HTTP/1.1 connection; counts the bytes it reads."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None
        self.read_bytes = 0
        self.closed = True

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.closed = False
        return self

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.closed = True

    async def send(self, method, path, headers=None, body=None):
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode()
        self.writer.write(data + (body or b""))
        await self.writer.drain()

    async def _line(self):
        line = await self.reader.readuntil(b"\n")
        self.read_bytes += len(line)
        return line

    async def head(self):
        """Status and headers (lower-case names; repeated ones joined)."""
        try:
            status_line = await self._line()
        except asyncio.IncompleteReadError as e:
            raise HttpError("connection closed before a response") from e
        parts = status_line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise HttpError(f"bad status line {status_line!r}")
        status = int(parts[1])
        headers = {}
        while True:
            line = await self._line()
            if line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return status, headers

    async def body_chunks(self, method, status, headers):
        """Yields the body's bytes as they arrive (de-chunked, still encoded)."""
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return
        if "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                size_line = await self._line()
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while (await self._line()) not in (b"\r\n", b"\n"):
                        pass  # trailers
                    return
                data = await self.reader.readexactly(size)
                self.read_bytes += size
                await self.reader.readexactly(2)
                self.read_bytes += 2
                yield data
        elif "content-length" in headers:
            left = int(headers["content-length"])
            while left > 0:
                data = await self.reader.read(min(left, 1 << 16))
                if not data:
                    raise HttpError("connection closed mid-body")
                self.read_bytes += len(data)
                left -= len(data)
                yield data
        else:
            while True:
                data = await self.reader.read(1 << 16)
                if not data:
                    self.closed = True
                    return
                self.read_bytes += len(data)
                yield data

    async def request(self, method, path, headers=None, body=None):
        """(status, headers, body bytes as sent, bytes read off the socket)."""
        if self.closed:
            await self.open()
        start = self.read_bytes
        await self.send(method, path, headers, body)
        status, resp_headers = await self.head()
        chunks = [c async for c in self.body_chunks(method, status, resp_headers)]
        if resp_headers.get("connection", "").lower() == "close":
            self.close()
        return status, resp_headers, b"".join(chunks), self.read_bytes - start


def split_url(url):
    parts = urlsplit(url)
    return parts.hostname, parts.port or 80


async def fetch_json(base, method, path, token=None, body=None):
    host, port = split_url(base)
    conn = await Conn(host, port).open()
    try:
        headers = {"Accept": "application/json", "Connection": "close"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        status, _, raw, _ = await conn.request(method, path, headers, data)
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode("utf-8", "replace")
        return status, parsed
    finally:
        conn.close()


# ---------------------------------------------------------------- part 1: the first page


class RefParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.refs.append(a["src"])
        elif tag == "link" and a.get("href"):
            rel = (a.get("rel") or "").lower().split()
            if set(rel) & {"stylesheet", "modulepreload", "preload", "icon", "manifest", "shortcut"}:
                self.refs.append(a["href"])
        elif tag in ("img", "source") and a.get("src"):
            self.refs.append(a["src"])


# Statements at the start of a line (as every module here is written):
# `import x from '...'`, `import { a,\n b } from '...'`, `import '...'`,
# `export * from '...'`, `export { a } from '...'`.
STATIC_IMPORT = re.compile(
    r"""^[ \t]*(?:import\s+(?:[\w$*{}\s,]+?\s+from\s*)?|export\s+(?:\*(?:\s+as\s+[\w$]+)?|\{[^}]*\})\s*from\s*)["']([^"'\n]+)["']""",
    re.M)
DYNAMIC_IMPORT = re.compile(r"""\bimport\s*\(\s*["']([^"'\n]+)["']\s*\)""")
CSS_IMPORT = re.compile(r"""@import\s+(?:url\()?\s*["']?([^"')\s;]+)""")
CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+?)["']?\s*\)""")
BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.S)
LINE_COMMENT = re.compile(r"^\s*//.*$", re.M)


def references(kind, text):
    """(static refs, lazy refs) of one file's text."""
    if kind == "html":
        p = RefParser()
        p.feed(text)
        return p.refs, []
    if kind == "js":
        code = LINE_COMMENT.sub("", BLOCK_COMMENT.sub("", text))
        return STATIC_IMPORT.findall(code), DYNAMIC_IMPORT.findall(code)
    if kind == "css":
        code = BLOCK_COMMENT.sub("", text)
        return CSS_IMPORT.findall(code) + CSS_URL.findall(code), []
    return [], []


def kind_of(path, content_type):
    ct = (content_type or "").lower()
    if "html" in ct or path.endswith((".html", "/")):
        return "html"
    if "javascript" in ct or path.endswith((".js", ".mjs")):
        return "js"
    if "css" in ct or path.endswith(".css"):
        return "css"
    return "other"


def decode_body(body, encoding):
    encoding = (encoding or "identity").lower()
    if encoding in ("identity", ""):
        return body
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "br":
        try:
            import brotli  # noqa: PLC0415 (optional)
        except ImportError:
            return None
        return brotli.decompress(body)
    return None


async def measure_page(base):
    """Fetches the first page's files both ways; returns a result dict."""
    host, port = split_url(base)
    origin = f"http://{host}:{port}"
    queue, seen, lazy, external = ["/"], set(), set(), set()
    files = []
    while queue:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        row = {"path": path}
        text = None
        for label, accept in (("identity", "identity"), ("compressed", "gzip, deflate, br")):
            conn = await Conn(host, port).open()
            try:
                status, headers, body, wire = await conn.request(
                    "GET", path, {"Accept-Encoding": accept, "Accept": "*/*", "Connection": "close"})
            finally:
                conn.close()
            row[label] = {
                "status": status, "wire": wire, "body": len(body),
                "encoding": headers.get("content-encoding", "identity"),
                "type": headers.get("content-type", ""),
            }
            if label == "identity":
                plain = decode_body(body, headers.get("content-encoding"))
                row["plain"] = len(plain) if plain is not None else None
                row["gzip9"] = len(gzip.compress(plain, 9)) if plain is not None else None
                row["csp"] = "content-security-policy" in headers
                if status == 200 and plain is not None:
                    text = plain.decode("utf-8", "replace")
        files.append(row)
        if text is None:
            continue
        refs, lazy_refs = references(kind_of(path, row["identity"]["type"]), text)
        for ref, bucket in [(r, "static") for r in refs] + [(r, "lazy") for r in lazy_refs]:
            if ref.startswith(("data:", "blob:", "#", "about:")):
                continue
            absolute = urljoin(origin + path, ref)
            parts = urlsplit(absolute)
            if f"{parts.scheme}://{parts.netloc}" != origin:
                external.add(ref)
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if bucket == "lazy":
                lazy.add(target)
            elif target not in seen:
                queue.append(target)
    lazy -= seen
    total = {
        k: sum(f[k]["wire"] for f in files) for k in ("identity", "compressed")
    }
    bodies = {k: sum(f[k]["body"] for f in files) for k in ("identity", "compressed")}
    gzip9 = sum(f["gzip9"] or 0 for f in files)
    compresses = any(f["compressed"]["encoding"] not in ("identity", "") for f in files)
    return {
        "files": files, "lazy": sorted(lazy), "external": sorted(external),
        "wire": total, "bodies": bodies, "gzip9": gzip9, "server_compresses": compresses,
        "all_ok": all(f["identity"]["status"] == 200 for f in files),
    }


def print_page(result):
    print("### Console first page (GET / and what it references)\n")
    print("| file | status | body | transferred (identity) | transferred (Accept-Encoding: gzip, br) | gzip -9 of body | CSP |")
    print("|---|---|---|---|---|---|---|")
    for f in result["files"]:
        i, c = f["identity"], f["compressed"]
        enc = "" if c["encoding"] in ("identity", "") else f" ({c['encoding']})"
        print(f"| `{f['path']}` | {i['status']} | {f['plain'] if f['plain'] is not None else i['body']} B "
              f"| {i['wire']} B | {c['wire']} B{enc} | {f['gzip9']} B | {'yes' if f['csp'] else 'no'} |")
    w, b = result["wire"], result["bodies"]
    print(f"| **total ({len(result['files'])} files)** | | {b['identity']} B | **{w['identity']} B** "
          f"| **{w['compressed']} B** | {result['gzip9']} B | |")
    print()
    worst = max(w.values())
    verdict = "met" if worst < PAGE_LIMIT and result["all_ok"] else "NOT met"
    print(f"First-page transfer: {w['identity'] / 1000:.1f} kB uncompressed, "
          f"{w['compressed'] / 1000:.1f} kB when the client accepts gzip/br "
          f"({'the server compresses' if result['server_compresses'] else 'the server does not compress; gzip -9 of the bodies would be ' + format(result['gzip9'] / 1000, '.1f') + ' kB'}). "
          f"Target < 200 kB: **{verdict}**.")
    if result["lazy"]:
        print(f"Loaded later by dynamic import (not counted): {', '.join(result['lazy'])}.")
    if result["external"]:
        print(f"References to other origins (should be none): {', '.join(result['external'])}.")
    if not result["all_ok"]:
        print("Some files did not answer 200: see the status column.")
    print()


# ---------------------------------------------------------------- part 2: subscribers and latency


def parse_time(value):
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except (ValueError, AttributeError):
        return None


class Subscriber:
    def __init__(self, index, user, token, organization):
        self.index, self.user, self.token, self.organization = index, user, token, organization
        self.connected = False
        self.error = None
        self.events = 0
        self.removed = 0
        self.foreign = 0
        self.lags = []
        self.ids = []

    async def run(self, host, port, gate, ready):
        conn = Conn(host, port)
        try:
            async with gate:
                await conn.open()
                await conn.send("GET", "/api/export-jobs/events", {
                    "Authorization": f"Bearer {self.token}",
                    "Accept": "text/event-stream",
                    "Cache-Control": "no-cache",
                })
                status, headers = await conn.head()
                if status != 200 or "text/event-stream" not in headers.get("content-type", ""):
                    body = b"".join([c async for c in conn.body_chunks("GET", status, headers)])
                    raise HttpError(f"{status} {headers.get('content-type', '')}: {body[:200]!r}")
            self.connected = True
            ready()
            buf = b""
            event = {"data": []}
            async for chunk in conn.body_chunks("GET", status, headers):
                buf += chunk
                while True:
                    nl = buf.find(b"\n")
                    if nl < 0:
                        break
                    line, buf = buf[:nl].rstrip(b"\r").decode("utf-8", "replace"), buf[nl + 1:]
                    if line == "":
                        if event["data"]:
                            self.dispatch(event)
                        event = {"data": []}
                    elif line.startswith(":"):
                        continue
                    else:
                        field, _, value = line.partition(":")
                        value = value[1:] if value.startswith(" ") else value
                        if field == "data":
                            event["data"].append(value)
                        else:
                            event[field] = value
            self.error = self.error or "the stream ended"
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 (reported)
            self.error = f"{type(e).__name__}: {e}"
            if not self.connected:
                ready()
        finally:
            conn.close()

    def dispatch(self, event):
        now = time.time()
        kind = event.get("event", "message")
        if "id" in event:
            self.ids.append(event["id"])
        if kind == "job-removed":
            self.removed += 1
            return
        if kind != "job":  # e.g. the stream's opening `event: ready`
            return
        self.events += 1
        try:
            job = json.loads("\n".join(event["data"]))
        except ValueError:
            return
        if self.organization and job.get("organizationId") not in (None, self.organization):
            self.foreign += 1
        updated = parse_time(job.get("updatedAt"))
        if updated is not None:
            self.lags.append((now - updated) * 1000)


FINAL = {"completed", "failed", "cancelled", "expired"}


async def drain(base, tokens, created, timeout=120):
    """Waits until every job in `created` is final; (finished, {status: n})."""
    deadline = time.monotonic() + timeout
    open_jobs = list(created)
    done = {}
    while open_jobs and time.monotonic() < deadline:
        still = []
        for user, job_id in open_jobs:
            status, body = await fetch_json(base, "GET", f"/api/export-jobs/{job_id}", tokens[user])
            state = str(body.get("status", "")).lower() if isinstance(body, dict) else ""
            if status == 200 and state in FINAL:
                done[state] = done.get(state, 0) + 1
            elif status == 404:
                done["gone"] = done.get("gone", 0) + 1
            else:
                still.append((user, job_id))
        open_jobs = still
        if open_jobs:
            await asyncio.sleep(0.5)
    return not open_jobs, done


async def make_jobs(base, tokens, rate, stop, created, failures):
    """Creates export jobs at `rate` per second, round-robin over CREATORS."""
    i = 0
    start = time.monotonic()
    while not stop.is_set():
        user = CREATORS[i % len(CREATORS)]
        status, body = await fetch_json(base, "POST", "/api/export-jobs", tokens[user], JOB_BODY)
        if status in (200, 201, 202) and isinstance(body, dict) and body.get("id"):
            created.append((user, body["id"]))
        else:
            failures.append(f"{user}: {status} {str(body)[:200]}")
        i += 1
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except asyncio.TimeoutError:
                pass


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


async def phase(base, tokens, organizations, subscribers, job_id, seconds=SECONDS):
    """One measured phase: optional subscribers, job load, probe process."""
    host, port = split_url(base)
    subs = [
        Subscriber(i, SUBSCRIBER_USERS[i % len(SUBSCRIBER_USERS)],
                   tokens[SUBSCRIBER_USERS[i % len(SUBSCRIBER_USERS)]],
                   organizations.get(SUBSCRIBER_USERS[i % len(SUBSCRIBER_USERS)]))
        for i in range(subscribers)
    ]
    gate = asyncio.Semaphore(64)
    pending = {"n": len(subs)}
    all_ready = asyncio.Event()
    if not subs:
        all_ready.set()

    def ready():
        pending["n"] -= 1
        if pending["n"] <= 0:
            all_ready.set()

    t_connect = time.monotonic()
    tasks = [asyncio.create_task(s.run(host, port, gate, ready)) for s in subs]
    try:
        await asyncio.wait_for(all_ready.wait(), 120)
    except asyncio.TimeoutError:
        pass
    connect_s = time.monotonic() - t_connect
    connected = sum(s.connected for s in subs)
    if subs:
        log(f"    {connected}/{len(subs)} subscribers connected in {connect_s:.1f} s")

    stop_jobs = asyncio.Event()
    created, failures = [], []
    jobs_task = asyncio.create_task(make_jobs(base, tokens, JOB_RATE, stop_jobs, created, failures))
    await asyncio.sleep(1.0)  # the job load is running before the probe starts
    # Events are counted from the probe's start until the phase's jobs are
    # all finished (the connection ramp and the opening `ready` are not).
    for s in subs:
        s.events = s.removed = s.foreign = 0
        s.lags.clear()
        s.ids.clear()
    probe = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).resolve()), "probe", base, tokens[PROBE_USER], job_id,
        str(RATE), str(seconds), stdout=subprocess.PIPE)
    out, _ = await probe.communicate()
    stop_jobs.set()
    await jobs_task
    # Every job of this phase finishes before the next phase (and the
    # subscribers see their last events): each phase starts on an empty queue.
    t_drain = time.monotonic()
    drained, outcomes = await drain(base, tokens, created)
    drain_s = time.monotonic() - t_drain
    await asyncio.sleep(0.5)
    still_open = sum(1 for s in subs if s.connected and s.error is None)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    probe_result = json.loads(out)
    lat = probe_result["latencies_ms"]
    lags = [x for s in subs for x in s.lags]
    per_user = {}
    for s in subs:
        per_user.setdefault(s.user, []).append(s.events)
    errors = [s.error for s in subs if s.error and s.error != "the stream ended"]
    return {
        "subscribers": subscribers,
        "connected": connected,
        "still_open": still_open,
        "connect_s": connect_s,
        "requests": len(lat),
        "errors": probe_result["errors"],
        "error_samples": probe_result["error_samples"],
        "max_client_lag_ms": probe_result["max_client_lag_ms"],
        "p50": pct(lat, 50), "p95": pct(lat, 95), "p99": pct(lat, 99), "max": max(lat) if lat else float("nan"),
        "events": [s.events for s in subs],
        "per_user": {u: (statistics.median(v), min(v), max(v)) for u, v in per_user.items()},
        "foreign": sum(s.foreign for s in subs),
        "lag_p50": pct(lags, 50), "lag_p99": pct(lags, 99),
        "jobs_created": len(created),
        "jobs_outcomes": outcomes,
        "drained": drained,
        "drain_s": drain_s,
        "job_failures": failures[:5],
        "sub_errors": errors[:5],
        "sub_error_count": len(errors),
    }


async def probe_main(base, token, job_id, rate, seconds):
    """The separate client: GET /api/export-jobs/{id} at a steady rate.

    Open loop: request k is sent at start + k/rate on an idle keep-alive
    connection (a new one if all are busy), so a slow answer does not delay
    the next request; latency is from the write to the last byte read.
    """
    host, port = split_url(base)
    path = f"/api/export-jobs/{job_id}"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    idle = []
    latencies, errors, error_samples = [], 0, []
    max_lag = 0.0

    async def one(scheduled, record):
        nonlocal errors, max_lag
        conn = idle.pop() if idle else await Conn(host, port).open()
        lag = time.monotonic() - scheduled
        try:
            t0 = time.perf_counter()
            status, _, body, _ = await conn.request("GET", path, headers)
            dt = (time.perf_counter() - t0) * 1000
            if status != 200:
                raise HttpError(f"{status}: {body[:200]!r}")
            if record:
                latencies.append(dt)
                max_lag = max(max_lag, lag * 1000)
            if not conn.closed:
                idle.append(conn)
        except Exception as e:  # noqa: BLE001 (counted)
            conn.close()
            if record:
                errors += 1
                if len(error_samples) < 3:
                    error_samples.append(f"{type(e).__name__}: {e}")

    # Warm-up: a few connections and requests, not recorded.
    for _ in range(20):
        await one(time.monotonic(), False)
    tasks = []
    start = time.monotonic()
    n = int(rate * seconds)
    for k in range(n):
        scheduled = start + k / rate
        delay = scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled, True)))
    await asyncio.gather(*tasks)
    for c in idle:
        c.close()
    print(json.dumps({"latencies_ms": latencies, "errors": errors,
                      "error_samples": error_samples, "max_client_lag_ms": max_lag}))


def print_sse(rounds):
    print(f"### Event stream: {SUBSCRIBERS} subscribers vs none, GET /api/export-jobs/{{id}} at "
          f"{RATE:g}/s for {SECONDS:g} s, {JOB_RATE:g} export jobs created per second\n")
    print("Per round (phases alternate; the latency client is a separate process):\n")
    print("| round | subscribers | connected | GET p50 | p95 | p99 | max | errors "
          "| events per subscriber (median, min–max) | event delay p50 / p99 | other org's events | jobs created / completed |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r, phases in enumerate(rounds, 1):
        for p in phases:
            ev = p["events"]
            evs = f"{statistics.median(ev):g} ({min(ev)}–{max(ev)})" if ev else "—"
            lag = f"{p['lag_p50']:.0f} / {p['lag_p99']:.0f} ms" if ev else "—"
            print(f"| {r} | {p['subscribers']} | {p['connected'] if p['subscribers'] else '—'} "
                  f"| {p['p50']:.2f} ms | {p['p95']:.2f} ms | {p['p99']:.2f} ms | {p['max']:.1f} ms "
                  f"| {p['errors']} | {evs} | {lag} | {p['foreign'] if ev else '—'} "
                  f"| {p['jobs_created']} / {p['jobs_outcomes'].get('completed', 0)} |")
    print()
    print("Medians of the rounds:\n")
    print("| subscribers | GET p50 | GET p95 | GET p99 | events per subscriber (median) | event delay p50 / p99 |")
    print("|---|---|---|---|---|---|")
    by = {}
    for phases in rounds:
        for p in phases:
            by.setdefault(p["subscribers"], []).append(p)
    med = {}
    for n in sorted(by):
        ps = by[n]
        m = {k: statistics.median(p[k] for p in ps) for k in ("p50", "p95", "p99")}
        med[n] = m
        evs = [statistics.median(p["events"]) for p in ps if p["events"]]
        lag50 = [p["lag_p50"] for p in ps if p["events"]]
        lag99 = [p["lag_p99"] for p in ps if p["events"]]
        print(f"| {n} | {m['p50']:.2f} ms | {m['p95']:.2f} ms | **{m['p99']:.2f} ms** "
              f"| {statistics.median(evs) if evs else '—'} "
              f"| {(format(statistics.median(lag50), '.0f') + ' / ' + format(statistics.median(lag99), '.0f') + ' ms') if lag50 else '—'} |")
    print()
    if SUBSCRIBERS in med:
        p99 = med[SUBSCRIBERS]["p99"]
        ok = p99 < P99_TARGET_MS and all(p["connected"] == p["subscribers"] for ps in rounds for p in ps)
        print(f"Target: p99 < {P99_TARGET_MS:g} ms with {SUBSCRIBERS} subscribers connected: "
              f"**{'met' if ok else 'NOT met'}** ({p99:.2f} ms).")
    last = [p for ps in rounds for p in ps if p["subscribers"]]
    if last:
        print("\nEvents per subscriber by user (median, min–max, last round):\n")
        print("| user | events |")
        print("|---|---|")
        for user, (m, lo, hi) in last[-1]["per_user"].items():
            print(f"| {user} | {m:g} ({lo}–{hi}) |")
    notes = []
    for ps in rounds:
        for p in ps:
            if p["foreign"]:
                notes.append(f"{p['foreign']} events of another organization reached subscribers")
            if p["subscribers"] and p["still_open"] != p["subscribers"]:
                notes.append(f"{p['subscribers'] - p['still_open']} streams closed or failed before the end "
                             f"({p['sub_error_count']} errors, e.g. {p['sub_errors'][:2]})")
            if p["errors"]:
                notes.append(f"{p['errors']} failed GETs, e.g. {p['error_samples']}")
            if p["job_failures"]:
                notes.append(f"job creation refused: {p['job_failures'][:2]}")
            if not p["drained"]:
                notes.append(f"jobs were still unfinished {p['drain_s']:.0f} s after a phase: "
                             "lower BENCH_JOB_RATE or BENCH_DEMO_ROWS")
            bad = {k: v for k, v in p["jobs_outcomes"].items() if k != "completed"}
            if bad:
                notes.append(f"jobs that did not complete: {bad}")
            if p["max_client_lag_ms"] > 50:
                notes.append(f"the latency client fell {p['max_client_lag_ms']:.0f} ms behind its schedule")
    for n in dict.fromkeys(notes):
        print(f"- {n}")
    print()


# ---------------------------------------------------------------- the server


def find_binary():
    explicit = os.environ.get("BENCH_EXPORTER")
    if explicit:
        return Path(explicit).resolve()
    for profile in ("release", "debug"):
        b = ROOT / "target" / profile / "exporter"
        if b.exists():
            if profile == "debug":
                log("WARNING: only target/debug/exporter exists: a debug build's latencies are not the release figures")
            return b
    sys.exit("no target/release/exporter (run scripts/bench-console.sh, which builds it)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, server=None, timeout=180):
    host, port = split_url(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            sys.exit(f"the server exited ({server.returncode}) before it was ready")
        try:
            with socket.create_connection((host, port), timeout=1) as s:
                s.sendall(f"GET /readyz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"{url} was not ready within {timeout} s")


def start_server(binary):
    data = Path(tempfile.mkdtemp(prefix="bench-console-", dir=ROOT / "target" if (ROOT / "target").is_dir() else None))
    port = free_port()
    env = {
        **os.environ,
        "EXPORTER_DATA_DIR": str(data),
        # The built-ins' conformance kit would run beside the measurement.
        "EXPORTER_CHECK_BUILTINS": "false",
        "RUST_LOG": os.environ.get("RUST_LOG", "warn"),
    }
    for k in ("EXPORTER_DATABASE_URL", "EXPORTER_BLOB_URL", "EXPORTER_CONFIG", "EXPORTER_LISTEN"):
        env.pop(k, None)
    logf = open(data / "serve.log", "wb")  # noqa: SIM115 (lives as long as the server)
    server = subprocess.Popen(
        [str(binary), "serve", "--demo", "--demo-rows", str(DEMO_ROWS), "--listen", f"127.0.0.1:{port}"],
        # From the checkout: the service finds the built plugins under target/.
        env=env, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT)

    def stop():
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
        if os.environ.get("BENCH_KEEP"):
            log(f"data directory kept: {data}")
        else:
            shutil.rmtree(data, ignore_errors=True)

    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, server)
    except SystemExit:
        log((data / "serve.log").read_text(errors="replace")[-3000:])
        stop()
        raise
    return url, data, server, stop


def mint_tokens(binary, data_dir, users):
    env = {**os.environ, "EXPORTER_DATA_DIR": str(data_dir)}
    tokens = {}
    for user in users:
        out = subprocess.run([str(binary), "token", "--user", user, "--ttl", "4h"],
                             env=env, capture_output=True, text=True, check=False, cwd=ROOT)
        if out.returncode != 0:
            sys.exit(f"exporter token --user {user} failed: {out.stderr.strip()}")
        tokens[user] = out.stdout.strip().splitlines()[-1]
    return tokens


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


async def sse_bench(base, tokens):
    # Each user creates one job first: it tells their organization, and the
    # probe user's is the job the latency client reads.
    organizations, probe_job = {}, None
    for user in CREATORS:
        status, body = await fetch_json(base, "POST", "/api/export-jobs", tokens[user], JOB_BODY)
        if status not in (200, 201, 202):
            sys.exit(f"creating an export job as {user}: {status} {body}")
        organizations[user] = body.get("organizationId")
        if user == PROBE_USER:
            probe_job = body["id"]
    for user in SUBSCRIBER_USERS:
        if user not in organizations:
            status, body = await fetch_json(base, "GET", "/api/session", tokens[user])
            if status == 200 and isinstance(body, dict):
                organizations[user] = body.get("organizationId")
            else:  # the demo's organizations follow the email domain
                organizations[user] = organizations.get(f"manager@{user.split('@')[1]}")
    status, body = await fetch_json(base, "GET", f"/api/export-jobs/{probe_job}", tokens[PROBE_USER])
    if status != 200:
        sys.exit(f"GET /api/export-jobs/{probe_job}: {status} {body}")
    # Is the stream there at all?
    host, port = split_url(base)
    conn = await Conn(host, port).open()
    try:
        await conn.send("GET", "/api/export-jobs/events", {"Authorization": f"Bearer {tokens[PROBE_USER]}",
                                                           "Accept": "text/event-stream"})
        status, headers = await asyncio.wait_for(conn.head(), 10)
    finally:
        conn.close()
    if status != 200 or "text/event-stream" not in headers.get("content-type", ""):
        sys.exit(f"GET /api/export-jobs/events answers {status} {headers.get('content-type')}: "
                 "the event stream is not served by this build")
    # A discarded phase first: the server's caches, the job pipeline and the
    # client's first connections are warm before anything is recorded.
    log(f"warm-up: 0 subscribers, {RATE:g} GET/s for {min(SECONDS, 5):g} s (not recorded)")
    await phase(base, tokens, organizations, 0, probe_job, min(SECONDS, 5))
    rounds = []
    for r in range(ROUNDS):
        order = [0, SUBSCRIBERS] if r % 2 == 0 else [SUBSCRIBERS, 0]
        phases = []
        for n in order:
            log(f"round {r + 1}/{ROUNDS}: {n} subscribers, {RATE:g} GET/s for {SECONDS:g} s")
            p = await phase(base, tokens, organizations, n, probe_job)
            log(f"    p50 {p['p50']:.2f} ms  p95 {p['p95']:.2f} ms  p99 {p['p99']:.2f} ms  "
                f"errors {p['errors']}  jobs {p['jobs_created']}"
                + (f"  events/subscriber median {statistics.median(p['events']):g}" if p["events"] else ""))
            phases.append(p)
            await asyncio.sleep(2)
        rounds.append(sorted(phases, key=lambda p: p["subscribers"]))
    return rounds


def main():
    args = sys.argv[1:]
    if args and args[0] == "probe":
        base, token, job_id, rate, seconds = args[1:6]
        asyncio.run(probe_main(base, token, job_id, float(rate), float(seconds)))
        return 0
    parts = set(args) or {"page", "sse"}
    unknown = parts - {"page", "sse"}
    if unknown:
        sys.exit(f"unknown part(s): {', '.join(sorted(unknown))} (page, sse)")
    raise_fd_limit()
    binary = find_binary() if ("sse" in parts or not os.environ.get("BENCH_URL")) else None
    stop = None
    if os.environ.get("BENCH_URL"):
        base = os.environ["BENCH_URL"].rstrip("/")
        data_dir = os.environ.get("BENCH_DATA_DIR")
        if "sse" in parts and not data_dir:
            sys.exit("BENCH_URL needs BENCH_DATA_DIR (the server's data directory) to mint tokens")
        wait_ready(base, timeout=10)
    else:
        base, data_dir, _, stop = start_server(binary)
    try:
        print(f"## Console benchmarks ({time.strftime('%Y-%m-%d')}, "
              f"{'binary ' + str(binary.relative_to(ROOT) if binary and binary.is_relative_to(ROOT) else binary) if binary else base}, "
              f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at start)\n")
        ok = True
        if "page" in parts:
            log("measuring the first page")
            page = asyncio.run(measure_page(base))
            print_page(page)
            ok &= max(page["wire"].values()) < PAGE_LIMIT and page["all_ok"]
        if "sse" in parts:
            tokens = mint_tokens(binary, data_dir, sorted(set(SUBSCRIBER_USERS + CREATORS)))
            rounds = asyncio.run(sse_bench(base, tokens))
            print_sse(rounds)
        return 0 if ok else 1
    finally:
        if stop:
            stop()


if __name__ == "__main__":
    sys.exit(main())
