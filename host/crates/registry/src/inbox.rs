//! The watched plugins directory: drop `NAME.wasm` in it and the service
//! installs it and, if it passes validation, activates it. The file then
//! moves to `installed/` or `refused/`, next to a `.report.json` saying why.
//!
//! A file is taken only once its size has stayed the same for one poll, so
//! a copy still in progress is never installed half-written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::{Installer, PluginRegistry, RegistryError};

/// How often the directory is looked at.
const POLL: Duration = Duration::from_secs(1);

/// Watches `dir` until `shutdown`.
pub async fn run_inbox(registry: PluginRegistry, dir: PathBuf, shutdown: CancellationToken) {
    if let Err(error) = std::fs::create_dir_all(&dir) {
        tracing::error!(dir = %dir.display(), error = %error, "cannot create the plugins inbox; not watching it");
        return;
    }
    tracing::info!(dir = %dir.display(), "watching for plugins to install");
    let mut sizes: HashMap<PathBuf, u64> = HashMap::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(POLL) => {}
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut seen = HashMap::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "wasm") {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let size = meta.len();
            if sizes.get(&path) == Some(&size) {
                take(&registry, &dir, &path).await;
            } else {
                seen.insert(path, size);
            }
        }
        sizes = seen;
    }
}

/// Installs one dropped file and files it away with its report.
async fn take(registry: &PluginRegistry, dir: &Path, path: &Path) {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => Bytes::from(bytes),
        Err(error) => {
            tracing::warn!(file = %path.display(), error = %error, "cannot read a dropped plugin");
            return;
        }
    };
    let installer = Installer {
        source: "watch",
        by: "system:watch".to_owned(),
    };
    let outcome = registry.install(bytes, None, &installer, true, None).await;
    let (folder, report) = match &outcome {
        Ok(installed) => ("installed", serde_json::to_value(installed)),
        Err(RegistryError::Refused(installed)) => ("refused", serde_json::to_value(installed)),
        Err(error) => (
            "refused",
            Ok(serde_json::json!({ "error": error.to_string() })),
        ),
    };
    match &outcome {
        Ok(installed) => tracing::info!(file = %path.display(), format = installed.version.name,
            version = installed.version.version, "installed and activated a dropped plugin"),
        Err(error) => {
            tracing::warn!(file = %path.display(), error = %error, "refused a dropped plugin")
        }
    }
    let target_dir = dir.join(folder);
    let file_name = path.file_name().unwrap_or_default();
    let moved = std::fs::create_dir_all(&target_dir)
        .and_then(|()| std::fs::rename(path, target_dir.join(file_name)));
    if let Err(error) = moved {
        tracing::warn!(file = %path.display(), error = %error, "cannot move a dropped plugin out of the inbox");
        // Never install the same file again in a loop.
        let _ = std::fs::remove_file(path);
    }
    let report_path = target_dir.join(format!("{}.report.json", file_name.to_string_lossy()));
    let text = report
        .ok()
        .and_then(|r| serde_json::to_string_pretty(&r).ok())
        .unwrap_or_default();
    if let Err(error) = std::fs::write(&report_path, text) {
        tracing::warn!(file = %report_path.display(), error = %error, "cannot write a plugin report");
    }
}
