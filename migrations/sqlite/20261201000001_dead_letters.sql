-- Dead letters: a job whose transient failures used up its attempts is
-- marked, keeps the error of every failed attempt, and can be re-driven by
-- an operator (POST /api/admin/export-jobs/{id}/retry).

ALTER TABLE export_jobs ADD COLUMN dead_lettered INTEGER NOT NULL DEFAULT 0;

CREATE TABLE export_job_errors (
    job_id      TEXT NOT NULL REFERENCES export_jobs (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    at          INTEGER NOT NULL,        -- microseconds since the epoch (UTC)
    error       TEXT NOT NULL,
    PRIMARY KEY (job_id, attempt, at)
);
