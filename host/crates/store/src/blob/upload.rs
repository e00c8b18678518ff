//! A streaming upload: the plugin's chunks go, with back-pressure, into an
//! object_store multipart upload. Nothing is visible under the key until
//! the upload is committed (the store completes it atomically: a rename for
//! `file://`, CompleteMultipartUpload / Put Block List in the clouds); an
//! aborted or failed upload leaves nothing behind.

use bytes::Bytes;
use object_store::path::Path as BlobPath;
use object_store::{ObjectStoreExt as _, WriteMultipart};
use sha2::{Digest as _, Sha256};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::BlobStore;

/// Parts uploading at once; with the part being filled this bounds an
/// upload's memory to five parts (5 MiB locally, 25 MiB in the clouds)
/// whatever the file's size.
const PARTS_IN_FLIGHT: usize = 4;
/// Plugin chunks (64 KiB each) queued between the plugin and the upload.
const QUEUED_CHUNKS: usize = 16;

/// What a committed upload stored.
#[derive(Debug, Clone)]
pub struct Uploaded {
    pub key: BlobPath,
    pub size: u64,
    /// Lowercase hex sha256 of the stored bytes.
    pub sha256: String,
}

/// The writer's side: chunks fed to the upload, with back-pressure (the
/// export driver wraps it as the plugin's sink; the stores know nothing of
/// plugins).
pub struct UploadSink {
    tx: mpsc::Sender<Bytes>,
}

impl UploadSink {
    /// Queues one chunk; blocks while the upload is behind. Call it from a
    /// blocking thread, never from async code.
    pub fn write(&mut self, chunk: Vec<u8>) -> anyhow::Result<()> {
        self.tx
            .blocking_send(Bytes::from(chunk))
            .map_err(|_| anyhow::anyhow!("the upload to the blob store stopped"))
    }
}

/// The worker's side: commit or abort once the export is over.
pub struct UploadHandle {
    decision: oneshot::Sender<bool>,
    task: JoinHandle<anyhow::Result<Option<Uploaded>>>,
}

impl UploadHandle {
    /// Completes the upload: the file appears under its key, whole.
    pub async fn commit(self) -> anyhow::Result<Uploaded> {
        let _ = self.decision.send(true);
        match self.task.await {
            Ok(Ok(Some(uploaded))) => Ok(uploaded),
            Ok(Ok(None)) => anyhow::bail!("the upload was aborted"),
            Ok(Err(e)) => Err(e),
            Err(e) => anyhow::bail!("the upload task failed: {e}"),
        }
    }

    /// Abandons the upload; its parts are deleted.
    pub async fn abort(self) {
        let _ = self.decision.send(false);
        match self.task.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::debug!(error = %format!("{e:#}"), "upload already failed"),
            Err(e) => tracing::warn!(error = %e, "upload task failed"),
        }
    }

    /// The upload's own error, once the sink has seen it stop.
    pub async fn failure(self) -> Option<anyhow::Error> {
        let _ = self.decision.send(false);
        match self.task.await {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(e),
            Err(e) => Some(anyhow::anyhow!("the upload task failed: {e}")),
        }
    }
}

/// Starts a multipart upload to `key`.
pub fn start_upload(store: &BlobStore, key: BlobPath) -> (UploadSink, UploadHandle) {
    let (tx, rx) = mpsc::channel(QUEUED_CHUNKS);
    let (decision_tx, decision_rx) = oneshot::channel();
    let part_bytes = store.part_bytes();
    let store = store.object_store().clone();
    let task = tokio::spawn(async move {
        let upload = store.put_multipart(&key).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, part_bytes);
        match pump(&mut writer, rx).await {
            Ok((size, sha256)) => {
                if decision_rx.await != Ok(true) {
                    writer.abort().await?;
                    return Ok(None);
                }
                writer.finish().await?;
                Ok(Some(Uploaded { key, size, sha256 }))
            }
            Err(e) => {
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(error = %abort, "aborting a failed upload");
                }
                Err(e.into())
            }
        }
    });
    (
        UploadSink { tx },
        UploadHandle {
            decision: decision_tx,
            task,
        },
    )
}

/// Moves chunks into the upload until the sink is dropped.
async fn pump(
    writer: &mut WriteMultipart,
    mut rx: mpsc::Receiver<Bytes>,
) -> object_store::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = rx.recv().await {
        hasher.update(&chunk);
        size += chunk.len() as u64;
        writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
        writer.put(chunk);
    }
    Ok((size, hex::encode(hasher.finalize())))
}
