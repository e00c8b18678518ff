//! Cutting a batch in two, so an export split into parts can end a part
//! at any row, not only at a batch boundary.

use crate::{Batch, ColumnData, ColumnValues, TextValues};

/// Rows `start..start + len` of `batch`, as a batch of their own.
///
/// # Panics
/// If the range is not within the batch.
pub fn slice(batch: &Batch, start: usize, len: usize) -> Batch {
    let rows = batch.rows as usize;
    assert!(
        start + len <= rows,
        "rows {start}..{} of a batch of {rows}",
        start + len
    );
    Batch {
        rows: len as u32,
        columns: batch
            .columns
            .iter()
            .map(|column| slice_column(column, start, len))
            .collect(),
    }
}

fn slice_column(column: &ColumnData, start: usize, len: usize) -> ColumnData {
    let range = start..start + len;
    let values = match &column.values {
        ColumnValues::Boolean(v) => ColumnValues::Boolean(v[range].to_vec()),
        ColumnValues::Int64(v) => ColumnValues::Int64(v[range].to_vec()),
        ColumnValues::Float64(v) => ColumnValues::Float64(v[range].to_vec()),
        ColumnValues::Decimal(t) => ColumnValues::Decimal(slice_text(t, start, len)),
        ColumnValues::Text(t) => ColumnValues::Text(slice_text(t, start, len)),
        ColumnValues::Date(v) => ColumnValues::Date(v[range].to_vec()),
        ColumnValues::Timestamp(v) => ColumnValues::Timestamp(v[range].to_vec()),
        ColumnValues::Json(t) => ColumnValues::Json(slice_text(t, start, len)),
    };
    let validity = column.validity.as_ref().and_then(|bits| {
        let present = |row: usize| bits[row / 8] & (1 << (row % 8)) != 0;
        if (start..start + len).all(present) {
            return None;
        }
        let mut out = vec![0u8; len.div_ceil(8)];
        for row in 0..len {
            if present(start + row) {
                out[row / 8] |= 1 << (row % 8);
            }
        }
        Some(out)
    });
    ColumnData { values, validity }
}

fn slice_text(text: &TextValues, start: usize, len: usize) -> TextValues {
    let first = text.offsets[start];
    let last = text.offsets[start + len];
    TextValues {
        data: text.data[first as usize..last as usize].to_vec(),
        offsets: text.offsets[start..=start + len]
            .iter()
            .map(|offset| offset - first)
            .collect(),
    }
}

/// The text of row `row` of a text column.
pub fn text_at(column: &ColumnData, row: usize) -> Option<&str> {
    match &column.values {
        ColumnValues::Decimal(t) | ColumnValues::Text(t) | ColumnValues::Json(t) => {
            let bytes = &t.data[t.offsets[row] as usize..t.offsets[row + 1] as usize];
            // The builder only ever writes whole `str`s.
            std::str::from_utf8(bytes).ok()
        }
        _ => None,
    }
}

/// The value of row `row` of a timestamp column.
pub fn timestamp_at(column: &ColumnData, row: usize) -> Option<i64> {
    match &column.values {
        ColumnValues::Timestamp(v) => v.get(row).copied(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{BatchBuilder, Value};
    use crate::{Column, ColumnType};

    fn batch() -> Batch {
        let schema = [
            Column {
                name: "n".into(),
                kind: ColumnType::Int64,
            },
            Column {
                name: "s".into(),
                kind: ColumnType::Text,
            },
            Column {
                name: "t".into(),
                kind: ColumnType::Timestamp,
            },
        ];
        let mut builder = BatchBuilder::new(&schema, 64);
        for i in 0..20i64 {
            let text = if i % 3 == 0 {
                Value::Null
            } else {
                Value::Text(format!("row {i} é"))
            };
            builder
                .push_row(&[Value::Int64(i), text, Value::Timestamp(i * 1_000)])
                .unwrap();
        }
        builder.take()
    }

    /// Every cut of the batch, rebuilt row by row, equals the original.
    #[test]
    fn slices_rebuild_the_batch_at_every_cut() {
        let whole = batch();
        for start in 0..=20 {
            for len in 0..=20 - start {
                let part = slice(&whole, start, len);
                assert_eq!(part.rows as usize, len);
                for row in 0..len {
                    assert_eq!(
                        text_at(&part.columns[1], row),
                        text_at(&whole.columns[1], start + row)
                    );
                    assert_eq!(
                        timestamp_at(&part.columns[2], row),
                        Some((start + row) as i64 * 1_000)
                    );
                    let null = |b: &Batch, r: usize| {
                        b.columns[1]
                            .validity
                            .as_ref()
                            .is_some_and(|v| v[r / 8] & (1 << (r % 8)) == 0)
                    };
                    assert_eq!(null(&part, row), (start + row) % 3 == 0, "{start} {len}");
                }
                match &part.columns[1].values {
                    ColumnValues::Text(t) => {
                        assert_eq!(t.offsets.len(), len + 1);
                        assert_eq!(t.offsets[0], 0);
                        assert_eq!(*t.offsets.last().unwrap() as usize, t.data.len());
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
    }

    #[test]
    fn a_slice_without_nulls_has_no_bitmap() {
        let part = slice(&batch(), 1, 2);
        assert_eq!(part.columns[1].validity, None);
        assert_eq!(part.columns[0].validity, None);
        assert!(slice(&batch(), 2, 2).columns[1].validity.is_some());
    }
}
