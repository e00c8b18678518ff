//! Text renderings of values shared by the text formats: numbers, dates and
//! timestamps, written into a reusable stack buffer.

use exporter_wit::civil::{MICROS_PER_SECOND, SECONDS_PER_DAY, civil_from_days};

use crate::{TimeZone, Value};

/// Renders values as text without allocating, like `itoa::Buffer` and
/// `ryu::Buffer` (which it wraps) but for every [`Value`].
///
/// The renderings, which every SDK-based text format shares:
///
/// | value | text |
/// |---|---|
/// | boolean | `true`, `false` |
/// | int64 | decimal, e.g. `-42` |
/// | float64 | shortest text that round-trips (ryu), e.g. `0.1`, `1.0`, `1e100`, `-0.0`; `NaN`, `inf`, `-inf` when not finite |
/// | decimal, text, json | verbatim |
/// | date | `YYYY-MM-DD`; years outside 0000..=9999 as `+YYYYYY-MM-DD` / `-YYYYYY-MM-DD` (ISO 8601 expanded, at least 6 digits) |
/// | timestamp | RFC 3339 UTC: `YYYY-MM-DDTHH:MM:SSZ`, or `YYYY-MM-DDTHH:MM:SS.ffffffZ` (always 6 digits) when the microseconds are not zero; the date part as for dates |
///
/// Dates use the proleptic Gregorian calendar; negative inputs count back
/// from 1970 (`-1` day is `1969-12-31`, `-1` µs is
/// `1969-12-31T23:59:59.999999Z`).
pub struct TextFormatter {
    int: itoa::Buffer,
    float: ryu::Buffer,
    time: [u8; TIME_CAPACITY],
}

/// The longest text is a timestamp at `i64::MAX` with an offset in
/// seconds, `+294247-01-10T04:00:54.775807+HH:MM:SS` (38 bytes).
const TIME_CAPACITY: usize = 40;

impl Default for TextFormatter {
    fn default() -> Self {
        TextFormatter {
            int: itoa::Buffer::new(),
            float: ryu::Buffer::new(),
            time: [0; TIME_CAPACITY],
        }
    }
}

impl std::fmt::Debug for TextFormatter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TextFormatter")
    }
}

impl TextFormatter {
    /// A formatter; cheap to create, but reuse one across rows.
    pub fn new() -> TextFormatter {
        TextFormatter::default()
    }

    /// `true` or `false`.
    #[inline]
    pub fn boolean(&self, value: bool) -> &'static str {
        if value { "true" } else { "false" }
    }

    /// Decimal digits with a leading `-` when negative.
    #[inline]
    pub fn int64(&mut self, value: i64) -> &str {
        self.int.format(value)
    }

    /// Shortest round-trip text, or `NaN`, `inf`, `-inf`.
    #[inline]
    pub fn float64(&mut self, value: f64) -> &str {
        if value.is_finite() {
            self.float.format_finite(value)
        } else if value.is_nan() {
            "NaN"
        } else if value > 0.0 {
            "inf"
        } else {
            "-inf"
        }
    }

    /// `YYYY-MM-DD` for `days` since 1970-01-01.
    #[inline]
    pub fn date(&mut self, days: i32) -> &str {
        let len = write_date(&mut self.time, 0, i64::from(days));
        ascii(&self.time[..len])
    }

    /// RFC 3339 UTC for `micros` since 1970-01-01T00:00:00Z.
    #[inline]
    pub fn timestamp(&mut self, micros: i64) -> &str {
        let len = write_timestamp(&mut self.time, micros, None);
        ascii(&self.time[..len])
    }

    /// RFC 3339 for `micros` as the wall-clock time in `zone`, with the
    /// zone's offset at that instant: `2026-01-02T04:04:05.123456+01:00`.
    /// The fraction as for [`TextFormatter::timestamp`]; UTC itself gives
    /// exactly that text (`...Z`). An offset with seconds, which only the
    /// local mean time of a place before it took a standard zone has, is
    /// written `+00:09:21`.
    #[inline]
    pub fn timestamp_in(&mut self, micros: i64, zone: &TimeZone) -> &str {
        let offset = (!zone.is_utc()).then(|| zone.offset_seconds(micros));
        let len = write_timestamp(&mut self.time, micros, offset);
        ascii(&self.time[..len])
    }

    /// The text of `value`, borrowed from the batch for text-shaped values;
    /// `None` for [`Value::Null`], whose rendering is the format's choice.
    #[inline]
    pub fn value<'s>(&'s mut self, value: Value<'s>) -> Option<&'s str> {
        Some(match value {
            Value::Null => return None,
            Value::Boolean(v) => self.boolean(v),
            Value::Int64(v) => self.int64(v),
            Value::Float64(v) => self.float64(v),
            Value::Decimal(v) | Value::Text(v) | Value::Json(v) => v,
            Value::Date(v) => self.date(v),
            Value::Timestamp(v) => self.timestamp(v),
        })
    }
}

fn ascii(bytes: &[u8]) -> &str {
    // Only ASCII digits and punctuation are ever written to the buffer.
    std::str::from_utf8(bytes).unwrap_or_default()
}

/// Writes `micros` shifted by `offset` seconds, ended by the offset, or by
/// `Z` without one; returns the end.
fn write_timestamp(buf: &mut [u8; TIME_CAPACITY], micros: i64, offset: Option<i32>) -> usize {
    // In seconds, so no instant overflows when the offset is added.
    let seconds = micros.div_euclid(MICROS_PER_SECOND) + i64::from(offset.unwrap_or(0));
    let fraction = micros.rem_euclid(MICROS_PER_SECOND);
    let days = seconds.div_euclid(SECONDS_PER_DAY);
    let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY);

    let mut at = write_date(buf, 0, days);
    buf[at] = b'T';
    write_two(buf, at + 1, second_of_day / 3600);
    buf[at + 3] = b':';
    write_two(buf, at + 4, second_of_day / 60 % 60);
    buf[at + 6] = b':';
    write_two(buf, at + 7, second_of_day % 60);
    at += 9;
    if fraction != 0 {
        buf[at] = b'.';
        write_two(buf, at + 1, fraction / 10_000);
        write_two(buf, at + 3, fraction / 100 % 100);
        write_two(buf, at + 5, fraction % 100);
        at += 7;
    }
    match offset {
        None => {
            buf[at] = b'Z';
            at + 1
        }
        Some(offset) => write_offset(buf, at, offset),
    }
}

/// Writes `+HH:MM` (`+HH:MM:SS` when the seconds are not zero) at
/// `buf[at..]`; returns the end.
fn write_offset(buf: &mut [u8; TIME_CAPACITY], at: usize, offset: i32) -> usize {
    buf[at] = if offset < 0 { b'-' } else { b'+' };
    let offset = i64::from(offset.unsigned_abs());
    write_two(buf, at + 1, offset / 3600);
    buf[at + 3] = b':';
    write_two(buf, at + 4, offset / 60 % 60);
    if offset % 60 == 0 {
        return at + 6;
    }
    buf[at + 6] = b':';
    write_two(buf, at + 7, offset % 60);
    at + 9
}

/// Writes the date `days` after 1970-01-01 at `buf[at..]`; returns the end.
fn write_date(buf: &mut [u8; TIME_CAPACITY], at: usize, days: i64) -> usize {
    let (year, month, day) = civil_from_days(days);
    let (month, day) = (i64::from(month), i64::from(day));
    let mut at = at;
    if (0..=9999).contains(&year) {
        // The common case, kept free of the general digit loop.
        write_two(buf, at, year / 100);
        write_two(buf, at + 2, year % 100);
        at += 4;
    } else {
        buf[at] = if year < 0 { b'-' } else { b'+' };
        at = write_padded(buf, at + 1, year.unsigned_abs(), 6);
    }
    buf[at] = b'-';
    write_two(buf, at + 1, month);
    buf[at + 3] = b'-';
    write_two(buf, at + 4, day);
    at + 6
}

/// Writes `value` (0..=99) as two digits at `buf[at..at + 2]`.
#[inline(always)]
fn write_two(buf: &mut [u8; TIME_CAPACITY], at: usize, value: i64) {
    buf[at] = b'0' + (value / 10) as u8;
    buf[at + 1] = b'0' + (value % 10) as u8;
}

/// Writes `value` in at least `width` digits; returns the end.
fn write_padded(buf: &mut [u8; TIME_CAPACITY], at: usize, value: u64, width: usize) -> usize {
    let mut digits = 1;
    let mut rest = value / 10;
    while rest > 0 {
        digits += 1;
        rest /= 10;
    }
    let len = digits.max(width);
    let mut value = value;
    for slot in buf[at..at + len].iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
    at + len
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(days: i32) -> String {
        TextFormatter::new().date(days).to_owned()
    }

    fn ts(micros: i64) -> String {
        TextFormatter::new().timestamp(micros).to_owned()
    }

    #[test]
    fn dates_around_the_epoch() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(-1), "1969-12-31");
        assert_eq!(date(1), "1970-01-02");
        assert_eq!(date(59), "1970-03-01");
        assert_eq!(date(19_000), "2022-01-08");
        assert_eq!(date(11_016), "2000-02-29");
        assert_eq!(date(-25_508), "1900-03-01");
        assert_eq!(date(-719_162), "0001-01-01");
    }

    #[test]
    fn dates_at_the_four_digit_limits() {
        assert_eq!(date(-719_528), "0000-01-01");
        assert_eq!(date(-719_529), "-000001-12-31");
        assert_eq!(date(-719_469), "0000-02-29");
        assert_eq!(date(2_932_896), "9999-12-31");
        assert_eq!(date(2_932_897), "+010000-01-01");
    }

    #[test]
    fn dates_at_the_i32_limits() {
        assert_eq!(date(i32::MAX), "+5881580-07-11");
        assert_eq!(date(i32::MIN), "-5877641-06-23");
    }

    #[test]
    fn timestamps_floor_negative_micros() {
        assert_eq!(ts(0), "1970-01-01T00:00:00Z");
        assert_eq!(ts(1), "1970-01-01T00:00:00.000001Z");
        assert_eq!(ts(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(ts(-1_000_000), "1969-12-31T23:59:59Z");
        assert_eq!(ts(-1_000_001), "1969-12-31T23:59:58.999999Z");
        assert_eq!(ts(1_500_000), "1970-01-01T00:00:01.500000Z");
        assert_eq!(ts(1_767_225_600_000_000), "2026-01-01T00:00:00Z");
        assert_eq!(ts(951_782_400_123_456), "2000-02-29T00:00:00.123456Z");
        assert_eq!(ts(86_399_999_999), "1970-01-01T23:59:59.999999Z");
    }

    #[test]
    fn timestamps_at_the_i64_limits() {
        assert_eq!(ts(i64::MAX), "+294247-01-10T04:00:54.775807Z");
        assert_eq!(ts(i64::MIN), "-290308-12-21T19:59:05.224192Z");
        assert_eq!(ts(253_402_300_799_999_999), "9999-12-31T23:59:59.999999Z");
        assert_eq!(ts(253_402_300_800_000_000), "+010000-01-01T00:00:00Z");
        assert_eq!(ts(-62_167_219_200_000_000), "0000-01-01T00:00:00Z");
        assert_eq!(
            ts(-62_167_219_200_000_001),
            "-000001-12-31T23:59:59.999999Z"
        );
    }

    #[test]
    fn offsets_end_the_local_time() {
        let local = |micros: i64, offset: i32| {
            let mut buf = [0; TIME_CAPACITY];
            let len = write_timestamp(&mut buf, micros, Some(offset));
            ascii(&buf[..len]).to_owned()
        };
        assert_eq!(local(0, 0), "1970-01-01T00:00:00+00:00");
        assert_eq!(local(0, 3_600), "1970-01-01T01:00:00+01:00");
        assert_eq!(local(1, -34_200), "1969-12-31T14:30:00.000001-09:30");
        assert_eq!(local(-1, 561), "1970-01-01T00:09:20.999999+00:09:21");
        // Jiff's widest offsets, at the ends of i64: the buffer holds them.
        let widest = 25 * 3_600 + 59 * 60 + 59;
        assert_eq!(
            local(i64::MAX, widest),
            "+294247-01-11T06:00:53.775807+25:59:59"
        );
        assert_eq!(
            local(i64::MIN, -widest),
            "-290308-12-20T17:59:06.224192-25:59:59"
        );
    }

    #[test]
    fn numbers() {
        let mut f = TextFormatter::new();
        assert_eq!(f.int64(i64::MIN), "-9223372036854775808");
        assert_eq!(f.int64(0), "0");
        assert_eq!(f.float64(0.1), "0.1");
        assert_eq!(f.float64(1.0), "1.0");
        assert_eq!(f.float64(-0.0), "-0.0");
        assert_eq!(f.float64(1e100), "1e100");
        assert_eq!(f.float64(5e-324), "5e-324");
        assert_eq!(f.float64(f64::NAN), "NaN");
        assert_eq!(f.float64(f64::INFINITY), "inf");
        assert_eq!(f.float64(f64::NEG_INFINITY), "-inf");
        assert_eq!(f.boolean(true), "true");
    }

    #[test]
    fn values() {
        let mut f = TextFormatter::new();
        assert_eq!(f.value(Value::Null), None);
        assert_eq!(f.value(Value::Boolean(false)), Some("false"));
        assert_eq!(f.value(Value::Int64(7)), Some("7"));
        assert_eq!(f.value(Value::Float64(2.5)), Some("2.5"));
        assert_eq!(f.value(Value::Decimal("007.50")), Some("007.50"));
        assert_eq!(f.value(Value::Text("a,\"b\"")), Some("a,\"b\""));
        assert_eq!(f.value(Value::Json("{\"a\": 1}")), Some("{\"a\": 1}"));
        assert_eq!(f.value(Value::Date(-1)), Some("1969-12-31"));
        assert_eq!(
            f.value(Value::Timestamp(-1)),
            Some("1969-12-31T23:59:59.999999Z")
        );
    }
}
