//! A streaming ZIP writer, just enough for a workbook.
//!
//! Every entry is deflated and followed by a data descriptor (general
//! purpose flag bit 3), so nothing is ever seeked back to or buffered whole:
//! a sheet's compressed bytes leave as they are produced, and only one
//! [`Entry`] per part (a name, a CRC and three sizes) is kept for the central
//! directory at the end.
//!
//! Two choices are for the readers that matter:
//! - never ZIP64: LibreOffice 7.4 refuses streamed ZIP64 entries, so every
//!   size and offset must fit 32 bits ([`FormatError`] otherwise; the sheet
//!   writer rolls over to a new sheet long before one entry gets there);
//! - always deflate: LibreOffice 24.8+ rejects *stored* entries that use
//!   data descriptors, because their size cannot be known while reading.

use std::io::Write;

use exporter_plugin_sdk::civil::{MICROS_PER_SECOND, SECONDS_PER_DAY, civil_from_days};
use exporter_plugin_sdk::{FormatError, Output};
use flate2::Compression;
use flate2::write::DeflateEncoder;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const DATA_DESCRIPTOR: u32 = 0x0807_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_CENTRAL_DIRECTORY: u32 = 0x0605_4b50;
/// Bit 3: CRC and sizes follow the data. Bit 11: the name is UTF-8.
const FLAGS: u16 = (1 << 3) | (1 << 11);
const DEFLATE: u16 = 8;
/// 2.0: deflate and data descriptors, nothing newer.
const VERSION: u16 = 20;

/// An archive being written to an [`Output`].
pub struct Archive {
    entries: Vec<Entry>,
    level: Compression,
    /// MS-DOS time and date stamped on every entry: the export's generation
    /// time, so the bytes depend only on the inputs.
    dos_time: u16,
    dos_date: u16,
}

/// What the central directory needs about a finished entry.
struct Entry {
    name: String,
    crc: u32,
    compressed: u32,
    uncompressed: u32,
    offset: u32,
}

/// One entry being written: its bytes go through deflate straight to the
/// output.
pub struct EntryWriter {
    name: String,
    offset: u32,
    crc: crc32fast::Hasher,
    uncompressed: u64,
    compressed: u64,
    deflate: DeflateEncoder<Vec<u8>>,
}

impl Archive {
    /// An empty archive whose entries are stamped with `micros` (since the
    /// epoch, UTC) and deflated at `level` (1-9).
    pub fn new(micros: i64, level: u32) -> Archive {
        let (dos_time, dos_date) = dos_timestamp(micros);
        Archive {
            entries: Vec::new(),
            level: Compression::new(level),
            dos_time,
            dos_date,
        }
    }

    /// Starts entry `name`, writing its local header.
    pub fn start(&mut self, name: &str, out: &mut Output) -> Result<EntryWriter, FormatError> {
        let offset = fits_32_bits(out.bytes_written(), "the workbook")?;
        let mut header = Vec::with_capacity(30 + name.len());
        put32(&mut header, LOCAL_HEADER);
        put16(&mut header, VERSION);
        put16(&mut header, FLAGS);
        put16(&mut header, DEFLATE);
        put16(&mut header, self.dos_time);
        put16(&mut header, self.dos_date);
        // CRC and sizes are in the data descriptor.
        header.extend_from_slice(&[0; 12]);
        put16(&mut header, name.len() as u16);
        put16(&mut header, 0); // no extra field
        header.extend_from_slice(name.as_bytes());
        out.write_bytes(&header);
        Ok(EntryWriter {
            name: name.to_owned(),
            offset,
            crc: crc32fast::Hasher::new(),
            uncompressed: 0,
            compressed: 0,
            deflate: DeflateEncoder::new(Vec::with_capacity(64 << 10), self.level),
        })
    }

    /// Ends `entry`: the rest of its deflate stream, then its descriptor.
    pub fn finish_entry(
        &mut self,
        entry: EntryWriter,
        out: &mut Output,
    ) -> Result<(), FormatError> {
        let EntryWriter {
            name,
            offset,
            crc,
            uncompressed,
            mut compressed,
            deflate,
        } = entry;
        let tail = deflate.finish()?;
        out.write_bytes(&tail);
        compressed += tail.len() as u64;
        let entry = Entry {
            crc: crc.finalize(),
            compressed: fits_32_bits(compressed, &name)?,
            uncompressed: fits_32_bits(uncompressed, &name)?,
            offset,
            name,
        };
        let mut descriptor = Vec::with_capacity(16);
        put32(&mut descriptor, DATA_DESCRIPTOR);
        put32(&mut descriptor, entry.crc);
        put32(&mut descriptor, entry.compressed);
        put32(&mut descriptor, entry.uncompressed);
        out.write_bytes(&descriptor);
        self.entries.push(entry);
        Ok(())
    }

    /// Writes a whole small entry at once.
    pub fn add(&mut self, name: &str, bytes: &[u8], out: &mut Output) -> Result<(), FormatError> {
        let mut entry = self.start(name, out)?;
        entry.write(bytes, out)?;
        self.finish_entry(entry, out)
    }

    /// Writes the central directory and its end record.
    pub fn finish(self, out: &mut Output) -> Result<(), FormatError> {
        let start = fits_32_bits(out.bytes_written(), "the workbook")?;
        let mut directory = Vec::new();
        for entry in &self.entries {
            put32(&mut directory, CENTRAL_HEADER);
            put16(&mut directory, VERSION); // made by: MS-DOS, 2.0
            put16(&mut directory, VERSION);
            put16(&mut directory, FLAGS);
            put16(&mut directory, DEFLATE);
            put16(&mut directory, self.dos_time);
            put16(&mut directory, self.dos_date);
            put32(&mut directory, entry.crc);
            put32(&mut directory, entry.compressed);
            put32(&mut directory, entry.uncompressed);
            put16(&mut directory, entry.name.len() as u16);
            put16(&mut directory, 0); // extra field
            put16(&mut directory, 0); // comment
            put16(&mut directory, 0); // disk number
            put16(&mut directory, 0); // internal attributes
            put32(&mut directory, 0); // external attributes
            put32(&mut directory, entry.offset);
            directory.extend_from_slice(entry.name.as_bytes());
        }
        let size = fits_32_bits(directory.len() as u64, "the central directory")?;
        fits_32_bits(u64::from(start) + u64::from(size), "the workbook")?;
        let count = u16::try_from(self.entries.len()).map_err(|_| {
            FormatError::Other(format!(
                "a workbook of {} parts needs ZIP64, which this format does not write",
                self.entries.len()
            ))
        })?;
        put32(&mut directory, END_OF_CENTRAL_DIRECTORY);
        put16(&mut directory, 0); // this disk
        put16(&mut directory, 0); // the directory's disk
        put16(&mut directory, count);
        put16(&mut directory, count);
        put32(&mut directory, size);
        put32(&mut directory, start);
        put16(&mut directory, 0); // comment length
        out.write_bytes(&directory);
        Ok(())
    }
}

impl EntryWriter {
    /// Appends `data` to the entry, handing whatever deflate has produced
    /// so far to `out`.
    pub fn write(&mut self, data: &[u8], out: &mut Output) -> Result<(), FormatError> {
        self.crc.update(data);
        self.uncompressed += data.len() as u64;
        self.deflate.write_all(data)?;
        let produced = self.deflate.get_mut();
        if !produced.is_empty() {
            out.write_bytes(produced);
            self.compressed += produced.len() as u64;
            produced.clear();
        }
        Ok(())
    }

    /// Bytes written into the entry so far, before compression.
    pub fn uncompressed(&self) -> u64 {
        self.uncompressed
    }
}

/// Fails when the archive so far leaves less than 16 MiB below 4 GiB for
/// the rest of the current sheet and the small parts.
pub fn check_room(out: &Output) -> Result<(), FormatError> {
    fits_32_bits(out.bytes_written() + (16 << 20), "the workbook").map(|_| ())
}

fn fits_32_bits(value: u64, what: &str) -> Result<u32, FormatError> {
    u32::try_from(value).map_err(|_| {
        FormatError::Other(format!(
            "{what} would pass 4 GiB, which needs ZIP64 (not written: LibreOffice cannot read streamed ZIP64); \
             export fewer rows per file or use CSV"
        ))
    })
}

fn put16(buf: &mut Vec<u8>, value: u16) {
    buf.extend_from_slice(&value.to_le_bytes());
}

fn put32(buf: &mut Vec<u8>, value: u32) {
    buf.extend_from_slice(&value.to_le_bytes());
}

/// MS-DOS (time, date) of `micros` since the epoch, clamped to the years
/// the format can hold (1980-2107); seconds are stored halved.
fn dos_timestamp(micros: i64) -> (u16, u16) {
    let seconds = micros.div_euclid(MICROS_PER_SECOND);
    let (year, month, day) = civil_from_days(seconds.div_euclid(SECONDS_PER_DAY));
    let of_day = seconds.rem_euclid(SECONDS_PER_DAY);
    if year < 1980 {
        return (0, (1 << 5) | 1); // 1980-01-01 00:00:00
    }
    if year > 2107 {
        return ((23 << 11) | (59 << 5) | 29, (127 << 9) | (12 << 5) | 31);
    }
    let time = ((of_day / 3600) << 11) | ((of_day % 3600 / 60) << 5) | ((of_day % 60) / 2);
    let date = ((year - 1980) << 9) | (i64::from(month) << 5) | i64::from(day);
    (time as u16, date as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_timestamps() {
        // 2026-01-01T00:00:00Z
        assert_eq!(
            dos_timestamp(1_767_225_600_000_000),
            (0, (46 << 9) | (1 << 5) | 1)
        );
        // 2026-06-15T23:59:59Z: seconds are halved.
        let micros = 1_781_567_999_000_000;
        assert_eq!(
            dos_timestamp(micros),
            ((23 << 11) | (59 << 5) | 29, (46 << 9) | (6 << 5) | 15)
        );
        assert_eq!(dos_timestamp(0), (0, (1 << 5) | 1));
        assert_eq!(dos_timestamp(i64::MAX).1 >> 9, 127);
    }
}
