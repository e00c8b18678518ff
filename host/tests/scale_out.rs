//! Scale-out on PostgreSQL with real processes: one `exporter api` and
//! several `exporter worker`s on one database and one blob store. Every job
//! runs exactly once; workers killed with SIGKILL mid-export lose nothing;
//! neither do connections to the database cut mid-run.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use exporter_tests::databases::ScratchPostgres;
use exporter_tests::process::{Client, command, ended, listening, run, sha256_hex};
use serde_json::json;

const SECRET: &str = "scale-out-test-secret";

/// A scratch PostgreSQL database, a shared blob directory, and the
/// processes started on them (killed, then the database dropped, on drop).
struct Cluster {
    db: ScratchPostgres,
    /// What the processes connect to: the database, or a proxy to it.
    url: String,
    dir: tempfile::TempDir,
    children: Vec<Child>,
}

impl Cluster {
    /// Migrated and seeded with `rows` demo sessions.
    async fn new(rows: u64) -> Self {
        let db = ScratchPostgres::create().await;
        let cluster = Self {
            url: db.url.clone(),
            db,
            dir: tempfile::tempdir().unwrap(),
            children: Vec::new(),
        };
        let out = run(cluster.command("cli").arg("migrate"));
        assert!(out.status.success(), "{out:?}");
        let out = run(cluster
            .command("cli")
            .args(["demo-data", "--rows", &rows.to_string()]));
        assert!(out.status.success(), "{out:?}");
        cluster
    }

    fn blobs(&self) -> PathBuf {
        self.dir.path().join("blobs")
    }

    /// The binary with this cluster's database, blob store and secret; its
    /// own data directory (plugin cache) per `process`.
    fn command(&self, process: &str) -> Command {
        let mut command = command(&self.dir.path().join(process));
        command
            .env("EXPORTER_DATABASE_URL", &self.url)
            .env(
                "EXPORTER_BLOB_URL",
                format!("file://{}", self.blobs().display()),
            )
            .env("EXPORTER_JWT_SECRET", SECRET);
        command
    }

    /// Starts `exporter api` or `exporter worker`; returns its URL and its
    /// index in `children`.
    fn start(&mut self, role: &str) -> (String, usize) {
        self.start_with(role, &[])
    }

    /// [`Cluster::start`] with more environment (configuration).
    fn start_with(&mut self, role: &str, env: &[(&str, &str)]) -> (String, usize) {
        let process = format!("{role}-{}", self.children.len());
        let mut command = self.command(&process);
        command.envs(env.iter().copied());
        command.args([role, "--listen", "127.0.0.1:0"]);
        let (child, url, _) = listening(command);
        self.children.push(child);
        (url, self.children.len() - 1)
    }

    fn token(&self, email: &str) -> String {
        let out = run(self.command("cli").args(["token", "--user", email]));
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    async fn sql<T>(&self, sql: &str) -> Vec<T>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
    {
        let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        rows
    }

    /// Every file under the blob directory, staging files included.
    fn files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                if entry.path().is_dir() {
                    walk(&entry.path(), out);
                } else {
                    out.push(entry.path());
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.blobs().join("exports"), &mut out);
        out.sort();
        out
    }
}

impl Drop for Cluster {
    /// The processes go first; the database (`ScratchPostgres`) after.
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `workers` worker processes drain `jobs` jobs created through one API
/// process: each runs once, every worker takes some, one file per job.
///
/// Each worker runs one export at a time, and the exports are big enough
/// (20,000 sessions seeded) that the queue backs up: a busy worker does
/// not fetch, so the waiting tasks must go to the others. With two slots a
/// worker and small exports, whichever process answered notifications
/// first could take every task while the rest of the suite contended for
/// the machine's two cores, and a worker went without through no fault of
/// the queue.
async fn drain(workers: usize, jobs: usize) {
    let mut cluster = Cluster::new(20_000).await;
    let (url, _) = cluster.start("api");
    for _ in 0..workers {
        cluster.start_with("worker", &[("EXPORTER_WORKER_CONCURRENCY", "1")]);
    }
    let client = Client {
        http: reqwest::Client::new(),
        url,
        token: cluster.token("admin@acme.test"),
    };
    let formats = ["csv", "json", "ndjson"];
    let data_types = ["users", "sessions", "analytics"];
    let mut ids = Vec::new();
    for i in 0..jobs {
        let body = json!({"dataType": data_types[i % 3], "format": formats[(i / 3) % 3]});
        ids.push(client.create(body).await);
    }
    for id in &ids {
        let job = client.wait(id, Duration::from_secs(120), ended).await;
        assert_eq!(job["status"], "Completed", "{job}");
        assert_eq!(job["attempts"], 1, "ran once: {job}");
        let bytes = client.download(id).await;
        assert_eq!(sha256_hex(&bytes), job["file"]["sha256"], "{job}");
    }
    assert_eq!(
        cluster.files().len(),
        jobs,
        "one file per job, nothing staged"
    );

    // The queue's view: every task done, and every worker took some.
    let tasks: Vec<(String, Option<String>)> = cluster
        .sql("SELECT status, lock_by FROM apalis.jobs WHERE job_type = 'exporter.exports'")
        .await;
    assert_eq!(tasks.len(), jobs);
    assert!(
        tasks.iter().all(|(status, _)| status == "Done"),
        "{tasks:?}"
    );
    let mut by: Vec<_> = tasks.iter().filter_map(|(_, by)| by.clone()).collect();
    by.sort();
    by.dedup();
    assert_eq!(
        by.len(),
        workers,
        "every worker drained the queue: {tasks:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_workers_drain_one_queue_exactly_once() {
    drain(2, 30).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn three_workers_drain_one_queue_exactly_once() {
    drain(3, 45).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn workers_killed_mid_export_lose_nothing() {
    // Enough rows that the PDF takes seconds: at ~180k rows/s, 60,000 rows
    // were written whole between two polls of the test (a progress report
    // comes every 500 ms), and the kill found a finished file.
    let mut cluster = Cluster::new(250_000).await;
    let (url, _) = cluster.start("api");
    let client = Client {
        http: reqwest::Client::new(),
        url,
        token: cluster.token("admin@acme.test"),
    };
    // A PDF of every analytics event: seconds of work.
    let id = client
        .create(json!({"dataType": "analytics", "format": "pdf"}))
        .await;
    // Two workers in turn are killed with SIGKILL once they have staged
    // parts (1 MiB on a file:// store); each time the next takes the job
    // over when the dead one's lease runs out (three missed 5 s heartbeats).
    for attempt in 1..=2 {
        let (_, doomed) = cluster.start("worker");
        client
            .wait(&id, Duration::from_secs(90), |job| {
                job["attempts"] == attempt
                    && job["progress"]["bytesWritten"].as_i64().unwrap_or(0) > 3 << 20
            })
            .await;
        cluster.children[doomed].kill().unwrap();
        cluster.children[doomed].wait().unwrap();
        let staged = cluster.files();
        assert!(
            !staged.is_empty() && staged.iter().all(|f| f.to_string_lossy().contains('#')),
            "only staging is written before the file is complete: {staged:?}"
        );
        let job = client.job(&id).await;
        assert_eq!(job["status"], "Processing", "{job}");
    }

    cluster.start("worker");
    let job = client.wait(&id, Duration::from_secs(90), ended).await;
    assert_eq!(job["status"], "Completed", "{job}");
    assert_eq!(job["attempts"], 3, "{job}");
    let bytes = client.download(&id).await;
    assert_eq!(sha256_hex(&bytes), job["file"]["sha256"]);
    assert!(
        bytes.starts_with(b"%PDF-") && bytes.ends_with(b"%%EOF\n"),
        "a whole PDF"
    );
    let files = cluster.files();
    assert_eq!(
        files.len(),
        1,
        "the file and nothing the killed attempts staged: {files:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_workers_export_in_parts_resumes_after_its_last_part() {
    let mut cluster = Cluster::new(60_000).await;
    let (url, _) = cluster.start("api");
    let client = Client {
        http: reqwest::Client::new(),
        url,
        token: cluster.token("admin@acme.test"),
    };
    // Small parts, so the export takes long enough to be killed midway.
    let id = client
        .create(json!({"dataType": "sessions", "format": "csv", "partMaxRows": 100}))
        .await;
    let (_, doomed) = cluster.start("worker");
    let count = format!("SELECT COUNT(*) FROM export_parts WHERE job_id = '{id}'");
    let deadline = Instant::now() + Duration::from_secs(90);
    while cluster.sql::<(i64,)>(&count).await[0].0 < 5 {
        assert!(Instant::now() < deadline, "no parts were published");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cluster.children[doomed].kill().unwrap();
    cluster.children[doomed].wait().unwrap();
    let running = client.job(&id).await;
    assert_eq!(
        running["status"], "Processing",
        "killed mid-export: {running}"
    );
    let total = running["progress"]["totalRows"].as_u64().unwrap();
    assert!(total > 5_000, "{total} rows");
    let before: Vec<(i64, String, i64)> = cluster
        .sql(&format!(
            "SELECT part_index, sha256, published_at FROM export_parts WHERE job_id = '{id}' ORDER BY part_index"
        ))
        .await;
    assert!(
        before.len() >= 5,
        "parts were published before the kill: {before:?}"
    );
    assert!(
        (before.len() as u64) < total.div_ceil(100),
        "the kill came before the last part"
    );
    // The files of the recorded parts (a part stored but not yet recorded
    // when the worker died is not published, and is written again).
    let part_files = |cluster: &Cluster| -> Vec<(PathBuf, std::time::SystemTime)> {
        let files = cluster.files();
        (0..before.len())
            .map(|index| {
                let name = format!(".part-{:04}.", index + 1);
                let file = files
                    .iter()
                    .find(|f| {
                        f.to_string_lossy().contains(&name) && !f.to_string_lossy().contains('#')
                    })
                    .unwrap_or_else(|| panic!("part {} has its file: {files:?}", index + 1));
                (
                    file.clone(),
                    std::fs::metadata(file).unwrap().modified().unwrap(),
                )
            })
            .collect()
    };
    let files_before = part_files(&cluster);

    // A published part downloads while the job is still unfinished.
    let listed = &client.job(&id).await["parts"][0];
    assert_eq!(
        sha256_hex(&client.download_part(&id, 1).await),
        listed["sha256"]
    );
    assert_eq!(listed["sha256"], before[0].1.as_str());

    // The next worker takes the job over when the dead one's lease runs out.
    cluster.start("worker");
    let job = client.wait(&id, Duration::from_secs(90), ended).await;
    assert_eq!(job["status"], "Completed", "{job}");
    assert_eq!(job["attempts"], 2, "{job}");

    // The parts published before the kill were not written again: the same
    // record, checksum and file, untouched.
    let after: Vec<(i64, String, i64)> = cluster
        .sql(&format!(
            "SELECT part_index, sha256, published_at FROM export_parts WHERE job_id = '{id}' ORDER BY part_index"
        ))
        .await;
    assert_eq!(after.len() as u64, total.div_ceil(100));
    assert_eq!(
        after[..before.len()],
        before[..],
        "finished parts are kept as they were"
    );
    let last_before = before.last().unwrap().2;
    assert!(
        after[before.len()..]
            .iter()
            .all(|(_, _, at)| *at > last_before),
        "the rest was written by the second attempt"
    );
    assert_eq!(
        part_files(&cluster),
        files_before,
        "the finished parts' files were not rewritten"
    );
    assert!(
        cluster
            .files()
            .iter()
            .all(|f| !f.to_string_lossy().contains('#')),
        "nothing staged is left: {:?}",
        cluster.files()
    );

    // Every row exactly once: the parts, less repeated headers, are the
    // single-file export of the same query.
    let mut joined = Vec::new();
    let parts = job["parts"].as_array().unwrap();
    for (i, part) in parts.iter().enumerate() {
        let bytes = client
            .download_part(&id, part["index"].as_u64().unwrap())
            .await;
        assert_eq!(sha256_hex(&bytes), part["sha256"], "{part}");
        let body = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
        joined.extend_from_slice(if i == 0 { &bytes[..] } else { &bytes[body..] });
    }
    let single = client
        .create(json!({"dataType": "sessions", "format": "csv"}))
        .await;
    let done = client
        .wait(&single, Duration::from_secs(90), |job| {
            job["status"] == "Completed"
        })
        .await;
    assert_eq!(done["file"]["rows"].as_u64(), Some(total));
    assert!(
        joined == client.download(&single).await,
        "every row exactly once"
    );
    let manifest: serde_json::Value = serde_json::from_slice(&client.download(&id).await).unwrap();
    assert_eq!(manifest["totalRows"].as_u64(), Some(total));
    assert_eq!(manifest["parts"].as_array().unwrap().len(), parts.len());
}

/// A TCP proxy to PostgreSQL that the test can cut (every connection
/// dropped, new ones refused) and restore on the same port.
struct Proxy {
    port: u16,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut proxy = Self { port, task: None };
        proxy.serve(listener);
        proxy
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        self.task = Some(tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect("127.0.0.1:5432").await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        }));
    }

    /// Drops every connection and refuses new ones.
    fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            // Aborting the accept loop drops its JoinSet, which aborts
            // every connection's copy.
            task.abort();
        }
    }

    async fn restore(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => break listener,
                Err(e) => {
                    assert!(Instant::now() < deadline, "rebinding the proxy: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        self.serve(listener);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_survive_the_database_going_away() {
    let mut proxy = Proxy::start().await;
    let mut cluster = Cluster::new(60_000).await;
    cluster.url = format!(
        "postgres://postgres@127.0.0.1:{}/{}",
        proxy.port, cluster.db.name
    );
    let (url, _) = cluster.start("serve");
    let client = Client {
        http: reqwest::Client::new(),
        url: url.clone(),
        token: cluster.token("admin@acme.test"),
    };
    let before = client
        .create(json!({"dataType": "users", "format": "csv"}))
        .await;
    client
        .wait(&before, Duration::from_secs(60), |job| {
            job["status"] == "Completed"
        })
        .await;
    // Running when the database goes.
    let running = client
        .create(json!({"dataType": "analytics", "format": "pdf"}))
        .await;
    let job = client
        .wait(&running, Duration::from_secs(60), |job| {
            job["progress"]["bytesWritten"].as_i64().unwrap_or(0) > 1 << 20
        })
        .await;
    assert_eq!(job["status"], "Processing", "{job}");

    proxy.cut();
    // The API answers at once that it cannot, and when to try again.
    for _ in 0..2 {
        let started = Instant::now();
        let response = client
            .http
            .get(format!("{url}/api/export-jobs/{before}"))
            .bearer_auth(&client.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 503);
        assert!(response.headers().contains_key("retry-after"));
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "answered in {:?}",
            started.elapsed()
        );
    }
    let refused = client
        .http
        .post(format!("{url}/api/export-jobs"))
        .bearer_auth(&client.token)
        .json(&json!({"dataType": "users", "format": "json"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    tokio::time::sleep(Duration::from_secs(3)).await;

    proxy.restore().await;
    // Nothing is lost: the finished job is still there, the interrupted
    // one completes, new ones are taken again.
    let job = client
        .wait(&before, Duration::from_secs(30), |job| {
            job["status"] == "Completed"
        })
        .await;
    assert!(job["file"]["sha256"].is_string());
    let after = client
        .create(json!({"dataType": "sessions", "format": "csv"}))
        .await;
    for id in [&running, &after] {
        let job = client.wait(id, Duration::from_secs(120), ended).await;
        assert_eq!(job["status"], "Completed", "{job}");
        if id == &running {
            // Its rows stopped coming mid-export: that attempt failed (with
            // the database gone, not even its error could be recorded) and
            // the job ran again once the database was back.
            assert!(job["attempts"].as_i64().unwrap() >= 2, "{job}");
        }
        let bytes = client.download(id).await;
        assert_eq!(sha256_hex(&bytes), job["file"]["sha256"]);
    }
}

/// Sends `signal` (`STOP`, `CONT`) to a process.
fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// The pid of the worker process whose queue worker holds job `id`'s task
/// (apalis names our workers `exporter-<pid>-...`).
async fn holder(cluster: &Cluster, id: &str) -> Option<u32> {
    let locks: Vec<(Option<String>,)> = cluster
        .sql(&format!(
            "SELECT lock_by FROM apalis.jobs WHERE id = '{id}'"
        ))
        .await;
    let name = locks.into_iter().next()?.0?;
    name.strip_prefix("exporter-")?
        .split('-')
        .next()?
        .parse()
        .ok()
}

/// A worker frozen (SIGSTOP) past its lease mid-export, then thawed
/// (SIGCONT) after the other worker took the job over, again and again:
/// the thawed run finds out at its next write that it lost the job, and
/// gives up without touching the new run's upload. Every job completes
/// once, with the file its completing run wrote: the stored object is
/// exactly the recorded size and sha256, and downloads in full.
#[tokio::test(flavor = "multi_thread")]
async fn workers_frozen_past_their_lease_never_publish_a_file_that_is_not_recorded() {
    // Enough analytics events for a PDF of seconds, so the freeze can come
    // midway.
    let mut cluster = Cluster::new(250_000).await;
    let (url, _) = cluster.start("api");
    // A short lease (three missed 1 s heartbeats), so a freeze of a few
    // seconds loses it.
    let env = [
        ("EXPORTER_WORKER_CONCURRENCY", "1"),
        ("EXPORTER_WORKER_HEARTBEAT", "1s"),
    ];
    let workers = [
        cluster.start_with("worker", &env).1,
        cluster.start_with("worker", &env).1,
    ];
    let pids: Vec<u32> = workers.iter().map(|&w| cluster.children[w].id()).collect();
    let client = Client {
        http: reqwest::Client::new(),
        url,
        token: cluster.token("admin@acme.test"),
    };

    let mut ids = Vec::new();
    for round in 0..3 {
        let id = client
            .create(json!({"dataType": "analytics", "format": "pdf"}))
            .await;
        // Frozen halfway, so once thawed it would finish before the run
        // that took over.
        let half = |job: &serde_json::Value| {
            let rows = job["progress"]["rowsWritten"].as_u64().unwrap_or(0);
            let total = job["progress"]["totalRows"].as_u64().unwrap_or(u64::MAX);
            rows >= total / 3
        };
        let running = client
            .wait(&id, Duration::from_secs(90), |job| {
                job["status"] == "Processing" && half(job)
            })
            .await;
        let attempt = running["attempts"].as_u64().unwrap();
        let frozen = holder(&cluster, &id).await.expect("a worker holds the job");
        assert!(pids.contains(&frozen), "{frozen} is one of {pids:?}");
        signal(frozen, "STOP");
        // The other worker takes the job over once the lease runs out, and
        // gets going; the frozen run, further ahead, is then thawed.
        let taken = client
            .wait(&id, Duration::from_secs(60), |job| {
                job["attempts"].as_u64().unwrap() > attempt
                    && job["progress"]["rowsWritten"].as_u64().unwrap_or(0) > 0
            })
            .await;
        assert_eq!(taken["status"], "Processing", "round {round}: {taken}");
        signal(frozen, "CONT");
        ids.push(id);
    }

    for id in &ids {
        let job = client.wait(id, Duration::from_secs(120), ended).await;
        assert_eq!(job["status"], "Completed", "{job}");
        assert!(job["attempts"].as_u64().unwrap() >= 2, "{job}");
        let size = job["file"]["size"].as_u64().unwrap();
        let response = client
            .http
            .get(format!("{}/api/export-jobs/{id}/download", client.url))
            .bearer_auth(&client.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.content_length(), Some(size), "{job}");
        let bytes = response
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("the download stopped short of {size} bytes: {e}; {job}"));
        assert_eq!(bytes.len() as u64, size, "{job}");
        assert_eq!(sha256_hex(&bytes), job["file"]["sha256"], "{job}");
        assert!(
            bytes.starts_with(b"%PDF-") && bytes.ends_with(b"%%EOF\n"),
            "a whole PDF: {job}"
        );
    }
}

/// A job queued with a day no engine holds (as an earlier version accepted
/// it, before the API refused it with 422; the host's date arithmetic then
/// panicked and the job stayed Processing forever) ends: Failed, saying
/// which day is out of range, and its organization's slot is freed for the
/// next export. How a panic ends a run is tested in `jobs::runner`.
#[tokio::test(flavor = "multi_thread")]
async fn a_job_queued_with_a_day_no_engine_holds_ends_and_frees_its_organization() {
    let mut cluster = Cluster::new(2_000).await;
    let one_at_a_time = [("EXPORTER_ORGANIZATION_CONCURRENCY", "1")];
    let (url, _) = cluster.start_with("api", &one_at_a_time);
    let client = Client {
        http: reqwest::Client::new(),
        url,
        token: cluster.token("admin@acme.test"),
    };
    let id = client
        .create(json!({"dataType": "sessions", "format": "csv"}))
        .await;
    // Queued before any worker runs, then given the range the API now
    // refuses: the run is what is tested, not the API.
    let pool = sqlx::PgPool::connect(&cluster.url).await.unwrap();
    sqlx::query(
        "UPDATE export_jobs SET request = '{\"dataType\":\"sessions\",\"format\":\"csv\",\"dateRange\":{\"to\":\"9999-12-31\"}}' WHERE id = $1",
    )
    .bind(&id)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    cluster.start_with("worker", &one_at_a_time);

    let job = client.wait(&id, Duration::from_secs(60), ended).await;
    // Failed at once (a request's fault is not retried), saying why.
    assert_eq!(job["status"], "Failed", "{job}");
    assert_eq!(job["attempts"], 1, "{job}");
    let error = job["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("9999-12-31") && error.contains("outside the supported range"),
        "{job}"
    );
    let next = client
        .create(json!({"dataType": "users", "format": "csv"}))
        .await;
    let done = client.wait(&next, Duration::from_secs(60), ended).await;
    assert_eq!(done["status"], "Completed", "{done}");
}

/// A run that makes no progress (the table it reads is locked by another
/// session) is stopped after `stall_timeout`, retried, and dead-lettered
/// with an error that says so; its organization's slot is freed while the
/// lock is still held, so the organization's next export completes.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_run_is_stopped_and_frees_its_organization() {
    let mut cluster = Cluster::new(2_000).await;
    let settings = [
        ("EXPORTER_ORGANIZATION_CONCURRENCY", "1"),
        ("EXPORTER_MAX_ATTEMPTS", "2"),
        ("EXPORTER_RETRY_BASE", "1s"),
        ("EXPORTER_STALL_TIMEOUT", "2s"),
    ];
    let (url, _) = cluster.start_with("api", &settings);
    cluster.start_with("worker", &settings);
    let client = Client {
        http: reqwest::Client::new(),
        url,
        token: cluster.token("admin@acme.test"),
    };

    let pool = sqlx::PgPool::connect(&cluster.url).await.unwrap();
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let started = Instant::now();
    let id = client
        .create(json!({"dataType": "sessions", "format": "csv"}))
        .await;
    let job = client.wait(&id, Duration::from_secs(60), ended).await;
    assert_eq!(job["status"], "Failed", "{job}");
    assert_eq!(job["attempts"], 2, "stalled, retried, stalled: {job}");
    let error = job["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("made no progress for 2s") && error.contains("gave up after 2 attempts"),
        "{job}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "two stalls of 2 s each: {:?}",
        started.elapsed()
    );

    // The lock is still held: the slot was freed by the stall, not by it.
    let next = client
        .create(json!({"dataType": "users", "format": "csv"}))
        .await;
    let done = client.wait(&next, Duration::from_secs(60), ended).await;
    assert_eq!(done["status"], "Completed", "{done}");
    lock.rollback().await.unwrap();
    pool.close().await;
}
