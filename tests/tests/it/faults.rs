//! Faults: the database going away and coming back.
#![cfg(feature = "dynamodb-local")]

use serde_json::json;
use service_tests::{spawn_app, DynamoTables, PrivateDynamoLocal};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_stopped_database_gives_503_within_seconds_and_the_same_process_recovers() {
    let mut ddb = PrivateDynamoLocal::start().await;
    let tables = DynamoTables::create_on(&ddb.endpoint).await;
    let app = spawn_app(tables.store()).await;
    let record = json!({ "id": "kept", "secret": "s", "expiresAt": 5 });
    app.ok("/session/save", json!({ "record": record })).await;

    ddb.stop();
    for path in ["/session/get", "/users/ensure"] {
        let body = if path == "/session/get" {
            json!({ "sessionId": "kept" })
        } else {
            json!({ "clerkId": "u" })
        };
        let started = Instant::now();
        let answer = app.call(path, body).await;
        let took = started.elapsed();
        assert_eq!(answer.status, 503, "{path}: {:?}", answer.body);
        assert_eq!(answer.body["error"]["code"], "store_unavailable");
        assert!(took < Duration::from_secs(6), "{path} took {took:?}");
    }
    let failures: Vec<_> = app
        .log_lines()
        .into_iter()
        .filter(|l| l["event"] == "convex_http_failure")
        .collect();
    assert_eq!(failures.len(), 2);
    assert!(failures
        .iter()
        .all(|l| l["level"] == "error" && l["status"] == 503 && l["error"].is_string()));

    ddb.resume().await;
    let started = Instant::now();
    loop {
        let answer = app
            .call("/session/get", json!({ "sessionId": "kept" }))
            .await;
        if answer.status == 200 {
            assert_eq!(
                answer.body,
                json!({ "session": record }),
                "the acknowledged write survived"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no recovery: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        app.ok("/users/ensure", json!({ "clerkId": "u" })).await["user"]["clerkId"],
        "u"
    );
}
