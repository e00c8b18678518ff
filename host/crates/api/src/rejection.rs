//! Why a request's input was refused, as a sentence a client's developer
//! can act on: which field, what was expected, what was received. serde's
//! and axum's own wording (``missing field `format` ``, `Failed to
//! deserialize query string: limit: invalid digit found in string`) names
//! library internals and rarely the value sent; here the JSON body and the
//! query string are read through `serde_path_to_error`, so the field's
//! whole path is known, and serde's few message shapes are reworded.

use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::problem::Problem;

/// Reads a JSON body: malformed JSON is a 400 (`malformed-json`), JSON of
/// the wrong shape a 422 (`invalid-body`).
pub fn json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize::<_, T>(&mut deserializer)
        .map_err(|error| {
            let path = error.path().to_string();
            json_problem(&path, error.inner())
        })
        .and_then(|value| {
            deserializer
                .end()
                .map(|()| value)
                .map_err(|error| json_problem(".", &error))
        })?;
    Ok(value)
}

fn json_problem(path: &str, error: &serde_json::Error) -> Problem {
    use serde_json::error::Category;
    let message = error.to_string();
    match error.classify() {
        Category::Syntax | Category::Eof | Category::Io => Problem::bad_request(
            "malformed-json",
            format!("the body is not valid JSON: {message}"),
        ),
        Category::Data => Problem::unprocessable(
            "invalid-body",
            sentence(Field::Body(path), strip_position(&message), None),
        ),
    }
}

/// Reads a query string: anything it cannot be read as is a 400
/// (`invalid-query`).
pub fn query<T: DeserializeOwned>(query: &str) -> Result<T, Problem> {
    let deserializer =
        serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize::<_, T>(deserializer).map_err(|error| {
        let path = error.path().to_string();
        // The value as sent, for the sentence: the last one of that name.
        let received = url::form_urlencoded::parse(query.as_bytes())
            .filter(|(name, _)| *name == path)
            .map(|(_, value)| value.into_owned())
            .last();
        Problem::bad_request(
            "invalid-query",
            sentence(
                Field::Query(&path),
                &error.inner().to_string(),
                received.as_deref(),
            ),
        )
    })
}

/// A path parameter that does not parse; `names` are the route's
/// parameters in order (for a rejection that gives only an index).
pub fn path(rejection: PathRejection, names: &[String]) -> Problem {
    let PathRejection::FailedToDeserializePathParams(failed) = rejection else {
        return Problem::internal(format!("path parameters unavailable: {rejection}"));
    };
    let describe = |name: &str, value: &str, expected: &str| {
        format!(
            "the path parameter `{name}`: expected {}, received {value:?}",
            expected_text(expected)
        )
    };
    let detail = match failed.into_kind() {
        ErrorKind::ParseErrorAtKey {
            key,
            value,
            expected_type,
        } => describe(&key, &value, expected_type),
        ErrorKind::ParseErrorAtIndex {
            index,
            value,
            expected_type,
        } => describe(
            names.get(index).map_or("?", String::as_str),
            &value,
            expected_type,
        ),
        ErrorKind::ParseError {
            value,
            expected_type,
        } => describe(
            names.first().map_or("?", String::as_str),
            &value,
            expected_type,
        ),
        ErrorKind::InvalidUtf8InPathParam { key } => format!(
            "the path parameter `{key}`: expected UTF-8 text, received percent-encoded bytes that are not"
        ),
        ErrorKind::DeserializeError {
            key,
            value,
            message,
        } => format!("the path parameter `{key}`: {message}, received {value:?}"),
        other => return Problem::internal(format!("path parameters: {other}")),
    };
    Problem::new(StatusCode::BAD_REQUEST, "invalid-path", detail)
}

/// Where a refused value was.
#[derive(Clone, Copy)]
enum Field<'a> {
    /// A JSON path from `serde_path_to_error` (`.` for the whole body).
    Body(&'a str),
    /// A query parameter's name (empty for the whole query).
    Query(&'a str),
}

impl Field<'_> {
    /// The field's path joined with a member it names.
    fn member(self, name: &str) -> String {
        match self {
            Field::Body(".") | Field::Query("" | ".") => format!("`{name}`"),
            Field::Body(path) | Field::Query(path) => format!("`{path}.{name}`"),
        }
    }

    fn text(self) -> String {
        match self {
            Field::Body(".") => "the body".to_owned(),
            Field::Query("" | ".") => "the query".to_owned(),
            Field::Body(path) => format!("`{path}`"),
            Field::Query(name) => format!("the query parameter `{name}`"),
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Field::Body(_) => "field",
            Field::Query(_) => "query parameter",
        }
    }
}

/// serde_json ends its messages with where in the text it was.
fn strip_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(at) => &message[..at],
        None => message,
    }
}

/// The text between the first pair of backticks.
fn quoted(text: &str) -> Option<&str> {
    let start = text.find('`')? + 1;
    let end = start + text[start..].find('`')?;
    Some(&text[start..end])
}

/// serde's messages (`serde::de::Error`'s default wording, and the parse
/// errors `serde_urlencoded` passes on) as a sentence.
fn sentence(field: Field<'_>, message: &str, received: Option<&str>) -> String {
    let received_text = |fallback: &str| match received {
        Some(value) => format!("{value:?}"),
        None => fallback.to_owned(),
    };
    if let Some(rest) = message.strip_prefix("missing field ") {
        let name = quoted(rest).unwrap_or(rest);
        return format!(
            "the {} {} is required, and the request has none",
            field.kind(),
            field.member(name)
        );
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let name = quoted(rest).unwrap_or(rest);
        let expected = match rest.split_once(", expected ") {
            Some((_, expected)) => format!("expected {expected}"),
            None => "none is expected here".to_owned(),
        };
        // The path of an unknown field already ends with it.
        let who = match field {
            Field::Body(path) | Field::Query(path)
                if path == name || path.ends_with(&format!(".{name}")) =>
            {
                format!("`{path}`")
            }
            _ => field.member(name),
        };
        return format!(
            "{who} is not a {} this operation knows: {expected}",
            field.kind()
        );
    }
    if let Some(rest) = message.strip_prefix("duplicate field ") {
        let name = quoted(rest).unwrap_or(rest);
        return format!("{} is given more than once", field.member(name));
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let variant = quoted(rest).unwrap_or(rest);
        let expected = rest
            .split_once(", expected ")
            .map_or("another value", |(_, expected)| expected);
        return format!(
            "{}: expected {expected}, received {variant:?}",
            field.text()
        );
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((unexpected, expected)) = rest.split_once(", expected ")
        {
            return format!(
                "{}: expected {}, received {}",
                field.text(),
                expected_text(expected),
                received_text(&unexpected_text(unexpected))
            );
        }
    }
    if let Some(rest) = message.strip_prefix("invalid length ")
        && let Some((length, expected)) = rest.split_once(", expected ")
    {
        return format!(
            "{}: expected {}, received a list of {length}",
            field.text(),
            expected_text(expected)
        );
    }
    // The parse errors of `str::parse` that serde_urlencoded passes on.
    let expected = match message {
        "invalid digit found in string"
        | "cannot parse integer from empty string"
        | "number too large to fit in target type"
        | "number too small to fit in target type" => Some("a whole number in range"),
        "invalid float literal" => Some("a number"),
        "provided string was not `true` or `false`" => Some("`true` or `false`"),
        _ => None,
    };
    match (expected, received) {
        (Some(expected), _) => format!(
            "{}: expected {expected}, received {}",
            field.text(),
            received_text("nothing")
        ),
        (None, Some(value)) => format!("{}: {message}; received {value:?}", field.text()),
        (None, None) => format!("{}: {message}", field.text()),
    }
}

/// serde's name of an expected type, for a person.
fn expected_text(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number, 0 or more".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "bool" | "a boolean" => "`true` or `false`".to_owned(),
        "a sequence" => "a list".to_owned(),
        "a map" | "map" => "an object".to_owned(),
        "String" | "a string" | "str" => "a string".to_owned(),
        other if other.starts_with("struct ") => "an object".to_owned(),
        other => other.to_owned(),
    }
}

/// serde's `Unexpected`, as JSON would say it.
fn unexpected_text(unexpected: &str) -> String {
    match unexpected {
        "unit value" | "null" => "null".to_owned(),
        "map" => "an object".to_owned(),
        "sequence" => "a list".to_owned(),
        other => other.replace('`', ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Request {
        format: String,
        date_range: Option<Range>,
        limit: Option<u32>,
        columns: Option<Vec<String>>,
        flag: Option<bool>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Range {
        from: String,
    }

    fn body(text: &str) -> Problem {
        json_body::<Request>(text.as_bytes()).unwrap_err()
    }

    fn query_of(text: &str) -> Problem {
        query::<Request>(text).unwrap_err()
    }

    fn detail(problem: &Problem) -> &str {
        problem.detail.as_deref().unwrap_or_default()
    }

    #[test]
    fn bodies_say_which_field_what_was_expected_and_what_was_received() {
        let missing = body("{}");
        assert_eq!(missing.status, 422);
        assert_eq!(missing.kind, "urn:exporter:problem:invalid-body");
        assert_eq!(
            detail(&missing),
            "the field `format` is required, and the request has none"
        );
        assert_eq!(
            detail(&body(r#"{"format": 5}"#)),
            "`format`: expected a string, received integer 5"
        );
        assert_eq!(
            detail(&body(r#"{"format": "csv", "limit": "ten"}"#)),
            r#"`limit`: expected a whole number, 0 or more, received string "ten""#
        );
        assert_eq!(
            detail(&body(r#"{"format": "csv", "dateRange": {}}"#)),
            "the field `dateRange.from` is required, and the request has none"
        );
        assert_eq!(
            detail(&body(r#"{"format": "csv", "columns": [1]}"#)),
            "`columns[0]`: expected a string, received integer 1"
        );
        assert_eq!(
            detail(&body(r#"{"format": null}"#)),
            "`format`: expected a string, received null"
        );
        assert!(
            detail(&body(r#"{"format": "csv", "sort": 1}"#)).starts_with(
                "`sort` is not a field this operation knows: expected one of `format`"
            ),
            "{}",
            detail(&body(r#"{"format": "csv", "sort": 1}"#))
        );
        assert_eq!(
            detail(&body("[]")),
            "the body: expected an object, received a list of 0"
        );
        assert_eq!(
            detail(&body(r#""csv""#)),
            r#"the body: expected an object, received string "csv""#
        );
        let malformed = body(r#"{"format": "csv""#);
        assert_eq!(malformed.status, 400);
        assert_eq!(malformed.kind, "urn:exporter:problem:malformed-json");
        assert!(detail(&malformed).starts_with("the body is not valid JSON: "));
        assert_eq!(body(r#"{"format": "csv"} x"#).status, 400);
    }

    #[test]
    fn queries_say_which_parameter_what_was_expected_and_what_was_received() {
        let limit = query_of("format=csv&limit=abc");
        assert_eq!(limit.status, 400);
        assert_eq!(limit.kind, "urn:exporter:problem:invalid-query");
        assert_eq!(
            detail(&limit),
            r#"the query parameter `limit`: expected a whole number in range, received "abc""#
        );
        assert_eq!(
            detail(&query_of("format=csv&limit=99999999999")),
            r#"the query parameter `limit`: expected a whole number in range, received "99999999999""#
        );
        assert_eq!(
            detail(&query_of("format=csv&flag=yes")),
            r#"the query parameter `flag`: expected `true` or `false`, received "yes""#
        );
        assert_eq!(
            detail(&query_of("")),
            "the query parameter `format` is required, and the request has none"
        );
        assert!(
            detail(&query_of("format=csv&sort=id")).starts_with(
                "`sort` is not a query parameter this operation knows: expected one of"
            ),
            "{}",
            detail(&query_of("format=csv&sort=id"))
        );
        assert!(query::<Request>("format=csv&limit=5").is_ok());
    }

    #[test]
    fn no_message_names_the_library() {
        for problem in [
            body("{}"),
            body(r#"{"format": 5}"#),
            query_of("format=csv&limit=abc"),
            query_of(""),
        ] {
            let detail = detail(&problem);
            assert!(
                !detail.contains("deserialize") && !detail.contains("Failed"),
                "{detail}"
            );
        }
    }
}
