//! Where finished files live: any object_store URL (`file://`, `s3://`,
//! `az://`, `gs://`), written by streaming multipart uploads and read back
//! by streaming (ranged) downloads.

pub mod compress;
mod links;
mod upload;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path as BlobPath;
use object_store::signer::Signer;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt as _, ObjectStoreScheme};

pub use compress::{CompressingSink, Compression};
pub use links::{LinkError, LinkSigner};
pub use upload::{UploadHandle, UploadSink, Uploaded, start_upload};

const LOCAL_PART_BYTES: usize = 1 << 20;
const CLOUD_PART_BYTES: usize = 5 << 20;

/// The configured blob store.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// Keys live under this prefix (the URL's path for cloud stores).
    prefix: BlobPath,
    /// Cloud stores sign their own download links.
    signer: Option<Arc<dyn Signer>>,
    /// The directory of a `file://` store, for housekeeping object_store
    /// does not do (staging files a crashed process left behind).
    local_root: Option<PathBuf>,
    url: String,
    /// Multipart part size: S3 (and GCS's XML API) need 5 MiB parts; the
    /// local filesystem has no minimum, and smaller parts keep an upload's
    /// buffers small.
    part_bytes: usize,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStore").field("url", &self.url).finish()
    }
}

impl BlobStore {
    /// Opens a store by URL. Cloud credentials come from the environment
    /// the way each cloud's SDKs read them (`AWS_*`, `AZURE_*`, `GOOGLE_*`).
    pub fn open(url: &str) -> anyhow::Result<Self> {
        let parsed = url::Url::parse(url).with_context(|| format!("parsing blob URL {url:?}"))?;
        let (scheme, path) = ObjectStoreScheme::parse(&parsed)
            .with_context(|| format!("unsupported blob URL {url:?}"))?;
        let redacted = format!(
            "{}://{}{}",
            parsed.scheme(),
            parsed.host_str().unwrap_or(""),
            parsed.path()
        );
        Ok(match scheme {
            ObjectStoreScheme::Local => {
                let dir = PathBuf::from(parsed.path());
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating blob directory {}", dir.display()))?;
                let store = LocalFileSystem::new_with_prefix(&dir)
                    .with_context(|| format!("opening blob directory {}", dir.display()))?
                    .with_automatic_cleanup(true);
                Self {
                    store: Arc::new(store),
                    prefix: BlobPath::default(),
                    signer: None,
                    local_root: Some(dir),
                    url: redacted,
                    part_bytes: LOCAL_PART_BYTES,
                }
            }
            ObjectStoreScheme::AmazonS3 => {
                let store = Arc::new(
                    object_store::aws::AmazonS3Builder::from_env()
                        .with_url(url)
                        .build()
                        .context("configuring the S3 blob store")?,
                );
                Self::cloud(store.clone(), store, path, redacted)
            }
            ObjectStoreScheme::MicrosoftAzure => {
                let store = Arc::new(
                    object_store::azure::MicrosoftAzureBuilder::from_env()
                        .with_url(url)
                        .build()
                        .context("configuring the Azure blob store")?,
                );
                Self::cloud(store.clone(), store, path, redacted)
            }
            ObjectStoreScheme::GoogleCloudStorage => {
                let store = Arc::new(
                    object_store::gcp::GoogleCloudStorageBuilder::from_env()
                        .with_url(url)
                        .build()
                        .context("configuring the GCS blob store")?,
                );
                Self::cloud(store.clone(), store, path, redacted)
            }
            other => anyhow::bail!(
                "blob URL {redacted:?} ({other:?}) is not supported: use file://, s3://, az:// or gs://"
            ),
        })
    }

    fn cloud(
        store: Arc<dyn ObjectStore>,
        signer: Arc<dyn Signer>,
        prefix: BlobPath,
        url: String,
    ) -> Self {
        Self {
            store,
            prefix,
            signer: Some(signer),
            local_root: None,
            url,
            part_bytes: CLOUD_PART_BYTES,
        }
    }

    /// The store's URL without credentials, for logs.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The key of a job's file.
    pub fn key(&self, organization_id: &str, job_id: &str, file_name: &str) -> BlobPath {
        let mut key = self.prefix.clone();
        for part in ["exports", organization_id, job_id, file_name] {
            key = key.join(part);
        }
        key
    }

    pub fn parse_key(&self, key: &str) -> anyhow::Result<BlobPath> {
        BlobPath::parse(key).with_context(|| format!("invalid blob key {key:?}"))
    }

    pub(crate) fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    pub(crate) fn part_bytes(&self) -> usize {
        self.part_bytes
    }

    /// Streams `range` (or all) of a file.
    pub async fn read(
        &self,
        key: &BlobPath,
        range: Option<std::ops::Range<u64>>,
    ) -> object_store::Result<BoxStream<'static, object_store::Result<Bytes>>> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..Default::default()
        };
        Ok(self.store.get_opts(key, options).await?.into_stream())
    }

    /// A small file whole (a manifest).
    pub async fn read_all(&self, key: &BlobPath) -> object_store::Result<Bytes> {
        self.store.get(key).await?.bytes().await
    }

    /// Deletes a file; a file already gone is not an error.
    pub async fn delete(&self, key: &BlobPath) -> object_store::Result<()> {
        match self.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A store-signed GET URL, when the store can sign (cloud stores).
    pub async fn presigned_url(
        &self,
        key: &BlobPath,
        ttl: Duration,
    ) -> Option<object_store::Result<url::Url>> {
        let signer = self.signer.as_ref()?;
        Some(
            signer
                .signed_url(object_store::signer::Method::GET, key, ttl)
                .await,
        )
    }

    /// Checks the store answers (for readiness).
    pub async fn ping(&self) -> object_store::Result<()> {
        use futures::StreamExt as _;
        let mut listing = self.store.list(Some(&self.prefix.clone().join("exports")));
        match listing.next().await {
            None | Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(e),
        }
    }

    /// Aborts what an earlier attempt left of the upload to `key`: on a
    /// `file://` store, its staging files (`<key>#<n>`), at once (the
    /// attempt's worker is known dead: its job was handed on). Cloud stores
    /// expire abandoned multipart uploads themselves (an S3 lifecycle rule;
    /// Azure drops uncommitted blocks after a week). Returns how many.
    pub fn abort_abandoned_upload(&self, key: &BlobPath) -> usize {
        let Some(root) = &self.local_root else {
            return 0;
        };
        let Some(name) = key.filename() else {
            return 0;
        };
        let path = key
            .parts()
            .skip(self.prefix.parts().count())
            .fold(root.clone(), |dir, part| dir.join(part.as_ref()));
        let Some(dir) = path.parent() else { return 0 };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        entries
            .flatten()
            .filter(|entry| {
                entry
                    .file_name()
                    .to_string_lossy()
                    .strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix('#'))
                    .is_some_and(is_staging_suffix)
            })
            .filter(|entry| std::fs::remove_file(entry.path()).is_ok())
            .count()
    }

    /// Removes staging files (`<key>#<n>`) a crashed process left in a
    /// `file://` store, if untouched for `age`. Returns how many.
    pub fn remove_stale_staging(&self, age: Duration) -> usize {
        let Some(root) = &self.local_root else {
            return 0;
        };
        let mut removed = 0;
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(meta) = entry.metadata() else { continue };
                if meta.is_dir() {
                    stack.push(path);
                    continue;
                }
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let staging = name
                    .rsplit_once('#')
                    .is_some_and(|(_, n)| is_staging_suffix(n));
                let old = meta
                    .modified()
                    .ok()
                    .and_then(|m| m.elapsed().ok())
                    .is_some_and(|elapsed| elapsed >= age);
                if staging && old && std::fs::remove_file(&path).is_ok() {
                    removed += 1;
                }
            }
        }
        removed
    }
}

/// The `<n>` of object_store's local staging file names (`<key>#<n>`).
fn is_staging_suffix(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
}
