//! The plugin's sink feeding a blob store upload. The stores know nothing
//! of plugins, so the adapter lives here, with the driver that joins them.

use exporter_runtime::ChunkSink;
use exporter_store::blob::{BlobStore, UploadHandle, UploadSink};
use object_store::path::Path as BlobPath;

/// A [`ChunkSink`] whose chunks go, with back-pressure, into an upload.
pub struct BlobSink(UploadSink);

impl ChunkSink for BlobSink {
    fn write(&mut self, chunk: Vec<u8>) -> anyhow::Result<()> {
        self.0.write(chunk)
    }
}

/// Starts an upload to `key`: the plugin writes into the sink; the handle
/// commits or aborts it once the export is over.
pub fn start_upload(store: &BlobStore, key: BlobPath) -> (BlobSink, UploadHandle) {
    let (sink, handle) = exporter_store::blob::start_upload(store, key);
    (BlobSink(sink), handle)
}
