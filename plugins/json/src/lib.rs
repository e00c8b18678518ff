//! JSON for Exporter: the export as one array of objects.
//!
//! The file is exactly `[]\n` when there are no rows, otherwise
//! `[\n{...},\n{...}\n]\n`: one object per line, keys are the column names
//! in schema order (their labels with `header=labels`, which the host
//! applies), no other whitespace. Objects are written as batches arrive, so
//! memory stays flat however long the array.
//!
//! Values follow [`exporter_plugin_sdk::json::JsonWriter`]: null, booleans
//! and int64 as JSON literals (int64 as strings with
//! `int64-as-string=true`), finite floats as shortest round-trip numbers and
//! NaN/infinities as `null`, decimals as raw numbers when they fit the JSON
//! number grammar (else strings), dates and timestamps as ISO 8601 / RFC
//! 3339 strings (timestamps in UTC whatever the export's time zone), json
//! columns embedded as they are.

use exporter_plugin_sdk::json::{JsonRowWriter, JsonWriter};
use exporter_plugin_sdk::{
    Batch, Column, Encoder, ExportContext, Format, FormatError, FormatInfo, OptionSpec, Options,
    Output, header_option,
};

/// The JSON array format.
pub struct Json;

/// A JSON export in progress.
pub struct JsonEncoder {
    rows: JsonRowWriter,
    /// Whether the array has been opened; it is only opened with the first
    /// row so an empty export can be the compact `[]`.
    started: bool,
}

impl Format for Json {
    type Encoder = JsonEncoder;

    fn info() -> FormatInfo {
        FormatInfo {
            name: "json".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            media_type: "application/json".into(),
            file_extension: "json".into(),
            description: "A JSON array with one object per row, keyed by column name".into(),
            options: vec![
                OptionSpec::boolean(
                    "int64-as-string",
                    false,
                    "Write int64 values as strings, for readers such as JavaScript that lose digits past 2^53",
                ),
                header_option("names"),
            ],
        }
    }

    fn open(
        columns: &[Column],
        options: &Options,
        _context: &ExportContext,
        _out: &mut Output,
    ) -> Result<JsonEncoder, FormatError> {
        let values = JsonWriter::new().int64_as_string(options.bool("int64-as-string")?);
        Ok(JsonEncoder {
            rows: JsonRowWriter::new(columns, values)?,
            started: false,
        })
    }
}

impl Encoder for JsonEncoder {
    fn write_batch(&mut self, batch: &Batch<'_>, out: &mut Output) -> Result<(), FormatError> {
        for row in 0..batch.rows() {
            out.write_bytes(if self.started { b",\n" } else { b"[\n" });
            self.started = true;
            self.rows.write_row(out, batch, row)?;
        }
        Ok(())
    }

    fn finish(self, out: &mut Output) -> Result<(), FormatError> {
        out.write_bytes(if self.started { b"\n]\n" } else { b"[]\n" });
        Ok(())
    }
}

exporter_plugin_sdk::export_format!(Json);

#[cfg(test)]
mod tests {
    use exporter_plugin_sdk::ColumnType;
    use exporter_plugin_sdk::testing::{self, TestBatch};

    use super::*;

    fn run(columns: &[Column], options: &[(&str, &str)], batches: &[TestBatch]) -> String {
        let bytes = testing::run::<Json>(columns, options, batches).unwrap();
        String::from_utf8(bytes).unwrap()
    }

    fn two_columns() -> Vec<Column> {
        vec![
            Column::new("id", ColumnType::Int64),
            Column::new("name", ColumnType::Text),
        ]
    }

    #[test]
    fn info_is_well_formed() {
        testing::check_info::<Json>().unwrap();
    }

    #[test]
    fn keys_and_timestamps_ignore_headings_and_zones() {
        // The host applies `header`, and data files keep instants in UTC.
        let columns = [Column::new("at", ColumnType::Timestamp)];
        let context = ExportContext {
            properties: vec![("Time zone".into(), "Europe/Paris".into())],
            ..ExportContext::default()
        };
        let batch = || TestBatch::new(1).timestamp(&[Some(1_767_323_045_123_456)]);
        let plain = testing::run::<Json>(&columns, &[], &[batch()]).unwrap();
        assert!(
            String::from_utf8_lossy(&plain).contains(r#"{"at":"2026-01-02T03:04:05.123456Z"}"#)
        );
        for header in ["names", "labels"] {
            let zoned = testing::run_with_context::<Json>(
                &columns,
                &[("header", header)],
                &context,
                &[batch()],
            );
            assert_eq!(zoned.unwrap(), plain, "{header}");
        }
    }

    #[test]
    fn empty_export_is_an_empty_array() {
        assert_eq!(run(&two_columns(), &[], &[]), "[]\n");
        let empty = TestBatch::new(0).int64(&[]).text(&[]);
        assert_eq!(run(&two_columns(), &[], &[empty]), "[]\n");
    }

    #[test]
    fn rows_are_objects_one_per_line() {
        let batch = TestBatch::new(2)
            .int64(&[Some(1), None])
            .text(&[Some("Ann"), Some("Bob")]);
        assert_eq!(
            run(&two_columns(), &[], &[batch]),
            "[\n{\"id\":1,\"name\":\"Ann\"},\n{\"id\":null,\"name\":\"Bob\"}\n]\n"
        );
    }

    #[test]
    fn one_row() {
        let batch = TestBatch::new(1).int64(&[Some(7)]).text(&[None]);
        assert_eq!(
            run(&two_columns(), &[], &[batch]),
            "[\n{\"id\":7,\"name\":null}\n]\n"
        );
    }

    #[test]
    fn zero_columns_give_empty_objects() {
        assert_eq!(run(&[], &[], &[TestBatch::new(2)]), "[\n{},\n{}\n]\n");
    }

    #[test]
    fn awkward_values() {
        let columns = vec![
            Column::new("k\"ey\n", ColumnType::Text),
            Column::new("f", ColumnType::Float64),
            Column::new("d", ColumnType::Decimal),
            Column::new("day", ColumnType::Date),
            Column::new("at", ColumnType::Timestamp),
            Column::new("j", ColumnType::Json),
            Column::new("b", ColumnType::Boolean),
            Column::new("i", ColumnType::Int64),
        ];
        let batch = TestBatch::new(3)
            .text(&[Some("q\"\\\n\t\u{1}😀"), Some(""), None])
            .float64(&[Some(f64::NAN), Some(1e21), Some(-0.0)])
            .decimal(&[Some("-12.50"), Some(".5"), Some("00")])
            .date(&[Some(-1), Some(0), None])
            .timestamp(&[Some(-1), Some(1_000_000), None])
            .json(&[Some("{\"a\": [1, \"x\"]}"), Some("null"), None])
            .boolean(&[Some(true), Some(false), None])
            .int64(&[Some(i64::MAX), Some(-1), None]);
        let text = run(&columns, &[], &[batch]);
        assert_eq!(
            text,
            "[\n\
             {\"k\\\"ey\\n\":\"q\\\"\\\\\\n\\t\\u0001😀\",\"f\":null,\"d\":-12.50,\"day\":\"1969-12-31\",\"at\":\"1969-12-31T23:59:59.999999Z\",\"j\":{\"a\": [1, \"x\"]},\"b\":true,\"i\":9223372036854775807},\n\
             {\"k\\\"ey\\n\":\"\",\"f\":1e21,\"d\":\".5\",\"day\":\"1970-01-01\",\"at\":\"1970-01-01T00:00:01Z\",\"j\":null,\"b\":false,\"i\":-1},\n\
             {\"k\\\"ey\\n\":null,\"f\":-0.0,\"d\":\"00\",\"day\":null,\"at\":null,\"j\":null,\"b\":null,\"i\":null}\n\
             ]\n"
        );
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed[0]["k\"ey\n"], "q\"\\\n\t\u{1}😀");
        assert_eq!(parsed[0]["j"]["a"][1], "x");
    }

    #[test]
    fn int64_as_string() {
        let batch = TestBatch::new(2)
            .int64(&[Some(9_007_199_254_740_993), None])
            .text(&[Some("a"), Some("b")]);
        assert_eq!(
            run(&two_columns(), &[("int64-as-string", "true")], &[batch]),
            "[\n{\"id\":\"9007199254740993\",\"name\":\"a\"},\n{\"id\":null,\"name\":\"b\"}\n]\n"
        );
    }

    #[test]
    fn bad_options_and_schemas_are_refused() {
        assert_eq!(
            testing::run::<Json>(&two_columns(), &[("int64-as-string", "1")], &[]),
            Err(FormatError::InvalidOption(
                "option \"int64-as-string\" must be true or false, got \"1\"".into()
            ))
        );
        assert_eq!(
            testing::run::<Json>(&two_columns(), &[("pretty", "true")], &[]),
            Err(FormatError::InvalidOption(
                "unknown option \"pretty\"; this format accepts: int64-as-string, header".into()
            ))
        );
        assert_eq!(
            testing::run::<Json>(&two_columns(), &[("header", "false")], &[]),
            Err(FormatError::InvalidOption(
                "option \"header\" must be one of names, labels; got \"false\"".into()
            ))
        );
        let duplicate = [
            Column::new("a", ColumnType::Int64),
            Column::new("a", ColumnType::Int64),
        ];
        assert!(matches!(
            testing::run::<Json>(&duplicate, &[], &[]),
            Err(FormatError::UnsupportedSchema(_))
        ));
    }

    #[test]
    fn empty_json_values_are_invalid_data() {
        let columns = [Column::new("j", ColumnType::Json)];
        let batch = TestBatch::new(1).json(&[Some("")]);
        assert_eq!(
            testing::run::<Json>(&columns, &[], &[batch]),
            Err(FormatError::InvalidData(
                "column \"j\", row 0 of the batch: a json value is empty, which is not a JSON document"
                    .into()
            ))
        );
    }

    #[test]
    fn batch_boundaries_do_not_change_the_bytes() {
        let ids: Vec<Option<i64>> = (0..100).map(|i| (i % 3 != 0).then_some(i)).collect();
        let names: Vec<String> = (0..100).map(|i| format!("n{i}")).collect();
        let texts: Vec<Option<&str>> = names.iter().map(|s| Some(s.as_str())).collect();
        let whole = run(
            &two_columns(),
            &[],
            &[TestBatch::new(100).int64(&ids).text(&texts)],
        );
        let single: Vec<TestBatch> = (0..100)
            .map(|i| TestBatch::new(1).int64(&ids[i..=i]).text(&texts[i..=i]))
            .collect();
        assert_eq!(whole, run(&two_columns(), &[], &single));
        let parsed: serde_json::Value = serde_json::from_str(&whole).unwrap();
        assert_eq!(parsed.as_array().unwrap().len(), 100);
    }
}
