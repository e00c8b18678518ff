use crate::bindings::exporter::formatter::types as wit;

/// An error a plugin returns on purpose. It fails the export at once and is
/// never retried, so say what is wrong in terms the user can act on.
///
/// Panics are not errors: a panic traps the plugin and the host reports it
/// as a crash. Prefer returning one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// An option is unknown, malformed or out of range. The SDK returns this
    /// for options that do not match [`FormatInfo::options`](crate::FormatInfo::options);
    /// a format returns it from [`Format::open`](crate::Format::open) for
    /// checks of its own (e.g. a delimiter the format cannot use).
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// The format cannot represent this schema (e.g. no columns).
    #[error("unsupported schema: {0}")]
    UnsupportedSchema(String),
    /// A value cannot be written in this format, or the batch is malformed.
    #[error("invalid data: {0}")]
    InvalidData(String),
    /// Anything else; the message reaches the user.
    #[error("{0}")]
    Other(String),
}

impl From<std::io::Error> for FormatError {
    /// [`Output`](crate::Output) never fails, so an I/O error comes from a
    /// writer the format layered on top of it (a compressor, say).
    fn from(error: std::io::Error) -> Self {
        FormatError::Other(format!("write failed: {error}"))
    }
}

impl From<FormatError> for wit::FormatError {
    fn from(error: FormatError) -> Self {
        match error {
            FormatError::InvalidOption(m) => wit::FormatError::InvalidOption(m),
            FormatError::UnsupportedSchema(m) => wit::FormatError::UnsupportedSchema(m),
            FormatError::InvalidData(m) => wit::FormatError::InvalidData(m),
            FormatError::Other(m) => wit::FormatError::Other(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_kind() {
        assert_eq!(
            FormatError::InvalidOption("x".into()).to_string(),
            "invalid option: x"
        );
        assert_eq!(FormatError::Other("boom".into()).to_string(), "boom");
    }

    #[test]
    fn io_errors_become_other() {
        let e: FormatError = std::io::Error::other("disk on fire").into();
        assert_eq!(e, FormatError::Other("write failed: disk on fire".into()));
    }
}
