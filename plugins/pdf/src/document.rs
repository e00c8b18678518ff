//! The PDF file structure: object numbering, byte offsets, compression, and
//! the cross-reference table and trailer at the end.
//!
//! Objects are written to [`Output`] as soon as they are complete, so the
//! file streams out; all that is remembered of each is its byte offset, for
//! the cross-reference table.

use exporter_plugin_sdk::{FormatError, Output};
use flate2::{Compress, Compression, FlushCompress, Status};
use pdf_writer::{Chunk, Ref};

/// The document catalog.
pub const CATALOG: Ref = Ref::new(1);
/// The root of the page tree, written at the end when its kids are known.
pub const PAGE_TREE: Ref = Ref::new(2);
/// The report's font.
pub const FONT: Ref = Ref::new(3);
/// The form XObject that prints the total page count, written at the end.
pub const PAGE_TOTAL: Ref = Ref::new(4);
/// The resource dictionary every page shares.
pub const RESOURCES: Ref = Ref::new(5);
/// Ids below this are the fixed ones above.
const FIRST_FREE_ID: i32 = 6;

/// The file's header: version, then a comment of bytes above 127 so file
/// transfer tools treat the file as binary.
const HEADER: &[u8] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n";

/// Object ids handed out so far and where each object starts.
pub struct Document {
    /// `offsets[id - 1]` is the byte offset of object `id`; 0 until it is
    /// written (no object can start at 0: the header is there).
    offsets: Vec<u64>,
}

impl Document {
    /// Writes the file header and reserves the fixed ids.
    pub fn start(out: &mut Output) -> Document {
        out.write_bytes(HEADER);
        Document {
            offsets: vec![0; (FIRST_FREE_ID - 1) as usize],
        }
    }

    /// A new object id.
    pub fn alloc(&mut self) -> Ref {
        self.offsets.push(0);
        Ref::new(self.offsets.len() as i32)
    }

    /// Writes the objects collected in `objects` and records their offsets.
    pub fn emit(&mut self, out: &mut Output, objects: &Objects) {
        let base = out.bytes_written();
        for &(id, at) in &objects.starts {
            if let Some(slot) = self.offsets.get_mut(id.get() as usize - 1) {
                *slot = base + at as u64;
            }
        }
        out.write_bytes(objects.chunk.as_bytes());
    }

    /// Writes the cross-reference table and the trailer, ending the file.
    /// Every allocated id must have been written.
    pub fn finish(&self, out: &mut Output, info: Ref) -> Result<(), FormatError> {
        let xref = out.bytes_written();
        let size = self.offsets.len() + 1;
        out.write_str(&format!("xref\n0 {size}\n0000000000 65535 f\r\n"));
        for (index, &offset) in self.offsets.iter().enumerate() {
            if offset == 0 {
                return Err(FormatError::Other(format!(
                    "format bug: object {} was never written",
                    index + 1
                )));
            }
            // Each entry is exactly 20 bytes, CR LF included.
            out.write_str(&format!("{offset:010} 00000 n\r\n"));
        }
        out.write_str(&format!(
            "trailer\n<< /Size {size} /Root {} 0 R /Info {} 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            CATALOG.get(),
            info.get()
        ));
        Ok(())
    }
}

/// Objects written together: a [`Chunk`] plus where each object starts in
/// it, so [`Document::emit`] can record their offsets.
pub struct Objects {
    chunk: Chunk,
    starts: Vec<(Ref, usize)>,
}

impl Objects {
    /// An empty batch of objects.
    pub fn new() -> Objects {
        Objects {
            chunk: Chunk::new(),
            starts: Vec::new(),
        }
    }

    /// Notes that object `id` starts here and returns the chunk to write it
    /// with, e.g. `objects.start(id).page(id)`.
    pub fn start(&mut self, id: Ref) -> &mut Chunk {
        self.starts.push((id, self.chunk.len()));
        &mut self.chunk
    }
}

/// A reusable zlib compressor for streams (`/FlateDecode`).
pub struct Deflater {
    compress: Compress,
    out: Vec<u8>,
}

impl Deflater {
    /// A compressor at the fastest level: content streams are repetitive
    /// enough that level 1 gets most of the gain at a fraction of the time.
    pub fn new() -> Deflater {
        Deflater {
            compress: Compress::new(Compression::fast(), true),
            out: Vec::new(),
        }
    }

    /// `data` compressed as one zlib stream; valid until the next call.
    pub fn deflate(&mut self, data: &[u8]) -> Result<&[u8], FormatError> {
        self.compress.reset();
        self.out.clear();
        self.out.reserve(data.len() / 2 + 64);
        loop {
            let consumed = self.compress.total_in() as usize;
            if self.out.len() == self.out.capacity() {
                self.out.reserve(self.out.capacity().max(1024));
            }
            let status = self
                .compress
                .compress_vec(&data[consumed..], &mut self.out, FlushCompress::Finish)
                .map_err(|e| FormatError::Other(format!("compression failed: {e}")))?;
            if status == Status::StreamEnd {
                return Ok(&self.out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deflate_round_trips() {
        let mut deflater = Deflater::new();
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let compressed = deflater.deflate(&data).unwrap().to_vec();
        let mut back = Vec::new();
        let mut inflate = flate2::Decompress::new(true);
        back.reserve(data.len() + 16);
        inflate
            .decompress_vec(&compressed, &mut back, flate2::FlushDecompress::Finish)
            .unwrap();
        assert_eq!(back, data);
        // Reusable, and deterministic.
        assert_eq!(deflater.deflate(&data).unwrap(), compressed.as_slice());
        assert!(!deflater.deflate(b"").unwrap().is_empty());
    }
}
