//! A Markdown table for Exporter: the worked example of `plugins/README.md`.
//!
//! The file is one GitHub-flavoured Markdown pipe table: a header row of
//! column names, the delimiter row (`---`, or `---:` to right-align number
//! columns), then one row per exported row.
//!
//! ```text
//! | id | user | score |
//! | ---: | --- | ---: |
//! | 1 | Ann \| Bob | 94.5 |
//! | 2 | two<br>lines |  |
//! ```
//!
//! Cells are escaped so that any text stays inside its cell: `|` becomes
//! `\|`, a backslash becomes `\\` (so it cannot escape what follows it),
//! and each line break (LF, CRLF or CR) becomes `<br>` (or a space with
//! `line-breaks=space`), since a table row is one line. Other Markdown in
//! the text (`*emphasis*`, links, inline HTML) is left as it is, and a
//! renderer trims spaces at the ends of a cell.
//!
//! Values are rendered by the SDK's [`TextFormatter`], like every text
//! format: `true`/`false`, shortest round-trip floats, exact decimals,
//! `YYYY-MM-DD` dates and RFC 3339 UTC timestamps. Nulls are written as the
//! `null` option (empty by default).
//!
//! Every row is written as its batch arrives and nothing spans rows, so the
//! bytes do not depend on how the host splits the rows into batches.

use exporter_plugin_sdk::{
    Batch, Column, ColumnType, Encoder, ExportContext, Format, FormatError, FormatInfo, OptionSpec,
    Options, Output, TextFormatter,
};

/// The Markdown table format.
pub struct Markdown;

/// A Markdown export in progress: the header is written, rows follow.
pub struct MarkdownEncoder {
    /// Written (escaped like any cell) where a value is null.
    null: String,
    /// What a line break inside a cell becomes.
    line_break: &'static str,
    /// Reused for every cell: renders numbers and dates without allocating.
    text: TextFormatter,
}

impl Format for Markdown {
    type Encoder = MarkdownEncoder;

    fn info() -> FormatInfo {
        FormatInfo {
            name: "markdown".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            media_type: "text/markdown; charset=utf-8".into(),
            file_extension: "md".into(),
            description:
                "A GitHub-flavoured Markdown table, for pasting into issues, wikis and chats".into(),
            options: vec![
                OptionSpec::text("null", "", "How null cells are written"),
                OptionSpec::boolean(
                    "align-numbers",
                    true,
                    "Right-align int64, float64 and decimal columns",
                ),
                OptionSpec::choice(
                    "line-breaks",
                    "br",
                    ["br", "space"],
                    "What a line break inside a cell becomes: an HTML <br> or a space",
                ),
            ],
        }
    }

    fn open(
        columns: &[Column],
        options: &Options,
        _context: &ExportContext,
        out: &mut Output,
    ) -> Result<MarkdownEncoder, FormatError> {
        if columns.is_empty() {
            return Err(FormatError::UnsupportedSchema(
                "a Markdown table needs at least one column".into(),
            ));
        }
        // The SDK has checked every option against `info()`; these getters
        // only fail if the names here and there disagree.
        let line_break = match options.choice("line-breaks")? {
            "br" => "<br>",
            "space" => " ",
            other => {
                return Err(FormatError::Other(format!(
                    "format bug: unhandled line-breaks {other:?}"
                )));
            }
        };
        let align_numbers = options.bool("align-numbers")?;

        // The header can be written now: it depends only on the schema.
        for column in columns {
            out.write_str("| ");
            write_cell(out, &column.name, line_break);
            out.write_str(" ");
        }
        out.write_str("|\n");
        for column in columns {
            out.write_str(if align_numbers && is_number(column.kind) {
                "| ---: "
            } else {
                "| --- "
            });
        }
        out.write_str("|\n");

        Ok(MarkdownEncoder {
            null: options.text("null")?.to_owned(),
            line_break,
            text: TextFormatter::new(),
        })
    }
}

impl Encoder for MarkdownEncoder {
    fn write_batch(&mut self, batch: &Batch<'_>, out: &mut Output) -> Result<(), FormatError> {
        for row in 0..batch.rows() {
            for column in 0..batch.column_count() {
                out.write_str("| ");
                let cell = self.text.value(batch.value(row, column));
                write_cell(out, cell.unwrap_or(&self.null), self.line_break);
                out.write_str(" ");
            }
            out.write_str("|\n");
        }
        Ok(())
    }

    fn finish(self, _out: &mut Output) -> Result<(), FormatError> {
        // A table has no trailer: the last row ends the file.
        Ok(())
    }
}

fn is_number(kind: ColumnType) -> bool {
    matches!(
        kind,
        ColumnType::Int64 | ColumnType::Float64 | ColumnType::Decimal
    )
}

/// Writes `text` so that it stays one cell on one line: `|` and `\` are
/// backslash-escaped and each line break (LF, CRLF or CR) becomes
/// `line_break`. Runs without special characters are written as they are,
/// in one piece.
fn write_cell(out: &mut Output, text: &str, line_break: &str) {
    let bytes = text.as_bytes();
    let mut verbatim_from = 0;
    let mut i = 0;
    while i < bytes.len() {
        let (replacement, length) = match bytes[i] {
            b'|' => ("\\|", 1),
            b'\\' => ("\\\\", 1),
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => (line_break, 2),
            b'\r' | b'\n' => (line_break, 1),
            _ => {
                i += 1;
                continue;
            }
        };
        // Every special character is ASCII, so `i` is a char boundary.
        out.write_str(&text[verbatim_from..i]);
        out.write_str(replacement);
        i += length;
        verbatim_from = i;
    }
    out.write_str(&text[verbatim_from..]);
}

exporter_plugin_sdk::export_format!(Markdown);

#[cfg(test)]
mod tests {
    use exporter_plugin_sdk::testing::{self, TestBatch};

    use super::*;

    fn run(columns: &[Column], options: &[(&str, &str)], batches: &[TestBatch]) -> String {
        let bytes = testing::run::<Markdown>(columns, options, batches).unwrap();
        String::from_utf8(bytes).unwrap()
    }

    fn refused(options: &[(&str, &str)]) -> String {
        let columns = [Column::new("a", ColumnType::Text)];
        match testing::run::<Markdown>(&columns, options, &[]) {
            Err(FormatError::InvalidOption(message)) => message,
            other => panic!("expected invalid-option, got {other:?}"),
        }
    }

    fn id_and_name() -> Vec<Column> {
        vec![
            Column::new("id", ColumnType::Int64),
            Column::new("name", ColumnType::Text),
        ]
    }

    #[test]
    fn info_is_well_formed() {
        testing::check_info::<Markdown>().unwrap();
    }

    #[test]
    fn header_delimiter_and_rows() {
        let batch = TestBatch::new(2)
            .int64(&[Some(1), Some(-2)])
            .text(&[Some("Ann"), None]);
        assert_eq!(
            run(&id_and_name(), &[], &[batch]),
            "| id | name |\n\
             | ---: | --- |\n\
             | 1 | Ann |\n\
             | -2 |  |\n"
        );
    }

    #[test]
    fn an_empty_export_is_the_header_alone() {
        assert_eq!(
            run(&id_and_name(), &[], &[]),
            "| id | name |\n| ---: | --- |\n"
        );
    }

    #[test]
    fn every_type_renders_and_numbers_align_right() {
        let columns = vec![
            Column::new("b", ColumnType::Boolean),
            Column::new("i", ColumnType::Int64),
            Column::new("f", ColumnType::Float64),
            Column::new("d", ColumnType::Decimal),
            Column::new("t", ColumnType::Text),
            Column::new("day", ColumnType::Date),
            Column::new("at", ColumnType::Timestamp),
            Column::new("j", ColumnType::Json),
        ];
        let batch = TestBatch::new(2)
            .boolean(&[Some(true), None])
            .int64(&[Some(i64::MIN), None])
            .float64(&[Some(0.1), Some(f64::NAN)])
            .decimal(&[Some("-12.50"), None])
            .text(&[Some("x"), None])
            .date(&[Some(0), Some(-1)])
            .timestamp(&[Some(1_500_000), None])
            .json(&[Some(r#"{"a":[1,2]}"#), None]);
        assert_eq!(
            run(&columns, &[], &[batch]),
            "| b | i | f | d | t | day | at | j |\n\
             | --- | ---: | ---: | ---: | --- | --- | --- | --- |\n\
             | true | -9223372036854775808 | 0.1 | -12.50 | x | 1970-01-01 | 1970-01-01T00:00:01.500000Z | {\"a\":[1,2]} |\n\
             |  |  | NaN |  |  | 1969-12-31 |  |  |\n"
        );
    }

    #[test]
    fn pipes_backslashes_and_line_breaks_stay_in_their_cell() {
        let columns = [Column::new("t", ColumnType::Text)];
        let batch = TestBatch::new(7).text(&[
            Some("a|b"),
            Some(r"C:\temp\|x"),
            Some("one\ntwo"),
            Some("crlf\r\nhere"),
            Some("cr\rhere\n"),
            Some("😀 é \u{0}"),
            Some(""),
        ]);
        assert_eq!(
            run(&columns, &[], &[batch]),
            "| t |\n\
             | --- |\n\
             | a\\|b |\n\
             | C:\\\\temp\\\\\\|x |\n\
             | one<br>two |\n\
             | crlf<br>here |\n\
             | cr<br>here<br> |\n\
             | 😀 é \u{0} |\n\
             |  |\n"
        );
    }

    #[test]
    fn column_names_are_escaped_like_cells() {
        let columns = [
            Column::new("a|b", ColumnType::Int64),
            Column::new("two\nlines", ColumnType::Text),
            Column::new("", ColumnType::Text),
        ];
        assert_eq!(
            run(&columns, &[], &[]),
            "| a\\|b | two<br>lines |  |\n| ---: | --- | --- |\n"
        );
    }

    #[test]
    fn options_shape_the_table() {
        let batch = || {
            TestBatch::new(2)
                .int64(&[Some(1), None])
                .text(&[Some("x\ny"), None])
        };
        assert_eq!(
            run(&id_and_name(), &[("null", "n/a | none")], &[batch()]),
            "| id | name |\n| ---: | --- |\n| 1 | x<br>y |\n| n/a \\| none | n/a \\| none |\n"
        );
        assert_eq!(
            run(
                &id_and_name(),
                &[("align-numbers", "false"), ("line-breaks", "space")],
                &[batch()]
            ),
            "| id | name |\n| --- | --- |\n| 1 | x y |\n|  |  |\n"
        );
    }

    #[test]
    fn bad_options_are_refused() {
        assert_eq!(
            refused(&[("nul", "-")]),
            "unknown option \"nul\"; this format accepts: null, align-numbers, line-breaks"
        );
        assert_eq!(
            refused(&[("align-numbers", "yes")]),
            "option \"align-numbers\" must be true or false, got \"yes\""
        );
        assert_eq!(
            refused(&[("line-breaks", "nl")]),
            "option \"line-breaks\" must be one of br, space; got \"nl\""
        );
    }

    #[test]
    fn zero_columns_are_unsupported() {
        assert_eq!(
            testing::run::<Markdown>(&[], &[], &[]),
            Err(FormatError::UnsupportedSchema(
                "a Markdown table needs at least one column".into()
            ))
        );
    }

    #[test]
    fn batch_boundaries_do_not_change_the_bytes() {
        let names: Vec<String> = (0..1000).map(|i| format!("name|{i}\\\r\n")).collect();
        let ids: Vec<Option<i64>> = (0..1000).map(|i| (i % 7 != 0).then_some(i)).collect();
        let texts: Vec<Option<&str>> = names.iter().map(|s| Some(s.as_str())).collect();
        let whole = TestBatch::new(1000).int64(&ids).text(&texts);
        let thirds: Vec<TestBatch> = (0..1000)
            .step_by(333)
            .map(|start| {
                let end = (start + 333).min(1000);
                TestBatch::new((end - start) as u32)
                    .int64(&ids[start..end])
                    .text(&texts[start..end])
            })
            .collect();
        let mut singles: Vec<TestBatch> = (0..1000)
            .map(|i| TestBatch::new(1).int64(&ids[i..=i]).text(&texts[i..=i]))
            .collect();
        singles.insert(500, TestBatch::new(0).int64(&[]).text(&[]));
        let reference = run(&id_and_name(), &[], &[whole]);
        assert_eq!(reference, run(&id_and_name(), &[], &thirds));
        assert_eq!(reference, run(&id_and_name(), &[], &singles));
        assert!(reference.starts_with(
            "| id | name |\n| ---: | --- |\n|  | name\\|0\\\\<br> |\n| 1 | name\\|1\\\\<br> |\n"
        ));
        assert_eq!(reference.lines().count(), 1002);
    }

    #[test]
    fn malformed_batches_are_invalid_data() {
        let batch = TestBatch::new(2)
            .int64(&[Some(1)])
            .text(&[Some("a"), Some("b")]);
        assert!(matches!(
            testing::run::<Markdown>(&id_and_name(), &[], &[batch]),
            Err(FormatError::InvalidData(_))
        ));
    }
}
