//! A format plugin that attacks the conformance kit rather than the
//! sandbox, so the host's tests can check that the kit and install-time
//! validation hold. Never ship it.
//!
//! The plain build writes each row's first column as text and `\n` (null:
//! empty). Each feature builds a variant that misbehaves with default
//! options, as the kit runs it:
//!
//! | feature | variant | behaviour |
//! |---|---|---|
//! | `flood` | `kit-hostile-flood` | after the rows, writes 1 GiB of `x` in `finish`, in 1 MiB chunks |
//! | `many-options` | `kit-hostile-options` | `info()` lists 100,000 boolean options `o0` … `o99999` |
//! | `long-description` | `kit-hostile-description` | `info()`'s description is 10 MB over 312,501 lines |
//! | `test-aware` | `kit-hostile-test-aware` | behaves only when the context is the kit's old fixed one (title `Conformance fixture` or generated-at 2026-01-01T00:00:00Z); otherwise spins in `write-batch` |

use std::hint::black_box;

use exporter_plugin_sdk::{
    Batch, Column, Encoder, ExportContext, Format, FormatError, FormatInfo, OptionSpec, Options,
    Output, TextFormatter,
};

/// The kit-hostile test format.
pub struct KitHostile;

const MIB: usize = 1 << 20;

/// The context the kit used to hand every export, before it varied it.
const KIT_TITLE: &str = "Conformance fixture";
const KIT_GENERATED_AT: i64 = 1_767_225_600_000_000;

/// A kit-hostile export in progress.
pub struct KitHostileEncoder {
    /// False when the export does not look like the kit's.
    under_test: bool,
    text: TextFormatter,
}

impl Format for KitHostile {
    type Encoder = KitHostileEncoder;

    fn info() -> FormatInfo {
        let mut options = Vec::new();
        if cfg!(feature = "many-options") {
            options = (0..100_000)
                .map(|i| OptionSpec::boolean(format!("o{i}"), false, "One of very many"))
                .collect();
        }
        let description = if cfg!(feature = "long-description") {
            // 312,501 lines, 10,000,032 bytes.
            "a long description line, again.\n".repeat(312_501)
        } else {
            "Test plugin that attacks the conformance kit; never deploy it".to_owned()
        };
        FormatInfo {
            name: "kit-hostile".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            media_type: "text/plain".into(),
            file_extension: "txt".into(),
            description,
            options,
        }
    }

    fn open(
        columns: &[Column],
        _options: &Options,
        context: &ExportContext,
        _out: &mut Output,
    ) -> Result<KitHostileEncoder, FormatError> {
        if columns.is_empty() {
            return Err(FormatError::UnsupportedSchema(
                "kit-hostile writes the first column; there is none".into(),
            ));
        }
        Ok(KitHostileEncoder {
            under_test: context.title == KIT_TITLE || context.generated_at == KIT_GENERATED_AT,
            text: TextFormatter::new(),
        })
    }
}

impl Encoder for KitHostileEncoder {
    fn write_batch(&mut self, batch: &Batch<'_>, out: &mut Output) -> Result<(), FormatError> {
        if cfg!(feature = "test-aware") && !self.under_test {
            spin();
        }
        for row in 0..batch.rows() {
            out.write_str(self.text.value(batch.value(row, 0)).unwrap_or(""));
            out.write_str("\n");
        }
        Ok(())
    }

    fn finish(self, out: &mut Output) -> Result<(), FormatError> {
        if cfg!(feature = "flood") {
            let chunk = vec![b'x'; MIB];
            for _ in 0..1024 {
                out.write_chunk(black_box(&chunk));
            }
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

exporter_plugin_sdk::export_format!(KitHostile);
