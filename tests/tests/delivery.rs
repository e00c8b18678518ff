//! Delivery beyond a single plain file, through the API: compressed
//! exports, read back by independent tools (Python's `gzip`, the `zstd`
//! command), and signed completion callbacks to a real HTTP receiver.

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use exporter_tests::python_read;
use exporter_tests::service::TestService;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

const ADMIN: &str = "admin@acme.test";

fn request(format: &str, compression: Option<&str>) -> Value {
    let mut body = json!({"dataType": "sessions", "format": format,
        "dateRange": {"from": "2026-01-01", "to": "2026-06-30"}});
    if let Some(compression) = compression {
        body["compression"] = json!(compression);
    }
    body
}

/// Decompresses with a tool that is not ours.
fn decompress(compression: &str, bytes: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.compressed");
    std::fs::write(&file, bytes).unwrap();
    let output = match compression {
        "gzip" => Command::new("python3")
            .args([
                "-c",
                "import gzip, sys; sys.stdout.buffer.write(gzip.open(sys.argv[1]).read())",
            ])
            .arg(&file)
            .output(),
        "zstd" => Command::new("zstd")
            .args(["--decompress", "--stdout", "--check"])
            .arg(&file)
            .output(),
        other => panic!("{other}"),
    }
    .unwrap_or_else(|e| {
        panic!("running the {compression} reader: {e} (scripts/test.sh installs it)")
    });
    assert!(
        output.status.success(),
        "{compression}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[tokio::test]
async fn compressed_exports_decompress_to_the_plain_file() {
    let service = TestService::start_with(3_000, |_| {}).await;
    let token = service.token(ADMIN).await;
    for format in ["csv", "xlsx"] {
        let (plain_job, _, plain) = service
            .export_and_download(&token, request(format, None))
            .await;
        assert!(plain_job.get("compression").is_none());
        assert!(plain_job["file"].get("uncompressedSize").is_none());
        let plain_type = plain_job["file"]["contentType"]
            .as_str()
            .unwrap()
            .to_owned();
        for (compression, extension, media_type) in [
            ("gzip", "gz", "application/gzip"),
            ("zstd", "zst", "application/zstd"),
        ] {
            let (job, headers, stored) = service
                .export_and_download(&token, request(format, Some(compression)))
                .await;
            let file = &job["file"];
            assert_eq!(job["compression"], compression);
            assert!(
                file["name"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!(".{format}.{extension}")),
                "{file}"
            );
            assert_eq!(file["contentType"], media_type);
            assert_eq!(headers["content-type"], media_type);
            // The stored bytes are served as they are: an HTTP client must
            // not undo the compression behind the caller's back, or the
            // sha256 and byte ranges would not match what it received.
            assert!(headers.get("content-encoding").is_none());
            assert!(
                headers["content-disposition"]
                    .to_str()
                    .unwrap()
                    .contains(&format!(".{format}.{extension}"))
            );
            assert_eq!(
                file["size"],
                stored.len() as u64,
                "size is of the stored bytes"
            );
            assert_eq!(file["sha256"], hex::encode(Sha256::digest(&stored)));
            assert_eq!(file["rows"], plain_job["file"]["rows"]);
            let unpacked = decompress(compression, &stored);
            assert_eq!(file["uncompressedSize"], unpacked.len() as u64);
            if format == "csv" {
                assert!(
                    unpacked == plain,
                    "{compression}: the CSV is byte for byte the plain export"
                );
                assert!(
                    stored.len() * 3 < plain.len(),
                    "{compression} compresses CSV"
                );
            } else {
                // A workbook records when it was made: compare what openpyxl
                // reads, not the bytes.
                assert_eq!(
                    python_read("xlsx", &unpacked, &[]),
                    python_read("xlsx", &plain, &[]),
                    "{compression}: the same {plain_type} workbook"
                );
            }
        }
    }

    // Anything else is the client's mistake, told in a problem.
    let response = service
        .post(&token, "/api/export-jobs")
        .json(&request("csv", Some("brotli")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("brotli") && detail.contains("gzip") && detail.contains("zstd"),
        "{detail}"
    );
    service.stop().await;
}

/// A real HTTP receiver: records every request and answers each path with
/// the statuses queued for it (then 200).
#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<Received>>>,
    answers: Arc<Mutex<HashMap<String, Vec<u16>>>>,
}

#[derive(Clone, Debug)]
struct Received {
    path: String,
    signature: String,
    event: String,
    body: Vec<u8>,
}

impl Receiver {
    async fn start(&self) -> String {
        let receiver = self.clone();
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let receiver = receiver.clone();
                async move {
                    let path = uri.path().to_owned();
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .map(|v| v.to_str().unwrap().to_owned())
                            .unwrap_or_default()
                    };
                    receiver.seen.lock().unwrap().push(Received {
                        path: path.clone(),
                        signature: header("exporter-signature"),
                        event: header("exporter-event"),
                        body: body.to_vec(),
                    });
                    let mut answers = receiver.answers.lock().unwrap();
                    let queued = answers.entry(path).or_default();
                    let status = if queued.is_empty() {
                        200
                    } else {
                        queued.remove(0)
                    };
                    axum::http::StatusCode::from_u16(status).unwrap()
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    fn answer(&self, path: &str, statuses: &[u16]) {
        self.answers
            .lock()
            .unwrap()
            .insert(path.to_owned(), statuses.to_vec());
    }

    fn received(&self, path: &str) -> Vec<Received> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

/// Creates a sessions export in `format` that calls back `url`; its id.
async fn create_with_callback(
    service: &TestService,
    token: &str,
    format: &str,
    url: &str,
) -> String {
    let mut body = request(format, None);
    body["callbackUrl"] = json!(url);
    service.create(token, body).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Polls the job until its callback is in `state`.
async fn callback_settles(service: &TestService, token: &str, id: &str, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let job = service.job(token, id).await;
        if job["callback"]["state"] == state {
            return job;
        }
        assert!(Instant::now() < deadline, "callback never {state}: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn callbacks_are_signed_retried_and_recorded() {
    let service = TestService::start_with(500, |config| {
        // The receiver is on loopback, which is refused by default.
        config.callbacks.policy.allow_private = true;
        config.callbacks.retry.base = Duration::from_millis(100);
        config.callbacks.retry.max_attempts = 3;
    })
    .await;
    let token = service.token(ADMIN).await;
    let receiver = Receiver::default();
    let base = receiver.start().await;
    let secret: Value = service.get_json(&token, "/api/callback-secret").await;
    let secret = secret["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));

    // Completed: the receiver fails once, then takes it.
    receiver.answer("/completed", &[500]);
    let mut body = request("csv", None);
    body["callbackUrl"] = json!(format!("{base}/completed"));
    let job = service.create(&token, body).await;
    let id = job["id"].as_str().unwrap().to_owned();
    assert_eq!(job["callback"]["url"], format!("{base}/completed"));
    let job = callback_settles(&service, &token, &id, "Delivered").await;
    assert_eq!(job["status"], "Completed");
    let attempts = job["callback"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{job}");
    assert_eq!(attempts[0]["httpStatus"], 500);
    assert!(attempts[0]["error"].as_str().unwrap().contains("500"));
    assert_eq!(attempts[1]["httpStatus"], 200);
    assert!(attempts[1].get("error").is_none());
    assert_eq!(attempts[1]["event"], "Completed");
    let deliveries = receiver.received("/completed");
    assert_eq!(deliveries.len(), 2);
    for delivery in &deliveries {
        assert_eq!(delivery.event, "export.completed");
        exporter::callbacks::signing::verify(
            &secret,
            &delivery.signature,
            &delivery.body,
            unix_now(),
            300,
        )
        .expect("signed with the organization's secret");
        let sent: Value = serde_json::from_slice(&delivery.body).unwrap();
        assert_eq!(sent["id"], id.as_str());
        assert_eq!(sent["status"], "Completed");
        assert_eq!(sent["file"]["sha256"], job["file"]["sha256"]);
        // What the plugin changed in the data reaches the receiver too.
        assert_eq!(sent["warnings"], json!([]), "{sent}");
        assert!(
            sent["downloadUrl"]
                .as_str()
                .unwrap()
                .contains("/api/files/")
        );
    }
    let mut tampered = deliveries[1].body.clone();
    tampered[1] ^= 1;
    assert!(
        exporter::callbacks::signing::verify(
            &secret,
            &deliveries[1].signature,
            &tampered,
            unix_now(),
            300
        )
        .is_err()
    );

    // A receiver that never takes it: given up after the last attempt.
    receiver.answer("/down", &[503, 503, 503]);
    let id = create_with_callback(&service, &token, "json", &format!("{base}/down")).await;
    let job = callback_settles(&service, &token, &id, "GaveUp").await;
    assert_eq!(job["callback"]["attempts"].as_array().unwrap().len(), 3);
    assert_eq!(receiver.received("/down").len(), 3);

    // After a rotation both secrets sign, so receivers switch without a gap.
    let rotated: Value = service
        .post(&token, "/api/callback-secret/rotate")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert!(rotated["previousValidUntil"].is_string());
    let id = create_with_callback(&service, &token, "csv", &format!("{base}/rotated")).await;
    callback_settles(&service, &token, &id, "Delivered").await;
    let delivery = &receiver.received("/rotated")[0];
    assert_eq!(delivery.signature.matches("v1=").count(), 2);
    for key in [&new_secret, &secret] {
        exporter::callbacks::signing::verify(
            key,
            &delivery.signature,
            &delivery.body,
            unix_now(),
            300,
        )
        .unwrap();
    }
    // Members cannot read the secret; Admins of another organization see their own.
    let member = service.token("member@acme.test").await;
    let response = service
        .get(&member, "/api/callback-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let globex = service.token("admin@globex.test").await;
    let theirs: Value = service.get_json(&globex, "/api/callback-secret").await;
    assert_ne!(theirs["secret"], new_secret.as_str());
    let response = service
        .get(
            &globex,
            &format!(
                "/api/callback-secret?organizationId={}",
                job["organizationId"].as_str().unwrap()
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    service.stop().await;
}

#[tokio::test]
async fn a_cancelled_job_calls_back_too() {
    // No worker: the job stays Pending until it is cancelled.
    let service = TestService::start_with(100, |config| {
        config.callbacks.policy.allow_private = true;
        config.worker.enabled = false;
    })
    .await;
    let token = service.token(ADMIN).await;
    let receiver = Receiver::default();
    let base = receiver.start().await;
    let id = create_with_callback(&service, &token, "csv", &format!("{base}/cancelled")).await;
    let response = service
        .delete(&token, &format!("/api/export-jobs/{id}"))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let job = callback_settles(&service, &token, &id, "Delivered").await;
    assert_eq!(job["status"], "Cancelled");
    let delivery = &receiver.received("/cancelled")[0];
    assert_eq!(delivery.event, "export.cancelled");
    let sent: Value = serde_json::from_slice(&delivery.body).unwrap();
    assert_eq!(sent["status"], "Cancelled");
    service.stop().await;
}

#[tokio::test]
async fn callback_urls_that_could_reach_inside_are_refused() {
    let service = TestService::start_with(100, |config| {
        config.callbacks.policy.allowed_hosts =
            vec!["hooks.example.com".into(), "127.0.0.1".into()];
    })
    .await;
    let token = service.token(ADMIN).await;
    for (url, reason) in [
        ("ftp://hooks.example.com/x", "http or https"),
        (
            "https://user:pw@hooks.example.com/x",
            "user name or password",
        ),
        (
            "https://other.example.com/x",
            "not one of the allowed hosts",
        ),
        // Allowed by name, but loopback: still refused.
        ("http://127.0.0.1:9/x", "internal address"),
        ("not a url", "not a URL"),
    ] {
        let mut body = request("csv", None);
        body["callbackUrl"] = json!(url);
        let response = service
            .post(&token, "/api/export-jobs")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{url}");
        let problem: Value = response.json().await.unwrap();
        assert!(
            problem["type"]
                .as_str()
                .unwrap()
                .ends_with("invalid-callback-url"),
            "{problem}"
        );
        assert!(
            problem["detail"].as_str().unwrap().contains(reason),
            "{url}: {problem}"
        );
    }
    service.stop().await;

    // Without an allow-list, a name is judged by what it resolves to.
    let service = TestService::start_with(100, |_| {}).await;
    let token = service.token(ADMIN).await;
    let mut body = request("csv", None);
    body["callbackUrl"] = json!("http://localhost:8080/hook");
    let response = service
        .post(&token, "/api/export-jobs")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("internal address"),
        "{problem}"
    );
    service.stop().await;
}

#[tokio::test]
async fn a_callback_is_signed_by_the_organization_whose_data_it_carries() {
    let service = TestService::start_with(100, |config| {
        config.callbacks.policy.allow_private = true;
    })
    .await;
    let superadmin = service.token("super@exporter.test").await;
    let acme_admin = service.token(ADMIN).await;
    let globex_admin = service.token("admin@globex.test").await;
    let acme: Value = service.get_json(&acme_admin, "/api/callback-secret").await;
    let globex: Value = service
        .get_json(&globex_admin, "/api/callback-secret")
        .await;
    let receiver = Receiver::default();
    let base = receiver.start().await;

    // A SuperAdmin (of acme) exports globex's data: its payload, with links
    // to globex's rows, is globex's to verify, not acme's.
    let mut body = request("csv", None);
    body["filters"] = json!({"organizationId": globex["organizationId"]});
    body["callbackUrl"] = json!(format!("{base}/globex"));
    let id = service.create(&superadmin, body).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    callback_settles(&service, &superadmin, &id, "Delivered").await;
    let delivery = &receiver.received("/globex")[0];
    let verify = |secret: &Value| {
        exporter::callbacks::signing::verify(
            secret["secret"].as_str().unwrap(),
            &delivery.signature,
            &delivery.body,
            unix_now(),
            300,
        )
    };
    verify(&globex).expect("signed with globex's secret");
    assert!(verify(&acme).is_err(), "not with acme's");

    // An export of every organization has no one owner to sign for it.
    let mut body = request("csv", None);
    body["callbackUrl"] = json!(format!("{base}/all"));
    let response = service
        .post(&superadmin, "/api/export-jobs")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("filters.organizationId"),
        "{problem}"
    );
    service.stop().await;
}

#[tokio::test]
async fn no_callback_goes_out_once_its_creator_may_no_longer_read_the_data() {
    // No worker: the job stays Pending until it is cancelled.
    let service = TestService::start_with(100, |config| {
        config.callbacks.policy.allow_private = true;
        config.worker.enabled = false;
    })
    .await;
    let manager = service.token("manager@acme.test").await;
    let admin = service.token(ADMIN).await;
    let receiver = Receiver::default();
    let base = receiver.start().await;
    let id = create_with_callback(&service, &manager, "csv", &format!("{base}/moved")).await;
    // The manager moves to globex. Their acme token names a user acme no
    // longer has, so it is refused; acme's Admin cancels the job instead.
    let db = exporter::service::open_database(&service.config)
        .await
        .unwrap();
    let globex = exporter::auth::find_user(&db, "admin@globex.test")
        .await
        .unwrap()
        .organization_id;
    exporter::db::execute(
        &db,
        "UPDATE users SET organization_id = ? WHERE email = ?",
        &[globex.as_str().into(), "manager@acme.test".into()],
    )
    .await
    .unwrap();
    db.close().await;
    let refused = service
        .get(&manager, &format!("/api/export-jobs/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let response = service
        .delete(&admin, &format!("/api/export-jobs/{id}"))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let job = callback_settles(&service, &admin, &id, "GaveUp").await;
    let attempts = job["callback"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{job}");
    assert!(
        attempts[0]["error"]
            .as_str()
            .unwrap()
            .contains("may no longer read"),
        "{job}"
    );
    assert!(receiver.received("/moved").is_empty());
    service.stop().await;
}
