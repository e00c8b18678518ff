//! The API client the network commands share (`export`, `jobs`,
//! `formats`): the base URL checked before anything is sent, the bearer
//! token, and one place, [`ApiClient::send`], where every failure becomes
//! one line that says what happened and what to try: a refused
//! connection, TLS spoken to a plain-HTTP server, a timeout, a name that
//! does not resolve, a problem+json answer, an expired token. Downloads
//! are streamed into a temporary file next to the target and checked
//! against their sha256 before they take its name.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// Where the API is and who calls it.
#[derive(Debug, clap::Args)]
pub struct ConnectionArgs {
    /// The API's base URL, like http://127.0.0.1:8080 (no /api).
    #[arg(long, env = "EXPORTER_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// A bearer token (`exporter token --user EMAIL`).
    #[arg(long, env = "EXPORTER_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

impl ConnectionArgs {
    /// A client for the checked URL, with the token (which must be there).
    pub fn client(&self) -> anyhow::Result<ApiClient> {
        let base = base_url(&self.url).map_err(anyhow::Error::msg)?;
        let token = self
            .token
            .as_deref()
            .filter(|t| !t.trim().is_empty())
            .context(
                "no token: set EXPORTER_TOKEN or pass --token; `exporter token --user EMAIL` prints one (run it where the service keeps its data)",
            )?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .build()
            .context("starting the HTTP client")?;
        Ok(ApiClient {
            http,
            base,
            auth: format!("Bearer {}", token.trim()),
        })
    }
}

/// How long to wait for a connection: a service on this host answers at
/// once, a remote one within a few seconds.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a response may stall between two reads: the API answers
/// small requests at once and streams downloads without pauses.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The base URL as typed, checked: a scheme, a host, no `/api` (the
/// client appends the paths), no query. Trailing slashes are dropped.
pub fn base_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    let expected = "the expected form is http://HOST:PORT, like http://127.0.0.1:8080";
    let lower = text.to_ascii_lowercase();
    if !lower.starts_with("http://") && !lower.starts_with("https://") {
        return Err(format!(
            "the URL {text:?} has no http:// or https:// in front: {expected}"
        ));
    }
    let url = url::Url::parse(text)
        .map_err(|e| format!("the URL {text:?} is not a URL ({e}): {expected}"))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("the URL {text:?} names no host: {expected}"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "the URL {text:?} carries a query or fragment: {expected}"
        ));
    }
    let path = url.path().trim_end_matches('/');
    if path == "/api" || path.ends_with("/api") || path.contains("/api/") {
        let without = format!(
            "{}{}",
            url.origin().ascii_serialization(),
            &path[..path.find("/api").unwrap_or(path.len())]
        );
        return Err(format!(
            "the URL {text:?} includes /api, which the client adds itself: use {without}"
        ));
    }
    Ok(format!("{}{path}", url.origin().ascii_serialization()))
}

/// A client of one API, with one caller's token.
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    auth: String,
}

impl ApiClient {
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::GET, path)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::POST, path)
    }

    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::DELETE, path)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", &self.auth)
    }

    /// Sends `request`; a network failure or an error status becomes one
    /// line that says what happened and what to try.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> anyhow::Result<reqwest::Response> {
        let response = request
            .send()
            .await
            .map_err(|e| network_error(&self.base, &e))?;
        self.checked(response).await
    }

    /// A JSON answer; anything else says the URL is not the API's.
    pub async fn json(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = self.send(request).await?;
        let url = response.url().to_string();
        let text = response
            .text()
            .await
            .map_err(|e| network_error(&self.base, &e))?;
        serde_json::from_str(&text).map_err(|_| {
            anyhow::anyhow!(
                "{url} did not answer JSON: is {} the Exporter API's base URL?",
                self.base
            )
        })
    }

    /// The response, or an error carrying the server's problem detail and
    /// what to do about it.
    pub async fn checked(&self, response: reqwest::Response) -> anyhow::Result<reqwest::Response> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        let problem = serde_json::from_str::<Value>(&text).ok();
        let detail = problem
            .as_ref()
            .and_then(|p| p["detail"].as_str().or(p["title"].as_str()))
            .map(str::to_owned);
        let Some(detail) = detail else {
            // Not a problem+json: not our API, or a proxy in front of it.
            anyhow::bail!(
                "{} answered {status} without an Exporter problem report: is it the Exporter API's base URL (like http://127.0.0.1:8080)?",
                self.base
            );
        };
        match status.as_u16() {
            401 => anyhow::bail!(
                "the server refused the token ({detail}): get a new one with `exporter token --user EMAIL` and set EXPORTER_TOKEN"
            ),
            403 => anyhow::bail!("not allowed: {detail}"),
            _ => anyhow::bail!("the server answered {status}: {detail}"),
        }
    }

    /// Streams `path` into the file `out` (whole or not at all), checking
    /// its sha256; returns the bytes written.
    pub async fn download(
        &self,
        path: &str,
        out: &Path,
        expected_sha256: &str,
        size: u64,
    ) -> anyhow::Result<u64> {
        let response = self.send(self.get(path)).await?;
        let mut temp = super::out::temp_file_beside(out)?;
        let bar = match size {
            0 => ProgressBar::no_length(),
            size => ProgressBar::new(size),
        };
        bar.set_style(
            ProgressStyle::with_template(
                "downloading [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        let mut hasher = Sha256::new();
        let mut written = 0u64;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| network_error(&self.base, &e))?;
            hasher.update(&chunk);
            temp.write_all(&chunk)
                .with_context(|| format!("writing next to {}", out.display()))?;
            written += chunk.len() as u64;
            bar.set_position(written);
        }
        bar.finish_and_clear();
        let actual = hex::encode(hasher.finalize());
        anyhow::ensure!(
            actual == expected_sha256,
            "the download of {} is corrupt: sha256 {actual}, the server says {expected_sha256}",
            out.display()
        );
        temp.as_file().sync_all()?;
        temp.persist(out)
            .with_context(|| format!("writing {}", out.display()))?;
        Ok(written)
    }
}

/// A reqwest failure as one line: what happened at `base` and what to try.
pub fn network_error(base: &str, error: &reqwest::Error) -> anyhow::Error {
    let chain = error_chain(error);
    let lower = chain.to_ascii_lowercase();
    let http_base = base.replacen("https://", "http://", 1);
    let message = if lower.contains("invalidcontenttype")
        || lower.contains("wrong version number")
        || lower.contains("corrupt message")
        || lower.contains("invalid tls record")
        || (base.starts_with("https://") && lower.contains("tls") && lower.contains("eof"))
    {
        format!("{base} does not speak TLS (it looks like a plain-HTTP server): use {http_base}")
    } else if error.is_timeout() {
        format!(
            "{base} did not answer in time: is the service overloaded, or is the URL (--url or EXPORTER_URL) right?"
        )
    } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
        let host = url::Url::parse(base)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| base.to_owned());
        format!("cannot resolve the host {host}: check the URL (--url or EXPORTER_URL)")
    } else if lower.contains("connection refused") {
        format!(
            "nothing answers at {base}: is `exporter serve` running there? set --url or EXPORTER_URL"
        )
    } else if lower.contains("certificate") || lower.contains("unknownissuer") {
        format!("the TLS certificate of {base} is not trusted: {chain}")
    } else if error.is_connect() {
        format!(
            "cannot connect to {base} ({chain}): is the service running there? set --url or EXPORTER_URL"
        )
    } else if error.is_body() || error.is_decode() || lower.contains("connection reset") {
        format!("the connection to {base} broke off ({chain}): try again")
    } else {
        format!("talking to {base} failed: {chain}")
    };
    anyhow::anyhow!(message)
}

/// Every distinct message of the error's source chain, joined.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// Writes `text` to stdout; a reader that left (`| head`) ends the
/// output quietly. The network commands keep SIGPIPE ignored (see
/// `main.rs`), so this is their way to behave like other Unix tools.
pub fn print_out(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// The job's warnings, one line per code with its count and first
/// examples (`warnings: [{code, count, examples}]`; absent is none).
pub fn warning_lines(job: &Value) -> Vec<String> {
    let Some(warnings) = job["warnings"].as_array() else {
        return Vec::new();
    };
    warnings
        .iter()
        .filter_map(|w| {
            let code = w["code"].as_str()?;
            let count = w["count"].as_u64().unwrap_or(1);
            let examples: Vec<String> = w["examples"]
                .as_array()
                .map(|e| {
                    e.iter()
                        .filter_map(Value::as_str)
                        .take(3)
                        .map(|s| format!("{s:?}"))
                        .collect()
                })
                .unwrap_or_default();
            Some(match examples.is_empty() {
                true => format!("warning: {code} x{count}"),
                false => format!("warning: {code} x{count}, e.g. {}", examples.join(", ")),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked_and_say_the_expected_form() {
        assert_eq!(
            base_url("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            base_url("https://exports.example.com/exporter").unwrap(),
            "https://exports.example.com/exporter"
        );
        let no_scheme = base_url("127.0.0.1:8080").unwrap_err();
        assert!(no_scheme.contains("http://127.0.0.1:8080"), "{no_scheme}");
        let localhost = base_url("localhost:8080").unwrap_err();
        assert!(localhost.contains("no http://"), "{localhost}");
        let api = base_url("http://127.0.0.1:8080/api/").unwrap_err();
        assert!(api.contains("use http://127.0.0.1:8080"), "{api}");
        let api = base_url("http://h:1/api/export-jobs").unwrap_err();
        assert!(api.contains("use http://h:1"), "{api}");
    }

    #[test]
    fn warnings_print_one_line_per_code() {
        let job = serde_json::json!({"warnings": [
            {"code": "cell-truncated", "count": 12, "examples": ["a", "b", "c", "d"]},
            {"code": "other", "count": 1, "examples": []}
        ]});
        assert_eq!(
            warning_lines(&job),
            vec![
                "warning: cell-truncated x12, e.g. \"a\", \"b\", \"c\"".to_owned(),
                "warning: other x1".to_owned()
            ]
        );
        assert!(warning_lines(&serde_json::json!({})).is_empty());
    }
}
