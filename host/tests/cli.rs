//! The `exporter` binary as plugin authors and operators use it.

use std::path::PathBuf;
use std::process::{Command, Output};

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
    }
}

fn exporter(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_exporter"))
        .args(args)
        .env("EXPORTER_PLUGINS_DIR", target_dir().join("plugins"))
        .output()
        .expect("the exporter binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn plugin_run_turns_ndjson_into_csv_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rows.ndjson");
    std::fs::write(
        &input,
        "{\"id\":1,\"name\":\"Zoë, \\\"the\\\" first\",\"at\":\"2026-01-02T03:04:05Z\",\"score\":1.5}\n\
         {\"id\":2,\"name\":null,\"at\":\"2026-01-02T03:04:06.5Z\",\"score\":2}\n",
    )
    .unwrap();
    let output = dir.path().join("out.csv");
    let run = exporter(&[
        "plugin",
        "run",
        "csv",
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--option",
        "line-terminator=lf",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(stdout(&run).starts_with("wrote 2 rows"), "{}", stdout(&run));
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        "id,name,at,score\n1,\"Zoë, \"\"the\"\" first\",2026-01-02T03:04:05Z,1.5\n2,,2026-01-02T03:04:06.500000Z,2.0\n"
    );
}

#[test]
fn plugin_run_reads_csv_with_a_schema_and_writes_json() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rows.csv");
    std::fs::write(&input, "id,amount,day\n7,12.50,2026-03-01\n8,,2026-03-02\n").unwrap();
    let schema = dir.path().join("schema.json");
    std::fs::write(
        &schema,
        r#"[{"name":"id","type":"int64"},{"name":"amount","type":"decimal"},{"name":"day","type":"date"}]"#,
    )
    .unwrap();
    let output = dir.path().join("out.json");
    let run = exporter(&[
        "plugin",
        "run",
        "json",
        "--input",
        input.to_str().unwrap(),
        "--schema",
        schema.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let parsed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
    assert_eq!(
        parsed,
        serde_json::json!([
            {"id": 7, "amount": 12.50, "day": "2026-03-01"},
            {"id": 8, "amount": null, "day": "2026-03-02"}
        ])
    );
}

#[test]
fn plugin_run_fails_with_one_line_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rows.ndjson");
    std::fs::write(&input, "{\"id\":1}\n").unwrap();
    let output = dir.path().join("out.csv");
    let cases: [(&[&str], &str); 4] = [
        (&["--option", "delimiter=;;"], "delimiter"),
        (&["--option", "nope=1"], "unknown option"),
        (&["--option", "novalue"], "key=value"),
        (&["--batch-size", "0"], "--batch-size must be at least 1"),
    ];
    for (extra, expect) in cases {
        let mut args = vec![
            "plugin",
            "run",
            "csv",
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let run = exporter(&args);
        assert!(!run.status.success(), "{extra:?} must fail");
        let err = stderr(&run);
        assert!(err.contains(expect), "{extra:?}: {err}");
        assert!(!output.exists(), "{extra:?}: no partial output");
    }

    let run = exporter(&[
        "plugin",
        "run",
        "csv",
        "--input",
        "/no/such/file.ndjson",
        "--output",
        output.to_str().unwrap(),
    ]);
    assert!(!run.status.success());
    let err = stderr(&run);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("error: opening /no/such/file.ndjson"),
        "{err}"
    );

    let bad = dir.path().join("bad.ndjson");
    std::fs::write(&bad, "{\"id\":1}\n{\"id\":2\n").unwrap();
    let run = exporter(&[
        "plugin",
        "run",
        "csv",
        "--input",
        bad.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ]);
    assert!(!run.status.success());
    let err = stderr(&run);
    assert!(
        err.contains("line 2") && err.contains("not valid JSON"),
        "{err}"
    );
    assert!(!output.exists());
}

#[test]
fn plugin_info_describes_the_format() {
    let run = exporter(&["plugin", "info", "csv"]);
    assert!(run.status.success(), "{}", stderr(&run));
    let info: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(info["name"], "csv");
    assert_eq!(info["fileExtension"], "csv");
    assert_eq!(info["sha256"].as_str().unwrap().len(), 64);
    let names: Vec<&str> = info["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    for name in [
        "delimiter",
        "header",
        "quote-style",
        "line-terminator",
        "null",
        "bom",
    ] {
        assert!(names.contains(&name), "{names:?}");
    }
}

#[test]
fn unknown_plugins_are_a_one_line_error() {
    let run = exporter(&["plugin", "info", "nosuchformat"]);
    assert!(!run.status.success());
    assert!(
        stderr(&run).contains("no built-in format \"nosuchformat\""),
        "{}",
        stderr(&run)
    );
}

/// The full conformance kit, a million rows included, for each built-in.
#[test]
fn the_builtin_plugins_pass_the_conformance_kit() {
    for format in ["csv", "json", "ndjson"] {
        let run = exporter(&["plugin", "check", format]);
        let out = stdout(&run);
        assert!(
            run.status.success(),
            "{format} failed the kit:\n{out}{}",
            stderr(&run)
        );
        assert!(
            out.contains("1,000,000 rows streamed within limits"),
            "{out}"
        );
        assert!(out.trim_end().ends_with("16 passed, 0 failed"), "{out}");
    }
}

#[test]
fn the_conformance_kit_fails_a_sloppy_plugin() {
    let sloppy = target_dir().join("test-plugins/naive-csv.wasm");
    let run = exporter(&[
        "plugin",
        "check",
        sloppy.to_str().unwrap(),
        "--large-rows",
        "200000",
    ]);
    let out = stdout(&run);
    assert!(
        !run.status.success(),
        "a naive CSV writer must fail:\n{out}"
    );
    let failed: Vec<&str> = out.lines().filter(|l| l.starts_with("FAIL")).collect();
    let failed_case = |name: &str| failed.iter().any(|l| l.contains(name));
    assert!(
        failed_case("quotes, delimiters and line breaks"),
        "no quoting is caught:\n{out}"
    );
    assert!(
        failed_case("batch sizes 1 and 10,000"),
        "a header per batch is caught:\n{out}"
    );
    assert!(
        failed_case("rows streamed within limits"),
        "buffering is caught:\n{out}"
    );
    // What it does right still passes: the kit names the faults, not everything.
    assert!(out.contains("PASS one row"), "{out}");
    assert!(out.contains("PASS unknown option refused"), "{out}");
}

#[test]
fn migrate_seed_and_export_a_dataset_from_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/exporter.db", dir.path().display());
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_exporter"))
            .args(args)
            .env("EXPORTER_DATABASE_URL", &url)
            .env("EXPORTER_PLUGINS_DIR", target_dir().join("plugins"))
            .output()
            .unwrap()
    };
    let migrate = run(&["migrate"]);
    assert!(migrate.status.success(), "{}", stderr(&migrate));
    let seed = run(&["demo-data", "--rows", "400"]);
    assert!(
        stdout(&seed).contains("400 sessions, 800 analytics events"),
        "{}",
        stdout(&seed)
    );
    let again = run(&["demo-data", "--rows", "400"]);
    assert!(
        stdout(&again).contains("already present"),
        "seeding is idempotent: {}",
        stdout(&again)
    );

    let out = dir.path().join("february.csv");
    let export = run(&[
        "dataset",
        "export",
        "--data-type",
        "sessions",
        "--format",
        "csv",
        "--from",
        "2026-02-01",
        "--to",
        "2026-02-28",
        "--organization",
        "globex",
        "--column",
        "started_at",
        "--column",
        "user_email",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(export.status.success(), "{}", stderr(&export));
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("started_at,user_email"));
    let rows: Vec<&str> = lines.collect();
    assert!(!rows.is_empty());
    for row in &rows {
        assert!(
            row.starts_with("2026-02-") && row.ends_with("@globex.test"),
            "{row}"
        );
    }
    assert!(
        stdout(&export).starts_with(&format!("exported {} sessions rows", rows.len())),
        "{}",
        stdout(&export)
    );

    let bad = run(&[
        "dataset",
        "export",
        "--data-type",
        "users",
        "--format",
        "csv",
        "--column",
        "password",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    // The last line, after the one that says which data directory it used.
    assert!(
        stderr(&bad)
            .lines()
            .last()
            .unwrap()
            .starts_with("error: unknown column \"password\" for users"),
        "{}",
        stderr(&bad)
    );
}

/// `exporter config show`: the effective configuration as TOML, each value
/// with where it came from, the secret hidden.
#[test]
fn config_show_prints_each_value_with_its_origin_and_hides_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("exporter.toml");
    std::fs::write(
        &file,
        "link_ttl = \"2h\"\n\n[server]\nlisten = \"0.0.0.0:9000\"\n\n[sandbox]\nmemory_bytes = \"64MiB\"\n",
    )
    .unwrap();
    let show = |extra: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_exporter"));
        // Only the variables set here: none of the caller's EXPORTER_*.
        command
            .env_clear()
            .args(["config", "show", "--config", file.to_str().unwrap()])
            .env("EXPORTER_DATA_DIR", dir.path())
            .env("EXPORTER_RETENTION", "3h")
            .env("EXPORTER_WORKER__CONCURRENCY", "7")
            .env("EXPORTER_JWT_SECRET", "do-not-print-me");
        for (name, value) in extra {
            command.env(name, value);
        }
        command.output().expect("the exporter binary runs")
    };
    let output = show(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let from_file = format!("# from {}", file.display());
    for line in [
        "retention = \"3h\"  # from EXPORTER_RETENTION".to_owned(),
        "concurrency = 7  # from EXPORTER_WORKER__CONCURRENCY".to_owned(),
        format!(
            "data_dir = {:?}  # from EXPORTER_DATA_DIR",
            dir.path().display().to_string()
        ),
        format!("ttl = \"2h\"  {from_file}"),
        format!("listen = \"0.0.0.0:9000\"  {from_file}"),
        format!("memory_bytes = \"64MiB\"  {from_file}"),
        "max_attempts = 5  # default".to_owned(),
        "jwt_secret = \"<hidden>\"  # from EXPORTER_JWT_SECRET".to_owned(),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "no line {line:?} in\n{text}"
        );
    }
    assert!(!text.contains("do-not-print-me"), "{text}");
    let parsed: toml::Table = toml::from_str(&text).expect("the output is TOML");
    assert_eq!(parsed["worker"]["concurrency"].as_integer(), Some(7));

    // A typo is refused by name, not ignored.
    let output = show(&[("EXPORTER_RETENTOIN", "1h")]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("EXPORTER_RETENTOIN"),
        "{}",
        stderr(&output)
    );
}
