//! Delivers due callbacks: every process runs one, and a claim in the
//! database makes sure each delivery is sent by one at a time. A failed
//! delivery (no answer, or an answer other than 2xx) is retried with
//! exponential backoff and jitter until `max_attempts`.

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;

use super::signing::{SIGNATURE_HEADER, header_value};
use super::store::{self, Attempt, Next};
use super::target::TargetPolicy;
use crate::api::{AppState, JobView, download_link, published_parts};
use crate::db::now_micros;
use crate::jobs::runner::backoff;

/// Deliveries sent at once by one process.
const CONCURRENT: usize = 8;

#[derive(Debug, Clone)]
pub struct CallbackSettings {
    pub policy: TargetPolicy,
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// For one request, connection included.
    pub timeout: Duration,
    pub poll_interval: Duration,
}

/// Runs until `shutdown`.
pub async fn run_dispatcher(
    state: AppState,
    settings: CallbackSettings,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(settings.poll_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        if let Err(e) = dispatch_due(&state, &settings).await {
            tracing::warn!(error = %e, "looking for due callbacks failed");
        }
    }
}

async fn dispatch_due(state: &AppState, settings: &CallbackSettings) -> sqlx::Result<()> {
    let due = store::due(&state.db, 64).await?;
    futures::stream::iter(due)
        .for_each_concurrent(CONCURRENT, |id| async move {
            // Long enough for the request and its bookkeeping.
            let until = now_micros() + (settings.timeout * 3).as_micros() as i64;
            match store::claim(&state.db, &id, until).await {
                Ok(true) => {
                    if let Err(e) = deliver(state, settings, &id).await {
                        tracing::warn!(job = %id, error = %e, "recording a callback failed");
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(job = %id, error = %e, "claiming a callback failed"),
            }
        })
        .await;
    Ok(())
}

/// One attempt of the claimed delivery for job `id`.
async fn deliver(state: &AppState, settings: &CallbackSettings, id: &str) -> sqlx::Result<()> {
    let Some(job) = state.repo.get(id).await? else {
        return Ok(());
    };
    let (Some(url), Some(callback)) = (
        job.callback_url.clone(),
        store::state_of(&state.db, id).await?,
    ) else {
        return Ok(());
    };
    let event = callback
        .callback_event
        .unwrap_or_else(|| job.status.clone());
    let attempt = callback.callback_attempts + 1;
    let link = download_link(state, &job).await.ok().flatten();
    let mut view = JobView::new(&job, link);
    view.parts = published_parts(state, &job).await.ok().flatten();
    let body = serde_json::to_vec(&view).expect("a view serializes");
    let secret = store::secret(&state.db, &job.organization_id).await?;

    let started = Instant::now();
    let result = send(
        settings,
        &url,
        &event,
        id,
        attempt,
        &secret.signing(now_micros()),
        body,
    )
    .await;
    let outcome = Attempt {
        event: event.clone(),
        attempt,
        at: now_micros(),
        http_status: result.status.map(i64::from),
        error: result.error.clone(),
        duration_ms: started.elapsed().as_millis() as i64,
    };
    let next = if result.error.is_none() {
        tracing::info!(job = %id, event = %event, attempt, "callback delivered");
        Next::Delivered
    } else if !result.retry || attempt >= i64::from(settings.max_attempts) {
        tracing::error!(job = %id, event = %event, attempt, error = ?result.error, "callback given up");
        Next::GaveUp
    } else {
        let wait = backoff(attempt as u32, settings.retry_base, settings.retry_max);
        tracing::warn!(job = %id, event = %event, attempt, error = ?result.error, retry_in = ?wait, "callback failed");
        Next::RetryAt(now_micros() + wait.as_micros() as i64)
    };
    store::record(&state.db, id, &outcome, next).await
}

struct Sent {
    status: Option<u16>,
    /// None when delivered.
    error: Option<String>,
    /// Whether another attempt could succeed.
    retry: bool,
}

async fn send(
    settings: &CallbackSettings,
    url: &str,
    event: &str,
    id: &str,
    attempt: i64,
    secrets: &[&str],
    body: Vec<u8>,
) -> Sent {
    let failed = |error: String, retry: bool| Sent {
        status: None,
        error: Some(error),
        retry,
    };
    // Checked again at every attempt: the policy may have changed, and a
    // name may now resolve elsewhere.
    let url = match settings.policy.check_url(url) {
        Ok(url) => url,
        Err(e) => return failed(e.to_string(), false),
    };
    let addresses = match settings.policy.resolve(&url).await {
        Ok(addresses) => addresses,
        Err(e @ super::target::TargetError::Unresolved { .. }) => {
            return failed(e.to_string(), true);
        }
        Err(e) => return failed(e.to_string(), false),
    };
    let host = url.host_str().unwrap_or_default().to_owned();
    // Connect only to the addresses just checked; follow no redirect (it
    // could point anywhere).
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.timeout)
        .resolve_to_addrs(&host, &addresses)
        .user_agent(concat!("exporter/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(e) => return failed(format!("building the HTTP client: {e}"), true),
    };
    let timestamp = now_micros() / 1_000_000;
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, header_value(secrets, timestamp, &body))
        .header(
            "Exporter-Event",
            format!("export.{}", event.to_ascii_lowercase()),
        )
        .header("Exporter-Delivery", format!("{id}:{event}:{attempt}"))
        .body(body)
        .send()
        .await;
    match response {
        Ok(response) if response.status().is_success() => Sent {
            status: Some(response.status().as_u16()),
            error: None,
            retry: false,
        },
        Ok(response) => Sent {
            status: Some(response.status().as_u16()),
            error: Some(format!("the receiver answered {}", response.status())),
            retry: true,
        },
        Err(e) => failed(format!("{e}"), true),
    }
}
