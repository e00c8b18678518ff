//! What a failed database call means for whoever asked: the one place that
//! reads engine error codes. The API answers by it (422, 503 or 500) and
//! jobs retry by it (only a [`DbFailure::Transient`] is worth a retry).

/// A database failure, sorted by whose it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbFailure {
    /// The request's values: a constraint they break (unique, foreign key,
    /// not null, check), text the engine cannot store (a NUL, a bad
    /// encoding), a number or date out of the engine's range. Running it
    /// again fails the same way.
    Request,
    /// The database is down, busy or restarting: the connection was lost
    /// or refused, the pool timed out, a serialization failure or deadlock
    /// aborted the transaction. Running it again may succeed.
    Transient,
    /// Anything else: a bug on our side (bad SQL, a decoding mismatch).
    Internal,
}

/// Sorts a `sqlx` error.
pub fn classify(error: &sqlx::Error) -> DbFailure {
    match error {
        sqlx::Error::Database(db) => classify_database(db.as_ref()),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => DbFailure::Transient,
        // A value the driver could not encode for the engine.
        sqlx::Error::Encode(_) => DbFailure::Request,
        _ => DbFailure::Internal,
    }
}

/// Sorts an error from a layer that wraps `sqlx` in `anyhow`: by the first
/// `sqlx::Error` in its chain; `None` when the database is not the cause.
pub fn classify_chain(error: &anyhow::Error) -> Option<DbFailure> {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<sqlx::Error>())
        .map(classify)
}

fn classify_database(error: &dyn sqlx::error::DatabaseError) -> DbFailure {
    use sqlx::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::UniqueViolation
            | ErrorKind::ForeignKeyViolation
            | ErrorKind::NotNullViolation
            | ErrorKind::CheckViolation
            | ErrorKind::ExclusionViolation
    ) {
        return DbFailure::Request;
    }
    let Some(code) = error.code() else {
        return DbFailure::Internal;
    };
    // PostgreSQL gives its SQLSTATE; SQLite its extended result code.
    if error
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        classify_sqlstate(&code)
    } else {
        code.parse().map_or(DbFailure::Internal, classify_sqlite)
    }
}

/// <https://www.postgresql.org/docs/current/errcodes-appendix.html>
fn classify_sqlstate(code: &str) -> DbFailure {
    match code {
        // Serialization failure, deadlock: the transaction may be retried.
        "40001" | "40P01" => DbFailure::Transient,
        // Admin or crash shutdown, cannot connect now, idle session timeout.
        "57P01" | "57P02" | "57P03" | "57P05" => DbFailure::Transient,
        // Statement timeout or cancel; lock not available.
        "57014" | "55P03" => DbFailure::Transient,
        _ => match &code[..2.min(code.len())] {
            // Data exception: invalid byte sequence (22021), invalid text
            // representation (22P02), numeric or datetime out of range
            // (22003, 22008), string too long (22001), ...
            "22" => DbFailure::Request,
            // Integrity constraint violation.
            "23" => DbFailure::Request,
            // Connection exception; insufficient resources (too many
            // connections, disk full); system error (I/O).
            "08" | "53" | "58" => DbFailure::Transient,
            _ => DbFailure::Internal,
        },
    }
}

/// <https://www.sqlite.org/rescode.html>: the primary code is the low byte.
fn classify_sqlite(code: u32) -> DbFailure {
    match code & 0xff {
        // BUSY, LOCKED, NOMEM, IOERR, FULL, CANTOPEN, PROTOCOL.
        5 | 6 | 7 | 10 | 13 | 14 | 15 => DbFailure::Transient,
        // TOOBIG, CONSTRAINT, MISMATCH, RANGE.
        18 | 19 | 20 | 25 => DbFailure::Request,
        _ => DbFailure::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_are_sorted_by_meaning() {
        for request in [
            "22021", "22P02", "22003", "22008", "23503", "23505", "23514",
        ] {
            assert_eq!(classify_sqlstate(request), DbFailure::Request, "{request}");
        }
        for transient in [
            "08006", "08001", "40001", "40P01", "57P01", "53300", "57014",
        ] {
            assert_eq!(
                classify_sqlstate(transient),
                DbFailure::Transient,
                "{transient}"
            );
        }
        for internal in ["42601", "42P01", "XX000", ""] {
            assert_eq!(
                classify_sqlstate(internal),
                DbFailure::Internal,
                "{internal}"
            );
        }
    }

    #[test]
    fn sqlite_codes_are_sorted_by_primary_code() {
        // SQLITE_CONSTRAINT_FOREIGNKEY, SQLITE_CONSTRAINT_UNIQUE.
        assert_eq!(classify_sqlite(787), DbFailure::Request);
        assert_eq!(classify_sqlite(2067), DbFailure::Request);
        // SQLITE_BUSY_SNAPSHOT, SQLITE_IOERR_WRITE.
        assert_eq!(classify_sqlite(517), DbFailure::Transient);
        assert_eq!(classify_sqlite(778), DbFailure::Transient);
        // SQLITE_ERROR (bad SQL).
        assert_eq!(classify_sqlite(1), DbFailure::Internal);
    }

    #[test]
    fn connection_trouble_is_transient_and_driver_bugs_are_not() {
        assert_eq!(classify(&sqlx::Error::PoolTimedOut), DbFailure::Transient);
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(classify(&sqlx::Error::Io(io)), DbFailure::Transient);
        assert_eq!(classify(&sqlx::Error::RowNotFound), DbFailure::Internal);
        let wrapped = anyhow::Error::from(sqlx::Error::PoolClosed).context("creating a job");
        assert_eq!(classify_chain(&wrapped), Some(DbFailure::Transient));
        assert_eq!(classify_chain(&anyhow::anyhow!("not the database")), None);
    }
}
