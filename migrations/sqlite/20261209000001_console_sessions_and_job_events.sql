-- The web console (issue 20).
--
-- console_sessions: a signed-in browser. The cookie carries a random token;
-- only its SHA-256 is stored, so a copy of this table opens no session.
-- The CSRF token is sent back by the console in X-CSRF-Token on every
-- state-changing request.
CREATE TABLE console_sessions (
    token_sha256     TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id  TEXT NOT NULL REFERENCES organizations (id),
    csrf_token       TEXT NOT NULL,
    created_at       INTEGER NOT NULL,   -- microseconds since the epoch (UTC)
    expires_at       INTEGER NOT NULL
);
CREATE INDEX console_sessions_expiring ON console_sessions (expires_at);

-- job_events: one row per change of an export job, written by triggers so
-- that no writer of export_jobs can forget it. The event stream
-- (GET /api/export-jobs/events) reads it in id order; a reconnecting client
-- resumes after the id it last saw. Whose job it is is copied in, so a
-- removed job's event can still be scoped to those who could see it.
CREATE TABLE job_events (
    id                       INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id                   TEXT NOT NULL,
    removed                  INTEGER NOT NULL DEFAULT 0,
    covered_organization_id  TEXT,
    created_by               TEXT NOT NULL,
    at                       INTEGER NOT NULL    -- microseconds since the epoch (UTC)
);
CREATE INDEX job_events_by_age ON job_events (at);

CREATE TRIGGER export_jobs_event_insert AFTER INSERT ON export_jobs BEGIN
    INSERT INTO job_events (job_id, removed, covered_organization_id, created_by, at)
    VALUES (NEW.id, 0, NEW.covered_organization_id, NEW.created_by,
            CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
END;

CREATE TRIGGER export_jobs_event_update AFTER UPDATE ON export_jobs BEGIN
    INSERT INTO job_events (job_id, removed, covered_organization_id, created_by, at)
    VALUES (NEW.id, 0, NEW.covered_organization_id, NEW.created_by,
            CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
END;

CREATE TRIGGER export_jobs_event_delete AFTER DELETE ON export_jobs BEGIN
    INSERT INTO job_events (job_id, removed, covered_organization_id, created_by, at)
    VALUES (OLD.id, 1, OLD.covered_organization_id, OLD.created_by,
            CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
END;
