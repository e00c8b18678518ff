//! An export in parts: each part is uploaded and recorded as soon as it
//! is complete; a retried run continues after the last recorded part with
//! the plugin that wrote it; the manifest is written last and becomes the
//! job's file.

use object_store::ObjectStoreExt as _;
use object_store::path::Path as BlobPath;
use sha2::{Digest as _, Sha256};
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use super::prepare::{Prepared, stored_media_type};
use super::{JobRunner, Run, RunOutcome, progress, record_plugin};
use crate::repo::{FileRecord, Lease};
use exporter_export::compress::{CompressingSink, Compression};
use exporter_export::parts::store::warnings_column;
use exporter_export::parts::{
    self, FinishedPart, MAX_PARTS, Manifest, ManifestInput, ManifestPlugin, PartPlan,
    PartPublisher, PartRecord,
};
use exporter_export::upload::start_upload;
use exporter_export::{Export, ExportError, Headings, Written};
use exporter_runtime::ChunkSink;
use exporter_source::RowKey;
use exporter_store::blob::{BlobStore, UploadHandle};
use exporter_store::db::{Database, now_micros};

pub(super) async fn export(
    runner: &JobRunner,
    run: Run<'_>,
    prepared: Prepared,
) -> anyhow::Result<RunOutcome> {
    let Run {
        job,
        lease,
        token,
        progress,
        started,
    } = run;
    let Prepared {
        request,
        query,
        source,
        mut formatter,
        options,
        context,
        file_name,
        total_rows,
    } = prepared;
    let (request, query) = (&request, &query);
    let db = runner.repo.database();
    if let Some(max_rows) = request.part_max_rows {
        let needed = total_rows.div_ceil(max_rows.max(1));
        if needed > u64::from(MAX_PARTS) {
            return Ok(RunOutcome::Failed(format!(
                "{total_rows} rows at partMaxRows {max_rows} make {needed} parts; at most {MAX_PARTS} are allowed"
            )));
        }
    }

    // Parts an earlier attempt published stay; this run continues after
    // them with the plugin that wrote them.
    let mut published = parts::store::parts_of(db, &job.id).await?;
    if let Some(first) = published.first() {
        let pinned = first.plugin_sha256.clone();
        if formatter.digest() != pinned {
            match runner
                .registry
                .formatter_by_digest(&job.format, &pinned)
                .await
            {
                Ok(Some(pinned)) => {
                    formatter = pinned;
                    record_plugin(&formatter);
                }
                Ok(None) => {
                    tracing::warn!(
                        job = %job.id,
                        plugin = %pinned,
                        "the plugin that wrote the published parts is gone; starting the export over"
                    );
                    parts::discard_fenced(db, &runner.blobs, &job.id, lease).await?;
                    published.clear();
                }
                Err(e) => {
                    return Ok(runner.transient(
                        job,
                        format!("loading the plugin that wrote the published parts failed: {e}"),
                    ));
                }
            }
        }
    }
    let info = formatter.info().clone();
    let after = published.last().and_then(|p| p.resume_key(query.dataset()));
    // An empty last part is the whole of an export with no rows.
    let all_published = published.last().is_some_and(|p| !p.has_key());
    let earlier = Written {
        rows: published.iter().map(|p| p.row_count as u64).sum(),
        bytes: published
            .iter()
            .map(|p| p.uncompressed_size.unwrap_or(p.size) as u64)
            .sum(),
    };
    if !published.is_empty() {
        tracing::info!(job = %job.id, parts = published.len(), rows = earlier.rows, "resuming after the published parts");
    }
    let first_index = published.len() as u32;
    let content_type = stored_media_type(request, &info);
    let publisher = JobParts {
        runtime: Handle::current(),
        blobs: runner.blobs.clone(),
        db: db.clone(),
        job_id: job.id.clone(),
        organization_id: job.organization_id.clone(),
        file_name: file_name.clone(),
        content_type,
        compression: request.compression,
        plugin_sha256: formatter.digest().to_owned(),
        lease,
        open: None,
        cancel: token.clone(),
    };
    // The part an earlier run was writing when it died or lost its lease.
    runner.abort_earlier_uploads(job, lease);

    let reporter = progress::spawn_reporter(
        &runner.repo,
        &job.id,
        lease,
        progress.clone(),
        token.clone(),
    );
    let result = if all_published {
        Some(Ok(()))
    } else {
        let plan = PartPlan {
            max_rows: request.part_max_rows,
            max_bytes: request.part_max_bytes,
            first_index,
            max_parts: MAX_PARTS,
        };
        let export = Export {
            source: source.clone(),
            query,
            formatter: &formatter,
            headings: Headings::for_export(formatter.info(), &options),
            options,
            context,
            batch_rows: runner.settings.batch_rows,
            progress: Some(progress.clone()),
        }
        .in_parts(plan, after.as_ref(), earlier, Box::new(publisher));
        tokio::select! {
            result = export => Some(result.map(|stats| {
                tracing::debug!(job = %job.id, parts = stats.parts, rows = stats.rows, bytes = stats.bytes, "parts written");
            })),
            () = token.cancelled() => None,
        }
    };
    reporter.abort();
    let seconds = started.elapsed().as_secs_f64();

    match result {
        None => {
            parts::discard_fenced(db, &runner.blobs, &job.id, lease).await?;
            runner
                .metrics
                .export_finished(&job.format, "cancelled", seconds, 0, 0);
            return Ok(RunOutcome::Cancelled);
        }
        Some(Err(error)) => {
            if let ExportError::Plugin(plugin) = &error {
                runner.metrics.plugin_error(&job.format, plugin.kind());
                runner.registry.export_crashed(&formatter, plugin).await;
            }
            runner
                .metrics
                .export_finished(&job.format, "failed", seconds, 0, 0);
            if token.is_cancelled() {
                parts::discard_fenced(db, &runner.blobs, &job.id, lease).await?;
                return Ok(RunOutcome::Cancelled);
            }
            // A transient failure keeps the published parts for the
            // retry to continue after; a permanent one drops them.
            return Ok(if error.is_transient() {
                runner.transient(job, error.to_string())
            } else {
                parts::discard_fenced(db, &runner.blobs, &job.id, lease).await?;
                RunOutcome::Failed(error.to_string())
            });
        }
        Some(Ok(())) => {}
    }

    let all = parts::store::parts_of(db, &job.id).await?;
    let manifest = Manifest::new(ManifestInput {
        job_id: &job.id,
        organization_id: &job.organization_id,
        created_at: job.created_at,
        completed_at: now_micros(),
        request,
        dataset_version: query.dataset().version,
        schema: &query.schema()?,
        masked: &query
            .masked()?
            .into_iter()
            .map(|(column, mask)| (column.name.clone(), mask))
            .collect::<Vec<_>>(),
        plugin: ManifestPlugin {
            name: info.name.clone(),
            version: info.version.clone(),
            sha256: formatter.digest().to_owned(),
        },
        parts: &all,
    });
    let body = serde_json::to_vec_pretty(&manifest)?;
    let name = parts::manifest_name(&file_name);
    let key = runner
        .blobs
        .run_key(&job.organization_id, &job.id, lease.0, &name);
    if let Err(e) = runner
        .blobs
        .object_store()
        .put(&key, body.clone().into())
        .await
    {
        return Ok(runner.transient(job, format!("storing the manifest failed: {e}")));
    }
    let file = FileRecord {
        key: key.to_string(),
        name,
        content_type: "application/json".to_owned(),
        size: body.len() as i64,
        rows: manifest.total_rows as i64,
        sha256: hex::encode(Sha256::digest(&body)),
        plugin_name: info.name.clone(),
        plugin_version: info.version.clone(),
        plugin_sha256: formatter.digest().to_owned(),
        expires_at: now_micros() + runner.settings.retention.as_micros() as i64,
        uncompressed_size: None,
        bytes_written: manifest.total_bytes as i64,
        warnings: manifest.warnings.clone(),
    };
    if !runner.repo.complete(&job.id, lease, &file).await? {
        // Cancelled at the last moment: nothing may stay. (Or another
        // run claimed the job: then only this run's manifest goes.)
        runner.blobs.delete(&key).await?;
        parts::discard_fenced(db, &runner.blobs, &job.id, lease).await?;
        return Ok(RunOutcome::Cancelled);
    }
    if !file.warnings.is_empty() {
        tracing::info!(job = %job.id, warnings = %file.warnings.summary(), "the plugin changed data to fit the format");
    }
    runner.registry.export_succeeded(&formatter).await;
    runner.metrics.export_finished(
        &job.format,
        "completed",
        seconds,
        manifest.total_rows,
        manifest.total_bytes,
    );
    Ok(RunOutcome::Completed)
}

/// Uploads one job's parts and records each when it is complete. Runs on
/// the plugin's blocking thread, so it waits on the runtime's futures.
struct JobParts {
    runtime: Handle,
    blobs: BlobStore,
    db: Database,
    job_id: String,
    organization_id: String,
    file_name: String,
    content_type: String,
    compression: Option<Compression>,
    plugin_sha256: String,
    /// The run's claim; a part is recorded only while it holds.
    lease: Lease,
    /// The part being written and its upload.
    open: Option<(u32, BlobPath, UploadHandle)>,
    /// Stops the run when the job turns out to be no longer Processing.
    cancel: CancellationToken,
}

impl JobParts {
    /// The part's key under this run's own folder.
    fn key(&self, index: u32) -> BlobPath {
        self.blobs.run_key(
            &self.organization_id,
            &self.job_id,
            self.lease.0,
            &parts::part_name(&self.file_name, index),
        )
    }
}

impl PartPublisher for JobParts {
    fn open(&mut self, index: u32) -> anyhow::Result<Box<dyn ChunkSink>> {
        let key = self.key(index);
        let _runtime = self.runtime.enter();
        let (sink, upload) = start_upload(&self.blobs, key.clone());
        self.open = Some((index, key, upload));
        Ok(match self.compression {
            Some(compression) => Box::new(CompressingSink::new(compression, sink)?),
            None => Box::new(sink),
        })
    }

    fn publish(&mut self, part: FinishedPart) -> anyhow::Result<()> {
        let (index, key, upload) = self
            .open
            .take()
            .ok_or_else(|| anyhow::anyhow!("no part is open"))?;
        anyhow::ensure!(
            index == part.index,
            "part {} is not the open part",
            part.index
        );
        let uploaded = self
            .runtime
            .block_on(upload.commit())
            .map_err(|e| anyhow::anyhow!("storing part {}: {e:#}", index + 1))?;
        let record = PartRecord {
            job_id: self.job_id.clone(),
            part_index: i64::from(index),
            name: parts::part_name(&self.file_name, index),
            blob_key: key.to_string(),
            content_type: self.content_type.clone(),
            row_count: part.rows as i64,
            size: uploaded.size as i64,
            sha256: uploaded.sha256,
            uncompressed_size: self.compression.map(|_| part.run.bytes as i64),
            last_range: None,
            last_id: None,
            last_key: part.last_key.as_ref().map(RowKey::to_json),
            plugin_sha256: self.plugin_sha256.clone(),
            published_at: now_micros(),
            warnings: warnings_column(&part.run.warnings),
        };
        if !self
            .runtime
            .block_on(parts::store::insert(&self.db, &record, self.lease))?
        {
            // Cancelled meanwhile, or another run claimed the job: this
            // run's part must not stay.
            self.runtime.block_on(self.blobs.delete(&key))?;
            self.cancel.cancel();
            anyhow::bail!("the job is no longer running");
        }
        Ok(())
    }
}

impl Drop for JobParts {
    /// A part left open (the run failed or was cancelled) never becomes
    /// visible: its upload is aborted.
    fn drop(&mut self) {
        if let Some((_, _, upload)) = self.open.take() {
            self.runtime.spawn(upload.abort());
        }
    }
}
