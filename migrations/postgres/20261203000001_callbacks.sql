-- Per-job completion callbacks. The job row is its own outbox: a job in a
-- final status (Completed, Failed, Cancelled) with a callback_url and no
-- callback delivered for that status is due, so a crash between the status
-- change and the delivery loses nothing.

ALTER TABLE export_jobs ADD COLUMN callback_url TEXT;
-- The status the callback bookkeeping below is for. A re-driven job starts
-- afresh (all of these back to NULL), so it calls back again.
ALTER TABLE export_jobs ADD COLUMN callback_event TEXT;
ALTER TABLE export_jobs ADD COLUMN callback_state TEXT
    CHECK (callback_state IN ('Pending', 'Delivered', 'GaveUp'));
ALTER TABLE export_jobs ADD COLUMN callback_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE export_jobs ADD COLUMN callback_next_at BIGINT;
-- A dispatcher's claim on the delivery, so two processes never send it at once.
ALTER TABLE export_jobs ADD COLUMN callback_claimed_until BIGINT;
-- Only callbacks not yet settled: delivered ones leave the index.
CREATE INDEX export_jobs_callbacks_due ON export_jobs (callback_next_at)
    WHERE callback_url IS NOT NULL AND (callback_state IS NULL OR callback_state = 'Pending');

-- Every delivery attempt, as the job's status shows it.
CREATE TABLE callback_attempts (
    job_id       TEXT NOT NULL REFERENCES export_jobs (id) ON DELETE CASCADE,
    event        TEXT NOT NULL,
    attempt      BIGINT NOT NULL,
    at           BIGINT NOT NULL,        -- microseconds since the epoch (UTC)
    http_status  BIGINT,                 -- NULL when no response came
    error        TEXT,               -- NULL when delivered
    duration_ms  BIGINT NOT NULL,
    PRIMARY KEY (job_id, event, attempt)
);

-- Each organization's signing secret. After a rotation the previous one
-- still signs (a second signature) until previous_valid_until.
CREATE TABLE callback_secrets (
    organization_id       TEXT PRIMARY KEY REFERENCES organizations (id),
    secret                TEXT NOT NULL,
    rotated_at            BIGINT NOT NULL,
    previous_secret       TEXT,
    previous_valid_until  BIGINT
);
