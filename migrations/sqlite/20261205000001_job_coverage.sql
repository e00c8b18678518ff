-- Whose rows an export job reads, recorded when it is created: the
-- organization its query is filtered to, or NULL for every organization's
-- (a SuperAdmin's export with no organization filter). Who may see the job,
-- its files and its links follows from this, not from the organization of
-- its creator (`organization_id`): a SuperAdmin's export of globex's data is
-- globex's, whoever made it.

ALTER TABLE export_jobs ADD COLUMN covered_organization_id TEXT;

-- Existing jobs: the create handler always pinned a non-SuperAdmin's
-- request to their own organization, so the recorded filter is exactly what
-- each job read; a request without one read every organization's rows.
UPDATE export_jobs
SET covered_organization_id = json_extract(request, '$.filters.organizationId');

-- Admins list the jobs of their organization's data; workers count the
-- running exports of one organization's data.
CREATE INDEX export_jobs_by_coverage ON export_jobs (covered_organization_id, id);
