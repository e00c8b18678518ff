//! Native tests: the workbook is unzipped by a small reader here (central
//! directory, CRC checked) and its XML inspected. Independent readers
//! (openpyxl, LibreOffice) check the real component in `tests/`.

use std::collections::BTreeMap;
use std::io::Read;

use exporter_plugin_sdk::testing::{self, TestBatch};
use exporter_plugin_sdk::{ColumnType, ExportContext};

use super::*;

/// The archive's entries, in central-directory order, inflated and
/// CRC-checked against both the data descriptor and the directory.
fn unzip(bytes: &[u8]) -> Vec<(String, String)> {
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]) as usize;
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let end = bytes.len() - 22;
    assert_eq!(u32_at(end), 0x0605_4b50, "end of central directory last");
    let count = u16_at(end + 10);
    let mut at = u32_at(end + 16);
    assert_eq!(
        at + u32_at(end + 12),
        end,
        "directory right before its end record"
    );
    let mut entries = Vec::new();
    for _ in 0..count {
        assert_eq!(u32_at(at), 0x0201_4b50);
        assert_eq!(u16_at(at + 10), 8, "every entry deflated");
        assert_eq!(u16_at(at + 8) & 0x8, 0x8, "data descriptors");
        let crc = u32_at(at + 16);
        let compressed = u32_at(at + 20);
        let size = u32_at(at + 24);
        let name_len = u16_at(at + 28);
        let offset = u32_at(at + 42);
        let name = std::str::from_utf8(&bytes[at + 46..at + 46 + name_len]).unwrap();
        assert_eq!(u32_at(offset), 0x0403_4b50, "{name}: local header");
        assert_eq!(&bytes[offset + 30..offset + 30 + name_len], name.as_bytes());
        let data = offset + 30 + name_len;
        let mut text = String::new();
        flate2::read::DeflateDecoder::new(&bytes[data..data + compressed])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text.len(), size, "{name}: size");
        assert_eq!(
            crc32fast::hash(text.as_bytes()) as usize,
            crc,
            "{name}: crc"
        );
        let descriptor = data + compressed;
        assert_eq!(u32_at(descriptor), 0x0807_4b50);
        assert_eq!(
            [
                u32_at(descriptor + 4),
                u32_at(descriptor + 8),
                u32_at(descriptor + 12)
            ],
            [crc, compressed, size]
        );
        entries.push((name.to_owned(), text));
        at += 46 + name_len;
    }
    entries
}

fn run(
    columns: &[Column],
    options: &[(&str, &str)],
    batches: &[TestBatch],
) -> BTreeMap<String, String> {
    let bytes = testing::run::<Xlsx>(columns, options, batches).unwrap();
    unzip(&bytes).into_iter().collect()
}

fn two_columns() -> Vec<Column> {
    vec![
        Column::new("id", ColumnType::Int64),
        Column::new("name", ColumnType::Text),
    ]
}

fn rows(n: usize) -> TestBatch {
    let ids: Vec<Option<i64>> = (0..n as i64).map(Some).collect();
    let names: Vec<String> = (0..n).map(|i| format!("name {i}")).collect();
    let names: Vec<Option<&str>> = names.iter().map(|s| Some(s.as_str())).collect();
    TestBatch::new(n as u32).int64(&ids).text(&names)
}

/// The `<row>` elements of a sheet's XML.
fn sheet_rows(xml: &str) -> Vec<&str> {
    let data = xml.split_once("<sheetData>").unwrap().1;
    let data = data.split_once("</sheetData>").unwrap().0;
    data.split_inclusive("</row>").collect()
}

#[test]
fn info_is_well_formed() {
    testing::check_info::<Xlsx>().unwrap();
}

#[test]
fn a_workbook_has_every_part_and_typed_cells() {
    let columns = vec![
        Column::new("id", ColumnType::Int64),
        Column::new("name", ColumnType::Text),
        Column::new("active", ColumnType::Boolean),
        Column::new("day", ColumnType::Date),
    ];
    let batch = TestBatch::new(2)
        .int64(&[Some(1), None])
        .text(&[Some("Zoë & <Ann>"), Some("Ελληνικά")])
        .boolean(&[Some(true), Some(false)])
        .date(&[Some(20_454), None]);
    let parts = run(&columns, &[], &[batch]);
    let names: Vec<&str> = parts.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "[Content_Types].xml",
            "_rels/.rels",
            "docProps/app.xml",
            "docProps/core.xml",
            "xl/_rels/workbook.xml.rels",
            "xl/styles.xml",
            "xl/workbook.xml",
            "xl/worksheets/sheet1.xml",
        ]
    );
    let sheet = &parts["xl/worksheets/sheet1.xml"];
    assert_eq!(
        sheet_rows(sheet),
        [
            "<row r=\"1\"><c s=\"1\" t=\"inlineStr\"><is><t xml:space=\"preserve\">id</t></is></c><c s=\"1\" t=\"inlineStr\"><is><t xml:space=\"preserve\">name</t></is></c><c s=\"1\" t=\"inlineStr\"><is><t xml:space=\"preserve\">active</t></is></c><c s=\"1\" t=\"inlineStr\"><is><t xml:space=\"preserve\">day</t></is></c></row>",
            "<row r=\"2\"><c><v>1</v></c><c t=\"inlineStr\"><is><t>Zoë &amp; &lt;Ann&gt;</t></is></c><c t=\"b\"><v>1</v></c><c s=\"2\"><v>46023</v></c></row>",
            "<row r=\"3\"><c/><c t=\"inlineStr\"><is><t>Ελληνικά</t></is></c><c t=\"b\"><v>0</v></c><c/></row>",
        ]
    );
    assert!(sheet.contains(
        "<pane ySplit=\"1\" topLeftCell=\"A2\" activePane=\"bottomLeft\" state=\"frozen\"/>"
    ));
    assert!(sheet.ends_with("</sheetData><autoFilter ref=\"A1:D3\"/></worksheet>"));
    // Widths from the widest of header and rows, plus padding, at least 6.
    assert!(sheet.contains("<col min=\"2\" max=\"2\" width=\"13.00\" customWidth=\"1\"/>"));
    assert!(sheet.contains("<col min=\"4\" max=\"4\" width=\"12.00\" customWidth=\"1\"/>"));
    assert!(
        parts["xl/workbook.xml"].contains("<sheet name=\"Data\" sheetId=\"1\" r:id=\"rId1\"/>")
    );
    assert!(parts["xl/styles.xml"].contains("formatCode=\"yyyy-mm-dd\""));
}

#[test]
fn rows_continue_on_new_sheets_with_the_header_repeated() {
    let parts = run(
        &two_columns(),
        &[("max-rows-per-sheet", "3"), ("sheet-name", "Sessions")],
        &[rows(5)],
    );
    let sheet = |n: usize| sheet_rows(&parts[&format!("xl/worksheets/sheet{n}.xml")]).len();
    assert_eq!([sheet(1), sheet(2), sheet(3)], [3, 3, 2]);
    assert!(!parts.contains_key("xl/worksheets/sheet4.xml"));
    let third = &parts["xl/worksheets/sheet3.xml"];
    assert!(third.contains("<row r=\"1\"><c s=\"1\""), "header repeated");
    assert!(
        third.contains("<row r=\"2\"><c><v>4</v></c>"),
        "the fifth row"
    );
    assert!(third.ends_with("<autoFilter ref=\"A1:B2\"/></worksheet>"));
    let workbook = &parts["xl/workbook.xml"];
    for (id, name) in [(1, "Sessions"), (2, "Sessions (2)"), (3, "Sessions (3)")] {
        assert!(workbook.contains(&format!(
            "<sheet name=\"{name}\" sheetId=\"{id}\" r:id=\"rId{id}\"/>"
        )));
    }
    assert!(workbook.contains("localSheetId=\"2\" hidden=\"1\">'Sessions (3)'!$A$1:$B$2<"));
    assert!(parts["[Content_Types].xml"].contains("/xl/worksheets/sheet3.xml"));
    assert!(parts["xl/_rels/workbook.xml.rels"].contains("Id=\"rId4\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles\""));
    // Only the first sheet is selected.
    assert!(parts["xl/worksheets/sheet1.xml"].contains("tabSelected=\"1\""));
    assert!(!third.contains("tabSelected"));
}

#[test]
fn without_a_header_nothing_is_frozen_or_filtered() {
    let parts = run(&two_columns(), &[("header", "false")], &[rows(2)]);
    let sheet = &parts["xl/worksheets/sheet1.xml"];
    assert_eq!(sheet_rows(sheet).len(), 2);
    assert!(sheet_rows(sheet)[0].starts_with("<row r=\"1\"><c><v>0</v></c>"));
    assert!(!sheet.contains("<pane") && !sheet.contains("autoFilter"));
    assert!(!parts["xl/workbook.xml"].contains("definedName"));
}

#[test]
fn empty_exports_and_no_columns_are_valid_workbooks() {
    let parts = run(&two_columns(), &[], &[]);
    assert_eq!(sheet_rows(&parts["xl/worksheets/sheet1.xml"]).len(), 1);
    let parts = run(&[], &[], &[TestBatch::new(2)]);
    let sheet = &parts["xl/worksheets/sheet1.xml"];
    assert_eq!(
        sheet_rows(sheet),
        [
            "<row r=\"1\"></row>",
            "<row r=\"2\"></row>",
            "<row r=\"3\"></row>"
        ]
    );
    assert!(!sheet.contains("<cols>") && !sheet.contains("autoFilter"));
}

#[test]
fn batch_boundaries_do_not_change_the_bytes() {
    // 250 rows cross the 100-row width sample and several flushes.
    let n = 250;
    let whole = testing::run::<Xlsx>(&two_columns(), &[], &[rows(n)]).unwrap();
    let ids: Vec<Option<i64>> = (0..n as i64).map(Some).collect();
    let names: Vec<String> = (0..n).map(|i| format!("name {i}")).collect();
    let single: Vec<TestBatch> = (0..n)
        .map(|i| {
            TestBatch::new(1)
                .int64(&ids[i..=i])
                .text(&[Some(names[i].as_str())])
        })
        .collect();
    assert_eq!(
        whole,
        testing::run::<Xlsx>(&two_columns(), &[], &single).unwrap()
    );
    // The sheet streams: the first rows' XML is held back for the column
    // widths, then it leaves in chunks.
    let (_, chunks) = testing::run_chunked::<Xlsx>(
        &two_columns(),
        &[],
        &ExportContext::default(),
        &[rows(50_000)],
    )
    .unwrap();
    assert!(chunks.len() > 2, "{chunks:?}");
}

#[test]
fn the_generation_time_stamps_the_archive_and_properties() {
    let context = ExportContext {
        title: "Sessions <2026>".into(),
        generated_at: 1_781_567_999_123_456, // 2026-06-15T23:59:59.123456Z
        properties: vec![],
    };
    let bytes =
        testing::run_with_context::<Xlsx>(&two_columns(), &[], &context, &[rows(1)]).unwrap();
    let parts: BTreeMap<String, String> = unzip(&bytes).into_iter().collect();
    let core = &parts["docProps/core.xml"];
    assert!(core.contains("<dc:title>Sessions &lt;2026&gt;</dc:title>"));
    assert!(core.contains(">2026-06-15T23:59:59Z</dcterms:created>"));
    // DOS time and date in the first local header.
    assert_eq!(&bytes[10..14], &[0x7d, 0xbf, 0xcf, 0x5c]);
}

#[test]
fn bad_options_are_refused() {
    let refused =
        |options: &[(&str, &str)]| match testing::run::<Xlsx>(&two_columns(), options, &[]) {
            Err(FormatError::InvalidOption(message)) => message,
            other => panic!("{options:?}: expected a refusal, got {other:?}"),
        };
    assert_eq!(
        refused(&[("compression-level", "0")]),
        "option \"compression-level\" must be from 1 to 9, got 0"
    );
    assert_eq!(
        refused(&[("sheet-name", "a/b")]),
        "option \"sheet-name\" contains '/', which Excel does not allow: \"a/b\""
    );
    assert!(refused(&[("sheet-name", "")]).contains("is empty"));
    assert!(refused(&[("sheet-name", &"x".repeat(32))]).contains("longer than 31"));
    assert!(refused(&[("sheet-name", "'quoted'")]).contains("apostrophe"));
    assert!(refused(&[("max-rows-per-sheet", "1")]).contains("from 2 to 1048576"));
    assert!(refused(&[("max-rows-per-sheet", "1048577")]).contains("from 2 to 1048576"));
    assert!(refused(&[("date-format", "")]).contains("1 to 255 characters"));
    assert!(refused(&[("autofilter", "yes")]).contains("true or false"));
}

#[test]
fn long_sheet_names_keep_their_suffix_on_rollover() {
    let name = "x".repeat(31);
    let parts = run(
        &two_columns(),
        &[("max-rows-per-sheet", "2"), ("sheet-name", &name)],
        &[rows(2)],
    );
    let expected = format!("{} (2)", "x".repeat(27));
    assert!(parts["xl/workbook.xml"].contains(&format!("<sheet name=\"{expected}\"")));
}

#[test]
fn too_many_columns_are_refused() {
    let columns: Vec<Column> = (0..=EXCEL_MAX_COLUMNS)
        .map(|i| Column::new(format!("c{i}"), ColumnType::Int64))
        .collect();
    assert!(matches!(
        testing::run::<Xlsx>(&columns, &[], &[]),
        Err(FormatError::UnsupportedSchema(_))
    ));
}

#[test]
fn cut_cells_are_reported_as_warnings_with_row_and_column() {
    testing::take_warnings();
    let long = "x".repeat(cells::MAX_CELL_CHARS + 10);
    let n = 8;
    let ids: Vec<Option<i64>> = (1..=n).map(Some).collect();
    let names: Vec<Option<&str>> = (0..n)
        .map(|i| {
            if i == 0 {
                Some("short")
            } else {
                Some(long.as_str())
            }
        })
        .collect();
    let batch = TestBatch::new(n as u32).int64(&ids).text(&names);
    run(&two_columns(), &[], &[batch]);
    let warnings = testing::take_warnings();
    // Rows 2 to 8 are cut: five examples one by one, the last two counted.
    assert_eq!(warnings.len(), 6, "{warnings:?}");
    assert!(warnings.iter().all(|(code, _, _)| code == "cell-truncated"));
    assert_eq!(warnings.iter().map(|(_, count, _)| count).sum::<u64>(), 7);
    assert_eq!(
        warnings[0].2,
        format!(
            "row 2, column name: {} characters cut to Excel's 32767 per cell",
            cells::MAX_CELL_CHARS + 10
        )
    );
    assert_eq!(warnings[5], ("cell-truncated".to_owned(), 2, String::new()));

    run(&two_columns(), &[], &[rows(3)]);
    assert!(testing::take_warnings().is_empty());
}

#[test]
fn header_takes_names_labels_and_the_old_booleans() {
    // The host puts the labels in the columns; the plugin writes them.
    for value in ["names", "labels", "true"] {
        let parts = run(&two_columns(), &[("header", value)], &[rows(1)]);
        let sheet = &parts["xl/worksheets/sheet1.xml"];
        assert!(sheet_rows(sheet)[0].contains(">id</t>"), "{value}");
        assert!(sheet.contains("autoFilter"), "{value}");
    }
    let parts = run(&two_columns(), &[("header", "false")], &[rows(1)]);
    assert_eq!(sheet_rows(&parts["xl/worksheets/sheet1.xml"]).len(), 1);
}

/// Seconds since the epoch of `HH:00` UTC on a day.
fn at(year: i64, month: u32, day: u32, hour: i64) -> i64 {
    use exporter_plugin_sdk::civil::days_from_civil;
    (days_from_civil(year, month, day) * 86_400 + hour * 3_600) * 1_000_000
}

fn run_in(zone: &str, options: &[(&str, &str)], micros: &[i64]) -> BTreeMap<String, String> {
    let context = ExportContext {
        title: "Sessions".into(),
        generated_at: 1_767_225_600_000_000,
        properties: vec![("Time zone".into(), zone.into())],
    };
    let columns = [
        Column::new("id", ColumnType::Int64),
        Column::new("started_at", ColumnType::Timestamp),
    ];
    let ids: Vec<Option<i64>> = (1..=micros.len() as i64).map(Some).collect();
    let micros: Vec<Option<i64>> = micros.iter().copied().map(Some).collect();
    let batch = TestBatch::new(ids.len() as u32)
        .int64(&ids)
        .timestamp(&micros);
    let bytes = testing::run_with_context::<Xlsx>(&columns, options, &context, &[batch]).unwrap();
    unzip(&bytes).into_iter().collect()
}

/// The cells of data row `row` (from 1) of the first sheet.
fn data_row(parts: &BTreeMap<String, String>, row: usize) -> String {
    sheet_rows(&parts["xl/worksheets/sheet1.xml"])[row].to_owned()
}

fn stamp(serial: &str) -> String {
    format!("<c s=\"3\"><v>{serial}</v></c>")
}

#[test]
fn timestamps_hold_the_zone_s_wall_clock() {
    let parts = run_in(
        "Europe/Paris",
        &[],
        &[
            at(2026, 1, 2, 5),   // 06:00 in Paris, winter time
            at(2026, 7, 14, 10), // 12:00, summer time
            at(1969, 7, 20, 11), // 12:00, before 1970
            at(1800, 1, 1, 0),   // before Excel's calendar: text
        ],
    );
    assert!(data_row(&parts, 1).contains(&stamp("46024.25")));
    assert!(data_row(&parts, 2).contains(&stamp("46217.5")));
    assert!(data_row(&parts, 3).contains(&stamp("25404.5")));
    // Paris kept its local mean time then, 9 min 21 s ahead of Greenwich.
    assert!(
        data_row(&parts, 4).contains("<t>1800-01-01T00:09:21+00:09:21</t>"),
        "{}",
        data_row(&parts, 4)
    );

    let kolkata = run_in("Asia/Kolkata", &[], &[at(2026, 1, 2, 0) + 1_800_000_000]);
    assert!(data_row(&kolkata, 1).contains(&stamp("46024.25")));
    let new_york = run_in("America/New_York", &[], &[at(1969, 7, 20, 16)]);
    assert!(data_row(&new_york, 1).contains(&stamp("25404.5")));
}

#[test]
fn the_workbook_names_its_zone() {
    let parts = run_in("Europe/Paris", &[], &[at(2026, 1, 2, 5)]);
    assert!(
        data_row(&parts, 0).contains(">started_at (Europe/Paris)</t>"),
        "{}",
        data_row(&parts, 0)
    );
    assert!(data_row(&parts, 0).contains(">id</t>"));
    // The heading is wider, and so is its column.
    assert!(
        parts["xl/worksheets/sheet1.xml"]
            .contains("<col min=\"2\" max=\"2\" width=\"27.00\" customWidth=\"1\"/>")
    );
    assert!(parts["docProps/core.xml"].contains(
        "<dc:creator>Exporter</dc:creator><dc:description>Timestamps are local times in Europe/Paris</dc:description>"
    ));
    // Names are for programs: they stay as they are.
    let names = run_in("Europe/Paris", &[("header", "names")], &[at(2026, 1, 2, 5)]);
    assert!(data_row(&names, 0).contains(">started_at</t>"));
    assert!(names["docProps/core.xml"].contains("<dc:description>"));
}

#[test]
fn utc_workbooks_do_not_change() {
    let instants = [at(2026, 1, 2, 5), at(1800, 1, 1, 0), -1];
    let utc = run_in("UTC", &[], &instants);
    assert!(data_row(&utc, 0).contains(">started_at</t>"));
    assert!(data_row(&utc, 1).contains(&stamp("46024.208333333336")));
    assert!(data_row(&utc, 2).contains("<t>1800-01-01T00:00:00Z</t>"));
    assert!(!utc["docProps/core.xml"].contains("description"));
    // As without the property, byte for byte.
    let columns = [
        Column::new("id", ColumnType::Int64),
        Column::new("started_at", ColumnType::Timestamp),
    ];
    let batch = || {
        TestBatch::new(3)
            .int64(&[Some(1), Some(2), Some(3)])
            .timestamp(&instants.map(Some))
    };
    let context = |properties| ExportContext {
        title: "Sessions".into(),
        generated_at: 1_767_225_600_000_000,
        properties,
    };
    let plain = testing::run_with_context::<Xlsx>(&columns, &[], &context(vec![]), &[batch()]);
    let zoned = testing::run_with_context::<Xlsx>(
        &columns,
        &[],
        &context(vec![("Time zone".into(), "Etc/UTC".into())]),
        &[batch()],
    );
    assert_eq!(plain.unwrap(), zoned.unwrap());
}

#[test]
fn an_unknown_zone_is_refused() {
    let context = ExportContext {
        properties: vec![("Time zone".into(), "Europe/Pariss".into())],
        ..ExportContext::default()
    };
    match testing::run_with_context::<Xlsx>(&two_columns(), &[], &context, &[]) {
        Err(FormatError::Other(message)) => {
            assert!(
                message.contains("unknown time zone \"Europe/Pariss\""),
                "{message}"
            )
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}
