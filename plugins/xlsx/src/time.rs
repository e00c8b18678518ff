//! Calendar arithmetic: civil dates and Excel's date serials.
//!
//! Excel stores a date as the number of days since 1899-12-30 (its "1900
//! date system"), a time of day as the fraction of a day. Serial 60 is
//! 1900-02-29, a day that never existed (kept for Lotus 1-2-3
//! compatibility), so Excel numbers the days before 1900-03-01 one less
//! than the plain count, and LibreOffice does not: the same serial is a
//! different day to the two. Only days from 1900-03-01 to 9999-12-31 get a
//! serial, which every reader agrees on; the rest are written as text.

/// Days from 1899-12-30 to 1970-01-01.
const EPOCH_SERIAL: i64 = 25_569;
/// 1900-03-01 as days since 1970-01-01: from here on the plain count is right.
const MARCH_1900: i64 = -25_508;
/// 9999-12-31 as days since 1970-01-01: Excel's last day.
const LAST_DAY: i64 = 2_932_896;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// `(year, month, day)` of `days` since 1970-01-01 in the proleptic
/// Gregorian calendar (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

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

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(LAST_DAY), (9999, 12, 31));
        assert_eq!(civil_from_days(MARCH_1900), (1900, 3, 1));
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
