//! Who sees which export job: every role against every kind of job, through
//! every endpoint that shows, serves or changes one. The rule: a job is
//! visible only to callers entitled to every row it contains (see
//! `exporter::auth::roles`).

use std::collections::BTreeMap;

use exporter::jobs::JobStatus;
use exporter::service::open_database;
use exporter_tests::service::TestService;
use serde_json::{Value, json};

const SUPER: &str = "super@exporter.test";
const ACME_ADMIN: &str = "admin@acme.test";
const ACME_MANAGER: &str = "manager@acme.test";
const MEMBER: &str = "member@acme.test";
const GLOBEX_ADMIN: &str = "admin@globex.test";
const GLOBEX_MANAGER: &str = "manager@globex.test";

const CALLERS: [&str; 6] = [
    SUPER,
    ACME_ADMIN,
    ACME_MANAGER,
    GLOBEX_ADMIN,
    GLOBEX_MANAGER,
    MEMBER,
];

/// One kind of job: who creates it, and the organization it is filtered to.
struct Kind {
    name: &'static str,
    creator: &'static str,
    filter: Option<&'static str>,
    /// The callers who may see it (Members never reach a job: 403).
    visible_to: &'static [&'static str],
}

const KINDS: [Kind; 5] = [
    Kind {
        name: "acme manager's",
        creator: ACME_MANAGER,
        filter: None,
        visible_to: &[SUPER, ACME_ADMIN, ACME_MANAGER],
    },
    Kind {
        name: "acme admin's",
        creator: ACME_ADMIN,
        filter: None,
        visible_to: &[SUPER, ACME_ADMIN],
    },
    Kind {
        name: "superadmin's for globex",
        creator: SUPER,
        filter: Some("globex"),
        visible_to: &[SUPER, GLOBEX_ADMIN],
    },
    Kind {
        name: "superadmin's for acme",
        creator: SUPER,
        filter: Some("acme"),
        visible_to: &[SUPER, ACME_ADMIN],
    },
    Kind {
        name: "superadmin's for all organizations",
        creator: SUPER,
        filter: None,
        visible_to: &[SUPER],
    },
];

/// The status `caller` must get for a job of `kind`: 403 for a Member, 404
/// (as for a job that never existed) for anyone not entitled, else `ok`.
fn expected(kind: &Kind, caller: &str, ok: u16) -> u16 {
    if caller == MEMBER {
        403
    } else if kind.visible_to.contains(&caller) {
        ok
    } else {
        404
    }
}

/// An organization's id, by its demo slug.
async fn organization_id(service: &TestService, email: &str) -> String {
    let db = open_database(&service.config).await.unwrap();
    let caller = exporter::auth::find_user(&db, email).await.unwrap();
    db.close().await;
    caller.organization_id
}

/// Every (kind, caller) cell where `got` differs from `want`.
fn mismatches(endpoint: &str, cells: &BTreeMap<(usize, &str), (u16, u16)>) -> Vec<String> {
    cells
        .iter()
        .filter(|(_, (got, want))| got != want)
        .map(|((kind, caller), (got, want))| {
            format!(
                "{endpoint}: {caller} on the {} job got {got}, expected {want}",
                KINDS[*kind].name
            )
        })
        .collect()
}

#[tokio::test]
async fn every_role_sees_only_jobs_whose_every_row_it_may_read() {
    let service = TestService::start().await;
    let mut tokens = BTreeMap::new();
    for caller in CALLERS {
        tokens.insert(caller, service.token(caller).await);
    }
    let acme = organization_id(&service, ACME_ADMIN).await;
    let globex = organization_id(&service, GLOBEX_ADMIN).await;
    let org = |slug: &str| if slug == "acme" { &acme } else { &globex };

    // Every job is written in parts, so that parts, part downloads and the
    // manifest have something to serve.
    let mut ids = Vec::new();
    for kind in &KINDS {
        let mut body = json!({"dataType": "users", "format": "csv",
            "columns": ["email", "organization"], "partMaxRows": 5});
        if let Some(slug) = kind.filter {
            body["filters"] = json!({"organizationId": org(slug)});
        }
        let created = service.create(&tokens[kind.creator], body).await;
        let id = created["id"].as_str().unwrap().to_owned();
        let done = service.wait(&tokens[SUPER], &id).await;
        assert_eq!(done["status"], "Completed", "{done}");
        ids.push(id);
    }

    let mut failures = Vec::new();

    // Status, download, fresh link, part download, manifest.
    for (endpoint, method, suffix) in [
        ("GET /api/export-jobs/{id}", "GET", ""),
        ("GET .../download", "GET", "/download"),
        ("POST .../link", "POST", "/link"),
        ("GET .../parts/1", "GET", "/parts/1"),
        ("GET .../manifest", "GET", "/manifest"),
    ] {
        let mut cells = BTreeMap::new();
        for (k, kind) in KINDS.iter().enumerate() {
            for caller in CALLERS {
                let path = format!("/api/export-jobs/{}{suffix}", ids[k]);
                let request = match method {
                    "GET" => service.get(&tokens[caller], &path),
                    _ => service.post(&tokens[caller], &path),
                };
                let response = request.send().await.unwrap();
                let got = response.status().as_u16();
                let body = response.bytes().await.unwrap();
                let want = expected(kind, caller, 200);
                if got == 200 && want != 200 {
                    // What leaked, to say so in the failure.
                    let text = String::from_utf8_lossy(&body);
                    failures.push(format!(
                        "{endpoint}: {caller} read the {} job: {}",
                        kind.name,
                        text.chars().take(200).collect::<String>()
                    ));
                }
                cells.insert((k, caller), (got, want));
            }
        }
        failures.extend(mismatches(endpoint, &cells));
    }

    // The job's view lists its parts with signed links only for those
    // entitled; every link handed out opens its file without a token.
    for (k, kind) in KINDS.iter().enumerate() {
        for caller in CALLERS {
            if expected(kind, caller, 200) != 200 {
                continue;
            }
            let job = service.job(&tokens[caller], &ids[k]).await;
            let Some(parts) = job["parts"].as_array() else {
                failures.push(format!(
                    "{caller}: no parts of the {} job: {job}",
                    kind.name
                ));
                continue;
            };
            assert!(!parts.is_empty(), "{job}");
            for url in parts
                .iter()
                .map(|p| p["downloadUrl"].as_str().unwrap())
                .chain([job["downloadUrl"].as_str().unwrap()])
            {
                let response = service.client.get(url).send().await.unwrap();
                assert_eq!(response.status(), 200, "{caller}: {url}");
            }
        }
    }

    // The list: exactly the visible jobs, each with its link; never another.
    let mut cells = BTreeMap::new();
    for caller in CALLERS {
        let response = service
            .get(&tokens[caller], "/api/export-jobs?limit=100")
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let page: Value = response.json().await.unwrap();
        let listed: Vec<&str> = page["items"]
            .as_array()
            .map(|items| items.iter().map(|j| j["id"].as_str().unwrap()).collect())
            .unwrap_or_default();
        for (k, kind) in KINDS.iter().enumerate() {
            let want = expected(kind, caller, 200);
            let got = match status {
                200 if listed.contains(&ids[k].as_str()) => 200,
                200 => 404,
                other => other,
            };
            cells.insert((k, caller), (got, want));
        }
        if status == 200 {
            for item in page["items"].as_array().unwrap() {
                let id = item["id"].as_str().unwrap();
                let url = item["downloadUrl"].as_str().unwrap_or_default();
                for (k, kind) in KINDS.iter().enumerate() {
                    if ids[k] != id && url.contains(&ids[k]) {
                        failures.push(format!("{caller}: a link to the {} job", kind.name));
                    }
                }
            }
        }
    }
    failures.extend(mismatches("GET /api/export-jobs", &cells));

    // A SuperAdmin's organization filter lists the jobs of that
    // organization's data, whoever made them.
    let page = service
        .get_json(
            &tokens[SUPER],
            &format!("/api/export-jobs?organizationId={globex}"),
        )
        .await;
    let listed: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    if listed != vec![ids[2].as_str()] {
        failures.push(format!(
            "GET /api/export-jobs?organizationId=globex as SuperAdmin: {page}"
        ));
    }

    // The globex job holds globex's rows only.
    let part = service
        .get(
            &tokens[GLOBEX_ADMIN],
            &format!("/api/export-jobs/{}/parts/1", ids[2]),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in part.lines().skip(1) {
        assert!(line.ends_with(",globex"), "{part}");
    }

    // Cancel (here: delete the file) last, as it changes the jobs: those not
    // entitled first, who must change nothing, then those who are.
    let mut cells = BTreeMap::new();
    for entitled in [false, true] {
        for (k, kind) in KINDS.iter().enumerate() {
            for caller in CALLERS {
                let want = expected(kind, caller, 200);
                if (want == 200) != entitled {
                    continue;
                }
                let got = service
                    .delete(&tokens[caller], &format!("/api/export-jobs/{}", ids[k]))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16();
                cells.insert((k, caller), (got, want));
            }
            if !entitled {
                let job = service.job(&tokens[SUPER], &ids[k]).await;
                if job["status"] != "Completed" {
                    failures.push(format!(
                        "DELETE: the {} job was {} by someone not entitled to it",
                        kind.name, job["status"]
                    ));
                }
            }
        }
    }
    failures.extend(mismatches("DELETE /api/export-jobs/{id}", &cells));

    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Each job says whose rows it holds.
    let job = service.job(&tokens[GLOBEX_ADMIN], &ids[2]).await;
    assert_eq!(job["coverage"]["organizationId"], globex.as_str(), "{job}");
    let all = service.job(&tokens[SUPER], &ids[4]).await;
    assert_eq!(all["coverage"]["allOrganizations"], true, "{all}");
    service.stop().await;
}

#[tokio::test]
async fn a_superadmins_export_takes_a_slot_of_the_organization_whose_data_it_reads() {
    let service = TestService::start_with(20_000, |config| {
        config.worker.concurrency = 2;
        config.worker.organization_concurrency = 1;
    })
    .await;
    let superadmin = service.token(SUPER).await;
    let globex_admin = service.token(GLOBEX_ADMIN).await;
    let globex = organization_id(&service, GLOBEX_ADMIN).await;
    // Opened before the jobs exist, so the first poll cannot come late.
    let db = open_database(&service.config).await.expect("database");
    let body = json!({"dataType": "sessions", "format": "pdf"});
    let theirs = service.create(&globex_admin, body.clone()).await;
    let mut for_globex = body;
    for_globex["filters"] = json!({"organizationId": globex});
    let supers = service.create(&superadmin, for_globex).await;
    // Two workers are free, but both exports read globex's rows, which may
    // be read by one export at a time. Each poll is one statement, so one
    // consistent snapshot of both jobs; the runs' own timestamps are not
    // compared, since a claim's `started_at` is read just before its
    // statement runs and a busy machine can delay the statement past the
    // other run's finish.
    let mut most = 0;
    let mut seen_running = 0;
    loop {
        let statuses: Vec<(String,)> = exporter::db::fetch_all(
            &db,
            "SELECT status FROM export_jobs WHERE id IN (?, ?)",
            &[
                theirs["id"].as_str().unwrap().into(),
                supers["id"].as_str().unwrap().into(),
            ],
        )
        .await
        .expect("query");
        let statuses: Vec<JobStatus> = statuses
            .iter()
            .map(|(s,)| JobStatus::parse(s).expect("a known status"))
            .collect();
        assert_eq!(statuses.len(), 2, "{statuses:?}");
        let running = statuses
            .iter()
            .filter(|s| **s == JobStatus::Processing)
            .count();
        most = most.max(running);
        seen_running += usize::from(running > 0);
        if !statuses.iter().any(|s| s.is_active()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    db.close().await;
    for job in [&theirs, &supers] {
        let done = service.wait(&superadmin, job["id"].as_str().unwrap()).await;
        assert_eq!(done["status"], "Completed", "{done}");
    }
    assert!(seen_running > 0, "no poll saw an export running");
    assert_eq!(most, 1, "two exports of globex's data ran at once");
    service.stop().await;
}

/// The `organization` column of a CSV export.
fn organizations(csv_text: &str) -> Vec<String> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let column = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "organization")
        .expect("an organization column");
    reader
        .records()
        .map(|r| r.unwrap()[column].to_owned())
        .collect()
}

#[tokio::test]
async fn direct_exports_and_the_dashboard_hold_only_the_callers_rows() {
    let service = TestService::start().await;
    let acme_admin = service.token(ACME_ADMIN).await;
    let superadmin = service.token(SUPER).await;
    let globex = organization_id(&service, GLOBEX_ADMIN).await;
    let text = |token: String, path: String| {
        let request = service.get(&token, &path);
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    for path in [
        "/api/admindashboard/export?format=csv".to_owned(),
        "/api/dataexport/users?format=csv&columns=email,organization".to_owned(),
    ] {
        let (status, body) = text(acme_admin.clone(), path.clone()).await;
        assert_eq!(status, 200, "{body}");
        let orgs = organizations(&body);
        assert!(
            !orgs.is_empty() && orgs.iter().all(|o| o == "acme"),
            "{path}: {orgs:?}"
        );
        let (status, _) = text(
            acme_admin.clone(),
            format!("{path}&organizationId={globex}"),
        )
        .await;
        assert_eq!(status, 403, "{path}");
        let (status, body) = text(
            superadmin.clone(),
            format!("{path}&organizationId={globex}"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let orgs = organizations(&body);
        assert!(
            !orgs.is_empty() && orgs.iter().all(|o| o == "globex"),
            "{path}: {orgs:?}"
        );
    }
    service.stop().await;
}
