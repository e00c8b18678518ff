//! The buffered byte stream a format writes its file into.

use std::io;

/// The size of the chunks [`Output`] hands to the host. The WIT asks for
/// 16 KiB to 1 MiB per call: big enough to keep the boundary crossing cheap,
/// small enough that the plugin's memory stays flat.
pub const CHUNK_SIZE: usize = 64 * 1024;

/// The largest chunk [`Output`] ever hands to the host: the top of the
/// range the WIT asks for.
pub const MAX_CHUNK_SIZE: usize = 1024 * 1024;

/// Where a format writes the bytes of its file.
///
/// Bytes are buffered and handed to the host in chunks of exactly
/// [`CHUNK_SIZE`] bytes; after [`Encoder::finish`](crate::Encoder::finish)
/// the SDK hands over whatever remains. Empty chunks are never sent.
///
/// `Output` implements [`io::Write`], so `write!`, `csv::Writer` and
/// compressors can sit on top of it. Writing never fails: if the host cannot
/// take the bytes it stops the plugin instead. [`io::Write::flush`] is
/// deliberately a no-op, because libraries flush eagerly (on drop, per
/// record) and each flush would otherwise become a tiny host call; the
/// SDK flushes once at the end.
#[derive(Debug)]
pub struct Output {
    buffer: Vec<u8>,
    target: Target,
    written: u64,
}

#[derive(Debug)]
enum Target {
    /// The imported `sink.write`.
    Host,
    /// Collects the file in memory, for native tests.
    Memory { bytes: Vec<u8>, chunks: Vec<usize> },
}

impl Output {
    pub(crate) fn host() -> Output {
        Output::with_target(Target::Host)
    }

    pub(crate) fn memory() -> Output {
        Output::with_target(Target::Memory {
            bytes: Vec::new(),
            chunks: Vec::new(),
        })
    }

    fn with_target(target: Target) -> Output {
        Output {
            buffer: Vec::with_capacity(CHUNK_SIZE),
            target,
            written: 0,
        }
    }

    /// Append `bytes` to the file.
    #[inline]
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        self.written += bytes.len() as u64;
        // The common case: a small write that fits the current chunk.
        if bytes.len() < CHUNK_SIZE - self.buffer.len() {
            self.buffer.extend_from_slice(bytes);
        } else {
            self.write_spilling(bytes);
        }
    }

    /// Append `text` to the file as UTF-8.
    #[inline]
    pub fn write_str(&mut self, text: &str) {
        self.write_bytes(text.as_bytes());
    }

    /// Hand over everything buffered, then `chunk` straight from the
    /// caller's memory, without copying it into the buffer (in pieces of at
    /// most [`MAX_CHUNK_SIZE`]). For formats that produce large finished
    /// blocks, e.g. a compressed archive member. An empty `chunk` only hands
    /// over the buffer.
    pub fn write_chunk(&mut self, chunk: &[u8]) {
        self.flush_buffer();
        self.written += chunk.len() as u64;
        for piece in chunk.chunks(MAX_CHUNK_SIZE) {
            self.emit(piece);
        }
    }

    /// How many bytes the format has written so far, buffered or not.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    #[cold]
    fn write_spilling(&mut self, mut bytes: &[u8]) {
        loop {
            let room = CHUNK_SIZE - self.buffer.len();
            if bytes.len() < room {
                self.buffer.extend_from_slice(bytes);
                return;
            }
            let (head, tail) = bytes.split_at(room);
            if self.buffer.is_empty() {
                // A whole chunk straight from the caller's slice: no copy.
                self.emit(head);
            } else {
                self.buffer.extend_from_slice(head);
                let chunk = std::mem::take(&mut self.buffer);
                self.emit(&chunk);
                self.buffer = chunk;
                self.buffer.clear();
            }
            bytes = tail;
        }
    }

    /// Hand over whatever is buffered (the end of the file).
    pub(crate) fn flush_buffer(&mut self) {
        if !self.buffer.is_empty() {
            let chunk = std::mem::take(&mut self.buffer);
            self.emit(&chunk);
            self.buffer = chunk;
            self.buffer.clear();
        }
    }

    fn emit(&mut self, chunk: &[u8]) {
        if chunk.is_empty() {
            return;
        }
        match &mut self.target {
            Target::Host => crate::bindings::exporter::formatter::sink::write(chunk),
            Target::Memory { bytes, chunks } => {
                bytes.extend_from_slice(chunk);
                chunks.push(chunk.len());
            }
        }
    }

    /// The file and the size of each chunk, for a memory output; flushes
    /// first.
    pub(crate) fn into_memory(mut self) -> (Vec<u8>, Vec<usize>) {
        self.flush_buffer();
        match self.target {
            Target::Memory { bytes, chunks } => (bytes, chunks),
            Target::Host => (Vec::new(), Vec::new()),
        }
    }
}

impl io::Write for Output {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.write_bytes(bytes);
        Ok(bytes.len())
    }

    #[inline]
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write_bytes(bytes);
        Ok(())
    }

    /// A no-op: see the type's documentation.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn small_writes_are_buffered_until_the_end() {
        let mut out = Output::memory();
        out.write_str("hello ");
        write!(out, "{}", 42).unwrap();
        out.flush().unwrap();
        assert_eq!(out.bytes_written(), 8);
        let (bytes, chunks) = out.into_memory();
        assert_eq!(bytes, b"hello 42");
        assert_eq!(chunks, vec![8]);
    }

    #[test]
    fn chunks_are_exactly_chunk_size_except_the_last() {
        let mut out = Output::memory();
        let mut expected = Vec::new();
        for i in 0..50_000u32 {
            let piece = i.to_string();
            out.write_str(&piece);
            expected.extend_from_slice(piece.as_bytes());
        }
        // A write larger than a chunk while the buffer is part full.
        let big = vec![b'x'; 3 * CHUNK_SIZE + 17];
        out.write_bytes(&big);
        expected.extend_from_slice(&big);
        let (bytes, chunks) = out.into_memory();
        assert_eq!(bytes, expected);
        let (last, full) = chunks.split_last().unwrap();
        assert!(full.iter().all(|&c| c == CHUNK_SIZE));
        assert!(*last > 0 && *last <= CHUNK_SIZE);
    }

    #[test]
    fn exact_chunk_writes_are_emitted_without_empty_chunks() {
        let mut out = Output::memory();
        out.write_bytes(&vec![1; CHUNK_SIZE]);
        out.write_bytes(&vec![2; CHUNK_SIZE]);
        out.write_bytes(&[]);
        let (bytes, chunks) = out.into_memory();
        assert_eq!(bytes.len(), 2 * CHUNK_SIZE);
        assert_eq!(chunks, vec![CHUNK_SIZE, CHUNK_SIZE]);
    }

    #[test]
    fn empty_output_emits_nothing() {
        let out = Output::memory();
        let (bytes, chunks) = out.into_memory();
        assert!(bytes.is_empty());
        assert!(chunks.is_empty());
    }

    #[test]
    fn write_chunk_keeps_order_and_skips_empty() {
        let mut out = Output::memory();
        out.write_str("head,");
        out.write_chunk(b"BLOCK");
        out.write_chunk(b"");
        out.write_str(",tail");
        assert_eq!(out.bytes_written(), 15);
        let (bytes, chunks) = out.into_memory();
        assert_eq!(bytes, b"head,BLOCK,tail");
        assert_eq!(chunks, vec![5, 5, 5]);
    }

    #[test]
    fn write_chunk_splits_at_the_maximum() {
        let mut out = Output::memory();
        let big = vec![7u8; 2 * MAX_CHUNK_SIZE + 3];
        out.write_chunk(&big);
        let (bytes, chunks) = out.into_memory();
        assert_eq!(bytes, big);
        assert_eq!(chunks, vec![MAX_CHUNK_SIZE, MAX_CHUNK_SIZE, 3]);
    }
}
