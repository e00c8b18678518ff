-- Tenants, their users, and the activity the service exports.

CREATE TABLE organizations (
    id          text PRIMARY KEY,
    slug        text NOT NULL UNIQUE,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE TABLE users (
    id              text PRIMARY KEY,
    organization_id text NOT NULL REFERENCES organizations (id),
    email           text NOT NULL UNIQUE,
    name            text NOT NULL,
    role            text NOT NULL CHECK (role IN ('SuperAdmin', 'Admin', 'Manager', 'Member')),
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL,
    last_login_at   timestamptz
);
CREATE INDEX users_by_organization_created ON users (organization_id, created_at, id);

CREATE TABLE sessions (
    id               text PRIMARY KEY,
    organization_id  text NOT NULL REFERENCES organizations (id),
    user_id          text NOT NULL REFERENCES users (id),
    started_at       timestamptz NOT NULL,
    ended_at         timestamptz,
    duration_seconds bigint,
    device           text,
    browser          text,
    country          text,
    ip_address       text,
    status           text NOT NULL CHECK (status IN ('active', 'completed', 'expired')),
    pages_viewed     bigint NOT NULL DEFAULT 0,
    notes            text
);
CREATE INDEX sessions_by_organization_started ON sessions (organization_id, started_at, id);
CREATE INDEX sessions_by_user_started ON sessions (user_id, started_at, id);

CREATE TABLE analytics_events (
    id              text PRIMARY KEY,
    organization_id text NOT NULL REFERENCES organizations (id),
    user_id         text REFERENCES users (id),
    session_id      text REFERENCES sessions (id),
    event_type      text NOT NULL,
    value           numeric,
    properties      jsonb NOT NULL DEFAULT '{}'::jsonb,
    occurred_at     timestamptz NOT NULL
);
CREATE INDEX analytics_by_organization_occurred ON analytics_events (organization_id, occurred_at, id);
CREATE INDEX analytics_by_user_occurred ON analytics_events (user_id, occurred_at, id);
