//! What a catalog entry must be before it is installed: checked without
//! touching a database (`check` runs it against its source).
//!
//! The SQL a dataset declares is the operator's, but it is only ever the
//! inside of the host's query, and it must only read: one statement, a
//! SELECT (or `WITH ... SELECT`), and no word that writes, locks or
//! changes the session anywhere outside its literals and comments. The
//! word check is deliberately blunt (a column named `update` must be
//! quoted, which the lexer then skips): a refusal costs the operator a
//! rename, a miss could cost the data. Sources are also opened read-only
//! where the engine allows, so this is the first of two walls.

use std::collections::HashSet;

use exporter_runtime::ColumnType;

use super::model::{Dataset, Dialect};

/// Why a catalog entry cannot be installed; says which dataset, which
/// field and what would fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dataset {dataset:?}: {problem}")]
pub struct CatalogError {
    pub dataset: String,
    pub problem: String,
}

/// Words that make a single SELECT write or lock: a data-modifying CTE
/// (`WITH x AS (DELETE ... RETURNING *)`), `SELECT ... INTO` (a new
/// table, or MySQL's `INTO OUTFILE`), `FOR UPDATE` and `LOCK IN SHARE
/// MODE`. Statements that start with another word are refused before
/// this (a dataset starts with SELECT or WITH and is one statement).
const FORBIDDEN: &[&str] = &[
    "insert", "update", "delete", "merge", "upsert", "into", "lock",
];

/// Functions with side effects that a SELECT can call. Matched as a word
/// followed by `(`.
const FORBIDDEN_FUNCTIONS: &[&str] = &[
    "nextval",
    "setval",
    "set_config",
    "pg_sleep",
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "lo_import",
    "lo_export",
    "lo_unlink",
    "dblink",
    "dblink_exec",
    "pg_read_file",
    "pg_read_binary_file",
    "pg_ls_dir",
    "pg_advisory_lock",
    "pg_advisory_xact_lock",
    "sleep",
    "benchmark",
    "get_lock",
    "load_file",
    "sys_exec",
    "load_extension",
    "writefile",
    "readfile",
];

pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 63
}

/// A dataset's own name: lower case, as it appears in URLs and requests.
pub fn is_dataset_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && name.len() <= 63
}

/// Checks `dataset` whole; the first problem found.
pub fn validate(dataset: &Dataset) -> Result<(), CatalogError> {
    let fail = |problem: String| CatalogError {
        dataset: dataset.name.clone(),
        problem,
    };
    if !is_dataset_name(&dataset.name) {
        return Err(fail(
            "a dataset's name is lower-case letters, digits, `_` and `-`, starting with a letter, at most 63 characters".into(),
        ));
    }
    if dataset.description.trim().is_empty() {
        return Err(fail(
            "`description` is empty: say in a sentence what a row is".into(),
        ));
    }
    match (&dataset.table, &dataset.query) {
        (Some(_), Some(_)) => {
            return Err(fail(
                "has both `table` and `query`: keep one (a table or view, or a SELECT)".into(),
            ));
        }
        (None, None) => {
            return Err(fail(
                "has neither `table` nor `query`: name a table or view, or give a SELECT".into(),
            ));
        }
        (Some(table), None) => {
            if table.split('.').count() > 2 || !table.split('.').all(is_identifier) {
                return Err(fail(format!(
                    "`table` {table:?} is not a table name: letters, digits and `_`, optionally `schema.table`"
                )));
            }
        }
        (None, Some(query)) => {
            for (dialect, text) in query.texts() {
                read_only_select(text)
                    .map_err(|why| fail(format!("`query`{}: {why}", for_dialect(dialect))))?;
            }
        }
    }
    let identifier = |field: &str, name: &str| {
        if is_identifier(name) {
            Ok(())
        } else {
            Err(fail(format!(
                "`{field}` {name:?} is not a column name: letters, digits and `_`, starting with a letter or `_`"
            )))
        }
    };
    identifier("tenantColumn", &dataset.tenant_column)?;
    if let Some(user) = &dataset.user_column {
        identifier("userColumn", user)?;
    }
    if dataset.columns.is_empty() {
        return Err(fail("declares no `columns`".into()));
    }
    let mut seen = HashSet::new();
    for column in &dataset.columns {
        identifier("columns.name", &column.name)?;
        if !seen.insert(column.name.as_str()) {
            return Err(fail(format!("column {:?} is declared twice", column.name)));
        }
        if let Some(expression) = &column.expression {
            for (dialect, text) in expression.texts() {
                expression_reads_only(text).map_err(|why| {
                    fail(format!(
                        "column {:?}'s `expression`{}: {why}",
                        column.name,
                        for_dialect(dialect)
                    ))
                })?;
            }
        }
        match (column.mask, column.unmasked_from, column.visible_from) {
            (None, Some(_), _) => {
                return Err(fail(format!(
                    "column {:?} has `unmaskedFrom` but no `mask`: add a mask (redact, hash, email-domain or last4) or remove it",
                    column.name
                )));
            }
            (Some(_), Some(clear), Some(visible)) if !clear.is_at_least(visible) => {
                return Err(fail(format!(
                    "column {:?} is unmasked from {} but only visible from {}: raise `unmaskedFrom` to at least `visibleFrom`",
                    column.name,
                    clear.as_str(),
                    visible.as_str()
                )));
            }
            _ => {}
        }
        if column.filterable && column.mask.is_some() && column.unmasked_from.is_none() {
            return Err(fail(format!(
                "column {:?} is masked for every role and filterable, but only values seen in clear can be filtered on: set `unmaskedFrom`, or remove `filterable`",
                column.name
            )));
        }
        if column.filterable && column.kind == ColumnType::Json {
            return Err(fail(format!(
                "column {:?} is json, which cannot be filtered on: remove `filterable`, or declare an expression of another type",
                column.name
            )));
        }
        if column.label.as_deref().is_some_and(|l| l.trim().is_empty()) {
            return Err(fail(format!(
                "column {:?} has an empty `label`: remove it to use {:?}",
                column.name,
                super::model::label_from_name(&column.name)
            )));
        }
    }
    // Labels head a file's columns for people (and key a JSON export asked
    // for labels): two alike would be two columns no one can tell apart.
    let mut labels = HashSet::new();
    for column in &dataset.columns {
        if !labels.insert(column.label()) {
            return Err(fail(format!(
                "column {:?} has the label {:?}, which another column has: give each a `label` of its own",
                column.name,
                column.label()
            )));
        }
    }
    if let Some(range) = &dataset.range_column {
        match dataset.column(range) {
            None => {
                return Err(fail(format!(
                    "`rangeColumn` {range:?} is not one of its columns: declare it (type date or timestamp)"
                )));
            }
            Some(column) if !matches!(column.kind, ColumnType::Date | ColumnType::Timestamp) => {
                return Err(fail(format!(
                    "`rangeColumn` {range:?} is a {} column: a date range needs a date or timestamp column",
                    column.kind
                )));
            }
            Some(_) => {}
        }
    }
    if dataset.key.is_empty() {
        return Err(fail(
            "`key` is empty: name the column(s) that identify a row, such as [\"id\"]; exports are ordered by them and resume after them".into(),
        ));
    }
    let mut keys = HashSet::new();
    for key in &dataset.key {
        let Some(column) = dataset.column(key) else {
            return Err(fail(format!(
                "key column {key:?} is not one of its columns: declare it"
            )));
        };
        if !keys.insert(key.as_str()) {
            return Err(fail(format!("key column {key:?} is listed twice")));
        }
        if !matches!(
            column.kind,
            ColumnType::Int64 | ColumnType::Text | ColumnType::Date | ColumnType::Timestamp
        ) {
            return Err(fail(format!(
                "key column {key:?} is a {} column: keys are int64, text, date or timestamp, which every engine orders the same way",
                column.kind
            )));
        }
    }
    Ok(())
}

/// Whether every column, the query and the table have a spelling for
/// `dialect`: a dataset on the default source needs both SQLite's and
/// PostgreSQL's when the service may run on either.
pub fn missing_dialect(dataset: &Dataset, dialect: Dialect) -> Option<String> {
    if let Some(query) = &dataset.query
        && query.for_dialect(dialect).is_none()
    {
        return Some(format!("`query` has no `{}` text", dialect.as_str()));
    }
    dataset.columns.iter().find_map(|column| {
        column
            .expression
            .as_ref()
            .filter(|e| e.for_dialect(dialect).is_none())
            .map(|_| {
                format!(
                    "column {:?}'s `expression` has no `{}` text",
                    column.name,
                    dialect.as_str()
                )
            })
    })
}

fn for_dialect(dialect: Option<Dialect>) -> String {
    dialect
        .map(|d| format!(" (for {})", d.as_str()))
        .unwrap_or_default()
}

/// One SELECT that only reads.
pub(crate) fn read_only_select(sql: &str) -> Result<(), String> {
    let tokens = lex(sql)?;
    let words: Vec<&Token> = tokens.iter().collect();
    match words.first() {
        Some(Token::Word(first)) if first == "select" || first == "with" => {}
        Some(_) => return Err("must start with SELECT or WITH".into()),
        None => return Err("is empty".into()),
    }
    // One statement: a `;` only at the very end.
    if let Some(at) = tokens.iter().position(|t| *t == Token::Semicolon)
        && tokens[at + 1..].iter().any(|t| *t != Token::Semicolon)
    {
        return Err("holds more than one statement: keep a single SELECT".into());
    }
    check_words(&tokens)?;
    // `FOR UPDATE` / `FOR SHARE` are caught as `update` above; `FOR
    // SHARE` and `LOCK IN SHARE MODE` too.
    if tokens
        .windows(2)
        .any(|w| w[0] == Token::Word("for".into()) && w[1] == Token::Word("share".into()))
    {
        return Err("locks rows (FOR SHARE): exports only read".into());
    }
    balanced(&tokens)
}

/// A column expression: a fragment of a SELECT list, so no statement
/// separator, balanced parentheses, and the same words refused.
fn expression_reads_only(sql: &str) -> Result<(), String> {
    let tokens = lex(sql)?;
    if tokens.is_empty() {
        return Err("is empty".into());
    }
    if tokens.contains(&Token::Semicolon) {
        return Err("contains `;`: an expression is part of one SELECT".into());
    }
    if tokens
        .iter()
        .any(|t| matches!(t, Token::Word(w) if w == "select" || w == "from"))
    {
        // A scalar subquery could read another tenant's rows around the
        // host's tenant predicate.
        return Err(
            "contains a subquery: an expression reads only the dataset's own row (put joins in `query`)"
                .into(),
        );
    }
    check_words(&tokens)?;
    balanced(&tokens)
}

fn check_words(tokens: &[Token]) -> Result<(), String> {
    for (at, token) in tokens.iter().enumerate() {
        let Token::Word(word) = token else { continue };
        if FORBIDDEN.contains(&word.as_str()) {
            return Err(format!(
                "contains `{}`, which writes, locks or changes the session: a dataset only reads (quote an identifier of that name)",
                word.to_uppercase()
            ));
        }
        if FORBIDDEN_FUNCTIONS.contains(&word.as_str()) && tokens.get(at + 1) == Some(&Token::Open)
        {
            return Err(format!(
                "calls `{word}()`, which has side effects: a dataset only reads"
            ));
        }
    }
    Ok(())
}

fn balanced(tokens: &[Token]) -> Result<(), String> {
    let mut depth = 0i32;
    for token in tokens {
        match token {
            Token::Open => depth += 1,
            Token::Close => {
                depth -= 1;
                if depth < 0 {
                    return Err("closes a parenthesis it never opened".into());
                }
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("leaves a parenthesis open".into());
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A bare word, lower-cased.
    Word(String),
    Open,
    Close,
    Semicolon,
    /// Anything else: literals, quoted identifiers, numbers, operators.
    Other,
}

/// Words, parentheses and semicolons outside literals, quoted identifiers
/// and comments, for every engine's quoting: `'...'` (with `''` and, for
/// MySQL, `\'`), `"..."`, `` `...` ``, `[...]`, `$tag$...$tag$`, `--`, `#`
/// and `/* */` comments.
fn lex(sql: &str) -> Result<Vec<Token>, String> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut at = 0;
    let unterminated = |what: &str| Err(format!("has an unterminated {what}"));
    while at < bytes.len() {
        let c = bytes[at];
        match c {
            b'\'' => {
                at += 1;
                loop {
                    match bytes.get(at) {
                        None => return unterminated("string literal"),
                        Some(b'\\') => at += 2,
                        Some(b'\'') if bytes.get(at + 1) == Some(&b'\'') => at += 2,
                        Some(b'\'') => {
                            at += 1;
                            break;
                        }
                        Some(_) => at += 1,
                    }
                }
                tokens.push(Token::Other);
            }
            b'"' | b'`' | b'[' => {
                let close = if c == b'[' { b']' } else { c };
                match bytes[at + 1..].iter().position(|&b| b == close) {
                    Some(end) => at += end + 2,
                    None => return unterminated("quoted identifier"),
                }
                tokens.push(Token::Other);
            }
            b'-' if bytes.get(at + 1) == Some(&b'-') => {
                at = bytes[at..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |end| at + end);
            }
            b'#' => {
                at = bytes[at..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |end| at + end);
            }
            b'/' if bytes.get(at + 1) == Some(&b'*') => match sql[at + 2..].find("*/") {
                Some(end) => at += end + 4,
                None => return unterminated("comment"),
            },
            b'$' => {
                // `$tag$ ... $tag$` (PostgreSQL); `$1` is a parameter,
                // which a dataset has no use for.
                let tag_end = bytes[at + 1..]
                    .iter()
                    .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_'))
                    .map(|n| at + 1 + n);
                match tag_end {
                    Some(end) if bytes[end] == b'$' => {
                        let tag = &sql[at..=end];
                        if tag[1..tag.len() - 1].starts_with(|c: char| c.is_ascii_digit()) {
                            return Err("contains a parameter `$n`: a dataset has none".into());
                        }
                        match sql[end + 1..].find(tag) {
                            Some(close) => at = end + 1 + close + tag.len(),
                            None => return unterminated("dollar-quoted string"),
                        }
                        tokens.push(Token::Other);
                    }
                    _ => return Err("contains a parameter `$n`: a dataset has none".into()),
                }
            }
            b'?' => return Err("contains a parameter `?`: a dataset has none".into()),
            b'(' => {
                tokens.push(Token::Open);
                at += 1;
            }
            b')' => {
                tokens.push(Token::Close);
                at += 1;
            }
            b';' => {
                tokens.push(Token::Semicolon);
                at += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let end = bytes[at..]
                    .iter()
                    .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b'$'))
                    .map_or(bytes.len(), |n| at + n);
                tokens.push(Token::Word(sql[at..end].to_ascii_lowercase()));
                at = end;
            }
            _ => {
                if !c.is_ascii_whitespace() {
                    tokens.push(Token::Other);
                }
                // Whole UTF-8 characters: step to the next boundary.
                at += 1;
                while at < bytes.len() && !sql.is_char_boundary(at) {
                    at += 1;
                }
            }
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_that_only_read_pass() {
        for sql in [
            "SELECT * FROM orders",
            "select o.id, c.name from orders o join customers c on c.id = o.customer_id",
            "WITH t AS (SELECT 1 AS x) SELECT x FROM t;",
            "SELECT 'insert; drop' AS note, \"update\" FROM t -- delete\n",
            "SELECT $$ delete $$ AS s, $q$ drop $q$ FROM t /* update */",
            "SELECT `set` FROM t",
            "SELECT 'it''s', 'a\\'b' FROM t",
            "SELECT updated_at, deleted, settings, replace(a, 'x', 'y'), comment FROM t",
        ] {
            assert_eq!(read_only_select(sql), Ok(()), "{sql}");
        }
    }

    #[test]
    fn statements_that_write_are_refused() {
        for (sql, why) in [
            ("DELETE FROM orders", "must start with SELECT"),
            ("UPDATE orders SET x = 1", "must start with SELECT"),
            (
                "WITH gone AS (DELETE FROM orders RETURNING *) SELECT * FROM gone",
                "`DELETE`",
            ),
            (
                "WITH x AS (INSERT INTO t VALUES (1) RETURNING 1) SELECT 1",
                "`INSERT`",
            ),
            ("SELECT 1; DROP TABLE orders", "more than one statement"),
            ("SELECT * INTO copy FROM orders", "`INTO`"),
            ("SELECT * FROM orders FOR UPDATE", "`UPDATE`"),
            ("SELECT * FROM orders FOR SHARE", "FOR SHARE"),
            ("SELECT nextval('s')", "nextval()"),
            ("SELECT set_config('a', 'b', false)", "set_config()"),
            ("SELECT * FROM t WHERE id = $1", "parameter"),
            ("SELECT * FROM t WHERE id = ?", "parameter"),
            ("SELECT 'open", "unterminated string"),
            ("SELECT (1", "parenthesis open"),
            ("", "is empty"),
        ] {
            let error = read_only_select(sql).expect_err(sql);
            assert!(error.contains(why), "{sql}: {error}");
        }
    }

    #[test]
    fn expressions_stay_inside_their_row() {
        assert_eq!(
            expression_reads_only("(started_at AT TIME ZONE 'UTC')::date"),
            Ok(())
        );
        assert_eq!(expression_reads_only("coalesce(a, b) || 'x'"), Ok(()));
        for (sql, why) in [
            ("1) FROM x; --", "`;`"),
            ("(SELECT secret FROM keys LIMIT 1)", "subquery"),
            ("a)", "never opened"),
            ("", "empty"),
        ] {
            let error = expression_reads_only(sql).expect_err(sql);
            assert!(error.contains(why), "{sql}: {error}");
        }
    }
}
