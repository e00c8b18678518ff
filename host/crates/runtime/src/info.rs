//! What a plugin says about itself, checked and in host types.
//!
//! The types are the shared vocabulary's ([`FormatInfo`], [`OptionSpec`],
//! `OptionType` from `exporter-wit`, serialized as the API shows them);
//! this module converts the generated bindings into them and bounds and
//! checks everything a plugin may return.

use std::collections::HashSet;

use exporter_wit::{FormatInfo, OptionSpec};

use super::bindings;

// Bounds on what `info()` may return. Generous for any real format (the
// built-ins declare at most 9 options, each choice a word or two) and small
// enough that checking, storing and listing a description costs nothing.
// A plugin over a bound is refused at load, naming the bound.

/// Options one format may declare.
pub const MAX_OPTIONS: usize = 256;
/// Choices one `choice` option may list.
pub const MAX_CHOICES: usize = 256;
/// Bytes in a format or option name and in a version.
pub const MAX_NAME_BYTES: usize = 64;
/// Bytes in a description (the format's or an option's): one line.
pub const MAX_DESCRIPTION_BYTES: usize = 1024;
/// Bytes in an option's default or in one choice.
pub const MAX_VALUE_BYTES: usize = 256;
/// Bytes in a media type (RFC 6838 caps each half at 127).
pub const MAX_MEDIA_TYPE_BYTES: usize = 255;
/// Bytes in a file extension.
pub const MAX_EXTENSION_BYTES: usize = 16;

/// Converts and validates what `info()` returned. A plugin may return
/// anything here, so every list and string is bounded (see the `MAX_*`
/// constants) and checked before anything else looks at it, in time linear
/// in what the plugin sent.
pub(crate) fn from_guest(info: bindings::FormatInfo) -> Result<FormatInfo, String> {
    check_name("name", &info.name)?;
    check_length("version", &info.version, MAX_NAME_BYTES)?;
    check_semver(&info.version)?;
    check_length("media type", &info.media_type, MAX_MEDIA_TYPE_BYTES)?;
    check_media_type(&info.media_type)?;
    check_length("file extension", &info.file_extension, MAX_EXTENSION_BYTES)?;
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
    check_description("the format's description", &info.description)?;
    if info.options.len() > MAX_OPTIONS {
        return Err(format!(
            "it declares {} options; at most {MAX_OPTIONS} are allowed",
            info.options.len()
        ));
    }
    let mut seen = HashSet::with_capacity(info.options.len());
    for spec in &info.options {
        check_name("option name", &spec.name)?;
        if !seen.insert(spec.name.as_str()) {
            return Err(format!("option {:?} is listed twice", spec.name));
        }
        check_description(
            &format!("option {:?}'s description", spec.name),
            &spec.description,
        )?;
        check_length(
            &format!("option {:?}'s default", spec.name),
            &spec.default_value,
            MAX_VALUE_BYTES,
        )?;
        if spec.choices.len() > MAX_CHOICES {
            return Err(format!(
                "option {:?} lists {} choices; at most {MAX_CHOICES} are allowed",
                spec.name,
                spec.choices.len()
            ));
        }
        for choice in &spec.choices {
            check_length(
                &format!("a choice of option {:?}", spec.name),
                choice,
                MAX_VALUE_BYTES,
            )?;
        }
    }
    drop(seen);
    let mut options = Vec::with_capacity(info.options.len());
    for spec in info.options {
        let option = OptionSpec {
            name: spec.name,
            kind: spec.kind.into(),
            default_value: spec.default_value,
            description: spec.description,
            choices: spec.choices,
        };
        if let Err(reason) = option.check(&option.default_value) {
            return Err(format!(
                "option {:?} has a default that its own type refuses: it {reason}",
                option.name
            ));
        }
        options.push(option);
    }
    Ok(FormatInfo {
        name: info.name,
        version: info.version,
        media_type: info.media_type,
        file_extension: info.file_extension,
        description: info.description,
        options,
    })
}

fn check_name(what: &str, name: &str) -> Result<(), String> {
    // Never echo an oversized name: the message would be as large.
    check_length(what, name, MAX_NAME_BYTES)?;
    let valid = !name.is_empty()
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

fn check_length(what: &str, text: &str, max: usize) -> Result<(), String> {
    if text.len() > max {
        return Err(format!(
            "{what} is {} bytes long; at most {max} are allowed",
            text.len()
        ));
    }
    Ok(())
}

/// One line of readable text: users see it in the API, the CLI and logs,
/// where a line break or an escape sequence would forge or garble output.
fn check_description(what: &str, text: &str) -> Result<(), String> {
    check_length(what, text, MAX_DESCRIPTION_BYTES)?;
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(format!(
            "{what} must be one line of text without control characters; it contains {c:?}"
        ));
    }
    Ok(())
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
    use exporter_wit::OptionType;

    use super::*;

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

    fn guest_option(kind: bindings::OptionType, default: &str) -> bindings::FormatInfo {
        bindings::FormatInfo {
            name: "one".into(),
            version: "1.0.0".into(),
            media_type: "text/plain".into(),
            file_extension: "txt".into(),
            description: "One option".into(),
            options: vec![bindings::exporter::formatter::types::OptionSpec {
                name: "o".into(),
                kind,
                default_value: default.into(),
                description: "the option".into(),
                choices: if kind == bindings::OptionType::Choice {
                    vec!["a".into(), "b".into()]
                } else {
                    Vec::new()
                },
            }],
        }
    }

    #[test]
    fn options_convert_to_the_shared_vocabulary() {
        let info = from_guest(guest_option(bindings::OptionType::Choice, "b")).unwrap();
        assert_eq!(
            info.options,
            [OptionSpec::choice("o", "b", ["a", "b"], "the option")]
        );
        let kinds = [
            (bindings::OptionType::Boolean, OptionType::Boolean, "true"),
            (bindings::OptionType::Integer, OptionType::Integer, "-1"),
            (bindings::OptionType::Text, OptionType::Text, ""),
            (bindings::OptionType::Character, OptionType::Character, ";"),
            (bindings::OptionType::Choice, OptionType::Choice, "a"),
        ];
        for (guest, shared, default) in kinds {
            let info = from_guest(guest_option(guest, default)).unwrap();
            assert_eq!(info.options[0].kind, shared);
        }
    }

    #[test]
    fn a_default_its_own_type_refuses_is_refused_at_load() {
        assert_eq!(
            from_guest(guest_option(bindings::OptionType::Boolean, "yes")).unwrap_err(),
            r#"option "o" has a default that its own type refuses: it must be true or false, got "yes""#
        );
        assert_eq!(
            from_guest(guest_option(bindings::OptionType::Choice, "c")).unwrap_err(),
            r#"option "o" has a default that its own type refuses: it must be one of a, b; got "c""#
        );
    }
}

#[cfg(test)]
mod bounds {
    use std::time::{Duration, Instant};

    use super::*;

    fn info(options: usize, description: &str) -> bindings::FormatInfo {
        bindings::FormatInfo {
            name: "bounded".into(),
            version: "1.0.0".into(),
            media_type: "text/plain".into(),
            file_extension: "txt".into(),
            description: description.into(),
            options: (0..options)
                .map(|i| bindings::exporter::formatter::types::OptionSpec {
                    name: format!("o{i}"),
                    kind: bindings::OptionType::Boolean,
                    default_value: "false".into(),
                    description: "one of many".into(),
                    choices: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn many_options_are_refused_at_once_naming_the_bound() {
        let started = Instant::now();
        let error = from_guest(info(350_000, "fine")).unwrap_err();
        assert_eq!(error, "it declares 350000 options; at most 256 are allowed");
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(from_guest(info(MAX_OPTIONS, "fine")).is_ok());
    }

    #[test]
    fn duplicates_are_found_among_the_most_options_allowed() {
        let mut twice = info(MAX_OPTIONS, "fine");
        twice.options[MAX_OPTIONS - 1].name = "o0".into();
        assert_eq!(
            from_guest(twice).unwrap_err(),
            "option \"o0\" is listed twice"
        );
    }

    #[test]
    fn descriptions_are_one_bounded_line() {
        let long = "a long description line, again.\n".repeat(312_501);
        assert_eq!(
            from_guest(info(0, &long)).unwrap_err(),
            "the format's description is 10000032 bytes long; at most 1024 are allowed"
        );
        assert_eq!(
            from_guest(info(0, "two\nlines")).unwrap_err(),
            "the format's description must be one line of text without control characters; it contains '\\n'"
        );
        assert!(
            from_guest(info(0, "\u{1b}[2Jcleared"))
                .unwrap_err()
                .contains("control characters")
        );
        let mut option = info(1, "fine");
        option.options[0].description = "x".repeat(MAX_DESCRIPTION_BYTES + 1);
        assert_eq!(
            from_guest(option).unwrap_err(),
            "option \"o0\"'s description is 1025 bytes long; at most 1024 are allowed"
        );
    }

    #[test]
    fn names_defaults_and_choices_are_bounded() {
        let mut named = info(1, "fine");
        named.options[0].name = "o".repeat(10_000);
        assert_eq!(
            from_guest(named).unwrap_err(),
            "option name is 10000 bytes long; at most 64 are allowed"
        );
        let mut choices = info(1, "fine");
        choices.options[0].kind = bindings::OptionType::Choice;
        choices.options[0].default_value = "c0".into();
        choices.options[0].choices = (0..=MAX_CHOICES).map(|i| format!("c{i}")).collect();
        assert_eq!(
            from_guest(choices.clone()).unwrap_err(),
            "option \"o0\" lists 257 choices; at most 256 are allowed"
        );
        choices.options[0].choices = vec!["c0".into(), "y".repeat(MAX_VALUE_BYTES + 1)];
        assert_eq!(
            from_guest(choices).unwrap_err(),
            "a choice of option \"o0\" is 257 bytes long; at most 256 are allowed"
        );
    }
}
