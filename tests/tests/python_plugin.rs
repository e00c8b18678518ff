//! A format plugin in another language: `examples/python-plugin` (tsv-py) is
//! built with componentize-py, certified by `exporter plugin check`, run by
//! `exporter plugin run` and read back with Python's csv module, and its
//! cells are compared with the Rust CSV plugin's, value for value and
//! character for character.
//!
//! One test, in steps, because building and compiling the 18 MB component
//! takes tens of seconds: nextest runs each test in its own process, so
//! separate tests would pay it again each.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use exporter::batch::Value;
use exporter::conformance::fixtures;
use exporter::conformance::verify::check_csv_table;
use exporter::plugins::{
    Column, ColumnType, Formatter, PluginEngine, PluginError, RefusalKind, RuntimeConfig,
    SandboxLimits,
};
use exporter_tests::{
    assert_plugin_check_passes, assert_success, awkward_rows, export, exporter_binary, load,
    repo_root,
};

/// The componentize-py the example is documented and tested with; keep in
/// step with `scripts/test.sh` and `examples/python-plugin/README.md`.
const COMPONENTIZE_PY: &str = "0.25.1";

/// Runs componentize-py's entry point through `python3`, so the tool is
/// found wherever pip put the package, whatever `PATH` holds (pyenv shims,
/// `--user` installs).
const RUN_COMPONENTIZE_PY: &str = "import sys; from componentize_py import script; sys.argv[0] = 'componentize-py'; sys.exit(script())";

#[test]
fn a_python_plugin_passes_the_kit_and_writes_what_the_rust_sdk_writes() {
    let Some(work) = build_plugin() else {
        return;
    };
    // Both the CLI (through XDG_CACHE_HOME) and this test's engine cache the
    // compiled component here, so the host compiles it once.
    let cache = work.path().join("cache");
    let wasm = work.path().join("tsv-py.wasm");

    let engine = PluginEngine::new(RuntimeConfig {
        cache_dir: Some(cache.join("exporter").join("plugins")),
        ..RuntimeConfig::default()
    })
    .expect("engine");
    let started = Instant::now();
    let tsv = engine
        .load("tsv-py", &std::fs::read(&wasm).expect("read the component"))
        .expect("the Python component loads");
    println!(
        "host compiled the component in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(tsv.info().name, "tsv-py");
    assert_eq!(tsv.info().version, "1.0.0");

    same_cells_as_the_rust_csv_plugin(&tsv);
    options_change_the_output_or_are_refused(&tsv);
    assert_plugin_check_passes(exporter_command(&cache), &wasm);
    plugin_run_output_reads_back_in_python(&wasm, &cache, work.path());
}

/// Every fixture of the conformance kit (NaN, infinities, the extreme
/// dates and timestamps, text with every delimiter) and 3,000 generated
/// rows: tsv-py's cells, unescaped, are exactly the CSV plugin's cells, and
/// the kit's own reader checks them against the rows.
fn same_cells_as_the_rust_csv_plugin(tsv: &Formatter) {
    let columns = fixtures::all_types();
    let rows = awkward_rows();
    let (bytes, stats) = export(tsv, &columns, &[], &rows, Some(limits())).expect("tsv export");
    assert_eq!(stats.rows, rows.len() as u64);
    let table = read_tsv(&bytes, b"\n");
    check_csv_table(&table, &columns, &rows).expect("tsv-py cells match the rows");

    let (csv_bytes, _) = export(
        &load("csv"),
        &columns,
        &[("line-terminator", "lf")],
        &rows,
        Some(limits()),
    )
    .expect("csv export");
    let csv_table: Vec<Vec<String>> = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(csv_bytes.as_slice())
        .records()
        .map(|record| {
            record
                .expect("the CSV plugin writes valid CSV")
                .iter()
                .map(str::to_owned)
                .collect()
        })
        .collect();
    assert_eq!(table.len(), csv_table.len());
    for (line, (ours, theirs)) in table.iter().zip(&csv_table).enumerate() {
        assert_eq!(
            ours,
            theirs,
            "line {} differs from the CSV plugin's",
            line + 1
        );
    }
}

fn options_change_the_output_or_are_refused(tsv: &Formatter) {
    let columns = vec![
        Column {
            name: "a\tb".into(),
            kind: ColumnType::Text,
        },
        Column {
            name: "n".into(),
            kind: ColumnType::Int64,
        },
    ];
    let rows = vec![
        vec![Value::Text("x\\y".into()), Value::Null],
        vec![Value::Null, Value::Int64(7)],
    ];
    let (bytes, _) = export(tsv, &columns, &[], &rows, Some(limits())).unwrap();
    assert_eq!(bytes, b"a\\tb\tn\nx\\\\y\t\n\t7\n");
    let (bytes, _) = export(
        tsv,
        &columns,
        &[
            ("header", "false"),
            ("line-terminator", "crlf"),
            ("null", "\\N"),
        ],
        &rows,
        Some(limits()),
    )
    .unwrap();
    assert_eq!(bytes, b"x\\\\y\t\\N\r\n\\N\t7\r\n");

    // Beyond what the host checks from `info` (types, choices): a null
    // marker that would break the line structure.
    match export(tsv, &columns, &[("null", "a\tb")], &rows, Some(limits())) {
        Err(PluginError::Refused {
            kind: RefusalKind::InvalidOption,
            message,
            ..
        }) => assert!(message.contains("null"), "{message}"),
        other => panic!("expected an invalid-option refusal, got {other:?}"),
    }
}

/// `exporter plugin run` on rows with every delimiter and type, its file
/// compared byte for byte and read back with Python's csv module.
fn plugin_run_output_reads_back_in_python(wasm: &Path, cache: &Path, dir: &Path) {
    let schema = dir.join("schema.json");
    std::fs::write(
        &schema,
        r#"[{"name": "id", "type": "int64"}, {"name": "name", "type": "text"},
            {"name": "score", "type": "float64"}, {"name": "day", "type": "date"},
            {"name": "at", "type": "timestamp"}, {"name": "active", "type": "boolean"},
            {"name": "price", "type": "decimal"}, {"name": "meta", "type": "json"}]"#,
    )
    .unwrap();
    let input = dir.join("rows.ndjson");
    std::fs::write(
        &input,
        concat!(
            r#"{"id": 1, "name": "tab\there", "score": 0.1, "day": "2026-01-02", "at": "2026-01-02T03:04:05Z", "active": true, "price": "12.50", "meta": {"k": [1, 2]}}"#,
            "\n",
            r#"{"id": -2, "name": "line\nbreak, back\\slash", "score": 1e100, "day": "1969-12-31", "at": "1969-12-31T23:59:59.999999Z", "active": false, "price": "-0.001", "meta": "x"}"#,
            "\n",
            r#"{"id": 3, "name": "Иван 😀 \"quoted\" \r end", "score": "NaN", "day": null, "at": null, "active": null, "price": null, "meta": null}"#,
            "\n",
            r#"{"id": null, "name": "", "score": 2.5e-7, "day": "2000-02-29", "at": "2000-02-29T00:00:00.5Z", "active": true, "price": "0", "meta": [true, null]}"#,
            "\n",
        ),
    )
    .unwrap();
    let output_path = dir.join("rows.tsv");
    let output = exporter_command(cache)
        .args(["plugin", "run"])
        .arg(wasm)
        .arg("--input")
        .arg(&input)
        .arg("--schema")
        .arg(&schema)
        .arg("--output")
        .arg(&output_path)
        .args([
            "--generated-at",
            "2026-01-01T00:00:00Z",
            "--batch-size",
            "3",
        ])
        .output()
        .expect("exporter runs");
    assert_success("exporter plugin run", &output);
    println!("{}", String::from_utf8_lossy(&output.stdout));

    let expected = concat!(
        "id\tname\tscore\tday\tat\tactive\tprice\tmeta\n",
        "1\ttab\\there\t0.1\t2026-01-02\t2026-01-02T03:04:05Z\ttrue\t12.50\t{\"k\":[1,2]}\n",
        "-2\tline\\nbreak, back\\\\slash\t1e100\t1969-12-31\t1969-12-31T23:59:59.999999Z\tfalse\t-0.001\t\"x\"\n",
        "3\tИван 😀 \"quoted\" \\r end\tNaN\t\t\t\t\t\n",
        "\t\t2.5e-7\t2000-02-29\t2000-02-29T00:00:00.500000Z\ttrue\t0\t[true,null]\n",
    );
    let written = std::fs::read_to_string(&output_path).expect("the output is UTF-8");
    assert_eq!(written, expected);

    let parsed = python_read_tsv(&output_path);
    let expected_cells: Vec<Vec<String>> = [
        vec![
            "id", "name", "score", "day", "at", "active", "price", "meta",
        ],
        vec![
            "1",
            "tab\there",
            "0.1",
            "2026-01-02",
            "2026-01-02T03:04:05Z",
            "true",
            "12.50",
            "{\"k\":[1,2]}",
        ],
        vec![
            "-2",
            "line\nbreak, back\\slash",
            "1e100",
            "1969-12-31",
            "1969-12-31T23:59:59.999999Z",
            "false",
            "-0.001",
            "\"x\"",
        ],
        vec!["3", "Иван 😀 \"quoted\" \r end", "NaN", "", "", "", "", ""],
        vec![
            "",
            "",
            "2.5e-7",
            "2000-02-29",
            "2000-02-29T00:00:00.500000Z",
            "true",
            "0",
            "[true,null]",
        ],
    ]
    .iter()
    .map(|row| row.iter().map(|cell| cell.to_string()).collect())
    .collect();
    assert_eq!(parsed, expected_cells);
}

/// Builds `examples/python-plugin` into a temporary directory; `None` (the
/// test is skipped) when componentize-py is missing outside CI.
fn build_plugin() -> Option<tempfile::TempDir> {
    let installed = Command::new("python3")
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('componentize-py'))",
        ])
        .output();
    let version = match installed {
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        }
        _ if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => panic!(
            "componentize-py is not installed for python3 (scripts/test.sh installs \
             componentize-py=={COMPONENTIZE_PY}); CI must run this test"
        ),
        _ => {
            eprintln!(
                "SKIPPED: componentize-py is not installed for python3; \
                 `python3 -m pip install componentize-py=={COMPONENTIZE_PY}` to run this test"
            );
            return None;
        }
    };
    if version != COMPONENTIZE_PY {
        eprintln!("note: componentize-py {version}, the example is pinned to {COMPONENTIZE_PY}");
    }

    // The source is copied so the build's __pycache__ never lands in the
    // repository.
    let work = tempfile::tempdir().expect("tempdir");
    let example = repo_root().join("examples/python-plugin");
    let source = work.path().join("src");
    std::fs::create_dir(&source).unwrap();
    std::fs::copy(example.join("formatter.py"), source.join("formatter.py"))
        .expect("examples/python-plugin/formatter.py exists");
    let wasm = work.path().join("tsv-py.wasm");

    let started = Instant::now();
    let output = Command::new("python3")
        .args(["-c", RUN_COMPONENTIZE_PY])
        .arg("-d")
        .arg(repo_root().join("wit"))
        .args(["-w", "plugin", "componentize", "formatter", "-p"])
        .arg(&source)
        .arg("-o")
        .arg(&wasm)
        .current_dir(work.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 runs");
    assert_success("componentize-py", &output);
    println!(
        "componentize-py {version} built tsv-py.wasm: {} bytes in {:.1} s",
        std::fs::metadata(&wasm).unwrap().len(),
        started.elapsed().as_secs_f64()
    );
    Some(work)
}

/// The export's cells: lines on `terminator`, cells on TAB, escapes undone.
fn read_tsv(bytes: &[u8], terminator: &[u8]) -> Vec<Vec<String>> {
    let text = std::str::from_utf8(bytes).expect("tsv-py writes UTF-8");
    let terminator = std::str::from_utf8(terminator).unwrap();
    let body = text
        .strip_suffix(terminator)
        .expect("every line is terminated");
    body.split(terminator)
        .map(|line| line.split('\t').map(unescape).collect())
        .collect()
}

fn unescape(cell: &str) -> String {
    let mut out = String::with_capacity(cell.len());
    let mut chars = cell.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('\\') => '\\',
            Some('t') => '\t',
            Some('n') => '\n',
            Some('r') => '\r',
            other => panic!("unknown escape \\{other:?} in {cell:?}"),
        });
    }
    out
}

/// Python's csv module, TAB-delimited with no quoting, then the escapes
/// undone: the reader the example's README shows.
fn python_read_tsv(path: &Path) -> Vec<Vec<String>> {
    const READER: &str = r#"
import csv, json, re, sys
ESCAPES = {"\\\\": "\\", "\\t": "\t", "\\n": "\n", "\\r": "\r"}
with open(sys.argv[1], newline="", encoding="utf-8") as f:
    rows = [
        [re.sub(r"\\[\\tnr]", lambda m: ESCAPES[m.group()], cell) for cell in row]
        for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE, strict=True)
    ]
json.dump(rows, sys.stdout)
"#;
    let output = Command::new("python3")
        .args(["-c", READER])
        .arg(path)
        .output()
        .expect("python3 runs");
    assert_success("python3 csv reader", &output);
    serde_json::from_slice(&output.stdout).expect("the reader prints JSON")
}

/// The `exporter` binary, with its artifact cache in `cache`.
fn exporter_command(cache: &Path) -> Command {
    let mut command = Command::new(exporter_binary());
    command.env("XDG_CACHE_HOME", cache).env("RUST_LOG", "warn");
    command
}

/// The sandbox for this test's exports: production's, with a roomy call
/// deadline since the interpreter is slow and the machine shared.
fn limits() -> SandboxLimits {
    SandboxLimits {
        call_timeout: Duration::from_secs(60),
        ..SandboxLimits::default()
    }
}
