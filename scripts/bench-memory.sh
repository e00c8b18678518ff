#!/usr/bin/env bash
# Peak RSS of `exporter plugin run` over 10,000 vs 1,000,000 rows, per format.
# Streaming means the two peaks are close (target: within 1.2x).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo xtask plugins >/dev/null 2>&1
cargo build --release -p exporter --bin exporter >/dev/null 2>&1
work=target/bench-memory
mkdir -p "$work"

python3 - "$work" <<'PY'
import json, sys, os
work = sys.argv[1]
for n in (10_000, 1_000_000):
    path = os.path.join(work, f"rows-{n}.ndjson")
    if os.path.exists(path):
        continue
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({
                "id": i, "user": f"user{i % 100000}@example.com", "amount": i * 0.25,
                "active": i % 2 == 0, "created_at": f"2026-01-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
                "day": f"2026-02-{1 + i % 28:02d}", "note": None if i % 7 == 0 else f"note, \"quoted\" {i}",
                "meta": {"plan": "pro", "n": i},
            }) + "\n")
PY

peak() { # prints the peak RSS in MiB of the command
    python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.1f}")' "$@"
}

echo "| format | peak RSS 10k rows | peak RSS 1M rows | ratio |"
echo "|---|---|---|---|"
for format in csv json ndjson; do
    # Warm the compiled-artifact cache so both runs measure exporting, not compiling.
    target/release/exporter plugin info "$format" >/dev/null
    small=$(peak target/release/exporter plugin run "$format" --input "$work/rows-10000.ndjson" --output "$work/out.$format")
    large=$(peak target/release/exporter plugin run "$format" --input "$work/rows-1000000.ndjson" --output "$work/out.$format")
    ratio=$(python3 -c "print(f'{$large / $small:.2f}x')")
    echo "| $format | $small MiB | $large MiB | $ratio |"
done
