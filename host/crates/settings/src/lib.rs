//! How settings are written, for every crate whose settings type is read
//! from the configuration: durations (`250ms`, `30s`, `5m`, `24h`, `7d`, a
//! bare number being seconds) and byte sizes (`128MiB`, or a bare number of
//! bytes), parsed, printed back the same way, and read and written through
//! serde with `#[serde(with = "exporter_settings::duration")]` and
//! `exporter_settings::bytes`.
//!
//! # Layout
//!
//! The bottom of the host: imports no other crate of it.

use std::fmt;
use std::time::Duration;

/// A setting's text that does not parse; says what would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

/// A setting out of its range, as a settings type's `validate` reports it:
/// `field` is its key within the type's section (`concurrency`,
/// `retry.max_attempts`), so the service can name the whole key and where
/// the value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub must: &'static str,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} must be {}", self.field, self.must)
    }
}

impl std::error::Error for Invalid {}

impl Invalid {
    /// The same refusal one level up: `retry.max_attempts` from a nested
    /// type's `max_attempts`.
    pub fn within(self, section: &str) -> Self {
        Invalid {
            field: format!("{section}.{}", self.field),
            ..self
        }
    }
}

/// The first of `checks` (field, holds, what it must be) that does not
/// hold: what every settings type's `validate` returns.
pub fn first_invalid<const N: usize>(
    checks: [(&'static str, bool, &'static str); N],
) -> Result<(), Invalid> {
    match checks.into_iter().find(|(_, holds, _)| !holds) {
        Some((field, _, must)) => Err(Invalid {
            field: field.to_owned(),
            must,
        }),
        None => Ok(()),
    }
}

/// The number at the start of `text` and the unit after it.
fn split_number(text: &str) -> (&str, &str) {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    (number, unit.trim())
}

/// `250ms`, `30s`, `5m`, `24h`, `7d`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, ParseError> {
    let text = text.trim();
    let (number, unit) = split_number(text);
    let n: u64 = number.parse().map_err(|_| {
        ParseError(format!(
            "{text:?} is not a duration like 250ms, 30s, 5m, 24h or 7d"
        ))
    })?;
    let seconds = |factor: u64| Duration::from_secs(n.saturating_mul(factor));
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "s" | "" => seconds(1),
        "m" => seconds(60),
        "h" => seconds(3600),
        "d" => seconds(86_400),
        other => {
            return Err(ParseError(format!(
                "unknown duration unit {other:?} in {text:?}: use ms, s, m, h or d"
            )));
        }
    })
}

/// The text [`parse_duration`] reads back: the largest unit that says it
/// exactly (`90s`, `5m`, `250ms`). Below a millisecond is dropped.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis == 0 || !millis.is_multiple_of(1000) {
        return format!("{millis}ms");
    }
    let secs = duration.as_secs();
    for (factor, unit) in [(86_400, "d"), (3600, "h"), (60, "m")] {
        if secs.is_multiple_of(factor) {
            return format!("{}{unit}", secs / factor);
        }
    }
    format!("{secs}s")
}

const BYTE_UNITS: [(&str, u32); 5] = [("B", 0), ("KiB", 10), ("MiB", 20), ("GiB", 30), ("TiB", 40)];

/// `65536`, `64KiB`, `128MiB`, `2GiB`, `1TiB` (powers of 1024); a bare
/// number is bytes.
pub fn parse_bytes(text: &str) -> Result<u64, ParseError> {
    let text = text.trim();
    let (number, unit) = split_number(text);
    let n: u64 = number.parse().map_err(|_| {
        ParseError(format!(
            "{text:?} is not a size like 65536, 64KiB, 128MiB or 2GiB"
        ))
    })?;
    let shift = match unit {
        "" => 0,
        unit => BYTE_UNITS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(unit))
            .map(|&(_, shift)| shift)
            .ok_or_else(|| {
                ParseError(format!(
                    "unknown size unit {unit:?} in {text:?}: use B, KiB, MiB, GiB or TiB"
                ))
            })?,
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| ParseError(format!("{text:?} is too large")))
}

/// The text [`parse_bytes`] reads back: the largest unit that says it
/// exactly (`128MiB`, `1000`).
pub fn format_bytes(bytes: u64) -> String {
    if bytes == 0 {
        return "0".into();
    }
    for &(unit, shift) in BYTE_UNITS.iter().rev() {
        if shift > 0 && bytes.trailing_zeros() >= shift {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// A text or, as a TOML file may hold it, a number; for the visitors below.
struct TextOrNumber {
    expecting: &'static str,
}

impl serde::de::Visitor<'_> for TextOrNumber {
    type Value = Result<u64, String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Self::Value, E> {
        Ok(Ok(n))
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Self::Value, E> {
        u64::try_from(n)
            .map(Ok)
            .map_err(|_| E::custom(format!("{n} is negative")))
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Err(text.to_owned()))
    }
}

/// `#[serde(with = "exporter_settings::duration")]`: a [`Duration`] as
/// [`parse_duration`] text, or a number of seconds.
pub mod duration {
    use std::time::Duration;

    use serde::{Deserializer, Serializer, de::Error as _};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_duration(*value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let visitor = super::TextOrNumber {
            expecting: "a duration like 250ms, 30s, 5m, 24h or 7d",
        };
        match deserializer.deserialize_any(visitor)? {
            Ok(seconds) => Ok(Duration::from_secs(seconds)),
            Err(text) => super::parse_duration(&text).map_err(D::Error::custom),
        }
    }
}

/// `#[serde(with = "exporter_settings::bytes")]`: a byte count (`u64`,
/// `usize` or `u32`) as [`parse_bytes`] text, or a number of bytes.
pub mod bytes {
    use serde::{Deserializer, Serializer, de::Error as _};

    pub fn serialize<S, T>(value: &T, serializer: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
        T: Copy + TryInto<u64>,
    {
        let bytes = (*value).try_into().unwrap_or(u64::MAX);
        serializer.serialize_str(&super::format_bytes(bytes))
    }

    pub fn deserialize<'de, D, T>(deserializer: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<u64>,
    {
        let visitor = super::TextOrNumber {
            expecting: "a size like 65536, 64KiB, 128MiB or 2GiB",
        };
        let bytes = match deserializer.deserialize_any(visitor)? {
            Ok(bytes) => bytes,
            Err(text) => super::parse_bytes(&text).map_err(D::Error::custom)?,
        };
        T::try_from(bytes).map_err(|_| D::Error::custom(format!("{bytes} bytes is too large")))
    }
}

/// `#[serde(deserialize_with = "exporter_settings::list::deserialize")]`:
/// a list of names, as an array or as one comma-separated string (as an
/// environment variable holds it); blanks trimmed, empty names dropped.
pub mod list {
    use std::fmt;

    use serde::Deserializer;
    use serde::de::{SeqAccess, Visitor};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<String>, D::Error> {
        struct List;
        impl<'de> Visitor<'de> for List {
            type Value = Vec<String>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of names, or one string of comma-separated names")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(text.split(',').map(str::to_owned).collect())
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut all = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    all.push(name);
                }
                Ok(all)
            }
        }
        let all = deserializer.deserialize_any(List)?;
        Ok(all
            .into_iter()
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_check_that_fails_names_its_field_and_section() {
        assert_eq!(
            first_invalid([("a", true, "positive"), ("b", true, "x")]),
            Ok(())
        );
        let invalid = first_invalid([
            ("a", true, "positive"),
            ("max_attempts", false, "at least 1"),
            ("c", false, "positive"),
        ])
        .unwrap_err();
        assert_eq!(invalid.to_string(), "max_attempts must be at least 1");
        assert_eq!(
            invalid.within("retry").to_string(),
            "retry.max_attempts must be at least 1"
        );
    }

    #[test]
    fn durations_parse_and_print_back() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(
            parse_duration(" 7d ").unwrap(),
            Duration::from_secs(7 * 86_400)
        );
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("h").is_err());
        assert!(
            parse_duration("1 week")
                .unwrap_err()
                .to_string()
                .contains("week")
        );
        for (text, printed) in [
            ("250ms", "250ms"),
            ("90", "90s"),
            ("120s", "2m"),
            ("24h", "1d"),
            ("0s", "0ms"),
            ("1500ms", "1500ms"),
        ] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), printed);
        }
    }

    #[test]
    fn sizes_parse_and_print_back() {
        assert_eq!(parse_bytes("65536").unwrap(), 65_536);
        assert_eq!(parse_bytes("64KiB").unwrap(), 65_536);
        assert_eq!(parse_bytes("128 mib").unwrap(), 128 << 20);
        assert_eq!(parse_bytes("2GiB").unwrap(), 2 << 30);
        assert!(parse_bytes("2GB").unwrap_err().to_string().contains("GB"));
        assert!(parse_bytes("MiB").is_err());
        assert!(parse_bytes("99999999999TiB").is_err());
        assert_eq!(format_bytes(128 << 20), "128MiB");
        assert_eq!(format_bytes(1000), "1000");
        assert_eq!(format_bytes(3 << 10), "3KiB");
        assert_eq!(format_bytes(0), "0");
    }

    #[derive(Debug, serde::Deserialize, serde::Serialize, PartialEq)]
    struct Sample {
        #[serde(with = "duration")]
        wait: Duration,
        #[serde(with = "bytes")]
        size: usize,
        #[serde(deserialize_with = "list::deserialize")]
        hosts: Vec<String>,
    }

    #[test]
    fn serde_reads_text_or_numbers_and_writes_text() {
        let sample: Sample =
            toml::from_str("wait = \"5m\"\nsize = \"64KiB\"\nhosts = \"a, b,,\"").unwrap();
        assert_eq!(
            sample,
            Sample {
                wait: Duration::from_secs(300),
                size: 65_536,
                hosts: vec!["a".into(), "b".into()],
            }
        );
        let sample: Sample = toml::from_str("wait = 90\nsize = 1024\nhosts = [\" c \"]").unwrap();
        assert_eq!(sample.wait, Duration::from_secs(90));
        assert_eq!(sample.size, 1024);
        assert_eq!(sample.hosts, ["c"]);
        let text = toml::to_string(&sample).unwrap();
        assert!(
            text.contains("wait = \"90s\"") && text.contains("size = \"1KiB\""),
            "{text}"
        );
        let error =
            toml::from_str::<Sample>("wait = \"1 week\"\nsize = 1\nhosts = []").unwrap_err();
        assert!(error.to_string().contains("week"), "{error}");
        let error = toml::from_str::<Sample>("wait = 1\nsize = -1\nhosts = []").unwrap_err();
        assert!(error.to_string().contains("negative"), "{error}");
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_parsed_or_refused_never_panicked_on(text in "\\PC*|[0-9]{0,25}[a-zA-Zé ]{0,4}") {
            let _ = parse_duration(&text);
            let _ = parse_bytes(&text);
        }

        #[test]
        fn printed_values_parse_back(millis: u32, bytes: u64) {
            let duration = Duration::from_millis(u64::from(millis));
            proptest::prop_assert_eq!(parse_duration(&format_duration(duration)).unwrap(), duration);
            proptest::prop_assert_eq!(parse_bytes(&format_bytes(bytes)).unwrap(), bytes);
        }
    }
}
