-- The plugin registry: every formatter version ever installed, and which one
-- each format runs. Every process reads these tables, so an activation made
-- through one API process reaches every worker.
-- Instants: BIGINT microseconds since 1970-01-01T00:00:00Z (UTC).

CREATE TABLE plugin_versions (
    name                 TEXT NOT NULL,     -- the format, e.g. "csv"
    sha256               TEXT NOT NULL,     -- of the component's bytes
    version              TEXT NOT NULL,     -- the plugin's semver ('' when it could not say)
    contract             TEXT,              -- the WIT contract it exports, e.g. "exporter:formatter/formatter@1.0.0"
    media_type           TEXT,
    file_extension       TEXT,
    description          TEXT,
    size                 BIGINT NOT NULL,
    blob_key             TEXT NOT NULL,     -- the component in the blob store
    status               TEXT NOT NULL CHECK (status IN ('Ready', 'Refused', 'Disabled')),
    status_reason        TEXT,
    report               TEXT NOT NULL,
    source               TEXT NOT NULL CHECK (source IN ('builtin', 'api', 'cli', 'watch')),
    installed_by         TEXT NOT NULL,
    installed_at         BIGINT NOT NULL,
    consecutive_failures BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (name, sha256)
);
CREATE INDEX plugin_versions_by_version ON plugin_versions (name, version);

-- Which version a format runs: for everyone (scope '') or, as a canary, for
-- one organization (scope = its id).
CREATE TABLE plugin_activations (
    name            TEXT NOT NULL,
    scope           TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    previous_sha256 TEXT,                   -- restored when this one keeps trapping
    activated_by    TEXT NOT NULL,
    activated_at    BIGINT NOT NULL,
    PRIMARY KEY (name, scope),
    FOREIGN KEY (name, sha256) REFERENCES plugin_versions (name, sha256)
);

-- Each file records the exact build that wrote it.
ALTER TABLE export_jobs ADD COLUMN plugin_sha256 TEXT;
