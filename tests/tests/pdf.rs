//! The PDF plugin, run as the real component and checked with real PDF
//! tools: qpdf for structure, poppler's pdfinfo and pdftotext for pages,
//! metadata and text; then the conformance kit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use exporter::batch::Value;
use exporter::conformance::fixtures;
use exporter::plugins::{Column, ColumnType, RunStats};
use exporter_tests::{assert_conformant, export, load};

/// An exported PDF on disk, for the tools.
struct PdfFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
    stats: RunStats,
}

fn export_pdf(columns: &[Column], options: &[(&str, &str)], rows: &[Vec<Value>]) -> PdfFile {
    let (bytes, stats) = export(&load("pdf"), columns, options, rows, None).expect("export");
    assert_eq!(stats.rows, rows.len() as u64);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("report.pdf");
    std::fs::write(&path, &bytes).expect("write pdf");
    PdfFile {
        _dir: dir,
        path,
        stats,
    }
}

/// Runs `name args file after` and returns its standard output.
fn tool(name: &str, args: &[&str], file: &Path, after: &[&str]) -> String {
    let output = Command::new(name)
        .args(args)
        .arg(file)
        .args(after)
        .output()
        .unwrap_or_else(|e| panic!("{name} runs (apt-get install qpdf poppler-utils): {e}"));
    assert!(
        output.status.success(),
        "{name} {args:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// `qpdf --check`: structure, cross-reference table and every stream.
fn qpdf_check(file: &PdfFile) {
    let report = tool("qpdf", &["--check"], &file.path, &[]);
    assert!(
        report.contains("No syntax or stream encoding errors found"),
        "{report}"
    );
}

/// `pdfinfo` as key/value pairs.
fn pdfinfo(file: &PdfFile) -> BTreeMap<String, String> {
    tool("pdfinfo", &[], &file.path, &[])
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .collect()
}

/// `pdftotext -layout`, one string per page.
fn pages_text(file: &PdfFile) -> Vec<String> {
    let text = tool(
        "pdftotext",
        &["-layout", "-enc", "UTF-8"],
        &file.path,
        &["-"],
    );
    let mut pages: Vec<String> = text.split('\u{c}').map(str::to_owned).collect();
    // pdftotext ends every page with a form feed.
    assert_eq!(pages.pop().as_deref(), Some(""));
    pages
}

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

fn ints_column(name: &str) -> Column {
    Column {
        name: name.into(),
        kind: ColumnType::Int64,
    }
}

fn text_column(name: &str) -> Column {
    Column {
        name: name.into(),
        kind: ColumnType::Text,
    }
}

#[test]
fn a_multi_page_report_passes_qpdf_and_poppler() {
    let columns = fixtures::all_types();
    let mut rows = fixtures::one_row();
    rows.extend(fixtures::unicode());
    rows.extend(fixtures::generated(3_000));
    let file = export_pdf(&columns, &[], &rows);
    qpdf_check(&file);

    let info = pdfinfo(&file);
    assert_eq!(info["Title"], "Test export");
    assert!(
        info["Producer"].starts_with("Exporter PDF plugin "),
        "{info:?}"
    );
    assert!(info["CreationDate"].contains("2026"), "{info:?}");
    // The eight fixture columns fit a portrait page at their natural
    // widths, so `orientation=auto` keeps it portrait.
    assert!(info["Page size"].starts_with("595 x 842"), "{info:?}");
    let count: usize = info["Pages"].parse().unwrap();
    assert!(count > 10, "{count} pages");

    let pages = pages_text(&file);
    assert_eq!(pages.len(), count);
    // The header block on the first page only; the header row on all.
    assert!(pages[0].contains("Test export"));
    assert!(pages[0].contains("Generated 2026-01-01T00:00:00Z"));
    assert!(pages[0].contains("dataType: test"));
    assert!(!pages[1].contains("Generated 2026-01-01T00:00:00Z"));
    for (index, page) in pages.iter().enumerate() {
        let header = page
            .lines()
            .find(|line| line.contains("flag"))
            .unwrap_or_else(|| panic!("no header on page {}:\n{page}", index + 1));
        assert_eq!(
            words(header),
            [
                "flag", "count", "ratio", "amount", "label", "day", "at", "meta"
            ],
            "page {}",
            index + 1
        );
        let footer = format!("Page {} of {count}", index + 1);
        assert!(
            page.lines().any(|line| line.trim_end().ends_with(&footer)),
            "{footer:?} on page {}:\n{page}",
            index + 1
        );
    }
    // One row, all its values on one line.
    let first = pages[0]
        .lines()
        .find(|line| line.contains("hello"))
        .expect("the first row");
    assert_eq!(
        words(first),
        [
            "true",
            "42",
            "0.5",
            "19.99",
            "hello",
            "2026-01-31",
            "2026-01-31T12:34:56Z",
            r#"{"plan":"pro"}"#
        ]
    );
    // Greek, Cyrillic and accented Latin through the embedded font.
    let all = pages.concat();
    for text in ["Zoë Saldaña", "Ελληνικά κείμενα", "Кириллица"] {
        assert!(all.contains(text), "{text} in the text");
    }
    // Every row is there once: each starts with its flag.
    let printed = all
        .lines()
        .filter(|line| matches!(words(line).first(), Some(&("true" | "false"))))
        .count();
    assert_eq!(printed, rows.len());
}

#[test]
fn page_count_follows_the_layout() {
    // One int column on portrait A4 at 8 pt: 12 pt lines. The first page
    // loses 51 pt to the header block (21 pt title, two 12 pt lines, 6 pt
    // gap): 58 rows, then 63 a page. 1,000 rows: 58 + 15 x 63 >= 1,000.
    let rows: Vec<Vec<Value>> = (0..1_000).map(|i| vec![Value::Int64(i)]).collect();
    let file = export_pdf(&[ints_column("n")], &[], &rows);
    qpdf_check(&file);
    let info = pdfinfo(&file);
    assert_eq!(info["Pages"], "16");
    assert!(info["Page size"].starts_with("595"), "{info:?}");
    let pages = pages_text(&file);
    let numbers_on = |page: &str| {
        page.lines()
            .filter(|line| words(line).len() == 1 && words(line)[0].parse::<i64>().is_ok())
            .map(|line| words(line)[0].parse::<i64>().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(numbers_on(&pages[0]), (0..58).collect::<Vec<_>>());
    assert_eq!(numbers_on(&pages[1]), (58..121).collect::<Vec<_>>());
    assert_eq!(
        numbers_on(&pages[15]),
        (58 + 14 * 63..1_000).collect::<Vec<_>>()
    );
    assert!(pages[15].contains("Page 16 of 16"));
}

#[test]
fn unicode_names_print_with_the_embedded_font_and_as_question_marks_in_helvetica() {
    let columns = [text_column("name"), ints_column("amount")];
    let rows: Vec<Vec<Value>> = ["Ñandú", "Ελληνικά", "Кириллица", "日本"]
        .iter()
        .enumerate()
        .map(|(i, name)| vec![Value::Text((*name).into()), Value::Int64(i as i64)])
        .collect();

    let embedded = export_pdf(&columns, &[], &rows);
    qpdf_check(&embedded);
    let text = pages_text(&embedded).concat();
    for name in ["Ñandú", "Ελληνικά", "Кириллица"] {
        assert!(
            text.lines().any(|l| words(l).first() == Some(&name)),
            "{name} in\n{text}"
        );
    }
    assert!(text.contains("??"), "CJK is not in the font: {text}");
    let fonts = tool("pdffonts", &[], &embedded.path, &[]);
    assert!(fonts.contains("+LiberationSans"), "{fonts}");
    assert!(fonts.contains("CID TrueType"), "{fonts}");

    let helvetica = export_pdf(
        &columns,
        &[
            ("font", "helvetica"),
            ("page-size", "letter"),
            ("zebra", "false"),
        ],
        &rows,
    );
    qpdf_check(&helvetica);
    let info = pdfinfo(&helvetica);
    assert_eq!(info["Pages"], "1");
    assert!(info["Page size"].starts_with("612 x 792"), "{info:?}");
    let text = pages_text(&helvetica).concat();
    assert!(text.contains("Ñandú"), "Windows-1252 has Ñ and ú: {text}");
    assert!(text.contains("????????"), "Greek is not: {text}");
    assert!(text.contains("Page 1 of 1"));
    let fonts = tool("pdffonts", &[], &helvetica.path, &[]);
    assert!(fonts.contains("Helvetica"), "{fonts}");
}

#[test]
fn an_empty_export_is_one_valid_page() {
    let file = export_pdf(&fixtures::all_types(), &[], &[]);
    qpdf_check(&file);
    assert_eq!(pdfinfo(&file)["Pages"], "1");
    let pages = pages_text(&file);
    assert!(pages[0].contains("flag"));
    assert!(pages[0].contains("Page 1 of 1"), "{}", pages[0]);
}

#[test]
fn two_hundred_columns_wrap_and_stay_valid() {
    let columns: Vec<Column> = (0..200)
        .map(|i| {
            if i % 2 == 0 {
                text_column(&format!("column_{i}"))
            } else {
                ints_column(&format!("column_{i}"))
            }
        })
        .collect();
    let rows: Vec<Vec<Value>> = (0..30)
        .map(|r| {
            (0..200)
                .map(|i| {
                    if i % 2 == 0 {
                        Value::Text(format!("r{r}c{i}"))
                    } else {
                        Value::Int64(r * 1000 + i)
                    }
                })
                .collect()
        })
        .collect();
    let file = export_pdf(&columns, &[], &rows);
    qpdf_check(&file);
    let pages = pages_text(&file);
    // Each row's first and last values are on the same page.
    for r in 0..30 {
        let first = format!("r{r}c0");
        let last = (r * 1000 + 199).to_string();
        let page = pages
            .iter()
            .position(|p| words(p).contains(&first.as_str()))
            .unwrap_or_else(|| panic!("{first} printed"));
        assert!(
            words(&pages[page]).contains(&last.as_str()),
            "row {r} split"
        );
    }
    // At the minimum width the names are cut ("col…"), but the whole
    // header band is on every page.
    for page in &pages {
        assert!(page.matches("col").count() >= 200, "{page}");
    }
}

#[test]
fn memory_stays_flat_as_rows_grow() {
    let columns = fixtures::all_types();
    let small: Vec<_> = fixtures::generated(10_000).collect();
    let large: Vec<_> = fixtures::generated(200_000).collect();
    let small = export_pdf(&columns, &[], &small);
    let large = export_pdf(&columns, &[], &large);
    println!(
        "peak plugin memory: {} bytes at 10k rows, {} at 200k rows",
        small.stats.peak_memory, large.stats.peak_memory
    );
    assert!(large.stats.chunks > 100);
    // Per page only an offset and an id are kept: a few hundred KB over
    // 200k rows, nothing like the output's size.
    assert!(
        large.stats.peak_memory <= small.stats.peak_memory + (1 << 20),
        "{} then {}",
        small.stats.peak_memory,
        large.stats.peak_memory
    );
    qpdf_check(&large);
}

#[test]
fn conformance_kit_passes() {
    assert_conformant("pdf");
}
