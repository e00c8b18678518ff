//! Dates and timestamps as text: parsing what requests and files say,
//! formatting what the host shows. Dates are days since 1970-01-01,
//! timestamps microseconds since 1970-01-01T00:00:00Z (proleptic
//! Gregorian); the calendar arithmetic is the shared vocabulary's
//! ([`exporter_wit::civil`]).

use exporter_wit::civil::{
    MICROS_PER_SECOND, SECONDS_PER_DAY, civil_from_days, days_from_civil, days_in_month,
};

/// The first day a request may name: 0001-01-01. PostgreSQL has no year 0
/// in its text form (it is "1 BC"), and SQLite compares dates as 4-digit
/// text, so nothing before year 1 means the same on every engine.
pub const FIRST_DAY: i32 = -719_162;
/// The last day a request may name: 9998-12-31. A range ends before the day
/// after its last one, and a day seen from another UTC offset may fall on
/// the next: a year of slack keeps both within year 9999, the last the
/// `time` crate (and so the PostgreSQL binding) and 4-digit text hold.
pub const LAST_DAY: i32 = 2_932_531;

/// The allowed range, as a message names it.
pub const DAY_RANGE: &str = "0001-01-01 to 9998-12-31";

/// Whether `day` is one every engine and this module's arithmetic handle.
pub fn day_in_range(day: i32) -> bool {
    (FIRST_DAY..=LAST_DAY).contains(&day)
}

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `YYYY-MM-DD` into days since the epoch.
pub fn parse_date(text: &str) -> Option<i32> {
    let bytes = text.as_bytes();
    // ASCII only: every slice below is then on a character boundary.
    if !text.is_ascii() || bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let year = digits(&text[0..4])? as i64;
    let month = digits(&text[5..7])?;
    let day = digits(&text[8..10])?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    i32::try_from(days_from_civil(year, month, day)).ok()
}

/// Why a request's day is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayError {
    /// Not `YYYY-MM-DD`, or no such day.
    NotADate,
    /// A real day outside [`FIRST_DAY`]..=[`LAST_DAY`].
    OutOfRange,
}

/// Parses a day a request names (`YYYY-MM-DD`), within the range every
/// engine can store and query ([`DAY_RANGE`]).
pub fn parse_request_date(text: &str) -> Result<i32, DayError> {
    let day = parse_date(text).ok_or(DayError::NotADate)?;
    if day_in_range(day) {
        Ok(day)
    } else {
        Err(DayError::OutOfRange)
    }
}

/// Parses an RFC 3339 timestamp (`2026-01-31T12:00:00Z`, optional fraction
/// up to microseconds, `Z` or `±HH:MM`) into microseconds since the epoch.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    // ASCII only: every slice below is then on a character boundary.
    if !text.is_ascii() || text.len() < 20 {
        return None;
    }
    let days = i64::from(parse_date(&text[..10])?);
    let rest = &text[10..];
    let sep = rest.as_bytes()[0];
    if sep != b'T' && sep != b't' && sep != b' ' {
        return None;
    }
    let time = &rest[1..];
    let b = time.as_bytes();
    if b.len() < 9 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let hour = digits(&time[0..2])?;
    let minute = digits(&time[3..5])?;
    let second = digits(&time[6..8])?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut tail = &time[8..];
    let mut micros = 0i64;
    if let Some(fraction) = tail.strip_prefix('.') {
        let len = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 || len > 9 {
            return None;
        }
        let digits_text = &fraction[..len.min(6)];
        micros = digits_text.parse::<i64>().ok()? * 10i64.pow(6 - digits_text.len() as u32);
        tail = &fraction[len..];
    }
    let offset_seconds = match tail {
        "Z" | "z" => 0,
        _ => {
            let t = tail.as_bytes();
            if t.len() != 6 || t[3] != b':' || (t[0] != b'+' && t[0] != b'-') {
                return None;
            }
            let hours = i64::from(digits(&tail[1..3])?);
            let minutes = i64::from(digits(&tail[4..6])?);
            // RFC 3339's time-numoffset: hour 00-23, minute 00-59.
            if hours > 23 || minutes > 59 {
                return None;
            }
            let sign = if t[0] == b'-' { -1 } else { 1 };
            sign * (hours * 3600 + minutes * 60)
        }
    };
    let seconds = days * SECONDS_PER_DAY
        + i64::from(hour) * 3600
        + i64::from(minute) * 60
        + i64::from(second)
        - offset_seconds;
    seconds.checked_mul(MICROS_PER_SECOND)?.checked_add(micros)
}

/// Formats days since the epoch as `YYYY-MM-DD`.
pub fn format_date(days: i32) -> String {
    let (y, m, d) = civil_from_days(i64::from(days));
    if (0..=9999).contains(&y) {
        format!("{y:04}-{m:02}-{d:02}")
    } else {
        format!(
            "{}{:06}-{m:02}-{d:02}",
            if y < 0 { '-' } else { '+' },
            y.abs()
        )
    }
}

/// Formats microseconds since the epoch as RFC 3339 UTC, with six fraction
/// digits only when the sub-second part is not zero.
pub fn format_timestamp(micros: i64) -> String {
    let seconds = micros.div_euclid(MICROS_PER_SECOND);
    let fraction = micros.rem_euclid(MICROS_PER_SECOND);
    let days = seconds.div_euclid(SECONDS_PER_DAY);
    let in_day = seconds.rem_euclid(SECONDS_PER_DAY);
    let date = format_date(days as i32);
    let (h, m, s) = (in_day / 3600, in_day % 3600 / 60, in_day % 60);
    if fraction == 0 {
        format!("{date}T{h:02}:{m:02}:{s:02}Z")
    } else {
        format!("{date}T{h:02}:{m:02}:{s:02}.{fraction:06}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2026-01-31"), Some(20_484));
        assert_eq!(parse_date("1969-12-31"), Some(-1));
        assert_eq!(parse_date("2024-02-29"), Some(19_782));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("2026-13-01"), None);
        for days in [-719_528, -1, 0, 1, 20_484, 2_932_896] {
            assert_eq!(parse_date(&format_date(days)), Some(days), "{days}");
        }
        assert_eq!(format_date(-719_528), "0000-01-01");
        assert_eq!(format_date(2_932_896), "9999-12-31");
    }

    #[test]
    fn timestamps_round_trip() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(format_timestamp(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(format_timestamp(1_000_000), "1970-01-01T00:00:01Z");
        assert_eq!(
            parse_timestamp("2026-01-31T12:00:00+01:00"),
            parse_timestamp("2026-01-31T11:00:00Z")
        );
        assert_eq!(
            parse_timestamp("2026-01-31T12:00:00.5Z"),
            Some(parse_timestamp("2026-01-31T12:00:00Z").unwrap() + 500_000)
        );
        assert_eq!(parse_timestamp("2026-01-31"), None);
        assert_eq!(parse_timestamp("2026-01-31T25:00:00Z"), None);
        for micros in [
            i64::from(i32::MIN) * 1_000_000,
            -1,
            0,
            1_769_860_800_123_456,
        ] {
            assert_eq!(parse_timestamp(&format_timestamp(micros)), Some(micros));
        }
    }

    #[test]
    fn request_dates_stay_within_what_every_engine_holds() {
        assert_eq!(format_date(FIRST_DAY), "0001-01-01");
        assert_eq!(format_date(LAST_DAY), "9998-12-31");
        assert_eq!(parse_request_date("0001-01-01"), Ok(FIRST_DAY));
        assert_eq!(parse_request_date("9998-12-31"), Ok(LAST_DAY));
        assert_eq!(parse_request_date("0000-12-31"), Err(DayError::OutOfRange));
        assert_eq!(parse_request_date("9999-01-01"), Err(DayError::OutOfRange));
        assert_eq!(parse_request_date("9999-12-31"), Err(DayError::OutOfRange));
        assert_eq!(parse_request_date("2026-02-30"), Err(DayError::NotADate));
        // The day after the last still formats as a 4-digit year.
        assert_eq!(format_date(LAST_DAY + 1), "9999-01-01");
    }

    #[test]
    fn non_ascii_and_bad_offsets_are_refused_not_panicked_on() {
        assert_eq!(parse_timestamp("2026-01-01T00:00:0\u{e9}000Z"), None);
        assert_eq!(parse_timestamp("2026-01-01T00:0\u{e9}:00Z"), None);
        assert_eq!(parse_timestamp("2026-01-0\u{e9}T00:00:00Z"), None);
        assert_eq!(parse_date("2026-01-\u{e9}"), None);
        assert_eq!(parse_timestamp("2026-01-01T00:00:00+99:99"), None);
        assert_eq!(parse_timestamp("2026-01-01T00:00:00+24:00"), None);
        assert_eq!(parse_timestamp("2026-01-01T00:00:00+23:60"), None);
        assert_eq!(
            parse_timestamp("2026-01-01T00:00:00+23:59"),
            parse_timestamp("2025-12-31T00:01:00Z")
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        /// Text near a valid timestamp: one piece replaced by anything.
        fn near_timestamp() -> impl Strategy<Value = String> {
            (
                0usize..30,
                0usize..4,
                "\\PC{0,3}|[0-9:+\\-TZ.]{0,3}|[\\u{80}-\\u{10ffff}]",
            )
                .prop_map(|(at, cut, insert)| {
                    let base = "2026-01-31T12:34:56.789012+05:30";
                    let at = at.min(base.len());
                    let end = (at + cut).min(base.len());
                    format!("{}{insert}{}", &base[..at], &base[end..])
                })
        }

        proptest! {
            #[test]
            fn parsers_never_panic(text in "\\PC*") {
                let _ = parse_date(&text);
                let _ = parse_request_date(&text);
                let _ = parse_timestamp(&text);
            }

            #[test]
            fn parsers_never_panic_near_valid_input(text in near_timestamp()) {
                let _ = parse_timestamp(&text);
                let _ = parse_date(text.get(..10).unwrap_or(&text));
            }

            #[test]
            fn parsers_never_panic_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
                let text = String::from_utf8_lossy(&bytes);
                let _ = parse_timestamp(&text);
                let _ = parse_date(&text);
            }

            #[test]
            fn days_round_trip(day in FIRST_DAY..=LAST_DAY) {
                prop_assert_eq!(parse_request_date(&format_date(day)), Ok(day));
            }

            #[test]
            fn instants_round_trip(
                micros in i64::from(FIRST_DAY) * 86_400_000_000..(i64::from(LAST_DAY) + 1) * 86_400_000_000,
            ) {
                prop_assert_eq!(parse_timestamp(&format_timestamp(micros)), Some(micros));
            }

            #[test]
            fn every_valid_offset_is_read(
                sign in prop_oneof![Just('+'), Just('-')],
                hours in 0i64..=23,
                minutes in 0i64..=59,
            ) {
                let text = format!("2026-01-31T12:00:00{sign}{hours:02}:{minutes:02}");
                let utc = parse_timestamp("2026-01-31T12:00:00Z").unwrap();
                let offset = (hours * 3600 + minutes * 60) * 1_000_000;
                let expected = if sign == '-' { utc + offset } else { utc - offset };
                prop_assert_eq!(parse_timestamp(&text), Some(expected));
            }

            #[test]
            fn out_of_range_offsets_are_refused(hours in 0u32..100, minutes in 0u32..100) {
                prop_assume!(hours > 23 || minutes > 59);
                let text = format!("2026-01-31T12:00:00+{hours:02}:{minutes:02}");
                prop_assert_eq!(parse_timestamp(&text), None);
            }
        }
    }
}
