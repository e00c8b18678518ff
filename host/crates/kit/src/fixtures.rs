//! The rows the conformance kit feeds a plugin. Deterministic: the same
//! fixture is the same rows on every machine.

use exporter_runtime::batch::Value;
use exporter_runtime::batch::time::parse_timestamp;
use exporter_runtime::{Column, ColumnType};
use exporter_wit::civil::days_from_civil;

/// One column of every type, in the order of `column-type`.
pub fn all_types() -> Vec<Column> {
    [
        ("flag", ColumnType::Boolean),
        ("count", ColumnType::Int64),
        ("ratio", ColumnType::Float64),
        ("amount", ColumnType::Decimal),
        ("label", ColumnType::Text),
        ("day", ColumnType::Date),
        ("at", ColumnType::Timestamp),
        ("meta", ColumnType::Json),
    ]
    .into_iter()
    .map(|(name, kind)| Column {
        name: name.to_owned(),
        kind,
    })
    .collect()
}

fn ts(text: &str) -> i64 {
    parse_timestamp(text).expect("fixture timestamps are valid")
}

fn date(y: i64, m: u32, d: u32) -> i32 {
    days_from_civil(y, m, d) as i32
}

/// One value per column of `all_types`, in order: the call sites read as
/// rows.
type Row<'a> = (bool, i64, f64, &'a str, &'a str, i32, i64, &'a str);

fn row((flag, count, ratio, amount, label, day, at, meta): Row<'_>) -> Vec<Value> {
    vec![
        Value::Boolean(flag),
        Value::Int64(count),
        Value::Float64(ratio),
        Value::Decimal(amount.to_owned()),
        Value::Text(label.to_owned()),
        Value::Date(day),
        Value::Timestamp(at),
        Value::Json(meta.to_owned()),
    ]
}

pub fn one_row() -> Vec<Vec<Value>> {
    vec![row((
        true,
        42,
        0.5,
        "19.99",
        "hello",
        date(2026, 1, 31),
        ts("2026-01-31T12:34:56Z"),
        r#"{"plan":"pro"}"#,
    ))]
}

/// A row of nulls between two ordinary rows, then nulls column by column.
pub fn nulls() -> Vec<Vec<Value>> {
    let mut rows = one_row();
    rows.push(vec![Value::Null; 8]);
    rows.extend(one_row());
    for column in 0..8 {
        let mut r = one_row().remove(0);
        r[column] = Value::Null;
        rows.push(r);
    }
    rows
}

pub fn unicode() -> Vec<Vec<Value>> {
    let day = date(2026, 3, 1);
    let at = ts("2026-03-01T08:00:00Z");
    [
        "Zoë Saldaña",
        "Ελληνικά κείμενα",
        "Кириллица",
        "日本語のテキスト",
        "עברית ومرحبا",
        "emoji 🎉👩‍👩‍👧‍👦🏳️‍🌈",
        "combining e\u{301} and ß",
        "\u{feff}bom inside",
        "\u{2028}line separator",
    ]
    .iter()
    .enumerate()
    .map(|(i, text)| {
        row((
            i % 2 == 0,
            i as i64,
            1.0,
            "0",
            text,
            day,
            at,
            r#"{"name":"Zoë 🎉"}"#,
        ))
    })
    .collect()
}

/// Text that breaks naive encoders: delimiters, quotes, line breaks.
pub fn awkward_text() -> Vec<Vec<Value>> {
    let day = date(2026, 6, 15);
    let at = ts("2026-06-15T23:59:59.999999Z");
    [
        "comma, separated",
        "semi;colon",
        "\"quoted\"",
        "she said \"hi\", then left",
        "line one\nline two",
        "windows\r\nline",
        "bare\rcarriage",
        "tab\tseparated",
        "  leading and trailing  ",
        "",
        "'single'",
        "back\\slash",
        "=SUM(A1:A9)",
        "</script><b>html</b>",
        "{\"looks\":\"like json\"}",
    ]
    .iter()
    .enumerate()
    .map(|(i, text)| {
        row((
            false,
            i as i64,
            -1.25,
            "-0.01",
            text,
            day,
            at,
            r#"["a,b","c\"d"]"#,
        ))
    })
    .chain(std::iter::once(row((
        true,
        99,
        0.0,
        "1",
        &"long text ".repeat(10_000),
        day,
        at,
        "null",
    ))))
    .collect()
}

pub fn extreme_numbers() -> Vec<Vec<Value>> {
    let floats = [
        0.0,
        -0.0,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        5e-324,
        1e21,
        0.1,
        -123_456.789,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    let ints = [
        0,
        1,
        -1,
        i64::MAX,
        i64::MIN,
        9_007_199_254_740_993,
        -9_007_199_254_740_993,
    ];
    let decimals = [
        "0",
        "-0.000001",
        "99999999999999999999999999.999999",
        "-12.50",
        "3",
    ];
    let days = [
        date(0, 1, 1),
        date(9999, 12, 31),
        date(1969, 12, 31),
        date(1970, 1, 1),
        date(2024, 2, 29),
    ];
    let instants = [
        ts("0001-01-01T00:00:00Z"),
        ts("9999-12-31T23:59:59.999999Z"),
        -1,
        0,
        ts("2026-12-31T23:59:59.000001Z"),
    ];
    (0..floats.len())
        .map(|i| {
            vec![
                Value::Boolean(i % 3 == 0),
                Value::Int64(ints[i % ints.len()]),
                Value::Float64(floats[i]),
                Value::Decimal(decimals[i % decimals.len()].to_owned()),
                Value::Text(format!("row {i}")),
                Value::Date(days[i % days.len()]),
                Value::Timestamp(instants[i % instants.len()]),
                Value::Json(format!("{{\"n\":{}}}", ints[i % ints.len()])),
            ]
        })
        .collect()
}

/// `count` mixed rows, generated: the export-sized workload.
pub fn generated(count: usize) -> impl Iterator<Item = Vec<Value>> {
    generated_from(count, 0x2545_f491_4f6c_dd1d)
}

/// `count` mixed rows drawn from `seed`: the same seed, the same rows.
pub fn generated_from(count: usize, seed: u64) -> impl Iterator<Item = Vec<Value>> {
    let base_day = date(2026, 1, 1);
    let base_ts = ts("2026-01-01T00:00:00Z");
    let labels = [
        "alpha",
        "beta, gamma",
        "delta \"quoted\"",
        "épsilon",
        "zeta\nmultiline",
    ];
    // xorshift never leaves zero.
    let mut state: u64 = if seed == 0 {
        0x2545_f491_4f6c_dd1d
    } else {
        seed
    };
    (0..count).map(move |i| {
        // xorshift: cheap, deterministic, spreads values.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let r = state;
        let null = r.is_multiple_of(97);
        vec![
            Value::Boolean(r & 1 == 1),
            Value::Int64((r >> 8) as i64 % 1_000_000_007),
            Value::Float64((r >> 11) as f64 / (1u64 << 53) as f64 * 1000.0),
            Value::Decimal(format!("{}.{:02}", (r >> 20) % 100_000, r % 100)),
            if null {
                Value::Null
            } else {
                Value::Text(format!("{} {}", labels[(r % 5) as usize], i))
            },
            Value::Date(base_day + (r % 365) as i32),
            Value::Timestamp(base_ts + (r % 31_536_000_000_000) as i64),
            Value::Json(format!("{{\"i\":{i},\"ok\":{}}}", r & 2 == 2)),
        ]
    })
}
