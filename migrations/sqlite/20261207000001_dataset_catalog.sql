-- The dataset catalog: every version of every dataset ever installed, as
-- data (issue 19). A dataset's current definition is its highest version; a
-- version with no definition records that it was removed. Versions are
-- never changed or deleted, so a job can always read the one it started on.
-- Instants: microseconds since 1970-01-01T00:00:00Z (UTC).
CREATE TABLE dataset_versions (
    name         TEXT NOT NULL,
    version      INTEGER NOT NULL,
    definition   TEXT,                -- the dataset as JSON; NULL: removed
    origin       TEXT NOT NULL CHECK (origin IN ('builtin', 'operator')),
    installed_by TEXT NOT NULL,
    installed_at INTEGER NOT NULL,
    PRIMARY KEY (name, version)
);

-- The version a job reads (NULL for jobs created before the catalog: they
-- read the dataset's current version).
ALTER TABLE export_jobs ADD COLUMN dataset_version INTEGER;

-- Where an export in parts resumes after this part, typed: the range
-- column's value, then each key column's, as JSON. Parts published before
-- keys were typed have last_range and last_id instead.
ALTER TABLE export_parts ADD COLUMN last_key TEXT;
