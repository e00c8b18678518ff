-- Attempt fencing. Every claim of a job (its first run, and every run after
-- a worker's lease on it ran out) bumps `lease`, never reset (a re-drive
-- keeps counting). A run carries the value its claim returned, and every
-- write it makes (progress, a part, completion, failure) is conditional on
-- it in the same statement: a worker that was frozen past its lease finds
-- out at its next write and gives up, without touching the newer run's
-- work. Each run also stages and stores its files under its own key
-- (`exports/<org>/<job>/run-<lease>/...`), so the file a job records is
-- always the one its completing run wrote.

ALTER TABLE export_jobs ADD COLUMN lease INTEGER NOT NULL DEFAULT 0;
