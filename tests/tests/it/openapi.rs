//! The OpenAPI document (openapi.yaml) against the service: the same paths as the route table, the
//! sample bodies of infra/events/requests.json valid for their request schemas, and real answers of
//! the dev server (embedded store) valid for their response schemas.

use serde_json::{json, Value};
use service_tests::{embedded, spawn_app, TestApp, ADMIN_KEY};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

/// The error statuses every route documents (CONTRACT.md §3; `404` is for unknown paths only).
const ERROR_STATUSES: [&str; 6] = ["400", "401", "405", "413", "500", "503"];

/// The pipeline id the sample bodies use; the test swaps in the id of the pipeline it created.
const SAMPLE_PIPELINE_ID: &str = "00000000-0000-4000-8000-000000000000";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// openapi.yaml, as JSON.
fn document() -> Value {
    let text = std::fs::read_to_string(root().join("openapi.yaml")).expect("openapi.yaml exists");
    serde_norway::from_str(&text).expect("openapi.yaml is valid YAML")
}

/// infra/events/requests.json: one sample body per route.
fn samples() -> BTreeMap<String, Value> {
    let text = std::fs::read_to_string(root().join("infra/events/requests.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn route_table() -> BTreeSet<String> {
    devserver::routes(&embedded(), Arc::new(shared::SystemClock))
        .unwrap()
        .paths()
        .map(str::to_owned)
        .collect()
}

/// A JSON pointer token (RFC 6901).
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Follows an OpenAPI `$ref` (`#/components/...`) to the pointer of the object it names.
fn resolve(doc: &Value, pointer: String) -> String {
    match doc.pointer(&pointer).and_then(|v| v.get("$ref")) {
        Some(Value::String(target)) => {
            resolve(doc, target.strip_prefix('#').expect("a local $ref").into())
        }
        _ => pointer,
    }
}

/// The pointer of the request body schema of `path`.
fn request_schema(doc: &Value, path: &str) -> String {
    let body = resolve(doc, format!("/paths/{}/post/requestBody", escape(path)));
    format!("{body}/content/application~1json/schema")
}

/// The pointer of the response schema of `path` for `status`.
fn response_schema(doc: &Value, path: &str, status: &str) -> String {
    let response = resolve(
        doc,
        format!("/paths/{}/post/responses/{status}", escape(path)),
    );
    format!("{response}/content/application~1json/schema")
}

/// A validator of the schema at `pointer`, resolving its `$ref`s within the whole document.
fn validator(doc: &Value, pointer: &str) -> jsonschema::Validator {
    assert!(
        doc.pointer(pointer).is_some(),
        "openapi.yaml has no {pointer}"
    );
    let mut root = doc.clone();
    root["$ref"] = Value::String(format!("#{pointer}"));
    jsonschema::draft202012::new(&root)
        .unwrap_or_else(|e| panic!("the schema at {pointer} does not compile: {e}"))
}

/// The reasons `value` does not match the schema at `pointer` (none when it does).
fn problems(doc: &Value, pointer: &str, value: &Value) -> Vec<String> {
    validator(doc, pointer)
        .iter_errors(value)
        .map(|e| e.to_string())
        .collect()
}

fn assert_valid(doc: &Value, pointer: &str, value: &Value, what: &str) {
    let problems = problems(doc, pointer, value);
    assert!(
        problems.is_empty(),
        "{what} does not match {pointer}: {problems:?}\n{value}"
    );
}

#[test]
fn the_document_has_exactly_the_paths_of_the_route_table() {
    let doc = document();
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    let routes = route_table();
    let missing: Vec<_> = routes.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routes).collect();
    assert!(
        missing.is_empty(),
        "routes missing from openapi.yaml: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "openapi.yaml documents no such route: {extra:?}"
    );
    assert_eq!(
        samples().keys().cloned().collect::<BTreeSet<_>>(),
        routes,
        "requests.json has one sample per route"
    );
}

#[test]
fn every_route_is_a_post_with_a_body_a_200_and_every_error_status() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let scheme = &doc["components"]["securitySchemes"]["bearerAuth"];
    assert_eq!(
        (&scheme["type"], &scheme["scheme"]),
        (&json!("http"), &json!("bearer"))
    );
    assert_eq!(doc["security"], json!([{ "bearerAuth": [] }]));
    for (path, item) in doc["paths"].as_object().unwrap() {
        let methods: Vec<&String> = item.as_object().unwrap().keys().collect();
        assert_eq!(methods, ["post"], "{path} is POST only");
        validator(&doc, &request_schema(&doc, path));
        validator(&doc, &response_schema(&doc, path, "200"));
        for status in ERROR_STATUSES {
            let pointer = response_schema(&doc, path, status);
            assert_eq!(
                doc.pointer(&pointer),
                Some(&json!({ "$ref": "#/components/schemas/Error" })),
                "{path} documents {status} with the error body"
            );
        }
    }
}

#[test]
fn every_sample_body_matches_its_request_schema() {
    let doc = document();
    for (path, body) in samples() {
        assert_valid(&doc, &request_schema(&doc, &path), &body, &path);
    }
}

#[test]
fn every_request_schema_refuses_a_field_the_route_does_not_define_as_the_service_does() {
    let doc = document();
    for (path, mut body) in samples() {
        body["notAnArgument"] = json!(1);
        assert!(
            !problems(&doc, &request_schema(&doc, &path), &body).is_empty(),
            "{path} accepts an unknown field"
        );
    }
}

#[test]
fn the_shared_types_refuse_what_the_argument_structs_refuse() {
    let doc = document();
    let refused = [
        ("Key", json!("")),
        ("Key", json!("k".repeat(1025))),
        ("Num", json!(1e38)),
        ("Num", json!(-1e38)),
        ("Num", json!(1e-121)),
        ("Num", json!("1")),
        ("Timestamp", json!("2026-13-01T00:00:00Z")),
        ("Timestamp", json!("2026-01-01 00:00:00Z")),
        ("Timestamp", json!("6033-09-31T23:08:50.4229177+00:39")),
        ("Timestamp", json!("2100-02-29T00:00:00Z")),
        ("PipelineName", json!(" \t ")),
        (
            "Session",
            json!({ "id": "s", "secret": "x", "expiresAt": null }),
        ),
        (
            "Layout",
            json!({ "version": 1, "tabs": [{ "id": "t", "panelIds": [] }] }),
        ),
        ("Layout", json!({ "version": 1, "activeTabId": null })),
        ("Layout", json!({ "tabs": [] })),
    ];
    for (name, value) in refused {
        let pointer = format!("/components/schemas/{name}");
        assert!(
            !problems(&doc, &pointer, &value).is_empty(),
            "{name} accepts {value}"
        );
    }
    let accepted = [
        ("Key", json!("k".repeat(1024))),
        ("Num", json!(0)),
        ("Num", json!(-9.9e37)),
        ("Num", json!(1e-120)),
        ("Timestamp", json!("2026-01-31T23:59:59.123+05:30")),
        ("Timestamp", json!("2000-02-29T00:00:00Z")),
        ("PipelineName", json!(" Morning ")),
        (
            "Layout",
            json!({ "version": 1.5, "tabs": [], "columns": [{ "id": "", "panels": [] }] }),
        ),
    ];
    for (name, value) in accepted {
        assert_valid(&doc, &format!("/components/schemas/{name}"), &value, name);
    }
}

/// Sends `body` to `path` and checks the answer against the document's schema for its status.
async fn call_and_check(app: &TestApp, doc: &Value, path: &str, body: Value) -> Value {
    let answer = app.call(path, body.clone()).await;
    assert_eq!(answer.status, 200, "{path} {body} answered {answer:?}");
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    assert_valid(
        doc,
        &response_schema(doc, path, "200"),
        &answer.body,
        &format!("the answer of {path} to {body}"),
    );
    answer.body
}

/// Writers first, readers next, deleters last, so readers answer with what was written.
fn rank(path: &str) -> u8 {
    let function = path.rsplit('/').next().unwrap();
    match function {
        "remove" | "clear" | "delete" | "prune" | "markRevoked" | "releaseUsage" => 2,
        "removeTranscript" | "clearTranscripts" | "clearCalendarToken" => 2,
        "save" | "record" | "ensure" | "create" | "getOrCreate" | "recordUsage" => 0,
        "saveTranscript" | "setCalendarToken" => 0,
        _ => 1,
    }
}

#[tokio::test]
async fn every_route_answers_the_samples_as_its_response_schema_says() {
    let doc = document();
    let app = spawn_app(embedded()).await;
    let mut samples: Vec<(String, Value)> = samples().into_iter().collect();
    samples.sort_by_key(|(path, _)| rank(path));

    let mut pipeline = None;
    let mut non_null = BTreeSet::new();
    for (path, mut body) in samples {
        if let Some(created) = &pipeline {
            let created: &Value = created;
            if body.get("id") == Some(&json!(SAMPLE_PIPELINE_ID)) {
                body["id"] = created["id"].clone();
            }
            if path == "/pipelines/findByWebhookSecret" {
                body["secret"] = created["webhookSecret"].clone();
            }
        }
        let answer = call_and_check(&app, &doc, &path, body).await;
        if path == "/pipelines/create" {
            pipeline = Some(answer["pipeline"].clone());
        }
        let empty = answer.is_null()
            || answer.get("pipeline").is_some_and(Value::is_null)
            || answer.get("credential").is_some_and(Value::is_null)
            || answer.get("session").is_some_and(Value::is_null)
            || answer.get("translation").is_some_and(Value::is_null);
        if !empty {
            non_null.insert(path);
        }
    }
    for path in [
        "/pipelines/get",
        "/pipelines/findByWebhookSecret",
        "/pipelines/update",
        "/pipelines/recordRun",
        "/provisioning/findActive",
        "/session/get",
        "/users/get",
        "/workspaceLayouts/get",
        "/transit/getCalendarToken",
        "/translations/promote",
        "/translations/markAdopted",
    ] {
        assert!(
            non_null.contains(path),
            "{path} answered null: the test checked only the empty shape"
        );
    }
}

#[tokio::test]
async fn error_answers_match_the_error_schema_of_every_route() {
    let doc = document();
    let app = spawn_app(embedded()).await;
    for path in samples().keys() {
        let checks = [
            (
                "POST",
                Some(format!("Bearer {ADMIN_KEY}")),
                br#""not an object""#.to_vec(),
                400,
            ),
            (
                "POST",
                Some(format!("Bearer {ADMIN_KEY}")),
                br#"{"notAnArgument":1}"#.to_vec(),
                400,
            ),
            (
                "POST",
                Some(format!("Bearer {ADMIN_KEY}")),
                b"{".to_vec(),
                400,
            ),
            ("POST", None, b"{}".to_vec(), 401),
            ("POST", Some("Bearer wrong-key".into()), b"{}".to_vec(), 401),
            ("GET", Some(format!("Bearer {ADMIN_KEY}")), Vec::new(), 405),
        ];
        for (method, authorization, body, status) in checks {
            let answer = app.send(method, path, authorization.as_deref(), body).await;
            assert_eq!(answer.status, status, "{method} {path}: {answer:?}");
            if status == 405 {
                assert_eq!(answer.allow.as_deref(), Some("POST"));
            }
            assert_valid(
                &doc,
                &response_schema(&doc, path, &status.to_string()),
                &answer.body,
                &format!("the {status} of {method} {path}"),
            );
        }
    }
}

#[tokio::test]
async fn a_usage_counter_summed_past_the_argument_range_still_reads_back() {
    let doc = document();
    let app = spawn_app(embedded()).await;
    let usage = json!({ "userId": "big", "provider": "openai", "tokensUsed": 9e37 });
    call_and_check(&app, &doc, "/account/recordUsage", usage.clone()).await;
    let summed = call_and_check(&app, &doc, "/account/recordUsage", usage).await;
    assert_eq!(summed["account"]["usage"]["monthTokensUsed"], json!(1.8e38));
    let read = call_and_check(
        &app,
        &doc,
        "/account/getOrCreate",
        json!({ "userId": "big" }),
    )
    .await;
    assert_eq!(read["account"]["usage"]["monthTokensUsed"], json!(1.8e38));
}
