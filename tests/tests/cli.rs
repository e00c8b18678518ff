//! The `exporter` binary as a client of a running service: `jobs`,
//! `formats`, `datasets`, `export`'s checks before it creates a job, and
//! the one line every mistake or network failure ends with. The service
//! is the real one in process ([`TestService`]); the client is the real
//! binary.

use std::path::Path;
use std::process::{Command, Output};

use exporter_tests::process::{command, listening};
use exporter_tests::service::TestService;
use serde_json::{Value, json};

const ADMIN: &str = "admin@acme.test";

/// The binary in `dir` (its working and data directory), with none of the
/// caller's URL or token.
fn exporter(dir: &Path) -> Command {
    let mut command = command(dir);
    command
        .current_dir(dir)
        .env_remove("EXPORTER_URL")
        .env_remove("EXPORTER_TOKEN")
        .env_remove("EXPORTER_CONFIG");
    command
}

/// `exporter` as a client of `service`, with a token.
fn client(dir: &Path, service: &TestService, token: &str) -> Command {
    let mut command = exporter(dir);
    command
        .env("EXPORTER_URL", &service.url)
        .env("EXPORTER_TOKEN", token);
    command
}

/// Runs it, letting the runtime the service answers on carry on.
async fn run(command: &mut Command) -> Output {
    tokio::task::block_in_place(|| command.output().expect("the exporter binary runs"))
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn succeeds(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{:?}\n{}{}",
        output.status,
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

/// Fails with exit code 1 (not a signal, not a panic) and a last line
/// that contains every one of `parts`.
fn fails_with(output: &Output, parts: &[&str]) -> String {
    assert_eq!(
        output.status.code(),
        Some(1),
        "{:?}\n{}{}",
        output.status,
        stdout(output),
        stderr(output)
    );
    let text = stderr(output);
    let last = text.lines().last().unwrap_or_default().to_owned();
    for part in parts {
        assert!(last.contains(part), "{part:?} not in {last:?}\n{text}");
    }
    assert!(!text.contains("panicked"), "{text}");
    last
}

async fn job_count(service: &TestService, token: &str) -> usize {
    let page = service.get_json(token, "/api/export-jobs?limit=100").await;
    page["items"].as_array().expect("a page").len()
}

async fn completed_job(service: &TestService, token: &str) -> Value {
    let job = service
        .create(token, json!({"dataType": "sessions", "format": "csv"}))
        .await;
    let job = service.wait(token, job["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "Completed", "{job}");
    job
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_list_get_download_and_cancel() {
    let service = TestService::start().await;
    let token = service.token(ADMIN).await;
    let dir = tempfile::tempdir().unwrap();
    let job = completed_job(&service, &token).await;
    let id = job["id"].as_str().unwrap();

    let list = succeeds(&run(client(dir.path(), &service, &token).args(["jobs", "list"])).await);
    assert!(
        list.lines()
            .any(|l| l.starts_with(id) && l.contains("Completed") && l.contains("sessions")),
        "{list}"
    );

    let get = succeeds(&run(client(dir.path(), &service, &token).args(["jobs", "get", id])).await);
    assert!(get.contains("Completed sessions as csv"), "{get}");
    assert!(
        get.contains(&format!("exporter jobs download {id}")),
        "{get}"
    );
    let json: Value = serde_json::from_str(&succeeds(
        &run(client(dir.path(), &service, &token).args(["jobs", "get", id, "--json"])).await,
    ))
    .unwrap();
    assert_eq!(json["id"], id);

    // The download, to a chosen path and to the job's own file name.
    let out = dir.path().join("mine.csv");
    let download = succeeds(
        &run(client(dir.path(), &service, &token)
            .args(["jobs", "download", id, "--out"])
            .arg(&out))
        .await,
    );
    assert!(download.contains("verified"), "{download}");
    let served = service
        .get(&token, &format!("/api/export-jobs/{id}/download"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), served.to_vec());
    succeeds(&run(client(dir.path(), &service, &token).args(["jobs", "download", id])).await);
    let name = job["file"]["name"].as_str().unwrap();
    assert!(
        dir.path().join(name).exists(),
        "the job's file name: {name}"
    );

    // A finished job's cancel deletes its file.
    let cancel =
        succeeds(&run(client(dir.path(), &service, &token).args(["jobs", "cancel", id])).await);
    assert!(cancel.contains(id), "{cancel}");
    assert_eq!(service.job(&token, id).await["status"], "Expired");

    // Not a job, and someone else's path.
    let missing = run(client(dir.path(), &service, &token).args([
        "jobs",
        "get",
        "01ARZ3NDEKTSV4RRFFQ69G5FAV",
    ]))
    .await;
    fails_with(
        &missing,
        &["no job 01ARZ3NDEKTSV4RRFFQ69G5FAV", "jobs list"],
    );
    let odd = run(client(dir.path(), &service, &token).args(["jobs", "get", "../formats"])).await;
    fails_with(&odd, &["is not a job id"]);
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn formats_and_datasets_are_listed() {
    let service = TestService::start().await;
    let token = service.token(ADMIN).await;
    let dir = tempfile::tempdir().unwrap();
    let formats = succeeds(&run(client(dir.path(), &service, &token).arg("formats")).await);
    assert!(formats.lines().any(|l| l.starts_with("csv ")), "{formats}");
    assert!(formats.contains("text/csv"), "{formats}");
    // The datasets are the service's catalog, as the API lists them.
    let datasets = succeeds(&run(client(dir.path(), &service, &token).arg("datasets")).await);
    for name in ["sessions", "users", "analytics", "dashboard"] {
        assert!(datasets.lines().any(|l| l.starts_with(name)), "{datasets}");
    }
    assert!(
        datasets.contains("  started_at         timestamp"),
        "{datasets}"
    );
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_is_checked_before_a_job_is_created() {
    let service = TestService::start().await;
    let token = service.token(ADMIN).await;
    let dir = tempfile::tempdir().unwrap();
    let before = job_count(&service, &token).await;
    let export = |out: &Path, parts: bool| {
        let mut command = client(dir.path(), &service, &token);
        command.args([
            "export",
            "--data-type",
            "sessions",
            "--format",
            "csv",
            "--out",
        ]);
        command.arg(out);
        if parts {
            command.args(["--part-max-rows", "100"]);
        }
        command
    };
    let missing = dir.path().join("no-such-dir").join("x.csv");
    fails_with(
        &run(&mut export(&missing, false)).await,
        &["does not exist"],
    );
    fails_with(
        &run(&mut export(dir.path(), false)).await,
        &["is a directory; expected a file path"],
    );
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    fails_with(
        &run(&mut export(&file, true)).await,
        &["is a file", "needs a directory"],
    );
    assert_eq!(
        job_count(&service, &token).await,
        before,
        "no job was created"
    );
    service.stop().await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_writes_its_file_with_the_users_umask() {
    use std::os::unix::fs::PermissionsExt as _;
    use std::os::unix::process::CommandExt as _;
    let service = TestService::start().await;
    let token = service.token(ADMIN).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sessions.csv");
    let mut command = client(dir.path(), &service, &token);
    command
        .args([
            "export",
            "--data-type",
            "sessions",
            "--format",
            "csv",
            "--out",
        ])
        .arg(&out);
    // SAFETY: umask is async-signal-safe; nothing else runs in the child.
    unsafe {
        command.pre_exec(|| {
            libc::umask(0o027);
            Ok(())
        });
    }
    let output = succeeds(&run(&mut command).await);
    assert!(output.contains("verified"), "{output}");
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "0666 less the umask 027, not tempfile's 0600");
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mistakes_and_network_failures_end_with_one_line_that_says_what_to_do() {
    let service = TestService::start().await;
    let token = service.token(ADMIN).await;
    let dir = tempfile::tempdir().unwrap();

    // No token.
    let mut command = exporter(dir.path());
    command
        .env("EXPORTER_URL", &service.url)
        .args(["jobs", "list"]);
    fails_with(
        &run(&mut command).await,
        &["no token", "EXPORTER_TOKEN", "exporter token"],
    );

    // A refused token.
    let refused = run(client(dir.path(), &service, "not-a-token").args(["jobs", "list"])).await;
    fails_with(&refused, &["refused the token", "exporter token --user"]);

    // Nothing listens there.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut command = client(dir.path(), &service, &token);
    command.args(["formats", "--url", &format!("http://127.0.0.1:{port}")]);
    fails_with(
        &run(&mut command).await,
        &[
            &format!("nothing answers at http://127.0.0.1:{port}"),
            "exporter serve",
            "EXPORTER_URL",
        ],
    );

    // TLS to a plain-HTTP server: one line, not a silent SIGPIPE (141).
    let https = service.url.replacen("http://", "https://", 1);
    for args in [
        vec!["formats"],
        vec![
            "export",
            "--data-type",
            "sessions",
            "--format",
            "csv",
            "--out",
            "x.csv",
        ],
    ] {
        let mut command = client(dir.path(), &service, &token);
        command.args(&args).args(["--url", &https]);
        fails_with(
            &run(&mut command).await,
            &["does not speak TLS", &service.url],
        );
    }

    // The URL's form.
    let mut command = client(dir.path(), &service, &token);
    command.args(["jobs", "list", "--url", &format!("{}/api", service.url)]);
    fails_with(
        &run(&mut command).await,
        &["includes /api", &format!("use {}", service.url)],
    );
    let bare = service.url.trim_start_matches("http://").to_owned();
    let mut command = client(dir.path(), &service, &token);
    command.args(["jobs", "list", "--url", &bare]);
    fails_with(
        &run(&mut command).await,
        &["no http://", "http://HOST:PORT"],
    );
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_commands_never_create_a_data_directory() {
    let scratch = tempfile::tempdir().unwrap();
    let missing = scratch.path().join("nowhere");

    // The flag, the environment variable, and the default ./data.
    let mut by_flag = exporter(scratch.path());
    by_flag
        .arg("--data-dir")
        .arg(&missing)
        .args(["token", "--user", ADMIN]);
    let line = fails_with(
        &run(&mut by_flag).await,
        &[
            &format!("no Exporter data directory at {}", missing.display()),
            "--data-dir",
        ],
    );
    assert!(line.contains("exporter serve"), "{line}");
    let by_flag = stderr(
        &run(exporter(scratch.path())
            .arg("--data-dir")
            .arg(&missing)
            .args(["plugin", "list"]))
        .await,
    );
    assert!(
        by_flag.contains(&format!(
            "using data directory {} (from --data-dir)",
            missing.display()
        )),
        "{by_flag}"
    );

    let by_env = exporter(&missing); // EXPORTER_DATA_DIR=missing
    let mut by_env = by_env;
    by_env
        .current_dir(scratch.path())
        .args(["token", "--user", ADMIN]);
    let output = run(&mut by_env).await;
    fails_with(&output, &["no Exporter data directory"]);
    assert!(
        stderr(&output).contains("from EXPORTER_DATA_DIR"),
        "{}",
        stderr(&output)
    );

    let mut by_default = exporter(scratch.path());
    by_default
        .env_remove("EXPORTER_DATA_DIR")
        .args(["token", "--user", ADMIN]);
    fails_with(&run(&mut by_default).await, &["no Exporter data directory"]);

    assert!(
        !missing.exists(),
        "nothing created at {}",
        missing.display()
    );
    assert!(!scratch.path().join("data").exists(), "no ./data created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_start_side_by_side_without_flags() {
    let dir = tempfile::tempdir().unwrap();
    succeeds(&run(exporter(dir.path()).arg("migrate")).await);
    let start = || {
        let mut command = exporter(dir.path());
        command.arg("worker");
        tokio::task::spawn_blocking(move || listening(command))
    };
    let (first, first_url, _) = start().await.unwrap();
    let (second, second_url, _) = start().await.unwrap();
    assert_ne!(first_url, second_url, "each on its own port");
    assert!(!first_url.ends_with(":8080"), "{first_url}");
    for url in [&first_url, &second_url] {
        let health = reqwest::get(format!("{url}/healthz")).await.unwrap();
        assert!(health.status().is_success(), "{url}");
    }
    for child in [first, second] {
        tokio::task::spawn_blocking(move || exporter_tests::process::stop(child))
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_data_on_a_seeded_database_says_how_to_reseed_and_does_it() {
    let dir = tempfile::tempdir().unwrap();
    let seed = |rows: &str, reseed: bool| {
        let mut command = exporter(dir.path());
        command.args(["demo-data", "--rows", rows]);
        if reseed {
            command.arg("--reseed");
        }
        command
    };
    let first = succeeds(&run(&mut seed("50", false)).await);
    assert!(first.contains("50 sessions"), "{first}");
    let again = succeeds(&run(&mut seed("80", false)).await);
    assert!(again.contains("already present (50 sessions)"), "{again}");
    assert!(
        again.contains("exporter demo-data --rows 80 --reseed"),
        "{again}"
    );
    let reseeded = succeeds(&run(&mut seed("80", true)).await);
    assert!(
        reseeded.contains("80 sessions, 160 analytics events"),
        "{reseeded}"
    );
    let after = succeeds(&run(&mut seed("80", false)).await);
    assert!(after.contains("already present (80 sessions)"), "{after}");
}
