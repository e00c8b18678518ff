//! The job event stream (`GET /api/export-jobs/events`): a job followed
//! through its whole life, a reconnect with `Last-Event-ID` that misses
//! nothing, and no tenant ever sent another's events. Runs on SQLite, and
//! on PostgreSQL in the suite's second pass (where event ids come from a
//! sequence and can commit out of order).

use std::time::{Duration, Instant};

use eventsource_stream::{Event, Eventsource as _};
use exporter_tests::service::TestService;
use futures::{Stream, StreamExt as _};
use serde_json::{Value, json};

const ACME_MANAGER: &str = "manager@acme.test";
const ACME_ADMIN: &str = "admin@acme.test";
const GLOBEX_MANAGER: &str = "manager@globex.test";
const MEMBER: &str = "member@acme.test";

type Events = std::pin::Pin<Box<dyn Stream<Item = Event> + Send>>;

/// Opens the stream as `token`, after `last_event_id` if given.
async fn subscribe(
    service: &TestService,
    token: &str,
    query: &str,
    last_event_id: Option<&str>,
) -> Events {
    let mut request = service
        .get(token, &format!("/api/export-jobs/events{query}"))
        .header("Accept", "text/event-stream");
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    let response = request.send().await.expect("subscribe");
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    Box::pin(
        response
            .bytes_stream()
            .eventsource()
            .map(|event| event.expect("a well-formed event")),
    )
}

/// The next event, or None when none comes within `wait`.
async fn next(events: &mut Events, wait: Duration) -> Option<Event> {
    tokio::time::timeout(wait, events.next())
        .await
        .ok()
        .flatten()
}

/// Reads events until `done` holds for a job event; returns every event read.
async fn until(
    events: &mut Events,
    what: &str,
    mut done: impl FnMut(&Event) -> bool,
) -> Vec<Event> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = next(events, left)
            .await
            .unwrap_or_else(|| panic!("no event for {what}; saw {:?}", summary(&seen)));
        let stop = done(&event);
        seen.push(event);
        if stop {
            return seen;
        }
    }
}

fn job(event: &Event) -> Option<Value> {
    (event.event == "job").then(|| serde_json::from_str(&event.data).expect("job JSON"))
}

fn is_job(event: &Event, id: &str, status: &str) -> bool {
    job(event).is_some_and(|job| job["id"] == id && job["status"] == status)
}

fn summary(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| match job(e) {
            Some(job) => format!("{}#{} {} {}", e.event, e.id, job["id"], job["status"]),
            None => format!("{}#{}", e.event, e.id),
        })
        .collect()
}

fn sessions_csv() -> Value {
    json!({"dataType": "sessions", "format": "csv",
           "dateRange": {"from": "2026-01-01", "to": "2026-01-31"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_followed_through_its_life_and_a_reconnect_misses_nothing() {
    let service = TestService::start().await;
    let manager = service.token(ACME_MANAGER).await;
    let admin = service.token(ACME_ADMIN).await;
    let globex = service.token(GLOBEX_MANAGER).await;

    let mut mine = subscribe(&service, &manager, "", None).await;
    let mut admins = subscribe(&service, &admin, "", None).await;
    let mut others = subscribe(&service, &globex, "", None).await;
    for events in [&mut mine, &mut admins, &mut others] {
        let ready = next(events, Duration::from_secs(10)).await.expect("ready");
        assert_eq!(ready.event, "ready");
        assert!(ready.id.parse::<i64>().is_ok(), "{ready:?}");
    }

    // The whole life of a job, without one poll.
    let first = service.create(&manager, sessions_csv()).await;
    let first_id = first["id"].as_str().unwrap().to_owned();
    let seen = until(&mut mine, "the first job's completion", |e| {
        is_job(e, &first_id, "Completed")
    })
    .await;
    let completed = job(seen.last().unwrap()).unwrap();
    assert!(
        completed["file"]["rows"].as_u64().unwrap() > 0,
        "{completed}"
    );
    assert!(
        completed["downloadUrl"].is_string(),
        "the event carries what GET shows: {completed}"
    );
    let polled = service.job(&manager, &first_id).await;
    assert_eq!(polled["status"], "Completed");
    assert_eq!(polled["file"], completed["file"]);
    // Ids only grow, so a client's last one is what it resumes after.
    let ids: Vec<i64> = seen.iter().map(|e| e.id.parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] <= w[1]), "{ids:?}");
    let resume_after = seen.last().unwrap().id.clone();
    drop(mine);

    // Away: a second job runs its whole life, and the first is deleted.
    let second = service.create(&manager, sessions_csv()).await;
    let second_id = second["id"].as_str().unwrap().to_owned();
    assert_eq!(
        service.wait(&manager, &second_id).await["status"],
        "Completed"
    );
    let deleted = service
        .delete(&manager, &format!("/api/export-jobs/{first_id}"))
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());

    // Back with Last-Event-ID: both changes arrive, as they stand now.
    let mut back = subscribe(&service, &manager, "", Some(&resume_after)).await;
    let mut completed_second = false;
    let mut first_removed_or_gone = false;
    let seen = until(&mut back, "what happened while away", |e| {
        completed_second |= is_job(e, &second_id, "Completed");
        first_removed_or_gone |= e.event == "job-removed"
            && serde_json::from_str::<Value>(&e.data).unwrap()["id"] == first_id.as_str()
            || job(e).is_some_and(|j| j["id"] == first_id.as_str() && j["status"] != "Completed");
        completed_second && first_removed_or_gone
    })
    .await;
    assert!(
        seen.iter().all(|e| e.event != "ready"),
        "a resumed stream replays, it does not start over: {:?}",
        summary(&seen)
    );

    // The same Admin saw the Manager's jobs (they cover acme).
    until(&mut admins, "the Admin's view of the second job", |e| {
        is_job(e, &second_id, "Completed")
    })
    .await;

    // Globex's own job reaches globex; nothing of acme's ever did.
    let theirs = service.create(&globex, sessions_csv()).await;
    let theirs_id = theirs["id"].as_str().unwrap().to_owned();
    let seen = until(&mut others, "globex's own job", |e| {
        is_job(e, &theirs_id, "Completed")
    })
    .await;
    for event in &seen {
        if let Some(job) = job(event) {
            assert_eq!(job["id"], theirs_id.as_str(), "{:?}", summary(&seen));
        }
        assert_ne!(event.event, "job-removed", "{:?}", summary(&seen));
    }
    // And nothing of globex's reaches acme's Manager or Admin.
    let mut late = subscribe(&service, &manager, "", Some(&resume_after)).await;
    let replayed = until(&mut late, "the replay's last job", |e| {
        is_job(e, &second_id, "Completed")
    })
    .await;
    for stream in [&mut admins, &mut late] {
        while let Some(event) = next(stream, Duration::from_millis(800)).await {
            assert!(
                !event.data.contains(&theirs_id),
                "acme was sent globex's job: {event:?}"
            );
        }
    }
    assert!(replayed.iter().all(|e| !e.data.contains(&theirs_id)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_jobs_stream_and_the_refusals() {
    let service = TestService::start().await;
    let manager = service.token(ACME_MANAGER).await;
    let globex = service.token(GLOBEX_MANAGER).await;
    let member = service.token(MEMBER).await;

    let created = service.create(&manager, sessions_csv()).await;
    let id = created["id"].as_str().unwrap();
    let mut one = subscribe(&service, &manager, &format!("?jobId={id}"), None).await;
    let other = service.create(&manager, sessions_csv()).await;
    let other_id = other["id"].as_str().unwrap();
    let seen = until(&mut one, "the job's end", |e| is_job(e, id, "Completed")).await;
    assert!(
        seen.iter().all(|e| !e.data.contains(other_id)),
        "?jobId= sends only that job: {:?}",
        summary(&seen)
    );

    let status = |response: reqwest::Response| response.status().as_u16();
    let path = "/api/export-jobs/events";
    assert_eq!(
        status(service.get(&member, path).send().await.unwrap()),
        403
    );
    assert_eq!(
        status(
            service
                .get(&globex, &format!("{path}?jobId={id}"))
                .send()
                .await
                .unwrap()
        ),
        404,
        "another tenant's job is not found"
    );
    let bad = service
        .get(&manager, path)
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let problem: Value = bad.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("yesterday"),
        "{problem}"
    );
    let anonymous = service
        .client
        .get(format!("{}{path}", service.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}
