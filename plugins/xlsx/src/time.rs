//! Excel's date serials. The civil-date arithmetic itself is the SDK's
//! ([`exporter_plugin_sdk::civil`]).
//!
//! Excel stores a date as the number of days since 1899-12-30 (its "1900
//! date system"), a time of day as the fraction of a day. Serial 60 is
//! 1900-02-29, a day that never existed (kept for Lotus 1-2-3
//! compatibility), so Excel numbers the days before 1900-03-01 one less
//! than the plain count, and LibreOffice does not: the same serial is a
//! different day to the two. Only days from 1900-03-01 to 9999-12-31 get a
//! serial, which every reader agrees on; the rest are written as text.

use exporter_plugin_sdk::civil::MICROS_PER_DAY;

/// Days from 1899-12-30 to 1970-01-01.
const EPOCH_SERIAL: i64 = 25_569;
/// 1900-03-01 as days since 1970-01-01: from here on the plain count is right.
const MARCH_1900: i64 = -25_508;
/// 9999-12-31 as days since 1970-01-01: Excel's last day.
const LAST_DAY: i64 = 2_932_896;

/// Excel's serial for `days` since 1970-01-01, if every reader agrees on
/// that day.
pub fn date_serial(days: i64) -> Option<i64> {
    (MARCH_1900..=LAST_DAY)
        .contains(&days)
        .then_some(days + EPOCH_SERIAL)
}

/// Excel's serial for `micros` since the epoch, if every reader agrees on
/// that day.
pub fn timestamp_serial(micros: i64) -> Option<f64> {
    let day = date_serial(micros.div_euclid(MICROS_PER_DAY))?;
    let fraction = micros.rem_euclid(MICROS_PER_DAY) as f64 / MICROS_PER_DAY as f64;
    Some(day as f64 + fraction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use exporter_plugin_sdk::civil::{civil_from_days, days_from_civil};

    #[test]
    fn the_constants_are_the_days_they_name() {
        assert_eq!(days_from_civil(1899, 12, 30), -EPOCH_SERIAL);
        assert_eq!(civil_from_days(MARCH_1900), (1900, 3, 1));
        assert_eq!(civil_from_days(LAST_DAY), (9999, 12, 31));
    }

    #[test]
    fn serials_match_excel() {
        // Values as Excel shows them for =DATEVALUE(...).
        assert_eq!(date_serial(20_454), Some(46_023)); // 2026-01-01
        assert_eq!(date_serial(0), Some(25_569)); // 1970-01-01
        assert_eq!(date_serial(MARCH_1900), Some(61));
        // 1900-02-28 is serial 59 to Excel and 60 to LibreOffice.
        assert_eq!(date_serial(MARCH_1900 - 1), None);
        assert_eq!(date_serial(LAST_DAY), Some(2_958_465));
        assert_eq!(date_serial(LAST_DAY + 1), None);
    }

    #[test]
    fn timestamps_carry_the_time_of_day() {
        // 2026-01-01T18:00:00Z
        assert_eq!(
            timestamp_serial(1_767_225_600_000_000 + 18 * 3_600_000_000),
            Some(46_023.75)
        );
        // Before the epoch the fraction still counts forward from midnight.
        assert_eq!(timestamp_serial(-MICROS_PER_DAY / 4), Some(25_568.75));
        assert_eq!(timestamp_serial(i64::MIN), None);
    }
}
