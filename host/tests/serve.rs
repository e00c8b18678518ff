//! `exporter serve`, `exporter token` and `exporter export` as a newcomer
//! runs them: real processes, the embedded defaults in a temporary
//! directory, a graceful stop on SIGTERM.

use exporter_tests::process::{command, run, serve, stop};

#[test]
fn serve_token_and_export_work_together() {
    let dir = tempfile::tempdir().unwrap();
    let (server, url, banner) = serve(dir.path());
    assert!(banner.contains("Seeded the demo"), "{banner}");

    let token =
        run(command(dir.path()).args(["token", "--user", "admin@acme.test", "--ttl", "10m"]));
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "a JWT");

    let out = dir.path().join("sessions.csv");
    let export = run(command(dir.path())
        .env("EXPORTER_URL", &url)
        .env("EXPORTER_TOKEN", &token)
        .args([
            "export",
            "--data-type",
            "sessions",
            "--format",
            "csv",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-31",
        ])
        .arg("--out")
        .arg(&out));
    let stdout = String::from_utf8_lossy(&export.stdout);
    assert!(
        export.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&export.stderr)
    );
    assert!(stdout.contains("verified"), "{stdout}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.starts_with("id,user_id,user_email,started_at"),
        "{}",
        &text[..80.min(text.len())]
    );

    // Failure: the server's message, a non-zero exit, no file.
    let bad = dir.path().join("bad.csv");
    let failed = run(command(dir.path())
        .env("EXPORTER_URL", &url)
        .env("EXPORTER_TOKEN", &token)
        .args(["export", "--data-type", "sessions", "--format", "docx"])
        .arg("--out")
        .arg(&bad));
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains("422") && stderr.contains("docx"),
        "{stderr}"
    );
    assert!(!bad.exists());

    // Unknown users get a one-line error.
    let nobody = run(command(dir.path()).args(["token", "--user", "nobody@acme.test"]));
    assert!(!nobody.status.success());
    // After the line that says which data directory it used.
    let stderr = String::from_utf8_lossy(&nobody.stderr);
    assert!(stderr.starts_with("using data directory"), "{stderr}");
    assert!(
        stderr.lines().last().unwrap().starts_with("error: no user"),
        "{stderr}"
    );

    stop(server);

    // A second start does not seed the demo twice.
    let (server, _, banner) = serve(dir.path());
    assert!(banner.contains("already there"), "{banner}");
    stop(server);
}

#[test]
fn bad_configuration_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(command(dir.path())
        .env("EXPORTER_RETENTOIN", "1h")
        .args(["serve"]));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: ") && stderr.contains("retentoin"),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}
