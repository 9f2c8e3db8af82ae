//! The HTTP surface through the dev server: every route, every error status, the log lines.

use serde_json::{json, Value};
use service_tests::{auth, embedded, spawn_app, spawn_app_at, spawn_app_with, ADMIN_KEY};
use shared::clock::ManualClock;
use std::sync::Arc;

fn fields(line: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = line
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[tokio::test]
async fn users_routes_answer_as_the_contract_says() {
    let clock = ManualClock::at(1_000);
    let app = spawn_app_at(embedded(), clock.clone()).await;
    assert_eq!(
        app.ok(
            "/users/ensure",
            json!({ "clerkId": "u1", "email": "a@b.c" })
        )
        .await,
        json!({ "user": { "clerkId": "u1", "email": "a@b.c", "lastLoginAt": 1000, "createdAt": 1000, "updatedAt": 1000 } })
    );
    clock.set(2_000);
    let ensured = app
        .ok(
            "/users/ensure",
            json!({ "clerkId": "u1", "firstName": "Ann" }),
        )
        .await;
    let expected = json!({ "clerkId": "u1", "email": "a@b.c", "firstName": "Ann", "lastLoginAt": 2000, "createdAt": 1000, "updatedAt": 2000 });
    assert_eq!(ensured, json!({ "user": expected }));
    assert_eq!(
        app.ok("/users/get", json!({ "clerkId": "u1" })).await,
        expected,
        "a bare User"
    );
    assert_eq!(
        app.ok("/users/get", json!({ "clerkId": "nobody" })).await,
        Value::Null,
        "a bare null"
    );
}

#[tokio::test]
async fn session_routes_answer_as_the_contract_says() {
    let app = spawn_app(embedded()).await;
    let record = json!({ "id": "s1", "secret": "enc:abc", "expiresAt": 1_700_000_000_000u64 });
    assert_eq!(
        app.ok("/session/save", json!({ "record": record })).await,
        json!({ "result": true })
    );
    assert_eq!(
        app.ok("/session/get", json!({ "sessionId": "s1" })).await,
        json!({ "session": record })
    );
    assert_eq!(
        app.ok("/session/prune", json!({ "now": 1_700_000_000_001u64 }))
            .await,
        json!({ "result": 1 })
    );
    assert_eq!(
        app.ok("/session/get", json!({ "sessionId": "s1" })).await,
        json!({ "session": null })
    );
    assert_eq!(
        app.ok("/session/delete", json!({ "sessionId": "s1" }))
            .await,
        json!({ "result": true })
    );
    assert_eq!(
        app.ok("/session/prune", json!({ "now": 0 })).await,
        json!({ "result": 0 })
    );
}

#[tokio::test]
async fn a_success_prints_one_info_line_with_every_field() {
    let app = spawn_app(embedded()).await;
    let answer = app.call("/users/get", json!({ "clerkId": "x" })).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    let lines = app.log_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!(
        fields(line),
        [
            "event",
            "latencyMs",
            "level",
            "method",
            "path",
            "requestId",
            "sourceIp",
            "status",
            "timestamp",
            "userAgent"
        ]
    );
    assert_eq!(line["event"], "convex_http_success");
    assert_eq!(line["level"], "info");
    assert_eq!(line["path"], "/users/get");
    assert_eq!(line["method"], "POST");
    assert_eq!(line["status"], 200);
    assert_eq!(line["sourceIp"], "127.0.0.1");
    assert_eq!(line["userAgent"], "service-tests");
    assert!(line["latencyMs"].as_f64().unwrap() >= 0.0);
    assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn a_wrong_or_missing_key_is_401_with_an_unauthorized_line() {
    let app = spawn_app(embedded()).await;
    for authorization in [
        Some("Bearer wrong-key"),
        None,
        Some("Bearer"),
        Some(ADMIN_KEY),
        Some("Basic test-admin-key-0123456789"),
    ] {
        let answer = app
            .send("POST", "/users/get", authorization, b"{}".to_vec())
            .await;
        assert_eq!(answer.status, 401, "{authorization:?}");
        assert_eq!(answer.body["error"]["code"], "unauthorized");
    }
    let lines = app.log_lines();
    assert_eq!(lines.len(), 5);
    for line in &lines {
        assert_eq!(line["event"], "convex_http_unauthorized");
        assert_eq!(line["level"], "warn");
        assert_eq!(
            fields(line),
            [
                "event",
                "level",
                "method",
                "path",
                "requestId",
                "sourceIp",
                "timestamp",
                "userAgent"
            ]
        );
        assert_eq!(line["path"], "/users/get");
    }
}

#[tokio::test]
async fn every_accepted_scheme_and_both_keys_pass() {
    let guard = auth(&[
        ("CONVEX_DEPLOYMENT_KEY", "dep"),
        ("CONVEX_ADMIN_KEY", "adm"),
    ]);
    let app = spawn_app_with(guard, embedded(), Arc::new(shared::SystemClock)).await;
    for header in [
        "Bearer dep",
        "Deployment adm",
        "Convex dep",
        "convex adm",
        "  BEARER   adm  ",
    ] {
        let answer = app
            .send(
                "POST",
                "/users/get",
                Some(header),
                b"{\"clerkId\":\"a\"}".to_vec(),
            )
            .await;
        assert_eq!(answer.status, 200, "{header}");
    }
}

#[tokio::test]
async fn no_configured_key_is_500_with_a_missing_token_line_even_with_a_header() {
    let app = spawn_app_with(auth(&[]), embedded(), Arc::new(shared::SystemClock)).await;
    let answer = app
        .send(
            "POST",
            "/users/get",
            Some("Bearer anything"),
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(answer.status, 500);
    assert_eq!(answer.body["error"]["code"], "missing_admin_token");
    let lines = app.log_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["event"], "convex_http_missing_admin_token");
    assert_eq!(lines[0]["level"], "error");
    assert_eq!(
        fields(&lines[0]),
        ["event", "level", "path", "requestId", "timestamp"]
    );
}

#[tokio::test]
async fn the_legacy_header_works_with_a_warning_until_switched_off() {
    let app = spawn_app(embedded()).await;
    let headers = [("x-convex-admin-key", Some(ADMIN_KEY))];
    let answer = app
        .send_with(
            "POST",
            "/users/get",
            &headers,
            b"{\"clerkId\":\"a\"}".to_vec(),
        )
        .await;
    assert_eq!(answer.status, 200);
    let events: Vec<Value> = app.log_lines().iter().map(|l| l["event"].clone()).collect();
    assert_eq!(
        events,
        ["convex_http_admin_header_fallback", "convex_http_success"]
    );
    let fallback = &app.log_lines()[0];
    assert_eq!(
        fields(fallback),
        [
            "event",
            "level",
            "path",
            "requestId",
            "sourceIp",
            "timestamp"
        ]
    );
    assert_eq!(fallback["level"], "warn");

    let off = auth(&[
        ("CONVEX_ADMIN_KEY", ADMIN_KEY),
        ("LEGACY_ADMIN_HEADER", "off"),
    ]);
    let app = spawn_app_with(off, embedded(), Arc::new(shared::SystemClock)).await;
    let answer = app
        .send_with(
            "POST",
            "/users/get",
            &headers,
            b"{\"clerkId\":\"a\"}".to_vec(),
        )
        .await;
    assert_eq!(answer.status, 401);
}

#[tokio::test]
async fn bad_bodies_are_400_naming_the_problem() {
    let app = spawn_app(embedded()).await;
    let key = format!("Bearer {ADMIN_KEY}");
    let cases: [(&str, &[u8], &str, &str); 7] = [
        (
            "/users/get",
            b"{not json",
            "invalid_json",
            "request body is not valid JSON",
        ),
        (
            "/users/get",
            b"[1]",
            "invalid_json",
            "request body must be a JSON object",
        ),
        (
            "/users/get",
            b"{}",
            "invalid_argument",
            "missing field `clerkId`",
        ),
        (
            "/users/get",
            br#"{"clerkId":"a","extra":1}"#,
            "invalid_argument",
            "extra: unknown field `extra`",
        ),
        (
            "/users/ensure",
            br#"{"clerkId":"a","email":null}"#,
            "invalid_argument",
            "email: expected a string, got null",
        ),
        (
            "/session/save",
            br#"{"record":{"id":"s","secret":"x","expiresAt":"soon"}}"#,
            "invalid_argument",
            "record.expiresAt: expected a number, got a string",
        ),
        (
            "/session/get",
            br#"{"sessionId":""}"#,
            "invalid_argument",
            "sessionId: must not be empty",
        ),
    ];
    for (path, body, code, message) in cases {
        let answer = app.send("POST", path, Some(&key), body.to_vec()).await;
        assert_eq!(
            answer.status,
            400,
            "{path} {}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(answer.body["error"]["code"], code);
        let got = answer.body["error"]["message"].as_str().unwrap();
        assert!(
            got.starts_with(message),
            "{got:?} should start with {message:?}"
        );
    }
    let lines = app.log_lines();
    assert_eq!(lines.len(), cases.len());
    for line in lines {
        assert_eq!(line["event"], "convex_http_invalid_request");
        assert_eq!(line["level"], "warn");
        assert_eq!(line["status"], 400);
        assert!(line["error"].is_string());
    }
}

#[tokio::test]
async fn an_empty_body_counts_as_an_empty_object() {
    let app = spawn_app(embedded()).await;
    let answer = app
        .send(
            "POST",
            "/session/prune",
            Some(&format!("Bearer {ADMIN_KEY}")),
            Vec::new(),
        )
        .await;
    assert_eq!(
        answer.status, 400,
        "prune needs `now`, so {{}} fails validation rather than JSON parsing"
    );
    assert_eq!(answer.body["error"]["message"], "missing field `now`");
}

#[tokio::test]
async fn unknown_routes_are_404_and_other_methods_405_with_allow() {
    let app = spawn_app(embedded()).await;
    let key = format!("Bearer {ADMIN_KEY}");
    let missing = app
        .send("POST", "/users/delete", Some(&key), b"{}".to_vec())
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["error"]["code"], "route_not_found");
    for method in ["GET", "PUT", "DELETE"] {
        let wrong = app.send(method, "/users/get", Some(&key), Vec::new()).await;
        assert_eq!(wrong.status, 405, "{method}");
        assert_eq!(wrong.allow.as_deref(), Some("POST"));
        assert_eq!(wrong.body["error"]["code"], "method_not_allowed");
    }
    assert!(app
        .log_lines()
        .iter()
        .all(|l| l["event"] == "convex_http_invalid_request"));
}

#[tokio::test]
async fn oversized_bodies_and_items_are_413() {
    let app = spawn_app(embedded()).await;
    let key = format!("Bearer {ADMIN_KEY}");
    let huge = vec![b' '; shared::service::MAX_BODY_BYTES + 1];
    let answer = app.send("POST", "/users/get", Some(&key), huge).await;
    assert_eq!(answer.status, 413);
    assert_eq!(answer.body["error"]["code"], "payload_too_large");

    let big_email = "x".repeat(450 * 1024);
    let answer = app
        .call(
            "/users/ensure",
            json!({ "clerkId": "big", "email": big_email }),
        )
        .await;
    assert_eq!(answer.status, 413, "{:?}", answer.body);
    assert_eq!(answer.body["error"]["code"], "payload_too_large");
    assert_eq!(
        app.ok("/users/get", json!({ "clerkId": "big" })).await,
        Value::Null,
        "nothing was written"
    );
}

#[tokio::test]
async fn no_secret_reaches_a_log_line() {
    let app = spawn_app(embedded()).await;
    let secret = "enc:very-secret-session-value";
    app.ok(
        "/session/save",
        json!({ "record": { "id": "s", "secret": secret, "expiresAt": 1 } }),
    )
    .await;
    app.ok("/session/get", json!({ "sessionId": "s" })).await;
    app.call(
        "/session/save",
        json!({ "record": { "id": "s", "secret": secret, "expiresAt": secret } }),
    )
    .await;
    app.send(
        "POST",
        "/users/get",
        Some(&format!("Bearer {ADMIN_KEY}x")),
        Vec::new(),
    )
    .await;
    app.send_with(
        "POST",
        "/users/get",
        &[("x-convex-admin-key", Some(ADMIN_KEY))],
        b"{\"clerkId\":\"a\"}".to_vec(),
    )
    .await;
    let lines = app.logs.lines();
    assert_eq!(lines.len(), 6);
    for line in lines {
        assert!(
            !line.contains(secret) && !line.contains(ADMIN_KEY),
            "{line}"
        );
    }
}
