//! What a format says about itself: the WIT `format-info`, `option-spec`
//! and `option-type`, and the rule each option type sets for a value.
//!
//! With the `serde` feature these serialize as the host's API and CLI show
//! them: camelCase fields, an option's `kind` as `type` and its
//! `default_value` as `default`, `choices` left out when empty.

use std::fmt;

#[cfg(feature = "serde")]
use serde::Serialize;

/// The type of an option's value, the WIT `option-type`. Options travel as
/// text; the type says which texts are values ([`OptionSpec::check`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize), serde(rename_all = "camelCase"))]
pub enum OptionType {
    /// `true` or `false`, exactly.
    Boolean,
    /// A decimal integer that fits an `i64`, e.g. `3` or `-1`.
    Integer,
    /// Any text.
    Text,
    /// Exactly one Unicode character, e.g. `;` or a literal tab.
    Character,
    /// One of [`OptionSpec::choices`].
    Choice,
}

impl OptionType {
    /// Every type, in the order the WIT lists them.
    pub const ALL: [OptionType; 5] = [
        OptionType::Boolean,
        OptionType::Integer,
        OptionType::Text,
        OptionType::Character,
        OptionType::Choice,
    ];

    /// The type's name as the WIT spells it, e.g. `character`.
    pub const fn as_str(self) -> &'static str {
        match self {
            OptionType::Boolean => "boolean",
            OptionType::Integer => "integer",
            OptionType::Text => "text",
            OptionType::Character => "character",
            OptionType::Choice => "choice",
        }
    }

    /// The type the WIT spells `name` (exactly: lower case, no spaces).
    pub fn parse(name: &str) -> Option<OptionType> {
        OptionType::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

impl fmt::Display for OptionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An option a format accepts, as listed in [`FormatInfo::options`].
///
/// Build one with the constructor for its type, e.g.
/// [`OptionSpec::boolean`], so the default is always of the right type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize), serde(rename_all = "camelCase"))]
pub struct OptionSpec {
    /// Lower-kebab-case name, e.g. `line-terminator`.
    pub name: String,
    /// The type of the option's value.
    #[cfg_attr(feature = "serde", serde(rename = "type"))]
    pub kind: OptionType,
    /// The value used when the option is not given, as text.
    #[cfg_attr(feature = "serde", serde(rename = "default"))]
    pub default_value: String,
    /// One line for the API docs and `--help`.
    pub description: String,
    /// The allowed values when `kind` is [`OptionType::Choice`]; empty
    /// otherwise.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub choices: Vec<String>,
}

impl OptionSpec {
    fn new(
        name: impl Into<String>,
        kind: OptionType,
        default_value: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        OptionSpec {
            name: name.into(),
            kind,
            default_value: default_value.into(),
            description: description.into(),
            choices: Vec::new(),
        }
    }

    /// A `true`/`false` option.
    pub fn boolean(name: impl Into<String>, default: bool, description: impl Into<String>) -> Self {
        Self::new(name, OptionType::Boolean, default.to_string(), description)
    }

    /// A decimal integer option.
    pub fn integer(name: impl Into<String>, default: i64, description: impl Into<String>) -> Self {
        Self::new(name, OptionType::Integer, default.to_string(), description)
    }

    /// A free-text option.
    pub fn text(
        name: impl Into<String>,
        default: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self::new(name, OptionType::Text, default, description)
    }

    /// A single-character option.
    pub fn character(
        name: impl Into<String>,
        default: char,
        description: impl Into<String>,
    ) -> Self {
        Self::new(
            name,
            OptionType::Character,
            default.to_string(),
            description,
        )
    }

    /// An option whose value is one of `choices`. `default` should be one of
    /// them: [`OptionSpec::check`] refuses it otherwise.
    pub fn choice<I, S>(
        name: impl Into<String>,
        default: impl Into<String>,
        choices: I,
        description: impl Into<String>,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        OptionSpec {
            choices: choices.into_iter().map(Into::into).collect(),
            ..Self::new(name, OptionType::Choice, default, description)
        }
    }

    /// Whether `value` is a value of this option: the one rule per
    /// [`OptionType`] that the host and the SDK both apply. The error says
    /// why not, phrased to follow `option "name"`, e.g.
    /// `must be true or false, got "yes"`.
    pub fn check(&self, value: &str) -> Result<(), String> {
        match self.kind {
            OptionType::Boolean => match value {
                "true" | "false" => Ok(()),
                _ => Err(format!("must be true or false, got {value:?}")),
            },
            OptionType::Integer => match value.parse::<i64>() {
                Ok(_) => Ok(()),
                Err(e) => match e.kind() {
                    std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                        Err(format!(
                            "must be an integer between {} and {}, got {value:?}",
                            i64::MIN,
                            i64::MAX
                        ))
                    }
                    _ => Err(format!("must be a decimal integer, got {value:?}")),
                },
            },
            OptionType::Text => Ok(()),
            OptionType::Character => {
                let mut chars = value.chars();
                match (chars.next(), chars.next()) {
                    (Some(_), None) => Ok(()),
                    _ => {
                        let count = value.chars().count();
                        let plural = if count == 1 { "" } else { "s" };
                        Err(format!(
                            "must be exactly one character, got {value:?} ({count} character{plural})"
                        ))
                    }
                }
            }
            OptionType::Choice => {
                if self.choices.iter().any(|c| c == value) {
                    Ok(())
                } else if self.choices.is_empty() {
                    Err("is a choice with no allowed values".to_owned())
                } else {
                    Err(format!(
                        "must be one of {}; got {value:?}",
                        self.choices.join(", ")
                    ))
                }
            }
        }
    }
}

/// What a format is, the WIT `format-info`: for the registry, the API and
/// the download headers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize), serde(rename_all = "camelCase"))]
pub struct FormatInfo {
    /// Lower-kebab-case format name, e.g. `csv`. Unique in a registry.
    pub name: String,
    /// The plugin's own version, semver; `env!("CARGO_PKG_VERSION")` is the
    /// usual choice.
    pub version: String,
    /// The media type of the file, e.g. `text/csv; charset=utf-8`.
    pub media_type: String,
    /// The file extension without the dot, e.g. `csv`.
    pub file_extension: String,
    /// One line saying what the format is for.
    pub description: String,
    /// Every option the format accepts. Any other name is refused.
    pub options: Vec<OptionSpec>,
}

impl FormatInfo {
    /// Checks name/value pairs against [`FormatInfo::options`]: every name
    /// listed, every value passing [`OptionSpec::check`]. The host runs it
    /// so the API and the CLI refuse bad options before an export starts;
    /// the plugin checks them again when it opens the export.
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
                .map_err(|reason| format!("option {name:?} {reason}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(spec: &OptionSpec, value: &str) -> String {
        spec.check(value).unwrap_err()
    }

    #[test]
    fn each_type_has_one_rule_for_a_value() {
        let flag = OptionSpec::boolean("flag", true, "");
        assert_eq!(flag.check("true"), Ok(()));
        assert_eq!(flag.check("false"), Ok(()));
        assert_eq!(refusal(&flag, "yes"), r#"must be true or false, got "yes""#);
        assert_eq!(
            refusal(&flag, "TRUE"),
            r#"must be true or false, got "TRUE""#
        );

        let limit = OptionSpec::integer("limit", -1, "");
        assert_eq!(limit.check("-3"), Ok(()));
        assert_eq!(limit.check("+3"), Ok(()));
        assert_eq!(
            refusal(&limit, "3.5"),
            r#"must be a decimal integer, got "3.5""#
        );
        assert_eq!(refusal(&limit, ""), r#"must be a decimal integer, got """#);
        assert_eq!(
            refusal(&limit, "99999999999999999999"),
            r#"must be an integer between -9223372036854775808 and 9223372036854775807, got "99999999999999999999""#
        );

        let text = OptionSpec::text("null", "", "");
        assert_eq!(text.check(""), Ok(()));
        assert_eq!(text.check("any\nthing"), Ok(()));

        let delimiter = OptionSpec::character("delimiter", ',', "");
        assert_eq!(delimiter.check("é"), Ok(()));
        assert_eq!(delimiter.check("\t"), Ok(()));
        assert_eq!(
            refusal(&delimiter, ";;"),
            r#"must be exactly one character, got ";;" (2 characters)"#
        );
        assert_eq!(
            refusal(&delimiter, ""),
            r#"must be exactly one character, got "" (0 characters)"#
        );

        let style = OptionSpec::choice("style", "a", ["a", "b-c"], "");
        assert_eq!(style.check("b-c"), Ok(()));
        assert_eq!(
            refusal(&style, "B-C"),
            r#"must be one of a, b-c; got "B-C""#
        );
        let empty = OptionSpec::choice("empty", "", Vec::<String>::new(), "");
        assert_eq!(refusal(&empty, ""), "is a choice with no allowed values");
    }

    #[test]
    fn constructors_write_defaults_of_their_type() {
        let specs = [
            OptionSpec::boolean("a", false, "A"),
            OptionSpec::integer("b", -42, "B"),
            OptionSpec::text("c", "x y", "C"),
            OptionSpec::character("d", '\t', "D"),
            OptionSpec::choice("e", "lf", ["lf", "crlf"], "E"),
        ];
        let defaults: Vec<&str> = specs.iter().map(|s| s.default_value.as_str()).collect();
        assert_eq!(defaults, ["false", "-42", "x y", "\t", "lf"]);
        let kinds: Vec<OptionType> = specs.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, OptionType::ALL);
        for spec in &specs {
            assert_eq!(spec.check(&spec.default_value), Ok(()), "{}", spec.name);
        }
        assert_eq!(specs[4].choices, ["lf", "crlf"]);
        assert!(specs[..4].iter().all(|s| s.choices.is_empty()));
    }

    #[test]
    fn option_sets_are_checked_against_the_format() {
        let info = FormatInfo {
            name: "csv".into(),
            version: "1.0.0".into(),
            media_type: "text/csv".into(),
            file_extension: "csv".into(),
            description: "Comma-separated values".into(),
            options: vec![
                OptionSpec::boolean("header", true, "Header row"),
                OptionSpec::character("delimiter", ',', "Separator"),
            ],
        };
        let given = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(info.check_options(&[]), Ok(()));
        assert_eq!(
            info.check_options(&given(&[("header", "false"), ("delimiter", ";")])),
            Ok(())
        );
        assert_eq!(
            info.check_options(&given(&[("hedaer", "false")])),
            Err(r#"unknown option "hedaer": format csv accepts header, delimiter"#.into())
        );
        assert_eq!(
            info.check_options(&given(&[("header", "yes")])),
            Err(r#"option "header" must be true or false, got "yes""#.into())
        );
        let bare = FormatInfo {
            options: Vec::new(),
            ..info
        };
        assert_eq!(
            bare.check_options(&given(&[("header", "true")])),
            Err(r#"unknown option "header": format csv takes no options"#.into())
        );
    }

    #[test]
    fn option_type_names_are_the_wit_spelling() {
        for kind in OptionType::ALL {
            assert_eq!(OptionType::parse(kind.as_str()), Some(kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
        assert_eq!(OptionType::parse("bool"), None);
        let ours: Vec<&str> = OptionType::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(crate::column::wit_enum_cases("option-type"), ours);
    }

    #[cfg(feature = "serde")]
    #[test]
    fn json_is_what_the_api_shows() {
        let info = FormatInfo {
            name: "csv".into(),
            version: "1.0.0".into(),
            media_type: "text/csv".into(),
            file_extension: "csv".into(),
            description: "d".into(),
            options: vec![
                OptionSpec::boolean("header", true, "h"),
                OptionSpec::choice("eol", "lf", ["lf", "crlf"], "e"),
            ],
        };
        assert_eq!(
            serde_json::to_string(&info).unwrap(),
            concat!(
                r#"{"name":"csv","version":"1.0.0","mediaType":"text/csv","fileExtension":"csv","#,
                r#""description":"d","options":["#,
                r#"{"name":"header","type":"boolean","default":"true","description":"h"},"#,
                r#"{"name":"eol","type":"choice","default":"lf","description":"e","choices":["lf","crlf"]}"#,
                r#"]}"#
            )
        );
        let kinds: Vec<String> = OptionType::ALL
            .iter()
            .map(|k| serde_json::to_string(k).unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                r#""boolean""#,
                r#""integer""#,
                r#""text""#,
                r#""character""#,
                r#""choice""#
            ]
        );
    }
}
