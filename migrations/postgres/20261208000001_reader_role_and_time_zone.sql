-- The role of the user who created a job, as it was then (issue 19): it
-- decides which of the dataset's columns the job's files may hold and which
-- are masked, for the job's whole life, whichever worker runs it. NULL for
-- jobs created before column access: they read as a Manager would, the
-- least a role that exports may see.
ALTER TABLE export_jobs ADD COLUMN reader_role TEXT;

-- The time zone an organization's exports render instants in when a
-- request names none (an IANA name such as Europe/Paris); NULL: UTC.
ALTER TABLE organizations ADD COLUMN time_zone TEXT;
