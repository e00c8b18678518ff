//! The console's sessions over HTTP: the page and its security headers,
//! signing in (demo account, pasted token), the cookie's attributes, CSRF
//! on every change made with the cookie, signing out. Bearer tokens keep
//! working exactly as before.

use exporter_tests::service::TestService;
use reqwest::header::{COOKIE, HeaderMap, SET_COOKIE};
use serde_json::{Value, json};

const MANAGER: &str = "manager@acme.test";

/// The `name=value` of the session cookie a response set, and its whole
/// `Set-Cookie` line.
fn session_cookie(headers: &HeaderMap) -> (String, String) {
    let line = headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("exporter_session="))
        .expect("a session cookie");
    let pair = line.split(';').next().unwrap().to_owned();
    (pair, line)
}

async fn sign_in(service: &TestService, body: Value) -> reqwest::Response {
    service
        .client
        .post(format!("{}/api/session", service.url))
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn sessions_csv() -> Value {
    json!({"dataType": "sessions", "format": "csv",
           "dateRange": {"from": "2026-01-01", "to": "2026-01-31"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_page_is_served_with_a_strict_policy_and_no_inline_code() {
    let service = TestService::start().await;
    let page = service.client.get(&service.url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    let policy = headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert!(!policy.contains("unsafe"), "{policy}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    // Every script is a file of this origin, and nothing runs inline.
    let lower = html.to_ascii_lowercase();
    for (at, _) in lower.match_indices("<script") {
        let tag = &lower[at..at + lower[at..].find('>').unwrap() + 1];
        assert!(tag.contains("src=\"/assets/"), "{tag}");
        assert!(lower[at + tag.len()..].starts_with("</script>"), "{tag}");
    }
    assert!(!lower.contains(" style="), "no inline style");
    assert!(!lower.contains(" onclick=") && !lower.contains(" onload="));
    // Its assets carry the policy too, and an unknown one is a 404.
    let script = lower
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a script");
    let asset = service
        .client
        .get(format!("{}{script}", service.url))
        .send()
        .await
        .unwrap();
    assert_eq!(asset.status(), 200, "{script}");
    assert!(
        asset.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(asset.headers().contains_key("content-security-policy"));
    let etag = asset.headers()["etag"].clone();
    let again = service
        .client
        .get(format!("{}{script}", service.url))
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let missing = service
        .client
        .get(format!("{}/assets/nothing.js", service.url))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_sign_in_opens_a_cookie_session_whose_changes_need_the_csrf_token() {
    let service = TestService::start_with(300, |config| config.demo = true).await;
    let options = service.get_public_json("/api/session/options").await;
    let accounts = options["demoAccounts"].as_array().expect("demo accounts");
    assert!(accounts.iter().any(|a| a["email"] == MANAGER), "{options}");
    assert!(options["oidc"].is_null());

    let signed_in = sign_in(&service, json!({"demoAccount": MANAGER})).await;
    assert_eq!(signed_in.status(), 200);
    let (cookie, line) = session_cookie(signed_in.headers());
    assert!(line.contains("HttpOnly"), "{line}");
    assert!(line.contains("SameSite=Strict"), "{line}");
    assert!(line.contains("Path=/"), "{line}");
    assert!(!line.contains("Secure"), "not over plain http: {line}");
    let session: Value = signed_in.json().await.unwrap();
    assert_eq!(session["email"], MANAGER);
    assert_eq!(session["role"], "Manager");
    let csrf = session["csrfToken"].as_str().unwrap().to_owned();
    assert!(csrf.len() >= 32);

    let with_cookie = |method: reqwest::Method, path: &str| {
        service
            .client
            .request(method, format!("{}{path}", service.url))
            .header(COOKIE, &cookie)
    };
    // Reading needs only the cookie.
    let me: Value = with_cookie(reqwest::Method::GET, "/api/session")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["csrfToken"], csrf.as_str());
    let list = with_cookie(reqwest::Method::GET, "/api/export-jobs")
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);

    // Changing needs the token too: none, or a wrong one, is a 403.
    for sent in [None, Some("not-the-token")] {
        let mut request =
            with_cookie(reqwest::Method::POST, "/api/export-jobs").json(&sessions_csv());
        if let Some(token) = sent {
            request = request.header("X-CSRF-Token", token);
        }
        let refused = request.send().await.unwrap();
        assert_eq!(refused.status(), 403);
        let problem: Value = refused.json().await.unwrap();
        assert_eq!(problem["type"], "urn:exporter:problem:csrf", "{problem}");
    }
    let created = with_cookie(reqwest::Method::POST, "/api/export-jobs")
        .header("X-CSRF-Token", &csrf)
        .json(&sessions_csv())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 202);
    let job: Value = created.json().await.unwrap();
    let manager = service.token(MANAGER).await;
    let polled = service.job(&manager, job["id"].as_str().unwrap()).await;
    assert_eq!(polled["createdBy"], session["userId"]);

    // Signing out needs the token; afterwards the cookie opens nothing.
    let refused = with_cookie(reqwest::Method::DELETE, "/api/session")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let out = with_cookie(reqwest::Method::DELETE, "/api/session")
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    let (cleared, line) = session_cookie(out.headers());
    assert_eq!(cleared, "exporter_session=");
    assert!(line.contains("Max-Age=0"), "{line}");
    let after = with_cookie(reqwest::Method::GET, "/api/export-jobs")
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401);

    // A bearer token still works, with no CSRF token and no cookie.
    let bearer = service
        .post(&manager, "/api/export-jobs")
        .json(&sessions_csv())
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasted_token_signs_in_and_demo_accounts_need_demo_mode() {
    let service = TestService::start().await;
    let options = service.get_public_json("/api/session/options").await;
    assert!(options["demoAccounts"].is_null(), "{options}");
    assert_eq!(options["token"], true);

    let refused = sign_in(&service, json!({"demoAccount": MANAGER})).await;
    assert_eq!(refused.status(), 422);
    assert!(!refused.headers().contains_key(SET_COOKIE));

    let manager = service.token(MANAGER).await;
    let signed_in = sign_in(&service, json!({"token": manager})).await;
    assert_eq!(signed_in.status(), 200);
    let (cookie, _) = session_cookie(signed_in.headers());
    let session: Value = signed_in.json().await.unwrap();
    assert_eq!(session["email"], MANAGER);
    let list = service
        .client
        .get(format!("{}/api/export-jobs", service.url))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);

    for (body, status) in [
        (json!({"token": "not.a.token"}), 401),
        (json!({}), 422),
        (json!({"token": manager, "demoAccount": MANAGER}), 422),
    ] {
        let refused = sign_in(&service, body.clone()).await;
        assert_eq!(refused.status(), status, "{body}");
        let problem: Value = refused.json().await.unwrap();
        assert!(problem["detail"].is_string(), "{problem}");
    }
    // A forged cookie is no session.
    let forged = service
        .client
        .get(format!("{}/api/export-jobs", service.url))
        .header(COOKIE, "exporter_session=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
}
