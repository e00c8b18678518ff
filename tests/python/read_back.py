"""Independent reader for exported files: Python's own csv and json modules.

Usage: read_back.py FORMAT FILE [key=value ...]
  FORMAT: csv | json | ndjson
  csv options: delimiter=; bom=true
Prints the parsed content as JSON on stdout (csv: a list of lists of
strings; json: the document; ndjson: a list of documents). Exits non-zero
with a message when the file is not valid in that format.
"""
import csv
import io
import json
import sys


def main() -> int:
    fmt, path, *pairs = sys.argv[1:]
    opts = dict(p.split("=", 1) for p in pairs)
    if fmt == "csv":
        raw = open(path, "rb").read()
        has_bom = raw.startswith(b"\xef\xbb\xbf")
        if opts.get("bom") == "true" and not has_bom:
            print("expected a UTF-8 BOM", file=sys.stderr)
            return 1
        if opts.get("bom") != "true" and has_bom:
            print("unexpected UTF-8 BOM", file=sys.stderr)
            return 1
        text = raw.decode("utf-8-sig" if has_bom else "utf-8")
        reader = csv.reader(
            io.StringIO(text, newline=""),
            delimiter=opts.get("delimiter", ","),
            strict=True,
        )
        print(json.dumps(list(reader)))
    elif fmt == "json":
        with open(path, encoding="utf-8") as f:
            print(json.dumps(json.load(f)))
    elif fmt == "ndjson":
        docs = []
        with open(path, encoding="utf-8", newline="") as f:
            data = f.read()
        if data and not data.endswith("\n"):
            print("last line has no newline", file=sys.stderr)
            return 1
        for number, line in enumerate(data.split("\n")[:-1], 1):
            try:
                docs.append(json.loads(line))
            except json.JSONDecodeError as e:
                print(f"line {number}: {e}", file=sys.stderr)
                return 1
        print(json.dumps(docs))
    else:
        print(f"unknown format {fmt}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
