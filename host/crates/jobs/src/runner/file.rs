//! An export of one file: the driver writes it into a multipart upload
//! under this run's own key; the upload is committed, then the job is
//! completed if this run still holds it.

use exporter_export::compress::CompressingSink;
use exporter_export::upload::start_upload;
use exporter_export::{Export, ExportError, Headings};
use exporter_runtime::{ChunkSink, PluginError};
use exporter_store::db::now_micros;

use super::prepare::{Prepared, stored_media_type};
use super::{JobRunner, Run, RunOutcome, progress};
use crate::repo::FileRecord;
use crate::retry::Failure;

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
        formatter,
        options,
        context,
        file_name,
        ..
    } = prepared;
    let info = formatter.info().clone();
    let content_type = stored_media_type(&request, &info);
    // This run's own key: an earlier run of the job that is still alive
    // (frozen past its lease, then thawed) writes elsewhere.
    let key = runner
        .blobs
        .run_key(&job.organization_id, &job.id, lease.0, &file_name);
    runner.abort_earlier_uploads(job, lease);
    let (sink, upload) = start_upload(&runner.blobs, key.clone());
    let sink: Box<dyn ChunkSink> = match request.compression {
        Some(compression) => Box::new(CompressingSink::new(compression, sink)?),
        None => Box::new(sink),
    };
    let reporter = progress::spawn_reporter(
        &runner.repo,
        &job.id,
        lease,
        progress.clone(),
        token.clone(),
    );

    let export = Export {
        source,
        query: &query,
        formatter: &formatter,
        headings: Headings::for_export(formatter.info(), &options),
        options,
        context,
        batch_rows: runner.settings.batch_rows,
        progress: Some(progress.clone()),
    }
    .to_sink(sink);
    let result = tokio::select! {
        result = export => Some(result),
        () = token.cancelled() => None,
    };
    reporter.abort();
    let seconds = started.elapsed().as_secs_f64();

    let stats = match result {
        None => {
            upload.abort().await;
            runner
                .metrics
                .export_finished(&job.format, "cancelled", seconds, 0, 0);
            return Ok(RunOutcome::Cancelled);
        }
        Some(Err(error)) => {
            // Aborts whatever was staged; reports the upload's own error
            // when the upload is what stopped the plugin.
            let upload_error = upload.failure().await;
            let mut message = error.to_string();
            if let (ExportError::Plugin(PluginError::Sink { .. }), Some(cause)) =
                (&error, upload_error)
            {
                message = format!("writing to the blob store failed: {cause:#}");
            }
            if let ExportError::Plugin(plugin) = &error {
                runner.metrics.plugin_error(&job.format, plugin.kind());
                runner.registry.export_crashed(&formatter, plugin).await;
            }
            runner
                .metrics
                .export_finished(&job.format, "failed", seconds, 0, 0);
            let failure = match error.is_transient() {
                true => Failure::Transient,
                false => Failure::Permanent,
            };
            return Ok(runner.failed(job, failure, message));
        }
        Some(Ok(stats)) => stats,
    };
    let uploaded = match upload.commit().await {
        Ok(uploaded) => uploaded,
        Err(e) => {
            runner
                .metrics
                .export_finished(&job.format, "failed", seconds, 0, 0);
            return Ok(runner.transient(
                job,
                format!("publishing the file to the blob store failed: {e:#}"),
            ));
        }
    };
    let file = FileRecord {
        key: uploaded.key.to_string(),
        name: file_name,
        content_type,
        size: uploaded.size as i64,
        rows: stats.rows as i64,
        sha256: uploaded.sha256,
        plugin_name: info.name.clone(),
        plugin_version: info.version.clone(),
        plugin_sha256: formatter.digest().to_owned(),
        expires_at: now_micros() + runner.settings.retention.as_micros() as i64,
        // What the plugin wrote, before the sink compressed it.
        uncompressed_size: request.compression.map(|_| stats.run.bytes as i64),
        bytes_written: uploaded.size as i64,
        warnings: stats.run.warnings,
    };
    if !runner.repo.complete(&job.id, lease, &file).await? {
        // Cancelled while the upload completed, or another run claimed the
        // job: this run's file (its own key) must not stay.
        runner.blobs.delete(&uploaded.key).await?;
        return Ok(RunOutcome::Cancelled);
    }
    if !file.warnings.is_empty() {
        tracing::info!(job = %job.id, warnings = %file.warnings.summary(), "the plugin changed data to fit the format");
    }
    runner.registry.export_succeeded(&formatter).await;
    runner
        .metrics
        .export_finished(&job.format, "completed", seconds, stats.rows, uploaded.size);
    Ok(RunOutcome::Completed)
}
