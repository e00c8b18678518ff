//! Newline-delimited JSON for Exporter: one object per line.
//!
//! Each row is one object, keys the column names in schema order (their
//! labels with `header=labels`, which the host applies), no other
//! whitespace, followed by `\n` (the last line too). An export without rows
//! is an empty file.
//!
//! Values follow [`exporter_plugin_sdk::json::JsonWriter`], as in the
//! `json` format, with one addition: CR and LF inside json column values
//! (which valid JSON only has between tokens) become spaces, so every
//! object stays on its line. Timestamps stay in UTC whatever the export's
//! time zone.

use exporter_plugin_sdk::json::{JsonRowWriter, JsonWriter};
use exporter_plugin_sdk::{
    Batch, Column, Encoder, ExportContext, Format, FormatError, FormatInfo, OptionSpec, Options,
    Output, header_option,
};

/// The NDJSON format.
pub struct Ndjson;

/// An NDJSON export in progress.
pub struct NdjsonEncoder {
    rows: JsonRowWriter,
}

impl Format for Ndjson {
    type Encoder = NdjsonEncoder;

    fn info() -> FormatInfo {
        FormatInfo {
            name: "ndjson".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            media_type: "application/x-ndjson".into(),
            file_extension: "ndjson".into(),
            description: "Newline-delimited JSON: one object per row, one row per line".into(),
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
    ) -> Result<NdjsonEncoder, FormatError> {
        let values = JsonWriter::new()
            .int64_as_string(options.bool("int64-as-string")?)
            .single_line(true);
        Ok(NdjsonEncoder {
            rows: JsonRowWriter::new(columns, values)?,
        })
    }
}

impl Encoder for NdjsonEncoder {
    fn write_batch(&mut self, batch: &Batch<'_>, out: &mut Output) -> Result<(), FormatError> {
        for row in 0..batch.rows() {
            self.rows.write_row(out, batch, row)?;
            out.write_bytes(b"\n");
        }
        Ok(())
    }

    fn finish(self, _out: &mut Output) -> Result<(), FormatError> {
        Ok(())
    }
}

exporter_plugin_sdk::export_format!(Ndjson);

#[cfg(test)]
mod tests {
    use exporter_plugin_sdk::ColumnType;
    use exporter_plugin_sdk::testing::{self, TestBatch};

    use super::*;

    fn run(columns: &[Column], options: &[(&str, &str)], batches: &[TestBatch]) -> String {
        let bytes = testing::run::<Ndjson>(columns, options, batches).unwrap();
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
        testing::check_info::<Ndjson>().unwrap();
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
        let plain = testing::run::<Ndjson>(&columns, &[], &[batch()]).unwrap();
        assert!(
            String::from_utf8_lossy(&plain).contains(r#"{"at":"2026-01-02T03:04:05.123456Z"}"#)
        );
        for header in ["names", "labels"] {
            let zoned = testing::run_with_context::<Ndjson>(
                &columns,
                &[("header", header)],
                &context,
                &[batch()],
            );
            assert_eq!(zoned.unwrap(), plain, "{header}");
        }
    }

    #[test]
    fn empty_export_is_an_empty_file() {
        assert_eq!(run(&two_columns(), &[], &[]), "");
        let empty = TestBatch::new(0).int64(&[]).text(&[]);
        assert_eq!(run(&two_columns(), &[], &[empty]), "");
    }

    #[test]
    fn one_object_per_line() {
        let batch = TestBatch::new(2)
            .int64(&[Some(1), None])
            .text(&[Some("line\nbreak"), Some("Bob")]);
        assert_eq!(
            run(&two_columns(), &[], &[batch]),
            "{\"id\":1,\"name\":\"line\\nbreak\"}\n{\"id\":null,\"name\":\"Bob\"}\n"
        );
    }

    #[test]
    fn embedded_json_stays_on_its_line() {
        let columns = [Column::new("j", ColumnType::Json)];
        let batch = TestBatch::new(2).json(&[Some("{\n  \"a\": \"b\"\r\n}"), Some("[1]")]);
        let text = run(&columns, &[], &[batch]);
        assert_eq!(text, "{\"j\":{   \"a\": \"b\"  }}\n{\"j\":[1]}\n");
        for line in text.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
    }

    #[test]
    fn awkward_values() {
        let columns = vec![
            Column::new("f", ColumnType::Float64),
            Column::new("d", ColumnType::Decimal),
            Column::new("at", ColumnType::Timestamp),
            Column::new("t", ColumnType::Text),
        ];
        let batch = TestBatch::new(2)
            .float64(&[Some(f64::INFINITY), Some(0.30000000000000004)])
            .decimal(&[Some("1E+3"), Some("1,5")])
            .timestamp(&[Some(i64::MIN), Some(1)])
            .text(&[Some("\u{2028}\u{0}"), Some("😀")]);
        assert_eq!(
            run(&columns, &[], &[batch]),
            "{\"f\":null,\"d\":1E+3,\"at\":\"-290308-12-21T19:59:05.224192Z\",\"t\":\"\u{2028}\\u0000\"}\n\
             {\"f\":0.30000000000000004,\"d\":\"1,5\",\"at\":\"1970-01-01T00:00:00.000001Z\",\"t\":\"😀\"}\n"
        );
    }

    #[test]
    fn int64_as_string() {
        let batch = TestBatch::new(1).int64(&[Some(-5)]).text(&[Some("a")]);
        assert_eq!(
            run(&two_columns(), &[("int64-as-string", "true")], &[batch]),
            "{\"id\":\"-5\",\"name\":\"a\"}\n"
        );
    }

    #[test]
    fn bad_options_are_refused() {
        assert_eq!(
            testing::run::<Ndjson>(&two_columns(), &[("int64-as-string", "")], &[]),
            Err(FormatError::InvalidOption(
                "option \"int64-as-string\" must be true or false, got \"\"".into()
            ))
        );
    }

    #[test]
    fn batch_boundaries_do_not_change_the_bytes() {
        let ids: Vec<Option<i64>> = (0..50).map(|i| (i % 4 != 0).then_some(i)).collect();
        let texts: Vec<Option<&str>> = (0..50).map(|i| (i % 5 != 0).then_some("x")).collect();
        let whole = run(
            &two_columns(),
            &[],
            &[TestBatch::new(50).int64(&ids).text(&texts)],
        );
        let single: Vec<TestBatch> = (0..50)
            .map(|i| TestBatch::new(1).int64(&ids[i..=i]).text(&texts[i..=i]))
            .collect();
        assert_eq!(whole, run(&two_columns(), &[], &single));
        assert_eq!(whole.lines().count(), 50);
    }
}
