//! Exports written in parts: several files, each complete in its format,
//! published one by one as they finish, plus `manifest.json`.
//!
//! # Layout
//! - `cutter`: cuts the query's batches into one plugin run per part (an
//!   export of one file is one part).
//! - `store`: the `export_parts` table, which also records where a
//!   retried export continues.
//! - `manifest`: the manifest's shape.

pub mod cutter;
pub mod manifest;
pub mod store;

pub use cutter::{FinishedPart, PartPlan, PartPublisher, PartedStats};
pub use manifest::{Manifest, ManifestInput, ManifestPlugin};
pub use store::PartRecord;

/// Parts one export may have at most: a bound on the files (and uploads)
/// a single request can create.
pub const MAX_PARTS: u32 = 10_000;

/// The smallest `partMaxBytes`: formats hand over their bytes in 64 KiB
/// chunks, so smaller parts could not be cut anywhere near the limit.
pub const MIN_PART_BYTES: u64 = 1 << 20;

/// Deletes a job's parts, files first: for a cancelled, failed or expired
/// export, or one starting over.
pub async fn discard(
    db: &exporter_store::db::Database,
    blobs: &exporter_store::blob::BlobStore,
    job_id: &str,
) -> anyhow::Result<()> {
    for part in store::parts_of(db, job_id).await? {
        blobs.delete(&blobs.parse_key(&part.blob_key)?).await?;
    }
    store::delete_all(db, job_id).await?;
    Ok(())
}

/// [`discard`] by the run that holds `lease`: when another run claimed the
/// job since, its parts are its to keep, and nothing is deleted.
pub async fn discard_fenced(
    db: &exporter_store::db::Database,
    blobs: &exporter_store::blob::BlobStore,
    job_id: &str,
    lease: crate::Lease,
) -> anyhow::Result<()> {
    // Records first: a part whose record is gone is never downloaded, so
    // its file may go after.
    for key in store::delete_all_fenced(db, job_id, lease).await? {
        blobs.delete(&blobs.parse_key(&key)?).await?;
    }
    Ok(())
}

/// `sessions_all.part-0003.csv`: the file name with the 1-based part
/// number before its extensions.
pub fn part_name(file_name: &str, index: u32) -> String {
    let number = format!("part-{:04}", index + 1);
    match file_name.split_once('.') {
        Some((stem, extensions)) => format!("{stem}.{number}.{extensions}"),
        None => format!("{file_name}.{number}"),
    }
}

/// `sessions_all.manifest.json`.
pub fn manifest_name(file_name: &str) -> String {
    let stem = file_name
        .split_once('.')
        .map_or(file_name, |(stem, _)| stem);
    format!("{stem}.manifest.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_keep_their_extensions() {
        assert_eq!(
            part_name("sessions_2026-01-01_2026-01-31.csv.gz", 0),
            "sessions_2026-01-01_2026-01-31.part-0001.csv.gz"
        );
        assert_eq!(part_name("users_all.xlsx", 41), "users_all.part-0042.xlsx");
        assert_eq!(part_name("x", 0), "x.part-0001");
        assert_eq!(
            manifest_name("users_all.csv.zst"),
            "users_all.manifest.json"
        );
    }
}
