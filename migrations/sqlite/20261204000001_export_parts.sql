-- Exports written in parts ("partMaxRows" / "partMaxBytes" on create). A
-- row here is a published part: its file is complete in the blob store and
-- can be downloaded while later parts are being written. A retried export
-- continues after the last part's key (its last row in the export's order,
-- `ORDER BY range, id`) with the plugin that wrote it.

CREATE TABLE export_parts (
    job_id             TEXT NOT NULL REFERENCES export_jobs (id) ON DELETE CASCADE,
    part_index         INTEGER NOT NULL,       -- 0-based; shown 1-based
    name               TEXT NOT NULL,
    blob_key           TEXT NOT NULL,
    content_type       TEXT NOT NULL,
    row_count          INTEGER NOT NULL,
    size               INTEGER NOT NULL,       -- stored bytes
    sha256             TEXT NOT NULL,          -- of the stored bytes
    uncompressed_size  INTEGER,                -- when compressed
    last_range         INTEGER,                -- µs; NULL for an empty part
    last_id            TEXT,
    plugin_sha256      TEXT NOT NULL,
    published_at       INTEGER NOT NULL,       -- microseconds since the epoch (UTC)
    PRIMARY KEY (job_id, part_index)
);
