//! The pipelines group's writes under faults: `create`, `update` (with and without `rotateSecret`),
//! `delete` (its transaction, and the cleanup of its runs) and `recordRun`.
//!
//! Each run owns the pipelines of owner `<key>` (no case makes unowned ones), so `list` with that
//! owner shows exactly the run's pipelines, and what the routes read back is checked against the
//! list too (the list items are written in the same transactions as the pipelines).

use super::{under_every_fault, WriteCase};
use serde_json::{json, Value};
use service_tests::TestApp;
use std::collections::HashMap;
use std::sync::Mutex;

/// The run's pipelines, as `list` with owner `key` shows them.
async fn listed(app: &TestApp, key: &str) -> Vec<Value> {
    app.ok("/pipelines/list", json!({ "ownerId": key })).await["pipelines"]
        .as_array()
        .expect("a list")
        .clone()
}

async fn get(app: &TestApp, id: &str) -> Value {
    app.ok("/pipelines/get", json!({ "id": id })).await["pipeline"].clone()
}

async fn resolves(app: &TestApp, secret: &str) -> Value {
    app.ok(
        "/pipelines/findByWebhookSecret",
        json!({ "secret": secret }),
    )
    .await["pipeline"]["id"]
        .clone()
}

async fn runs(app: &TestApp, id: &str) -> usize {
    app.ok("/pipelines/listRuns", json!({ "id": id })).await["runs"]
        .as_array()
        .expect("runs")
        .len()
}

/// The list item of `pipeline` as `list` must show it: the list fields of what `get` returns.
fn list_item(pipeline: &Value) -> Value {
    let mut item = serde_json::Map::new();
    for field in ["id", "name", "description", "schedule", "lastRunAt"] {
        if let Some(value) = pipeline.get(field) {
            item.insert(field.to_owned(), value.clone());
        }
    }
    Value::Object(item)
}

/// Checks that `list` shows `pipeline` (or nothing, when `None`) and nothing else of the run.
async fn list_agrees(app: &TestApp, key: &str, pipeline: Option<&Value>) {
    let expected: Vec<Value> = pipeline.map(list_item).into_iter().collect();
    assert_eq!(
        listed(app, key).await,
        expected,
        "{key}: the list and get disagree"
    );
}

/// The pipelines made by `setup`, by key.
#[derive(Default)]
struct Made(Mutex<HashMap<String, Value>>);

impl Made {
    /// Creates the run's pipeline (owner `key`) and remembers it.
    async fn create(&self, app: &TestApp, key: &str) -> Value {
        let made = app
            .ok(
                "/pipelines/create",
                json!({ "input": {
                    "ownerId": key, "name": "Before", "description": "old",
                    "steps": [], "schedule": { "cron": "0 7 * * *" },
                } }),
            )
            .await["pipeline"]
            .clone();
        self.0.lock().unwrap().insert(key.to_owned(), made.clone());
        made
    }

    fn of(&self, key: &str) -> Value {
        self.0.lock().unwrap()[key].clone()
    }

    fn id(&self, key: &str) -> String {
        self.of(key)["id"].as_str().expect("an id").to_owned()
    }
}

struct Create;

impl WriteCase for Create {
    const PATH: &'static str = "/pipelines/create";
    const FUNCTION: &'static str = "pipelines:create";
    const OP: &'static str = "TransactWriteItems";

    fn args(&self, key: &str) -> Value {
        json!({ "input": { "ownerId": key, "name": key, "steps": [] } })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        let listed = listed(app, key).await;
        for item in &listed {
            let stored = get(app, item["id"].as_str().unwrap()).await;
            assert_eq!(*item, list_item(&stored), "{key}: list and get disagree");
            let secret = stored["webhookSecret"].as_str().unwrap();
            assert_eq!(resolves(app, secret).await, item["id"], "{key}: its secret");
        }
        listed.len() as u32
    }

    async fn disagrees(&self, app: &TestApp, _key: &str, value: &Value) -> Option<String> {
        let told = &value["pipeline"];
        let stored = get(app, told["id"].as_str()?).await;
        (stored != *told).then(|| format!("told {told}, stored {stored}"))
    }
}

/// `update` without `rotateSecret`: sets values, so a repeat is harmless; checked all the same.
#[derive(Default)]
struct Update(Made);

impl WriteCase for Update {
    const PATH: &'static str = "/pipelines/update";
    const FUNCTION: &'static str = "pipelines:update";
    const OP: &'static str = "TransactWriteItems";

    async fn setup(&self, app: &TestApp, key: &str) {
        self.0.create(app, key).await;
    }

    fn args(&self, key: &str) -> Value {
        json!({ "id": self.0.id(key), "input": { "name": "After", "description": "new", "schedule": null } })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        let stored = get(app, &self.0.id(key)).await;
        list_agrees(app, key, Some(&stored)).await;
        let before = self.0.of(key);
        assert_eq!(stored["webhookSecret"], before["webhookSecret"]);
        u32::from(stored["name"] == "After")
    }

    fn refused(&self, value: &Value) -> bool {
        value["pipeline"].is_null()
    }

    async fn disagrees(&self, app: &TestApp, key: &str, value: &Value) -> Option<String> {
        let stored = get(app, &self.0.id(key)).await;
        let told = &value["pipeline"];
        (stored != *told).then(|| format!("told {told}, stored {stored}"))
    }
}

/// `update` with `rotateSecret`: applied twice, it would rotate twice, and the secret the client
/// was told would not be the one that resolves.
#[derive(Default)]
struct Rotate(Made);

impl WriteCase for Rotate {
    const PATH: &'static str = "/pipelines/update";
    const FUNCTION: &'static str = "pipelines:update";
    const OP: &'static str = "TransactWriteItems";

    async fn setup(&self, app: &TestApp, key: &str) {
        self.0.create(app, key).await;
    }

    fn args(&self, key: &str) -> Value {
        json!({ "id": self.0.id(key), "input": { "rotateSecret": true, "name": "Rotated" } })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        let id = self.0.id(key);
        let old = self.0.of(key)["webhookSecret"].as_str().unwrap().to_owned();
        let stored = get(app, &id).await;
        list_agrees(app, key, Some(&stored)).await;
        let current = stored["webhookSecret"].as_str().unwrap();
        assert_eq!(resolves(app, current).await, json!(id), "{key}: current");
        if current == old {
            assert_eq!(
                stored["name"], "Before",
                "{key}: a rotation applied in part"
            );
            return 0;
        }
        assert_eq!(resolves(app, &old).await, Value::Null, "{key}: old");
        assert_eq!(stored["name"], "Rotated", "{key}");
        1
    }

    fn refused(&self, value: &Value) -> bool {
        value["pipeline"].is_null()
    }

    async fn disagrees(&self, app: &TestApp, key: &str, value: &Value) -> Option<String> {
        let stored = get(app, &self.0.id(key)).await;
        let told = &value["pipeline"];
        let told_secret = told["webhookSecret"].as_str()?;
        if resolves(app, told_secret).await.is_null() {
            return Some(format!(
                "the secret it was told does not resolve (rotated again?); stored {stored}"
            ));
        }
        (stored != *told).then(|| format!("told {told}, stored {stored}"))
    }
}

/// `delete`, with the fault in its transaction (`OP` = `TransactWriteItems`) or in the cleanup of
/// its runs (`BatchWriteItem`).
#[derive(Default)]
struct Delete<const CLEANUP: bool>(Made);

impl<const CLEANUP: bool> WriteCase for Delete<CLEANUP> {
    const PATH: &'static str = "/pipelines/delete";
    const FUNCTION: &'static str = "pipelines:remove";
    const OP: &'static str = if CLEANUP {
        "BatchWriteItem"
    } else {
        "TransactWriteItems"
    };

    async fn setup(&self, app: &TestApp, key: &str) {
        let made = self.0.create(app, key).await;
        for completed in ["2025-05-01T00:00:00.000Z", "2025-05-02T00:00:00.000Z"] {
            app.ok(
                "/pipelines/recordRun",
                json!({ "id": made["id"], "completedAt": completed }),
            )
            .await;
        }
    }

    fn args(&self, key: &str) -> Value {
        json!({ "id": self.0.id(key) })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        let made = self.0.of(key);
        let stored = get(app, &self.0.id(key)).await;
        let secret = made["webhookSecret"].as_str().unwrap();
        if stored.is_null() {
            list_agrees(app, key, None).await;
            assert_eq!(resolves(app, secret).await, Value::Null, "{key}");
            1
        } else {
            list_agrees(app, key, Some(&stored)).await;
            assert_eq!(runs(app, &self.0.id(key)).await, 2, "{key}: runs");
            0
        }
    }

    fn refused(&self, value: &Value) -> bool {
        value["result"] != true
    }

    async fn disagrees(&self, app: &TestApp, key: &str, _value: &Value) -> Option<String> {
        let left = runs(app, &self.0.id(key)).await;
        (left > 0).then(|| format!("answered true, {left} runs left"))
    }
}

struct RecordRun(Made);

/// The run's `completedAt`.
const COMPLETED: &str = "2025-05-03T10:00:00.000Z";

impl WriteCase for RecordRun {
    const PATH: &'static str = "/pipelines/recordRun";
    const FUNCTION: &'static str = "pipelines:recordRun";
    const OP: &'static str = "TransactWriteItems";

    async fn setup(&self, app: &TestApp, key: &str) {
        self.0.create(app, key).await;
    }

    fn args(&self, key: &str) -> Value {
        json!({ "id": self.0.id(key), "completedAt": COMPLETED, "status": "failed", "error": "boom" })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        let id = self.0.id(key);
        let stored = get(app, &id).await;
        list_agrees(app, key, Some(&stored)).await;
        let count = runs(app, &id).await;
        let expected = if count > 0 {
            json!(COMPLETED)
        } else {
            Value::Null
        };
        assert_eq!(stored["lastRunAt"], expected, "{key}: lastRunAt");
        count as u32
    }

    fn refused(&self, value: &Value) -> bool {
        value["pipeline"].is_null()
    }

    async fn disagrees(&self, app: &TestApp, key: &str, value: &Value) -> Option<String> {
        let stored = get(app, &self.0.id(key)).await;
        let told = &value["pipeline"];
        (stored != *told).then(|| format!("told {told}, stored {stored}"))
    }
}

#[tokio::test]
async fn create_makes_one_pipeline_under_every_fault() {
    under_every_fault(Create).await;
}

#[tokio::test]
async fn update_is_applied_once_and_answered_as_stored_under_every_fault() {
    under_every_fault(Update::default()).await;
}

#[tokio::test]
async fn a_rotation_rotates_once_and_the_secret_told_is_the_one_that_resolves_under_every_fault() {
    under_every_fault(Rotate::default()).await;
}

#[tokio::test]
async fn delete_answers_true_once_applied_under_every_fault_in_its_transaction() {
    under_every_fault(Delete::<false>::default()).await;
}

#[tokio::test]
async fn delete_answers_true_once_applied_under_every_fault_in_the_cleanup_of_its_runs() {
    under_every_fault(Delete::<true>::default()).await;
}

#[tokio::test]
async fn record_run_appends_one_run_under_every_fault() {
    under_every_fault(RecordRun(Made::default())).await;
}

/// Writers of one pipeline at once: their transactions lose races to each other (so the store's
/// retry rounds run) while a share of `TransactWriteItems` answers is lost or late (so the SDK
/// repeats them). Every acknowledged run must be stored once, no run twice, and of the secrets the
/// rotations were told only the current one may resolve.
#[tokio::test]
async fn concurrent_writes_of_one_pipeline_under_lost_and_late_answers_apply_each_acknowledged_one_once(
) {
    use service_tests::fault_proxy::{Fault, FaultProxy};
    use service_tests::{dynamodb_endpoint, spawn_app, DynamoTables};
    use std::sync::Arc;
    use std::time::Duration;

    const RUNNERS: usize = 6;
    const RUNS_EACH: usize = 8;
    const ROTATORS: usize = 2;
    const ROTATIONS_EACH: usize = 5;

    let tables = DynamoTables::create().await;
    let proxy = FaultProxy::start(&dynamodb_endpoint()).await;
    let app = Arc::new(spawn_app(tables.store_via(&proxy.endpoint).await).await);
    let made = Made::default().create(&app, "soak").await;
    let id = made["id"].as_str().unwrap().to_owned();
    proxy.take_calls();
    proxy.share(
        Some("TransactWriteItems"),
        0.10,
        Fault::DropResponse,
        5,
        true,
    );
    proxy.share(
        Some("TransactWriteItems"),
        0.03,
        Fault::DelayResponse(Duration::from_millis(2_500)),
        13,
        true,
    );

    let runners = (0..RUNNERS).map(|runner| {
        let (app, id) = (Arc::clone(&app), id.clone());
        async move {
            let (mut told, mut failed) = (Vec::new(), Vec::new());
            for i in 0..RUNS_EACH {
                let completed = format!("2025-07-01T00:{runner:02}:{i:02}.000Z");
                let answer = app
                    .call(
                        "/pipelines/recordRun",
                        json!({ "id": id, "completedAt": completed }),
                    )
                    .await;
                match answer.status {
                    200 => {
                        assert_eq!(answer.body["pipeline"]["lastRunAt"], json!(completed));
                        told.push(completed);
                    }
                    503 => failed.push(completed),
                    _ => panic!("recordRun answered {answer:?}"),
                }
            }
            (told, failed)
        }
    });
    let rotators = (0..ROTATORS).map(|_| {
        let (app, id) = (Arc::clone(&app), id.clone());
        async move {
            let (mut told, mut failed) = (Vec::new(), 0);
            for _ in 0..ROTATIONS_EACH {
                let answer = app
                    .call(
                        "/pipelines/update",
                        json!({ "id": id, "input": { "rotateSecret": true } }),
                    )
                    .await;
                match answer.status {
                    200 => told.push(answer.body["pipeline"]["webhookSecret"].clone()),
                    503 => failed += 1,
                    _ => panic!("update answered {answer:?}"),
                }
            }
            (told, failed)
        }
    });
    let (runs_told, secrets_told) = futures::join!(
        futures::future::join_all(runners),
        futures::future::join_all(rotators)
    );
    proxy.clear();
    let calls = proxy.take_calls();
    let faulted = |wanted: fn(&Fault) -> bool| {
        calls
            .iter()
            .filter(|c| c.fault.as_ref().is_some_and(wanted))
            .count()
    };
    let (lost, late) = (
        faulted(|f| matches!(f, Fault::DropResponse)),
        faulted(|f| matches!(f, Fault::DelayResponse(_))),
    );

    let acknowledged: Vec<String> = runs_told.iter().flat_map(|(t, _)| t.clone()).collect();
    let failed: Vec<String> = runs_told.iter().flat_map(|(_, f)| f.clone()).collect();
    let stored: Vec<String> = app
        .ok("/pipelines/listRuns", json!({ "id": id, "limit": 1000 }))
        .await["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["completedAt"].as_str().unwrap().to_owned())
        .collect();
    let distinct: std::collections::HashSet<&String> = stored.iter().collect();
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|c| !distinct.contains(c))
        .collect();
    let unasked: Vec<&&String> = distinct
        .iter()
        .filter(|c| !acknowledged.contains(c) && !failed.contains(c))
        .collect();
    let rotations_failed: usize = secrets_told.iter().map(|(_, f)| f).sum();
    let secrets: Vec<Value> = secrets_told.into_iter().flat_map(|(t, _)| t).collect();
    let stored_pipeline = get(&app, &id).await;
    let current = stored_pipeline["webhookSecret"].clone();
    let mut resolving = 0;
    for secret in secrets.iter().chain([&made["webhookSecret"]]) {
        if !resolves(&app, secret.as_str().unwrap()).await.is_null() {
            resolving += 1;
            assert_eq!(*secret, current, "only the current secret resolves");
        }
    }
    println!(
        "pipelines under lost and late answers: recordRun {} calls, {} acknowledged, {} answered \
         503, stored {} (double-applied {}, lost {}); rotations {} acknowledged, {rotations_failed} answered 503; \
         TransactWriteItems answers lost {lost}, late {late}, of {} calls",
        RUNNERS * RUNS_EACH,
        acknowledged.len(),
        failed.len(),
        stored.len(),
        stored.len() - distinct.len(),
        missing.len(),
        secrets.len(),
        calls
            .iter()
            .filter(|c| c.op == "TransactWriteItems")
            .count(),
    );
    assert!(lost >= 3, "faults injected: {lost} lost, {late} late");
    assert_eq!(stored.len(), distinct.len(), "no run is stored twice");
    assert!(missing.is_empty(), "acknowledged, not stored: {missing:?}");
    assert!(unasked.is_empty(), "stored, never asked for: {unasked:?}");
    assert!(
        acknowledged.len() >= RUNNERS * RUNS_EACH / 2,
        "most writes get through: {} of {}",
        acknowledged.len(),
        RUNNERS * RUNS_EACH
    );
    assert_eq!(resolving, 1, "the current secret resolves");
    assert!(
        secrets.contains(&current) || rotations_failed > 0 || secrets.is_empty(),
        "the current secret is one a rotation was told (or one of a rotation answered 503)"
    );
    list_agrees(&app, "soak", Some(&stored_pipeline)).await;
}
