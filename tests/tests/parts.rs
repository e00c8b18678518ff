//! Exports written in parts, through the API: every part a whole file of
//! its format (read back by Python's csv and gzip, and openpyxl), the parts
//! concatenating to exactly the single-file export, and `manifest.json`
//! whose checksums match what is downloaded. Run on SQLite and PostgreSQL.
//! (Resuming after a killed worker is in `host/tests/scale_out.rs`, with
//! real processes.)

use exporter_tests::python_read;
use exporter_tests::service::TestService;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

const ADMIN: &str = "admin@acme.test";

fn request(format: &str) -> Value {
    json!({"dataType": "sessions", "format": format,
        "dateRange": {"from": "2026-01-01", "to": "2026-06-30"}})
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Downloads every part of a completed job, through its signed link (no
/// token) and through the API, checking each against its listed sha256.
async fn download_parts(service: &TestService, token: &str, job: &Value) -> Vec<Vec<u8>> {
    let id = job["id"].as_str().unwrap();
    let mut out = Vec::new();
    for part in job["parts"].as_array().expect("the job lists its parts") {
        let link = part["downloadUrl"].as_str().expect("a signed link");
        let signed = reqwest::get(link).await.unwrap();
        assert_eq!(signed.status(), 200, "{part}");
        let bytes = signed.bytes().await.unwrap().to_vec();
        let index = part["index"].as_u64().unwrap();
        let response = service
            .get(token, &format!("/api/export-jobs/{id}/parts/{index}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            part["contentType"].as_str().unwrap()
        );
        assert_eq!(response.bytes().await.unwrap().to_vec(), bytes);
        assert_eq!(part["size"], bytes.len() as u64, "{part}");
        assert_eq!(part["sha256"], sha256(&bytes), "{part}");
        out.push(bytes);
    }
    out
}

/// CSV parts less every header but the first.
fn concatenated(parts: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let body_start = part.iter().position(|&b| b == b'\n').unwrap() + 1;
        if i == 0 {
            out.extend_from_slice(part);
        } else {
            assert_eq!(
                part[..body_start],
                parts[0][..body_start],
                "every part has the header"
            );
            out.extend_from_slice(&part[body_start..]);
        }
    }
    out
}

#[tokio::test]
async fn parts_concatenate_to_the_single_file_and_match_their_manifest() {
    let service = TestService::start_with(3_000, |_| {}).await;
    let token = service.token(ADMIN).await;
    let (single, _, plain) = service.export_and_download(&token, request("csv")).await;
    let rows = single["file"]["rows"].as_u64().unwrap();
    assert!(rows > 1_000, "enough rows for several parts: {rows}");

    let mut body = request("csv");
    body["partMaxRows"] = json!(250);
    let (job, headers, manifest_bytes) = service.export_and_download(&token, body).await;
    assert_eq!(job["partMaxRows"], 250);
    let parts = job["parts"].as_array().unwrap();
    assert_eq!(parts.len() as u64, rows.div_ceil(250), "{job}");
    for (i, part) in parts.iter().enumerate() {
        assert_eq!(part["index"], i as u64 + 1);
        let expected = if i + 1 < parts.len() {
            250
        } else {
            rows - 250 * (parts.len() as u64 - 1)
        };
        assert_eq!(part["rows"], expected, "{part}");
        assert_eq!(
            part["name"],
            format!("sessions_2026-01-01_2026-06-30.part-{:04}.csv", i + 1)
        );
    }
    let downloaded = download_parts(&service, &token, &job).await;
    for part in &downloaded {
        python_read("csv", part, &[]);
    }
    assert!(
        concatenated(&downloaded) == plain,
        "the parts, less repeated headers, are exactly the single file"
    );
    assert_eq!(job["progress"]["rowsWritten"], rows);
    assert_eq!(
        job["progress"]["bytesWritten"],
        downloaded.iter().map(Vec::len).sum::<usize>() as u64
    );

    // The job's file is its manifest, and the manifest endpoint serves it.
    assert_eq!(
        job["file"]["name"],
        "sessions_2026-01-01_2026-06-30.manifest.json"
    );
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(job["file"]["sha256"], sha256(&manifest_bytes));
    assert_eq!(job["file"]["rows"], rows);
    let id = job["id"].as_str().unwrap();
    let response = service
        .get(&token, &format!("/api/export-jobs/{id}/manifest"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().to_vec(), manifest_bytes);
    let manifest: Value = serde_json::from_slice(&manifest_bytes).unwrap();
    assert_eq!(manifest["manifestVersion"], 1);
    assert_eq!(manifest["jobId"], id);
    assert_eq!(manifest["totalRows"], rows);
    assert_eq!(manifest["format"], "csv");
    assert_eq!(manifest["query"]["dataType"], "sessions");
    assert_eq!(manifest["query"]["dateRange"]["from"], "2026-01-01");
    assert_eq!(manifest["query"]["partMaxRows"], 250);
    assert_eq!(manifest["plugin"]["name"], "csv");
    assert_eq!(
        manifest["plugin"]["version"],
        job["file"]["plugin"]["version"]
    );
    assert_eq!(
        manifest["plugin"]["sha256"],
        job["file"]["plugin"]["sha256"]
    );
    let header =
        String::from_utf8(plain[..plain.iter().position(|&b| b == b'\n').unwrap()].to_vec())
            .unwrap();
    let names: Vec<&str> = manifest["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.join(","), header.trim_end_matches('\r'));
    assert_eq!(manifest["schema"][0]["type"], "text");
    let listed = manifest["parts"].as_array().unwrap();
    assert_eq!(listed.len(), downloaded.len());
    for ((entry, bytes), part) in listed.iter().zip(&downloaded).zip(parts) {
        assert_eq!(entry["index"], part["index"]);
        assert_eq!(entry["name"], part["name"]);
        assert_eq!(entry["rows"], part["rows"]);
        assert_eq!(entry["bytes"], bytes.len() as u64);
        assert_eq!(entry["sha256"], sha256(bytes), "the manifest's checksum");
    }
    assert_eq!(
        manifest["totalBytes"],
        downloaded.iter().map(Vec::len).sum::<usize>() as u64
    );

    // A tampered link opens nothing; a part's link opens only that part.
    let link = parts[0]["downloadUrl"].as_str().unwrap();
    let other = link.replace("/parts/1?", "/parts/2?");
    assert_eq!(reqwest::get(&other).await.unwrap().status(), 403);
    let file_link = link.replace("/parts/1?", "?");
    assert_eq!(reqwest::get(&file_link).await.unwrap().status(), 403);
    let missing = service
        .get(&token, &format!("/api/export-jobs/{id}/parts/999"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // Deleting the job deletes every part with the manifest.
    let before = service.blob_files().len();
    assert!(
        service
            .delete(&token, &format!("/api/export-jobs/{id}"))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    assert_eq!(service.blob_files().len(), before - parts.len() - 1);
    let gone = service
        .get(&token, &format!("/api/export-jobs/{id}/parts/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 410);
    service.stop().await;
}

#[tokio::test]
async fn every_part_is_a_whole_file_of_its_format() {
    let service = TestService::start_with(3_000, |_| {}).await;
    let token = service.token(ADMIN).await;
    let (single, _, plain) = service.export_and_download(&token, request("csv")).await;
    let rows = single["file"]["rows"].as_u64().unwrap();

    // Each XLSX part is a whole workbook with its header row.
    let mut body = request("xlsx");
    body["partMaxRows"] = json!(700);
    let (job, _, _) = service.export_and_download(&token, body).await;
    let downloaded = download_parts(&service, &token, &job).await;
    assert_eq!(downloaded.len() as u64, rows.div_ceil(700));
    let mut total = 0;
    for (part, listed) in downloaded.iter().zip(job["parts"].as_array().unwrap()) {
        let book = python_read("xlsx", part, &["counts=true"]);
        let sheet_rows = book["sheets"][0]["rows"].as_u64().unwrap();
        assert_eq!(sheet_rows, listed["rows"].as_u64().unwrap() + 1, "{book}");
        total += sheet_rows - 1;
    }
    assert_eq!(total, rows);

    // Compressed parts: each a whole gzip file of a whole CSV.
    let mut body = request("csv");
    body["partMaxRows"] = json!(1_000);
    body["compression"] = json!("gzip");
    let (job, _, _) = service.export_and_download(&token, body).await;
    let downloaded = download_parts(&service, &token, &job).await;
    let mut unpacked = Vec::new();
    for (part, listed) in downloaded.iter().zip(job["parts"].as_array().unwrap()) {
        assert!(listed["name"].as_str().unwrap().ends_with(".csv.gz"));
        assert_eq!(listed["contentType"], "application/gzip");
        let plain_part = gunzip(part);
        assert_eq!(listed["uncompressedSize"], plain_part.len() as u64);
        unpacked.push(plain_part);
    }
    assert!(concatenated(&unpacked) == plain);

    // No rows: one part, the header alone.
    let mut body = request("csv");
    body["dateRange"] = json!({"from": "2019-01-01", "to": "2019-01-31"});
    body["partMaxRows"] = json!(10);
    let (job, _, _) = service.export_and_download(&token, body).await;
    let downloaded = download_parts(&service, &token, &job).await;
    assert_eq!(downloaded.len(), 1, "{job}");
    assert_eq!(job["parts"][0]["rows"], 0);
    assert_eq!(
        python_read("csv", &downloaded[0], &[])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    service.stop().await;
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("part.gz");
    std::fs::write(&file, bytes).unwrap();
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import gzip, sys; sys.stdout.buffer.write(gzip.open(sys.argv[1]).read())",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    output.stdout
}

#[tokio::test]
async fn parts_cut_by_size_close_just_past_the_limit() {
    const LIMIT: u64 = 1 << 20;
    let service = TestService::start_with(20_000, |_| {}).await;
    let token = service.token(ADMIN).await;
    let all = json!({"dataType": "sessions", "format": "csv"});
    let (single, _, plain) = service.export_and_download(&token, all.clone()).await;
    assert!(plain.len() as u64 > 3 * LIMIT, "{} bytes", plain.len());

    let mut body = all;
    body["partMaxBytes"] = json!(LIMIT);
    let (job, _, _) = service.export_and_download(&token, body).await;
    let downloaded = download_parts(&service, &token, &job).await;
    assert!(downloaded.len() >= 3, "{job}");
    // Closed at the first row after the limit. Formats hand over bytes in
    // 64 KiB chunks, so a part runs past the limit by less than that plus
    // one row (here at most 36 kB: a long note) and the trailer.
    let slack = (64 << 10) + (40 << 10);
    for part in &downloaded[..downloaded.len() - 1] {
        let size = part.len() as u64;
        assert!(
            (LIMIT..LIMIT + slack).contains(&size),
            "{size} bytes for a limit of {LIMIT}: {:?}",
            downloaded.iter().map(Vec::len).collect::<Vec<_>>()
        );
    }
    assert!(downloaded.last().unwrap().len() as u64 <= LIMIT + slack);
    assert!(concatenated(&downloaded) == plain);
    assert_eq!(job["file"]["rows"], single["file"]["rows"]);
    service.stop().await;
}

#[tokio::test]
async fn part_limits_that_cannot_work_are_refused() {
    let service = TestService::start().await;
    let token = service.token(ADMIN).await;
    for (field, value, says) in [
        ("partMaxRows", json!(0), "partMaxRows must be at least 1"),
        (
            "partMaxBytes",
            json!(1000),
            "partMaxBytes must be at least 1048576",
        ),
        ("partMaxRows", json!(-5), "partMaxRows"),
    ] {
        let mut body = request("csv");
        body[field] = value;
        let response = service
            .post(&token, "/api/export-jobs")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{body}");
        let problem: Value = response.json().await.unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains(says),
            "{problem}"
        );
    }
    // A job that is not in parts has no manifest.
    let (job, _, _) = service.export_and_download(&token, request("csv")).await;
    let id = job["id"].as_str().unwrap();
    assert!(job.get("parts").is_none());
    let problem = service
        .get_json(&token, &format!("/api/export-jobs/{id}/manifest"))
        .await;
    assert_eq!(problem["status"], 404);
    assert!(
        problem["type"].as_str().unwrap().ends_with("no-manifest"),
        "{problem}"
    );
    service.stop().await;
}

#[tokio::test]
async fn expiry_removes_every_part_with_the_manifest() {
    let service = TestService::start_with(3_000, |config| {
        config.exports.retention = std::time::Duration::from_secs(2);
        config.exports.sweep_interval = std::time::Duration::from_millis(200);
    })
    .await;
    let token = service.token(ADMIN).await;
    let mut body = request("csv");
    body["partMaxRows"] = json!(400);
    let (job, _, _) = service.export_and_download(&token, body).await;
    let id = job["id"].as_str().unwrap();
    let parts = job["parts"].as_array().unwrap().len();
    assert!(parts > 2, "{job}");
    assert_eq!(
        service.blob_files().len(),
        parts + 1,
        "the parts and the manifest"
    );

    let expired = service.wait_for(&token, id, "Expired").await;
    assert_eq!(service.blob_files(), Vec::<String>::new());
    assert_eq!(expired["parts"], json!([]), "{expired}");
    let part = service
        .get_json(&token, &format!("/api/export-jobs/{id}/parts/1"))
        .await;
    assert_eq!(part["status"], 410, "{part}");
    let manifest = service
        .get_json(&token, &format!("/api/export-jobs/{id}/manifest"))
        .await;
    assert_eq!(manifest["status"], 410, "{manifest}");
    service.stop().await;
}
