//! Borrowed, validated views over the columnar batches the host sends.

use crate::bindings::exporter::formatter::types as wit;
use crate::{Column, ColumnType, FormatError};

/// One batch of rows, validated against the export's schema.
///
/// By the time an [`Encoder`](crate::Encoder) sees a `Batch`, the SDK has
/// checked it once: one column per schema column with the declared type,
/// `rows` values in each, a validity bitmap long enough, text that is UTF-8
/// with offsets in range, non-decreasing and on character boundaries. A
/// batch that fails is refused with [`FormatError::InvalidData`] before the
/// format runs, so reading values afterwards cannot fail.
///
/// Two ways to read it:
///
/// * row-wise with [`Batch::value`], which returns a [`Value`] and never
///   allocates;
/// * column-wise with [`Batch::column`] and the typed slices of
///   [`ColumnRef`], for formats that are themselves columnar.
///
/// Indexing past [`Batch::rows`] or [`Batch::column_count`] panics, like
/// slice indexing: it is a bug in the format, not bad input.
#[derive(Debug)]
pub struct Batch<'a> {
    rows: usize,
    columns: Vec<ColumnRef<'a>>,
}

/// One column of a [`Batch`].
#[derive(Debug, Clone, Copy)]
pub struct ColumnRef<'a> {
    schema: &'a Column,
    values: Values<'a>,
    validity: Option<&'a [u8]>,
    rows: usize,
}

#[derive(Debug, Clone, Copy)]
enum Values<'a> {
    Boolean(&'a [bool]),
    Int64(&'a [i64]),
    Float64(&'a [f64]),
    Decimal(TextColumn<'a>),
    Text(TextColumn<'a>),
    Date(&'a [i32]),
    Timestamp(&'a [i64]),
    Json(TextColumn<'a>),
}

/// The values of a text-shaped column (text, decimal or json), Arrow style:
/// value `i` is `data[offsets[i]..offsets[i + 1]]`.
#[derive(Debug, Clone, Copy)]
pub struct TextColumn<'a> {
    data: &'a str,
    offsets: &'a [u32],
}

/// One cell, read row-wise with [`Batch::value`] or [`ColumnRef::value`].
///
/// Text-shaped values borrow from the batch; nothing is copied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// The row is null in this column.
    Null,
    /// A boolean column's value.
    Boolean(bool),
    /// An int64 column's value.
    Int64(i64),
    /// A float64 column's value; may be NaN or infinite.
    Float64(f64),
    /// A decimal column's value as exact text, e.g. `-12.50`.
    Decimal(&'a str),
    /// A text column's value.
    Text(&'a str),
    /// A date column's value: days since 1970-01-01.
    Date(i32),
    /// A timestamp column's value: microseconds since the epoch, UTC.
    Timestamp(i64),
    /// A json column's value: a JSON document as text.
    Json(&'a str),
}

impl Value<'_> {
    /// Whether this is [`Value::Null`].
    #[inline]
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

impl<'a> Batch<'a> {
    /// Validate `batch` against `schema` and build the view.
    pub(crate) fn new(
        batch: &'a wit::Batch,
        schema: &'a [Column],
    ) -> Result<Batch<'a>, FormatError> {
        let rows = usize::try_from(batch.rows).map_err(|_| malformed("row count overflows"))?;
        if batch.columns.len() != schema.len() {
            return Err(malformed(&format!(
                "it has {} columns, the schema has {}",
                batch.columns.len(),
                schema.len()
            )));
        }
        let columns = batch
            .columns
            .iter()
            .zip(schema)
            .enumerate()
            .map(|(index, (data, column))| {
                ColumnRef::new(data, column, rows).map_err(|problem| {
                    malformed(&format!("column {index} ({:?}) {problem}", column.name))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Batch { rows, columns })
    }

    /// The number of rows.
    #[inline]
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Whether the batch has no rows.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The number of columns (the schema's).
    #[inline]
    pub fn column_count(&self) -> usize {
        self.columns.len()
    }

    /// Column `index`, in schema order.
    #[inline]
    pub fn column(&self, index: usize) -> &ColumnRef<'a> {
        &self.columns[index]
    }

    /// All columns, in schema order.
    #[inline]
    pub fn columns(&self) -> &[ColumnRef<'a>] {
        &self.columns
    }

    /// The value at `row` in column `column`.
    #[inline]
    pub fn value(&self, row: usize, column: usize) -> Value<'a> {
        self.columns[column].value(row)
    }

    /// Whether `row` is null in column `column`.
    #[inline]
    pub fn is_null(&self, row: usize, column: usize) -> bool {
        self.columns[column].is_null(row)
    }
}

impl<'a> ColumnRef<'a> {
    fn new(data: &'a wit::ColumnData, schema: &'a Column, rows: usize) -> Result<Self, String> {
        let values = match (&data.values, schema.kind) {
            (wit::ColumnValues::Boolean(v), ColumnType::Boolean) => {
                Values::Boolean(check_len(v, rows)?)
            }
            (wit::ColumnValues::Int64(v), ColumnType::Int64) => Values::Int64(check_len(v, rows)?),
            (wit::ColumnValues::Float64(v), ColumnType::Float64) => {
                Values::Float64(check_len(v, rows)?)
            }
            (wit::ColumnValues::Decimal(v), ColumnType::Decimal) => {
                Values::Decimal(TextColumn::new(v, rows)?)
            }
            (wit::ColumnValues::Text(v), ColumnType::Text) => {
                Values::Text(TextColumn::new(v, rows)?)
            }
            (wit::ColumnValues::Date(v), ColumnType::Date) => Values::Date(check_len(v, rows)?),
            (wit::ColumnValues::Timestamp(v), ColumnType::Timestamp) => {
                Values::Timestamp(check_len(v, rows)?)
            }
            (wit::ColumnValues::Json(v), ColumnType::Json) => {
                Values::Json(TextColumn::new(v, rows)?)
            }
            (other, declared) => {
                return Err(format!(
                    "is declared {declared} but holds {} values",
                    carried_kind(other)
                ));
            }
        };
        let validity = match &data.validity {
            Some(bits) if bits.len() < rows.div_ceil(8) => {
                return Err(format!(
                    "has a validity bitmap of {} bytes; {rows} rows need {}",
                    bits.len(),
                    rows.div_ceil(8)
                ));
            }
            Some(bits) => Some(bits.as_slice()),
            None => None,
        };
        Ok(ColumnRef {
            schema,
            values,
            validity,
            rows,
        })
    }

    /// The column's name.
    #[inline]
    pub fn name(&self) -> &'a str {
        &self.schema.name
    }

    /// The column's type.
    #[inline]
    pub fn kind(&self) -> ColumnType {
        self.schema.kind
    }

    /// The number of rows (the batch's).
    #[inline]
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether the column has no rows.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Whether `row` holds a value (is not null).
    #[inline]
    pub fn is_valid(&self, row: usize) -> bool {
        match self.validity {
            None => true,
            Some(bits) => bits[row >> 3] & (1 << (row & 7)) != 0,
        }
    }

    /// Whether `row` is null.
    #[inline]
    pub fn is_null(&self, row: usize) -> bool {
        !self.is_valid(row)
    }

    /// Whether any row is null. Cheap when the host sent no bitmap.
    pub fn has_nulls(&self) -> bool {
        self.validity.is_some() && self.null_count() > 0
    }

    /// How many rows are null.
    pub fn null_count(&self) -> usize {
        match self.validity {
            None => 0,
            Some(bits) => {
                let full = self.rows / 8;
                let mut valid: usize = bits[..full].iter().map(|b| b.count_ones() as usize).sum();
                let rest = self.rows % 8;
                if rest > 0 {
                    valid += (bits[full] & ((1u8 << rest) - 1)).count_ones() as usize;
                }
                self.rows - valid
            }
        }
    }

    /// The value at `row`, or [`Value::Null`].
    #[inline]
    pub fn value(&self, row: usize) -> Value<'a> {
        if !self.is_valid(row) {
            return Value::Null;
        }
        match self.values {
            Values::Boolean(v) => Value::Boolean(v[row]),
            Values::Int64(v) => Value::Int64(v[row]),
            Values::Float64(v) => Value::Float64(v[row]),
            Values::Decimal(v) => Value::Decimal(v.get(row)),
            Values::Text(v) => Value::Text(v.get(row)),
            Values::Date(v) => Value::Date(v[row]),
            Values::Timestamp(v) => Value::Timestamp(v[row]),
            Values::Json(v) => Value::Json(v.get(row)),
        }
    }

    /// A boolean column's values, one per row (null rows hold `false`).
    pub fn as_booleans(&self) -> Option<&'a [bool]> {
        match self.values {
            Values::Boolean(v) => Some(v),
            _ => None,
        }
    }

    /// An int64 column's values, one per row (null rows hold 0).
    pub fn as_int64s(&self) -> Option<&'a [i64]> {
        match self.values {
            Values::Int64(v) => Some(v),
            _ => None,
        }
    }

    /// A float64 column's values, one per row (null rows hold 0).
    pub fn as_float64s(&self) -> Option<&'a [f64]> {
        match self.values {
            Values::Float64(v) => Some(v),
            _ => None,
        }
    }

    /// A date column's values (days since 1970-01-01), one per row.
    pub fn as_dates(&self) -> Option<&'a [i32]> {
        match self.values {
            Values::Date(v) => Some(v),
            _ => None,
        }
    }

    /// A timestamp column's values (microseconds since the epoch), one per
    /// row.
    pub fn as_timestamps(&self) -> Option<&'a [i64]> {
        match self.values {
            Values::Timestamp(v) => Some(v),
            _ => None,
        }
    }

    /// A text, decimal or json column's values (null rows hold `""`).
    pub fn as_text(&self) -> Option<TextColumn<'a>> {
        match self.values {
            Values::Decimal(v) | Values::Text(v) | Values::Json(v) => Some(v),
            _ => None,
        }
    }

    /// The raw validity bitmap (LSB first), or `None` when no row is null.
    pub fn validity(&self) -> Option<&'a [u8]> {
        self.validity
    }
}

impl<'a> TextColumn<'a> {
    fn new(values: &'a wit::TextValues, rows: usize) -> Result<Self, String> {
        let offsets = values.offsets.as_slice();
        // A batch of no rows carries no values; an empty offsets list says
        // that as well as `[0]` does.
        if !(offsets.len() == rows + 1 || rows == 0 && offsets.is_empty()) {
            return Err(format!(
                "has {} offsets for {rows} rows (expected {})",
                offsets.len(),
                rows + 1
            ));
        }
        let data = std::str::from_utf8(&values.data)
            .map_err(|e| format!("is not valid UTF-8 (at byte {})", e.valid_up_to()))?;
        let mut previous = 0usize;
        for (i, &offset) in offsets.iter().enumerate() {
            let offset = offset as usize;
            if offset > data.len() {
                return Err(format!(
                    "has offset {offset} at {i}, past the end of its {} data bytes",
                    data.len()
                ));
            }
            if i > 0 && offset < previous {
                return Err(format!(
                    "has decreasing offsets at {i} ({previous} then {offset})"
                ));
            }
            if !data.is_char_boundary(offset) {
                return Err(format!(
                    "has offset {offset} at {i} inside a UTF-8 character"
                ));
            }
            previous = offset;
        }
        Ok(TextColumn { data, offsets })
    }

    /// The number of values.
    #[inline]
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Whether there are no values.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `index`. Panics if `index >= len()`.
    #[inline]
    pub fn get(&self, index: usize) -> &'a str {
        let start = self.offsets[index] as usize;
        let end = self.offsets[index + 1] as usize;
        &self.data[start..end]
    }

    /// Every value in row order (null rows included, as stored).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a str> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

fn check_len<T>(values: &[T], rows: usize) -> Result<&[T], String> {
    if values.len() == rows {
        Ok(values)
    } else {
        Err(format!("has {} values for {rows} rows", values.len()))
    }
}

fn carried_kind(values: &wit::ColumnValues) -> ColumnType {
    match values {
        wit::ColumnValues::Boolean(_) => ColumnType::Boolean,
        wit::ColumnValues::Int64(_) => ColumnType::Int64,
        wit::ColumnValues::Float64(_) => ColumnType::Float64,
        wit::ColumnValues::Decimal(_) => ColumnType::Decimal,
        wit::ColumnValues::Text(_) => ColumnType::Text,
        wit::ColumnValues::Date(_) => ColumnType::Date,
        wit::ColumnValues::Timestamp(_) => ColumnType::Timestamp,
        wit::ColumnValues::Json(_) => ColumnType::Json,
    }
}

fn malformed(problem: &str) -> FormatError {
    FormatError::InvalidData(format!("malformed batch: {problem}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(data: &[u8], offsets: &[u32]) -> wit::TextValues {
        wit::TextValues {
            data: data.to_vec(),
            offsets: offsets.to_vec(),
        }
    }

    fn batch(rows: u32, columns: Vec<(wit::ColumnValues, Option<Vec<u8>>)>) -> wit::Batch {
        wit::Batch {
            rows,
            columns: columns
                .into_iter()
                .map(|(values, validity)| wit::ColumnData { values, validity })
                .collect(),
        }
    }

    fn schema(kinds: &[ColumnType]) -> Vec<Column> {
        kinds
            .iter()
            .enumerate()
            .map(|(i, &k)| Column::new(format!("c{i}"), k))
            .collect()
    }

    fn error(b: &wit::Batch, s: &[Column]) -> String {
        match Batch::new(b, s) {
            Err(FormatError::InvalidData(m)) => m,
            other => panic!("expected invalid-data, got {other:?}"),
        }
    }

    #[test]
    fn reads_every_type_and_nulls() {
        let b = batch(
            3,
            vec![
                (wit::ColumnValues::Boolean(vec![true, false, true]), None),
                (wit::ColumnValues::Int64(vec![1, 0, -3]), Some(vec![0b101])),
                (wit::ColumnValues::Float64(vec![1.5, f64::NAN, 0.0]), None),
                (
                    wit::ColumnValues::Decimal(text(b"1.0-2", &[0, 3, 5, 5])),
                    Some(vec![0b011]),
                ),
                (
                    wit::ColumnValues::Text(text("aé€".as_bytes(), &[0, 1, 3, 6])),
                    None,
                ),
                (wit::ColumnValues::Date(vec![0, -1, 19000]), None),
                (wit::ColumnValues::Timestamp(vec![0, -1, 1]), None),
                (wit::ColumnValues::Json(text(b"{}[]1", &[0, 2, 4, 5])), None),
            ],
        );
        let s = schema(&[
            ColumnType::Boolean,
            ColumnType::Int64,
            ColumnType::Float64,
            ColumnType::Decimal,
            ColumnType::Text,
            ColumnType::Date,
            ColumnType::Timestamp,
            ColumnType::Json,
        ]);
        let v = Batch::new(&b, &s).unwrap();
        assert_eq!(v.rows(), 3);
        assert_eq!(v.column_count(), 8);
        assert_eq!(v.value(1, 0), Value::Boolean(false));
        assert_eq!(v.value(0, 1), Value::Int64(1));
        assert_eq!(v.value(1, 1), Value::Null);
        assert!(v.is_null(1, 1));
        assert_eq!(v.value(2, 1), Value::Int64(-3));
        assert!(matches!(v.value(1, 2), Value::Float64(f) if f.is_nan()));
        assert_eq!(v.value(1, 3), Value::Decimal("-2"));
        assert_eq!(v.value(2, 3), Value::Null);
        assert_eq!(v.value(1, 4), Value::Text("é"));
        assert_eq!(v.value(2, 4), Value::Text("€"));
        assert_eq!(v.value(1, 5), Value::Date(-1));
        assert_eq!(v.value(2, 6), Value::Timestamp(1));
        assert_eq!(v.value(1, 7), Value::Json("[]"));
        let c = v.column(1);
        assert_eq!(c.name(), "c1");
        assert_eq!(c.kind(), ColumnType::Int64);
        assert_eq!(c.null_count(), 1);
        assert!(c.has_nulls());
        assert_eq!(c.as_int64s(), Some(&[1, 0, -3][..]));
        assert_eq!(c.as_booleans(), None);
        assert_eq!(v.column(0).null_count(), 0);
        assert!(!v.column(0).has_nulls());
        let t = v.column(4).as_text().unwrap();
        assert_eq!(t.iter().collect::<Vec<_>>(), vec!["a", "é", "€"]);
        assert_eq!(v.column(3).null_count(), 1);
    }

    #[test]
    fn nonzero_first_offset_is_accepted() {
        let b = batch(
            1,
            vec![(wit::ColumnValues::Text(text(b"xxabc", &[2, 5])), None)],
        );
        let s = schema(&[ColumnType::Text]);
        assert_eq!(Batch::new(&b, &s).unwrap().value(0, 0), Value::Text("abc"));
    }

    #[test]
    fn empty_batches_are_fine() {
        let b = batch(
            0,
            vec![
                (wit::ColumnValues::Text(text(b"", &[0])), None),
                (wit::ColumnValues::Json(text(b"", &[])), Some(vec![])),
            ],
        );
        let s = schema(&[ColumnType::Text, ColumnType::Json]);
        let v = Batch::new(&b, &s).unwrap();
        assert!(v.is_empty());
        assert_eq!(v.column(1).null_count(), 0);
    }

    #[test]
    fn null_count_ignores_bits_past_the_last_row() {
        let b = batch(
            10,
            vec![(
                wit::ColumnValues::Int64(vec![0; 10]),
                Some(vec![0xff, 0b1111_1101]),
            )],
        );
        let s = schema(&[ColumnType::Int64]);
        let v = Batch::new(&b, &s).unwrap();
        assert_eq!(v.column(0).null_count(), 1);
        assert!(v.is_null(9, 0));
    }

    #[test]
    fn malformed_batches_are_invalid_data() {
        let s = schema(&[ColumnType::Text]);
        let ok_text = || wit::ColumnValues::Text(text(b"ab", &[0, 1, 2]));

        assert_eq!(
            error(&batch(2, vec![]), &s),
            "malformed batch: it has 0 columns, the schema has 1"
        );
        assert_eq!(
            error(
                &batch(2, vec![(wit::ColumnValues::Int64(vec![1, 2]), None)]),
                &s
            ),
            r#"malformed batch: column 0 ("c0") is declared text but holds int64 values"#
        );
        assert_eq!(
            error(&batch(3, vec![(ok_text(), None)]), &s),
            r#"malformed batch: column 0 ("c0") has 3 offsets for 3 rows (expected 4)"#
        );
        assert_eq!(
            error(
                &batch(
                    9,
                    vec![(
                        wit::ColumnValues::Text(text(b"", &[0; 10])),
                        Some(vec![0xff])
                    )]
                ),
                &s
            ),
            r#"malformed batch: column 0 ("c0") has a validity bitmap of 1 bytes; 9 rows need 2"#
        );
        assert_eq!(
            error(
                &batch(
                    1,
                    vec![(wit::ColumnValues::Text(text(b"\xff", &[0, 1])), None)]
                ),
                &s
            ),
            r#"malformed batch: column 0 ("c0") is not valid UTF-8 (at byte 0)"#
        );
        assert_eq!(
            error(
                &batch(
                    1,
                    vec![(wit::ColumnValues::Text(text(b"ab", &[0, 3])), None)]
                ),
                &s
            ),
            r#"malformed batch: column 0 ("c0") has offset 3 at 1, past the end of its 2 data bytes"#
        );
        assert_eq!(
            error(
                &batch(
                    2,
                    vec![(wit::ColumnValues::Text(text(b"ab", &[0, 2, 1])), None)]
                ),
                &s
            ),
            r#"malformed batch: column 0 ("c0") has decreasing offsets at 2 (2 then 1)"#
        );
        assert_eq!(
            error(
                &batch(
                    1,
                    vec![(wit::ColumnValues::Text(text("é".as_bytes(), &[0, 1])), None)]
                ),
                &s
            ),
            r#"malformed batch: column 0 ("c0") has offset 1 at 1 inside a UTF-8 character"#
        );
        let si = schema(&[ColumnType::Int64]);
        assert_eq!(
            error(
                &batch(2, vec![(wit::ColumnValues::Int64(vec![1]), None)]),
                &si
            ),
            r#"malformed batch: column 0 ("c0") has 1 values for 2 rows"#
        );
    }
}
