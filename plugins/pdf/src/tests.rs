//! Unit tests: options, layout on real output, streaming rules. The output
//! is read back with the small reader below (cross-reference table, page
//! tree, inflated content streams, shown strings); the integration tests
//! check it with qpdf and poppler as well.

use exporter_plugin_sdk::testing::{self, TestBatch};
use exporter_plugin_sdk::{Column, ColumnType, ExportContext, FormatError};

use super::*;

fn context() -> ExportContext {
    ExportContext {
        title: "Quarterly sessions".into(),
        generated_at: 1_767_225_600_000_000, // 2026-01-01T00:00:00Z
        properties: vec![
            ("dataType".into(), "sessions".into()),
            ("country".into(), "GR".into()),
        ],
    }
}

fn run(columns: &[Column], options: &[(&str, &str)], batches: &[TestBatch]) -> Vec<u8> {
    testing::run_with_context::<Pdf>(columns, options, &context(), batches).unwrap()
}

fn refused(columns: &[Column], options: &[(&str, &str)]) -> FormatError {
    testing::run_with_context::<Pdf>(columns, options, &context(), &[]).unwrap_err()
}

fn ints(name: &str) -> Column {
    Column::new(name, ColumnType::Int64)
}

fn texts(name: &str) -> Column {
    Column::new(name, ColumnType::Text)
}

/// Rows `0..count` of (id, label) in batches of `size`.
fn id_label_batches(count: usize, size: usize) -> Vec<TestBatch> {
    let labels: Vec<String> = (0..count).map(|i| format!("label {i}")).collect();
    let ids: Vec<Option<i64>> = (0..count as i64).map(Some).collect();
    (0..count)
        .step_by(size.max(1))
        .map(|start| {
            let end = (start + size).min(count);
            let text: Vec<Option<&str>> = labels[start..end]
                .iter()
                .map(|s| Some(s.as_str()))
                .collect();
            TestBatch::new((end - start) as u32)
                .int64(&ids[start..end])
                .text(&text)
        })
        .collect()
}

/// A minimal reader for the files this plugin writes.
mod read {
    use flate2::{Decompress, FlushDecompress};

    /// Byte offsets of objects 1.., from the cross-reference table.
    pub fn xref(pdf: &[u8]) -> Vec<usize> {
        let tail = std::str::from_utf8(&pdf[pdf.len() - 40..]).unwrap();
        let start: usize = tail
            .split("startxref\n")
            .nth(1)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let table = std::str::from_utf8(&pdf[start..]).unwrap();
        let mut lines = table.split('\n');
        assert_eq!(lines.next(), Some("xref"));
        let size: usize = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(lines.next(), Some("0000000000 65535 f\r"));
        (1..size)
            .map(|_| {
                let line = lines.next().unwrap();
                assert_eq!(line.len(), 19, "{line:?}");
                assert!(line.ends_with(" 00000 n\r"));
                line[..10].parse().unwrap()
            })
            .collect()
    }

    /// The text of object `id`, up to `endobj` (stream data included).
    pub fn object(pdf: &[u8], id: usize) -> &[u8] {
        let at = xref(pdf)[id - 1];
        let rest = &pdf[at..];
        let end = find(rest, b"endobj").unwrap();
        &rest[..end]
    }

    /// The dictionary part of object `id` as text.
    pub fn dict(pdf: &[u8], id: usize) -> String {
        let object = object(pdf, id);
        let end = find(object, b"stream\n").unwrap_or(object.len());
        String::from_utf8_lossy(&object[..end]).into_owned()
    }

    /// The decoded data of stream object `id`.
    pub fn stream(pdf: &[u8], id: usize) -> Vec<u8> {
        let object = object(pdf, id);
        let dict = dict(pdf, id);
        let length: usize = value(&dict, "/Length").parse().unwrap();
        let start = find(object, b"stream\n").unwrap() + 7;
        let data = &object[start..start + length];
        assert_eq!(&object[start + length..start + length + 10], b"\nendstream");
        if dict.contains("/FlateDecode") {
            let mut out = Vec::with_capacity(length * 20 + 1024);
            let mut inflate = Decompress::new(true);
            loop {
                let before = inflate.total_in() as usize;
                let status = inflate
                    .decompress_vec(&data[before..], &mut out, FlushDecompress::Finish)
                    .unwrap();
                if status == flate2::Status::StreamEnd {
                    break;
                }
                out.reserve(out.capacity());
            }
            out
        } else {
            data.to_vec()
        }
    }

    /// The token after `key` in `dict`.
    pub fn value<'a>(dict: &'a str, key: &str) -> &'a str {
        let at = dict
            .find(&format!("{key} "))
            .unwrap_or_else(|| panic!("{key} in {dict}"));
        dict[at + key.len() + 1..]
            .split_whitespace()
            .next()
            .unwrap()
    }

    /// The ids of `/Kids` refs of the page tree, in order.
    pub fn pages(pdf: &[u8]) -> Vec<usize> {
        let tree = dict(pdf, 2);
        let kids = &tree[tree.find("/Kids [").unwrap() + 7..];
        let kids = &kids[..kids.find(']').unwrap()];
        let refs: Vec<&str> = kids.split_whitespace().collect();
        refs.chunks(3).map(|r| r[0].parse().unwrap()).collect()
    }

    /// The decoded content stream of page `id`.
    pub fn content(pdf: &[u8], page: usize) -> Vec<u8> {
        let contents: usize = value(&dict(pdf, page), "/Contents").parse().unwrap();
        stream(pdf, contents)
    }

    /// Every string shown with `Tm (...) Tj`: (x, y, raw bytes).
    pub fn shown(content: &[u8]) -> Vec<(f32, f32, Vec<u8>)> {
        let mut found = Vec::new();
        let mut rest = content;
        while let Some(at) = find(rest, b" Tm (") {
            // The operands are on their own line; strings before it may
            // hold any bytes.
            let line_start = rest[..at]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1);
            let numbers: Vec<f32> = std::str::from_utf8(&rest[line_start..at])
                .unwrap()
                .split(' ')
                .map(|n| n.parse().unwrap())
                .collect();
            let (x, y) = (numbers[4], numbers[5]);
            let mut bytes = Vec::new();
            let mut i = at + 5;
            loop {
                match rest[i] {
                    b'\\' => {
                        bytes.push(match rest[i + 1] {
                            b'r' => b'\r',
                            other => other,
                        });
                        i += 2;
                    }
                    b')' => break,
                    byte => {
                        bytes.push(byte);
                        i += 1;
                    }
                }
            }
            found.push((x, y, bytes));
            rest = &rest[i..];
        }
        found
    }

    /// Shown strings of a Helvetica (WinAnsi) page as text.
    pub fn winansi_text(content: &[u8]) -> Vec<(f32, f32, String)> {
        shown(content)
            .into_iter()
            .map(|(x, y, bytes)| {
                let text = bytes
                    .iter()
                    .map(|&b| if b == 0x85 { '…' } else { char::from(b) })
                    .collect();
                (x, y, text)
            })
            .collect()
    }

    pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack.windows(needle.len()).position(|w| w == needle)
    }
}

/// Every page's shown strings, Helvetica.
fn page_texts(pdf: &[u8]) -> Vec<Vec<(f32, f32, String)>> {
    read::pages(pdf)
        .into_iter()
        .map(|page| read::winansi_text(&read::content(pdf, page)))
        .collect()
}

#[test]
fn info_is_well_formed() {
    testing::check_info::<Pdf>().unwrap();
}

#[test]
fn bad_options_and_schemas_are_refused() {
    let columns = [ints("n")];
    for size in ["4", "15", "-8"] {
        assert_eq!(
            refused(&columns, &[("font-size", size)]),
            FormatError::InvalidOption(format!(
                "option \"font-size\" must be between 5 and 14, got {size}"
            ))
        );
    }
    for (option, value) in [
        ("page-size", "a3"),
        ("orientation", "sideways"),
        ("font", "comic-sans"),
        ("zebra", "sometimes"),
        ("font-size", "big"),
        ("colour", "red"),
    ] {
        assert!(
            matches!(
                refused(&columns, &[(option, value)]),
                FormatError::InvalidOption(_)
            ),
            "{option}={value}"
        );
    }
    assert!(matches!(
        refused(&[], &[]),
        FormatError::UnsupportedSchema(_)
    ));
    // So wide that a header and one row cannot share a page.
    let columns: Vec<Column> = (0..3000).map(|i| ints(&format!("c{i}"))).collect();
    assert!(matches!(
        refused(&columns, &[]),
        FormatError::UnsupportedSchema(m) if m.contains("3000 columns")
    ));
}

#[test]
fn xref_offsets_point_at_their_objects() {
    for font in ["embedded", "helvetica"] {
        let pdf = run(
            &[ints("id"), texts("label")],
            &[("font", font)],
            &id_label_batches(500, 100),
        );
        assert!(pdf.starts_with(b"%PDF-1.7\n"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        let offsets = read::xref(&pdf);
        assert!(offsets.len() > 10);
        for (index, &offset) in offsets.iter().enumerate() {
            let expected = format!("{} 0 obj", index + 1);
            assert!(
                pdf[offset..].starts_with(expected.as_bytes()),
                "{font}: object {} at {offset} starts with {:?}",
                index + 1,
                String::from_utf8_lossy(&pdf[offset..offset + 12])
            );
        }
        let trailer = String::from_utf8_lossy(&pdf[pdf.len() - 200..]).into_owned();
        assert!(trailer.contains(&format!("/Size {}", offsets.len() + 1)));
        assert!(trailer.contains("/Root 1 0 R"));
    }
}

#[test]
fn rows_break_across_pages_with_the_header_on_each() {
    let pdf = run(
        &[ints("id"), texts("label")],
        &[("font", "helvetica")],
        &id_label_batches(1000, 250),
    );
    let pages = page_texts(&pdf);
    assert!(pages.len() > 10, "{} pages", pages.len());
    let count = pages.len();
    let mut next_id = 0;
    for (index, page) in pages.iter().enumerate() {
        let strings: Vec<&str> = page.iter().map(|(_, _, s)| s.as_str()).collect();
        assert!(
            strings.contains(&"id") && strings.contains(&"label"),
            "header on page {}",
            index + 1
        );
        assert!(strings.contains(&format!("Page {} of ", index + 1).as_str()));
        // Every row, in order, once: id and label on the same baseline.
        for (_, y, s) in page {
            if *s == next_id.to_string() {
                let label = format!("label {next_id}");
                assert!(
                    page.iter().any(|(_, ly, l)| *l == label && ly == y),
                    "{label} beside its id"
                );
                next_id += 1;
            }
        }
        // The first page also has the header block; the others start at
        // the same height with the header band.
        assert!(strings.contains(&"Quarterly sessions"), "footer title");
        if index == 0 {
            assert!(strings.contains(&"Generated 2026-01-01T00:00:00Z"));
            assert!(strings.contains(&"dataType: sessions"));
            assert!(strings.contains(&"country: GR"));
        } else {
            assert!(!strings.contains(&"Generated 2026-01-01T00:00:00Z"));
        }
    }
    assert_eq!(next_id, 1000, "all rows shown once, in order");
    // Full pages other than the first and last hold the same number of rows.
    let rows_on = |page: &Vec<(f32, f32, String)>| {
        page.iter()
            .filter(|(_, _, s)| s.starts_with("label "))
            .count()
    };
    assert_eq!(rows_on(&pages[1]), rows_on(&pages[2]));
    assert!(rows_on(&pages[0]) < rows_on(&pages[1]));
    // The page total is a form XObject drawn on every page.
    let total = read::stream(&pdf, 4);
    assert!(
        read::winansi_text(&total)
            .iter()
            .any(|(_, _, s)| *s == count.to_string())
    );
    for page in read::pages(&pdf) {
        let content = read::content(&pdf, page);
        assert!(read::find(&content, b"/T Do").is_some());
    }
}

#[test]
fn wide_rows_wrap_into_bands_that_never_split() {
    // 60 columns cannot share one portrait line at the minimum width.
    let columns: Vec<Column> = (0..60).map(|i| ints(&format!("c{i}"))).collect();
    let rows = 200;
    let mut batch = TestBatch::new(rows);
    for column in 0..60i64 {
        let values: Vec<Option<i64>> = (0..i64::from(rows))
            .map(|r| Some(r * 100 + column))
            .collect();
        batch = batch.int64(&values);
    }
    let pdf = run(
        &columns,
        &[("font", "helvetica"), ("orientation", "portrait")],
        &[batch],
    );
    let pages = page_texts(&pdf);
    assert!(pages.len() > 2);
    for page in &pages {
        let strings: Vec<&str> = page.iter().map(|(_, _, s)| s.as_str()).collect();
        // Every header name on every page, on several lines.
        assert!(strings.contains(&"c0") && strings.contains(&"c59"));
        let header_lines: std::collections::BTreeSet<i32> = page
            .iter()
            .filter(|(_, _, s)| s.starts_with('c'))
            .map(|(_, y, _)| *y as i32)
            .collect();
        assert!(
            header_lines.len() >= 2,
            "the header wraps: {header_lines:?}"
        );
        // A row's first and last cells are on the same page.
        for r in 0..i64::from(rows) {
            let first = (r * 100).to_string();
            let last = (r * 100 + 59).to_string();
            assert_eq!(
                strings.contains(&first.as_str()),
                strings.contains(&last.as_str()),
                "row {r}"
            );
        }
    }
}

#[test]
fn long_text_is_truncated_with_an_ellipsis_and_numbers_align_right() {
    let long = "word ".repeat(400);
    let batch = TestBatch::new(3)
        .text(&[Some(&long), Some("short"), None])
        .int64(&[Some(1), Some(1_000_000), Some(22)]);
    let pdf = run(
        &[texts("notes"), ints("amount")],
        &[("font", "helvetica"), ("null", "-")],
        &[batch],
    );
    let page = &page_texts(&pdf)[0];
    let cut = page
        .iter()
        .find(|(_, _, s)| s.starts_with("word word"))
        .unwrap();
    assert!(cut.2.ends_with('…'), "{}", cut.2);
    assert!(cut.2.len() < long.len());
    assert!(page.iter().any(|(_, _, s)| s == "short"));
    assert!(
        page.iter().any(|(_, _, s)| s == "-"),
        "null option: {page:?}"
    );
    // Right edges line up: x + width is the same for every amount.
    let width = |s: &str| -> f32 {
        s.chars()
            .map(|c| {
                f32::from(
                    font::Font::Helvetica(font::Missing::default())
                        .glyph(c)
                        .advance,
                ) * 8.0
                    / 1000.0
            })
            .sum()
    };
    let edges: Vec<f32> = ["1", "1000000", "22"]
        .iter()
        .map(|n| {
            let (x, _, s) = page
                .iter()
                .find(|(_, _, s)| s == n)
                .unwrap_or_else(|| panic!("{n} in {page:?}"));
            x + width(s)
        })
        .collect();
    assert!(
        edges.iter().all(|e| (e - edges[0]).abs() < 0.02),
        "{edges:?}"
    );
}

#[test]
fn batch_sizes_do_not_change_the_bytes() {
    let columns = [ints("id"), texts("label")];
    let whole = run(&columns, &[], &id_label_batches(1500, 1500));
    assert_eq!(whole, run(&columns, &[], &id_label_batches(1500, 1)));
    assert_eq!(whole, run(&columns, &[], &id_label_batches(1500, 99)));
    let mut with_empty = id_label_batches(1500, 100);
    with_empty.insert(1, TestBatch::new(0).int64(&[]).text(&[]));
    assert_eq!(whole, run(&columns, &[], &with_empty));
}

#[test]
fn output_is_deterministic() {
    let columns = [ints("id"), texts("label")];
    let a = run(&columns, &[], &id_label_batches(300, 64));
    let b = run(&columns, &[], &id_label_batches(300, 64));
    assert_eq!(a, b);
}

#[test]
fn empty_export_is_one_page_with_the_header() {
    let pdf = run(&[ints("id"), texts("label")], &[("font", "helvetica")], &[]);
    let pages = page_texts(&pdf);
    assert_eq!(pages.len(), 1);
    let strings: Vec<&str> = pages[0].iter().map(|(_, _, s)| s.as_str()).collect();
    for expected in ["Quarterly sessions", "id", "label", "Page 1 of "] {
        assert!(strings.contains(&expected), "{expected} in {strings:?}");
    }
    let total = read::winansi_text(&read::stream(&pdf, 4));
    assert_eq!(total[0].2, "1");
}

#[test]
fn orientation_and_paper_size() {
    let media_box = |pdf: &[u8]| {
        let page = read::pages(pdf)[0];
        let dict = read::dict(pdf, page);
        let at = dict.find("/MediaBox [").unwrap() + 11;
        dict[at..at + dict[at..].find(']').unwrap()].to_owned()
    };
    let narrow = [ints("id"), texts("label")];
    let batches = id_label_batches(10, 10);
    assert_eq!(media_box(&run(&narrow, &[], &batches)), "0 0 595 842");
    assert_eq!(
        media_box(&run(&narrow, &[("page-size", "letter")], &batches)),
        "0 0 612 792"
    );
    assert_eq!(
        media_box(&run(&narrow, &[("orientation", "landscape")], &batches)),
        "0 0 842 595"
    );
    // Nine timestamp columns are wider than a portrait page.
    let wide: Vec<Column> = (0..9)
        .map(|i| Column::new(format!("at{i}"), ColumnType::Timestamp))
        .collect();
    let mut batch = TestBatch::new(2);
    for _ in 0..9 {
        batch = batch.timestamp(&[Some(1_767_225_600_123_456), None]);
    }
    assert_eq!(media_box(&run(&wide, &[], &[batch.clone()])), "0 0 842 595");
    assert_eq!(
        media_box(&run(&wide, &[("orientation", "portrait")], &[batch])),
        "0 0 595 842"
    );
}

#[test]
fn embedded_font_is_subset_with_unicode_maps() {
    let batch = TestBatch::new(3).text(&[Some("Ελληνικά"), Some("Кириллица"), Some("Ñandú 日本")]);
    let pdf = run(&[texts("name")], &[], &[batch]);
    let font = read::dict(&pdf, 3);
    assert!(
        font.contains("/Subtype /Type0") && font.contains("/Identity-H"),
        "{font}"
    );
    let base = read::value(&font, "/BaseFont");
    assert!(
        base.ends_with("+LiberationSans") && base.len() == "/ABCDEF+LiberationSans".len(),
        "{base}"
    );
    let cid: usize = font[font.find("/DescendantFonts [").unwrap() + 18..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let cid_dict = read::dict(&pdf, cid);
    assert!(
        cid_dict.contains("/CIDFontType2") && cid_dict.contains("/W ["),
        "{cid_dict}"
    );
    let map: usize = read::value(&cid_dict, "/CIDToGIDMap").parse().unwrap();
    let descriptor: usize = read::value(&cid_dict, "/FontDescriptor").parse().unwrap();
    let file: usize = read::value(&read::dict(&pdf, descriptor), "/FontFile2")
        .parse()
        .unwrap();
    let program = read::stream(&pdf, file);
    let subset = ttf_parser::Face::parse(&program, 0).unwrap();
    assert!(
        subset.number_of_glyphs() < 120,
        "{} glyphs",
        subset.number_of_glyphs()
    );
    assert!(program.len() < 60_000, "{} bytes", program.len());

    // The content shows original glyph ids; the map sends each to the
    // subset, and the ToUnicode CMap back to the text.
    let mut embedded = font::Font::embedded().unwrap();
    let lambda = embedded.glyph('λ').code;
    let cid_to_gid = read::stream(&pdf, map);
    let new = u16::from_be_bytes([
        cid_to_gid[usize::from(lambda) * 2],
        cid_to_gid[usize::from(lambda) * 2 + 1],
    ]);
    assert!(new > 0 && new < subset.number_of_glyphs());
    let to_unicode: usize = read::value(&font, "/ToUnicode").parse().unwrap();
    let cmap = String::from_utf8(read::stream(&pdf, to_unicode)).unwrap();
    assert!(cmap.contains(&format!("<{lambda:04X}> <03BB>")), "{cmap}");
    let content = read::content(&pdf, read::pages(&pdf)[0]);
    let shown = read::shown(&content);
    let expected: Vec<u8> = "Ñandú ??"
        .chars()
        .flat_map(|c| embedded.glyph(c).code.to_be_bytes())
        .collect();
    assert!(
        shown.iter().any(|(_, _, s)| *s == expected),
        "missing CJK prints as ?"
    );
}

#[test]
fn document_information() {
    let pdf = run(&[ints("n")], &[], &[]);
    let trailer = String::from_utf8_lossy(&pdf[pdf.len() - 120..]).into_owned();
    let info: usize = read::value(&trailer, "/Info").parse().unwrap();
    let dict = read::dict(&pdf, info);
    assert!(dict.contains("/Title (Quarterly sessions)"), "{dict}");
    assert!(dict.contains(&format!(
        "/Producer (Exporter PDF plugin {})",
        env!("CARGO_PKG_VERSION")
    )));
    assert!(dict.contains("/CreationDate (D:20260101000000Z"), "{dict}");
}

#[test]
fn two_hundred_columns_and_awkward_text_export() {
    let columns: Vec<Column> = (0..200)
        .map(|i| {
            if i % 2 == 0 {
                texts(&format!("column_{i}"))
            } else {
                ints(&format!("column_{i}"))
            }
        })
        .collect();
    let mut batch = TestBatch::new(10);
    for i in 0..200i64 {
        batch = if i % 2 == 0 {
            let cells: Vec<String> = (0..10).map(|r| format!("r{r}c{i}\n(\\)\r")).collect();
            let refs: Vec<Option<&str>> = cells.iter().map(|s| Some(s.as_str())).collect();
            batch.text(&refs)
        } else {
            batch.int64(&(0..10).map(|r| Some(r * 1000 + i)).collect::<Vec<_>>())
        };
    }
    let pdf = run(&columns, &[], &[batch]);
    assert!(read::pages(&pdf).len() >= 2);
    for (index, &offset) in read::xref(&pdf).iter().enumerate() {
        assert!(pdf[offset..].starts_with(format!("{} 0 obj", index + 1).as_bytes()));
    }
}

#[test]
fn characters_the_font_cannot_draw_are_reported_as_warnings() {
    testing::take_warnings();
    let batch = TestBatch::new(3).text(&[Some("漢字 and 漢"), Some("plain"), Some("😀")]);
    run(&[texts("label")], &[], &[batch]);
    let warnings = testing::take_warnings();
    let codes: Vec<&str> = warnings.iter().map(|(code, _, _)| code.as_str()).collect();
    assert!(codes.iter().all(|&c| c == "glyph-missing"), "{warnings:?}");
    // Three distinct characters, each named, whether the text was drawn
    // once or measured and drawn.
    assert_eq!(
        warnings.iter().map(|(_, n, _)| n).sum::<u64>(),
        3,
        "{warnings:?}"
    );
    assert!(
        warnings[0]
            .2
            .starts_with("U+6F22 (漢) is not in the embedded"),
        "{warnings:?}"
    );

    let batch = TestBatch::new(1).text(&[Some("Ωmega")]);
    run(&[texts("label")], &[("font", "helvetica")], &[batch]);
    let warnings = testing::take_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0]
            .2
            .starts_with("U+03A9 (Ω) is not in the Helvetica"),
        "{warnings:?}"
    );

    run(
        &[texts("label")],
        &[],
        &[TestBatch::new(1).text(&[Some("café")])],
    );
    assert!(testing::take_warnings().is_empty());
}

/// The strings shown on the first page, Helvetica, with `zone` in the
/// context (none: UTC).
fn first_page_in(zone: Option<&str>, columns: &[Column], batch: TestBatch) -> Vec<String> {
    let mut context = context();
    if let Some(zone) = zone {
        context.properties.push(("Time zone".into(), zone.into()));
    }
    let pdf =
        testing::run_with_context::<Pdf>(columns, &[("font", "helvetica")], &context, &[batch])
            .unwrap();
    page_texts(&pdf)
        .swap_remove(0)
        .into_iter()
        .map(|(_, _, s)| s)
        .collect()
}

/// 2026-01-02T03:04:05.123456Z, 2026-07-14T10:30:00Z,
/// 1969-07-21T02:56:15Z, null.
fn instants() -> TestBatch {
    TestBatch::new(4).timestamp(&[
        Some(1_767_323_045_123_456),
        Some(1_784_025_000_000_000),
        Some(-14_159_025_000_000),
        None,
    ])
}

#[test]
fn timestamps_show_the_zone_s_wall_clock_and_offset() {
    let columns = [Column::new("started_at", ColumnType::Timestamp)];
    let paris = first_page_in(Some("Europe/Paris"), &columns, instants());
    for expected in [
        "Generated 2026-01-01T01:00:00+01:00",
        "Time zone: Europe/Paris",
        "2026-01-02T04:04:05.123456+01:00",
        "2026-07-14T12:30:00+02:00",
        "1969-07-21T03:56:15+01:00",
    ] {
        assert!(paris.iter().any(|s| s == expected), "{expected}: {paris:?}");
    }
    let kolkata = first_page_in(Some("Asia/Kolkata"), &columns, instants());
    for expected in [
        "2026-01-02T08:34:05.123456+05:30",
        "2026-07-14T16:00:00+05:30",
        "1969-07-21T08:26:15+05:30",
    ] {
        assert!(
            kolkata.iter().any(|s| s == expected),
            "{expected}: {kolkata:?}"
        );
    }
    let utc = first_page_in(None, &columns, instants());
    for expected in [
        "Generated 2026-01-01T00:00:00Z",
        "2026-01-02T03:04:05.123456Z",
        "2026-07-14T10:30:00Z",
        "1969-07-21T02:56:15Z",
    ] {
        assert!(utc.iter().any(|s| s == expected), "{expected}: {utc:?}");
    }
    assert!(!utc.iter().any(|s| s.starts_with("Time zone")));
}

#[test]
fn utc_reports_do_not_change() {
    let columns = [ints("id"), Column::new("at", ColumnType::Timestamp)];
    let batch = || {
        TestBatch::new(3)
            .int64(&[Some(1), Some(2), None])
            .timestamp(&[Some(1_767_323_045_123_456), Some(-1), None])
    };
    let plain = testing::run_with_context::<Pdf>(&columns, &[], &context(), &[batch()]).unwrap();
    // The header option is the host's business: either value, same bytes.
    for header in ["names", "labels"] {
        let again = testing::run_with_context::<Pdf>(
            &columns,
            &[("header", header)],
            &context(),
            &[batch()],
        )
        .unwrap();
        assert!(again == plain, "header={header}");
    }
}

#[test]
fn an_unknown_zone_is_refused() {
    let mut context = context();
    context
        .properties
        .push(("Time zone".into(), "Europe/Pariss".into()));
    match testing::run_with_context::<Pdf>(&[ints("id")], &[], &context, &[]) {
        Err(FormatError::Other(message)) => {
            assert!(
                message.contains("unknown time zone \"Europe/Pariss\""),
                "{message}"
            )
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}
