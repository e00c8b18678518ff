//! An Azure blob store for real: Azurite (the Azure Storage emulator, from
//! npm; scripts/test.sh installs it) behind `exporter serve`. Exports upload
//! as block blobs, download through the API, and through a signed link (a
//! SAS URL that object_store's signer makes) with no token at all.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use exporter_tests::process::{Client, command, ended, listening, run, sha256_hex};
use hmac::{Hmac, Mac as _};
use serde_json::json;
use sha2::Sha256;

/// Azurite's well-known development account.
const ACCOUNT: &str = "devstoreaccount1";
const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const CONTAINER: &str = "exports";

/// Azurite's blob service on a free port, in memory; killed on drop.
struct Azurite {
    child: Child,
    url: String,
}

impl Azurite {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("azurite-blob")
            .args(["--silent", "--inMemoryPersistence", "--skipApiVersionCheck"])
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("azurite-blob is installed (npm install -g azurite; scripts/test.sh does)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "Azurite did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Creates a container with a Shared Key request (object_store does
    /// not create containers).
    async fn create_container(&self, name: &str) {
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let version = "2021-08-06";
        let string_to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{ACCOUNT}/{ACCOUNT}/{name}\nrestype:container"
        );
        let key = base64::engine::general_purpose::STANDARD
            .decode(KEY)
            .unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(string_to_sign.as_bytes());
        let signature =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let response = reqwest::Client::new()
            .put(format!("{}/{ACCOUNT}/{name}?restype=container", self.url))
            .header("x-ms-date", date)
            .header("x-ms-version", version)
            .header("Authorization", format!("SharedKey {ACCOUNT}:{signature}"))
            .header("Content-Length", "0")
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert_eq!(status, 201, "{}", response.text().await.unwrap());
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn exports_upload_to_azure_and_download_through_signed_links() {
    let azurite = Azurite::start();
    azurite.create_container(CONTAINER).await;
    let dir = tempfile::tempdir().unwrap();
    let azure = |mut command: Command| {
        command
            .env(
                "EXPORTER_BLOB_URL",
                format!("az://{CONTAINER}/tenant-files"),
            )
            .env("AZURE_STORAGE_USE_EMULATOR", "true")
            .env("AZURITE_BLOB_STORAGE_URL", &azurite.url)
            .env("EXPORTER_JWT_SECRET", "azure-test-secret");
        command
    };
    let mut serve = azure(command(dir.path()));
    serve.args(["serve", "--demo", "--listen", "127.0.0.1:0"]);
    let (child, url, _) = listening(serve);
    let _service = KillOnDrop(child);
    let out = run(azure(command(dir.path())).args(["token", "--user", "admin@acme.test"]));
    assert!(out.status.success(), "{out:?}");
    let client = Client {
        http: reqwest::Client::new(),
        url,
        token: String::from_utf8(out.stdout).unwrap().trim().to_owned(),
    };

    let id = client
        .create(json!({"dataType": "sessions", "format": "csv"}))
        .await;
    let job = client.wait(&id, Duration::from_secs(60), ended).await;
    assert_eq!(job["status"], "Completed", "{job}");
    let sha256 = job["file"]["sha256"].as_str().unwrap();
    let size = job["file"]["size"].as_u64().unwrap();
    assert!(size > 10_000, "{job}");

    // Through the API, which streams from the blob store.
    assert_eq!(sha256_hex(&client.download(&id).await), sha256);

    // Through the signed link: Azurite itself serves it, no token needed.
    let link = job["downloadUrl"].as_str().unwrap();
    assert!(
        link.starts_with(&azurite.url) && link.contains("sig="),
        "a SAS URL from the store's signer: {link}"
    );
    let response = reqwest::get(link).await.unwrap();
    assert_eq!(response.status(), 200);
    let signed = response.bytes().await.unwrap();
    assert_eq!(signed.len() as u64, size);
    assert_eq!(sha256_hex(&signed), sha256);
    let csv = String::from_utf8(signed.to_vec()).unwrap();
    assert!(csv.starts_with("id,"), "{}", &csv[..80.min(csv.len())]);

    // A tampered signature is refused by the store.
    let tampered = link.replace("sig=", "sig=AAAA");
    assert_eq!(reqwest::get(&tampered).await.unwrap().status(), 403);
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
