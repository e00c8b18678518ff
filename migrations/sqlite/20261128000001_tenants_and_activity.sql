-- Tenants, their users, and the activity the service exports.
-- Instants: INTEGER microseconds since 1970-01-01T00:00:00Z (UTC).

CREATE TABLE organizations (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    email           TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('SuperAdmin', 'Admin', 'Manager', 'Member')),
    active          INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at      INTEGER NOT NULL,
    last_login_at   INTEGER
);
CREATE INDEX users_by_organization_created ON users (organization_id, created_at, id);

CREATE TABLE sessions (
    id               TEXT PRIMARY KEY,
    organization_id  TEXT NOT NULL REFERENCES organizations (id),
    user_id          TEXT NOT NULL REFERENCES users (id),
    started_at       INTEGER NOT NULL,
    ended_at         INTEGER,
    duration_seconds INTEGER,
    device           TEXT,
    browser          TEXT,
    country          TEXT,
    ip_address       TEXT,
    status           TEXT NOT NULL CHECK (status IN ('active', 'completed', 'expired')),
    pages_viewed     INTEGER NOT NULL DEFAULT 0,
    notes            TEXT
);
CREATE INDEX sessions_by_organization_started ON sessions (organization_id, started_at, id);
CREATE INDEX sessions_by_user_started ON sessions (user_id, started_at, id);

CREATE TABLE analytics_events (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    user_id         TEXT REFERENCES users (id),
    session_id      TEXT REFERENCES sessions (id),
    event_type      TEXT NOT NULL,
    value           TEXT,
    properties      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(properties)),
    occurred_at     INTEGER NOT NULL
);
CREATE INDEX analytics_by_organization_occurred ON analytics_events (organization_id, occurred_at, id);
CREATE INDEX analytics_by_user_occurred ON analytics_events (user_id, occurred_at, id);
