//! One subscriber to the job feed: the caller's jobs as Server-Sent Events.
//!
//! Each message is `event: job` with the job as `GET /api/export-jobs/{id}`
//! shows it, or `event: job-removed` with its id; its `id:` is the feed's
//! watermark, which a client sends back as `Last-Event-ID` when it
//! reconnects (browsers' `EventSource` does so itself) and is then sent
//! every job that changed since, as it is now. A client that was away
//! longer than the log keeps events is sent `event: reset`: re-read the
//! list. A new subscriber is sent `event: ready` first, carrying the id to
//! resume after even if no job of theirs changes; a client that reads the
//! jobs' state after `ready` (not before) misses no change in between.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc};

use super::feed::{build, coalesce};
use crate::extract::{AppQuery, Auth, storable};
use crate::problem::Problem;
use crate::responses::{BadRequest, Forbidden, NotFound};
use crate::state::AppState;
use exporter_auth::{Coverage, JobScope};
use exporter_jobs::events::{self, FeedEvent};

/// A comment line this often keeps proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Messages queued for one slow client before its task waits.
const QUEUE: usize = 64;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// Only this job's events.
    job_id: Option<String>,
    /// For clients that cannot set the `Last-Event-ID` header: the same.
    last_event_id: Option<String>,
}

/// Who receives an event: the caller's scope, and the job asked for.
struct Audience {
    scope: JobScope,
    job_id: Option<String>,
}

impl Audience {
    fn admits(&self, job_id: &str, coverage: &Coverage, created_by: &str) -> bool {
        self.job_id.as_deref().is_none_or(|id| id == job_id)
            && self.scope.admits(coverage, created_by)
    }
}

/// Follow export jobs as they change (Server-Sent Events).
#[utoipa::path(get, path = "/api/export-jobs/events", operation_id = "exportJobEvents", tag = "export jobs",
    params(EventParams, ("Last-Event-ID" = Option<String>, Header,
        description = "The `id` of the last message received: resume after it")),
    responses((status = 200, description = "`text/event-stream`: `event: job` (data: the job, as `GET /api/export-jobs/{id}` shows it), \
        `event: job-removed` (data: `{\"id\": ...}`), `event: ready` (first, on a new subscription), `event: reset` \
        (events were missed: re-read the list). Every message's `id` is what to resume after.",
            body = String, content_type = "text/event-stream"),
        (status = 400, response = BadRequest), (status = 403, response = Forbidden),
        (status = 404, response = NotFound)),
    security(("bearer" = [])))]
pub async fn events(
    State(state): State<AppState>,
    Auth(caller): Auth,
    headers: HeaderMap,
    AppQuery(params): AppQuery<EventParams>,
) -> Result<Response, Problem> {
    if !caller.can_use_export_jobs() {
        return Err(Problem::forbidden(
            "export jobs are for SuperAdmins, Admins and Managers",
        ));
    }
    let last = match headers.get("last-event-id") {
        Some(value) => Some(value.to_str().unwrap_or("\u{fffd}").to_owned()),
        None => params.last_event_id,
    }
    .map(|text| {
        text.trim()
            .parse::<i64>()
            .ok()
            .filter(|id| *id >= 0)
            .ok_or_else(|| {
                Problem::bad_request(
                    "invalid-last-event-id",
                    format!("Last-Event-ID must be the id of a message this stream sent (a number); received {text:?}"),
                )
            })
    })
    .transpose()?;
    if let Some(id) = &params.job_id {
        storable("jobId", id)?;
        let visible = state
            .repo
            .get(id)
            .await?
            .is_some_and(|job| caller.can_see_job(&job.coverage(), &job.created_by));
        if !visible {
            return Err(Problem::not_found("export job"));
        }
    }
    let audience = Audience {
        scope: caller.job_scope(),
        job_id: params.job_id,
    };
    let (receiver, joined) = state.events.subscribe().await;
    let (sender, messages) = mpsc::channel(QUEUE);
    tokio::spawn(follow(state, audience, last, receiver, joined, sender));
    let stream = futures::stream::unfold(messages, |mut messages| async move {
        messages
            .recv()
            .await
            .map(|event| (Ok::<_, Infallible>(event), messages))
    });
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    // Tells a buffering proxy (nginx) to pass each message on at once.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// Sends one subscriber its events until it goes away.
async fn follow(
    state: AppState,
    audience: Audience,
    last: Option<i64>,
    mut receiver: broadcast::Receiver<Arc<FeedEvent>>,
    joined: i64,
    sender: mpsc::Sender<Event>,
) {
    let mut sent = match last {
        Some(last) => {
            if replay(&state, &audience, last, joined, &sender)
                .await
                .is_err()
            {
                return;
            }
            joined.max(last)
        }
        None => {
            let ready = Event::default()
                .event("ready")
                .id(joined.to_string())
                .data("{}");
            if sender.send(ready).await.is_err() {
                return;
            }
            joined
        }
    };
    loop {
        let event = tokio::select! {
            () = sender.closed() => return,
            event = receiver.recv() => event,
        };
        match event {
            Ok(event) => {
                if audience.admits(&event.job_id, &event.coverage, &event.created_by)
                    && sender.send(message(&event)).await.is_err()
                {
                    return;
                }
                sent = sent.max(event.resume_after);
            }
            // Fell behind the feed: read what was skipped from the log.
            Err(broadcast::error::RecvError::Lagged(_)) => {
                let now = state.events.watermark();
                if replay(&state, &audience, sent, now, &sender).await.is_err() {
                    return;
                }
                sent = sent.max(now);
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Events were missed: the client re-reads the list, then resumes after
/// `until`.
fn reset(until: i64) -> Event {
    Event::default()
        .event("reset")
        .id(until.to_string())
        .data("{}")
}

fn message(event: &FeedEvent) -> Event {
    let id = event.resume_after.to_string();
    match &event.view {
        Some(view) => Event::default().event("job").id(id).data(view),
        None => Event::default()
            .event("job-removed")
            .id(id)
            .data(serde_json::json!({ "id": event.job_id }).to_string()),
    }
}

/// Sends the jobs that changed after `after`, each as it is now, with
/// `until` (the feed's watermark when the subscriber joined) to resume
/// after. It reads to the log's end, not to `until`: on PostgreSQL a change
/// above the watermark may have been broadcast before this subscriber
/// joined, and is sent twice rather than never. `Err` when the client went
/// away.
async fn replay(
    state: &AppState,
    audience: &Audience,
    after: i64,
    until: i64,
    sender: &mpsc::Sender<Event>,
) -> Result<(), ()> {
    // Events before the oldest kept are gone: the client must re-read.
    let gone = match events::oldest(&state.db).await {
        Ok(oldest) => oldest.is_some_and(|oldest| oldest > after + 1),
        Err(e) => {
            tracing::warn!(error = %e, "reading the job change log");
            true
        }
    };
    if gone {
        return sender.send(reset(until)).await.map_err(drop);
    }
    let mut changes = Vec::new();
    let mut cursor = after;
    loop {
        let page = match events::after(&state.db, cursor).await {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e, "replaying the job change log");
                return sender.send(reset(until)).await.map_err(drop);
            }
        };
        let Some(last) = page.last() else { break };
        cursor = last.id;
        changes.extend(page.into_iter().filter(|change| {
            audience.admits(&change.job_id, &change.coverage, &change.created_by)
        }));
    }
    for event in build(state, coalesce(changes), until).await {
        sender.send(message(&event)).await.map_err(drop)?;
    }
    Ok(())
}
