//! CSV (RFC 4180) for Exporter, written with the `csv` crate.
//!
//! One header row of column names (their labels with `header=labels`,
//! which the host applies; none with `header=false`), then one record per
//! row, each ended by CRLF (or LF with `line-terminator=lf`). Fields are
//! quoted when they contain the delimiter, a quote, CR or LF (or per
//! `quote-style`); quotes inside fields are doubled. A record that would be
//! a single empty field is written as `""` so it is not an empty line.
//!
//! Cells: booleans `true`/`false`; integers in decimal; floats as the
//! shortest text that round-trips, `NaN`, `inf`, `-inf`; decimals, text and
//! json verbatim; dates `YYYY-MM-DD`; timestamps RFC 3339 UTC
//! (`YYYY-MM-DDTHH:MM:SS[.ffffff]Z`), or with `local-time=true` the local
//! time in the export's time zone with its offset
//! (`YYYY-MM-DDTHH:MM:SS[.ffffff]+HH:MM`); nulls as the `null` option (empty
//! by default).

use exporter_plugin_sdk::{
    Batch, Column, Encoder, ExportContext, Format, FormatError, FormatInfo, HEADER_OPTION,
    OptionSpec, Options, Output, TextFormatter, TimeZone, Value,
};

/// The CSV format.
pub struct Csv;

/// A CSV export in progress.
pub struct CsvEncoder {
    /// Configured once; each batch gets a `csv::Writer` from it because the
    /// writer must own its output while `Output` is lent per call.
    builder: csv::WriterBuilder,
    null: String,
    text: TextFormatter,
    /// The zone timestamps are shown in, with `local-time=true` and a zone
    /// other than UTC; `None` writes them in UTC as always.
    zone: Option<TimeZone>,
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

impl Format for Csv {
    type Encoder = CsvEncoder;

    fn info() -> FormatInfo {
        FormatInfo {
            name: "csv".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            media_type: "text/csv; charset=utf-8".into(),
            file_extension: "csv".into(),
            description: "Comma-separated values (RFC 4180), for spreadsheets and data tools"
                .into(),
            options: vec![
                OptionSpec::character(
                    "delimiter",
                    ',',
                    "The field separator: one ASCII character other than a double quote, CR or LF",
                ),
                // Was a boolean; `true` and `false` still mean what they did.
                OptionSpec::choice(
                    HEADER_OPTION,
                    "names",
                    ["names", "labels", "true", "false"],
                    "The first row: the dataset's column names, or their labels for people (applied by the host); false for none, true for names",
                ),
                OptionSpec::choice(
                    "quote-style",
                    "necessary",
                    ["necessary", "always", "non-numeric", "never"],
                    "When to quote fields: only when needed, always, all but numbers, or never",
                ),
                OptionSpec::choice(
                    "line-terminator",
                    "crlf",
                    ["crlf", "lf"],
                    "The end of each record: CRLF as RFC 4180 says, or LF",
                ),
                OptionSpec::text("null", "", "How null cells are written"),
                OptionSpec::boolean(
                    "bom",
                    false,
                    "Start the file with a UTF-8 byte order mark, so Excel reads it as UTF-8",
                ),
                OptionSpec::boolean(
                    "local-time",
                    false,
                    "Write timestamps as local time in the export's time zone, with its UTC offset (RFC 3339), instead of in UTC",
                ),
            ],
        }
    }

    fn open(
        columns: &[Column],
        options: &Options,
        context: &ExportContext,
        out: &mut Output,
    ) -> Result<CsvEncoder, FormatError> {
        if columns.is_empty() {
            return Err(FormatError::UnsupportedSchema(
                "CSV needs at least one column".into(),
            ));
        }
        let mut builder = csv::WriterBuilder::new();
        builder
            .delimiter(delimiter(options.char("delimiter")?)?)
            .quote_style(quote_style(options.choice("quote-style")?)?)
            .terminator(terminator(options.choice("line-terminator")?)?)
            // Every record has one field per column by construction.
            .flexible(true);

        if options.bool("bom")? {
            out.write_bytes(UTF8_BOM);
        }
        // Only asked for the zone when it is used: a plain export does not
        // fail on a zone this plugin's database lacks.
        let zone = if options.bool("local-time")? {
            Some(context.time_zone()?).filter(|zone| !zone.is_utc())
        } else {
            None
        };
        if options.choice(HEADER_OPTION)? != "false" {
            let mut writer = builder.from_writer(&mut *out);
            writer
                .write_record(columns.iter().map(|c| c.name.as_bytes()))
                .and_then(|()| writer.flush().map_err(csv::Error::from))
                .map_err(csv_failed)?;
        }
        Ok(CsvEncoder {
            builder,
            null: options.text("null")?.to_owned(),
            text: TextFormatter::new(),
            zone,
        })
    }
}

impl Encoder for CsvEncoder {
    fn write_batch(&mut self, batch: &Batch<'_>, out: &mut Output) -> Result<(), FormatError> {
        let mut writer = self.builder.from_writer(out);
        for row in 0..batch.rows() {
            for column in 0..batch.column_count() {
                let cell = match (batch.value(row, column), &self.zone) {
                    (Value::Timestamp(micros), Some(zone)) => {
                        Some(self.text.timestamp_in(micros, zone))
                    }
                    (value, _) => self.text.value(value),
                };
                writer
                    .write_field(cell.unwrap_or(&self.null))
                    .map_err(csv_failed)?;
            }
            writer.write_record(None::<&[u8]>).map_err(csv_failed)?;
        }
        // Moves csv's own buffer into `Output`; `Output::flush` itself does
        // not reach the host.
        writer.flush()?;
        Ok(())
    }

    fn finish(self, _out: &mut Output) -> Result<(), FormatError> {
        Ok(())
    }
}

fn delimiter(c: char) -> Result<u8, FormatError> {
    match u8::try_from(c) {
        Ok(byte) if byte.is_ascii() && !matches!(byte, b'"' | b'\r' | b'\n') => Ok(byte),
        _ => Err(FormatError::InvalidOption(format!(
            "option \"delimiter\" must be one ASCII character other than a double quote, CR or LF, got {:?}",
            c.to_string()
        ))),
    }
}

fn quote_style(name: &str) -> Result<csv::QuoteStyle, FormatError> {
    Ok(match name {
        "necessary" => csv::QuoteStyle::Necessary,
        "always" => csv::QuoteStyle::Always,
        "non-numeric" => csv::QuoteStyle::NonNumeric,
        "never" => csv::QuoteStyle::Never,
        other => return Err(unexpected_choice("quote-style", other)),
    })
}

fn terminator(name: &str) -> Result<csv::Terminator, FormatError> {
    Ok(match name {
        "crlf" => csv::Terminator::CRLF,
        "lf" => csv::Terminator::Any(b'\n'),
        other => return Err(unexpected_choice("line-terminator", other)),
    })
}

/// The SDK only passes listed choices; reaching this means `info()` and the
/// match above disagree.
fn unexpected_choice(option: &str, value: &str) -> FormatError {
    FormatError::Other(format!("format bug: unhandled {option} {value:?}"))
}

fn csv_failed(error: csv::Error) -> FormatError {
    FormatError::Other(format!("CSV writer failed: {error}"))
}

exporter_plugin_sdk::export_format!(Csv);

#[cfg(test)]
mod tests {
    use exporter_plugin_sdk::ColumnType;
    use exporter_plugin_sdk::testing::{self, TestBatch};

    use super::*;

    fn run(columns: &[Column], options: &[(&str, &str)], batches: &[TestBatch]) -> String {
        let bytes = testing::run::<Csv>(columns, options, batches).unwrap();
        String::from_utf8(bytes).unwrap()
    }

    fn refused(options: &[(&str, &str)]) -> String {
        let columns = [Column::new("a", ColumnType::Text)];
        match testing::run::<Csv>(&columns, options, &[]) {
            Err(FormatError::InvalidOption(message)) => message,
            other => panic!("expected invalid-option, got {other:?}"),
        }
    }

    fn two_columns() -> Vec<Column> {
        vec![
            Column::new("id", ColumnType::Int64),
            Column::new("name", ColumnType::Text),
        ]
    }

    #[test]
    fn info_is_well_formed() {
        testing::check_info::<Csv>().unwrap();
    }

    #[test]
    fn header_and_rows_with_crlf() {
        let batch = TestBatch::new(2)
            .int64(&[Some(1), Some(-2)])
            .text(&[Some("Ann"), None]);
        assert_eq!(
            run(&two_columns(), &[], &[batch]),
            "id,name\r\n1,Ann\r\n-2,\r\n"
        );
    }

    #[test]
    fn empty_export_is_the_header_or_nothing() {
        assert_eq!(run(&two_columns(), &[], &[]), "id,name\r\n");
        assert_eq!(run(&two_columns(), &[("header", "false")], &[]), "");
        assert_eq!(
            run(&two_columns(), &[("header", "false"), ("bom", "true")], &[]),
            "\u{feff}"
        );
    }

    #[test]
    fn every_type_renders() {
        let columns = vec![
            Column::new("b", ColumnType::Boolean),
            Column::new("i", ColumnType::Int64),
            Column::new("f", ColumnType::Float64),
            Column::new("d", ColumnType::Decimal),
            Column::new("day", ColumnType::Date),
            Column::new("at", ColumnType::Timestamp),
            Column::new("j", ColumnType::Json),
        ];
        let batch = TestBatch::new(3)
            .boolean(&[Some(true), Some(false), None])
            .int64(&[Some(i64::MIN), Some(0), None])
            .float64(&[Some(0.1), Some(f64::NAN), Some(f64::NEG_INFINITY)])
            .decimal(&[Some("-12.50"), Some("1e400"), None])
            .date(&[Some(0), Some(-1), Some(2_932_897)])
            .timestamp(&[Some(0), Some(-1), None])
            .json(&[Some(r#"{"a":"b"}"#), Some("[1,2]"), None]);
        assert_eq!(
            run(&columns, &[("line-terminator", "lf")], &[batch]),
            "b,i,f,d,day,at,j\n\
             true,-9223372036854775808,0.1,-12.50,1970-01-01,1970-01-01T00:00:00Z,\"{\"\"a\"\":\"\"b\"\"}\"\n\
             false,0,NaN,1e400,1969-12-31,1969-12-31T23:59:59.999999Z,\"[1,2]\"\n\
             ,,-inf,,+010000-01-01,,\n"
        );
    }

    #[test]
    fn awkward_text_is_quoted_per_rfc_4180() {
        let columns = [
            Column::new("t", ColumnType::Text),
            Column::new("u", ColumnType::Text),
        ];
        let batch = TestBatch::new(6)
            .text(&[
                Some("a,b"),
                Some("say \"hi\""),
                Some("line\nbreak"),
                Some("cr\rhere"),
                Some(" padded "),
                Some("😀\u{0}é"),
            ])
            .text(&[Some(""), None, Some("x"), Some("y"), Some("z"), Some("w")]);
        assert_eq!(
            run(&columns, &[("header", "false")], &[batch]),
            "\"a,b\",\r\n\
             \"say \"\"hi\"\"\",\r\n\
             \"line\nbreak\",x\r\n\
             \"cr\rhere\",y\r\n\
             \x20padded ,z\r\n\
             😀\u{0}é,w\r\n"
        );
    }

    #[test]
    fn a_lone_empty_field_is_quoted() {
        let columns = [Column::new("t", ColumnType::Text)];
        let batch = TestBatch::new(2).text(&[Some(""), None]);
        assert_eq!(
            run(&columns, &[("header", "false")], &[batch]),
            "\"\"\r\n\"\"\r\n"
        );
    }

    #[test]
    fn header_names_are_quoted_too() {
        let columns = [
            Column::new("a,b", ColumnType::Int64),
            Column::new("q\"", ColumnType::Int64),
        ];
        assert_eq!(run(&columns, &[], &[]), "\"a,b\",\"q\"\"\"\r\n");
    }

    #[test]
    fn options_shape_the_output() {
        let batch = || {
            TestBatch::new(2)
                .int64(&[Some(1), None])
                .text(&[Some("x;y"), Some("z")])
        };
        assert_eq!(
            run(
                &two_columns(),
                &[("delimiter", ";"), ("null", "NULL")],
                &[batch()]
            ),
            "id;name\r\n1;\"x;y\"\r\nNULL;z\r\n"
        );
        assert_eq!(
            run(
                &two_columns(),
                &[("delimiter", "\t"), ("line-terminator", "lf")],
                &[batch()]
            ),
            "id\tname\n1\tx;y\n\tz\n"
        );
        assert_eq!(
            run(
                &two_columns(),
                &[("quote-style", "always"), ("header", "false")],
                &[batch()]
            ),
            "\"1\",\"x;y\"\r\n\"\",\"z\"\r\n"
        );
        assert_eq!(
            run(
                &two_columns(),
                &[("quote-style", "non-numeric"), ("header", "false")],
                &[batch()]
            ),
            "1,\"x;y\"\r\n\"\",\"z\"\r\n"
        );
        assert_eq!(
            run(
                &two_columns(),
                &[
                    ("quote-style", "never"),
                    ("header", "false"),
                    ("delimiter", ";")
                ],
                &[batch()]
            ),
            "1;x;y\r\n;z\r\n"
        );
        assert_eq!(
            run(&two_columns(), &[("bom", "true")], &[batch()]),
            "\u{feff}id,name\r\n1,x;y\r\n,z\r\n"
        );
    }

    #[test]
    fn bad_options_are_refused() {
        assert_eq!(
            refused(&[("delimter", ";")]),
            "unknown option \"delimter\"; this format accepts: delimiter, header, quote-style, line-terminator, null, bom, local-time"
        );
        let bad_delimiter =
            "option \"delimiter\" must be one ASCII character other than a double quote, CR or LF";
        assert_eq!(
            refused(&[("delimiter", "\"")]),
            format!("{bad_delimiter}, got \"\\\"\"")
        );
        assert_eq!(
            refused(&[("delimiter", "\n")]),
            format!("{bad_delimiter}, got \"\\n\"")
        );
        assert_eq!(
            refused(&[("delimiter", "\r")]),
            format!("{bad_delimiter}, got \"\\r\"")
        );
        assert_eq!(
            refused(&[("delimiter", "é")]),
            format!("{bad_delimiter}, got \"é\"")
        );
        assert_eq!(
            refused(&[("delimiter", ";;")]),
            "option \"delimiter\" must be exactly one character, got \";;\" (2 characters)"
        );
        assert_eq!(
            refused(&[("header", "yes")]),
            "option \"header\" must be one of names, labels, true, false; got \"yes\""
        );
        assert_eq!(
            refused(&[("local-time", "yes")]),
            "option \"local-time\" must be true or false, got \"yes\""
        );
        assert_eq!(
            refused(&[("quote-style", "sometimes")]),
            "option \"quote-style\" must be one of necessary, always, non-numeric, never; got \"sometimes\""
        );
        assert_eq!(
            refused(&[("line-terminator", "cr")]),
            "option \"line-terminator\" must be one of crlf, lf; got \"cr\""
        );
    }

    #[test]
    fn header_takes_names_labels_and_the_old_booleans() {
        // The host puts the labels in the columns; the plugin writes them.
        for value in ["names", "labels", "true"] {
            assert_eq!(
                run(&two_columns(), &[("header", value)], &[]),
                "id,name\r\n",
                "{value}"
            );
        }
        assert_eq!(run(&two_columns(), &[("header", "false")], &[]), "");
    }

    fn zoned(zone: &str) -> ExportContext {
        ExportContext {
            properties: vec![
                ("dataType".into(), "sessions".into()),
                ("Time zone".into(), zone.into()),
            ],
            ..ExportContext::default()
        }
    }

    fn run_in(zone: &str, options: &[(&str, &str)], batch: TestBatch) -> String {
        let columns = [
            Column::new("at", ColumnType::Timestamp),
            Column::new("day", ColumnType::Date),
        ];
        let bytes = testing::run_with_context::<Csv>(
            &columns,
            &[&[("line-terminator", "lf")], options].concat(),
            &zoned(zone),
            &[batch],
        )
        .unwrap();
        String::from_utf8(bytes).unwrap()
    }

    /// 2026-01-02T03:04:05.123456Z, 2026-07-14T10:30:00Z,
    /// 1969-07-21T02:56:15Z, null.
    fn instants() -> TestBatch {
        TestBatch::new(4)
            .timestamp(&[
                Some(1_767_323_045_123_456),
                Some(1_784_025_000_000_000),
                Some(-14_159_025_000_000),
                None,
            ])
            .date(&[Some(20_455), Some(20_648), Some(-164), None])
    }

    #[test]
    fn local_time_writes_the_zone_s_wall_clock_with_its_offset() {
        let on = [("local-time", "true")];
        assert_eq!(
            run_in("Europe/Paris", &on, instants()),
            "at,day\n\
             2026-01-02T04:04:05.123456+01:00,2026-01-02\n\
             2026-07-14T12:30:00+02:00,2026-07-14\n\
             1969-07-21T03:56:15+01:00,1969-07-21\n\
             ,\n"
        );
        assert_eq!(
            run_in("Asia/Kolkata", &on, instants()),
            "at,day\n\
             2026-01-02T08:34:05.123456+05:30,2026-01-02\n\
             2026-07-14T16:00:00+05:30,2026-07-14\n\
             1969-07-21T08:26:15+05:30,1969-07-21\n\
             ,\n"
        );
        assert_eq!(
            run_in("America/New_York", &on, instants()),
            "at,day\n\
             2026-01-01T22:04:05.123456-05:00,2026-01-02\n\
             2026-07-14T06:30:00-04:00,2026-07-14\n\
             1969-07-20T22:56:15-04:00,1969-07-21\n\
             ,\n"
        );
    }

    #[test]
    fn without_local_time_or_a_zone_timestamps_stay_utc() {
        let utc = "at,day\n\
                   2026-01-02T03:04:05.123456Z,2026-01-02\n\
                   2026-07-14T10:30:00Z,2026-07-14\n\
                   1969-07-21T02:56:15Z,1969-07-21\n\
                   ,\n";
        assert_eq!(run_in("Europe/Paris", &[], instants()), utc);
        assert_eq!(
            run_in("Europe/Paris", &[("local-time", "false")], instants()),
            utc
        );
        assert_eq!(run_in("UTC", &[("local-time", "true")], instants()), utc);
        let columns = [
            Column::new("at", ColumnType::Timestamp),
            Column::new("day", ColumnType::Date),
        ];
        let no_zone = testing::run::<Csv>(
            &columns,
            &[("line-terminator", "lf"), ("local-time", "true")],
            &[instants()],
        )
        .unwrap();
        assert_eq!(String::from_utf8(no_zone).unwrap(), utc);
    }

    #[test]
    fn an_unknown_zone_fails_only_a_local_time_export() {
        let columns = [Column::new("at", ColumnType::Timestamp)];
        let context = zoned("Europe/Pariss");
        let error =
            testing::run_with_context::<Csv>(&columns, &[("local-time", "true")], &context, &[])
                .unwrap_err();
        let FormatError::Other(message) = error else {
            panic!("expected other, got {error:?}");
        };
        assert!(
            message.starts_with(
                "the export context's \"Time zone\" property: unknown time zone \"Europe/Pariss\""
            ),
            "{message}"
        );
        assert!(testing::run_with_context::<Csv>(&columns, &[], &context, &[]).is_ok());
    }

    #[test]
    fn zero_columns_are_unsupported() {
        assert!(matches!(
            testing::run::<Csv>(&[], &[], &[]),
            Err(FormatError::UnsupportedSchema(_))
        ));
    }

    #[test]
    fn batch_boundaries_do_not_change_the_bytes() {
        let names: Vec<String> = (0..1000).map(|i| format!("name \"{i}\", ok")).collect();
        let ids: Vec<Option<i64>> = (0..1000).map(|i| (i % 7 != 0).then_some(i)).collect();
        let texts: Vec<Option<&str>> = names.iter().map(|s| Some(s.as_str())).collect();
        let whole = TestBatch::new(1000).int64(&ids).text(&texts);
        let split: Vec<TestBatch> = (0..1000)
            .step_by(333)
            .map(|start| {
                let end = (start + 333).min(1000);
                TestBatch::new((end - start) as u32)
                    .int64(&ids[start..end])
                    .text(&texts[start..end])
            })
            .collect();
        let mut single: Vec<TestBatch> = (0..1000)
            .map(|i| TestBatch::new(1).int64(&ids[i..=i]).text(&texts[i..=i]))
            .collect();
        single.insert(500, TestBatch::new(0).int64(&[]).text(&[]));
        let a = run(&two_columns(), &[], &[whole]);
        assert_eq!(a, run(&two_columns(), &[], &split));
        assert_eq!(a, run(&two_columns(), &[], &single));
        assert!(a.starts_with("id,name\r\n,\"name \"\"0\"\", ok\"\r\n1,"));
    }

    #[test]
    fn malformed_batches_are_invalid_data() {
        let batch = TestBatch::new(2)
            .int64(&[Some(1)])
            .text(&[Some("a"), Some("b")]);
        assert!(matches!(
            testing::run::<Csv>(&two_columns(), &[], &[batch]),
            Err(FormatError::InvalidData(_))
        ));
    }
}
