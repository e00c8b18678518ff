//! The built-in formats, read back by an independent reader (Python's csv in
//! strict mode and json), value by value, with default and custom options.

use exporter::batch::Value;
use exporter::conformance::fixtures;
use exporter::conformance::verify::{check_csv_table, check_json_objects};
use exporter::plugins::{Column, ColumnType, PluginError, RefusalKind};
use exporter_tests::{awkward_rows, export, load, python_read};

fn as_table(parsed: serde_json::Value) -> Vec<Vec<String>> {
    serde_json::from_value(parsed).expect("csv reader prints lists of strings")
}

#[test]
fn csv_reads_back_in_python_strict_mode() {
    let columns = fixtures::all_types();
    let rows = awkward_rows();
    let (bytes, stats) = export(&load("csv"), &columns, &[], &rows, None).unwrap();
    assert_eq!(stats.rows, rows.len() as u64);
    let table = as_table(python_read("csv", &bytes, &[]));
    check_csv_table(&table, &columns, &rows).unwrap();
    assert!(bytes.ends_with(b"\r\n"), "RFC 4180 line ends by default");
}

#[test]
fn csv_options_change_the_dialect_and_python_agrees() {
    let columns = fixtures::all_types();
    let rows = fixtures::awkward_text();
    let csv = load("csv");
    let (bytes, _) = export(
        &csv,
        &columns,
        &[
            ("delimiter", ";"),
            ("bom", "true"),
            ("line-terminator", "lf"),
        ],
        &rows,
        None,
    )
    .unwrap();
    assert!(bytes.starts_with("\u{feff}flag;count".as_bytes()));
    let table = as_table(python_read("csv", &bytes, &["delimiter=;", "bom=true"]));
    check_csv_table(&table, &columns, &rows).unwrap();
    // Record ends are LF; CRs only inside quoted cells that hold them.
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.lines().next().unwrap().ends_with("meta"));

    // No header, every field quoted, nulls spelled out.
    let schema = vec![
        Column {
            name: "a".into(),
            kind: ColumnType::Int64,
        },
        Column {
            name: "b".into(),
            kind: ColumnType::Text,
        },
    ];
    let rows = vec![
        vec![Value::Int64(1), Value::Null],
        vec![Value::Null, Value::Text("x".into())],
    ];
    let (bytes, _) = export(
        &csv,
        &schema,
        &[
            ("header", "false"),
            ("quote-style", "always"),
            ("null", "NULL"),
        ],
        &rows,
        None,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "\"1\",\"NULL\"\r\n\"NULL\",\"x\"\r\n"
    );
}

#[test]
fn csv_refuses_bad_options_with_a_clear_message() {
    let csv = load("csv");
    let columns = fixtures::all_types();
    for (option, value, expect) in [
        ("delimiter", "\"", "delimiter"),
        ("delimiter", ";;", "delimiter"),
        ("header", "yes", "header"),
        ("quote-style", "sometimes", "quote-style"),
        ("delimter", ",", "delimter"),
    ] {
        match export(&csv, &columns, &[(option, value)], &[], None) {
            Err(PluginError::Refused {
                kind: RefusalKind::InvalidOption,
                message,
                ..
            }) => {
                assert!(message.contains(expect), "{option}={value}: {message}")
            }
            Err(other) => panic!("{option}={value}: expected invalid-option, got {other}"),
            Ok(_) => panic!("{option}={value} was accepted"),
        }
    }
}

#[test]
fn json_reads_back_in_python_with_types_intact() {
    let columns = fixtures::all_types();
    let rows = awkward_rows();
    let (bytes, _) = export(&load("json"), &columns, &[], &rows, None).unwrap();
    let parsed = python_read("json", &bytes, &[]);
    let items = parsed.as_array().expect("a JSON array").clone();
    check_json_objects(&items, &columns, &rows).unwrap();
    // Numbers stay numbers, nulls stay null, timestamps are ISO 8601.
    let first = &items[0];
    assert_eq!(first["count"], serde_json::json!(42));
    assert_eq!(first["flag"], serde_json::json!(true));
    assert_eq!(first["at"], serde_json::json!("2026-01-31T12:34:56Z"));
    assert_eq!(first["day"], serde_json::json!("2026-01-31"));
    assert_eq!(first["meta"], serde_json::json!({"plan": "pro"}));
    assert!(items[1]["label"].is_string());
    assert!(items[2]["label"].is_null(), "the all-null row");
}

#[test]
fn json_of_an_empty_export_is_an_empty_array() {
    let (bytes, _) = export(&load("json"), &fixtures::all_types(), &[], &[], None).unwrap();
    assert_eq!(python_read("json", &bytes, &[]), serde_json::json!([]));
}

#[test]
fn json_can_write_big_integers_as_strings() {
    let schema = vec![Column {
        name: "id".into(),
        kind: ColumnType::Int64,
    }];
    let rows = vec![vec![Value::Int64(9_007_199_254_740_993)]];
    let (bytes, _) = export(
        &load("json"),
        &schema,
        &[("int64-as-string", "true")],
        &rows,
        None,
    )
    .unwrap();
    assert_eq!(
        python_read("json", &bytes, &[]),
        serde_json::json!([{"id": "9007199254740993"}])
    );
}

#[test]
fn ndjson_is_one_object_per_line() {
    let columns = fixtures::all_types();
    let rows = awkward_rows();
    let (bytes, _) = export(&load("ndjson"), &columns, &[], &rows, None).unwrap();
    let parsed = python_read("ndjson", &bytes, &[]);
    let items = parsed.as_array().unwrap().clone();
    check_json_objects(&items, &columns, &rows).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    assert_eq!(
        text.lines().count(),
        rows.len(),
        "embedded newlines stay escaped"
    );
}

#[test]
fn csv_and_json_carry_the_same_rows() {
    let columns = fixtures::all_types();
    let rows: Vec<_> = fixtures::generated(2_000).collect();
    let (csv_bytes, _) = export(&load("csv"), &columns, &[], &rows, None).unwrap();
    let (json_bytes, _) = export(&load("json"), &columns, &[], &rows, None).unwrap();
    let table = as_table(python_read("csv", &csv_bytes, &[]));
    let objects = python_read("json", &json_bytes, &[]);
    let objects = objects.as_array().unwrap();
    assert_eq!(table.len() - 1, objects.len());
    for (record, object) in table[1..].iter().zip(objects) {
        // The text column, the most fragile one, is identical in both.
        let label = &record[4];
        match &object["label"] {
            serde_json::Value::Null => assert_eq!(label, ""),
            value => assert_eq!(value.as_str().unwrap(), label),
        }
        assert_eq!(object["count"].as_i64().unwrap().to_string(), record[1]);
    }
}

#[test]
fn output_streams_in_chunks_as_batches_arrive() {
    let columns = fixtures::all_types();
    let rows: Vec<_> = fixtures::generated(50_000).collect();
    for format in ["csv", "json", "ndjson"] {
        let (bytes, stats) = export(&load(format), &columns, &[], &rows, None).unwrap();
        assert!(
            stats.chunks > 10,
            "{format}: {} chunks for {} bytes",
            stats.chunks,
            bytes.len()
        );
        assert!(
            stats.peak_memory < 8 << 20,
            "{format}: plugin memory stays small, got {}",
            stats.peak_memory
        );
    }
}
