//! Install-time validation in a child process.
//!
//! Validation runs an untrusted component through the whole conformance
//! kit. Inside the service a runaway (a plugin that makes the host buffer,
//! spin outside a guest deadline or allocate) would take the API and the
//! running exports down with it. So the service re-executes itself as
//! `exporter plugin check --install FILE` and only reads the JSON lines it
//! prints: one per kit case, then the report. The child is killed when it
//! outlives the validation budget or its resident memory passes the limit,
//! and the plugin is refused saying which. A child process rather than a
//! bounded thread pool: a thread cannot be killed, and the host memory a
//! thread takes is the service's.
//!
//! Resident memory is watched from `/proc/<pid>/status` rather than capped
//! with `RLIMIT_AS`: wasmtime reserves gigabytes of address space for guard
//! regions it never touches, so an address-space limit would refuse honest
//! plugins long before memory is really used.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::validate::{InstallReport, ValidationSettings};
use exporter_kit::CaseReport;

/// How often the child's memory is looked at.
const WATCH: Duration = Duration::from_millis(25);

/// One line the child prints.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Line {
    /// A kit case finished.
    Case(CaseReport),
    /// Validation finished; the last line.
    Report(Box<InstallReport>),
}

/// Validates `bytes` in a child process within `settings`' budget and
/// memory limit. An `Err` is the service's own failure (the validator would
/// not start); anything the plugin did is in the report.
pub async fn validate(
    bytes: &[u8],
    expected_name: Option<&str>,
    settings: &ValidationSettings,
    cache_dir: Option<&Path>,
) -> anyhow::Result<InstallReport> {
    let started = Instant::now();
    let file = tempfile::Builder::new()
        .prefix("exporter-validate-")
        .suffix(".wasm")
        .tempfile()
        .context("writing the component for validation")?;
    tokio::fs::write(file.path(), bytes)
        .await
        .context("writing the component for validation")?;
    let program = match &settings.validator {
        Some(program) => program.clone(),
        None => std::env::current_exe().context("finding the exporter executable")?,
    };
    let mut command = Command::new(&program);
    command
        .args(["plugin", "check", "--install"])
        .arg(file.path())
        .args(["--large-rows", &settings.check_rows.to_string()])
        .args([
            "--call-timeout-ms",
            &settings.call_timeout.as_millis().to_string(),
        ])
        .args(["--memory-bytes", &settings.memory_bytes.to_string()]);
    if let Some(name) = expected_name {
        command.args(["--expected-name", name]);
    }
    if let Some(dir) = cache_dir {
        command.arg("--cache-dir").arg(dir);
    }
    command
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .with_context(|| format!("starting the validator {}", program.display()))?;
    let pid = child.id();
    let stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    // Killed however this function ends, a dropped request (the client
    // went away) included.
    let mut child = KillOnDrop(child);
    // Blocking pipes, read on their own threads: the lines come through a
    // channel, the last 4 KiB of stderr through the thread's result.
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr_tail = std::thread::spawn(move || {
        let mut tail = Vec::new();
        let mut buffer = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buffer) {
            if n == 0 {
                break;
            }
            tail.extend_from_slice(&buffer[..n]);
            let excess = tail.len().saturating_sub(4096);
            tail.drain(..excess);
        }
        String::from_utf8_lossy(&tail).trim().to_owned()
    });

    let deadline = tokio::time::Instant::now() + settings.budget;
    let mut watch = tokio::time::interval(WATCH);
    let mut cases: Vec<CaseReport> = Vec::new();
    let mut peak = 0u64;
    let stopped = loop {
        tokio::select! {
            line = lines.recv() => match line {
                Some(line) => match serde_json::from_str::<Line>(&line) {
                    Ok(Line::Case(case)) => cases.push(case),
                    Ok(Line::Report(mut report)) => {
                        report.millis = started.elapsed().as_millis() as u64;
                        tracing::debug!(peak_rss = peak, "validated in a child process");
                        return Ok(*report);
                    }
                    Err(_) => tracing::debug!(line, "validator printed a line that is not a report"),
                },
                // No report: the child ended (or closed stdout) early.
                None => break None,
            },
            _ = watch.tick() => {
                let rss = resident_bytes(pid).unwrap_or(0);
                peak = peak.max(rss);
                if rss > settings.max_process_bytes {
                    break Some(format!(
                        "validation used {} MiB of host memory, over its limit of {} MiB, and was stopped{}",
                        rss >> 20,
                        settings.max_process_bytes >> 20,
                        during(&cases)
                    ));
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                break Some(format!(
                    "validation did not finish within its budget of {} s and was stopped{}",
                    settings.budget.as_secs_f64(),
                    during(&cases)
                ));
            }
        }
    };
    let reason = match stopped {
        Some(reason) => reason,
        None => {
            let mut status = None;
            while status.is_none() && tokio::time::Instant::now() < deadline {
                status = child.0.try_wait().ok().flatten();
                tokio::time::sleep(WATCH).await;
            }
            child.kill();
            let tail = if stderr_tail.is_finished() {
                stderr_tail.join().unwrap_or_default()
            } else {
                String::new()
            };
            let status = match status {
                Some(status) => status.to_string(),
                None => "did not exit".into(),
            };
            format!(
                "the validating process ended without a report ({status}){}{}",
                if tail.is_empty() { "" } else { ": " },
                tail.lines().last().unwrap_or("")
            )
        }
    };
    tracing::warn!(reason, "install-time validation stopped");
    let mut report = InstallReport {
        conformance: cases,
        ..InstallReport::default()
    };
    report.step("conformance kit", started, Err(reason));
    report.passed = false;
    report.millis = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// A child process killed (and reaped) when dropped.
struct KillOnDrop(Child);

impl KillOnDrop {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Which case was running when validation was stopped.
fn during(cases: &[CaseReport]) -> String {
    match cases.last() {
        Some(last) => format!(
            " during the kit case after {:?} ({} cases finished)",
            last.name,
            cases.len()
        ),
        None => " before the first kit case finished".into(),
    }
}

/// A process's resident memory, from `/proc/<pid>/status` (Linux).
fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
