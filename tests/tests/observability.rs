//! What an operator reads: every line of a job's run names the job, whose
//! data it reads and the plugin that wrote it; every line of a request
//! names the request's id. Read from the service's own JSON log lines
//! (`EXPORTER_LOG_FORMAT=json`, the subscriber `exporter serve` installs),
//! and the text lines a person reads.

use std::sync::{Arc, Mutex};

use exporter::telemetry::{LogFormat, subscriber};
use exporter_tests::service::TestService;
use serde_json::{Value, json};
use tracing_subscriber::EnvFilter;

#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// Every line so far, each parsed: a line that is no JSON object fails.
    fn parsed(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|line| {
                serde_json::from_str::<Value>(line)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"))
            })
            .collect()
    }
}

/// What `format` writes for one event inside a job run's span (and one
/// filtered out).
fn logged(format: LogFormat) -> Lines {
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = subscriber(format, EnvFilter::new("info"), false, move || {
        writer.clone()
    });
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("export_run", job = "01JOB", organization = "acme");
        let _entered = span.enter();
        tracing::info!(rows = 3, "export completed");
        tracing::debug!("filtered out");
    });
    lines
}

#[test]
fn json_lines_are_objects_with_their_spans_fields() {
    let lines = logged(LogFormat::Json).parsed();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line = &lines[0];
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["fields"]["message"], "export completed");
    assert_eq!(line["fields"]["rows"], 3);
    assert_eq!(line["span"]["name"], "export_run");
    assert_eq!(line["span"]["job"], "01JOB");
    assert_eq!(line["spans"][0]["organization"], "acme");
}

#[test]
fn text_lines_name_their_span() {
    let text = logged(LogFormat::Text).text();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("export_run{job=\"01JOB\" organization=\"acme\"}"),
        "{text}"
    );
    assert!(text.contains("export completed rows=3"), "{text}");
}

/// The fields of span `name` among the line's enclosing spans.
fn span<'a>(line: &'a Value, name: &str) -> Option<&'a Value> {
    line["spans"]
        .as_array()?
        .iter()
        .find(|span| span["name"] == name)
}

#[tokio::test]
async fn a_jobs_lines_name_the_job_and_a_requests_lines_its_id() {
    let lines = Lines::default();
    let writer = lines.clone();
    let filter = EnvFilter::new("info,tower_http=debug");
    tracing::subscriber::set_global_default(subscriber(
        LogFormat::Json,
        filter,
        false,
        move || writer.clone(),
    ))
    .unwrap();

    let service = TestService::start().await;
    let token = service.token("admin@acme.test").await;
    let created: Value = service
        .post(&token, "/api/export-jobs")
        .header("x-request-id", "create-the-export")
        .json(&json!({"dataType": "users", "format": "csv"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let job = service.wait(&token, &id).await;
    assert_eq!(job["status"], "Completed", "{job}");
    let plugin = &job["file"]["plugin"];
    service.stop().await;

    let parsed = lines.parsed();
    let completed = parsed
        .iter()
        .find(|line| line["fields"]["message"] == "export completed")
        .unwrap_or_else(|| panic!("no completion line in {parsed:#?}"));
    let run = span(completed, "export_run").expect("the line is inside the run's span");
    assert_eq!(run["job"], id.as_str());
    let acme = exporter::source::demo::demo_id("organization", "acme");
    assert_eq!(run["organization"], acme.as_str());
    assert_eq!(run["covers"], acme.as_str());
    assert_eq!(run["data_type"], "users");
    assert_eq!(run["format"], "csv");
    assert_eq!(run["attempt"], 1);
    assert_eq!(run["plugin_version"], plugin["version"]);
    assert_eq!(run["plugin_sha256"], plugin["sha256"]);

    // tower-http's line for the request that created the job is inside
    // the request's span, which carries the caller's id.
    let answered = parsed
        .iter()
        .filter(|line| line["target"] == "tower_http::trace::on_response")
        .find(|line| {
            span(line, "request")
                .is_some_and(|request| request["request_id"] == "create-the-export")
        })
        .unwrap_or_else(|| panic!("no response line of the create request in {parsed:#?}"));
    let request = span(answered, "request").unwrap();
    assert_eq!(request["method"], "POST");
    assert_eq!(request["path"], "/api/export-jobs");
}
