//! Where finished files live: any object_store URL (`file://`, `s3://`,
//! `az://`, `gs://`), written by streaming multipart uploads and read back
//! by streaming (ranged) downloads.

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
    /// The last write probe, shared by the store's clones.
    readiness: Arc<tokio::sync::Mutex<Option<WriteProbe>>>,
}

/// When the store was last probed for writes, and its error if it failed.
type WriteProbe = (std::time::Instant, Option<String>);

/// How long a write probe's answer stands: readiness probes come every few
/// seconds from each orchestrator, and each probe is two store requests.
const READINESS_TTL: Duration = Duration::from_secs(2);

/// Where write probes go: beside `exports/` and `plugins/`, never a key
/// either uses.
const READINESS_PREFIX: &str = "readiness-probes";

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
                    readiness: Default::default(),
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
            readiness: Default::default(),
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

    /// The key of a file written by the run of a job that holds lease
    /// generation `lease`: every run stages and stores under its own
    /// folder, so a run never writes, publishes or deletes another's file.
    pub fn run_key(
        &self,
        organization_id: &str,
        job_id: &str,
        lease: i64,
        file_name: &str,
    ) -> BlobPath {
        let run = format!("run-{lease}");
        let mut key = self.prefix.clone();
        for part in ["exports", organization_id, job_id, &run, file_name] {
            key = key.join(part);
        }
        key
    }

    pub fn parse_key(&self, key: &str) -> anyhow::Result<BlobPath> {
        BlobPath::parse(key).with_context(|| format!("invalid blob key {key:?}"))
    }

    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
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

    /// Checks the store takes writes (for readiness): a small object put
    /// and deleted under [`READINESS_PREFIX`]. A store that lists but
    /// refuses writes (read-only, full, credentials without write access)
    /// cannot run exports. The answer stands for [`READINESS_TTL`].
    pub async fn check_writable(&self) -> Result<(), String> {
        let mut last = self.readiness.lock().await;
        if let Some((at, result)) = last.as_ref()
            && at.elapsed() < READINESS_TTL
        {
            return result.clone().map_or(Ok(()), Err);
        }
        let key = self
            .prefix
            .clone()
            .join(READINESS_PREFIX)
            .join(ulid::Ulid::generate().to_string());
        let result = match self
            .store
            .put(&key, Bytes::from_static(b"ready").into())
            .await
        {
            Ok(_) => self
                .delete(&key)
                .await
                .map_err(|e| format!("deleting {key}: {e}")),
            Err(e) => Err(format!("writing {key}: {e}")),
        };
        *last = Some((std::time::Instant::now(), result.clone().err()));
        result
    }

    /// Checks the store answers.
    pub async fn ping(&self) -> object_store::Result<()> {
        use futures::StreamExt as _;
        let mut listing = self.store.list(Some(&self.prefix.clone().join("exports")));
        match listing.next().await {
            None | Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(e),
        }
    }

    /// Aborts what the earlier runs of a job left staged on a `file://`
    /// store (their staging files, `<key>#<n>`, under any folder of the job
    /// but run `lease`'s own). Safe even when an earlier run is not dead
    /// but frozen: it stages under its own key, so it cannot publish
    /// another run's bytes, and its upload fails when it commits. Cloud
    /// stores expire abandoned multipart uploads themselves. Returns how
    /// many.
    pub fn abort_earlier_uploads(&self, organization_id: &str, job_id: &str, lease: i64) -> usize {
        let Some(root) = &self.local_root else {
            return 0;
        };
        let own = self.run_key(organization_id, job_id, lease, "-");
        let local = |key: &BlobPath| {
            key.parts()
                .skip(self.prefix.parts().count())
                .fold(root.clone(), |dir, part| dir.join(part.as_ref()))
        };
        let job_dir = local(&self.key(organization_id, job_id, "-"));
        let (Some(job_dir), Some(own_dir)) =
            (job_dir.parent(), local(&own).parent().map(Into::into))
        else {
            return 0;
        };
        let own_dir: PathBuf = own_dir;
        let mut removed = 0;
        let mut stack = vec![job_dir.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path == own_dir {
                    continue;
                }
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(path);
                    continue;
                }
                let staging = entry
                    .file_name()
                    .to_string_lossy()
                    .rsplit_once('#')
                    .is_some_and(|(_, n)| is_staging_suffix(n));
                if staging && std::fs::remove_file(&path).is_ok() {
                    removed += 1;
                }
            }
        }
        removed
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
