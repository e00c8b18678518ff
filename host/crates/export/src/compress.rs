//! Compression of an export on its way to the blob store: the plugin's
//! chunks go through a streaming gzip or zstd encoder, and the encoder's
//! output goes on to the upload in chunks of about [`OUT_CHUNK`] bytes.
//! Memory holds the encoder's window and one output chunk, whatever the
//! file's size; nothing is buffered whole.

use std::io::Write as _;

use serde::{Deserialize, Serialize};

use exporter_runtime::ChunkSink;

/// Output passed on to the upload once this much has built up.
const OUT_CHUNK: usize = 256 << 10;

/// How a file is compressed, as a client asks for it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// RFC 1952, deflate at level 6 (gzip's own default).
    Gzip,
    /// RFC 8878, level 3 (zstd's own default).
    Zstd,
}

impl Compression {
    /// Appended to the format's file name: `sessions_all.csv.gz`.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Gzip => "gz",
            Compression::Zstd => "zst",
        }
    }

    /// The stored file's media type.
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip => "application/gzip",
            Compression::Zstd => "application/zstd",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

enum Encoder {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl Encoder {
    fn output(&mut self) -> &mut Vec<u8> {
        match self {
            Encoder::Gzip(e) => e.get_mut(),
            Encoder::Zstd(e) => e.get_mut(),
        }
    }
}

/// A [`ChunkSink`] that compresses into another. The bytes before
/// compression are the plugin run's own count (`RunStats::bytes`).
pub struct CompressingSink<S> {
    encoder: Option<Encoder>,
    inner: S,
}

impl<S: ChunkSink> CompressingSink<S> {
    pub fn new(compression: Compression, inner: S) -> anyhow::Result<Self> {
        let out = Vec::with_capacity(OUT_CHUNK + (64 << 10));
        let encoder = match compression {
            Compression::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                out,
                flate2::Compression::default(),
            )),
            Compression::Zstd => {
                let mut encoder = zstd::stream::write::Encoder::new(out, 3)?;
                // Lets a reader check the whole file, as gzip's CRC does.
                encoder.include_checksum(true)?;
                Encoder::Zstd(encoder)
            }
        };
        Ok(Self {
            encoder: Some(encoder),
            inner,
        })
    }

    fn pass_on(&mut self, at_least: usize) -> anyhow::Result<()> {
        let encoder = self.encoder.as_mut().expect("not finished");
        let output = encoder.output();
        if output.len() >= at_least && !output.is_empty() {
            let chunk = std::mem::replace(output, Vec::with_capacity(OUT_CHUNK + (64 << 10)));
            self.inner.write(chunk)?;
        }
        Ok(())
    }
}

impl<S: ChunkSink> ChunkSink for CompressingSink<S> {
    fn write(&mut self, chunk: Vec<u8>) -> anyhow::Result<()> {
        match self
            .encoder
            .as_mut()
            .ok_or_else(|| anyhow::anyhow!("write after the compressed stream was finished"))?
        {
            Encoder::Gzip(e) => e.write_all(&chunk)?,
            Encoder::Zstd(e) => e.write_all(&chunk)?,
        }
        self.pass_on(OUT_CHUNK)
    }

    /// Ends the compressed stream (gzip's CRC and size, zstd's last frame
    /// and checksum), passes the rest on, and flushes the inner sink. Only
    /// called after the plugin finished: a failed or cancelled export never
    /// gets a valid end, as it never gets its format's trailer.
    fn flush(&mut self) -> anyhow::Result<()> {
        let rest = match self.encoder.take() {
            Some(Encoder::Gzip(e)) => e.finish()?,
            Some(Encoder::Zstd(e)) => e.finish()?,
            None => Vec::new(),
        };
        if !rest.is_empty() {
            self.inner.write(rest)?;
        }
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Collect(Arc<Mutex<Vec<Vec<u8>>>>);

    impl ChunkSink for Collect {
        fn write(&mut self, chunk: Vec<u8>) -> anyhow::Result<()> {
            self.0.lock().unwrap().push(chunk);
            Ok(())
        }
    }

    /// 3 MB of CSV-like text, written in the plugin's 64 KiB chunks.
    fn input() -> Vec<u8> {
        (0..60_000)
            .flat_map(|i| {
                format!("{i},user-{},2026-01-{:02}T10:00:00Z\n", i % 977, 1 + i % 28).into_bytes()
            })
            .collect()
    }

    fn compress(compression: Compression, data: &[u8]) -> Vec<Vec<u8>> {
        let out = Collect::default();
        let mut sink = CompressingSink::new(compression, out.clone()).unwrap();
        for chunk in data.chunks(64 << 10) {
            sink.write(chunk.to_vec()).unwrap();
        }
        sink.flush().unwrap();
        out.0.lock().unwrap().clone()
    }

    #[test]
    fn gzip_and_zstd_round_trip_in_bounded_chunks() {
        let data = input();
        for compression in [Compression::Gzip, Compression::Zstd] {
            let chunks = compress(compression, &data);
            assert!(
                chunks.iter().all(|c| c.len() < OUT_CHUNK + (128 << 10)),
                "{compression:?}: no chunk holds much more than OUT_CHUNK"
            );
            let stored: Vec<u8> = chunks.concat();
            assert!(stored.len() < data.len() / 3, "{compression:?} compresses");
            let mut back = Vec::new();
            match compression {
                Compression::Gzip => {
                    flate2::read::GzDecoder::new(&stored[..])
                        .read_to_end(&mut back)
                        .unwrap();
                }
                Compression::Zstd => {
                    back = zstd::stream::decode_all(&stored[..]).unwrap();
                }
            }
            assert!(back == data, "{compression:?} round-trips");
        }
    }

    #[test]
    fn an_unfinished_stream_does_not_decode_as_whole() {
        let data = input();
        let out = Collect::default();
        let mut sink = CompressingSink::new(Compression::Gzip, out.clone()).unwrap();
        for chunk in data.chunks(64 << 10) {
            sink.write(chunk.to_vec()).unwrap();
        }
        // No flush: the export failed or was cancelled.
        let stored: Vec<u8> = out.0.lock().unwrap().concat();
        let mut back = Vec::new();
        assert!(
            flate2::read::GzDecoder::new(&stored[..])
                .read_to_end(&mut back)
                .is_err()
        );
    }

    #[test]
    fn names_and_media_types() {
        assert_eq!(Compression::Gzip.extension(), "gz");
        assert_eq!(Compression::Zstd.media_type(), "application/zstd");
        assert_eq!(
            serde_json::from_str::<Compression>(r#""zstd""#).unwrap(),
            Compression::Zstd
        );
        assert!(serde_json::from_str::<Compression>(r#""brotli""#).is_err());
    }
}
