//! The Convex function protocol (`/api/query`, `/api/mutation`) through the dev server: every
//! function on both stores, `$float` decoding, the error envelope and statuses, both auth schemes,
//! the log lines, and the real npm client (`convex`'s `ConvexHttpClient`) driving the wire.

use devserver::Store;
use serde_json::{json, Value};
use service_tests::{auth, conformance, spawn_app_at, spawn_app_with, Answer, TestApp, ADMIN_KEY};
use shared::clock::ManualClock;
use shared::convex::{Kind, FUNCTIONS};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// 2026-01-01T00:00:00.000Z.
const T0: u64 = 1_767_225_600_000;

/// The little-endian bytes of NaN, +Infinity and -0, base64 (as the client's `convexToJson` writes them).
const NAN: &str = "AAAAAAAA+H8=";
const INFINITY: &str = "AAAAAAAA8H8=";
const MINUS_ZERO: &str = "AAAAAAAAAIA=";

fn float(base64: &str) -> Value {
    json!({ "$float": base64 })
}

#[cfg_attr(not(feature = "dynamodb-local"), allow(dead_code))]
fn dynamo(tables: &service_tests::DynamoTables) -> Store {
    tables.store()
}

/// An app on `store` with a clock at [`T0`], and the functions called through it.
struct Client {
    app: TestApp,
    clock: Arc<ManualClock>,
    called: Mutex<BTreeSet<&'static str>>,
}

impl Client {
    async fn new(store: Store) -> Self {
        let clock = ManualClock::at(T0);
        let app = spawn_app_at(store, clock.clone()).await;
        Self {
            app,
            clock,
            called: Mutex::new(BTreeSet::new()),
        }
    }

    /// Calls `name` through the endpoint of its kind, as the client does, and expects a success:
    /// its value.
    async fn value(&self, name: &str, args: Value) -> Value {
        let function = FUNCTIONS
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("{name} is not in the table"));
        self.called.lock().unwrap().insert(function.name);
        let answer = call(&self.app, function.kind, name, args.clone()).await;
        assert_eq!(answer.status, 200, "{name}({args}) answered {answer:?}");
        let body = answer.body.as_object().unwrap();
        assert_eq!(
            body.keys().map(String::as_str).collect::<Vec<_>>(),
            ["logLines", "status", "value"],
            "{name}: {body:?}"
        );
        assert_eq!(body["status"], "success");
        assert_eq!(body["logLines"], json!([]));
        assert_no_dollar_keys(&body["value"], name);
        body["value"].clone()
    }
}

/// Convex refuses field names starting with `$` in values (they mark encoded values).
fn assert_no_dollar_keys(value: &Value, name: &str) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                assert!(!key.starts_with('$'), "{name} returned a key {key}");
                assert_no_dollar_keys(inner, name);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| assert_no_dollar_keys(v, name)),
        _ => {}
    }
}

/// `POST /api/<kind>` with the client's envelope and `Authorization: Convex <key>`.
async fn call(app: &TestApp, kind: Kind, name: &str, args: Value) -> Answer {
    let body = json!({ "path": name, "format": "convex_encoded_json", "args": [args] });
    send(
        app,
        kind.endpoint(),
        Some(&format!("Convex {ADMIN_KEY}")),
        body,
    )
    .await
}

async fn send(app: &TestApp, endpoint: &str, authorization: Option<&str>, body: Value) -> Answer {
    app.send(
        "POST",
        endpoint,
        authorization,
        body.to_string().into_bytes(),
    )
    .await
}

/// Expects a function error: `560` with the error envelope; its message.
fn function_error(answer: &Answer) -> String {
    assert_eq!(answer.status, 560, "{answer:?}");
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    let body = answer.body.as_object().unwrap();
    assert_eq!(
        body.keys().map(String::as_str).collect::<Vec<_>>(),
        ["errorMessage", "status"],
        "{body:?}"
    );
    assert_eq!(body["status"], "error");
    body["errorMessage"].as_str().unwrap().to_owned()
}

conformance!(service_tests::embedded(), dynamo;
    every_function_answers_the_contracts_value,
    special_floats_are_decoded_before_the_arguments_are_checked,
    a_store_refusal_is_a_function_error,
    the_npm_convex_client_calls_every_function_and_reads_the_contracts_values,
);

async fn every_function_answers_the_contracts_value(store: Store) {
    let client = Client::new(store).await;
    let c = &client;

    // account
    let usage = |used: u64, allowance: u64| json!({ "monthTokensUsed": used, "monthlyAllowance": allowance, "lastUpdated": T0 });
    assert_eq!(
        c.value("account:getOrCreate", json!({ "userId": "u1" }))
            .await,
        json!({ "account": { "userId": "u1", "planTier": "free", "billingStatus": "free", "usage": usage(0, 50_000) } })
    );
    let pro = |used: u64| {
        json!({ "account": { "userId": "u1", "planTier": "pro", "billingStatus": "active",
                             "polarCustomerId": "cus_1", "usage": usage(used, 500_000) } })
    };
    assert_eq!(
        c.value(
            "account:updateAccount",
            json!({ "payload": { "userId": "u1", "planTier": "pro", "billingStatus": "active", "polarCustomerId": "cus_1" } })
        )
        .await,
        pro(0)
    );
    assert_eq!(
        c.value(
            "account:recordUsage",
            json!({ "userId": "u1", "provider": "openai", "tokensUsed": 120 })
        )
        .await,
        pro(120)
    );
    assert_eq!(
        c.value(
            "account:reserveUsage",
            json!({ "userId": "u1", "provider": "openai", "tokensRequested": 1000 })
        )
        .await,
        pro(1120)
    );
    assert_eq!(
        c.value(
            "account:reserveUsage",
            json!({ "userId": "u1", "provider": "openai", "tokensRequested": 500_000 })
        )
        .await,
        json!({ "account": null })
    );
    assert_eq!(
        c.value(
            "account:releaseUsage",
            json!({ "userId": "u1", "tokensReserved": 400 })
        )
        .await,
        Value::Null,
        "a function that returns nothing has a null value"
    );
    assert_eq!(
        c.value("account:getOrCreate", json!({ "userId": "u1" }))
            .await,
        pro(720)
    );

    // history
    let entry = |id: &str, created: &str| {
        json!({ "id": id, "userId": "u1", "provider": "openai", "voiceId": "alloy", "text": "Hello",
                "createdAt": created, "durationMs": 1200, "transcript": { "srt": "1\n" } })
    };
    let h1 = entry("h1", "2026-01-01T00:00:00.000Z");
    let h2 = entry("h2", "2026-01-02T00:00:00.000Z");
    assert_eq!(
        c.value("history:record", json!({ "entry": h1 })).await,
        json!({ "entry": h1 })
    );
    c.value("history:record", json!({ "entry": h2 })).await;
    assert_eq!(
        c.value("history:list", json!({ "userId": "u1" })).await,
        json!([h2, h1]),
        "a bare array, newest first"
    );
    assert_eq!(
        c.value("history:list", json!({ "userId": "u1", "limit": 1 }))
            .await,
        json!([h2])
    );
    assert_eq!(
        c.value("history:remove", json!({ "userId": "u1", "id": "h1" }))
            .await,
        json!({ "removed": true })
    );
    assert_eq!(
        c.value("history:remove", json!({ "userId": "u1", "id": "h1" }))
            .await,
        json!({ "removed": false })
    );
    assert_eq!(
        c.value("history:clear", json!({ "userId": "u1" })).await,
        json!({ "cleared": 1 })
    );

    // provisioning
    let credential = json!({ "id": "cred_1", "userId": "u1", "provider": "openai", "tokenHash": "hash",
        "salt": "salt", "scopes": ["tts"], "planTier": "pro", "issuedAt": 1_767_225_600_000u64,
        "expiresAt": 1_769_904_000_000u64, "status": "active" });
    assert_eq!(
        c.value(
            "provisioning:saveCredential",
            json!({ "record": credential })
        )
        .await,
        json!({ "result": true })
    );
    assert_eq!(
        c.value(
            "provisioning:findActiveCredential",
            json!({ "userId": "u1", "provider": "openai" })
        )
        .await,
        json!({ "credential": credential })
    );
    assert_eq!(
        c.value("provisioning:listCredentials", json!({})).await,
        json!({ "credentials": [credential] })
    );
    assert_eq!(
        c.value(
            "provisioning:markCredentialRevoked",
            json!({ "credentialId": "cred_1" })
        )
        .await,
        json!({ "result": true })
    );
    assert_eq!(
        c.value(
            "provisioning:findActiveCredential",
            json!({ "userId": "u1", "provider": "openai" })
        )
        .await,
        json!({ "credential": null })
    );
    let record = json!({ "id": "use_1", "userId": "u1", "provider": "openai", "tokensUsed": 120,
                         "costMinorUnits": 3, "recordedAt": T0 });
    assert_eq!(
        c.value("provisioning:recordUsage", json!({ "entry": record }))
            .await,
        json!({ "usage": record })
    );
    assert_eq!(
        c.value("provisioning:listUsage", json!({ "userId": "u1" }))
            .await,
        json!({ "usage": [record] })
    );

    // session
    let session = json!({ "id": "s1", "secret": "enc:abc", "expiresAt": T0 + 1000 });
    assert_eq!(
        c.value("session:save", json!({ "record": session })).await,
        json!({ "result": true })
    );
    assert_eq!(
        c.value("session:get", json!({ "sessionId": "s1" })).await,
        json!({ "session": session })
    );
    assert_eq!(
        c.value("session:prune", json!({ "now": T0 + 1001 })).await,
        json!({ "result": 1 })
    );
    assert_eq!(
        c.value("session:get", json!({ "sessionId": "s1" })).await,
        json!({ "session": null })
    );
    assert_eq!(
        c.value("session:deleteSession", json!({ "sessionId": "s1" }))
            .await,
        json!({ "result": true })
    );

    // users
    let user = json!({ "clerkId": "u1", "email": "ada@example.com", "lastLoginAt": T0,
                       "createdAt": T0, "updatedAt": T0 });
    assert_eq!(
        c.value(
            "users:ensureUser",
            json!({ "clerkId": "u1", "email": "ada@example.com" })
        )
        .await,
        json!({ "user": user })
    );
    assert_eq!(
        c.value("users:getUser", json!({ "clerkId": "u1" })).await,
        user,
        "a bare User"
    );
    assert_eq!(
        c.value("users:getUser", json!({ "clerkId": "nobody" }))
            .await,
        Value::Null
    );

    // pipelines
    let step = json!({ "id": "s1", "kind": "summarise", "options": { "style": "bullets", "bulletCount": 5 } });
    let created = c
        .value(
            "pipelines:create",
            json!({ "input": { "ownerId": "u1", "name": " Morning digest ", "steps": [step],
                               "schedule": { "cron": "0 7 * * *" } } }),
        )
        .await;
    let id = created["pipeline"]["id"].as_str().unwrap().to_owned();
    let secret = created["pipeline"]["webhookSecret"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut pipeline = json!({ "id": id, "ownerId": "u1", "name": "Morning digest", "steps": [step],
        "schedule": { "cron": "0 7 * * *" }, "webhookSecret": secret,
        "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z" });
    assert_eq!(created, json!({ "pipeline": pipeline }));
    assert_eq!(
        c.value("pipelines:list", json!({ "ownerId": "u1" })).await,
        json!({ "pipelines": [{ "id": id, "name": "Morning digest", "schedule": { "cron": "0 7 * * *" } }] })
    );
    assert_eq!(
        c.value("pipelines:get", json!({ "id": id })).await,
        json!({ "pipeline": pipeline })
    );
    assert_eq!(
        c.value("pipelines:findByWebhookSecret", json!({ "secret": secret }))
            .await,
        json!({ "pipeline": pipeline })
    );
    c.clock.set(T0 + 60_000);
    pipeline["name"] = json!("Renamed");
    pipeline["updatedAt"] = json!("2026-01-01T00:01:00.000Z");
    assert_eq!(
        c.value(
            "pipelines:update",
            json!({ "id": id, "input": { "name": "Renamed" } })
        )
        .await,
        json!({ "pipeline": pipeline })
    );
    c.clock.set(T0 + 120_000);
    pipeline["lastRunAt"] = json!("2026-01-01T00:01:30.000Z");
    pipeline["updatedAt"] = json!("2026-01-01T00:02:00.000Z");
    assert_eq!(
        c.value(
            "pipelines:recordRun",
            json!({ "id": id, "completedAt": "2026-01-01T00:01:30.000Z" })
        )
        .await,
        json!({ "pipeline": pipeline })
    );
    assert_eq!(
        c.value("pipelines:remove", json!({ "id": id })).await,
        json!({ "result": true })
    );
    assert_eq!(
        c.value("pipelines:get", json!({ "id": id })).await,
        json!({ "pipeline": null })
    );

    // workspaceLayouts
    let user = json!({ "userId": "u1" });
    assert_eq!(
        c.value("workspaceLayouts:getWorkspaceLayout", user.clone())
            .await,
        Value::Null
    );
    let layout = json!({ "version": 2, "tabs": [{ "id": "t1", "panels": ["editor"] }], "activeTabId": "t1" });
    let record =
        json!({ "userId": "u1", "layout": layout, "version": 2, "updatedAt": T0 + 120_000 });
    assert_eq!(
        c.value(
            "workspaceLayouts:saveWorkspaceLayout",
            json!({ "payload": { "userId": "u1", "layout": layout } })
        )
        .await,
        json!({ "layout": record })
    );
    assert_eq!(
        c.value("workspaceLayouts:getWorkspaceLayout", user.clone())
            .await,
        record
    );
    assert_eq!(
        c.value("workspaceLayouts:clearWorkspaceLayout", user.clone())
            .await,
        json!({ "cleared": true })
    );
    assert_eq!(
        c.value("workspaceLayouts:clearWorkspaceLayout", user).await,
        json!({ "cleared": false })
    );
    // transit
    let record = json!({ "userId": "u1", "transcriptId": "t1", "title": "Standup", "transcript": "Hi.",
        "segments": [{ "index": 0, "startMs": 0, "endMs": 900.5, "text": "Hi." }], "durationMs": 900.5,
        "confidence": 0.9, "createdAt": "2026-01-01T09:00:00.000Z", "source": "microphone" });
    let transcript = json!({ "id": "t1", "title": "Standup", "transcript": "Hi.",
        "segments": [{ "index": 0, "startMs": 0, "endMs": 900.5, "text": "Hi." }], "summary": null,
        "cleanup": null, "language": null, "durationMs": 900.5, "confidence": 0.9,
        "createdAt": "2026-01-01T09:00:00.000Z", "source": "microphone" });
    assert_eq!(
        c.value("transit:saveTranscript", json!({ "record": record }))
            .await,
        json!({ "record": transcript })
    );
    assert_eq!(
        c.value("transit:listTranscripts", json!({ "userId": "u1" }))
            .await,
        json!([transcript])
    );
    assert_eq!(
        c.value(
            "transit:removeTranscript",
            json!({ "userId": "u1", "transcriptId": "t1" })
        )
        .await,
        json!({ "removed": true })
    );
    assert_eq!(
        c.value("transit:clearTranscripts", json!({ "userId": "u1" }))
            .await,
        json!({ "cleared": 0 })
    );
    assert_eq!(
        c.value("transit:getCalendarToken", json!({ "userId": "u1" }))
            .await,
        Value::Null
    );
    assert_eq!(
        c.value(
            "transit:setCalendarToken",
            json!({ "userId": "u1", "encryptedPayload": "cipher", "expiresAt": 5, "scope": ["calendar"] })
        )
        .await,
        json!({ "updated": false })
    );
    assert_eq!(
        c.value("transit:getCalendarToken", json!({ "userId": "u1" }))
            .await,
        json!({ "encryptedPayload": "cipher", "expiresAt": 5, "scope": ["calendar"], "updatedAt": T0 + 120_000 })
    );
    assert_eq!(
        c.value("transit:clearCalendarToken", json!({ "userId": "u1" }))
            .await,
        json!({ "cleared": true })
    );

    // translations
    c.clock.set(T0 + 200_000);
    let doc = json!({ "accountId": "u1", "documentId": "d1" });
    let with = |extra: Value| {
        let mut args = doc.clone();
        args.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        args
    };
    let translation = json!({ "id": "t1", "accountId": "u1", "documentId": "d1", "sequenceIndex": 1,
        "createdAt": "2026-01-01T00:03:20.000Z", "updatedAt": "2026-01-01T00:03:20.000Z",
        "sourceText": "Hello", "sourceLanguageCode": "unknown", "targetLanguageCode": "fr",
        "translatedText": "Bonjour", "keepOriginalApplied": true, "provider": "openai" });
    let payload = json!({ "translationId": "t1", "sourceText": "Hello", "sourceLanguageCode": "unknown",
        "targetLanguageCode": "fr", "translatedText": "Bonjour", "keepOriginalApplied": true, "provider": "openai" });
    assert_eq!(
        c.value("translations:create", with(json!({ "payload": payload })))
            .await,
        json!({ "translation": translation, "historySize": 1 })
    );
    assert_eq!(
        c.value("translations:list", doc.clone()).await,
        json!({ "items": [translation] })
    );
    let mut promoted = translation.clone();
    promoted["sequenceIndex"] = json!(2);
    assert_eq!(
        c.value(
            "translations:promote",
            with(json!({ "translationId": "t1" }))
        )
        .await,
        json!({ "translation": promoted, "reordered": true })
    );
    let mut adopted = promoted.clone();
    adopted["sequenceIndex"] = json!(1);
    adopted["keepOriginalApplied"] = json!(false);
    adopted["adoptedAt"] = json!("2026-01-01T00:03:20.000Z");
    assert_eq!(
        c.value(
            "translations:markAdopted",
            with(json!({ "translationId": "t1", "collapseHistory": true }))
        )
        .await,
        json!({ "translation": adopted, "collapsed": true })
    );
    assert_eq!(
        c.value("translations:clear", doc.clone()).await,
        json!({ "deletedCount": 1 })
    );

    let called = client.called.lock().unwrap().clone();
    let all: BTreeSet<&str> = FUNCTIONS.iter().map(|f| f.name).collect();
    assert_eq!(called, all, "every function was called");
    let lines = client.app.log_lines();
    assert!(
        lines.iter().all(|l| l["event"] == "convex_http_success"),
        "{lines:?}"
    );
}

async fn special_floats_are_decoded_before_the_arguments_are_checked(store: Store) {
    let client = Client::new(store).await;
    let app = &client.app;
    let tokens =
        |value: Value| json!({ "userId": "u1", "provider": "openai", "tokensUsed": value });

    let minus_zero = client
        .value("account:recordUsage", tokens(float(MINUS_ZERO)))
        .await;
    assert_eq!(minus_zero["account"]["usage"]["monthTokensUsed"], 0);

    for (name, encoded) in [("NaN", NAN), ("Infinity", INFINITY)] {
        let answer = call(
            app,
            Kind::Mutation,
            "account:recordUsage",
            tokens(float(encoded)),
        )
        .await;
        assert_eq!(
            function_error(&answer),
            "tokensUsed: must be a number between -1e38 and 1e38 (the range the database stores)",
            "{name}"
        );
    }

    let credential = json!({ "id": "c1", "userId": "u1", "provider": "openai", "tokenHash": "h",
        "salt": "s", "scopes": [], "planTier": "pro", "issuedAt": 1, "expiresAt": 2, "status": "active" });
    client
        .value(
            "provisioning:saveCredential",
            json!({ "record": credential }),
        )
        .await;
    assert_eq!(
        client
            .value(
                "provisioning:listCredentials",
                json!({ "limit": float(INFINITY) })
            )
            .await,
        json!({ "credentials": [credential] }),
        "a limit that is not finite is the default, as the contract says"
    );

    let answer = call(
        app,
        Kind::Query,
        "history:list",
        json!({ "userId": "u1", "limit": { "$integer": "AQAAAAAAAAA=" } }),
    )
    .await;
    assert_eq!(
        function_error(&answer),
        "limit: a BigInt ($integer) is not accepted: send a number"
    );
    let answer = call(
        app,
        Kind::Mutation,
        "session:save",
        json!({ "record": { "id": "s", "secret": { "$bytes": "AAAA" }, "expiresAt": 1 } }),
    )
    .await;
    assert_eq!(
        function_error(&answer),
        "record.secret: an ArrayBuffer ($bytes) is not accepted"
    );
}

async fn a_store_refusal_is_a_function_error(store: Store) {
    let client = Client::new(store).await;
    let big = "x".repeat(500 * 1024);
    let answer = call(
        &client.app,
        Kind::Mutation,
        "session:save",
        json!({ "record": { "id": "big", "secret": big, "expiresAt": 1 } }),
    )
    .await;
    let message = function_error(&answer);
    assert!(message.contains("item limit"), "{message}");
    let line = client.app.log_lines().pop().unwrap();
    assert_eq!(line["event"], "convex_http_invalid_request");
    assert_eq!(line["status"], 560);
    assert_eq!(line["function"], "session:save");
    assert_eq!(
        client
            .value("session:get", json!({ "sessionId": "big" }))
            .await,
        json!({ "session": null }),
        "nothing was written"
    );
}

async fn embedded_client() -> Client {
    Client::new(service_tests::embedded()).await
}

#[tokio::test]
async fn every_function_name_maps_to_a_route_the_server_and_the_api_function_have() {
    let routes =
        devserver::routes(&service_tests::embedded(), Arc::new(shared::SystemClock)).unwrap();
    let api =
        api::embedded_routes(&service_tests::embedded_db(), Arc::new(shared::SystemClock)).unwrap();
    for f in FUNCTIONS {
        assert!(routes.get_args(f.path).is_some(), "{f:?}");
    }
    assert_eq!(
        api.paths().collect::<Vec<_>>(),
        routes.paths().collect::<Vec<_>>(),
        "the api function serves every group the dev server does"
    );
    assert_eq!(
        api::GROUPS.map(|g| g.name),
        devserver::GROUPS.map(|g| g.name)
    );
}

#[tokio::test]
async fn a_function_called_through_the_other_kinds_endpoint_is_a_function_error() {
    let client = embedded_client().await;
    for f in FUNCTIONS {
        let (wrong, called_as, defined_as) = match f.kind {
            Kind::Query => (Kind::Mutation, "Mutation", "Query"),
            Kind::Mutation => (Kind::Query, "Query", "Mutation"),
        };
        let answer = call(&client.app, wrong, f.name, json!({})).await;
        assert_eq!(
            function_error(&answer),
            format!(
                "Trying to execute {} as {called_as}, but it is defined as {defined_as}.",
                f.name
            )
        );
    }
    let line = client.app.log_lines().pop().unwrap();
    assert_eq!(line["event"], "convex_http_invalid_request");
}

#[tokio::test]
async fn unknown_functions_answer_the_text_the_app_recognises() {
    let client = embedded_client().await;
    for (kind, name) in [
        (Kind::Query, "translations:listAll"),
        (Kind::Mutation, "transit:saveDepartures"),
        (Kind::Query, "users:get"),
        (Kind::Mutation, "pipelines:listRuns"),
    ] {
        let answer = call(&client.app, kind, name, json!({})).await;
        assert_eq!(
            function_error(&answer),
            format!("Could not find public function for '{name}'")
        );
    }
    let line = client.app.log_lines().pop().unwrap();
    assert_eq!(line["event"], "convex_http_invalid_request");
    assert_eq!(line["function"], "pipelines:listRuns");
    assert_eq!(line["path"], "/api/mutation");
    let answer = call(
        &client.app,
        Kind::Query,
        "users.js:getUser",
        json!({ "clerkId": "x" }),
    )
    .await;
    assert_eq!(
        answer.body,
        json!({ "status": "success", "value": null, "logLines": [] }),
        "the module may carry its .js extension"
    );
    assert_eq!(
        client.app.log_lines().pop().unwrap()["function"],
        "users:getUser"
    );
}

#[tokio::test]
async fn bad_arguments_are_function_errors_naming_the_field() {
    let client = embedded_client().await;
    let app = &client.app;
    for (name, args, message) in [
        ("users:getUser", json!({}), "missing field `clerkId`"),
        (
            "users:getUser",
            json!({ "clerkId": 5 }),
            "clerkId: expected a string, got a number",
        ),
        (
            "users:getUser",
            json!({ "clerkId": "" }),
            "clerkId: must not be empty",
        ),
        (
            "history:record",
            json!({ "entry": { "id": "h", "userId": "u", "provider": "p", "voiceId": "v", "text": "t",
                               "createdAt": "2026-01-01T00:00:00.000Z", "durationMs": "long" } }),
            "entry.durationMs: expected a number, got a string",
        ),
        (
            "session:get",
            json!({ "sessionId": "s", "$extra": 1 }),
            "$extra: field names starting with '$' are reserved",
        ),
    ] {
        let kind = FUNCTIONS.iter().find(|f| f.name == name).unwrap().kind;
        let answer = call(app, kind, name, args.clone()).await;
        assert_eq!(function_error(&answer), message, "{name}({args})");
    }
    let answer = call(
        app,
        Kind::Query,
        "session:get",
        json!({ "sessionId": "s", "extra": 1 }),
    )
    .await;
    assert!(
        function_error(&answer).starts_with("extra: unknown field `extra`"),
        "{answer:?}"
    );
    let line = app.log_lines().pop().unwrap();
    assert_eq!(line["event"], "convex_http_invalid_request");
    assert_eq!(line["level"], "warn");
    assert_eq!(line["status"], 560);
    assert_eq!(line["function"], "session:get");
    assert!(line["error"]
        .as_str()
        .unwrap()
        .starts_with("extra: unknown field"));
}

#[tokio::test]
async fn a_request_that_is_not_the_clients_envelope_is_a_400() {
    let client = embedded_client().await;
    let app = &client.app;
    let bearer = format!("Bearer {ADMIN_KEY}");
    let envelope = |path: Value, format: Value, args: Value| json!({ "path": path, "format": format, "args": args });
    for (body, code, message) in [
        (
            envelope(json!("users:getUser"), json!("json"), json!([{}])),
            "invalid_argument",
            "format: must be \"convex_encoded_json\"",
        ),
        (
            envelope(
                json!("users:getUser"),
                json!("convex_encoded_json"),
                json!([]),
            ),
            "invalid_argument",
            "args: must hold exactly one argument object",
        ),
        (
            envelope(
                json!("users:getUser"),
                json!("convex_encoded_json"),
                json!([{}, {}]),
            ),
            "invalid_argument",
            "args: must hold exactly one argument object",
        ),
        (
            envelope(
                json!("users:getUser"),
                json!("convex_encoded_json"),
                json!(["x"]),
            ),
            "invalid_argument",
            "args[0]: must be an object",
        ),
        (
            envelope(json!(""), json!("convex_encoded_json"), json!([{}])),
            "invalid_argument",
            "path: must be a function name of 1 to 1024 bytes",
        ),
        (
            json!({ "path": "users:getUser", "args": [{}] }),
            "invalid_argument",
            "missing field `format`",
        ),
        (
            json!([1]),
            "invalid_json",
            "request body must be a JSON object",
        ),
    ] {
        let answer = send(app, "/api/query", Some(&bearer), body.clone()).await;
        assert_eq!(answer.status, 400, "{body}: {answer:?}");
        assert_eq!(
            answer.body,
            json!({ "error": { "code": code, "message": message } }),
            "{body}"
        );
    }
    let answer = send(
        app,
        "/api/query",
        Some(&bearer),
        json!({ "path": "users:getUser", "format": "convex_encoded_json", "args": [{}], "ts": "1" }),
    )
    .await;
    assert_eq!(answer.status, 400, "unknown envelope fields are refused");

    let not_json = app
        .send("POST", "/api/mutation", Some(&bearer), b"{oops".to_vec())
        .await;
    assert_eq!(not_json.status, 400);
    assert_eq!(not_json.body["error"]["code"], "invalid_json");

    let get = app
        .send("GET", "/api/query", Some(&bearer), Vec::new())
        .await;
    assert_eq!(get.status, 405);
    assert_eq!(get.allow.as_deref(), Some("POST"));

    let huge = vec![b' '; shared::service::MAX_BODY_BYTES + 1];
    let too_large = app.send("POST", "/api/mutation", Some(&bearer), huge).await;
    assert_eq!(too_large.status, 413);
    assert_eq!(too_large.body["error"]["code"], "payload_too_large");

    let lines = app.log_lines();
    assert!(
        lines
            .iter()
            .all(|l| l["event"] == "convex_http_invalid_request" && l.get("function").is_none()),
        "{lines:?}"
    );
}

#[tokio::test]
async fn both_schemes_the_client_sends_are_accepted_and_anything_else_is_a_plain_401() {
    let client = embedded_client().await;
    let app = &client.app;
    let body = json!({ "path": "users:getUser", "format": "convex_encoded_json", "args": [{ "clerkId": "x" }] });
    for scheme in ["Convex", "Bearer", "convex"] {
        let answer = send(
            app,
            "/api/query",
            Some(&format!("{scheme} {ADMIN_KEY}")),
            body.clone(),
        )
        .await;
        assert_eq!(answer.status, 200, "{scheme}");
        assert_eq!(answer.body["value"], Value::Null);
    }
    let legacy = app
        .send_with(
            "POST",
            "/api/query",
            &[("x-convex-admin-key", Some(ADMIN_KEY))],
            body.to_string().into_bytes(),
        )
        .await;
    assert_eq!(legacy.status, 200);

    for authorization in [Some("Convex wrong-key"), Some(ADMIN_KEY), None] {
        let answer = send(app, "/api/query", authorization, body.clone()).await;
        assert_eq!(answer.status, 401, "{authorization:?}");
        assert_eq!(answer.body["error"]["code"], "unauthorized");
    }
    let events: Vec<Value> = app.log_lines().iter().map(|l| l["event"].clone()).collect();
    assert_eq!(
        events,
        [
            "convex_http_success",
            "convex_http_success",
            "convex_http_success",
            "convex_http_admin_header_fallback",
            "convex_http_success",
            "convex_http_unauthorized",
            "convex_http_unauthorized",
            "convex_http_unauthorized",
        ]
    );

    let unconfigured = spawn_app_with(
        auth(&[]),
        service_tests::embedded(),
        Arc::new(shared::SystemClock),
    )
    .await;
    let answer = send(
        &unconfigured,
        "/api/mutation",
        Some(&format!("Convex {ADMIN_KEY}")),
        body,
    )
    .await;
    assert_eq!(answer.status, 500);
    assert_eq!(answer.body["error"]["code"], "missing_admin_token");
    let line = unconfigured.log_lines().pop().unwrap();
    assert_eq!(line["event"], "convex_http_missing_admin_token");
    assert_eq!(line["path"], "/api/mutation");
}

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

/// One line of each outcome of a call: a success, an invalid call and a store failure.
async fn lines_of_each_outcome() -> (Value, Value, Value) {
    let client = embedded_client().await;
    client
        .value("users:getUser", json!({ "clerkId": "x" }))
        .await;
    let invalid = call(&client.app, Kind::Query, "users:getUser", json!({})).await;
    function_error(&invalid);
    let [success, invalid] = <[Value; 2]>::try_from(client.app.log_lines()).unwrap();

    let config = shared::Config {
        dynamodb_endpoint: Some("http://127.0.0.1:1".into()),
        ..Default::default()
    };
    let unreachable = Store::Dynamo {
        client: shared::dynamo::client(&config).await,
        prefix: String::new(),
    };
    let broken = Client::new(unreachable).await;
    let answer = call(
        &broken.app,
        Kind::Mutation,
        "users:ensureUser",
        json!({ "clerkId": "x" }),
    )
    .await;
    let message = function_error(&answer);
    assert!(message.starts_with("database unavailable"), "{message}");
    let failure = broken.app.log_lines().pop().unwrap();
    (success, invalid, failure)
}

#[tokio::test]
async fn each_call_prints_one_line_with_the_http_path_and_the_function_name() {
    let (success, invalid, failure) = lines_of_each_outcome().await;
    assert_eq!(
        fields(&success),
        [
            "event",
            "function",
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
    assert_eq!(success["event"], "convex_http_success");
    assert_eq!(success["level"], "info");
    assert_eq!(success["path"], "/api/query");
    assert_eq!(success["function"], "users:getUser");
    assert_eq!(success["status"], 200);

    assert_eq!(invalid["event"], "convex_http_invalid_request");
    assert_eq!(invalid["level"], "warn");
    assert_eq!(invalid["status"], 560);
    assert_eq!(invalid["function"], "users:getUser");
    assert_eq!(invalid["error"], "missing field `clerkId`");

    assert_eq!(failure["event"], "convex_http_failure");
    assert_eq!(failure["level"], "error");
    assert_eq!(failure["status"], 560);
    assert_eq!(failure["path"], "/api/mutation");
    assert_eq!(failure["function"], "users:ensureUser");
    assert!(failure["error"]
        .as_str()
        .unwrap()
        .starts_with("database unavailable"));
}

#[tokio::test]
async fn the_templates_metric_filters_count_the_protocols_lines_by_their_cause() {
    use service_tests::cloudwatch;
    use service_tests::template::{expanded, resources_of};
    let (success, invalid, failure) = lines_of_each_outcome().await;
    let template = expanded();
    let filter = |metric: &str| {
        resources_of(&template, "AWS::Logs::MetricFilter")
            .into_iter()
            .map(|(_, f)| f["Properties"].clone())
            .find(|p| p["MetricTransformations"][0]["MetricName"].as_str() == Some(metric))
            .unwrap()["FilterPattern"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for (metric, matched) in [
        ("Requests", [true, true, true]),
        ("Successes", [true, false, false]),
        ("Failures", [false, false, true]),
    ] {
        let pattern = filter(metric);
        for (line, expected) in [&success, &invalid, &failure].into_iter().zip(matched) {
            assert_eq!(
                cloudwatch::matches(&pattern, line),
                expected,
                "{metric} on {line}"
            );
        }
    }
}

/// The real client library: `infra/convex-client/check.mjs` drives every function through the
/// npm package `convex` (installed once by `infra/scripts/convex-client.sh`) against a dev server.
async fn the_npm_convex_client_calls_every_function_and_reads_the_contracts_values(store: Store) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let install = std::process::Command::new(root.join("infra/scripts/convex-client.sh"))
        .arg("install")
        .output()
        .expect("the install script runs");
    assert!(
        install.status.success(),
        "installing the convex package failed: {}",
        String::from_utf8_lossy(&install.stderr)
    );
    let dir = String::from_utf8(install.stdout).unwrap().trim().to_owned();

    let app = service_tests::spawn_app(store).await;
    let mut node = std::process::Command::new("node");
    node.arg(root.join("infra/convex-client/check.mjs"))
        .arg(&app.base)
        .arg(ADMIN_KEY)
        .env("CONVEX_CLIENT_DIR", &dir);
    // Blocking on its own thread, so this test's runtime goes on serving the client's requests.
    let output = tokio::task::spawn_blocking(move || node.output())
        .await
        .unwrap()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "check.mjs failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(&format!(
            "convex-client: all {} functions answered as the contract says",
            FUNCTIONS.len()
        )),
        "{stdout}"
    );

    let lines = app.log_lines();
    let called: BTreeSet<&str> = lines
        .iter()
        .filter(|l| l["event"] == "convex_http_success")
        .filter_map(|l| l["function"].as_str())
        .collect();
    let all: BTreeSet<&str> = FUNCTIONS.iter().map(|f| f.name).collect();
    assert_eq!(called, all, "the client reached every function");
    assert!(
        lines
            .iter()
            .filter(|l| l["event"] == "convex_http_success")
            .all(|l| l["userAgent"].as_str().is_some()),
        "the client's requests were logged"
    );
}

#[tokio::test]
async fn the_sam_sample_events_of_both_endpoints_carry_the_bodies_of_functions_json_and_answer() {
    use base64::Engine;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/events");
    let bodies: std::collections::BTreeMap<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("functions.json")).unwrap())
            .unwrap();
    let endpoints: BTreeSet<String> = Kind::ALL
        .map(|kind| kind.endpoint().to_owned())
        .into_iter()
        .collect();
    assert_eq!(bodies.keys().cloned().collect::<BTreeSet<_>>(), endpoints);
    let app = service_tests::spawn_app(service_tests::embedded()).await;
    for (endpoint, body) in bodies {
        let file = dir.join(format!("{}.json", endpoint.trim_start_matches('/')));
        let event: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(event["rawPath"], endpoint.as_str());
        assert_eq!(event["version"], "2.0", "an HTTP API (payload 2.0) event");
        let sent = base64::engine::general_purpose::STANDARD
            .decode(event["body"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&sent).unwrap(),
            body,
            "{} is stale: run infra/scripts/sample-events.sh",
            file.display()
        );
        let authorization = event["headers"]["authorization"].as_str().unwrap();
        assert!(authorization.starts_with("Convex "), "{authorization}");
        let function = shared::convex::function(body["path"].as_str().unwrap()).unwrap();
        assert_eq!(function.kind.endpoint(), endpoint, "{}", function.name);
        let answer = send(&app, &endpoint, Some(&format!("Convex {ADMIN_KEY}")), body).await;
        assert_eq!(answer.status, 200, "{endpoint}: {answer:?}");
        assert_eq!(answer.body["status"], "success");
    }
}

/// A call through the protocol costs the DynamoDB calls of its route, and a call refused before
/// its handler costs none.
#[cfg(feature = "dynamodb-local")]
mod round_trips {
    use super::*;

    #[tokio::test]
    async fn a_function_makes_exactly_the_calls_of_its_route() {
        let tables = service_tests::DynamoTables::create().await;
        let client = Client::new(tables.store()).await;
        let app = &client.app;
        let setup = [
            ("/users/ensure", json!({ "clerkId": "u1" })),
            (
                "/session/save",
                json!({ "record": { "id": "s1", "secret": "x", "expiresAt": 1 } }),
            ),
            (
                "/history/record",
                json!({ "entry": { "id": "h1", "userId": "u1", "provider": "p", "voiceId": "v",
                "text": "t", "createdAt": "2026-01-01T00:00:00.000Z", "durationMs": 1 } }),
            ),
            (
                "/provisioning/save",
                json!({ "record": { "id": "c1", "userId": "u1", "provider": "p", "tokenHash": "h",
                "salt": "s", "scopes": [], "planTier": "pro", "issuedAt": 1, "expiresAt": 2, "status": "active" } }),
            ),
        ];
        for (path, body) in setup {
            app.ok(path, body).await;
        }
        let created = app
            .ok(
                "/pipelines/create",
                json!({ "input": { "name": "P", "steps": [] } }),
            )
            .await;
        let pipeline = &created["pipeline"];
        let cases = [
            ("history:list", json!({ "userId": "u1" })),
            (
                "provisioning:findActiveCredential",
                json!({ "userId": "u1", "provider": "p" }),
            ),
            ("provisioning:listCredentials", json!({})),
            ("provisioning:listUsage", json!({ "userId": "u1" })),
            ("session:get", json!({ "sessionId": "s1" })),
            ("users:getUser", json!({ "clerkId": "u1" })),
            ("pipelines:list", json!({})),
            ("pipelines:get", json!({ "id": pipeline["id"] })),
            (
                "pipelines:findByWebhookSecret",
                json!({ "secret": pipeline["webhookSecret"] }),
            ),
            (
                "translations:list",
                json!({ "accountId": "u1", "documentId": "d1" }),
            ),
            (
                "translations:create",
                json!({ "accountId": "u1", "documentId": "d1", "payload": { "sourceText": "s",
                "sourceLanguageCode": "en", "targetLanguageCode": "fr", "translatedText": "t",
                "keepOriginalApplied": false, "provider": "p" } }),
            ),
            ("users:ensureUser", json!({ "clerkId": "u1" })),
            (
                "session:save",
                json!({ "record": { "id": "s1", "secret": "x", "expiresAt": 1 } }),
            ),
            ("account:getOrCreate", json!({ "userId": "u1" })),
            (
                "workspaceLayouts:saveWorkspaceLayout",
                json!({ "payload": { "userId": "u1", "layout": { "version": 1 } } }),
            ),
            (
                "workspaceLayouts:getWorkspaceLayout",
                json!({ "userId": "u1" }),
            ),
            (
                "workspaceLayouts:clearWorkspaceLayout",
                json!({ "userId": "u1" }),
            ),
            ("transit:listTranscripts", json!({ "userId": "u1" })),
            ("transit:getCalendarToken", json!({ "userId": "u1" })),
            (
                "transit:removeTranscript",
                json!({ "userId": "u1", "transcriptId": "absent" }),
            ),
        ];
        tables.calls.take();
        for (name, args) in cases {
            let f = shared::convex::function(name).unwrap();
            app.ok(f.path, args.clone()).await;
            let by_route = tables.calls.take();
            assert!(!by_route.is_empty(), "{name}");
            client.value(name, args).await;
            assert_eq!(tables.calls.take(), by_route, "{name}");
        }

        call(app, Kind::Query, "translations:listAll", json!({})).await;
        call(
            app,
            Kind::Mutation,
            "users:getUser",
            json!({ "clerkId": "u1" }),
        )
        .await;
        call(app, Kind::Query, "users:getUser", json!({})).await;
        call(
            app,
            Kind::Query,
            "users:getUser",
            json!({ "clerkId": float(NAN) }),
        )
        .await;
        assert_eq!(
            tables.calls.take(),
            Vec::<String>::new(),
            "refused calls reach no table"
        );
    }
}
