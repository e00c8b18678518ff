"""Independent reader for exported files: Python's own csv and json modules.

Usage: read_back.py FORMAT FILE [key=value ...]
  FORMAT: csv | json | ndjson | xlsx
  csv options: delimiter=; bom=true
  xlsx options: counts=true (only each sheet's name and row count)
Prints the parsed content as JSON on stdout (csv: a list of lists of
strings; json: the document; ndjson: a list of documents). Exits non-zero
with a message when the file is not valid in that format.
"""
import csv
import datetime
import io
import json
import re
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
    elif fmt == "xlsx":
        print(json.dumps(read_xlsx(path, counts=opts.get("counts") == "true")))
    else:
        print(f"unknown format {fmt}", file=sys.stderr)
        return 2
    return 0


def read_xlsx(path, counts):
    """openpyxl's view of a workbook: per sheet its name, frozen pane,
    autofilter and rows of typed cells. A cell is null, a boolean, a number,
    a string, or {"datetime": ISO 8601} for cells Excel shows as dates."""
    import openpyxl  # only this format needs it

    def cell(value):
        if isinstance(value, str):
            # SpreadsheetML's escape for characters XML cannot carry, which
            # Excel and LibreOffice decode and openpyxl leaves as it is.
            return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), value)
        if isinstance(value, datetime.datetime):
            return {"datetime": value.isoformat()}
        if isinstance(value, datetime.date):
            return {"datetime": datetime.datetime.combine(value, datetime.time()).isoformat()}
        return value

    # read_only streams the sheets, which the large tests need, but does not
    # parse sheet views or filters; those come from a full load of small files.
    book = openpyxl.load_workbook(path, read_only=True)
    sheets = []
    for sheet in book.worksheets:
        if counts:
            sheets.append({"name": sheet.title, "rows": sum(1 for _ in sheet.iter_rows(values_only=True))})
        else:
            rows = [[cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]
            sheets.append({"name": sheet.title, "rows": rows})
    book.close()
    if not counts:
        full = openpyxl.load_workbook(path)
        for entry, sheet in zip(sheets, full.worksheets):
            entry["frozen"] = sheet.freeze_panes
            entry["filter"] = sheet.auto_filter.ref
            entry["bold_header"] = bool(sheet.max_column) and all(
                c.font.b for c in next(sheet.iter_rows(max_row=1))
            )
        full.close()
    return {"sheets": sheets, "title": openpyxl.load_workbook(path, read_only=True).properties.title}


if __name__ == "__main__":
    sys.exit(main())
