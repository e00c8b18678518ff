//! The job service end to end: the real app on port 0 with a SQLite file,
//! a local blob store and the real plugins; files read back by Python.

use exporter::blob::LinkSigner;
use exporter::config::Secret;
use exporter_tests::python_read;
use exporter_tests::service::{SECRET, TestService};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

const ADMIN: &str = "admin@acme.test";
const MANAGER: &str = "manager@acme.test";
const MEMBER: &str = "member@acme.test";
const SUPER: &str = "super@exporter.test";
const GLOBEX_ADMIN: &str = "admin@globex.test";
const GLOBEX_MANAGER: &str = "manager@globex.test";

fn january(data_type: &str, format: &str) -> Value {
    json!({"dataType": data_type, "format": format, "dateRange": {"from": "2026-01-01", "to": "2026-03-31"}})
}

async fn problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status, "{:?}", response.headers());
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "errors are RFC 9457 problems"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:exporter:problem:")
    );
    body
}

async fn download(service: &TestService, token: &str, id: &str) -> Vec<u8> {
    let response = service
        .get(token, &format!("/api/export-jobs/{id}/download"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn every_dataset_and_format_completes_and_reads_back() {
    let service = TestService::start().await;
    let token = service.token(ADMIN).await;
    for data_type in ["sessions", "users", "analytics"] {
        for format in ["csv", "json", "ndjson"] {
            let created = service.create(&token, january(data_type, format)).await;
            assert_eq!(created["status"], "Pending");
            let id = created["id"].as_str().unwrap();
            let job = service.wait(&token, id).await;
            assert_eq!(job["status"], "Completed", "{job}");
            let file = &job["file"];
            assert_eq!(file["plugin"]["name"], format);
            assert!(!file["plugin"]["version"].as_str().unwrap().is_empty());
            assert_eq!(job["progress"]["percent"], 100.0);
            assert_eq!(job["progress"]["totalRows"], file["rows"]);

            let bytes = download(&service, &token, id).await;
            assert_eq!(bytes.len() as u64, file["size"].as_u64().unwrap());
            assert_eq!(hex::encode(Sha256::digest(&bytes)), file["sha256"]);
            // The signed link needs no token and serves the same bytes.
            let url = job["downloadUrl"].as_str().unwrap();
            let linked = service.client.get(url).send().await.unwrap();
            assert_eq!(linked.status(), 200);
            assert_eq!(linked.bytes().await.unwrap().to_vec(), bytes);

            let parsed = python_read(format, &bytes, &[]);
            let rows = file["rows"].as_u64().unwrap() as usize;
            let read_rows = match format {
                "csv" => parsed.as_array().unwrap().len() - 1,
                _ => parsed.as_array().unwrap().len(),
            };
            assert_eq!(read_rows, rows, "{data_type}.{format}");
            assert!(rows > 0, "the demo has {data_type} in the range");
        }
    }
    service.stop().await;
}

#[tokio::test]
async fn csv_and_json_carry_the_same_rows() {
    let service = TestService::start().await;
    let token = service.token(ADMIN).await;
    let mut body = january("sessions", "csv");
    body["columns"] = json!(["id", "user_email", "device", "pages_viewed"]);
    let csv_job = service.create(&token, body.clone()).await;
    body["format"] = json!("json");
    let json_job = service.create(&token, body).await;
    let csv_id = csv_job["id"].as_str().unwrap();
    let json_id = json_job["id"].as_str().unwrap();
    service.wait(&token, csv_id).await;
    service.wait(&token, json_id).await;
    let csv = python_read("csv", &download(&service, &token, csv_id).await, &[]);
    let json = python_read("json", &download(&service, &token, json_id).await, &[]);
    let csv = csv.as_array().unwrap();
    let json = json.as_array().unwrap();
    assert_eq!(
        csv[0],
        json!(["id", "user_email", "device", "pages_viewed"])
    );
    assert_eq!(csv.len() - 1, json.len());
    for (row, object) in csv[1..].iter().zip(json) {
        assert_eq!(row[0], object["id"]);
        assert_eq!(row[1], object["user_email"]);
        let device = object["device"].as_str().unwrap_or("");
        assert_eq!(row[2], device);
        assert_eq!(row[3].as_str().unwrap(), object["pages_viewed"].to_string());
    }
    service.stop().await;
}

#[tokio::test]
async fn bad_requests_get_problems_never_500() {
    let service = TestService::start().await;
    let token = service.token(ADMIN).await;
    let post = |body: &'static str, content_type: &'static str| {
        service
            .post(&token, "/api/export-jobs")
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    problem(post("{not json", "application/json").await.unwrap(), 400).await;
    problem(
        post(r#"{"format":"csv"}"#, "application/json")
            .await
            .unwrap(),
        422,
    )
    .await;
    problem(
        post(r#"{"dataType":"sessions","format":"csv"}"#, "text/plain")
            .await
            .unwrap(),
        415,
    )
    .await;
    let cases = [
        (
            json!({"dataType": "sessions", "format": "csv", "colums": []}),
            "colums",
        ),
        (json!({"dataType": "payroll", "format": "csv"}), "payroll"),
        (
            json!({"dataType": "sessions", "format": "docx"}),
            "csv, json, ndjson",
        ),
        (
            json!({"dataType": "sessions", "format": "csv", "dateRange": {"from": "2026-02-30"}}),
            "dateRange.from",
        ),
        (
            json!({"dataType": "sessions", "format": "csv", "dateRange": {"from": "2026-02-01", "to": "2026-01-01"}}),
            "ends before",
        ),
        (
            json!({"dataType": "sessions", "format": "csv", "columns": ["id", "password"]}),
            "password",
        ),
        (
            json!({"dataType": "sessions", "format": "csv", "options": {"delimiter": "ab"}}),
            "delimiter",
        ),
        (
            json!({"dataType": "sessions", "format": "csv", "options": {"colour": "red"}}),
            "colour",
        ),
        (
            json!({"dataType": "sessions", "format": "parquet"}),
            "parquet",
        ),
    ];
    for (body, mentions) in cases {
        let response = service
            .post(&token, "/api/export-jobs")
            .json(&body)
            .send()
            .await
            .unwrap();
        let problem = problem(response, 422).await;
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(mentions), "{body}: {detail}");
    }
    let huge = format!(
        r#"{{"dataType":"sessions","format":"csv","columns":["{}"]}}"#,
        "x".repeat(100_000)
    );
    let response = service
        .post(&token, "/api/export-jobs")
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    problem(response, 413).await;
    problem(
        service
            .get(&token, "/api/nothing-here")
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    problem(
        service
            .client
            .put(format!("{}/api/export-jobs", service.url))
            .send()
            .await
            .unwrap(),
        405,
    )
    .await;
    problem(
        service
            .get(&token, "/api/export-jobs?limit=0")
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    problem(
        service
            .get(&token, "/api/export-jobs?status=Done")
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    problem(
        service
            .get(&token, "/api/export-jobs?cursor=zzz")
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    problem(
        service
            .get(&token, "/api/export-jobs?sort=id")
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    // Nothing was created by any of that.
    let list: Value = service
        .get(&token, "/api/export-jobs")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    service.stop().await;
}

#[tokio::test]
async fn tokens_and_roles_are_enforced() {
    let service = TestService::start().await;
    let jobs = format!("{}/api/export-jobs", service.url);
    let response = service.client.get(&jobs).send().await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    problem(response, 401).await;
    problem(
        service
            .client
            .get(&jobs)
            .bearer_auth("not.a.token")
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    let forged = exporter::auth::TokenKeys::from_secret(&Secret::new("another secret"))
        .issue(
            &exporter::auth::Caller {
                user_id: "x".into(),
                organization_id: "y".into(),
                role: exporter::auth::Role::SuperAdmin,
            },
            None,
            std::time::Duration::from_secs(60),
        )
        .unwrap();
    problem(
        service
            .client
            .get(&jobs)
            .bearer_auth(forged)
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;

    let member = service.token(MEMBER).await;
    let response = service
        .post(&member, "/api/export-jobs")
        .json(&january("sessions", "csv"))
        .send()
        .await
        .unwrap();
    problem(response, 403).await;
    problem(
        service
            .get(&member, "/api/export-jobs")
            .send()
            .await
            .unwrap(),
        403,
    )
    .await;

    let manager = service.token(MANAGER).await;
    let problem_body = problem(
        service
            .get(&manager, "/api/dataexport/sessions?format=csv")
            .send()
            .await
            .unwrap(),
        403,
    )
    .await;
    assert!(problem_body["detail"].as_str().unwrap().contains("Admins"));
    // Managers export their own organization only.
    let mut other_org = january("sessions", "csv");
    other_org["filters"] = json!({"organizationId": "someone-else"});
    problem(
        service
            .post(&manager, "/api/export-jobs")
            .json(&other_org)
            .send()
            .await
            .unwrap(),
        403,
    )
    .await;
    service.stop().await;
}

#[tokio::test]
async fn tenants_and_owners_see_only_their_jobs() {
    let service = TestService::start().await;
    let admin = service.token(ADMIN).await;
    let manager = service.token(MANAGER).await;
    let globex = service.token(GLOBEX_ADMIN).await;
    let globex_manager = service.token(GLOBEX_MANAGER).await;
    let superadmin = service.token(SUPER).await;

    let admins = service.create(&admin, january("sessions", "csv")).await;
    let managers = service.create(&manager, january("users", "json")).await;
    let globexs = service.create(&globex, january("sessions", "ndjson")).await;
    let admin_job = admins["id"].as_str().unwrap();
    let manager_job = managers["id"].as_str().unwrap();
    let globex_job = globexs["id"].as_str().unwrap();
    let done = service.wait(&admin, admin_job).await;
    service.wait(&manager, manager_job).await;
    service.wait(&globex, globex_job).await;

    // Pinned to the caller's organization.
    assert_eq!(done["filters"]["organizationId"], admins["organizationId"]);
    assert_ne!(admins["organizationId"], globexs["organizationId"]);

    // Another tenant's ids reveal nothing: 404 everywhere, as for a
    // job that never existed.
    for path in [
        format!("/api/export-jobs/{admin_job}"),
        format!("/api/export-jobs/{admin_job}/download"),
        "/api/export-jobs/01JZZZZZZZZZZZZZZZZZZZZZZZ".to_owned(),
    ] {
        problem(service.get(&globex, &path).send().await.unwrap(), 404).await;
    }
    problem(
        service
            .post(&globex, &format!("/api/export-jobs/{admin_job}/link"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    problem(
        service
            .delete(&globex, &format!("/api/export-jobs/{admin_job}"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    // A manager sees their own jobs, not their Admin's; the Admin sees both.
    problem(
        service
            .get(&manager, &format!("/api/export-jobs/{admin_job}"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    assert_eq!(
        service
            .get(&admin, &format!("/api/export-jobs/{manager_job}"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    problem(
        service
            .get(&globex_manager, &format!("/api/export-jobs/{globex_job}"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;

    let ids = |page: Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let list = |token: &str, query: &str| {
        let request = service.get(token, &format!("/api/export-jobs{query}"));
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(ids(list(&admin, "").await), vec![manager_job, admin_job]);
    assert_eq!(ids(list(&manager, "").await), vec![manager_job]);
    assert_eq!(ids(list(&globex, "").await), vec![globex_job]);
    assert_eq!(
        ids(list(&superadmin, "").await),
        vec![globex_job, manager_job, admin_job]
    );
    let acme = admins["organizationId"].as_str().unwrap();
    assert_eq!(
        ids(list(&superadmin, &format!("?organizationId={acme}")).await),
        vec![manager_job, admin_job]
    );
    // A list filter cannot reach into another tenant.
    problem(
        service
            .get(&globex, &format!("/api/export-jobs?organizationId={acme}"))
            .send()
            .await
            .unwrap(),
        403,
    )
    .await;

    // The signed link of one job does not open another.
    let link = done["downloadUrl"]
        .as_str()
        .unwrap()
        .replace(admin_job, globex_job);
    problem(service.client.get(link).send().await.unwrap(), 403).await;
    service.stop().await;
}

#[tokio::test]
async fn idempotent_creates_return_the_same_job() {
    let service = TestService::start().await;
    let admin = service.token(ADMIN).await;
    let send = |token: &str, key: &str, body: Value| {
        service
            .post(token, "/api/export-jobs")
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let first = send(&admin, "key-1", january("sessions", "csv"))
        .await
        .unwrap();
    assert_eq!(first.status(), 202);
    let location = first.headers()["location"].to_str().unwrap().to_owned();
    let first: Value = first.json().await.unwrap();
    assert_eq!(
        location,
        format!("/api/export-jobs/{}", first["id"].as_str().unwrap())
    );

    let again = send(&admin, "key-1", january("sessions", "csv"))
        .await
        .unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);

    let different = send(&admin, "key-1", january("sessions", "json"))
        .await
        .unwrap();
    let body = problem(different, 422).await;
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .ends_with("idempotency-key-reused")
    );

    // Keys belong to their user.
    let manager = service.token(MANAGER).await;
    let theirs: Value = send(&manager, "key-1", january("sessions", "csv"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(theirs["id"], first["id"]);
    problem(
        send(&admin, "", january("sessions", "csv")).await.unwrap(),
        400,
    )
    .await;

    let list: Value = service
        .get(&admin, "/api/export-jobs")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        2,
        "one job per key and user: {list}"
    );
    service.wait(&admin, first["id"].as_str().unwrap()).await;
    service.wait(&manager, theirs["id"].as_str().unwrap()).await;
    service.stop().await;
}

/// Once a key's job has no file (deleted here; the sweeper's expiry is
/// the same), replaying it would return a job with nothing to download
/// forever: the key is free again and makes a new job, and the old job
/// keeps its record.
#[tokio::test]
async fn a_key_is_free_again_once_its_file_is_deleted() {
    let service = TestService::start().await;
    let admin = service.token(ADMIN).await;
    let send = |body: Value| {
        service
            .post(&admin, "/api/export-jobs")
            .header("Idempotency-Key", "monthly-report")
            .json(&body)
            .send()
    };
    let first: Value = send(january("sessions", "csv"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first_id = first["id"].as_str().unwrap();
    assert_eq!(service.wait(&admin, first_id).await["status"], "Completed");
    let deleted = service
        .delete(&admin, &format!("/api/export-jobs/{first_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);

    // Another body too: the old job's request no longer binds the key.
    let second = send(january("sessions", "json")).await.unwrap();
    assert_eq!(second.status(), 202);
    assert!(second.headers().get("idempotent-replayed").is_none());
    let second: Value = second.json().await.unwrap();
    let second_id = second["id"].as_str().unwrap();
    assert_ne!(second_id, first_id, "a new job");
    assert_eq!(second["format"], "json");
    assert_eq!(service.wait(&admin, second_id).await["status"], "Completed");

    // The key now belongs to the new job: a retry replays it.
    let again = send(january("sessions", "json")).await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], second["id"]);
    // And the old job keeps its record.
    assert_eq!(service.job(&admin, first_id).await["status"], "Expired");
    service.stop().await;
}

/// A refused value's problem names the field, what was expected and what
/// was received, in the API's words rather than a library's.
#[tokio::test]
async fn refusals_name_the_field_the_expectation_and_the_value() {
    let service = TestService::start().await;
    let admin = service.token(ADMIN).await;
    let create = |body: &'static str| {
        service
            .post(&admin, "/api/export-jobs")
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let cases = [
        (
            create(r#"{"dataType": "sessions"}"#).await.unwrap(),
            422,
            "the field `format` is required, and the request has none",
        ),
        (
            create(r#"{"dataType": "sessions", "format": 7}"#)
                .await
                .unwrap(),
            422,
            "`format`: expected a string, received integer 7",
        ),
        (
            service
                .get(&admin, "/api/export-jobs?limit=ten")
                .send()
                .await
                .unwrap(),
            400,
            r#"the query parameter `limit`: expected a whole number in range, received "ten""#,
        ),
        (
            service
                .get(&admin, "/api/export-jobs/01J/parts/first")
                .send()
                .await
                .unwrap(),
            400,
            r#"the path parameter `number`: expected a whole number, received "first""#,
        ),
    ];
    for (response, status, detail) in cases {
        let body = problem(response, status).await;
        assert_eq!(body["detail"], detail, "{body}");
    }
    let wrong_type = service
        .post(&admin, "/api/export-jobs")
        .header("content-type", "text/csv")
        .body("{}")
        .send()
        .await
        .unwrap();
    let body = problem(wrong_type, 415).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("Content-Type: application/json; received \"text/csv\""),
        "{body}"
    );
    service.stop().await;
}

#[tokio::test]
async fn lists_paginate_and_filter() {
    let service = TestService::start().await;
    let admin = service.token(ADMIN).await;
    let mut created = Vec::new();
    for format in ["csv", "json", "csv", "ndjson", "csv"] {
        let job = service.create(&admin, january("users", format)).await;
        created.push(job["id"].as_str().unwrap().to_owned());
    }
    for id in &created {
        service.wait(&admin, id).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("/api/export-jobs?limit=2&cursor={c}"),
            None => "/api/export-jobs?limit=2".to_owned(),
        };
        let page: Value = service
            .get(&admin, &query)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|j| j["id"].as_str().unwrap().to_owned()));
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    created.reverse();
    assert_eq!(seen, created, "every job once, newest first");

    let count = |query: &'static str| {
        let request = service.get(&admin, query);
        async move {
            let page: Value = request.send().await.unwrap().json().await.unwrap();
            page["items"].as_array().unwrap().len()
        }
    };
    assert_eq!(count("/api/export-jobs?format=csv").await, 3);
    assert_eq!(
        count("/api/export-jobs?format=ndjson&status=Completed").await,
        1
    );
    assert_eq!(count("/api/export-jobs?status=Failed").await, 0);
    assert_eq!(count("/api/export-jobs?dataType=sessions").await, 0);
    assert_eq!(
        count("/api/export-jobs?createdFrom=2000-01-01&createdTo=2999-12-31").await,
        5
    );
    assert_eq!(count("/api/export-jobs?createdTo=2000-01-01").await, 0);
    service.stop().await;
}

#[tokio::test]
async fn downloads_support_ranges_and_name_the_file() {
    let service = TestService::start().await;
    let admin = service.token(ADMIN).await;
    let job = service.create(&admin, january("sessions", "csv")).await;
    let id = job["id"].as_str().unwrap();
    service.wait(&admin, id).await;
    let whole = download(&service, &admin, id).await;
    let path = format!("/api/export-jobs/{id}/download");

    let response = service.get(&admin, &path).send().await.unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        response.headers()["content-length"],
        whole.len().to_string().as_str()
    );
    assert_eq!(response.headers()["accept-ranges"], "bytes");
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"sessions_2026-01-01_2026-03-31.csv\"; filename*=UTF-8''sessions_2026-01-01_2026-03-31.csv"
    );

    let ranged = service
        .get(&admin, &path)
        .header("Range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(
        ranged.headers()["content-range"],
        format!("bytes 10-19/{}", whole.len()).as_str()
    );
    assert_eq!(
        ranged.bytes().await.unwrap().to_vec(),
        whole[10..20].to_vec()
    );
    let tail = service
        .get(&admin, &path)
        .header("Range", "bytes=-5")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.status(), 206);
    assert_eq!(
        tail.bytes().await.unwrap().to_vec(),
        whole[whole.len() - 5..].to_vec()
    );
    let beyond = service
        .get(&admin, &path)
        .header("Range", format!("bytes={}-", whole.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        beyond.headers()["content-range"],
        format!("bytes */{}", whole.len()).as_str()
    );
    problem(beyond, 416).await;
    service.stop().await;
}

#[tokio::test]
async fn signed_links_expire_and_refuse_tampering() {
    let service = TestService::start().await;
    let admin = service.token(ADMIN).await;
    let job = service.create(&admin, january("users", "csv")).await;
    let id = job["id"].as_str().unwrap().to_owned();
    // Not finished yet: no link, and asking for one is a conflict.
    let pending: Value = service.job(&admin, &id).await;
    if pending["status"] != "Completed" {
        assert!(pending.get("downloadUrl").is_none());
    }
    let job = service.wait(&admin, &id).await;
    let url = job["downloadUrl"].as_str().unwrap().to_owned();

    let last = if url.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{last}", &url[..url.len() - 1]);
    let body = problem(service.client.get(&tampered).send().await.unwrap(), 403).await;
    assert!(body["type"].as_str().unwrap().ends_with("invalid-link"));
    let stretched = url.replace("expires=", "expires=9");
    problem(service.client.get(&stretched).send().await.unwrap(), 403).await;

    let signer = LinkSigner::new(&Secret::new(SECRET));
    let past = 1_000_000_000u64;
    let expired = format!(
        "{}/api/files/{id}?expires={past}&sig={}",
        service.url,
        signer.sign(&id, past)
    );
    let body = problem(service.client.get(&expired).send().await.unwrap(), 403).await;
    assert!(body["type"].as_str().unwrap().ends_with("link-expired"));

    let fresh: Value = service
        .post(&admin, &format!("/api/export-jobs/{id}/link"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response = service
        .client
        .get(fresh["downloadUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.bytes().await.unwrap().to_vec(),
        download(&service, &admin, &id).await
    );
    service.stop().await;
}

#[tokio::test]
async fn cancelling_a_running_export_leaves_no_file() {
    let service = TestService::start_with(60_000, |_| {}).await;
    let admin = service.token(ADMIN).await;
    let job = service
        .create(&admin, json!({"dataType": "analytics", "format": "json"}))
        .await;
    let id = job["id"].as_str().unwrap();
    service.wait_for(&admin, id, "Processing").await;
    let response = service
        .delete(&admin, &format!("/api/export-jobs/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cancelled: Value = response.json().await.unwrap();
    assert_eq!(cancelled["status"], "Cancelled");
    // The worker stops at its next batch and aborts the upload.
    for _ in 0..100 {
        if service.blob_files().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(service.blob_files(), Vec::<String>::new());
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let after = service.wait(&admin, id).await;
    assert_eq!(after["status"], "Cancelled", "{after}");
    assert!(after.get("file").is_none());
    problem(
        service
            .get(&admin, &format!("/api/export-jobs/{id}/download"))
            .send()
            .await
            .unwrap(),
        409,
    )
    .await;

    // The worker is free for the next job.
    let next = service.create(&admin, january("users", "csv")).await;
    let next = service.wait(&admin, next["id"].as_str().unwrap()).await;
    assert_eq!(next["status"], "Completed");
    service.stop().await;
}

#[tokio::test]
async fn deleting_and_expiring_remove_files() {
    let service = TestService::start_with(300, |config| {
        config.exports.retention = std::time::Duration::from_secs(2);
        config.exports.sweep_interval = std::time::Duration::from_millis(200);
    })
    .await;
    let admin = service.token(ADMIN).await;
    let first = service.create(&admin, january("users", "csv")).await;
    let first = service.wait(&admin, first["id"].as_str().unwrap()).await;
    let id = first["id"].as_str().unwrap();
    assert_eq!(service.blob_files().len(), 1);
    let deleted: Value = service
        .delete(&admin, &format!("/api/export-jobs/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(deleted["status"], "Expired");
    assert_eq!(service.blob_files(), Vec::<String>::new());
    problem(
        service
            .get(&admin, &format!("/api/export-jobs/{id}/download"))
            .send()
            .await
            .unwrap(),
        410,
    )
    .await;
    problem(
        service
            .client
            .get(first["downloadUrl"].as_str().unwrap())
            .send()
            .await
            .unwrap(),
        410,
    )
    .await;

    // Retention: the sweeper deletes the file once it expires.
    let second = service.create(&admin, january("users", "json")).await;
    let second_id = second["id"].as_str().unwrap();
    service.wait(&admin, second_id).await;
    assert_eq!(service.blob_files().len(), 1);
    let expired = service.wait_for(&admin, second_id, "Expired").await;
    assert!(expired.get("downloadUrl").is_none());
    assert_eq!(service.blob_files(), Vec::<String>::new());
    problem(
        service
            .post(&admin, &format!("/api/export-jobs/{second_id}/link"))
            .send()
            .await
            .unwrap(),
        410,
    )
    .await;
    service.stop().await;
}

#[tokio::test]
async fn direct_exports_and_the_dashboard_stream_through_plugins() {
    let service =
        TestService::start_with(300, |config| config.exports.sync_export_max_rows = 250).await;
    let admin = service.token(ADMIN).await;
    let response = service
        .get(&admin, "/api/dataexport/users?format=csv&columns=id,email")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let total: usize = response.headers()["x-total-rows"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let rows = python_read("csv", &response.bytes().await.unwrap(), &[]);
    assert_eq!(rows[0], json!(["id", "email"]));
    assert_eq!(rows.as_array().unwrap().len() - 1, total);

    // Over the cap: a job is the way.
    let body = problem(
        service
            .get(&admin, "/api/dataexport/analytics?format=json")
            .send()
            .await
            .unwrap(),
        413,
    )
    .await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("/api/export-jobs")
    );
    problem(
        service
            .get(&admin, "/api/dataexport/payroll?format=csv")
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    problem(
        service
            .get(&admin, "/api/dataexport/users?format=pptx")
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;

    // The dashboard's sessions add up to the sessions export.
    let dashboard = service
        .get(
            &admin,
            "/api/admindashboard/export?format=json&from=2026-01-01&to=2026-01-31",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(dashboard.status(), 200);
    let days = python_read("json", &dashboard.bytes().await.unwrap(), &[]);
    let days = days.as_array().unwrap();
    assert!(!days.is_empty());
    let dashboard_sessions: i64 = days.iter().map(|d| d["sessions"].as_i64().unwrap()).sum();
    assert!(
        days.iter().all(|d| d["organization"] == "acme"),
        "pinned to the Admin's organization"
    );
    let sessions = service
        .get(
            &admin,
            "/api/dataexport/sessions?format=ndjson&from=2026-01-01&to=2026-01-31&columns=id",
        )
        .send()
        .await
        .unwrap();
    let sessions = python_read("ndjson", &sessions.bytes().await.unwrap(), &[]);
    assert_eq!(
        dashboard_sessions as usize,
        sessions.as_array().unwrap().len()
    );
    service.stop().await;
}

#[tokio::test]
async fn formats_health_metrics_and_openapi() {
    let service = TestService::start().await;
    let admin = service.token(ADMIN).await;
    let formats: Value = service
        .get(&admin, "/api/formats")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = formats
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["csv", "json", "ndjson", "pdf", "xlsx"]);
    let csv = &formats[0];
    assert_eq!(csv["mediaType"], "text/csv; charset=utf-8");
    assert!(
        csv["options"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["name"] == "delimiter")
    );
    assert_eq!(csv["digest"].as_str().unwrap().len(), 64);

    let job = service.create(&admin, january("users", "csv")).await;
    service.wait(&admin, job["id"].as_str().unwrap()).await;

    let get = |path: &'static str| service.client.get(format!("{}{path}", service.url)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("exporter_jobs{status=\"Completed\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("exporter_exports_total{format=\"csv\",outcome=\"completed\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("exporter_export_duration_seconds_count{format=\"csv\"} 1"),
        "{metrics}"
    );
    let openapi: Value = get("/api/openapi.json")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/export-jobs",
        "/api/export-jobs/{id}",
        "/api/export-jobs/{id}/download",
        "/api/formats",
        "/api/dataexport/{dataType}",
    ] {
        assert!(openapi["paths"].get(path).is_some(), "{path} is documented");
    }
    assert!(openapi["components"]["schemas"]["JobView"].is_object());
    let docs = get("/api/docs").await.unwrap().text().await.unwrap();
    assert!(
        docs.contains("/api/openapi.json") && !docs.contains("https://"),
        "the docs page works offline"
    );
    service.stop().await;
}

/// `[sandbox]` in a configuration file reaches the engine every export
/// runs in, and the install-time validation.
#[tokio::test]
async fn sandbox_limits_from_a_configuration_file_reach_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("exporter.toml");
    std::fs::write(
        &file,
        "[sandbox]\nmemory_bytes = \"48MiB\"\nmax_output_bytes = \"1KiB\"\ncall_timeout = \"20s\"\n",
    )
    .unwrap();
    let loaded = exporter::config::Config::load_from(Some(&file), &[]).unwrap();
    let service =
        TestService::start_with(300, |config| config.sandbox = loaded.sandbox.clone()).await;
    let registry = &service.state().registry;
    let limits = &registry.engine().config().limits;
    assert_eq!(limits.memory_bytes, 48 << 20);
    assert_eq!(limits.max_output_bytes, 1024);
    assert_eq!(limits.call_timeout, std::time::Duration::from_secs(20));
    assert_eq!(registry.settings().validation.memory_bytes, 48 << 20);

    // And it holds: the sessions export is more than 1 KiB of CSV (the
    // users export, 5 rows, is 730 bytes).
    let admin = service.token(ADMIN).await;
    let job = service.create(&admin, january("sessions", "csv")).await;
    let done = service.wait(&admin, job["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "Failed", "{done}");
    assert!(
        done["error"]
            .as_str()
            .unwrap()
            .contains("output exceeded the limit of 1024 bytes"),
        "{done}"
    );
    service.stop().await;
}

#[tokio::test]
async fn transient_storage_failures_retry_with_backoff_then_succeed_or_fail() {
    let service = TestService::start_with(300, |config| {
        config.retry.base = std::time::Duration::from_secs(1);
        config.retry.max_attempts = 3;
    })
    .await;
    let admin = service.token(ADMIN).await;
    // A file where the exports directory should be: every upload fails,
    // even for root, until it is removed.
    std::fs::create_dir_all(&service.blobs_dir).unwrap();
    let blocker = service.blobs_dir.join("exports");
    std::fs::write(&blocker, b"not a directory").unwrap();

    let job = service.create(&admin, january("users", "csv")).await;
    let id = job["id"].as_str().unwrap();
    // The first attempt fails and the job waits for its retry, error shown.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let waiting = loop {
        let job: Value = service.job(&admin, id).await;
        if job["status"] == "Pending" && job["attempts"] == 1 && job["error"].is_string() {
            break job;
        }
        assert!(std::time::Instant::now() < deadline, "{job}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert!(
        waiting["error"].as_str().unwrap().contains("blob store"),
        "{waiting}"
    );
    std::fs::remove_file(&blocker).unwrap();
    let done = service.wait(&admin, id).await;
    assert_eq!(done["status"], "Completed", "{done}");
    assert_eq!(done["attempts"], 2);
    assert!(
        done.get("error").is_none(),
        "a success clears the error: {done}"
    );

    assert!(
        done.get("errorHistory").unwrap()[0]["error"]
            .as_str()
            .unwrap()
            .contains("blob store"),
        "the failed attempt stays in the history: {done}"
    );
    assert_eq!(done["deadLettered"], false);

    // When it never recovers: a dead letter after the last attempt, with
    // every attempt's error, until an operator re-drives it.
    std::fs::remove_dir_all(&blocker).unwrap();
    std::fs::write(&blocker, b"not a directory").unwrap();
    let job = service.create(&admin, january("sessions", "csv")).await;
    let id = job["id"].as_str().unwrap();
    let failed = service.wait_for(&admin, id, "Failed").await;
    assert_eq!(failed["attempts"], 3);
    assert_eq!(failed["deadLettered"], true, "{failed}");
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("gave up after 3 attempts"), "{error}");
    let history = failed["errorHistory"].as_array().unwrap();
    assert_eq!(
        history
            .iter()
            .map(|e| e["attempt"].clone())
            .collect::<Vec<_>>(),
        [json!(1), json!(2), json!(3)],
        "{failed}"
    );
    let metrics = service
        .client
        .get(format!("{}/metrics", service.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("exporter_jobs_dead_lettered_total 1"),
        "{metrics}"
    );

    let retry = format!("/api/admin/export-jobs/{id}/retry");
    problem(service.post(&admin, &retry).send().await.unwrap(), 403).await;
    let superadmin = service.token(SUPER).await;
    let other = format!(
        "/api/admin/export-jobs/{}/retry",
        done["id"].as_str().unwrap()
    );
    let refused = problem(service.post(&superadmin, &other).send().await.unwrap(), 409).await;
    assert!(
        refused["detail"].as_str().unwrap().contains("Completed"),
        "{refused}"
    );
    problem(
        service
            .post(
                &superadmin,
                "/api/admin/export-jobs/01M8KD78VWSA2JKZH55NZRT09Y/retry",
            )
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;

    std::fs::remove_file(&blocker).unwrap();
    let response = service.post(&superadmin, &retry).send().await.unwrap();
    assert_eq!(response.status(), 202);
    let redriven: Value = response.json().await.unwrap();
    assert_eq!(redriven["status"], "Pending", "{redriven}");
    assert_eq!(redriven["deadLettered"], false);
    let done = service.wait(&admin, id).await;
    assert_eq!(done["status"], "Completed", "{done}");
    assert_eq!(done["attempts"], 1, "a re-driven job gets all its attempts");
    assert_eq!(
        done["errorHistory"].as_array().unwrap().len(),
        3,
        "the history survives the re-drive: {done}"
    );
    assert_eq!(
        download(&service, &admin, id).await.len() as i64,
        done["file"]["size"].as_i64().unwrap()
    );
    // Twice is refused: it is no longer Failed.
    problem(service.post(&superadmin, &retry).send().await.unwrap(), 409).await;
    service.stop().await;
}

#[tokio::test]
async fn shutdown_lets_a_running_export_finish() {
    let mut service = TestService::start_with(60_000, |_| {}).await;
    let admin = service.token(ADMIN).await;
    let job = service
        .create(&admin, json!({"dataType": "analytics", "format": "csv"}))
        .await;
    let id = job["id"].as_str().unwrap().to_owned();
    service.wait_for(&admin, &id, "Processing").await;
    let response = service
        .get(&admin, &format!("/api/export-jobs/{id}"))
        .send()
        .await
        .unwrap();
    let status: Value = response
        .headers()
        .get("retry-after")
        .map(|v| json!(v.to_str().unwrap()))
        .unwrap_or(Value::Null);
    let body: Value = response.json().await.unwrap();
    if body["status"] == "Processing" {
        assert_eq!(
            status,
            json!("1"),
            "unfinished jobs tell clients when to poll again"
        );
    }
    service.shut_down().await;
    let record = service.record(&id).await;
    assert_eq!(record.status, "Completed", "{record:?}");
    assert_eq!(record.file_rows, record.total_rows);
    assert_eq!(service.blob_files().len(), 1);
}

#[tokio::test]
async fn an_organization_runs_no_more_exports_than_its_cap() {
    let service = TestService::start_with(3_000, |config| {
        config.worker.concurrency = 3;
        config.worker.organization_concurrency = 1;
    })
    .await;
    let admin = service.token(ADMIN).await;
    let globex = service.token(GLOBEX_ADMIN).await;
    let body = json!({"dataType": "sessions", "format": "pdf"});
    let mut acme = Vec::new();
    for _ in 0..3 {
        acme.push(
            service.create(&admin, body.clone()).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let other = service.create(&globex, body).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Three slots, but acme may use one: its jobs run one after another and
    // the waiting ones show their place in the queue.
    let mut saw_position = false;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let mut finished = 0;
        for id in &acme {
            let job = service.job(&admin, id).await;
            match job["status"].as_str().unwrap() {
                "Processing" => {}
                "Pending" => {
                    let position = job["queuePosition"].as_i64();
                    assert!(position.is_some_and(|p| p >= 1), "{job}");
                    saw_position = true;
                }
                "Completed" => finished += 1,
                _ => panic!("{job}"),
            }
        }
        if finished == acme.len() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "acme's jobs did not finish"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(saw_position, "a waiting job showed its queue position");
    // The cap, checked on the recorded run times: polling the jobs one
    // after another could see one Processing, and then the next one that
    // started after it finished.
    let mut runs = Vec::new();
    for id in &acme {
        let record = service.record(id).await;
        runs.push((record.started_at.unwrap(), record.finished_at.unwrap()));
    }
    runs.sort();
    for pair in runs.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "acme's exports overlapped (started, finished): {runs:?}"
        );
    }
    for id in &acme {
        let job = service.job(&admin, id).await;
        assert_eq!(
            job["attempts"], 1,
            "waiting for the cap spends no attempt: {job}"
        );
        assert!(job.get("queuePosition").is_none(), "{job}");
    }
    let job = service.wait(&globex, &other).await;
    assert_eq!(job["status"], "Completed", "{job}");
    service.stop().await;
}

fn problem_type(body: &Value) -> &str {
    body["type"].as_str().unwrap()
}

/// Issue 15, finding 4: a timestamp with a non-ASCII byte or an offset past
/// 23:59 is a 400, not a panic.
#[tokio::test]
async fn timestamps_with_non_ascii_bytes_or_impossible_offsets_are_400_not_500() {
    let service = TestService::start().await;
    let admin = service.token(ADMIN).await;
    // Timestamps: a non-ASCII byte inside one, an offset past 23:59.
    for created_from in [
        "2026-01-01T00:00:0%C3%A9000Z",
        "2026-01-01T00:00:00%2B99:99",
        "2026-01-01T00:00:00%2B24:00",
    ] {
        let body = problem(
            service
                .get(
                    &admin,
                    &format!("/api/export-jobs?createdFrom={created_from}"),
                )
                .send()
                .await
                .unwrap(),
            400,
        )
        .await;
        assert_eq!(problem_type(&body), "urn:exporter:problem:invalid-query");
        assert!(body["detail"].as_str().unwrap().contains("createdFrom"));
    }
    let offset = service
        .get(
            &admin,
            "/api/export-jobs?createdFrom=2026-01-01T00:00:00%2B23:59",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(offset.status(), 200, "the largest offset RFC 3339 allows");
    service.stop().await;
}

/// Issue 15, findings 3 and 4: days outside what every engine and the
/// host's arithmetic hold are a 422 naming the field at create (on
/// PostgreSQL they were a 500 panic, or a job stuck in Processing).
#[tokio::test]
async fn days_outside_what_every_engine_holds_are_422_at_create() {
    let service = TestService::start().await;
    let admin = service.token(ADMIN).await;
    // Days outside what every engine holds: refused at create, named.
    for (range, field, value) in [
        (json!({"to": "9999-12-31"}), "dateRange.to", "9999-12-31"),
        (
            json!({"from": "0000-01-01"}),
            "dateRange.from",
            "0000-01-01",
        ),
    ] {
        let response = service
            .post(&admin, "/api/export-jobs")
            .json(&json!({"dataType": "sessions", "format": "csv", "dateRange": range}))
            .send()
            .await
            .unwrap();
        let body = problem(response, 422).await;
        assert_eq!(problem_type(&body), "urn:exporter:problem:invalid-request");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains(field)
                && detail.contains(value)
                && detail.contains("0001-01-01 to 9998-12-31"),
            "{detail}"
        );
    }
    // The edges themselves export.
    let edges = service
        .create(
            &admin,
            json!({"dataType": "sessions", "format": "csv",
                "dateRange": {"from": "0001-01-01", "to": "9998-12-31"}}),
        )
        .await;
    let edges = service.wait(&admin, edges["id"].as_str().unwrap()).await;
    assert_eq!(edges["status"], "Completed", "{edges}");
    for path in [
        "/api/dataexport/users?format=csv&to=9999-12-31",
        "/api/dataexport/users?format=csv&from=0000-01-01",
        "/api/admindashboard/export?format=csv&to=9999-12-31",
        "/api/admindashboard/export?format=csv&from=0000-01-01",
    ] {
        let body = problem(service.get(&admin, path).send().await.unwrap(), 422).await;
        assert_eq!(
            problem_type(&body),
            "urn:exporter:problem:invalid-request",
            "{path}"
        );
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains("0001-01-01 to 9998-12-31"),
            "{path}: {detail}"
        );
    }
    let edges = service
        .get(
            &admin,
            "/api/dataexport/users?format=csv&from=0001-01-01&to=9998-12-31",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(edges.status(), 200);
    service.stop().await;
}

/// Issue 15, finding 4: a NUL in any text input is a 422 naming the field,
/// never a job retried as a database failure or a 503.
#[tokio::test]
async fn nul_in_any_text_input_is_422_naming_the_field() {
    let service = TestService::start().await;
    let admin = service.token(ADMIN).await;
    // NUL in any text input: 422 naming the field, before any database.
    let cases = [
        (json!({"filters": {"userId": "a\u{0}b"}}), "filters.userId"),
        (json!({"columns": ["id", "started_at\u{0}"]}), "columns[1]"),
        (
            json!({"options": {"delimiter": "\u{0}"}}),
            "options.delimiter",
        ),
        (
            json!({"callbackUrl": "https://hooks.example.com/\u{0}"}),
            "callbackUrl",
        ),
    ];
    for (extra, field) in cases {
        let mut body = json!({"dataType": "sessions", "format": "csv"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let response = service
            .post(&admin, "/api/export-jobs")
            .json(&body)
            .send()
            .await
            .unwrap();
        let problem = problem(response, 422).await;
        assert_eq!(
            problem_type(&problem),
            "urn:exporter:problem:invalid-text",
            "{body}"
        );
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.starts_with(field) && detail.contains("NUL"),
            "{body}: {detail}"
        );
    }
    for (path, field) in [
        ("/api/dataexport/sessions?format=csv&userId=a%00b", "userId"),
        (
            "/api/dataexport/sessions?format=csv&columns=id%00",
            "columns",
        ),
        ("/api/export-jobs?dataType=sessions%00", "dataType"),
        ("/api/export-jobs/01J%00", "id"),
    ] {
        let problem = problem(service.get(&admin, path).send().await.unwrap(), 422).await;
        assert_eq!(
            problem_type(&problem),
            "urn:exporter:problem:invalid-text",
            "{path}"
        );
        assert!(
            problem["detail"].as_str().unwrap().starts_with(field),
            "{path}: {problem}"
        );
    }

    let list = service.get_json(&admin, "/api/export-jobs").await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        0,
        "nothing was queued"
    );
    service.stop().await;
}

/// Issue 15, finding 4: a correctly signed token naming nobody the service
/// knows is a 401, an unknown organization a 404; neither is a 503 to retry.
#[tokio::test]
async fn unknown_token_subjects_are_401_and_unknown_organizations_404() {
    let service = TestService::start().await;
    let superadmin = service.token(SUPER).await;
    // A correctly signed token naming nobody the service knows: 401.
    let keys = exporter::auth::TokenKeys::from_secret(&Secret::new(SECRET));
    let db = exporter::service::open_database(&service.config)
        .await
        .unwrap();
    let acme_admin = exporter::auth::find_user(&db, ADMIN).await.unwrap();
    db.close().await;
    let admin = service.token(ADMIN).await;
    let job = service.create(&admin, january("users", "csv")).await;
    let job_path = format!("/api/export-jobs/{}", job["id"].as_str().unwrap());
    for (user_id, organization_id) in [
        (
            "no-such-user".to_owned(),
            acme_admin.organization_id.clone(),
        ),
        (
            acme_admin.user_id.clone(),
            "no-such-organization".to_owned(),
        ),
        ("a\u{0}b".to_owned(), acme_admin.organization_id.clone()),
    ] {
        let token = keys
            .issue(
                &exporter::auth::Caller {
                    user_id,
                    organization_id,
                    role: exporter::auth::Role::Admin,
                },
                None,
                std::time::Duration::from_secs(60),
            )
            .unwrap();
        let response = service
            .post(&token, "/api/export-jobs")
            .json(&january("users", "csv"))
            .send()
            .await
            .unwrap();
        let challenge = response.headers().get("www-authenticate").cloned();
        let body = problem(response, 401).await;
        assert_eq!(problem_type(&body), "urn:exporter:problem:unauthorized");
        assert_eq!(challenge.unwrap(), "Bearer");
        // Polling checks the token's user in the statement that reads the
        // job: refused alike whether the job exists or not.
        for path in [
            job_path.as_str(),
            "/api/export-jobs/01JD0000000000000000000000",
        ] {
            let response = service.get(&token, path).send().await.unwrap();
            let body = problem(response, 401).await;
            assert_eq!(
                problem_type(&body),
                "urn:exporter:problem:unauthorized",
                "{path}"
            );
        }
    }
    let body = problem(
        service
            .get(
                &superadmin,
                "/api/callback-secret?organizationId=does-not-exist",
            )
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    assert_eq!(problem_type(&body), "urn:exporter:problem:not-found");
    assert!(body["detail"].as_str().unwrap().contains("does-not-exist"));
    let rotate = service
        .post(
            &superadmin,
            "/api/callback-secret/rotate?organizationId=does-not-exist",
        )
        .send()
        .await
        .unwrap();
    problem(rotate, 404).await;
    service.stop().await;
}

/// Issue 15, finding 4: a blob store that refuses writes makes the service
/// unready, and the 503 names it.
#[tokio::test]
async fn readiness_fails_while_the_blob_store_is_read_only() {
    let service = TestService::start().await;
    let ready = || service.client.get(format!("{}/readyz", service.url)).send();
    assert_eq!(ready().await.unwrap().status(), 200);
    let read_only = ReadOnly::mount(&service.blobs_dir);
    // Root ignores permissions: check the directory really refuses writes.
    assert!(std::fs::write(service.blobs_dir.join("probe"), b"x").is_err());
    // Past the cached answer.
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    let body = problem(ready().await.unwrap(), 503).await;
    assert_eq!(body["type"], "urn:exporter:problem:unavailable");
    assert_eq!(body["dependency"], "blobStore");
    drop(read_only);
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    assert_eq!(ready().await.unwrap().status(), 200, "ready again");
    service.stop().await;
}

/// A read-only bind mount of a directory over itself, undone on drop:
/// writes fail even for root, which file modes do not stop.
struct ReadOnly(std::path::PathBuf);

impl ReadOnly {
    fn mount(dir: &std::path::Path) -> Self {
        let run = |args: &[&str]| {
            let status = std::process::Command::new("mount")
                .args(args)
                .status()
                .expect("running mount");
            assert!(
                status.success(),
                "mount {args:?} failed: the test needs CAP_SYS_ADMIN"
            );
        };
        let path = dir.to_str().unwrap();
        run(&["--bind", path, path]);
        let guard = ReadOnly(dir.to_path_buf());
        run(&["-o", "remount,bind,ro", path]);
        guard
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// Whatever a client puts in a query parameter, a path segment or a body
/// member that the API parses (dates, timestamps, cursors, limits, ids,
/// part numbers, columns, filters), the answer is 2xx or a 4xx problem,
/// never a 5xx and never a panic. Inputs are drawn by proptest from a fixed
/// seed: arbitrary Unicode, and near-misses of the formats the API reads.
#[tokio::test(flavor = "multi_thread")]
async fn arbitrary_input_anywhere_is_answered_without_a_server_error() {
    use proptest::strategy::{Strategy as _, ValueTree as _};
    use proptest::test_runner::TestRunner;

    let service = TestService::start().await;
    let admin = service.token(ADMIN).await;
    let superadmin = service.token(SUPER).await;
    let inputs = proptest::prop_oneof![
        proptest::arbitrary::any::<String>(),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9:.]{0,15}([+-][0-9:]{0,6}|Z)?)?",
        // Real days of any year, the first and last included.
        "(0000|0001|9998|9999|[0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])",
        // A timestamp with one character anything at all, or any offset.
        "2026-01-01T00:\\PC{2}:00\\.000Z",
        "2026-01-01T00:00:0\\PC000Z",
        "2026-01-01T00:00:00[+-][0-9]{2}:[0-9]{2}",
        "-?[0-9]{1,25}",
        "[0-9A-Z]{20,30}",
        "[a-z_,]{0,30}",
        "\\PC{0,3}[\\x00-\\x1f\\x7f\\u{80}-\\u{10ffff}]\\PC{0,3}",
    ];
    let mut runner = TestRunner::deterministic();
    let encode = |text: &str| -> String { text.bytes().map(|b| format!("%{b:02X}")).collect() };
    for _ in 0..150 {
        let value = inputs.new_tree(&mut runner).unwrap().current();
        let v = encode(&value);
        let gets = [
            format!("/api/export-jobs?cursor={v}"),
            format!("/api/export-jobs?limit={v}"),
            format!("/api/export-jobs?createdFrom={v}"),
            format!("/api/export-jobs?createdTo={v}"),
            format!("/api/export-jobs?status={v}&dataType={v}&format={v}"),
            format!("/api/export-jobs?organizationId={v}"),
            format!("/api/export-jobs/{v}"),
            format!("/api/export-jobs/{v}/manifest"),
            format!("/api/export-jobs/{v}/parts/{v}"),
            format!("/api/export-jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV/parts/{v}"),
            format!("/api/files/{v}?expires={v}&signature={v}"),
            format!("/api/dataexport/{v}?format=csv"),
            format!("/api/dataexport/users?format=csv&from={v}"),
            format!("/api/dataexport/users?format=csv&to={v}&columns={v}"),
            format!("/api/dataexport/sessions?format={v}&userId={v}"),
            format!("/api/admindashboard/export?format=csv&from={v}&to={v}"),
            format!("/api/callback-secret?organizationId={v}"),
        ];
        for path in gets {
            for token in [&admin, &superadmin] {
                let response = service.get(token, &path).send().await.unwrap();
                assert_answered(response, &format!("GET {path} ({value:?})")).await;
            }
        }
        let bodies = [
            json!({"dataType": "users", "format": "csv", "dateRange": {"from": value}}),
            json!({"dataType": "users", "format": "csv", "dateRange": {"from": "2026-01-01", "to": value}}),
            json!({"dataType": "sessions", "format": "csv", "filters": {"userId": value}}),
            json!({"dataType": "users", "format": "csv", "columns": [value]}),
            json!({"dataType": value, "format": value}),
            json!({"dataType": "users", "format": "csv", "filters": {"organizationId": value}}),
            json!({"dataType": "users", "format": "csv", "callbackUrl": value}),
        ];
        for body in bodies {
            let response = service
                .post(&superadmin, "/api/export-jobs")
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_answered(response, &format!("POST {body}")).await;
        }
    }
    service.stop().await;
}

/// A 2xx, or a 4xx whose body is a problem document.
async fn assert_answered(response: reqwest::Response, what: &str) {
    let status = response.status().as_u16();
    assert!(status < 500, "{what}: {status}");
    if status >= 400 {
        let media = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(media, "application/problem+json", "{what}: {status}");
        let body: Value = response.json().await.unwrap();
        assert!(body["type"].is_string(), "{what}: {body}");
    }
}

/// Every answer carries a request id (the caller's, when it is a plain
/// token; a fresh one otherwise), and every problem quotes it, so a user's
/// report of an error finds its log lines.
#[tokio::test]
async fn every_answer_carries_a_request_id_and_problems_quote_it() {
    let service = TestService::start().await;
    let admin = service.token(ADMIN).await;
    let id_of = |response: &reqwest::Response| {
        response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned()
    };

    // Generated: a ULID, different for each request.
    let first = service
        .client
        .get(format!("{}/healthz", service.url))
        .send()
        .await
        .unwrap();
    let second = service
        .client
        .get(format!("{}/healthz", service.url))
        .send()
        .await
        .unwrap();
    let (first, second) = (id_of(&first), id_of(&second));
    assert_eq!(first.len(), 26, "{first}");
    assert!(first.parse::<ulid::Ulid>().is_ok(), "{first}");
    assert_ne!(first, second);

    // The caller's own id comes back, in the header and in the problem.
    let response = service
        .get(&admin, "/api/export-jobs/01JD0000000000000000000000")
        .header("x-request-id", "trace-4bf92f35:span/00f067aa")
        .send()
        .await
        .unwrap();
    assert_eq!(id_of(&response), "trace-4bf92f35:span/00f067aa");
    let body = problem(response, 404).await;
    assert_eq!(body["requestId"], "trace-4bf92f35:span/00f067aa");

    // Problems from every layer quote it: the bearer check, an unknown
    // route, a refused body.
    let unauthorized = service
        .client
        .get(format!("{}/api/export-jobs", service.url))
        .send()
        .await
        .unwrap();
    let no_route = service
        .get(&admin, "/api/nothing-here")
        .send()
        .await
        .unwrap();
    let bad_body = service
        .post(&admin, "/api/export-jobs")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    for (response, status) in [(unauthorized, 401), (no_route, 404), (bad_body, 400)] {
        let id = id_of(&response);
        let body = problem(response, status).await;
        assert_eq!(body["requestId"], id.as_str(), "{body}");
    }

    // An id that could forge a log line or break a JSON string is replaced.
    for hostile in ["two words", "a\"b", &"x".repeat(129)] {
        let response = service
            .get(&admin, "/api/export-jobs/01JD0000000000000000000000")
            .header("x-request-id", hostile)
            .send()
            .await
            .unwrap();
        let id = id_of(&response);
        assert_ne!(id, hostile);
        assert!(id.parse::<ulid::Ulid>().is_ok(), "{id}");
        let body = problem(response, 404).await;
        assert_eq!(body["requestId"], id.as_str());
    }
    // A success carries the id too, and no problem member.
    let created = service
        .post(&admin, "/api/export-jobs")
        .header("x-request-id", "create-1")
        .json(&january("users", "csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 202);
    assert_eq!(id_of(&created), "create-1");
    let body: Value = created.json().await.unwrap();
    assert!(body.get("requestId").is_none(), "{body}");
    service.stop().await;
}
