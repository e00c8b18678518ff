//! Civil-date arithmetic for the contract's `date` and `timestamp` columns.
//!
//! A `date` is a count of days since 1970-01-01, a `timestamp` a count of
//! microseconds since 1970-01-01T00:00:00Z, both in the proleptic Gregorian
//! calendar (the Gregorian rules extended backwards, with a year 0) and
//! both negative before the epoch. The conversions are Howard Hinnant's
//! `days_from_civil` and `civil_from_days`, which work in 400-year eras so
//! negative days need no special case.

/// Microseconds in a second.
pub const MICROS_PER_SECOND: i64 = 1_000_000;
/// Seconds in a day (UTC has no leap seconds here, as in the contract).
pub const SECONDS_PER_DAY: i64 = 86_400;
/// Microseconds in a day: a timestamp's day is `micros.div_euclid(MICROS_PER_DAY)`.
pub const MICROS_PER_DAY: i64 = SECONDS_PER_DAY * MICROS_PER_SECOND;

/// Days from 0000-03-01 to 1970-01-01: the algorithms count from a March
/// so that the leap day ends the year.
const EPOCH_SHIFT: i64 = 719_468;
/// Days in a 400-year era.
const DAYS_PER_ERA: i64 = 146_097;

/// Days since 1970-01-01 of the date `year-month-day`.
///
/// `month` is 1..=12 and `day` 1..=31; a day past the month's end counts
/// on into the next month (check it against [`days_in_month`] first when
/// that matters). Exact for every year within ±2 × 10^16.
#[inline]
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month = i64::from(month);
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * DAYS_PER_ERA + day_of_era - EPOCH_SHIFT
}

/// `(year, month, day)` of the date `days` after 1970-01-01, with `month`
/// in 1..=12 and `day` in 1..=31.
///
/// Exact for every `i64` up to `i64::MAX - 719_468`, so for every day a
/// `date` (`i32`) or a `timestamp` (`i64` microseconds) can name.
#[inline]
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + EPOCH_SHIFT;
    let era = z.div_euclid(DAYS_PER_ERA);
    let day_of_era = z.rem_euclid(DAYS_PER_ERA);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Whether `year` has a February 29th.
#[inline]
pub fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1..=12) of `year`; 0 for a month outside 1..=12.
#[inline]
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_days() {
        let known: [(i64, (i64, u32, u32)); 14] = [
            (0, (1970, 1, 1)),
            (-1, (1969, 12, 31)),
            (1, (1970, 1, 2)),
            (59, (1970, 3, 1)),
            (19_000, (2022, 1, 8)),
            (11_016, (2000, 2, 29)),
            (20_454, (2026, 1, 1)),
            (20_484, (2026, 1, 31)),
            (-25_508, (1900, 3, 1)),
            (-719_162, (1, 1, 1)),
            (-719_468, (0, 3, 1)),
            (-719_469, (0, 2, 29)),
            (-719_528, (0, 1, 1)),
            (2_932_896, (9999, 12, 31)),
        ];
        for (days, date) in known {
            assert_eq!(civil_from_days(days), date, "{days}");
            assert_eq!(days_from_civil(date.0, date.1, date.2), days, "{date:?}");
        }
        assert_eq!(civil_from_days(-719_529), (-1, 12, 31));
        assert_eq!(civil_from_days(2_932_897), (10_000, 1, 1));
        assert_eq!(civil_from_days(i64::from(i32::MAX)), (5_881_580, 7, 11));
        assert_eq!(civil_from_days(i64::from(i32::MIN)), (-5_877_641, 6, 23));
    }

    #[test]
    fn the_days_of_the_extreme_timestamps() {
        let first = i64::MIN.div_euclid(MICROS_PER_DAY);
        let last = i64::MAX.div_euclid(MICROS_PER_DAY);
        assert_eq!(civil_from_days(first), (-290_308, 12, 21));
        assert_eq!(civil_from_days(last), (294_247, 1, 10));
        assert_eq!(MICROS_PER_DAY, 86_400_000_000);
    }

    #[test]
    fn month_lengths() {
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2023, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(1900, 2), 28);
        assert_eq!(days_in_month(0, 2), 29);
        assert_eq!(days_in_month(-4, 2), 29);
        assert_eq!(days_in_month(-100, 2), 28);
        assert_eq!(days_in_month(2026, 4), 30);
        assert_eq!(days_in_month(2026, 12), 31);
        assert_eq!(days_in_month(2026, 0), 0);
        assert_eq!(days_in_month(2026, 13), 0);
        let year: u32 = (1..=12).map(|m| days_in_month(2026, m)).sum();
        assert_eq!(year, 365);
    }

    /// Every day of ±8,000 years: each is a real date, converts back, and
    /// follows the one before.
    #[test]
    fn every_day_round_trips_and_follows_the_one_before() {
        let mut last = civil_from_days(-3_000_001);
        for days in -3_000_000..3_000_000i64 {
            let (y, m, d) = civil_from_days(days);
            assert!((1..=days_in_month(y, m)).contains(&d), "{days}");
            assert_eq!(days_from_civil(y, m, d), days);
            let next_in_month = (last.0, last.1, last.2 + 1);
            let next_month = if last.1 == 12 {
                (last.0 + 1, 1, 1)
            } else {
                (last.0, last.1 + 1, 1)
            };
            assert!(
                (y, m, d) == next_in_month || (d == 1 && (y, m, d) == next_month),
                "{days}: {:?} does not follow {last:?}",
                (y, m, d)
            );
            last = (y, m, d);
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        /// Far wider than any date or timestamp: ±3 × 10^15 years.
        const WIDE: i64 = 1 << 60;

        proptest! {
            #[test]
            fn days_round_trip(days in -WIDE..WIDE) {
                let (y, m, d) = civil_from_days(days);
                prop_assert!((1..=12).contains(&m));
                prop_assert!((1..=days_in_month(y, m)).contains(&d));
                prop_assert_eq!(days_from_civil(y, m, d), days);
            }

            #[test]
            fn dates_round_trip(year in -(1i64 << 50)..(1i64 << 50), month in 1u32..=12, day in 1u32..=31) {
                prop_assume!(day <= days_in_month(year, month));
                prop_assert_eq!(civil_from_days(days_from_civil(year, month, day)), (year, month, day));
            }

            #[test]
            fn the_next_day_is_one_more(days in -WIDE..WIDE) {
                let (y, m, d) = civil_from_days(days);
                let next = if d < days_in_month(y, m) {
                    (y, m, d + 1)
                } else if m < 12 {
                    (y, m + 1, 1)
                } else {
                    (y + 1, 1, 1)
                };
                prop_assert_eq!(civil_from_days(days + 1), next);
            }
        }
    }
}
