//! A format plugin that misbehaves on request, so the host's tests can
//! check that the sandbox contains it. Never ship it.
//!
//! The `mode` option picks the behaviour; unless noted it happens in
//! `write-batch`:
//!
//! | mode | behaviour |
//! |---|---|
//! | `ok` (default; see `DEFAULT_MODE`) | each row's first column as text (null: empty) and `\n` |
//! | `loop` | spins forever |
//! | `loop-in-open` | spins forever in `open` |
//! | `memory-bomb` | allocates and fills 1 MiB blocks until allocation fails (a trap) |
//! | `panic` | panics: `hostile plugin panicked on purpose at batch {n}`, `n` counting batches from 0 |
//! | `flood` | writes 1 MiB chunks straight to the sink, forever |
//! | `refuse-data` | returns `invalid-data("refusing row 0 on purpose")` |
//! | `escape` | tries to reach outside the sandbox and writes a report instead of rows (in the first `write-batch`, or in `finish` if there was none) |
//! | `log` | logs `hostile log line at <level>` at each level, trace to error, then as `ok` |
//! | `warn-flood` | per row: a `row-changed` warning with a 100 KiB example, then 40 distinct codes with control characters; then as `ok` |
//!
//! The `escape` report is one `key: value` line each, in this order:
//! `fs` (`read_dir("/")`: `denied`/`allowed`), `file` (`read("/etc/passwd")`:
//! `denied`/`allowed`), `env` (number of environment variables), `args`
//! (number of arguments), `net` (TCP connect to 127.0.0.1:5432:
//! `denied`/`allowed`), `clock` (wall clock, microseconds since the epoch),
//! `random` (16 random bytes, hex), `stderr` (`written`, after printing
//! `hello from hostile stderr` to stderr).

use std::hint::black_box;
use std::io::Write;

use exporter_plugin_sdk::{
    Batch, Column, Encoder, ExportContext, Format, FormatError, FormatInfo, Level, OptionSpec,
    Options, Output, TextFormatter,
};

/// The hostile test format.
pub struct Hostile;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Ok,
    Loop,
    LoopInOpen,
    MemoryBomb,
    Panic,
    Flood,
    RefuseData,
    Escape,
    Log,
    WarnFlood,
}

const MODES: [(&str, Mode); 10] = [
    ("ok", Mode::Ok),
    ("loop", Mode::Loop),
    ("loop-in-open", Mode::LoopInOpen),
    ("memory-bomb", Mode::MemoryBomb),
    ("panic", Mode::Panic),
    ("flood", Mode::Flood),
    ("refuse-data", Mode::RefuseData),
    ("escape", Mode::Escape),
    ("log", Mode::Log),
    ("warn-flood", Mode::WarnFlood),
];

const MIB: usize = 1 << 20;

/// The mode when none is given. The `default-*` features build variants
/// that misbehave with default options, as the conformance kit runs them.
const DEFAULT_MODE: &str = if cfg!(feature = "default-loop") {
    "loop"
} else if cfg!(feature = "default-memory-bomb") {
    "memory-bomb"
} else {
    "ok"
};

/// A hostile export in progress.
pub struct HostileEncoder {
    mode: Mode,
    batches: u64,
    reported: bool,
    text: TextFormatter,
}

impl Format for Hostile {
    type Encoder = HostileEncoder;

    fn info() -> FormatInfo {
        FormatInfo {
            name: "hostile".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            media_type: "text/plain".into(),
            file_extension: "txt".into(),
            description: "Test plugin that misbehaves on request; never deploy it".into(),
            options: vec![OptionSpec::choice(
                "mode",
                DEFAULT_MODE,
                MODES.iter().map(|(name, _)| *name),
                "Which misbehaviour to show",
            )],
        }
    }

    fn open(
        columns: &[Column],
        options: &Options,
        _context: &ExportContext,
        _out: &mut Output,
    ) -> Result<HostileEncoder, FormatError> {
        let name = options.choice("mode")?;
        let mode = MODES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, mode)| *mode)
            .ok_or_else(|| FormatError::Other(format!("unhandled mode {name:?}")))?;
        match mode {
            Mode::LoopInOpen => spin(),
            Mode::Ok | Mode::Log | Mode::WarnFlood if columns.is_empty() => {
                return Err(FormatError::UnsupportedSchema(
                    "mode ok writes the first column; there is none".into(),
                ));
            }
            _ => {}
        }
        Ok(HostileEncoder {
            mode,
            batches: 0,
            reported: false,
            text: TextFormatter::new(),
        })
    }
}

impl Encoder for HostileEncoder {
    fn write_batch(&mut self, batch: &Batch<'_>, out: &mut Output) -> Result<(), FormatError> {
        let index = self.batches;
        self.batches += 1;
        match self.mode {
            Mode::Ok | Mode::LoopInOpen => self.first_column(batch, out),
            Mode::Loop => spin(),
            Mode::MemoryBomb => exhaust_memory(),
            Mode::Panic => panic!("hostile plugin panicked on purpose at batch {index}"),
            Mode::Flood => flood(out),
            Mode::RefuseData => Err(FormatError::InvalidData("refusing row 0 on purpose".into())),
            Mode::Escape => {
                if !self.reported {
                    self.reported = true;
                    escape_report(out)?;
                }
                Ok(())
            }
            Mode::Log => {
                for level in [
                    Level::Trace,
                    Level::Debug,
                    Level::Info,
                    Level::Warn,
                    Level::Error,
                ] {
                    exporter_plugin_sdk::log(level, &format!("hostile log line at {level}"));
                }
                self.first_column(batch, out)
            }
            Mode::WarnFlood => {
                let huge = format!("\u{1b}[31mred\n{}", "x".repeat(100 << 10));
                for _ in 0..batch.rows() {
                    exporter_plugin_sdk::warn("row-changed", 1, &huge);
                    for code in 0..40 {
                        exporter_plugin_sdk::warn(&format!("Code\t{code}"), u64::MAX / 2, "");
                    }
                }
                self.first_column(batch, out)
            }
        }
    }

    fn finish(self, out: &mut Output) -> Result<(), FormatError> {
        if self.mode == Mode::Escape && !self.reported {
            escape_report(out)?;
        }
        Ok(())
    }
}

impl HostileEncoder {
    fn first_column(&mut self, batch: &Batch<'_>, out: &mut Output) -> Result<(), FormatError> {
        for row in 0..batch.rows() {
            out.write_str(self.text.value(batch.value(row, 0)).unwrap_or(""));
            out.write_str("\n");
        }
        Ok(())
    }
}

/// A loop the optimizer must keep: `black_box` hides that it does nothing.
fn spin() -> ! {
    let mut turns: u64 = 0;
    loop {
        turns = black_box(turns.wrapping_add(1));
    }
}

/// Allocate and touch 1 MiB blocks until the allocator gives up, which
/// aborts (traps) rather than returning.
fn exhaust_memory() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        // Non-zero bytes so every page is really written, not left to
        // fresh zeroed memory.
        hoard.push(vec![0xA5; MIB]);
        black_box(&mut hoard);
    }
}

/// Write 1 MiB chunks forever; the host ends this by refusing the bytes.
fn flood(out: &mut Output) -> ! {
    let chunk = vec![b'x'; MIB];
    loop {
        out.write_chunk(black_box(&chunk));
    }
}

fn escape_report(out: &mut Output) -> Result<(), FormatError> {
    let verdict = |allowed: bool| if allowed { "allowed" } else { "denied" };
    let fs = std::fs::read_dir("/").is_ok();
    let file = std::fs::read("/etc/passwd").is_ok();
    let env = std::env::vars_os().count();
    let args = std::env::args_os().count();
    let net = std::net::TcpStream::connect("127.0.0.1:5432").is_ok();
    let clock = clock_micros();
    let random = random_hex();
    eprintln!("hello from hostile stderr");

    writeln!(out, "fs: {}", verdict(fs))?;
    writeln!(out, "file: {}", verdict(file))?;
    writeln!(out, "env: {env}")?;
    writeln!(out, "args: {args}")?;
    writeln!(out, "net: {}", verdict(net))?;
    writeln!(out, "clock: {clock}")?;
    writeln!(out, "random: {random}")?;
    writeln!(out, "stderr: written")?;
    Ok(())
}

/// The wall clock in microseconds since the epoch, negative before it.
fn clock_micros() -> i128 {
    use std::time::{SystemTime, UNIX_EPOCH};
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_micros() as i128,
        Err(before) => -(before.duration().as_micros() as i128),
    }
}

/// 16 bytes from the platform's random source, via the keys std draws
/// for `RandomState` (this avoids a dependency just for the test).
fn random_hex() -> String {
    use std::hash::BuildHasher;
    let state = std::collections::hash_map::RandomState::new();
    let bytes = [state.hash_one(0u8), state.hash_one(1u8)];
    bytes.iter().map(|half| format!("{half:016x}")).collect()
}

exporter_plugin_sdk::export_format!(Hostile);
