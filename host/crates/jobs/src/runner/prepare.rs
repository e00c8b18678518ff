//! Before any row is read: the job's request checked, its plugin pinned,
//! its rows counted, and what its file is called.

use exporter_runtime::batch::time;
use exporter_runtime::{ExportContext, FormatInfo, Formatter};
use exporter_source::query::Access;
use exporter_source::sources::SourcePool;
use exporter_source::{ExportQuery, count_rows};

use super::{JobRunner, RunOutcome, record_plugin};
use crate::model::{ExportRequest, JobRecord};
use crate::repo::Lease;

/// A job ready to run.
pub(super) struct Prepared {
    pub request: ExportRequest,
    pub query: ExportQuery,
    /// The pool of the dataset's source.
    pub source: SourcePool,
    /// The format's version for this organization, pinned for the whole
    /// run: an activation meanwhile does not touch this export. (An export
    /// in parts that resumes may go back to the version of its parts.)
    pub formatter: Formatter,
    pub options: Vec<(String, String)>,
    pub context: ExportContext,
    /// `sessions_2026-01-01_2026-01-31.csv`; the parts and manifest are
    /// named after it.
    pub file_name: String,
    pub total_rows: u64,
}

/// Checks job `job` and gets it ready to run, or says how the run ends
/// already: a request the client got wrong fails now, rather than being
/// retried as a database failure.
pub(super) async fn prepare(
    runner: &JobRunner,
    job: &JobRecord,
    lease: Lease,
) -> anyhow::Result<Result<Prepared, RunOutcome>> {
    let request = match job.request() {
        Ok(request) => request,
        Err(e) => return Ok(Err(RunOutcome::Failed(format!("{e:#}")))),
    };
    // The version the job was created on: a change to the catalog since
    // reaches new jobs, not this one.
    let dataset = match runner
        .catalog
        .version(&job.data_type, job.dataset_version)
        .await?
    {
        Some(dataset) => dataset,
        None => {
            return Ok(Err(RunOutcome::Failed(match job.dataset_version {
                Some(version) => format!(
                    "dataset {:?} version {version} is not in the catalog",
                    job.data_type
                ),
                None => format!("dataset {:?} is no longer in the catalog", job.data_type),
            })));
        }
    };
    let Some(source) = runner.sources.get(&dataset.source) else {
        return Ok(Err(RunOutcome::Failed(format!(
            "dataset {:?} reads source {:?}, which this worker's configuration does not name; add [sources.{}]",
            dataset.name, dataset.source, dataset.source
        ))));
    };
    let source = SourcePool::from(&*source);
    // As its creator could see the dataset when they created it.
    let access = Access {
        role: job.reader_role(),
        key: runner
            .masks
            .key_for(request.filters.organization_id.as_deref()),
    };
    let query = match request.query(dataset, access) {
        Ok(query) => query,
        Err(e) => return Ok(Err(RunOutcome::Failed(e.to_string()))),
    };
    let Some(formatter) = runner.formats.get_for(&job.organization_id, &job.format) else {
        return Ok(Err(RunOutcome::Failed(format!(
            "format {:?} is no longer installed",
            job.format
        ))));
    };
    record_plugin(&formatter);
    let options = request.plugin_options();
    if let Err(e) = formatter.info().check_options(&options) {
        return Ok(Err(RunOutcome::Failed(e)));
    }
    if let Err(e) = query.selected() {
        return Ok(Err(RunOutcome::Failed(e.to_string())));
    }

    let total_rows = match count_rows(&source, &query).await {
        Ok(total) => total,
        Err(e) if e.is_transient() => return Ok(Err(runner.transient(job, e.to_string()))),
        Err(e) => return Ok(Err(RunOutcome::Failed(e.to_string()))),
    };
    runner
        .repo
        .set_total_rows(&job.id, lease, total_rows as i64)
        .await?;

    let file_name = file_name(&request, &formatter.info().file_extension);
    // A report names the organization, not its id.
    let organization = match &query.organization_id {
        Some(id) => exporter_auth::organization(runner.repo.database(), id)
            .await?
            .map(|o| o.name),
        None => None,
    };
    let context = context(job, &request, &query, organization);
    Ok(Ok(Prepared {
        request,
        query,
        source,
        formatter,
        options,
        context,
        file_name,
        total_rows,
    }))
}

/// The media type of what is stored: the compression's, or the format's.
pub(super) fn stored_media_type(request: &ExportRequest, info: &FormatInfo) -> String {
    match request.compression {
        Some(compression) => compression.media_type().to_owned(),
        None => info.media_type.clone(),
    }
}

/// `sessions_2026-01-01_2026-01-31.csv`, `users_all.json`,
/// `users_all.json.gz`.
fn file_name(request: &ExportRequest, extension: &str) -> String {
    let range = request.date_range.clone().unwrap_or_default();
    let span = match (range.from, range.to) {
        (None, None) => "all".to_owned(),
        (from, to) => format!(
            "{}_{}",
            from.as_deref().unwrap_or("start"),
            to.as_deref().unwrap_or("now")
        ),
    };
    let extension = extension.trim_start_matches('.');
    match request.compression {
        Some(compression) => format!(
            "{}_{span}.{extension}.{}",
            request.data_type,
            compression.extension()
        ),
        None => format!("{}_{span}.{extension}", request.data_type),
    }
}

/// The context property that tells a plugin the export's time zone (an
/// IANA name; absent: UTC). A display property too: a report header shows
/// it beside the date range.
pub const TIME_ZONE_PROPERTY: &str = "Time zone";

/// What a plugin may print in a report header. `organization` is the
/// name of the organization the rows are from (`None`: every one's, or
/// one since deleted, which shows by its id).
fn context(
    job: &JobRecord,
    request: &ExportRequest,
    query: &ExportQuery,
    organization: Option<String>,
) -> ExportContext {
    let mut properties = vec![("Data".to_owned(), request.data_type.clone())];
    let day = |d: Option<i32>| d.map(time::format_date);
    if let Some(from) = day(query.from) {
        properties.push(("From".to_owned(), from));
    }
    if let Some(to) = day(query.to) {
        properties.push(("To".to_owned(), to));
    }
    if let Some(org) = &query.organization_id {
        properties.push((
            "Organization".to_owned(),
            organization.unwrap_or(org.clone()),
        ));
    }
    if let Some(user) = &query.user_id {
        properties.push(("User".to_owned(), user.clone()));
    }
    if let Some(zone) = request.time_zone.as_deref().filter(|z| *z != "UTC") {
        properties.push((TIME_ZONE_PROPERTY.to_owned(), zone.to_owned()));
    }
    let mut title = format!("{} export", capitalized(&request.data_type));
    if let (Some(from), Some(to)) = (day(query.from), day(query.to)) {
        title = format!("{title}, {from} to {to}");
    }
    ExportContext {
        title,
        generated_at: job.created_at,
        properties,
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_say_what_they_hold() {
        let mut request: ExportRequest =
            serde_json::from_str(r#"{"dataType":"sessions","format":"csv","dateRange":{"from":"2026-01-01","to":"2026-01-31"}}"#)
                .unwrap();
        assert_eq!(
            file_name(&request, "csv"),
            "sessions_2026-01-01_2026-01-31.csv"
        );
        request.date_range = None;
        assert_eq!(file_name(&request, ".json"), "sessions_all.json");
        request.compression = Some(exporter_export::compress::Compression::Zstd);
        assert_eq!(file_name(&request, "csv"), "sessions_all.csv.zst");
    }
}
