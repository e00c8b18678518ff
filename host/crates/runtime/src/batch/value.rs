//! One cell as the host reads it from files and fixtures.

/// A cell value. Sources that decode straight into batches (the database)
/// use the typed `ColumnBuilder` methods instead and never build these.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Boolean(bool),
    Int64(i64),
    Float64(f64),
    /// An exact decimal as text, e.g. "-12.50".
    Decimal(String),
    Text(String),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since 1970-01-01T00:00:00Z.
    Timestamp(i64),
    /// A valid JSON document as text.
    Json(String),
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Boolean(_) => "a boolean",
            Value::Int64(_) => "an integer",
            Value::Float64(_) => "a float",
            Value::Decimal(_) => "a decimal",
            Value::Text(_) => "text",
            Value::Date(_) => "a date",
            Value::Timestamp(_) => "a timestamp",
            Value::Json(_) => "JSON",
        }
    }
}
