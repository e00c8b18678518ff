-- The web console (issue 20). See the SQLite migration of the same name
-- for what each table is for.
CREATE TABLE console_sessions (
    token_sha256     TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id  TEXT NOT NULL REFERENCES organizations (id),
    csrf_token       TEXT NOT NULL,
    created_at       BIGINT NOT NULL,   -- microseconds since the epoch (UTC)
    expires_at       BIGINT NOT NULL
);
CREATE INDEX console_sessions_expiring ON console_sessions (expires_at);

-- Ids come from a sequence, so on PostgreSQL they can commit out of order:
-- the reader (exporter_jobs::events) waits a moment for a missing id before
-- moving past it.
CREATE TABLE job_events (
    id                       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id                   TEXT NOT NULL,
    removed                  INTEGER NOT NULL DEFAULT 0,
    covered_organization_id  TEXT,
    created_by               TEXT NOT NULL,
    at                       BIGINT NOT NULL    -- microseconds since the epoch (UTC)
);
CREATE INDEX job_events_by_age ON job_events (at);

CREATE FUNCTION export_jobs_event() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO job_events (job_id, removed, covered_organization_id, created_by, at)
        VALUES (OLD.id, 1, OLD.covered_organization_id, OLD.created_by,
                (extract(epoch FROM clock_timestamp()) * 1000000)::bigint);
        RETURN OLD;
    END IF;
    INSERT INTO job_events (job_id, removed, covered_organization_id, created_by, at)
    VALUES (NEW.id, 0, NEW.covered_organization_id, NEW.created_by,
            (extract(epoch FROM clock_timestamp()) * 1000000)::bigint);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER export_jobs_event AFTER INSERT OR UPDATE OR DELETE ON export_jobs
    FOR EACH ROW EXECUTE FUNCTION export_jobs_event();
