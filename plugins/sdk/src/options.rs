//! Option validation and typed access.

use crate::{FormatError, OptionSpec, OptionType};

/// The options of one export, validated against the format's
/// [`FormatInfo::options`](crate::FormatInfo::options).
///
/// Every option in the spec has a value here: the one the user gave, or the
/// spec's default. The typed getters cannot fail on user input (the SDK has
/// already refused bad values with [`FormatError::InvalidOption`]); they
/// return [`FormatError::Other`] only for mistakes in the format's own code,
/// such as asking for an option the spec does not list.
#[derive(Debug, Clone)]
pub struct Options {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    kind: OptionType,
    value: String,
    given: bool,
}

impl Options {
    /// Validate `given` (name/value pairs as the user wrote them) against
    /// `specs` and fill in defaults.
    ///
    /// Refuses, with [`FormatError::InvalidOption`]: a name not in `specs`, a
    /// name given twice, a boolean other than `true`/`false`, an integer that
    /// does not parse as `i64`, a character that is not exactly one Unicode
    /// scalar, a choice not in the spec's choices. A spec whose own default
    /// is invalid is a bug in the format and gives [`FormatError::Other`].
    pub fn parse<I, N, V>(specs: &[OptionSpec], given: I) -> Result<Options, FormatError>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let mut entries = Vec::with_capacity(specs.len());
        for spec in specs {
            if entries.iter().any(|e: &Entry| e.name == spec.name) {
                return Err(format_bug(format!(
                    "option {:?} is listed twice in the format's info",
                    spec.name
                )));
            }
            spec.check(&spec.default_value).map_err(|problem| {
                format_bug(format!(
                    "the default of option {:?} is invalid: {problem}",
                    spec.name
                ))
            })?;
            entries.push(Entry {
                name: spec.name.clone(),
                kind: spec.kind,
                value: spec.default_value.clone(),
                given: false,
            });
        }

        for (name, value) in given {
            let (name, value) = (name.as_ref(), value.as_ref());
            let index = specs
                .iter()
                .position(|spec| spec.name == name)
                .ok_or_else(|| unknown_option(name, specs))?;
            let entry = &mut entries[index];
            if entry.given {
                return Err(FormatError::InvalidOption(format!(
                    "option {name:?} is given more than once"
                )));
            }
            specs[index].check(value).map_err(|problem| {
                FormatError::InvalidOption(format!("option {name:?} {problem}"))
            })?;
            entry.value = value.to_owned();
            entry.given = true;
        }
        Ok(Options { entries })
    }

    /// The value of a [`OptionType::Boolean`] option.
    pub fn bool(&self, name: &str) -> Result<bool, FormatError> {
        let value = self.typed(name, OptionType::Boolean)?;
        Ok(value == "true")
    }

    /// The value of an [`OptionType::Integer`] option.
    pub fn integer(&self, name: &str) -> Result<i64, FormatError> {
        let value = self.typed(name, OptionType::Integer)?;
        value
            .parse()
            .map_err(|_| format_bug(format!("option {name:?} holds {value:?}")))
    }

    /// The value of an [`OptionType::Character`] option.
    pub fn char(&self, name: &str) -> Result<char, FormatError> {
        let value = self.typed(name, OptionType::Character)?;
        single_char(value).ok_or_else(|| format_bug(format!("option {name:?} holds {value:?}")))
    }

    /// The value of an [`OptionType::Text`] option.
    pub fn text(&self, name: &str) -> Result<&str, FormatError> {
        self.typed(name, OptionType::Text)
    }

    /// The value of an [`OptionType::Choice`] option: always one of the
    /// spec's choices.
    pub fn choice(&self, name: &str) -> Result<&str, FormatError> {
        self.typed(name, OptionType::Choice)
    }

    /// Whether the user gave the option, as opposed to it taking its
    /// default. `false` for names the spec does not list.
    pub fn is_given(&self, name: &str) -> bool {
        self.entry(name).is_some_and(|e| e.given)
    }

    /// The option's value as text, whatever its type; `None` for names the
    /// spec does not list.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entry(name).map(|e| e.value.as_str())
    }

    /// Every option as `(name, value)`, in the spec's order, defaults
    /// included.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.entries
            .iter()
            .map(|e| (e.name.as_str(), e.value.as_str()))
    }

    fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    fn typed(&self, name: &str, kind: OptionType) -> Result<&str, FormatError> {
        let entry = self.entry(name).ok_or_else(|| {
            format_bug(format!(
                "option {name:?} is read but not listed in the format's info"
            ))
        })?;
        if entry.kind != kind {
            return Err(format_bug(format!(
                "option {name:?} is a {} option, read as {kind}",
                entry.kind
            )));
        }
        Ok(&entry.value)
    }
}

/// The name of the option that picks column headings: `names` (the
/// dataset's column names) or `labels` (their labels for people, such as
/// `Started at` for `started_at`).
pub const HEADER_OPTION: &str = "header";

/// The [`HEADER_OPTION`] as a format declares it, with the default that
/// suits its readers (`labels` for spreadsheets and reports, `names` for
/// data files).
///
/// The host applies it: with `labels` it renames the columns before
/// [`Format::open`](crate::Format::open) sees them, so [`Column::name`](crate::Column::name)
/// is already the right heading. A format only declares it, so that it is
/// listed and validated, and otherwise ignores it.
pub fn header_option(default: &str) -> OptionSpec {
    OptionSpec::choice(
        HEADER_OPTION,
        default,
        ["names", "labels"],
        "Column headings: the dataset's column names, or their labels for people (applied by the host)",
    )
}

fn single_char(value: &str) -> Option<char> {
    let mut chars = value.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

fn unknown_option(name: &str, specs: &[OptionSpec]) -> FormatError {
    if specs.is_empty() {
        return FormatError::InvalidOption(format!(
            "unknown option {name:?}; this format accepts no options"
        ));
    }
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    FormatError::InvalidOption(format!(
        "unknown option {name:?}; this format accepts: {}",
        names.join(", ")
    ))
}

fn format_bug(message: String) -> FormatError {
    FormatError::Other(format!("format bug: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> Vec<OptionSpec> {
        vec![
            OptionSpec::character("delimiter", ',', "Field separator"),
            OptionSpec::boolean("header", true, "Write a header row"),
            OptionSpec::integer("limit", -1, "Row limit"),
            OptionSpec::text("null", "", "Null cells"),
            OptionSpec::choice("style", "a", ["a", "b-c"], "Style"),
        ]
    }

    fn parse(given: &[(&str, &str)]) -> Result<Options, FormatError> {
        Options::parse(&specs(), given.iter().copied())
    }

    fn invalid(given: &[(&str, &str)]) -> String {
        match parse(given) {
            Err(FormatError::InvalidOption(m)) => m,
            other => panic!("expected invalid-option, got {other:?}"),
        }
    }

    #[test]
    fn defaults_apply_when_not_given() {
        let o = parse(&[]).unwrap();
        assert_eq!(o.char("delimiter").unwrap(), ',');
        assert!(o.bool("header").unwrap());
        assert_eq!(o.integer("limit").unwrap(), -1);
        assert_eq!(o.text("null").unwrap(), "");
        assert_eq!(o.choice("style").unwrap(), "a");
        assert!(!o.is_given("header"));
    }

    #[test]
    fn given_values_override_defaults() {
        let o = parse(&[
            ("delimiter", "\t"),
            ("header", "false"),
            ("limit", "42"),
            ("null", "NULL"),
            ("style", "b-c"),
        ])
        .unwrap();
        assert_eq!(o.char("delimiter").unwrap(), '\t');
        assert!(!o.bool("header").unwrap());
        assert_eq!(o.integer("limit").unwrap(), 42);
        assert_eq!(o.text("null").unwrap(), "NULL");
        assert_eq!(o.choice("style").unwrap(), "b-c");
        assert!(o.is_given("header"));
        assert_eq!(o.get("limit"), Some("42"));
        assert_eq!(o.iter().count(), 5);
    }

    #[test]
    fn multibyte_character_is_one_character() {
        let o = parse(&[("delimiter", "é")]).unwrap();
        assert_eq!(o.char("delimiter").unwrap(), 'é');
    }

    #[test]
    fn unknown_names_list_the_accepted_ones() {
        assert_eq!(
            invalid(&[("delimter", ";")]),
            r#"unknown option "delimter"; this format accepts: delimiter, header, limit, null, style"#
        );
        let none = Options::parse(&[], [("x", "1")]).unwrap_err();
        assert_eq!(
            none,
            FormatError::InvalidOption(
                r#"unknown option "x"; this format accepts no options"#.into()
            )
        );
    }

    #[test]
    fn malformed_values_are_refused_precisely() {
        assert_eq!(
            invalid(&[("header", "yes")]),
            r#"option "header" must be true or false, got "yes""#
        );
        assert_eq!(
            invalid(&[("header", "TRUE")]),
            r#"option "header" must be true or false, got "TRUE""#
        );
        assert_eq!(
            invalid(&[("limit", "3.5")]),
            r#"option "limit" must be a decimal integer, got "3.5""#
        );
        assert_eq!(
            invalid(&[("limit", "")]),
            r#"option "limit" must be a decimal integer, got """#
        );
        assert_eq!(
            invalid(&[("limit", "99999999999999999999")]),
            r#"option "limit" must be an integer between -9223372036854775808 and 9223372036854775807, got "99999999999999999999""#
        );
        assert_eq!(
            invalid(&[("delimiter", ";;")]),
            r#"option "delimiter" must be exactly one character, got ";;" (2 characters)"#
        );
        assert_eq!(
            invalid(&[("delimiter", "")]),
            r#"option "delimiter" must be exactly one character, got "" (0 characters)"#
        );
        assert_eq!(
            invalid(&[("style", "B-C")]),
            r#"option "style" must be one of a, b-c; got "B-C""#
        );
    }

    #[test]
    fn duplicates_are_refused() {
        assert_eq!(
            invalid(&[("header", "true"), ("header", "false")]),
            r#"option "header" is given more than once"#
        );
    }

    #[test]
    fn the_header_option_is_names_or_labels() {
        let specs = [header_option("labels")];
        let o = Options::parse(&specs, std::iter::empty::<(&str, &str)>()).unwrap();
        assert_eq!(o.choice(HEADER_OPTION).unwrap(), "labels");
        let o = Options::parse(&specs, [("header", "names")]).unwrap();
        assert_eq!(o.choice(HEADER_OPTION).unwrap(), "names");
        assert_eq!(
            Options::parse(&specs, [("header", "false")]).unwrap_err(),
            FormatError::InvalidOption(
                r#"option "header" must be one of names, labels; got "false""#.into()
            )
        );
    }

    #[test]
    fn format_bugs_are_other_errors() {
        let o = parse(&[]).unwrap();
        assert!(matches!(o.bool("nope"), Err(FormatError::Other(_))));
        assert!(matches!(o.bool("limit"), Err(FormatError::Other(_))));
        assert_eq!(o.get("nope"), None);

        let bad_default = vec![OptionSpec::choice("x", "z", ["a"], "")];
        let e = Options::parse(&bad_default, std::iter::empty::<(&str, &str)>()).unwrap_err();
        assert_eq!(
            e,
            FormatError::Other(
                r#"format bug: the default of option "x" is invalid: must be one of a; got "z""#
                    .into()
            )
        );
        let twice = vec![OptionSpec::text("x", "", ""), OptionSpec::text("x", "", "")];
        assert!(matches!(
            Options::parse(&twice, std::iter::empty::<(&str, &str)>()),
            Err(FormatError::Other(_))
        ));
    }
}
