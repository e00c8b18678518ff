//! The XLSX plugin, read back by independent readers: openpyxl (values,
//! types, dates, sheets, view settings) and LibreOffice headless (the
//! workbook converted to CSV), plus the conformance kit.

use std::path::Path;
use std::process::Command;

use exporter::batch::Value;
use exporter::conformance::fixtures;
use exporter::plugins::{Column, ColumnType};
use exporter_tests::{assert_conformant, awkward_rows, export, load, python_read};
use serde_json::{Value as Json, json};

/// Excel's largest number and smallest normal one.
fn excel_holds(v: f64) -> bool {
    v == 0.0 || (f64::MIN_POSITIVE..=9.999_999_999_999_99e307).contains(&v.abs())
}

/// What openpyxl should read for `value`, given how the plugin documents
/// each type. Dates and timestamps are `{"datetime": RFC 3339}`.
fn expected(value: &Value) -> Json {
    let rfc3339 = |micros: i64| exporter::batch::time::format_timestamp(micros);
    let excel_day = |days: i64| (-25_508..=2_932_896).contains(&days);
    match value {
        Value::Null => Json::Null,
        Value::Boolean(b) => json!(b),
        Value::Int64(i) if i.unsigned_abs() <= 1 << 53 => json!(i),
        Value::Int64(i) => json!(i.to_string()),
        Value::Float64(f) if excel_holds(*f) => json!(f),
        Value::Float64(f) if f.is_nan() => json!("NaN"),
        Value::Float64(f) if f.is_infinite() => json!(if *f > 0.0 { "inf" } else { "-inf" }),
        Value::Float64(f) => json!(ryu::Buffer::new().format(*f)),
        Value::Decimal(d) => {
            let digits: String = d.chars().filter(char::is_ascii_digit).collect();
            let significant = digits.trim_start_matches('0').trim_end_matches('0');
            match d.parse::<f64>() {
                Ok(f) if significant.len() <= 15 && excel_holds(f) => json!(f),
                _ => json!(d),
            }
        }
        Value::Text(t) | Value::Json(t) => json!(cut_to_cell(t)),
        Value::Date(days) if excel_day(i64::from(*days)) => {
            json!({ "datetime": format!("{}T00:00:00", exporter::batch::time::format_date(*days)) })
        }
        Value::Date(days) => json!(exporter::batch::time::format_date(*days)),
        Value::Timestamp(micros) if excel_day(micros.div_euclid(86_400_000_000)) => {
            if *micros >= 253_402_300_799_999_500 {
                // 9999-12-31T23:59:59.9995 or later: openpyxl rounds the
                // serial up to year 10000, which Python's datetime cannot
                // hold, and reports the cell as an error instead.
                return json!("#VALUE!");
            }
            json!({ "datetime": rfc3339(*micros) })
        }
        Value::Timestamp(micros) => json!(rfc3339(*micros)),
    }
}

/// Excel's cell limit: 32,767 UTF-16 code units, cut on a character.
fn cut_to_cell(text: &str) -> &str {
    let mut units = 0;
    for (at, c) in text.char_indices() {
        units += c.len_utf16();
        if units > 32_767 {
            return &text[..at];
        }
    }
    text
}

/// A cell for a failure message, long text shortened.
fn short(cell: &Json) -> String {
    let text = cell.to_string();
    match text.char_indices().nth(80) {
        Some((at, _)) => format!("{}... ({} chars)", &text[..at], text.chars().count()),
        None => text,
    }
}

fn same(read: &Json, expected: &Json) -> bool {
    let instant = |cell: &Json| {
        let text = cell["datetime"].as_str()?;
        let text = text.strip_suffix('Z').unwrap_or(text);
        exporter::batch::time::parse_timestamp(&format!("{text}Z"))
    };
    match (read.as_f64(), expected.as_f64()) {
        // -0.0 and 0.0 are the same cell value.
        (Some(a), Some(b)) => a == b,
        // openpyxl rounds date serials to the millisecond.
        _ => match (instant(read), instant(expected)) {
            (Some(a), Some(b)) => (a - b).abs() <= 1_000,
            _ => read == expected,
        },
    }
}

/// Compares one sheet's rows (header first) with the source rows.
fn check_sheet(sheet: &Json, columns: &[Column], rows: &[Vec<Value>]) {
    let read = sheet["rows"].as_array().expect("rows");
    let names: Vec<Json> = columns.iter().map(|c| json!(c.name)).collect();
    assert_eq!(read[0].as_array().unwrap(), &names, "header row");
    assert_eq!(read.len() - 1, rows.len(), "data rows in {}", sheet["name"]);
    for (number, (got, want)) in read[1..].iter().zip(rows).enumerate() {
        for (column, (cell, value)) in got.as_array().unwrap().iter().zip(want).enumerate() {
            let expected = expected(value);
            assert!(
                same(cell, &expected),
                "row {number}, column {:?}: openpyxl read {}, expected {}",
                columns[column].name,
                short(cell),
                short(&expected)
            );
        }
    }
}

#[test]
fn openpyxl_reads_back_every_value_with_its_type() {
    let columns = fixtures::all_types();
    let rows = awkward_rows();
    let (bytes, stats) = export(&load("xlsx"), &columns, &[], &rows, None).unwrap();
    assert_eq!(stats.rows, rows.len() as u64);
    let book = python_read("xlsx", &bytes, &[]);
    let sheets = book["sheets"].as_array().unwrap();
    assert_eq!(sheets.len(), 1);
    assert_eq!(sheets[0]["name"], "Data");
    assert_eq!(sheets[0]["frozen"], "A2");
    assert_eq!(sheets[0]["filter"], format!("A1:H{}", rows.len() + 1));
    assert_eq!(sheets[0]["bold_header"], true);
    assert_eq!(book["title"], "Test export");
    check_sheet(&sheets[0], &columns, &rows);
}

#[test]
fn options_shape_the_workbook_and_openpyxl_agrees() {
    let columns = fixtures::all_types();
    let rows: Vec<Vec<Value>> = fixtures::generated(25).collect();
    let (bytes, _) = export(
        &load("xlsx"),
        &columns,
        &[
            ("sheet-name", "Sessions"),
            ("max-rows-per-sheet", "11"),
            ("freeze-header", "false"),
            ("autofilter", "false"),
            ("compression-level", "9"),
        ],
        &rows,
        None,
    )
    .unwrap();
    let book = python_read("xlsx", &bytes, &[]);
    let sheets = book["sheets"].as_array().unwrap();
    let names: Vec<&str> = sheets.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Sessions", "Sessions (2)", "Sessions (3)"]);
    for (sheet, part) in sheets.iter().zip(rows.chunks(10)) {
        assert_eq!(sheet["frozen"], Json::Null);
        assert_eq!(sheet["filter"], Json::Null);
        check_sheet(sheet, &columns, part);
    }

    let (bytes, _) = export(&load("xlsx"), &columns, &[("header", "false")], &rows, None).unwrap();
    let book = python_read("xlsx", &bytes, &[]);
    let first = &book["sheets"][0]["rows"];
    assert_eq!(first.as_array().unwrap().len(), rows.len(), "no header row");
    assert!(same(&first[0][1], &expected(&rows[0][1])));
}

#[test]
fn libreoffice_converts_every_sheet_to_csv() {
    let columns = vec![
        Column {
            name: "id".into(),
            kind: ColumnType::Int64,
        },
        Column {
            name: "name".into(),
            kind: ColumnType::Text,
        },
        Column {
            name: "day".into(),
            kind: ColumnType::Date,
        },
    ];
    let rows: Vec<Vec<Value>> = (0..2_500)
        .map(|i| {
            vec![
                Value::Int64(i),
                Value::Text(format!("Zoë, Ελληνικά {i}")),
                Value::Date(20_454 + (i % 365) as i32),
            ]
        })
        .collect();
    let (bytes, _) = export(
        &load("xlsx"),
        &columns,
        &[("max-rows-per-sheet", "1001")],
        &rows,
        None,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let workbook = dir.path().join("export.xlsx");
    std::fs::write(&workbook, &bytes).unwrap();
    // Field separator, quote, UTF-8 (76), first line 1, ..., -1: every sheet
    // to its own file, `export-<sheet name>.csv`.
    let filter = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1";
    let output = Command::new("soffice")
        .args([
            "--headless",
            "--norestore",
            "--convert-to",
            filter,
            "--outdir",
        ])
        .arg(dir.path())
        .arg(&workbook)
        // Its own profile, so parallel tests and a desktop session never clash.
        .arg(format!(
            "-env:UserInstallation=file://{}/profile",
            dir.path().display()
        ))
        .output()
        .expect("LibreOffice (soffice) runs; .ci/run installs it");
    assert!(
        output.status.success(),
        "soffice failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let sheet = |name: &str| -> Vec<Vec<String>> {
        let path = dir.path().join(format!("export-{name}.csv"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; soffice said {output:?}", path.display()));
        csv::Reader::from_reader(text.as_bytes())
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect()
    };
    let first = sheet("Data");
    let third = sheet("Data (3)");
    assert!(!Path::new(&dir.path().join("export-Data (4).csv")).exists());
    assert_eq!(
        (first.len(), sheet("Data (2)").len(), third.len()),
        (1000, 1000, 500)
    );
    assert_eq!(first[0], ["0", "Zoë, Ελληνικά 0", "2026-01-01"]);
    assert_eq!(third[499], ["2499", "Zoë, Ελληνικά 2499", "2026-11-06"]);
}

/// Excel's row limit: the 1,048,576th row (header included) is the last of
/// the first sheet; the rest continues on "Data (2)" under its own header.
#[test]
fn more_rows_than_a_sheet_holds_continue_on_a_second_sheet() {
    let columns = vec![
        Column {
            name: "id".into(),
            kind: ColumnType::Int64,
        },
        Column {
            name: "even".into(),
            kind: ColumnType::Boolean,
        },
    ];
    let total = 1_048_575 + 10;
    let rows: Vec<Vec<Value>> = (0..total)
        .map(|i| vec![Value::Int64(i), Value::Boolean(i % 2 == 0)])
        .collect();
    let (bytes, stats) = export(&load("xlsx"), &columns, &[], &rows, None).unwrap();
    assert_eq!(stats.rows, total as u64);
    let book = python_read("xlsx", &bytes, &["counts=true"]);
    assert_eq!(
        book["sheets"],
        json!([{ "name": "Data", "rows": 1_048_576 }, { "name": "Data (2)", "rows": 11 }])
    );
}

#[test]
fn the_plugin_passes_the_conformance_kit() {
    assert_conformant("xlsx");
}
