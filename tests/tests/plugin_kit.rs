//! The kit for third-party plugin authors, run as a newcomer would run it:
//! `exporter plugin new` writes a crate whose own tests pass, which builds
//! into a component that passes `exporter plugin check` and runs on rows;
//! bad names and occupied directories are refused in one line; and the
//! Markdown example of `plugins/README.md` passes the kit and writes the
//! table the guide shows.
//!
//! The generated crate builds in `<target>/plugin-kit`, so repeated runs
//! reuse its dependencies and never wait on the workspace's build lock.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use exporter_tests::{
    assert_plugin_check_passes, assert_success, exporter_binary, repo_root, target_dir,
    test_plugin_path,
};

#[test]
fn a_new_plugin_passes_its_tests_and_the_conformance_kit() {
    let work = tempfile::tempdir().unwrap();
    let crate_dir = work.path().join("demo-tsv");
    let output = exporter(work.path())
        .args(["plugin", "new", "demo-tsv", "--dir"])
        .arg(&crate_dir)
        .arg("--sdk")
        .arg(repo_root().join("plugins").join("sdk"))
        .output()
        .expect("exporter runs");
    assert_success("exporter plugin new", &output);
    for file in ["Cargo.toml", "src/lib.rs", "README.md", ".gitignore"] {
        assert!(crate_dir.join(file).is_file(), "{file} was not written");
    }

    let output = cargo(&crate_dir).arg("test").output().expect("cargo runs");
    assert_success("cargo test of the new crate", &output);
    let output = cargo(&crate_dir)
        .args(["build", "--target", "wasm32-wasip2", "--release"])
        .output()
        .expect("cargo runs");
    assert_success("cargo build of the new component", &output);
    let wasm = kit_target_dir().join("wasm32-wasip2/release/exporter_plugin_demo_tsv.wasm");

    assert_plugin_check_passes(exporter(work.path()), &wasm);

    let input = work.path().join("rows.ndjson");
    std::fs::write(
        &input,
        "{\"id\": 1, \"name\": \"tab\\there\"}\n{\"id\": 2, \"name\": null}\n",
    )
    .unwrap();
    let tsv = plugin_run(&wasm, &input, &["null=NULL"], work.path());
    assert_eq!(tsv, "id\tname\n1\ttab\\there\n2\tNULL\n");
}

#[test]
fn plugin_new_refuses_bad_names_and_occupied_directories_in_one_line() {
    let work = tempfile::tempdir().unwrap();
    let sdk = repo_root().join("plugins").join("sdk");

    for name in ["Demo", "demo_tsv", "demo--tsv", "-demo", "9demo"] {
        let dir = work.path().join("bad-name");
        let output = exporter(work.path())
            .args(["plugin", "new", name, "--dir"])
            .arg(&dir)
            .arg("--sdk")
            .arg(&sdk)
            .output()
            .expect("exporter runs");
        let error = one_line_error(&output);
        assert!(
            error.starts_with(&format!("error: invalid plugin name {name:?}")),
            "{name:?}: {error}"
        );
        assert!(!dir.exists(), "{name:?}: a directory was created");
    }

    let occupied = work.path().join("occupied");
    std::fs::create_dir(&occupied).unwrap();
    std::fs::write(occupied.join("notes.txt"), "mine").unwrap();
    let output = exporter(work.path())
        .args(["plugin", "new", "demo", "--dir"])
        .arg(&occupied)
        .arg("--sdk")
        .arg(&sdk)
        .output()
        .expect("exporter runs");
    let error = one_line_error(&output);
    assert!(
        error.ends_with("already exists and is not empty; choose another --dir"),
        "{error}"
    );
    let left: Vec<_> = std::fs::read_dir(&occupied).unwrap().collect();
    assert_eq!(left.len(), 1, "the occupied directory was written to");

    let output = exporter(work.path())
        .args(["plugin", "new", "demo", "--dir"])
        .arg(work.path().join("no-sdk"))
        .arg("--sdk")
        .arg(work.path())
        .output()
        .expect("exporter runs");
    let error = one_line_error(&output);
    assert!(error.contains("is not the Exporter plugin SDK"), "{error}");
}

#[test]
fn the_markdown_example_passes_the_kit_and_writes_a_table() {
    let work = tempfile::tempdir().unwrap();
    let wasm = test_plugin_path("markdown");
    assert_plugin_check_passes(exporter(work.path()), &wasm);

    let input = work.path().join("rows.ndjson");
    std::fs::write(
        &input,
        concat!(
            "{\"id\": 1, \"user\": \"Ann | Bob\", \"score\": 94.5}\n",
            "{\"id\": 2, \"user\": \"two\\nlines\", \"score\": null}\n",
            "{\"id\": 3, \"user\": \"C:\\\\temp\", \"score\": -0.25}\n",
        ),
    )
    .unwrap();
    let expected = "| id | user | score |\n\
                    | ---: | --- | ---: |\n\
                    | 1 | Ann \\| Bob | 94.5 |\n\
                    | 2 | two<br>lines | - |\n\
                    | 3 | C:\\\\temp | -0.25 |\n";
    assert_eq!(
        plugin_run(&wasm, &input, &["null=-"], work.path()),
        expected
    );
    assert_eq!(
        plugin_run(
            &wasm,
            &input,
            &["null=-", "align-numbers=false", "line-breaks=space"],
            work.path()
        ),
        expected
            .replace("---:", "---")
            .replace("two<br>lines", "two lines")
    );
}

/// Feeds `input` through `wasm` with `exporter plugin run` in batches of
/// one row (the kit checks other sizes) and returns the file.
fn plugin_run(wasm: &Path, input: &Path, options: &[&str], work: &Path) -> String {
    let out = work.join("out");
    let mut command = exporter(work);
    command
        .args(["plugin", "run"])
        .arg(wasm)
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(&out)
        .args(["--batch-size", "1"]);
    for option in options {
        command.args(["--option", *option]);
    }
    let output = command.output().expect("exporter runs");
    assert_success("exporter plugin run", &output);
    std::fs::read_to_string(&out).expect("plugin run wrote the file")
}

/// The single stderr line of a failed command.
fn one_line_error(output: &Output) -> String {
    assert!(!output.status.success(), "the command succeeded");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "not one line: {stderr}");
    lines[0].to_owned()
}

/// Cargo in the generated crate, with its own target directory under the
/// workspace's.
fn cargo(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO"));
    command
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", kit_target_dir());
    command
}

fn kit_target_dir() -> PathBuf {
    target_dir().join("plugin-kit")
}

/// The `exporter` binary of this build, with its compile cache under
/// `work`.
fn exporter(work: &Path) -> Command {
    let mut command = Command::new(exporter_binary());
    command
        .env("XDG_CACHE_HOME", work.join("cache"))
        .env("RUST_LOG", "warn");
    command
}
