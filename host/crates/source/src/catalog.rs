//! The datasets the service exports: their columns, types and SQL.
//!
//! Each column has one expression per engine; both read the same value, so
//! an export is the same file whichever database holds the data. Decimals
//! and JSON are read as text (exact digits, the document as stored). One
//! difference is the engines' own: PostgreSQL's `jsonb` normalizes key order
//! and spacing, so a JSON column's text differs while the document is equal.

use serde::{Deserialize, Serialize};

use exporter_runtime::ColumnType;

/// What a client can export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    Sessions,
    Users,
    Analytics,
    /// Per organization and day: sessions, active users, events (the admin
    /// dashboard's export).
    Dashboard,
}

impl DataType {
    /// Every dataset, in the order lists show them. A new dataset is a
    /// variant, its name in [`DataType::as_str`], and its [`Dataset`]: the
    /// API, the jobs and the CLI find it here.
    pub const ALL: [DataType; 4] = [
        DataType::Sessions,
        DataType::Users,
        DataType::Analytics,
        DataType::Dashboard,
    ];

    /// The dataset named `name` (its [`DataType::as_str`]).
    pub fn parse(name: &str) -> Option<DataType> {
        DataType::ALL
            .into_iter()
            .find(|data_type| data_type.as_str() == name)
    }

    /// Whether it can be exported by name (an export job, a direct export).
    /// The dashboard's rows are a summary with an endpoint of its own.
    pub fn exportable_by_name(self) -> bool {
        self != DataType::Dashboard
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Sessions => "sessions",
            DataType::Users => "users",
            DataType::Analytics => "analytics",
            DataType::Dashboard => "dashboard",
        }
    }

    pub fn dataset(self) -> &'static Dataset {
        match self {
            DataType::Sessions => &SESSIONS,
            DataType::Users => &USERS,
            DataType::Analytics => &ANALYTICS,
            DataType::Dashboard => &DASHBOARD,
        }
    }
}

/// One exportable column.
#[derive(Debug)]
pub struct DatasetColumn {
    pub name: &'static str,
    pub kind: ColumnType,
    pub description: &'static str,
    pub(crate) sqlite: &'static str,
    pub(crate) postgres: &'static str,
}

/// A tenant-scoped table (or join) with a date-range column.
#[derive(Debug)]
pub struct Dataset {
    pub data_type: DataType,
    pub description: &'static str,
    /// The column the date range applies to.
    pub range_column: &'static str,
    pub columns: &'static [DatasetColumn],
    pub(crate) from: &'static str,
    /// Qualified names used in WHERE and ORDER BY.
    pub(crate) id: &'static str,
    pub(crate) organization: &'static str,
    /// The user column, for datasets a `userId` filter applies to.
    pub(crate) user: Option<&'static str>,
    pub(crate) range: &'static str,
    /// PostgreSQL's `from` and `range`, where they differ from SQLite's.
    pub(crate) postgres_from: Option<&'static str>,
    pub(crate) postgres_range: Option<&'static str>,
}

impl Dataset {
    pub fn column(&self, name: &str) -> Option<&'static DatasetColumn> {
        self.columns.iter().find(|c| c.name == name)
    }
}

const fn col(
    name: &'static str,
    kind: ColumnType,
    description: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
) -> DatasetColumn {
    DatasetColumn {
        name,
        kind,
        description,
        sqlite,
        postgres,
    }
}

use ColumnType as T;

static SESSIONS: Dataset = Dataset {
    data_type: DataType::Sessions,
    description: "User sessions: when, how long, on what device",
    range_column: "started_at",
    from: "sessions s JOIN users u ON u.id = s.user_id",
    id: "s.id",
    organization: "s.organization_id",
    user: Some("s.user_id"),
    range: "s.started_at",
    postgres_from: None,
    postgres_range: None,
    columns: &[
        col("id", T::Text, "Session id", "s.id", "s.id"),
        col(
            "user_id",
            T::Text,
            "The user's id",
            "s.user_id",
            "s.user_id",
        ),
        col(
            "user_email",
            T::Text,
            "The user's email",
            "u.email",
            "u.email",
        ),
        col(
            "started_at",
            T::Timestamp,
            "Start (UTC)",
            "s.started_at",
            "s.started_at",
        ),
        col(
            "ended_at",
            T::Timestamp,
            "End (UTC); empty while active",
            "s.ended_at",
            "s.ended_at",
        ),
        col(
            "duration_seconds",
            T::Int64,
            "Length in seconds; empty while active",
            "s.duration_seconds",
            "s.duration_seconds",
        ),
        col("device", T::Text, "Device", "s.device", "s.device"),
        col("browser", T::Text, "Browser", "s.browser", "s.browser"),
        col(
            "country",
            T::Text,
            "ISO country code",
            "s.country",
            "s.country",
        ),
        col(
            "ip_address",
            T::Text,
            "Client IP address",
            "s.ip_address",
            "s.ip_address",
        ),
        col(
            "status",
            T::Text,
            "active, completed or expired",
            "s.status",
            "s.status",
        ),
        col(
            "pages_viewed",
            T::Int64,
            "Pages viewed",
            "s.pages_viewed",
            "s.pages_viewed",
        ),
        // Whole days since the epoch.
        col(
            "session_date",
            T::Date,
            "Start date (UTC)",
            // Floored: SQLite's `/` truncates toward zero, which would
            // misdate instants before 1970.
            "(s.started_at - ((s.started_at % 86400000000) + 86400000000) % 86400000000) / 86400000000",
            "(s.started_at AT TIME ZONE 'UTC')::date",
        ),
        col("notes", T::Text, "Free-text notes", "s.notes", "s.notes"),
    ],
};

static USERS: Dataset = Dataset {
    data_type: DataType::Users,
    description: "Users of the organization",
    range_column: "created_at",
    from: "users u JOIN organizations o ON o.id = u.organization_id",
    id: "u.id",
    organization: "u.organization_id",
    user: Some("u.id"),
    range: "u.created_at",
    postgres_from: None,
    postgres_range: None,
    columns: &[
        col("id", T::Text, "User id", "u.id", "u.id"),
        col("email", T::Text, "Email", "u.email", "u.email"),
        col("name", T::Text, "Display name", "u.name", "u.name"),
        col(
            "role",
            T::Text,
            "SuperAdmin, Admin, Manager or Member",
            "u.role",
            "u.role",
        ),
        col(
            "active",
            T::Boolean,
            "Whether the account is active",
            "u.active",
            "u.active",
        ),
        col(
            "organization",
            T::Text,
            "The organization's slug",
            "o.slug",
            "o.slug",
        ),
        col(
            "created_at",
            T::Timestamp,
            "Sign-up time (UTC)",
            "u.created_at",
            "u.created_at",
        ),
        col(
            "last_login_at",
            T::Timestamp,
            "Last login (UTC)",
            "u.last_login_at",
            "u.last_login_at",
        ),
    ],
};

static ANALYTICS: Dataset = Dataset {
    data_type: DataType::Analytics,
    description: "Analytics events with their properties",
    range_column: "occurred_at",
    from: "analytics_events e",
    id: "e.id",
    organization: "e.organization_id",
    user: Some("e.user_id"),
    range: "e.occurred_at",
    postgres_from: None,
    postgres_range: None,
    columns: &[
        col("id", T::Text, "Event id", "e.id", "e.id"),
        col(
            "event_type",
            T::Text,
            "Event type",
            "e.event_type",
            "e.event_type",
        ),
        col(
            "user_id",
            T::Text,
            "The user's id, if known",
            "e.user_id",
            "e.user_id",
        ),
        col(
            "session_id",
            T::Text,
            "The session's id, if any",
            "e.session_id",
            "e.session_id",
        ),
        col(
            "value",
            T::Decimal,
            "Monetary or numeric value, exact",
            "e.value",
            "e.value::text",
        ),
        col(
            "properties",
            T::Json,
            "Event properties (JSON)",
            "e.properties",
            "e.properties::text",
        ),
        col(
            "occurred_at",
            T::Timestamp,
            "When it happened (UTC)",
            "e.occurred_at",
            "e.occurred_at",
        ),
    ],
};

/// Days are floored (SQLite's `/` truncates toward zero before 1970).
static DASHBOARD: Dataset = Dataset {
    data_type: DataType::Dashboard,
    description: "Per organization and day: sessions, active users, analytics events",
    range_column: "day",
    from: "(SELECT a.organization_id, o.slug AS organization, a.day, SUM(a.sessions) AS sessions, \
           SUM(a.active_users) AS active_users, SUM(a.events) AS events FROM (\
           SELECT organization_id, (started_at - ((started_at % 86400000000) + 86400000000) % 86400000000) / 86400000000 AS day, \
           COUNT(*) AS sessions, COUNT(DISTINCT user_id) AS active_users, 0 AS events FROM sessions GROUP BY 1, 2 \
           UNION ALL SELECT organization_id, (occurred_at - ((occurred_at % 86400000000) + 86400000000) % 86400000000) / 86400000000, \
           0, 0, COUNT(*) FROM analytics_events GROUP BY 1, 2) a \
           JOIN organizations o ON o.id = a.organization_id GROUP BY a.organization_id, o.slug, a.day) d",
    postgres_from: Some(
        "(SELECT a.organization_id, o.slug AS organization, a.day, SUM(a.sessions)::bigint AS sessions, \
         SUM(a.active_users)::bigint AS active_users, SUM(a.events)::bigint AS events FROM (\
         SELECT organization_id, (started_at AT TIME ZONE 'UTC')::date AS day, COUNT(*) AS sessions, \
         COUNT(DISTINCT user_id) AS active_users, 0::bigint AS events FROM sessions GROUP BY 1, 2 \
         UNION ALL SELECT organization_id, (occurred_at AT TIME ZONE 'UTC')::date, 0, 0, COUNT(*) \
         FROM analytics_events GROUP BY 1, 2) a \
         JOIN organizations o ON o.id = a.organization_id GROUP BY a.organization_id, o.slug, a.day) d",
    ),
    id: "d.organization",
    organization: "d.organization_id",
    user: None,
    range: "d.day * 86400000000",
    postgres_range: Some("(d.day::timestamp AT TIME ZONE 'UTC')"),
    columns: &[
        col(
            "organization",
            T::Text,
            "The organization's slug",
            "d.organization",
            "d.organization",
        ),
        col("day", T::Date, "The day (UTC)", "d.day", "d.day"),
        col(
            "sessions",
            T::Int64,
            "Sessions started that day",
            "d.sessions",
            "d.sessions",
        ),
        col(
            "active_users",
            T::Int64,
            "Users with a session that day",
            "d.active_users",
            "d.active_users",
        ),
        col(
            "events",
            T::Int64,
            "Analytics events that day",
            "d.events",
            "d.events",
        ),
    ],
};
