//! The history group's writes under faults.

use super::{under_every_fault, WriteCase};
use serde_json::{json, Value};
use service_tests::{DynamoTables, TestApp};

fn entry(user: &str, id: &str, created_at: &str) -> Value {
    json!({ "id": id, "userId": user, "provider": "p", "voiceId": "v", "text": "t",
            "createdAt": created_at, "durationMs": 1 })
}

async fn list(app: &TestApp, user: &str) -> Vec<Value> {
    app.ok("/history/list", json!({ "userId": user }))
        .await
        .as_array()
        .expect("an array")
        .clone()
}

/// A new entry recorded on top of `before` entries (200: the cap, so the oldest must go).
struct Record {
    before: usize,
}

impl WriteCase for Record {
    const PATH: &'static str = "/history/record";
    const FUNCTION: &'static str = "history:record";
    const OP: &'static str = "PutItem";

    async fn seed(&self, tables: &DynamoTables, key: &str) {
        let items = (0..self.before)
            .map(|i| {
                let created = format!("2026-01-01T00:00:{:02}.{:03}Z", i / 1000, i % 1000);
                serde_dynamo::to_item(entry(key, &format!("old-{i:03}"), &created))
                    .expect("an item")
            })
            .collect();
        tables.put_all("history", items).await;
    }

    fn args(&self, key: &str) -> Value {
        json!({ "entry": entry(key, "new", "2026-02-01T00:00:00.000Z") })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        let entries = list(app, key).await;
        let present = entries.iter().filter(|e| e["id"] == "new").count() as u32;
        let expected = if present == 1 {
            (self.before + 1).min(200)
        } else {
            self.before
        };
        assert_eq!(
            entries.len(),
            expected,
            "{key}: the cap of 200 holds, and nothing else changed"
        );
        present
    }
}

struct Remove;

impl WriteCase for Remove {
    const PATH: &'static str = "/history/remove";
    const FUNCTION: &'static str = "history:remove";
    const OP: &'static str = "TransactWriteItems";

    async fn setup(&self, app: &TestApp, key: &str) {
        app.ok(
            "/history/record",
            json!({ "entry": entry(key, "gone", "2026-01-01T00:00:00.000Z") }),
        )
        .await;
    }

    fn args(&self, key: &str) -> Value {
        json!({ "userId": key, "id": "gone" })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        u32::from(list(app, key).await.is_empty())
    }

    fn refused(&self, value: &Value) -> bool {
        value["removed"] != true
    }
}

struct Clear;

impl WriteCase for Clear {
    const PATH: &'static str = "/history/clear";
    const FUNCTION: &'static str = "history:clear";
    const OP: &'static str = "BatchWriteItem";

    async fn setup(&self, app: &TestApp, key: &str) {
        for i in 0..3 {
            app.ok(
                "/history/record",
                json!({ "entry": entry(key, &format!("e{i}"), "2026-01-01T00:00:00.000Z") }),
            )
            .await;
        }
    }

    fn args(&self, key: &str) -> Value {
        json!({ "userId": key })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        u32::from(list(app, key).await.is_empty())
    }

    fn refused(&self, value: &Value) -> bool {
        value["cleared"] != 3
    }
}

#[tokio::test]
async fn record_is_applied_once_and_keeps_the_cap_under_every_fault() {
    under_every_fault(Record { before: 3 }).await;
    under_every_fault(Record { before: 200 }).await;
}

#[tokio::test]
async fn remove_answers_true_once_it_removed_under_every_fault() {
    under_every_fault(Remove).await;
}

#[tokio::test]
async fn clear_counts_what_it_deleted_under_every_fault() {
    under_every_fault(Clear).await;
}
