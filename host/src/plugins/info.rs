//! What a plugin says about itself, checked and in host types.

use serde::Serialize;

use super::bindings;

/// A format plugin's description, as returned by its `info()` and checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FormatInfo {
    pub name: String,
    pub version: String,
    pub media_type: String,
    pub file_extension: String,
    pub description: String,
    pub options: Vec<OptionSpec>,
}

/// One option a format accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptionSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: OptionKind,
    pub default: String,
    pub description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
}

/// The type of an option's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum OptionKind {
    Boolean,
    Integer,
    Text,
    Character,
    Choice,
}

impl FormatInfo {
    /// Converts and validates what `info()` returned.
    pub(crate) fn from_guest(info: bindings::FormatInfo) -> Result<Self, String> {
        check_name("name", &info.name)?;
        check_semver(&info.version)?;
        check_media_type(&info.media_type)?;
        if info.file_extension.is_empty()
            || !info
                .file_extension
                .bytes()
                .all(|b| b.is_ascii_alphanumeric())
        {
            return Err(format!(
                "file extension {:?} must be ASCII letters and digits, without the dot",
                info.file_extension
            ));
        }
        let mut options = Vec::with_capacity(info.options.len());
        for spec in info.options {
            check_name("option name", &spec.name)?;
            if options.iter().any(|o: &OptionSpec| o.name == spec.name) {
                return Err(format!("option {:?} is listed twice", spec.name));
            }
            let kind = match spec.kind {
                bindings::OptionType::Boolean => OptionKind::Boolean,
                bindings::OptionType::Integer => OptionKind::Integer,
                bindings::OptionType::Text => OptionKind::Text,
                bindings::OptionType::Character => OptionKind::Character,
                bindings::OptionType::Choice => OptionKind::Choice,
            };
            let option = OptionSpec {
                name: spec.name,
                kind,
                default: spec.default_value,
                description: spec.description,
                choices: spec.choices,
            };
            if let Err(reason) = option.check(&option.default) {
                return Err(format!(
                    "option {:?} has a default that its own type refuses: {reason}",
                    option.name
                ));
            }
            options.push(option);
        }
        Ok(Self {
            name: info.name,
            version: info.version,
            media_type: info.media_type,
            file_extension: info.file_extension,
            description: info.description,
            options,
        })
    }

    /// Checks user options against this format's specs, so the API and the
    /// CLI can refuse bad options before an export starts. The plugin checks
    /// them again in `open`; this is only the early, friendly refusal.
    pub fn check_options(&self, options: &[(String, String)]) -> Result<(), String> {
        for (name, value) in options {
            let Some(spec) = self.options.iter().find(|o| &o.name == name) else {
                let known: Vec<&str> = self.options.iter().map(|o| o.name.as_str()).collect();
                return Err(if known.is_empty() {
                    format!(
                        "unknown option {name:?}: format {} takes no options",
                        self.name
                    )
                } else {
                    format!(
                        "unknown option {name:?}: format {} accepts {}",
                        self.name,
                        known.join(", ")
                    )
                });
            };
            spec.check(value)
                .map_err(|reason| format!("option {name:?}: {reason}"))?;
        }
        Ok(())
    }
}

impl OptionSpec {
    /// Whether `value` is acceptable for this option.
    pub fn check(&self, value: &str) -> Result<(), String> {
        match self.kind {
            OptionKind::Boolean if value != "true" && value != "false" => {
                Err(format!("expected true or false, got {value:?}"))
            }
            OptionKind::Integer if value.parse::<i64>().is_err() => {
                Err(format!("expected an integer, got {value:?}"))
            }
            OptionKind::Character if value.chars().count() != 1 => {
                Err(format!("expected exactly one character, got {value:?}"))
            }
            OptionKind::Choice if !self.choices.iter().any(|c| c == value) => Err(format!(
                "expected one of {}, got {value:?}",
                self.choices.join(", ")
            )),
            _ => Ok(()),
        }
    }
}

fn check_name(what: &str, name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{what} {name:?} must be lower-kebab-case ASCII (a-z, 0-9, '-'), starting with a letter, at most 64 characters"
        ))
    }
}

fn check_semver(version: &str) -> Result<(), String> {
    let core = version.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    let numeric = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if parts.len() == 3 && parts.iter().all(numeric) {
        Ok(())
    } else {
        Err(format!(
            "version {version:?} is not semver (MAJOR.MINOR.PATCH)"
        ))
    }
}

fn check_media_type(media_type: &str) -> Result<(), String> {
    let essence = media_type.split(';').next().unwrap_or("").trim();
    let mut halves = essence.split('/');
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    match (halves.next(), halves.next(), halves.next()) {
        (Some(kind), Some(sub), None) if token(kind) && token(sub) => Ok(()),
        _ => Err(format!(
            "media type {media_type:?} is not of the form type/subtype"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: OptionKind, choices: &[&str]) -> OptionSpec {
        OptionSpec {
            name: "x".into(),
            kind,
            default: String::new(),
            description: String::new(),
            choices: choices.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn option_values_are_checked_by_type() {
        assert!(spec(OptionKind::Boolean, &[]).check("true").is_ok());
        assert!(spec(OptionKind::Boolean, &[]).check("yes").is_err());
        assert!(spec(OptionKind::Integer, &[]).check("-3").is_ok());
        assert!(spec(OptionKind::Integer, &[]).check("3.5").is_err());
        assert!(spec(OptionKind::Character, &[]).check("é").is_ok());
        assert!(spec(OptionKind::Character, &[]).check(";;").is_err());
        assert!(
            spec(OptionKind::Choice, &["lf", "crlf"])
                .check("lf")
                .is_ok()
        );
        assert!(
            spec(OptionKind::Choice, &["lf", "crlf"])
                .check("cr")
                .is_err()
        );
    }

    #[test]
    fn names_versions_and_media_types_are_validated() {
        assert!(check_name("name", "csv").is_ok());
        assert!(check_name("name", "my-format2").is_ok());
        assert!(check_name("name", "CSV").is_err());
        assert!(check_name("name", "").is_err());
        assert!(check_name("name", "2csv").is_err());
        assert!(check_semver("1.2.3").is_ok());
        assert!(check_semver("1.2.3-beta.1+build").is_ok());
        assert!(check_semver("1.2").is_err());
        assert!(check_media_type("text/csv; charset=utf-8").is_ok());
        assert!(check_media_type("application/x-ndjson").is_ok());
        assert!(check_media_type("csv").is_err());
    }
}
