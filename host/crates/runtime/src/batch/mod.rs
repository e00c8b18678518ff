//! Builds the columnar batches that cross into a plugin.
//!
//! Values go straight into the vectors the WIT `batch` record owns: no
//! intermediate row objects and no second copy before the boundary. Text is
//! one buffer plus offsets per column (Arrow style), so lowering a batch into
//! the guest is a few `memcpy`s rather than one allocation per string.

pub mod slice;
pub mod time;
mod value;

pub use value::Value;

use crate::{Batch, Column, ColumnData, ColumnType, ColumnValues, TextValues};

/// Rows per batch by default. Measured: 256..4096 barely matters for speed;
/// 4096 keeps a batch of wide rows within a few MiB.
pub const DEFAULT_BATCH_ROWS: usize = 4096;

/// A batch is also cut when its text reaches this many bytes, so a table of
/// huge text cells cannot make one batch enormous (and offsets stay far
/// below `u32::MAX`).
pub const MAX_BATCH_TEXT_BYTES: usize = 16 << 20;

/// A value did not match its column's type.
#[derive(Debug, thiserror::Error)]
#[error("column {column:?} is {expected:?} but got {got}")]
pub struct TypeMismatch {
    pub column: String,
    pub expected: ColumnType,
    pub got: &'static str,
}

/// Accumulates rows into a [`Batch`].
pub struct BatchBuilder {
    names: Vec<String>,
    columns: Vec<ColumnBuilder>,
    rows: usize,
    capacity: usize,
}

impl BatchBuilder {
    /// A builder for `columns`, cutting batches at `capacity` rows.
    pub fn new(columns: &[Column], capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            names: columns.iter().map(|c| c.name.clone()).collect(),
            columns: columns
                .iter()
                .map(|c| ColumnBuilder::new(c.kind, capacity))
                .collect(),
            rows: 0,
            capacity,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Whether the batch should be sent before adding more rows. Text is
    /// counted from the columns themselves, so rows decoded straight in
    /// through [`BatchBuilder::column`] are capped like [`push_row`]'s.
    ///
    /// [`push_row`]: BatchBuilder::push_row
    pub fn is_full(&self) -> bool {
        self.rows >= self.capacity
            || self
                .columns
                .iter()
                .map(ColumnBuilder::text_len)
                .sum::<usize>()
                >= MAX_BATCH_TEXT_BYTES
    }

    /// Appends one row; `row` has one value per column, in schema order.
    /// On a type mismatch the row is not added.
    pub fn push_row(&mut self, row: &[Value]) -> Result<(), TypeMismatch> {
        assert_eq!(
            row.len(),
            self.columns.len(),
            "row width must match the schema"
        );
        for (index, (column, value)) in self.columns.iter().zip(row).enumerate() {
            if !column.accepts(value) {
                return Err(TypeMismatch {
                    column: self.names[index].clone(),
                    expected: column.kind(),
                    got: value.type_name(),
                });
            }
        }
        for (column, value) in self.columns.iter_mut().zip(row) {
            column.push(value);
        }
        self.rows += 1;
        Ok(())
    }

    /// Typed access to one column, for sources that decode straight into the
    /// batch. Every column must receive exactly one value per row; call
    /// [`BatchBuilder::end_row`] after the last column of a row.
    pub fn column(&mut self, index: usize) -> &mut ColumnBuilder {
        &mut self.columns[index]
    }

    /// Ends a row written through [`BatchBuilder::column`].
    pub fn end_row(&mut self) {
        self.rows += 1;
        debug_assert!(self.columns.iter().all(|c| c.len == self.rows));
    }

    /// Takes the rows gathered so far as a batch and starts a new one with
    /// the same capacity.
    pub fn take(&mut self) -> Batch {
        let rows = self.rows;
        self.rows = 0;
        let columns = self
            .columns
            .iter_mut()
            .map(|c| c.take(self.capacity))
            .collect();
        Batch {
            rows: rows as u32,
            columns,
        }
    }
}

/// One column of a batch being built.
pub struct ColumnBuilder {
    values: ColumnValues,
    validity: Vec<u8>,
    nulls: usize,
    len: usize,
}

impl ColumnBuilder {
    fn new(kind: ColumnType, capacity: usize) -> Self {
        Self {
            values: empty_values(kind, capacity),
            validity: Vec::with_capacity(capacity.div_ceil(8)),
            nulls: 0,
            len: 0,
        }
    }

    fn kind(&self) -> ColumnType {
        match &self.values {
            ColumnValues::Boolean(_) => ColumnType::Boolean,
            ColumnValues::Int64(_) => ColumnType::Int64,
            ColumnValues::Float64(_) => ColumnType::Float64,
            ColumnValues::Decimal(_) => ColumnType::Decimal,
            ColumnValues::Text(_) => ColumnType::Text,
            ColumnValues::Date(_) => ColumnType::Date,
            ColumnValues::Timestamp(_) => ColumnType::Timestamp,
            ColumnValues::Json(_) => ColumnType::Json,
        }
    }

    fn mark(&mut self, present: bool) {
        let bit = self.len % 8;
        if bit == 0 {
            self.validity.push(0);
        }
        if present {
            *self.validity.last_mut().expect("pushed above") |= 1 << bit;
        } else {
            self.nulls += 1;
        }
        self.len += 1;
    }

    fn accepts(&self, value: &Value) -> bool {
        matches!(
            (&self.values, value),
            (_, Value::Null)
                | (ColumnValues::Boolean(_), Value::Boolean(_))
                | (ColumnValues::Int64(_), Value::Int64(_))
                | (
                    ColumnValues::Float64(_),
                    Value::Float64(_) | Value::Int64(_)
                )
                | (
                    ColumnValues::Decimal(_),
                    Value::Decimal(_) | Value::Int64(_)
                )
                | (ColumnValues::Text(_), Value::Text(_))
                | (ColumnValues::Date(_), Value::Date(_))
                | (ColumnValues::Timestamp(_), Value::Timestamp(_))
                | (ColumnValues::Json(_), Value::Json(_))
        )
    }

    /// Pushes a value the column accepts.
    fn push(&mut self, value: &Value) {
        match (value, &self.values) {
            (Value::Null, _) => self.push_null(),
            (Value::Boolean(v), _) => self.push_bool(Some(*v)),
            (Value::Int64(v), ColumnValues::Float64(_)) => self.push_f64(Some(*v as f64)),
            (Value::Int64(v), ColumnValues::Decimal(_)) => self.push_str(Some(&v.to_string())),
            (Value::Int64(v), _) => self.push_i64(Some(*v)),
            (Value::Float64(v), _) => self.push_f64(Some(*v)),
            (Value::Date(v), _) => self.push_date(Some(*v)),
            (Value::Timestamp(v), _) => self.push_timestamp(Some(*v)),
            (Value::Decimal(s) | Value::Text(s) | Value::Json(s), _) => self.push_str(Some(s)),
        }
    }

    /// Bytes of text held (0 for other types).
    fn text_len(&self) -> usize {
        match &self.values {
            ColumnValues::Decimal(t) | ColumnValues::Text(t) | ColumnValues::Json(t) => {
                t.data.len()
            }
            _ => 0,
        }
    }

    /// A null of any type.
    pub fn push_null(&mut self) {
        match &mut self.values {
            ColumnValues::Boolean(v) => v.push(false),
            ColumnValues::Int64(v) | ColumnValues::Timestamp(v) => v.push(0),
            ColumnValues::Float64(v) => v.push(0.0),
            ColumnValues::Date(v) => v.push(0),
            ColumnValues::Decimal(t) | ColumnValues::Text(t) | ColumnValues::Json(t) => {
                t.offsets.push(t.data.len() as u32)
            }
        }
        self.mark(false);
    }

    pub fn push_bool(&mut self, value: Option<bool>) {
        match (&mut self.values, value) {
            (ColumnValues::Boolean(v), Some(b)) => {
                v.push(b);
                self.mark(true);
            }
            (ColumnValues::Boolean(_), None) => self.push_null(),
            _ => panic!("push_bool on a {:?} column", self.kind()),
        }
    }

    pub fn push_i64(&mut self, value: Option<i64>) {
        match (&mut self.values, value) {
            (ColumnValues::Int64(v), Some(n)) => {
                v.push(n);
                self.mark(true);
            }
            (ColumnValues::Int64(_), None) => self.push_null(),
            _ => panic!("push_i64 on a {:?} column", self.kind()),
        }
    }

    pub fn push_f64(&mut self, value: Option<f64>) {
        match (&mut self.values, value) {
            (ColumnValues::Float64(v), Some(n)) => {
                v.push(n);
                self.mark(true);
            }
            (ColumnValues::Float64(_), None) => self.push_null(),
            _ => panic!("push_f64 on a {:?} column", self.kind()),
        }
    }

    pub fn push_date(&mut self, value: Option<i32>) {
        match (&mut self.values, value) {
            (ColumnValues::Date(v), Some(n)) => {
                v.push(n);
                self.mark(true);
            }
            (ColumnValues::Date(_), None) => self.push_null(),
            _ => panic!("push_date on a {:?} column", self.kind()),
        }
    }

    pub fn push_timestamp(&mut self, value: Option<i64>) {
        match (&mut self.values, value) {
            (ColumnValues::Timestamp(v), Some(n)) => {
                v.push(n);
                self.mark(true);
            }
            (ColumnValues::Timestamp(_), None) => self.push_null(),
            _ => panic!("push_timestamp on a {:?} column", self.kind()),
        }
    }

    /// Text, decimal or JSON (the caller guarantees JSON is valid).
    pub fn push_str(&mut self, value: Option<&str>) {
        match (&mut self.values, value) {
            (ColumnValues::Decimal(t) | ColumnValues::Text(t) | ColumnValues::Json(t), Some(s)) => {
                t.data.extend_from_slice(s.as_bytes());
                t.offsets.push(t.data.len() as u32);
                self.mark(true);
            }
            (ColumnValues::Decimal(_) | ColumnValues::Text(_) | ColumnValues::Json(_), None) => {
                self.push_null()
            }
            _ => panic!("push_str on a {:?} column", self.kind()),
        }
    }

    fn take(&mut self, capacity: usize) -> ColumnData {
        let kind = self.kind();
        let values = std::mem::replace(&mut self.values, empty_values(kind, capacity));
        let validity =
            std::mem::replace(&mut self.validity, Vec::with_capacity(capacity.div_ceil(8)));
        let validity = (self.nulls > 0).then_some(validity);
        self.nulls = 0;
        self.len = 0;
        ColumnData { values, validity }
    }
}

fn empty_values(kind: ColumnType, capacity: usize) -> ColumnValues {
    let text = || TextValues {
        data: Vec::with_capacity(capacity * 16),
        offsets: {
            let mut offsets = Vec::with_capacity(capacity + 1);
            offsets.push(0);
            offsets
        },
    };
    match kind {
        ColumnType::Boolean => ColumnValues::Boolean(Vec::with_capacity(capacity)),
        ColumnType::Int64 => ColumnValues::Int64(Vec::with_capacity(capacity)),
        ColumnType::Float64 => ColumnValues::Float64(Vec::with_capacity(capacity)),
        ColumnType::Decimal => ColumnValues::Decimal(text()),
        ColumnType::Text => ColumnValues::Text(text()),
        ColumnType::Date => ColumnValues::Date(Vec::with_capacity(capacity)),
        ColumnType::Timestamp => ColumnValues::Timestamp(Vec::with_capacity(capacity)),
        ColumnType::Json => ColumnValues::Json(text()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Vec<Column> {
        vec![
            Column {
                name: "id".into(),
                kind: ColumnType::Int64,
            },
            Column {
                name: "name".into(),
                kind: ColumnType::Text,
            },
        ]
    }

    #[test]
    fn text_caps_a_batch_whichever_way_rows_arrive() {
        let big = "x".repeat(MAX_BATCH_TEXT_BYTES / 2);
        let mut builder = BatchBuilder::new(&schema(), 4096);
        builder
            .push_row(&[Value::Int64(1), Value::Text(big.clone())])
            .unwrap();
        assert!(!builder.is_full());
        // The typed path the database sources decode through.
        builder.column(0).push_i64(Some(2));
        builder.column(1).push_str(Some(&big));
        builder.end_row();
        assert!(builder.is_full(), "two rows of half the cap fill a batch");
        assert_eq!(builder.take().rows, 2);
        assert!(!builder.is_full(), "a new batch starts empty");
    }

    #[test]
    fn builds_columnar_batches_with_validity() {
        let mut builder = BatchBuilder::new(&schema(), 4);
        builder
            .push_row(&[Value::Int64(1), Value::Text("a".into())])
            .unwrap();
        builder
            .push_row(&[Value::Null, Value::Text("héllo".into())])
            .unwrap();
        builder.push_row(&[Value::Int64(3), Value::Null]).unwrap();
        let batch = builder.take();
        assert_eq!(batch.rows, 3);
        assert_eq!(batch.columns[0].validity, Some(vec![0b101]));
        assert_eq!(batch.columns[1].validity, Some(vec![0b011]));
        match &batch.columns[1].values {
            ColumnValues::Text(t) => {
                assert_eq!(t.offsets, vec![0, 1, 7, 7]);
                assert_eq!(t.data, "ahéllo".as_bytes());
            }
            other => panic!("{other:?}"),
        }
        assert!(builder.is_empty());
        builder
            .push_row(&[Value::Int64(4), Value::Text("x".into())])
            .unwrap();
        let batch = builder.take();
        assert_eq!(batch.columns[0].validity, None, "no nulls: no bitmap");
    }

    #[test]
    fn refuses_mismatched_values_without_adding_the_row() {
        let mut builder = BatchBuilder::new(&schema(), 4);
        let error = builder
            .push_row(&[Value::Int64(1), Value::Int64(2)])
            .unwrap_err();
        assert_eq!(error.column, "name");
        assert!(builder.is_empty());
    }
}
