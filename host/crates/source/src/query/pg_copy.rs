//! PostgreSQL's binary `COPY (SELECT ...) TO STDOUT` as the row source.
//!
//! Row-at-a-time fetching builds a `PgRow` per row and type-checks every
//! cell through sqlx; `COPY` streams the same rows as one flat run of
//! length-prefixed cells that decode straight into the batch columns. The
//! select is the export query's own, each column cast to the one PostgreSQL
//! type its kind is read as, so the binary layout is fixed whatever the
//! catalog's expression yields.
//!
//! `COPY` takes no bind parameters, so the few values a request supplies
//! (tenant, user, day boundaries) are written into the statement as
//! literals: text as an escape string with every quote and backslash
//! doubled, dates and instants as typed literals of digits. See
//! `sql::pg_literal`.

use bytes::Bytes;
use futures::TryStreamExt as _;
use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};
use tokio::sync::mpsc;

use super::read::SourceError;
use super::sql::{Placeholders, Shape, build};
use super::{ExportQuery, Keyed, read_schema};
use crate::catalog::Dialect;
use exporter_runtime::batch::{BatchBuilder, ColumnBuilder};
use exporter_runtime::{Batch, ColumnType};

/// The 11-byte signature, 4 bytes of flags, 4 bytes of header extension
/// length.
const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
const FIXED_HEADER: usize = SIGNATURE.len() + 4 + 4;

/// PostgreSQL counts dates and timestamps from 2000-01-01.
const PG_EPOCH_DAYS: i32 = 10_957;
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// The `COPY` statement for `query`, with its parameters as literals.
#[cfg(test)]
fn copy_statement(query: &ExportQuery) -> Result<String, SourceError> {
    keyed_copy_statement(query, None)
}

fn keyed_copy_statement(query: &ExportQuery, keyed: Option<Keyed>) -> Result<String, SourceError> {
    let select = select_with(query, keyed)?;
    Ok(format!("COPY ({select}) TO STDOUT (FORMAT binary)"))
}

/// The export's `SELECT` with every parameter written in as a literal:
/// what `COPY` runs, and what `exporter dataset sql` prints.
pub fn select_with_literals(query: &ExportQuery) -> Result<String, SourceError> {
    select_with(query, None)
}

fn select_with(query: &ExportQuery, keyed: Option<Keyed>) -> Result<String, SourceError> {
    Ok(build(
        query,
        Dialect::Postgres,
        Shape::CastRows,
        keyed,
        Placeholders::PgLiterals,
    )?
    .text)
}

/// Runs `query` as a binary `COPY` and sends its rows as batches.
pub(super) async fn send_batches(
    pool: &PgPool,
    query: &ExportQuery,
    keyed: Option<Keyed<'_>>,
    batch_rows: usize,
    tx: mpsc::Sender<Batch>,
) -> Result<u64, SourceError> {
    let schema = read_schema(query, keyed)?;
    let statement = keyed_copy_statement(query, keyed)?;
    let failed = |source: anyhow::Error| SourceError::Database {
        dataset: query.dataset.name.clone(),
        source,
    };

    let mut connection = ConnectionGuard {
        connection: pool
            .acquire()
            .await
            .map_err(|e| failed(anyhow::Error::new(e)))?,
        finished: false,
    };
    let mut decoder = Decoder::new(schema.iter().map(|c| c.kind).collect());
    let mut builder = BatchBuilder::new(&schema, batch_rows);
    let mut rows = 0u64;
    {
        let mut stream = connection
            .connection
            .copy_out_raw(&statement)
            .await
            .map_err(|e| failed(anyhow::Error::new(e)))?;
        while let Some(chunk) = stream
            .try_next()
            .await
            .map_err(|e| failed(anyhow::Error::new(e)))?
        {
            let data = decoder.take_pending(chunk);
            let mut at = 0;
            loop {
                match decoder.step(&data[at..], &mut builder).map_err(failed)? {
                    Step::Header(used) | Step::End(used) => at += used,
                    Step::Row(used) => {
                        at += used;
                        rows += 1;
                        if builder.is_full() {
                            tx.send(builder.take())
                                .await
                                .map_err(|_| SourceError::Closed)?;
                        }
                    }
                    Step::NeedMore => break,
                }
            }
            decoder.keep_pending(&data[at..]);
        }
    }
    connection.finished = true;
    decoder.check_finished().map_err(failed)?;
    if !builder.is_empty() {
        tx.send(builder.take())
            .await
            .map_err(|_| SourceError::Closed)?;
    }
    Ok(rows)
}

/// Returns the connection to the pool only after a `COPY` read to its end.
/// Stopped early (a cancelled export, a plugin failure, an error), the
/// server would still be streaming the rest of the rows, and the next user
/// of the connection would have to drain them first: close it instead.
struct ConnectionGuard {
    connection: PoolConnection<Postgres>,
    finished: bool,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.connection.close_on_drop();
        }
    }
}

/// What [`Decoder::step`] found; the numbers are bytes used.
enum Step {
    Header(usize),
    Row(usize),
    End(usize),
    NeedMore,
}

/// Decodes the binary `COPY` format: a header, then per row a 16-bit field
/// count and per field a 32-bit length (-1 for NULL) and the value, then a
/// field count of -1.
struct Decoder {
    kinds: Vec<ColumnType>,
    header_done: bool,
    trailer_seen: bool,
    /// The start of a row split across two chunks.
    pending: Vec<u8>,
}

impl Decoder {
    fn new(kinds: Vec<ColumnType>) -> Self {
        Self {
            kinds,
            header_done: false,
            trailer_seen: false,
            pending: Vec::new(),
        }
    }

    /// The bytes to decode next: `chunk`, after any partial row kept from
    /// the chunk before. PostgreSQL sends one message per row, so the
    /// common case copies nothing.
    fn take_pending(&mut self, chunk: Bytes) -> Bytes {
        if self.pending.is_empty() {
            chunk
        } else {
            let mut joined = std::mem::take(&mut self.pending);
            joined.extend_from_slice(&chunk);
            Bytes::from(joined)
        }
    }

    fn keep_pending(&mut self, rest: &[u8]) {
        self.pending.extend_from_slice(rest);
    }

    /// Decodes what starts `data`: the header, one whole row (into
    /// `builder`) or the trailer. A row is checked whole before any of it
    /// is added, so a row split across chunks is never half in the batch.
    fn step(&mut self, data: &[u8], builder: &mut BatchBuilder) -> anyhow::Result<Step> {
        if !self.header_done {
            if data.len() < FIXED_HEADER {
                return Ok(Step::NeedMore);
            }
            anyhow::ensure!(
                data.starts_with(SIGNATURE),
                "not a binary COPY stream (bad signature)"
            );
            let extension = read_i32(&data[FIXED_HEADER - 4..]);
            anyhow::ensure!(extension >= 0, "a negative COPY header extension");
            let header = FIXED_HEADER + extension as usize;
            if data.len() < header {
                return Ok(Step::NeedMore);
            }
            self.header_done = true;
            return Ok(Step::Header(header));
        }
        if data.len() < 2 {
            return Ok(Step::NeedMore);
        }
        anyhow::ensure!(!self.trailer_seen, "data after the end of the COPY stream");
        let fields = i16::from_be_bytes([data[0], data[1]]);
        if fields == -1 {
            self.trailer_seen = true;
            return Ok(Step::End(2));
        }
        anyhow::ensure!(
            fields as usize == self.kinds.len(),
            "a COPY row has {fields} fields, the export {}",
            self.kinds.len()
        );
        // First pass: is the whole row here, and is every length valid?
        let mut at = 2;
        for _ in 0..self.kinds.len() {
            if data.len() < at + 4 {
                return Ok(Step::NeedMore);
            }
            let length = read_i32(&data[at..]);
            at += 4;
            anyhow::ensure!(length >= -1, "a negative COPY field length");
            at += length.max(0) as usize;
        }
        if data.len() < at {
            return Ok(Step::NeedMore);
        }
        // Second pass: decode.
        let mut at = 2;
        for (index, kind) in self.kinds.iter().enumerate() {
            let length = read_i32(&data[at..]);
            at += 4;
            let column = builder.column(index);
            if length < 0 {
                column.push_null();
                continue;
            }
            let value = &data[at..at + length as usize];
            at += length as usize;
            decode(*kind, value, column)?;
        }
        builder.end_row();
        Ok(Step::Row(at))
    }

    fn check_finished(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.trailer_seen && self.pending.is_empty(),
            "the COPY stream ended without its trailer"
        );
        Ok(())
    }
}

/// One non-NULL value, in the binary form of the type `kind` is cast to
/// (see `sql::copy_cast`).
fn decode(kind: ColumnType, value: &[u8], column: &mut ColumnBuilder) -> anyhow::Result<()> {
    match kind {
        ColumnType::Boolean => {
            anyhow::ensure!(value.len() == 1, "a boolean of {} bytes", value.len());
            column.push_bool(Some(value[0] != 0));
        }
        ColumnType::Int64 => column.push_i64(Some(i64::from_be_bytes(fixed(value)?))),
        ColumnType::Float64 => column.push_f64(Some(f64::from_be_bytes(fixed(value)?))),
        ColumnType::Date => {
            let raw = i32::from_be_bytes(fixed(value)?);
            let days = raw
                .checked_add(PG_EPOCH_DAYS)
                .filter(|_| raw != i32::MIN)
                .ok_or_else(|| anyhow::anyhow!("an infinite or out-of-range date"))?;
            column.push_date(Some(days));
        }
        ColumnType::Timestamp => {
            let raw = i64::from_be_bytes(fixed(value)?);
            let micros = raw
                .checked_add(PG_EPOCH_MICROS)
                .filter(|_| raw != i64::MIN)
                .ok_or_else(|| anyhow::anyhow!("an infinite or out-of-range timestamp"))?;
            column.push_timestamp(Some(micros));
        }
        ColumnType::Decimal | ColumnType::Text | ColumnType::Json => {
            column.push_str(Some(std::str::from_utf8(value)?))
        }
    }
    Ok(())
}

fn fixed<const N: usize>(value: &[u8]) -> anyhow::Result<[u8; N]> {
    value
        .try_into()
        .map_err(|_| anyhow::anyhow!("a {N}-byte value of {} bytes", value.len()))
}

fn read_i32(bytes: &[u8]) -> i32 {
    i32::from_be_bytes(bytes[..4].try_into().expect("four bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use exporter_runtime::{Column, ColumnValues};

    fn header() -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend_from_slice(&0i32.to_be_bytes()); // flags
        out.extend_from_slice(&4i32.to_be_bytes()); // a header extension ...
        out.extend_from_slice(b"skip"); // ... that readers must skip
        out
    }

    fn field(out: &mut Vec<u8>, value: Option<&[u8]>) {
        match value {
            Some(bytes) => {
                out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                out.extend_from_slice(bytes);
            }
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }

    /// Two rows of (int8, text, timestamptz, date, bool, float8) and the trailer.
    fn stream() -> Vec<u8> {
        let mut out = header();
        for (n, text, null) in [(1i64, "héllo, \"world\"", false), (-2, "", true)] {
            out.extend_from_slice(&6i16.to_be_bytes());
            field(&mut out, Some(&n.to_be_bytes()));
            field(&mut out, Some(text.as_bytes()));
            // 2000-01-01T00:00:01Z and 1999-12-31 (before PostgreSQL's epoch).
            field(&mut out, (!null).then_some(&1_000_000i64.to_be_bytes()[..]));
            field(&mut out, Some(&(-1i32).to_be_bytes()));
            field(&mut out, Some(&[u8::from(!null)]));
            field(&mut out, (!null).then_some(&0.5f64.to_be_bytes()[..]));
        }
        out.extend_from_slice(&(-1i16).to_be_bytes());
        out
    }

    fn schema() -> Vec<Column> {
        [
            ColumnType::Int64,
            ColumnType::Text,
            ColumnType::Timestamp,
            ColumnType::Date,
            ColumnType::Boolean,
            ColumnType::Float64,
        ]
        .into_iter()
        .enumerate()
        .map(|(i, kind)| Column {
            name: format!("c{i}"),
            kind,
        })
        .collect()
    }

    /// Feeds `chunks` as the server's messages would arrive.
    fn decode_chunks(chunks: Vec<Vec<u8>>) -> anyhow::Result<(u64, Batch)> {
        let schema = schema();
        let mut decoder = Decoder::new(schema.iter().map(|c| c.kind).collect());
        let mut builder = BatchBuilder::new(&schema, 100);
        let mut rows = 0;
        for chunk in chunks {
            let data = decoder.take_pending(Bytes::from(chunk));
            let mut at = 0;
            loop {
                match decoder.step(&data[at..], &mut builder)? {
                    Step::Header(used) | Step::End(used) => at += used,
                    Step::Row(used) => {
                        at += used;
                        rows += 1;
                    }
                    Step::NeedMore => break,
                }
            }
            decoder.keep_pending(&data[at..]);
        }
        decoder.check_finished()?;
        Ok((rows, builder.take()))
    }

    #[test]
    fn decodes_every_kind_and_nulls_whatever_the_chunking() {
        let whole = stream();
        let (rows, expected) = decode_chunks(vec![whole.clone()]).unwrap();
        assert_eq!(rows, 2);
        match &expected.columns[0].values {
            ColumnValues::Int64(v) => assert_eq!(v, &[1, -2]),
            other => panic!("{other:?}"),
        }
        match &expected.columns[1].values {
            ColumnValues::Text(t) => {
                assert_eq!(t.data, "héllo, \"world\"".as_bytes());
                assert_eq!(t.offsets, [0, 15, 15]);
            }
            other => panic!("{other:?}"),
        }
        match &expected.columns[2].values {
            ColumnValues::Timestamp(v) => assert_eq!(v[0], PG_EPOCH_MICROS + 1_000_000),
            other => panic!("{other:?}"),
        }
        assert_eq!(expected.columns[2].validity.as_deref(), Some(&[0b01][..]));
        match &expected.columns[3].values {
            ColumnValues::Date(v) => assert_eq!(v, &[PG_EPOCH_DAYS - 1; 2]),
            other => panic!("{other:?}"),
        }
        match &expected.columns[4].values {
            ColumnValues::Boolean(v) => assert_eq!(v, &[true, false]),
            other => panic!("{other:?}"),
        }
        // Every split point, and one byte at a time, give the same batch
        // (the generated batch type has no `PartialEq`: compare its Debug).
        let expected = format!("{expected:?}");
        for split in 1..whole.len() {
            let (rows, batch) =
                decode_chunks(vec![whole[..split].to_vec(), whole[split..].to_vec()]).unwrap();
            assert_eq!(
                (rows, format!("{batch:?}")),
                (2, expected.clone()),
                "split at {split}"
            );
        }
        let bytes = whole.iter().map(|b| vec![*b]).collect();
        let (rows, batch) = decode_chunks(bytes).unwrap();
        assert_eq!((rows, format!("{batch:?}")), (2, expected));
    }

    #[test]
    fn refuses_malformed_streams() {
        let whole = stream();
        let truncated = whole[..whole.len() - 2].to_vec();
        let error = decode_chunks(vec![truncated]).unwrap_err();
        assert!(error.to_string().contains("without its trailer"), "{error}");

        let mut extra = whole.clone();
        extra.extend_from_slice(&[0, 6]);
        let error = decode_chunks(vec![extra]).unwrap_err();
        assert!(error.to_string().contains("after the end"), "{error}");

        let mut bad = whole.clone();
        bad[0] = b'X';
        let error = decode_chunks(vec![bad]).unwrap_err();
        assert!(error.to_string().contains("signature"), "{error}");

        // A row with a field count that is not the export's.
        let mut wide = header();
        wide.extend_from_slice(&7i16.to_be_bytes());
        let error = decode_chunks(vec![wide]).unwrap_err();
        assert!(error.to_string().contains("7 fields"), "{error}");

        // An int8 that is not 8 bytes (a column of the wrong type).
        let mut short = header();
        short.extend_from_slice(&6i16.to_be_bytes());
        field(&mut short, Some(&1i32.to_be_bytes()));
        for _ in 0..5 {
            field(&mut short, None);
        }
        let error = decode_chunks(vec![short]).unwrap_err();
        assert!(error.to_string().contains("8-byte value of 4"), "{error}");

        // Infinity.
        let mut infinite = header();
        infinite.extend_from_slice(&6i16.to_be_bytes());
        field(&mut infinite, None);
        field(&mut infinite, None);
        field(&mut infinite, Some(&i64::MIN.to_be_bytes()));
        for _ in 0..3 {
            field(&mut infinite, None);
        }
        let error = decode_chunks(vec![infinite]).unwrap_err();
        assert!(error.to_string().contains("infinite"), "{error}");

        // Text that is not UTF-8.
        let mut latin1 = header();
        latin1.extend_from_slice(&6i16.to_be_bytes());
        field(&mut latin1, None);
        field(&mut latin1, Some(b"caf\xe9"));
        for _ in 0..4 {
            field(&mut latin1, None);
        }
        assert!(decode_chunks(vec![latin1]).is_err());
    }

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        use crate::query::QueryError;
        use crate::query::sql::text_literal as literal;
        assert_eq!(literal("acme").unwrap(), "E'acme'");
        assert_eq!(literal(r"x' OR '1'='1").unwrap(), r"E'x'' OR ''1''=''1'");
        assert_eq!(literal(r"a\'b").unwrap(), r"E'a\\''b'");
        assert_eq!(literal("Zoë 🦀").unwrap(), "E'Zoë 🦀'");
        assert_eq!(literal("a\0b").unwrap_err(), QueryError::NulInFilter);
    }

    #[test]
    fn the_copy_select_inlines_parameters_in_place() {
        let query = ExportQuery {
            dataset: crate::catalog::seed::dataset("sessions"),
            organization_id: Some("o'1".into()),
            user_id: Some("u$1".into()),
            from: Some(1),
            to: Some(1),
            columns: vec!["id".into(), "started_at".into(), "pages_viewed".into()],
            filters: Default::default(),
            access: crate::query::Access::unkeyed_superadmin(),
        };
        let statement = copy_statement(&query).unwrap();
        assert!(
            statement.starts_with(
                "COPY (SELECT (d.\"id\")::text, (d.\"started_at\")::timestamptz, (d.\"pages_viewed\")::int8 \
                 FROM (SELECT s.id,"
            ),
            "{statement}"
        );
        assert!(
            statement.ends_with(
                "FROM sessions s JOIN users u ON u.id = s.user_id) AS d \
                 WHERE d.\"organization_id\" = E'o''1' AND d.\"user_id\" = E'u$1' \
                 AND d.\"started_at\" >= '1970-01-02T00:00:00Z'::timestamptz \
                 AND d.\"started_at\" < '1970-01-03T00:00:00Z'::timestamptz \
                 ORDER BY d.\"started_at\", d.\"id\") TO STDOUT (FORMAT binary)"
            ),
            "{statement}"
        );
        // A resumed export starts after a part's last key, written in as
        // an exact instant and an escaped id.
        let key = crate::RowKey {
            values: vec![
                crate::KeyValue::Timestamp(86_400_000_001),
                crate::KeyValue::Text("s'9".into()),
            ],
        };
        let keyed = keyed_copy_statement(&query, Some(Keyed { after: Some(&key) })).unwrap();
        assert!(
            keyed.contains(
                "AND d.\"started_at\" >= '1970-01-02T00:00:00.000001Z'::timestamptz \
                 AND (d.\"started_at\", d.\"id\") > ('1970-01-02T00:00:00.000001Z'::timestamptz, E's''9') \
                 ORDER BY"
            ),
            "{keyed}"
        );
        assert!(keyed.contains(
            "(d.\"pages_viewed\")::int8, (d.\"started_at\")::timestamptz, (d.\"id\")::text FROM"
        ));
    }
}
