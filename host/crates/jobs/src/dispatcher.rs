//! Delivers due callbacks: every process runs one, and a claim in the
//! database makes sure each delivery is sent by one at a time. A failed
//! delivery (no answer, or an answer other than 2xx) is retried with
//! exponential backoff and jitter until `max_attempts`.

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::callbacks::signing::{SIGNATURE_HEADER, header_value};
use crate::callbacks::store::{self, Attempt, Next};
use crate::callbacks::target::TargetPolicy;
use exporter_store::db::Database;

use crate::links::JobLinks;
use crate::repo::JobRepo;
use crate::retry::{Decision, Failure, RetryPolicy};
use crate::view::JobView;
use exporter_auth::Coverage;
use exporter_store::db::now_micros;

/// Deliveries sent at once by one process.
const CONCURRENT: usize = 8;

/// What delivering a callback reads: the job, its callback's records, its
/// links.
#[derive(Clone)]
pub struct Deliveries {
    pub db: Database,
    pub repo: JobRepo,
    pub links: JobLinks,
}

/// How callbacks go out: the service's `[callbacks]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallbackSettings {
    /// Where callbacks may go.
    pub policy: TargetPolicy,
    /// Attempts per delivery (the first included) and the waits between
    /// them.
    pub retry: RetryPolicy,
    /// For one delivery request, connecting included.
    #[serde(with = "exporter_settings::duration")]
    pub timeout: Duration,
    /// How often each process looks for due callbacks.
    #[serde(with = "exporter_settings::duration")]
    pub poll_interval: Duration,
}

impl Default for CallbackSettings {
    fn default() -> Self {
        Self {
            policy: TargetPolicy::default(),
            retry: RetryPolicy {
                max_attempts: 8,
                base: Duration::from_secs(5),
                max: Duration::from_secs(3600),
            },
            timeout: Duration::from_secs(10),
            poll_interval: Duration::from_millis(250),
        }
    }
}

impl CallbackSettings {
    /// What makes no sense: no attempt, no time to deliver, no polling.
    pub fn validate(&self) -> Result<(), exporter_settings::Invalid> {
        self.retry.validate().map_err(|e| e.within("retry"))?;
        exporter_settings::first_invalid([
            ("timeout", !self.timeout.is_zero(), "positive"),
            ("poll_interval", !self.poll_interval.is_zero(), "positive"),
        ])
    }
}

/// Runs until `shutdown`.
pub async fn run_dispatcher(
    state: Deliveries,
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

async fn dispatch_due(state: &Deliveries, settings: &CallbackSettings) -> sqlx::Result<()> {
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
async fn deliver(state: &Deliveries, settings: &CallbackSettings, id: &str) -> sqlx::Result<()> {
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
    if let Some(refusal) = refusal(state, &job).await? {
        tracing::error!(job = %id, event = %event, error = %refusal, "callback not sent");
        let outcome = Attempt {
            event,
            attempt,
            at: now_micros(),
            http_status: None,
            error: Some(refusal),
            duration_ms: 0,
        };
        return store::record(&state.db, id, &outcome, Next::GaveUp).await;
    }
    let link = state.links.download(&job).await.ok().flatten();
    let mut view = JobView::new(&job, link);
    view.parts = state
        .links
        .published_parts(&state.db, &job)
        .await
        .ok()
        .flatten();
    let body = serde_json::to_vec(&view).expect("a view serializes");
    // Signed by the organization whose rows the job holds (its data's
    // owner), whoever created it; `refusal` has ruled out every
    // organization's.
    let signer = job.covered_organization_id.as_deref().unwrap_or_default();
    let secret = store::secret(&state.db, signer).await?;

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
    } else {
        let failure = match result.retry {
            true => Failure::Transient,
            false => Failure::Permanent,
        };
        match settings.retry.decide(attempt as u32, failure) {
            Decision::RetryAfter(wait) => {
                tracing::warn!(job = %id, event = %event, attempt, error = ?result.error, retry_in = ?wait, "callback failed");
                Next::RetryAt(now_micros() + wait.as_micros() as i64)
            }
            Decision::DeadLetter | Decision::FailNow => {
                tracing::error!(job = %id, event = %event, attempt, error = ?result.error, "callback given up");
                Next::GaveUp
            }
        }
    };
    store::record(&state.db, id, &outcome, next).await
}

/// Why job `job`'s callback must not be sent, if it must not. The payload
/// carries signed links to the job's files to a URL its creator chose, so
/// it goes only where the data's owner would expect: signed with that
/// organization's secret, and only while the creator may still read every
/// row (a Manager moved to another organization, demoted or deactivated
/// gets no link to data that is no longer theirs). An export of every
/// organization has no one owner whose secret could sign it: the create
/// handler refuses a callback on one, and an older one is never sent.
async fn refusal(state: &Deliveries, job: &crate::JobRecord) -> sqlx::Result<Option<String>> {
    let coverage = job.coverage();
    if coverage == Coverage::AllOrganizations {
        return Ok(Some(
            "an export of every organization's data has no organization to sign its callback"
                .to_owned(),
        ));
    }
    let creator = exporter_auth::current_user(&state.db, &job.created_by).await?;
    if !creator.is_some_and(|c| c.is_entitled_to(&coverage)) {
        return Ok(Some(
            "the job's creator may no longer read its data, so its callback was not sent"
                .to_owned(),
        ));
    }
    Ok(None)
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
        Err(e @ crate::callbacks::TargetError::Unresolved { .. }) => {
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
