//! Compiled components, cached in memory and on disk.
//!
//! Compiling a component with cranelift takes from a fraction of a second
//! (CSV) to seconds (a Python plugin); loading a precompiled artifact takes
//! milliseconds. Artifacts are keyed by the component's sha256 *and* the
//! engine's compatibility hash, so an upgraded host or a changed engine
//! setting never loads an artifact it cannot run.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The sha256 of a component's bytes, lower-case hex.
pub fn component_digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub(crate) struct ArtifactCache {
    dir: Option<PathBuf>,
    engine_key: String,
    compiled: Mutex<HashMap<String, Component>>,
    /// One lock per digest being compiled, so two exports asking for the
    /// same new plugin compile it once.
    compiling: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl ArtifactCache {
    pub(crate) fn new(engine: &Engine, dir: Option<PathBuf>) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Self {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
            compiled: Mutex::new(HashMap::new()),
            compiling: Mutex::new(HashMap::new()),
        }
    }

    /// The compiled component for `bytes` whose sha256 is `digest`.
    pub(crate) fn get_or_compile(
        &self,
        engine: &Engine,
        digest: &str,
        bytes: &[u8],
    ) -> anyhow::Result<Component> {
        if let Some(component) = self.lookup(digest) {
            return Ok(component);
        }
        let gate = {
            let mut compiling = self.compiling.lock().unwrap_or_else(|e| e.into_inner());
            compiling.entry(digest.to_owned()).or_default().clone()
        };
        let _guard = gate.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(component) = self.lookup(digest) {
            return Ok(component);
        }
        let component = match self.load_artifact(engine, digest) {
            Some(component) => component,
            None => {
                let started = std::time::Instant::now();
                let component = Component::new(engine, bytes)?;
                tracing::info!(digest, elapsed = ?started.elapsed(), "compiled plugin component");
                if let Err(error) = self.store_artifact(&component, digest) {
                    tracing::warn!(
                        digest,
                        error = format!("{error:#}"),
                        "could not cache compiled plugin"
                    );
                }
                component
            }
        };
        self.compiled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(digest.to_owned(), component.clone());
        self.compiling
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(digest);
        Ok(component)
    }

    fn lookup(&self, digest: &str) -> Option<Component> {
        self.compiled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(digest)
            .cloned()
    }

    fn artifact_path(&self, digest: &str) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|dir| dir.join(format!("{digest}-{}.cwasm", self.engine_key)))
    }

    fn load_artifact(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let path = self.artifact_path(digest)?;
        if !path.exists() {
            return None;
        }
        // SAFETY: the cache directory belongs to this service and artifacts
        // are written only by `store_artifact` below, from components this
        // engine compiled; the file name carries the engine's compatibility
        // key, and wasmtime re-checks that key in the artifact header.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(path = %path.display(), error = format!("{error:#}"), "ignoring unusable cached artifact");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    fn store_artifact(&self, component: &Component, digest: &str) -> anyhow::Result<()> {
        let Some(path) = self.artifact_path(digest) else {
            return Ok(());
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating cache directory {}", dir.display()))?;
        let bytes = component.serialize()?;
        // Write then rename: a concurrent reader sees a whole artifact or none.
        let mut temp = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(&mut temp, &bytes)?;
        temp.persist(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}
