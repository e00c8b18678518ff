//! Attempt fencing, on SQLite and PostgreSQL: once a job is claimed again
//! (its worker froze past its lease), every write of the earlier run is
//! refused (progress, a part, completion, failure, its error) while the
//! new run's go through; and each run stages under its own key, so the
//! stale run aborting its upload leaves the new run's staging alone.
//! (The same with real frozen worker processes is in
//! `host/tests/scale_out.rs`.)

use exporter::blob::{BlobStore, start_upload};
use exporter::db::Database;
use exporter::jobs::repo::{FileRecord, Lease, Start};
use exporter::jobs::{ExportQueue, JobRepo, JobStatus, NewJob};
use exporter::parts::{self, PartRecord};
use exporter::source::demo;
use exporter_tests::databases::TestDatabase;

const JOB: &str = "01JFENCE000000000000000001";

/// A queued job of a seeded organization.
async fn queued(db: &Database) -> JobRepo {
    demo::seed(db, 10).await.unwrap();
    let (organization_id, created_by): (String, String) = exporter::db::fetch_optional(
        db,
        "SELECT organization_id, id FROM users ORDER BY id LIMIT 1",
        &[],
    )
    .await
    .unwrap()
    .unwrap();
    let (queue, _) = ExportQueue::open(db).await.unwrap();
    queue
        .create(&NewJob {
            id: JOB.to_owned(),
            covered_organization_id: Some(organization_id.clone()),
            organization_id,
            created_by,
            data_type: "sessions".into(),
            dataset_version: 1,
            reader_role: exporter::auth::Role::Admin,
            format: "csv".into(),
            request: r#"{"dataType":"sessions","format":"csv"}"#.into(),
            max_attempts: 5,
            idempotency_key: None,
            request_hash: None,
            callback_url: None,
        })
        .await
        .unwrap()
        .unwrap();
    JobRepo::new(db.clone())
}

async fn claim(repo: &JobRepo) -> Lease {
    match repo.start(JOB, 4).await.unwrap() {
        Start::Started { lease, .. } => lease,
        other => panic!("not claimed: {other:?}"),
    }
}

fn part(index: i64, key: &str) -> PartRecord {
    PartRecord {
        job_id: JOB.to_owned(),
        part_index: index,
        name: format!("part-{index}"),
        blob_key: key.to_owned(),
        content_type: "text/csv".into(),
        row_count: 1,
        size: 3,
        sha256: "0".repeat(64),
        uncompressed_size: None,
        last_range: Some(index),
        last_id: Some(format!("row-{index}")),
        plugin_sha256: "0".repeat(64),
        published_at: 0,
        warnings: None,
        last_key: None,
    }
}

fn file(key: &str, sha256: &str) -> FileRecord {
    FileRecord {
        key: key.to_owned(),
        name: "sessions_all.csv".into(),
        content_type: "text/csv".into(),
        size: 3,
        rows: 1,
        sha256: sha256.to_owned(),
        plugin_name: "csv".into(),
        plugin_version: "1".into(),
        plugin_sha256: "0".repeat(64),
        expires_at: i64::MAX,
        uncompressed_size: None,
        bytes_written: 3,
        warnings: Default::default(),
    }
}

/// Every file under `dir`.
fn files(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.path().is_dir() {
                stack.push(entry.path());
            } else {
                out.push(entry.path().display().to_string());
            }
        }
    }
    out.sort();
    out
}

async fn stale_writes_are_refused(db: TestDatabase) {
    let repo = queued(&db.db).await;
    let first = claim(&repo).await;
    assert!(repo.progress(JOB, first, 1, 10).await.unwrap());
    let recorded = part(0, "exports/o/j/run-1/part-0");
    assert!(
        parts::store::insert(&db.db, &recorded, first)
            .await
            .unwrap()
    );

    // The queue hands the job to another worker: a second claim.
    let second = claim(&repo).await;
    assert_ne!(first, second);
    assert!(!repo.holds(JOB, first).await.unwrap());
    assert!(repo.holds(JOB, second).await.unwrap());

    // Everything the first run writes from now on is refused...
    assert!(!repo.progress(JOB, first, 99, 990).await.unwrap());
    assert!(
        !parts::store::insert(&db.db, &part(1, "exports/o/j/run-1/part-1"), first)
            .await
            .unwrap()
    );
    let stale_file = file("exports/o/j/run-1/f.csv", &"1".repeat(64));
    assert!(!repo.complete(JOB, first, &stale_file).await.unwrap());
    assert!(!repo.retry_later(JOB, first, "stale").await.unwrap());
    assert!(!repo.fail(JOB, first, "stale").await.unwrap());
    assert!(!repo.dead_letter(JOB, first, "stale").await.unwrap());
    repo.record_error(JOB, first, 1, "stale").await.unwrap();
    assert!(repo.errors(JOB).await.unwrap().is_empty());
    // ...and it cannot take the parts the new run continues after.
    parts::discard_fenced(
        &db.db,
        &BlobStore::open("file:///tmp/unused-fence").unwrap(),
        JOB,
        first,
    )
    .await
    .unwrap();
    assert_eq!(
        parts::store::parts_of(&db.db, JOB).await.unwrap(),
        vec![recorded.clone()],
        "the part the first run recorded before it lost the job stays"
    );
    let job = repo.get(JOB).await.unwrap().unwrap();
    assert_eq!(job.status(), JobStatus::Processing);
    assert_eq!(
        job.rows_written, 0,
        "the claim reset progress; the stale write did not land"
    );

    // The second run's writes go through, and its file is the job's.
    assert!(repo.progress(JOB, second, 5, 50).await.unwrap());
    assert!(
        parts::store::insert(&db.db, &part(1, "exports/o/j/run-2/part-1"), second)
            .await
            .unwrap()
    );
    let own = file("exports/o/j/run-2/f.csv", &"2".repeat(64));
    assert!(repo.complete(JOB, second, &own).await.unwrap());
    let job = repo.get(JOB).await.unwrap().unwrap();
    assert_eq!(job.status(), JobStatus::Completed);
    assert_eq!(job.file_key.as_deref(), Some("exports/o/j/run-2/f.csv"));
    assert_eq!(job.sha256, Some("2".repeat(64)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_runs_writes_are_refused_on_sqlite() {
    stale_writes_are_refused(TestDatabase::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_runs_writes_are_refused_on_postgres() {
    stale_writes_are_refused(TestDatabase::postgres().await).await;
}

/// Two runs of one job upload at once, each under its own key. The stale
/// one aborts its upload; the new one's staging survives, and so does
/// clearing up after earlier runs, which only touches theirs.
#[tokio::test(flavor = "multi_thread")]
async fn each_run_stages_under_its_own_key_and_aborts_only_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = BlobStore::open(&format!("file://{}", dir.path().display())).unwrap();
    let (old_key, new_key) = (
        blobs.run_key("org", JOB, 1, "f.csv"),
        blobs.run_key("org", JOB, 2, "f.csv"),
    );
    assert_ne!(old_key, new_key);
    let (mut old_sink, old_upload) = start_upload(&blobs, old_key.clone());
    let (mut new_sink, new_upload) = start_upload(&blobs, new_key.clone());
    let write = |sink: &mut exporter::blob::UploadSink, text: &'static [u8]| {
        tokio::task::block_in_place(|| sink.write(text.to_vec()).unwrap())
    };
    write(&mut old_sink, b"old");
    write(&mut new_sink, b"new");
    let staged = |dir: &std::path::Path| -> Vec<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let all = files(dir);
            if all.len() >= 2 || std::time::Instant::now() > deadline {
                return all;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    };
    let both = staged(dir.path());
    assert_eq!(both.len(), 2, "{both:?}");
    assert!(
        both.iter().all(|f| f.contains('#')),
        "staging only: {both:?}"
    );

    // The new run clears what earlier runs staged, never its own.
    assert_eq!(blobs.abort_earlier_uploads("org", JOB, 2), 1);
    let left = files(dir.path());
    assert!(
        left.len() == 1 && left[0].contains("/run-2/"),
        "the new run's staging stays: {left:?}"
    );
    // The stale run aborts: nothing of the new run's goes.
    drop(old_sink);
    old_upload.abort().await;
    drop(new_sink);
    let uploaded = new_upload.commit().await.unwrap();
    assert_eq!(uploaded.key, new_key);
    assert_eq!(uploaded.size, 3);
    assert_eq!(&blobs.read_all(&new_key).await.unwrap()[..], b"new");
    assert!(blobs.read_all(&old_key).await.is_err());
    let left = files(dir.path());
    assert_eq!(left.len(), 1, "{left:?}");
}
