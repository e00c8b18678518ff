//! XLSX and PDF exports through the API, read back by independent tools:
//! openpyxl for the workbook, qpdf, pdfinfo and pdftotext for the report,
//! each compared with a CSV export of the same query.

use std::process::Command;

use exporter_tests::python_read;
use exporter_tests::service::TestService;
use serde_json::{Value, json};

const ADMIN: &str = "admin@acme.test";
const COLUMNS: [&str; 5] = ["id", "user_email", "device", "pages_viewed", "started_at"];

fn sessions(format: &str) -> Value {
    json!({
        "dataType": "sessions",
        "format": format,
        "dateRange": {"from": "2026-01-01", "to": "2026-03-31"},
        "columns": COLUMNS,
    })
}

/// Runs a command-line tool on `args`, expecting success; returns stdout.
fn tool(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs ({e}); .ci/run installs it"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

#[tokio::test]
async fn excel_and_pdf_exports_carry_the_rows_of_the_csv_export() {
    // Enough sessions for several PDF pages.
    let service = TestService::start_with(3_000, |_| {}).await;
    let token = service.token(ADMIN).await;
    let (_, _, csv) = service.export_and_download(&token, sessions("csv")).await;
    let csv = python_read("csv", &csv, &[]);
    let csv = csv.as_array().unwrap();
    assert_eq!(csv[0], json!(COLUMNS));
    let records = &csv[1..];
    assert!(records.len() > 100, "enough rows for several PDF pages");

    // "excel" is the legacy name of the format.
    let (job, headers, bytes) = service.export_and_download(&token, sessions("excel")).await;
    assert_eq!(job["format"], "xlsx");
    assert_eq!(job["file"]["plugin"]["name"], "xlsx");
    assert_eq!(
        headers["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains(".xlsx"),
        "{headers:?}"
    );
    let book = python_read("xlsx", &bytes, &[]);
    assert_eq!(book["title"], "Sessions export, 2026-01-01 to 2026-03-31");
    let sheet = &book["sheets"][0];
    let rows = sheet["rows"].as_array().unwrap();
    // A spreadsheet is for people: its columns are headed by their labels.
    assert_eq!(
        rows[0],
        json!(["Id", "User email", "Device", "Pages viewed", "Started at"])
    );
    assert_eq!(rows.len(), csv.len());
    for (row, record) in rows[1..].iter().zip(records) {
        // Text as text (CSV writes nulls as empty fields), integers as
        // numbers, timestamps as Excel dates.
        for column in 0..3 {
            assert_eq!(row[column].as_str().unwrap_or(""), record[column], "{row}");
        }
        let pages: i64 = record[3].as_str().unwrap().parse().unwrap();
        assert_eq!(row[3], json!(pages));
        let parse = exporter::batch::time::parse_timestamp;
        let started = parse(record[4].as_str().unwrap()).unwrap();
        let read = row[4]["datetime"].as_str().expect("a date cell");
        let read = parse(&format!("{read}Z")).unwrap();
        // openpyxl rounds date serials to the millisecond.
        assert!((read - started).abs() <= 1_000, "{row} vs {record}");
    }

    let (job, headers, bytes) = service.export_and_download(&token, sessions("pdf")).await;
    assert_eq!(job["file"]["plugin"]["name"], "pdf");
    assert_eq!(headers["content-type"], "application/pdf");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.pdf");
    std::fs::write(&path, &bytes).unwrap();
    let path = path.to_str().unwrap();
    tool("qpdf", &["--check", path]);
    let info = tool("pdfinfo", &[path]);
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("{name} missing: {info}"))
            .trim()
    };
    assert_eq!(field("Title:"), "Sessions export, 2026-01-01 to 2026-03-31");
    let pages: usize = field("Pages:").parse().unwrap();
    assert!(pages >= 2, "{info}");
    let text = tool("pdftotext", &["-layout", path, "-"]);
    let page_texts: Vec<&str> = text
        .split('\u{c}')
        .filter(|p| !p.trim().is_empty())
        .collect();
    assert_eq!(page_texts.len(), pages);
    let last = page_texts[pages - 1];
    // Headed by labels, like the spreadsheet.
    assert!(
        last.contains("User email"),
        "header repeated on the last page"
    );
    assert!(last.contains(&format!("Page {pages} of {pages}")), "{last}");
    assert!(page_texts[0].contains(&format!("Page 1 of {pages}")));
    // Rows' values are printed: the first row's email (column widths are
    // fitted to the first rows, so it is never cut) and the last row's id.
    let email = records[0][1].as_str().unwrap();
    assert!(page_texts[0].contains(email), "{email} missing from page 1");
    let id = records[records.len() - 1][0].as_str().unwrap();
    assert!(last.contains(id), "{id} missing from the last page");
    service.stop().await;
}

/// Issue 18: a plugin that had to alter data to fit its format says so,
/// and the user sees it on the job, in the manifest and in the callback
/// payload (which is the job's view).
#[tokio::test]
async fn altered_data_is_reported_as_warnings_on_the_job_and_in_the_manifest() {
    let service = TestService::start().await;
    let db = exporter::service::open_database(&service.config)
        .await
        .unwrap();
    let long_name = "x".repeat(40_000);
    for (id, email, name) in [
        ("long", "long@acme.test", long_name.as_str()),
        ("kanji", "kanji@acme.test", "漢字 Kanji"),
    ] {
        exporter::db::execute(
            &db,
            "INSERT INTO users (id, organization_id, email, name, role, created_at) \
             SELECT ?, id, ?, ?, 'Member', 0 FROM organizations WHERE slug = 'acme'",
            &[id.into(), email.into(), name.into()],
        )
        .await
        .unwrap();
    }
    db.close().await;
    let admin = service.token(ADMIN).await;
    let users =
        |format: &str| json!({"dataType": "users", "format": format, "columns": ["id", "name"]});

    // XLSX: the 40,000-character name is cut, and the job says where.
    let (job, _, _) = service.export_and_download(&admin, users("xlsx")).await;
    let warnings = job["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{job}");
    assert_eq!(warnings[0]["code"], "cell-truncated");
    assert_eq!(warnings[0]["count"], 1);
    let example = warnings[0]["examples"][0].as_str().unwrap();
    assert!(
        // The column as the workbook heads it: its label.
        example.contains("column Name: 40000 characters cut to Excel's 32767 per cell"),
        "{example}"
    );

    // PDF in parts: the manifest sums the parts' warnings (the characters
    // the font cannot draw: ours, and the demo's emoji), and the job
    // carries the same.
    let mut body = users("pdf");
    body["partMaxRows"] = json!(2);
    let (job, _, manifest) = service.export_and_download(&admin, body).await;
    let manifest: Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(manifest["warnings"], job["warnings"], "{manifest}");
    let warnings = job["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{job}");
    assert_eq!(warnings[0]["code"], "glyph-missing");
    assert!(warnings[0]["count"].as_u64().unwrap() >= 2, "{job}");
    let examples = warnings[0]["examples"].as_array().unwrap();
    assert!(
        examples.contains(&json!(
            "U+6F22 (漢) is not in the embedded Liberation Sans font; it prints as ?"
        )),
        "{job}"
    );
    let parts_with_warnings = manifest["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p.get("warnings").is_some())
        .count();
    assert!(parts_with_warnings >= 1, "{manifest}");

    // CSV holds every value as it is: no warnings, an empty list.
    let (job, _, _) = service.export_and_download(&admin, users("csv")).await;
    assert_eq!(job["warnings"], json!([]), "{job}");
}
