//! A guest written straight against `wit/formatter.wit` (wit-bindgen, no
//! SDK) that knows the host and attacks it (`tests/guests/raw-hostile`):
//! each attack ends with a typed, one-line error or a harmless result, in
//! bounded time, and a normal export runs right after on the same engine
//! and alongside.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use exporter::batch::BatchBuilder;
use exporter::plugins::{Call, PluginError, RefusalKind, SandboxLimits, TimeLimit};
use exporter_tests::{MemorySink, context, export, load, load_test_plugin, text_rows, text_schema};

/// Deadlines short enough that a test notices a guest beyond them, long
/// enough for a loaded machine.
fn limits() -> SandboxLimits {
    SandboxLimits {
        memory_bytes: 32 << 20,
        call_timeout: Duration::from_secs(5),
        export_timeout: Duration::from_secs(30),
        max_output_bytes: 8 << 20,
        ..SandboxLimits::default()
    }
}

/// Longest any attack may take to be stopped, on a loaded machine: the
/// deadlines above plus slack. Before the fixes, several never returned.
const BOUND: Duration = Duration::from_secs(40);

type Outcome = Result<(Vec<u8>, exporter::plugins::RunStats), PluginError>;

/// Runs `f` on its own thread and fails the test if it has not returned
/// within [`BOUND`], so a guest that hangs the host fails instead of
/// hanging the suite.
fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(BOUND).unwrap_or_else(|_| {
        panic!("{what} did not return within {BOUND:?}: the guest hung the host")
    })
}

fn attack(mode: &'static str) -> Outcome {
    bounded(mode, move || {
        let plugin = load_test_plugin("raw-hostile").expect("raw-hostile loads");
        export(
            &plugin,
            &text_schema(),
            &[("mode", mode)],
            &text_rows(3),
            Some(limits()),
        )
    })
}

/// After any attack, a normal CSV export on the same engine still works.
fn assert_engine_healthy() {
    let csv = load("csv");
    let (bytes, stats) =
        export(&csv, &text_schema(), &[], &text_rows(2), None).expect("csv export");
    assert_eq!(stats.rows, 2);
    assert_eq!(bytes, b"name\r\nrow 0\r\nrow 1\r\n");
}

fn assert_one_line(error: &PluginError) {
    let text = error.to_string();
    assert!(
        !text.contains('\n') && !text.contains('\u{1b}'),
        "one plain line: {text:?}"
    );
    assert!(
        !text.contains("wasm trap: wasm trap"),
        "the trap is named once: {text}"
    );
}

#[test]
fn the_raw_guest_runs_when_it_behaves() {
    let (bytes, stats) = attack("ok").expect("ok mode works");
    assert_eq!(stats.rows, 3);
    assert_eq!(bytes, b"ok\n");
}

/// Escape 1: a sleep on a WASI clock pollable ran in host code, where the
/// epoch deadline never fires; `u64::MAX` never returned. The sandbox's
/// monotonic clock stands still and its pollables are ready at once, so
/// every way to wait returns immediately.
#[test]
fn waits_on_clocks_polls_and_stdin_return_at_once() {
    for mode in [
        "sleep",
        "sleep-instant",
        "poll",
        "std-sleep",
        "stdin",
        "stdout-flood",
    ] {
        let started = Instant::now();
        let (bytes, stats) = attack(mode).unwrap_or_else(|e| panic!("{mode}: {e}"));
        let elapsed = started.elapsed();
        assert_eq!(stats.rows, 3, "{mode}");
        assert!(bytes.len() <= 3, "{mode}: {bytes:?}");
        assert!(
            elapsed < Duration::from_secs(5),
            "{mode} returned at once, took {elapsed:?}"
        );
    }
    assert_engine_healthy();
}

/// Escape 1 at load: `info()` sleeping forever hung `plugin check`, `plugin
/// run` and the install endpoint's validation thread.
#[test]
fn a_sleep_inside_info_does_not_hang_load() {
    let started = Instant::now();
    let loaded = bounded("loading raw-hostile-sleep-info", || {
        load_test_plugin("raw-hostile-sleep-info").map(|f| f.info().name.clone())
    });
    assert_eq!(
        loaded.expect("loads: the sleep returns at once"),
        "raw-hostile"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Escape 1, the queue: the exports of a sleeping guest end and the export
/// behind them on the same engine runs.
#[test]
fn a_sleeping_guest_does_not_stop_the_exports_behind_it() {
    for _ in 0..3 {
        let plugin = load_test_plugin("raw-hostile-sleep").expect("loads");
        let outcome = bounded("an export of raw-hostile-sleep", move || {
            export(&plugin, &text_schema(), &[], &text_rows(3), Some(limits())).map(|(b, _)| b)
        });
        assert!(outcome.is_ok(), "{outcome:?}");
    }
    assert_engine_healthy();
}

/// Escape 3: bytes written by the writer's destructor after `finish` were
/// appended to the delivered file, and the export succeeded.
#[test]
fn a_write_after_finish_fails_the_export_and_never_reaches_the_file() {
    let (sink, error) = bounded("write-after-finish", || {
        let plugin = load_test_plugin("raw-hostile").unwrap();
        let sink = MemorySink::default();
        let result = (|| {
            let mut run = plugin.start_with_limits(
                &text_schema(),
                &[("mode".into(), "write-after-finish".into())],
                &context(),
                Box::new(sink.clone()),
                limits(),
            )?;
            let mut builder = BatchBuilder::new(&text_schema(), 100);
            for row in text_rows(3) {
                builder.push_row(&row).unwrap();
            }
            run.write_batch(&builder.take())?;
            run.finish()
        })();
        (sink.take(), result.map(|_| ()).unwrap_err())
    });
    match &error {
        PluginError::InvalidOutput { call, reason, .. } => {
            assert_eq!(*call, Call::Drop);
            assert!(reason.contains("after finish"), "{reason}");
        }
        other => panic!("expected invalid output in the destructor, got {other}"),
    }
    assert_one_line(&error);
    let text = String::from_utf8_lossy(&sink);
    assert!(!text.contains("INJECTED"), "the file holds {text:?}");
    assert_engine_healthy();
}

/// Escape 3: a loop in the destructor ran on the rest of finish's deadline
/// and only logged a warning; now it has its own short deadline.
#[test]
fn a_loop_in_the_destructor_is_stopped_by_its_own_deadline() {
    let started = Instant::now();
    let error = attack("loop-in-drop").unwrap_err();
    let elapsed = started.elapsed();
    match &error {
        PluginError::Timeout {
            call, scope, limit, ..
        } => {
            assert_eq!(*call, Call::Drop);
            assert_eq!(*scope, TimeLimit::Call);
            assert_eq!(*limit, limits().drop_timeout);
        }
        other => panic!("expected the destructor's deadline, got {other}"),
    }
    assert!(
        elapsed < limits().drop_timeout + Duration::from_secs(4),
        "stopped near its 1 s deadline, took {elapsed:?}"
    );
    assert_engine_healthy();
}

/// Escape 6: an 8 MiB refusal behind ANSI escapes became a 41 MB response
/// and database row.
#[test]
fn a_huge_refusal_is_cut_and_cleaned() {
    match attack("huge-refusal").unwrap_err() {
        error @ PluginError::Refused { .. } => {
            assert_one_line(&error);
            let PluginError::Refused { kind, message, .. } = &error else {
                unreachable!()
            };
            assert_eq!(*kind, RefusalKind::Other);
            assert!(message.len() <= 1024, "{} bytes", message.len());
            assert!(message.starts_with("refused AAAA"), "{message:.40}");
            assert!(message.ends_with("[truncated]"), "{message:.40}");
        }
        other => panic!("expected a refusal, got {other}"),
    }
}

/// Captures tracing output on this thread (guest calls run on the caller's
/// thread).
#[derive(Clone, Default)]
struct CapturedLog(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Escape 6: one export logged 41 MB (10,000 lines of 4 KiB) with the
/// guest's ANSI escapes.
#[test]
fn a_log_flood_is_capped_per_export_and_cleaned() {
    let captured = CapturedLog::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let outcome = tracing::subscriber::with_default(subscriber, || {
        let plugin = load_test_plugin("raw-hostile").unwrap();
        export(
            &plugin,
            &text_schema(),
            &[("mode", "log-flood")],
            &text_rows(3),
            Some(limits()),
        )
    });
    outcome.expect("log-flood completes");
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let max = limits().max_log_bytes;
    assert!(
        log.len() < max + 64 * 1024,
        "{} bytes of log for a cap of {max}",
        log.len()
    );
    assert!(log.contains("flood LLLL"), "the lines are logged, cleaned");
    assert!(
        !log.contains('\u{1b}'),
        "no terminal escape reaches the log"
    );
    assert!(log.contains("log limit reached"), "the cut is said");
}

/// Escape 7: a `wasi:cli/exit` call printed a multi-line wasm backtrace
/// with the cause on the last line.
#[test]
fn an_exit_call_is_one_line_naming_it() {
    match attack("exit").unwrap_err() {
        error @ PluginError::Trapped { .. } => {
            assert_one_line(&error);
            assert!(
                error.to_string().contains("wasi:cli/exit"),
                "names the cause: {error}"
            );
        }
        other => panic!("expected a trap, got {other}"),
    }
    assert_engine_healthy();
}

/// Escape 7: never-dropped handles ended in a backtrace ending in "store
/// handle limit exceeded".
#[test]
fn leaked_handles_end_in_one_line_naming_them() {
    match attack("leak-handles").unwrap_err() {
        error @ PluginError::Trapped { .. } => {
            assert_one_line(&error);
            assert!(
                error.to_string().contains("too many resource handles"),
                "names the cause: {error}"
            );
        }
        other => panic!("expected a trap, got {other}"),
    }
    assert_engine_healthy();
}

/// Escape 8: the seeded randomness repeated every few bytes, and the secure
/// and insecure sources returned the same bytes.
#[test]
fn seeded_randomness_is_a_real_generator_with_two_streams() {
    let (first, _) = attack("random").expect("random mode works");
    let (second, _) = attack("random").unwrap();
    assert_eq!(first, second, "the same export sees the same bytes");
    let text = String::from_utf8(first).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let [secure, insecure] = lines[..2] else {
        panic!("{text}")
    };
    assert_eq!(secure.len(), 128);
    assert_ne!(secure, insecure, "separate streams");
    for line in [secure, insecure] {
        for period in [8, 16, 32] {
            assert_ne!(
                &line[..period * 2],
                &line[period * 2..period * 4],
                "repeats every {period} bytes: {line}"
            );
        }
    }
}

/// The attacks run while a normal export runs alongside on the same
/// engine; it completes untouched.
#[test]
fn attacks_leave_a_concurrent_export_untouched() {
    let csv = load("csv");
    let good = std::thread::spawn(move || {
        export(&csv, &text_schema(), &[], &text_rows(50_000), None).map(|(b, s)| (b.len(), s.rows))
    });
    for mode in ["sleep", "poll", "exit", "loop-in-drop", "huge-refusal"] {
        let _ = attack(mode);
    }
    let (len, rows) = good
        .join()
        .unwrap()
        .expect("the concurrent export succeeds");
    assert_eq!(rows, 50_000);
    assert!(len > 50_000 * 5);
}

/// The 413 for an oversized component was axum's text/plain; the OpenAPI
/// document promises problem+json.
#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_component_is_a_problem_json_413() {
    use exporter_tests::service::TestService;
    let service = TestService::start_with(10, |_| {}).await;
    let superadmin = service.token("super@exporter.test").await;
    let response = service
        .put(&superadmin, "/api/admin/formatters/huge")
        .header("content-type", "application/wasm")
        // One byte over the endpoint's 64 MiB cap.
        .body(vec![0u8; (64 << 20) + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], 413);
    assert_eq!(body["type"], "urn:exporter:problem:component-too-large");
    assert!(
        body["detail"].as_str().unwrap().contains("larger than"),
        "{body}"
    );
    service.stop().await;
}

/// Every attack run as users run plugins, `exporter plugin run` in its own
/// process with the default sandbox: it ends in bounded time, the host's
/// peak memory (`VmHWM`) stays bounded, an attack that fails says so in a
/// short stderr free of escapes, and a failed run leaves no file.
#[test]
fn every_attack_through_the_cli_ends_in_bounded_time_and_memory() {
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("rows.ndjson");
    let lines: String = (0..100)
        .map(|i| format!("{{\"name\":\"row {i}\"}}\n"))
        .collect();
    std::fs::write(&input, lines).unwrap();
    let wasm = exporter_tests::test_plugin_path("raw-hostile");
    // (mode, whether the run must fail)
    let attacks = [
        ("sleep", false),
        ("sleep-instant", false),
        ("std-sleep", false),
        ("stdin", false),
        ("stdout-flood", false),
        ("log-flood", false),
        ("poll", false),
        ("write-after-finish", true),
        ("loop-in-drop", true),
        ("huge-refusal", true),
        ("exit", true),
        ("leak-handles", true),
    ];
    for (mode, fails) in attacks {
        let out = work.path().join(format!("{mode}.out"));
        let mut command = std::process::Command::new(exporter_tests::exporter_binary());
        command
            .env("XDG_CACHE_HOME", work.path().join("cache"))
            .env("RUST_LOG", "warn")
            .args(["plugin", "run"])
            .arg(&wasm)
            .arg("--input")
            .arg(&input)
            .arg("--output")
            .arg(&out)
            .args(["--option", &format!("mode={mode}")]);
        let (output, peak, took) = exporter_tests::run_measured(&mut command);
        let stderr = String::from_utf8_lossy(&output.stderr);
        println!(
            "{mode}: exit {:?} in {:.2} s, peak RSS {} MiB, stderr {} bytes",
            output.status.code(),
            took.as_secs_f64(),
            peak >> 20,
            stderr.len()
        );
        assert!(took < BOUND, "{mode}: took {took:?}");
        assert!(peak < 384 << 20, "{mode}: peak RSS {} MiB", peak >> 20);
        // The per-export log cap (256 KiB of guest text) and the host's
        // line prefixes; before the cap, `log-flood` wrote 42 MB.
        assert!(
            stderr.len() < 320 << 10 && !stderr.contains('\u{1b}'),
            "{mode}: {} bytes of stderr, escapes: {}",
            stderr.len(),
            stderr.contains('\u{1b}')
        );
        assert_eq!(!output.status.success(), fails, "{mode}: {stderr}");
        if fails {
            assert!(!out.exists(), "{mode}: a failed run left {}", out.display());
            let last = stderr.lines().last().unwrap_or_default();
            assert!(
                last.starts_with("error:") && last.len() < 2048,
                "{mode}: {stderr}"
            );
        }
    }
}
