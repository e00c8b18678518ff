//! A plugin written straight against `wit/formatter.wit` with wit-bindgen,
//! not through the SDK, that attacks the host the way a guest that knows
//! the host would. Never ship it.
//!
//! The `mode` option picks the attack; unless noted it happens in the first
//! `write-batch`:
//!
//! | mode | attack |
//! |---|---|
//! | `ok` (default) | writes `ok\n` per batch |
//! | `sleep` | `monotonic-clock.subscribe-duration(u64::MAX)` then `pollable.block` |
//! | `sleep-instant` | `subscribe-instant(u64::MAX)` then `block` |
//! | `poll` | `wasi:io/poll.poll` on a list of never-ready pollables |
//! | `std-sleep` | `std::thread::sleep` for a million seconds |
//! | `stdin` | `blocking-read` on stdin |
//! | `stdout-flood` | 64 MiB through `blocking-write-and-flush` on stdout |
//! | `write-after-finish` | `finish` writes `body\n`; the writer's destructor then writes `INJECTED` |
//! | `loop-in-drop` | the writer's destructor spins forever |
//! | `huge-refusal` | refuses with `other` and 8 MiB of text behind ANSI escapes |
//! | `log-flood` | 100,000 log lines of 64 KiB with ANSI escapes |
//! | `exit` | calls `wasi:cli/exit.exit(err)` |
//! | `leak-handles` | creates writer handles and never drops them, until the host says stop |
//! | `random` | writes 64 bytes of `get-random-bytes` then 64 of `get-insecure-random-bytes`, hex, one line each |
//!
//! Features build variants for install-time tests: `sleep-in-info` sleeps
//! inside `info()`; `default-*` change the default mode.

use std::cell::Cell;

wit_bindgen::generate!({
    path: "../../../wit",
    world: "plugin",
});

use exporter::formatter::sink;
use exporter::formatter::types::Level;
use exports::exporter::formatter::formatter::{
    Batch, Column, ExportContext, FormatError, FormatInfo, Guest, GuestWriter, OptionValue, Writer,
};

const MODES: &[&str] = &[
    "ok",
    "sleep",
    "sleep-instant",
    "poll",
    "std-sleep",
    "stdin",
    "stdout-flood",
    "write-after-finish",
    "loop-in-drop",
    "huge-refusal",
    "log-flood",
    "exit",
    "leak-handles",
    "random",
];

const DEFAULT_MODE: &str = if cfg!(feature = "default-sleep") {
    "sleep"
} else if cfg!(feature = "default-write-after-finish") {
    "write-after-finish"
} else if cfg!(feature = "default-huge-refusal") {
    "huge-refusal"
} else {
    "ok"
};

struct RawHostile;

struct RawWriter {
    mode: &'static str,
    batches: Cell<u64>,
}

/// Waits on a pollable that a real clock would not ready for 584 years.
fn sleep_forever() {
    let pollable = wasip2::clocks::monotonic_clock::subscribe_duration(u64::MAX);
    pollable.block();
}

impl Guest for RawHostile {
    type Writer = RawWriter;

    fn info() -> FormatInfo {
        if cfg!(feature = "sleep-in-info") {
            sleep_forever();
        }
        FormatInfo {
            name: "raw-hostile".into(),
            version: "1.0.0".into(),
            media_type: "text/plain; charset=utf-8".into(),
            file_extension: "txt".into(),
            description: "Attacks the host on request; never ship it.".into(),
            options: vec![exporter::formatter::types::OptionSpec {
                name: "mode".into(),
                kind: exporter::formatter::types::OptionType::Choice,
                default_value: DEFAULT_MODE.into(),
                description: "Which attack to make.".into(),
                choices: MODES.iter().map(|m| m.to_string()).collect(),
            }],
        }
    }
}

impl GuestWriter for RawWriter {
    fn open(
        _columns: Vec<Column>,
        options: Vec<OptionValue>,
        _context: ExportContext,
    ) -> Result<Writer, FormatError> {
        let mut mode = DEFAULT_MODE;
        for option in options {
            match (
                option.name.as_str(),
                MODES.iter().find(|m| **m == option.value),
            ) {
                ("mode", Some(found)) => mode = found,
                ("mode", None) => {
                    return Err(FormatError::InvalidOption(format!(
                        "mode: unknown mode {:?}",
                        option.value
                    )));
                }
                (other, _) => {
                    return Err(FormatError::InvalidOption(format!(
                        "unknown option {other}"
                    )));
                }
            }
        }
        Ok(Writer::new(RawWriter {
            mode,
            batches: Cell::new(0),
        }))
    }

    fn write_batch(&self, _batch: Batch) -> Result<(), FormatError> {
        let first = self.batches.get() == 0;
        self.batches.set(self.batches.get() + 1);
        match self.mode {
            "sleep" => sleep_forever(),
            "sleep-instant" => {
                wasip2::clocks::monotonic_clock::subscribe_instant(u64::MAX).block();
            }
            "poll" => {
                let a = wasip2::clocks::monotonic_clock::subscribe_duration(u64::MAX);
                let b = wasip2::clocks::monotonic_clock::subscribe_instant(u64::MAX);
                wasip2::io::poll::poll(&[&a, &b]);
            }
            "std-sleep" => std::thread::sleep(std::time::Duration::from_secs(1_000_000)),
            "stdin" => {
                let stdin = wasip2::cli::stdin::get_stdin();
                // Loop in case the host says "nothing yet" instead of blocking.
                while let Ok(bytes) = stdin.blocking_read(1) {
                    std::hint::black_box(bytes);
                }
            }
            "stdout-flood" => {
                let stdout = wasip2::cli::stdout::get_stdout();
                let chunk = vec![b'x'; 4096];
                for _ in 0..(64 << 20) / 4096 {
                    if stdout.blocking_write_and_flush(&chunk).is_err() {
                        break;
                    }
                }
            }
            "huge-refusal" if first => {
                let mut message = String::from("\u{1b}[2J\u{1b}[31mrefused\n");
                message.push_str(&"A".repeat(8 << 20));
                return Err(FormatError::Other(message));
            }
            "log-flood" if first => {
                let line = format!("\u{1b}[31mflood\u{1b}[0m {}", "L".repeat(64 << 10));
                for _ in 0..100_000 {
                    sink::log(Level::Error, &line);
                }
            }
            "exit" => wasip2::cli::exit::exit(Err(())),
            "leak-handles" => loop {
                std::mem::forget(Writer::new(RawWriter {
                    mode: "ok",
                    batches: Cell::new(0),
                }));
            },
            "random" if first => {
                let hex = |bytes: Vec<u8>| -> String {
                    bytes.iter().map(|b| format!("{b:02x}")).collect()
                };
                let secure = hex(wasip2::random::random::get_random_bytes(64));
                let insecure = hex(wasip2::random::insecure::get_insecure_random_bytes(64));
                sink::write(format!("{secure}\n{insecure}\n").as_bytes());
            }
            _ => sink::write(b"ok\n"),
        }
        Ok(())
    }

    fn finish(&self) -> Result<(), FormatError> {
        if self.mode == "write-after-finish" {
            sink::write(b"body\n");
        }
        Ok(())
    }
}

impl Drop for RawWriter {
    fn drop(&mut self) {
        match self.mode {
            "write-after-finish" => sink::write(b"INJECTED"),
            "loop-in-drop" => loop {
                std::hint::black_box(self.batches.get());
            },
            _ => {}
        }
    }
}

export!(RawHostile);
