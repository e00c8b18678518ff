"""tsv-py: tab-separated values, an Exporter format plugin written in Python.

This module implements the `plugin` world of `wit/formatter.wit`
(exporter:formatter@1.1.0) and is built into a WebAssembly component with
componentize-py (see README.md). It is named after the WIT interface it
exports because componentize-py looks for the class of an exported resource
(`writer` -> `Writer`) in a module named after its interface (`formatter`);
the interface's functions (`info`) live in the `Formatter` class of the app
module, which is this one too.

The output, one line per row, each ended by LF (or CRLF with
`line-terminator=crlf`):

* a header line of column names (unless `header=false`);
* cells separated by TAB; in every cell (header included) a backslash is
  written `\\\\`, a TAB `\\t`, an LF `\\n` and a CR `\\r`, so a line is always
  one row and a TAB always a separator ("linear TSV", as PostgreSQL's COPY
  and many data tools read it);
* a null cell is the `null` option's text, empty by default (then a null and
  an empty text look the same; `null=\\N` tells them apart, since a real
  backslash is always escaped);
* values rendered exactly as the Rust SDK's `TextFormatter` renders them for
  the built-in CSV plugin: `true`/`false`; integers in decimal; floats as the
  shortest text that round-trips in Rust's `ryu` style (`0.1`, `1.0`,
  `1e100`, `1.5e-7`, `0.00001`, `-0.0`, `NaN`, `inf`, `-inf`); decimals, text
  and JSON verbatim; dates `YYYY-MM-DD` (years outside 0000..9999 as
  `+YYYYYY`/`-YYYYYY`); timestamps RFC 3339 UTC, `YYYY-MM-DDTHH:MM:SSZ` or
  with `.ffffff` when the microseconds are not zero.

The writer streams: each batch is encoded into a small buffer that goes to
the host's sink once it holds 64 KiB, so memory stays flat whatever the
export's size. It uses neither clock nor randomness: the same rows and
options give the same bytes, whatever the batch sizes.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import formatter as contract
from wit_world.imports import sink
from wit_world.imports.types import (
    Batch,
    Column,
    ColumnValues_Boolean,
    ColumnValues_Date,
    ColumnValues_Float64,
    ColumnValues_Int64,
    ColumnValues_Timestamp,
    ExportContext,
    FormatError_InvalidOption,
    FormatError_Other,
    FormatError_UnsupportedSchema,
    FormatInfo,
    Level,
    OptionSpec,
    OptionType,
    OptionValue,
)

NAME = "tsv-py"
VERSION = "1.0.0"

OPTIONS = [
    OptionSpec(
        name="header",
        kind=OptionType.BOOLEAN,
        default_value="true",
        description="Write a first line of column names",
        choices=[],
    ),
    OptionSpec(
        name="line-terminator",
        kind=OptionType.CHOICE,
        default_value="lf",
        description="The end of each line: LF, or CRLF for Windows tools",
        choices=["lf", "crlf"],
    ),
    OptionSpec(
        name="null",
        kind=OptionType.TEXT,
        default_value="",
        description="How null cells are written, e.g. \\N; no TAB, CR or LF",
        choices=[],
    ),
]

TERMINATORS = {"lf": b"\n", "crlf": b"\r\n"}

# Bytes go to the host in chunks of at least this size (the end of the
# export aside): the WIT contract asks for 16 KiB to 1 MiB per call, and the
# Rust SDK's buffered writer uses 64 KiB.
CHUNK = 64 * 1024
# A single batch of 10,000 wide rows can encode to more than a megabyte; it
# is sent in pieces no larger than this.
MAX_CHUNK = 1024 * 1024


class Formatter(exports.Formatter):
    """The `formatter` interface's free functions."""

    def info(self) -> FormatInfo:
        return FormatInfo(
            name=NAME,
            version=VERSION,
            media_type="text/tab-separated-values; charset=utf-8",
            file_extension="tsv",
            description=(
                "Tab-separated values with backslash escapes, one line per row "
                "(a Python plugin built with componentize-py)"
            ),
            options=OPTIONS,
        )


class Writer(contract.Writer):
    """One export in progress: the `writer` resource."""

    def __init__(self, width: int, null: bytes, terminator: bytes) -> None:
        self.width = width
        self.null = null
        self.terminator = terminator
        self.buffer = bytearray()
        self.rows = 0
        self.bytes = 0

    @classmethod
    def open(
        cls,
        columns: list[Column],
        options: list[OptionValue],
        context: ExportContext,
    ) -> "Writer":
        # The context (title, generated-at) has no place in a TSV file.
        settings = parse_options(options)
        if not columns:
            raise Err(FormatError_UnsupportedSchema("TSV needs at least one column"))
        writer = cls(
            width=len(columns),
            null=settings["null"].encode(),
            terminator=TERMINATORS[settings["line-terminator"]],
        )
        if settings["header"] == "true":
            writer.buffer += b"\t".join(escape(c.name.encode()) for c in columns)
            writer.buffer += writer.terminator
        return writer

    def write_batch(self, batch: Batch) -> None:
        if len(batch.columns) != self.width:
            raise Err(
                FormatError_Other(
                    f"a batch has {len(batch.columns)} columns, the schema {self.width}"
                )
            )
        rows = batch.rows
        if rows == 0:
            return
        cells = [render_column(column, rows, self.null) for column in batch.columns]
        terminator = self.terminator
        self.buffer += terminator.join([b"\t".join(row) for row in zip(*cells)])
        self.buffer += terminator
        self.rows += rows
        if len(self.buffer) >= CHUNK:
            self.flush()

    def finish(self) -> None:
        self.flush()
        sink.log(Level.DEBUG, f"{NAME} wrote {self.rows} rows, {self.bytes} bytes")

    def flush(self) -> None:
        data = bytes(self.buffer)
        self.buffer.clear()
        for start in range(0, len(data), MAX_CHUNK):
            sink.write(data[start : start + MAX_CHUNK])
        self.bytes += len(data)


def parse_options(given: list[OptionValue]) -> dict[str, str]:
    """Every option's value, defaults filled in; refuses what `info` does
    not allow with invalid-option, before any data flows."""
    specs = {spec.name: spec for spec in OPTIONS}
    values: dict[str, str] = {}
    for option in given:
        name, value = option.name, option.value
        spec = specs.get(name)
        if spec is None:
            raise invalid(
                f"unknown option {quote(name)}: format {NAME} accepts "
                + ", ".join(specs)
            )
        if name in values:
            raise invalid(f"option {quote(name)} is given more than once")
        if spec.kind == OptionType.BOOLEAN and value not in ("true", "false"):
            raise invalid(f"option {quote(name)} expects true or false, got {quote(value)}")
        if spec.kind == OptionType.CHOICE and value not in spec.choices:
            raise invalid(
                f"option {quote(name)} expects one of {', '.join(spec.choices)}, got {quote(value)}"
            )
        if name == "null" and any(c in value for c in "\t\r\n"):
            raise invalid('option "null" must not contain a TAB, CR or LF')
        values[name] = value
    for spec in OPTIONS:
        values.setdefault(spec.name, spec.default_value)
    return values


def invalid(message: str) -> Err:
    return Err(FormatError_InvalidOption(message))


def quote(text: str) -> str:
    """`"text"` with escapes, as the Rust plugins quote names in messages."""
    return json.dumps(text, ensure_ascii=False)


# --- cells -----------------------------------------------------------------

SPECIAL = (b"\\", b"\t", b"\n", b"\r")


def escape(cell: bytes) -> bytes:
    """The backslash escapes that keep a cell on one line and in one field.
    Works on UTF-8 bytes: these ASCII bytes never occur inside a multi-byte
    character."""
    return (
        cell.replace(b"\\", b"\\\\")
        .replace(b"\t", b"\\t")
        .replace(b"\n", b"\\n")
        .replace(b"\r", b"\\r")
    )


def render_column(column, rows: int, null: bytes) -> list[bytes]:
    """One batch column as a list of encoded cells."""
    values = column.values
    data = values.value
    if isinstance(values, ColumnValues_Boolean):
        cells = [b"true" if v else b"false" for v in data]
    elif isinstance(values, ColumnValues_Int64):
        cells = [b"%d" % v for v in data]
    elif isinstance(values, ColumnValues_Float64):
        cells = [render_float(v) for v in data]
    elif isinstance(values, ColumnValues_Date):
        cells = [render_date(v).encode() for v in data]
    elif isinstance(values, ColumnValues_Timestamp):
        cells = [render_timestamp(v) for v in data]
    else:
        # decimal, text and json: Arrow-style text values, written verbatim
        # (escaped) without decoding: the bytes are already UTF-8.
        text, offsets = data.data, data.offsets
        cells = [text[offsets[i] : offsets[i + 1]] for i in range(rows)]
        if any(special in text for special in SPECIAL):
            cells = [escape(cell) for cell in cells]
    validity = column.validity
    if validity is not None:
        for i in range(rows):
            if not (validity[i >> 3] >> (i & 7)) & 1:
                cells[i] = null
    return cells


def render_float(value: float) -> bytes:
    """The text Rust's `ryu` writes (the SDK's rendering). Python's `repr`
    gives the same shortest round-trip digits; only the layout differs:
    ryu writes `1e16` and `1.5e-7` where Python writes `1e+16` and
    `1.5e-07`, and ryu keeps 10^-5 in positional notation (`0.00001`)."""
    if value != value:
        return b"NaN"
    if value in (INFINITY, -INFINITY):
        return b"inf" if value > 0 else b"-inf"
    text = repr(value)
    if "e" not in text:
        return text.encode()
    mantissa, exponent = text.split("e")
    power = int(exponent)
    if power == -5:
        sign = "-" if mantissa.startswith("-") else ""
        digits = mantissa.lstrip("-").replace(".", "")
        return f"{sign}0.0000{digits}".encode()
    return f"{mantissa}e{power}".encode()


INFINITY = float("inf")


def render_date(days: int) -> str:
    """`YYYY-MM-DD` for a day count since 1970-01-01, in the proleptic
    Gregorian calendar; years outside 0000..9999 as ISO 8601 expanded
    years (`+010000-01-01`, `-000001-12-31`). Howard Hinnant's
    `civil_from_days`, as the SDK uses; Python's floor division matches
    Rust's `div_euclid` for a positive divisor."""
    era, day_of_era = divmod(days + 719_468, 146_097)
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * shifted_month + 2) // 5 + 1
    month = shifted_month + 3 if shifted_month < 10 else shifted_month - 9
    year = year_of_era + era * 400 + (month <= 2)
    if 0 <= year <= 9999:
        return f"{year:04d}-{month:02d}-{day:02d}"
    sign = "-" if year < 0 else "+"
    return f"{sign}{abs(year):06d}-{month:02d}-{day:02d}"


def render_timestamp(micros: int) -> bytes:
    """RFC 3339 UTC for microseconds since the epoch; negative values count
    back (`-1` is `1969-12-31T23:59:59.999999Z`)."""
    seconds, fraction = divmod(micros, 1_000_000)
    days, second_of_day = divmod(seconds, 86_400)
    hours, rest = divmod(second_of_day, 3600)
    minutes, secs = divmod(rest, 60)
    date = render_date(days)
    if fraction:
        return f"{date}T{hours:02d}:{minutes:02d}:{secs:02d}.{fraction:06d}Z".encode()
    return f"{date}T{hours:02d}:{minutes:02d}:{secs:02d}Z".encode()
