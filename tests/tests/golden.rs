//! Golden exports: the sha256 of a fixed set of exports, so a change that
//! should not touch what users download (moving modules into crates, a
//! dependency bump, a refactor of the pipeline) is seen to keep every byte.
//!
//! Every dataset × every built-in format, on the demo data at a fixed size,
//! with a fixed `generated_at`, through the pipeline every export runs
//! (`exporter::driver::Export`, as the job runner and the direct
//! exports call it) with the job runner's context, options and batch size;
//! plus gzip and zstd through the runner's `CompressingSink`, and one export
//! in parts (`Export::in_parts`) with its
//! `manifest.json`, built as the runner builds it but with fixed ids and
//! times.
//!
//! The expected digests are in `tests/golden/exports.sha256`. A difference
//! fails the test, listing every export that differs. When the bytes are
//! meant to change, regenerate the file and review its diff:
//!
//! ```sh
//! EXPORTER_BLESS_GOLDEN=1 cargo nextest run -p exporter-tests --test golden
//! ```
//!
//! The digests depend on the plugins in `target/plugins` (`cargo xtask
//! plugins`): the manifest names its plugin's sha256, and every file is
//! what its plugin wrote. SQLite only: PostgreSQL's `jsonb` normalizes the
//! JSON columns' text (see `exporter::source::catalog`), and
//! `tests/datasets.rs` already compares the engines.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use exporter::batch::DEFAULT_BATCH_ROWS;
use exporter::compress::{CompressingSink, Compression};
use exporter::driver::Export;
use exporter::export::Headings;
use exporter::jobs::ExportRequest;
use exporter::parts::{
    FinishedPart, MAX_PARTS, Manifest, ManifestInput, ManifestPlugin, PartPlan, PartPublisher,
    PartRecord, manifest_name, part_name,
};
use exporter::plugins::{ChunkSink, ExportContext, Formatter};
use exporter::progress::Written;
use exporter::source::ExportQuery;
use exporter::source::catalog::seed;
use exporter::source::demo::{self, Seeded};
use exporter::source::query::Access;
use exporter_tests::databases::TestDatabase;
use exporter_tests::{MemorySink, load};
use sha2::{Digest as _, Sha256};

/// Demo sessions seeded (analytics events are twice as many).
const ROWS: u64 = 300;

/// When every golden export was "requested": 2026-03-01T12:00:00Z.
const GENERATED_AT: i64 = 1_772_366_400_000_000;

/// When the export in parts "completed" (its manifest says).
const COMPLETED_AT: i64 = GENERATED_AT + 90_000_000;

/// The export in parts' job id (a ULID, as the service makes them).
const PARTED_JOB_ID: &str = "01KJ0GQ0000000000000000000";

/// Rows per part: 300 sessions make 3 parts, the last one short.
const PART_MAX_ROWS: u64 = 128;

/// The built-in formats, each a plugin in `target/plugins`.
const FORMATS: [&str; 5] = ["csv", "json", "ndjson", "xlsx", "pdf"];

const BLESS: &str = "EXPORTER_BLESS_GOLDEN";

/// Every shipped dataset (`datasets/default.toml`): a new one fails the
/// comparison below until it has golden files.
fn datasets() -> Vec<String> {
    seed::default_datasets()
        .into_iter()
        .map(|d| d.name)
        .collect()
}

fn golden_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden/exports.sha256")
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Every row of every organization, every column in the dataset's order.
fn everything(name: &str) -> ExportQuery {
    ExportQuery {
        dataset: seed::dataset(name),
        organization_id: None,
        user_id: None,
        from: None,
        to: None,
        columns: Vec::new(),
        filters: Default::default(),
        access: Access::unkeyed_superadmin(),
    }
}

/// The context the job runner gives a plugin for such a query (title,
/// properties in its order), at [`GENERATED_AT`].
fn context(name: &str) -> ExportContext {
    let mut title = name.to_owned();
    title[..1].make_ascii_uppercase();
    ExportContext {
        title: format!("{title} export"),
        generated_at: GENERATED_AT,
        properties: vec![("Data".to_owned(), name.to_owned())],
    }
}

/// One file through the pipeline, compressed as the runner compresses.
async fn export_one(
    db: &TestDatabase,
    formatter: &Formatter,
    data_type: &str,
    compression: Option<Compression>,
) -> Vec<u8> {
    let memory = MemorySink::default();
    let sink: Box<dyn ChunkSink> = match compression {
        Some(compression) => Box::new(CompressingSink::new(compression, memory.clone()).unwrap()),
        None => Box::new(memory.clone()),
    };
    let stats = Export {
        source: (&db.db).into(),
        query: &everything(data_type),
        formatter,
        options: Vec::new(),
        headings: Headings::Names,
        context: context(data_type),
        batch_rows: DEFAULT_BATCH_ROWS,
        progress: None,
    }
    .to_sink(sink)
    .await
    .unwrap_or_else(|e| panic!("exporting {data_type} failed: {e}"));
    let bytes = memory.take();
    assert!(
        !bytes.is_empty() && (data_type == "dashboard" || stats.rows > 0),
        "{data_type} wrote nothing"
    );
    bytes
}

/// Parts kept in memory, recorded as the runner records them.
/// Parts written so far, shared with the sinks that write them.
type Shared<T> = Arc<Mutex<T>>;

struct Parts {
    file_name: String,
    content_type: String,
    plugin_sha256: String,
    open: Option<MemorySink>,
    done: Shared<Vec<(PartRecord, Vec<u8>)>>,
}

impl PartPublisher for Parts {
    fn open(&mut self, _index: u32) -> anyhow::Result<Box<dyn ChunkSink>> {
        let sink = MemorySink::default();
        self.open = Some(sink.clone());
        Ok(Box::new(sink))
    }

    fn publish(&mut self, part: FinishedPart) -> anyhow::Result<()> {
        let bytes = self.open.take().expect("a part is open").take();
        let name = part_name(&self.file_name, part.index);
        let record = PartRecord {
            job_id: PARTED_JOB_ID.to_owned(),
            part_index: i64::from(part.index),
            name: name.clone(),
            blob_key: name,
            content_type: self.content_type.clone(),
            row_count: part.rows as i64,
            size: bytes.len() as i64,
            sha256: sha256(&bytes),
            uncompressed_size: None,
            last_range: None,
            last_id: None,
            last_key: part.last_key.as_ref().map(|k| k.to_json()),
            plugin_sha256: self.plugin_sha256.clone(),
            published_at: COMPLETED_AT,
            warnings: exporter::parts::store::warnings_column(&part.run.warnings),
        };
        self.done.lock().unwrap().push((record, bytes));
        Ok(())
    }
}

/// Sessions as CSV in parts of [`PART_MAX_ROWS`], from a client's request
/// as the job runner reads it: (name, bytes) of every part, then of the
/// manifest.
async fn export_in_parts(db: &TestDatabase, formatter: &Formatter) -> Vec<(String, Vec<u8>)> {
    let request: ExportRequest = serde_json::from_value(serde_json::json!({
        "dataType": "sessions", "format": "csv", "partMaxRows": PART_MAX_ROWS
    }))
    .unwrap();
    let query = request
        .query(seed::dataset("sessions"), Access::unkeyed_superadmin())
        .unwrap();
    let info = formatter.info().clone();
    // The runner's name for a file of every day.
    let file_name = format!(
        "{}_all.{}",
        request.data_type,
        info.file_extension.trim_start_matches('.')
    );
    let done = Arc::new(Mutex::new(Vec::new()));
    let publisher = Parts {
        file_name: file_name.clone(),
        content_type: info.media_type.clone(),
        plugin_sha256: formatter.digest().to_owned(),
        open: None,
        done: done.clone(),
    };
    let plan = PartPlan {
        max_rows: request.part_max_rows,
        max_bytes: request.part_max_bytes,
        first_index: 0,
        max_parts: MAX_PARTS,
    };
    let stats = Export {
        source: (&db.db).into(),
        query: &query,
        formatter,
        options: request.plugin_options(),
        headings: Headings::Names,
        context: context(&query.dataset.name),
        batch_rows: DEFAULT_BATCH_ROWS,
        progress: None,
    }
    .in_parts(plan, None, Written::default(), Box::new(publisher))
    .await
    .unwrap();
    assert_eq!(stats.parts as u64, ROWS.div_ceil(PART_MAX_ROWS));

    let parts = std::mem::take(&mut *done.lock().unwrap());
    let records: Vec<PartRecord> = parts.iter().map(|(record, _)| record.clone()).collect();
    let manifest = Manifest::new(ManifestInput {
        job_id: PARTED_JOB_ID,
        organization_id: &demo::demo_id("organization", "acme"),
        created_at: GENERATED_AT,
        completed_at: COMPLETED_AT,
        request: &request,
        dataset_version: 1,
        schema: &query.schema().unwrap(),
        masked: &[],
        plugin: ManifestPlugin {
            name: info.name.clone(),
            version: info.version.clone(),
            sha256: formatter.digest().to_owned(),
        },
        parts: &records,
    });
    assert_eq!(manifest.total_rows, ROWS);
    // As the runner stores it.
    let body = serde_json::to_vec_pretty(&manifest).unwrap();
    let mut files: Vec<(String, Vec<u8>)> = parts
        .into_iter()
        .map(|(record, bytes)| (record.name, bytes))
        .collect();
    files.push((manifest_name(&file_name), body));
    files
}

/// (name, sha256) of every golden export.
async fn golden_exports() -> BTreeMap<String, String> {
    let db = TestDatabase::sqlite().await;
    assert!(matches!(
        demo::seed(&db.db, ROWS).await.unwrap(),
        Seeded::Inserted { .. }
    ));
    let mut digests = BTreeMap::new();
    let mut record = |name: String, bytes: &[u8]| {
        assert!(
            digests.insert(name.clone(), sha256(bytes)).is_none(),
            "{name} is exported twice"
        );
    };
    for format in FORMATS {
        let formatter = load(format);
        for data_type in datasets() {
            let bytes = export_one(&db, &formatter, &data_type, None).await;
            record(format!("{data_type}.{format}"), &bytes);
        }
    }
    let csv = load("csv");
    for (compression, extension) in [(Compression::Gzip, "gz"), (Compression::Zstd, "zst")] {
        let bytes = export_one(&db, &csv, "sessions", Some(compression)).await;
        record(format!("sessions.csv.{extension}"), &bytes);
    }
    let xlsx = load("xlsx");
    let bytes = export_one(&db, &xlsx, "analytics", Some(Compression::Gzip)).await;
    record("analytics.xlsx.gz".to_owned(), &bytes);
    for (name, bytes) in export_in_parts(&db, &csv).await {
        record(name, &bytes);
    }
    digests
}

fn parse_golden(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (digest, name) = line
                .split_once("  ")
                .unwrap_or_else(|| panic!("not `<sha256>  <name>`: {line:?}"));
            (name.trim().to_owned(), digest.trim().to_owned())
        })
        .collect()
}

fn render_golden(digests: &BTreeMap<String, String>) -> String {
    let mut text = String::from(
        "# sha256 of the golden exports (tests/tests/golden.rs): the demo data at a fixed\n\
         # size and time, through the export pipeline and the built plugins.\n\
         # Regenerate only when the bytes are meant to change:\n\
         #   EXPORTER_BLESS_GOLDEN=1 cargo nextest run -p exporter-tests --test golden\n",
    );
    for (name, digest) in digests {
        text.push_str(&format!("{digest}  {name}\n"));
    }
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn every_export_is_byte_for_byte_the_golden_one() {
    let actual = golden_exports().await;
    let path = golden_file();
    if std::env::var_os(BLESS).is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, render_golden(&actual)).unwrap();
        println!(
            "{BLESS}=1: wrote {} digests to {}",
            actual.len(),
            path.display()
        );
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with {BLESS}=1 (and review it)",
            path.display()
        )
    });
    let expected = parse_golden(&text);
    let mut differences = Vec::new();
    for (name, digest) in &actual {
        match expected.get(name) {
            Some(want) if want == digest => {}
            Some(want) => differences.push(format!("{name}: expected {want}, got {digest}")),
            None => differences.push(format!("{name}: not in the golden file (got {digest})")),
        }
    }
    for (name, want) in &expected {
        if !actual.contains_key(name) {
            differences.push(format!("{name}: expected {want}, but it was not exported"));
        }
    }
    for difference in &differences {
        println!("MISMATCH {difference}");
    }
    assert!(
        differences.is_empty(),
        "{} of {} golden exports differ from {}:\n{}\n(if the change is meant, rerun with {BLESS}=1 and review the diff)",
        differences.len(),
        expected.len().max(actual.len()),
        path.display(),
        differences.join("\n")
    );
    println!("{} golden exports match", actual.len());
}
