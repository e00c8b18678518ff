-- Compressed exports ("compression": "gzip" | "zstd" on create): the file's
-- size and sha256 are of the stored (compressed) bytes; this is the size of
-- what the plugin wrote. NULL for an uncompressed file.

ALTER TABLE export_jobs ADD COLUMN uncompressed_size BIGINT;
