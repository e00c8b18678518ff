-- Export jobs: the lifecycle record the API shows. The queue's own tables
-- (apalis `Jobs`, `Workers`) only carry the job id to run.
-- Instants: BIGINT microseconds since the epoch (UTC), as in the SQLite schema,
-- so one set of queries serves both engines.

CREATE TABLE export_jobs (
    id               TEXT PRIMARY KEY,           -- ULID: sorts by creation time
    organization_id  TEXT NOT NULL REFERENCES organizations (id),
    created_by       TEXT NOT NULL REFERENCES users (id),
    data_type        TEXT NOT NULL,
    format           TEXT NOT NULL,
    request          TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('Pending', 'Processing', 'Completed', 'Failed', 'Cancelled', 'Expired')),
    rows_written     BIGINT NOT NULL DEFAULT 0,
    total_rows       BIGINT,
    bytes_written    BIGINT NOT NULL DEFAULT 0,
    attempts         BIGINT NOT NULL DEFAULT 0,
    max_attempts     BIGINT NOT NULL,
    error            TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    started_at       BIGINT,
    finished_at      BIGINT,
    expires_at       BIGINT,
    file_key         TEXT,
    file_name        TEXT,
    content_type     TEXT,
    file_size        BIGINT,
    file_rows        BIGINT,
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
