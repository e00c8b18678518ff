-- Export jobs: the lifecycle record the API shows. The queue's own tables
-- (apalis `Jobs`, `Workers`) only carry the job id to run.
-- Instants: INTEGER microseconds since 1970-01-01T00:00:00Z (UTC).

CREATE TABLE export_jobs (
    id               TEXT PRIMARY KEY,           -- ULID: sorts by creation time
    organization_id  TEXT NOT NULL REFERENCES organizations (id),
    created_by       TEXT NOT NULL REFERENCES users (id),
    data_type        TEXT NOT NULL,
    format           TEXT NOT NULL,
    request          TEXT NOT NULL CHECK (json_valid(request)),
    status           TEXT NOT NULL CHECK (status IN ('Pending', 'Processing', 'Completed', 'Failed', 'Cancelled', 'Expired')),
    rows_written     INTEGER NOT NULL DEFAULT 0,
    total_rows       INTEGER,
    bytes_written    INTEGER NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    error            TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    expires_at       INTEGER,
    file_key         TEXT,
    file_name        TEXT,
    content_type     TEXT,
    file_size        INTEGER,
    file_rows        INTEGER,
    sha256           TEXT,
    plugin_name      TEXT,
    plugin_version   TEXT,
    idempotency_key  TEXT,
    request_hash     TEXT
);
CREATE INDEX export_jobs_by_organization ON export_jobs (organization_id, id);
CREATE INDEX export_jobs_by_creator ON export_jobs (created_by, id);
CREATE INDEX export_jobs_expiring ON export_jobs (status, expires_at);
CREATE UNIQUE INDEX export_jobs_idempotency ON export_jobs (created_by, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
