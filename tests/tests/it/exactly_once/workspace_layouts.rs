//! The workspaceLayouts group's writes under faults. `save` is one `PutItem` of a whole record
//! built from the request and one reading of the clock, so a repeat writes the very same item: the
//! answer (its `updatedAt` included) must be what is stored. `clear` is `delete_existing`: a
//! one-item transaction with a `ClientRequestToken`, so a repeat after a lost answer still says
//! the layout existed.

use super::{under_every_fault, WriteCase};
use serde_json::{json, Value};
use service_tests::TestApp;

/// The layout saved before the call: keys the new one lacks, which a save must not keep.
fn old_layout() -> Value {
    json!({ "version": 1, "tabs": [{ "id": "t0", "panels": ["x"] }],
            "columns": [{ "id": "c0", "panels": [] }], "activeTabId": "t0" })
}

fn new_layout() -> Value {
    json!({ "version": 2, "tabs": [{ "id": "t1", "panels": ["a", "b", "a"] }] })
}

async fn get(app: &TestApp, user: &str) -> Value {
    app.ok("/workspaceLayouts/get", json!({ "userId": user }))
        .await
}

async fn save(app: &TestApp, user: &str, layout: Value) -> Value {
    app.ok(
        "/workspaceLayouts/save",
        json!({ "payload": { "userId": user, "layout": layout } }),
    )
    .await
}

/// A save, the user's first or over an older layout.
struct Save {
    first: bool,
}

impl WriteCase for Save {
    const PATH: &'static str = "/workspaceLayouts/save";
    const FUNCTION: &'static str = "workspaceLayouts:saveWorkspaceLayout";
    const OP: &'static str = "PutItem";

    async fn setup(&self, app: &TestApp, key: &str) {
        if !self.first {
            save(app, key, old_layout()).await;
        }
    }

    fn args(&self, key: &str) -> Value {
        json!({ "payload": { "userId": key, "layout": new_layout() } })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        let stored = get(app, key).await;
        if stored.is_null() {
            assert!(self.first, "{key}: the older layout is gone");
            return 0;
        }
        if stored["layout"] == old_layout() && !self.first {
            assert_eq!(stored["version"], 1, "{key}");
            return 0;
        }
        assert_eq!(stored["layout"], new_layout(), "{key}: replaced as a whole");
        assert_eq!(stored["version"], 2, "{key}");
        1
    }

    fn refused(&self, value: &Value) -> bool {
        value["layout"].is_null()
    }

    async fn disagrees(&self, app: &TestApp, key: &str, value: &Value) -> Option<String> {
        // A second application with a clock reading of its own would store another `updatedAt`.
        let stored = get(app, key).await;
        (stored != value["layout"]).then(|| format!("answered {value}, stored {stored}"))
    }
}

/// A clear of a layout that exists: it must answer `cleared: true` once it deleted it.
struct Clear;

impl WriteCase for Clear {
    const PATH: &'static str = "/workspaceLayouts/clear";
    const FUNCTION: &'static str = "workspaceLayouts:clearWorkspaceLayout";
    const OP: &'static str = "TransactWriteItems";

    async fn setup(&self, app: &TestApp, key: &str) {
        save(app, key, old_layout()).await;
    }

    fn args(&self, key: &str) -> Value {
        json!({ "userId": key })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        u32::from(get(app, key).await.is_null())
    }

    fn refused(&self, value: &Value) -> bool {
        value["cleared"] != true
    }
}

#[tokio::test]
async fn save_stores_what_it_answers_under_every_fault() {
    under_every_fault(Save { first: true }).await;
    under_every_fault(Save { first: false }).await;
}

#[tokio::test]
async fn clear_answers_true_once_it_cleared_under_every_fault() {
    under_every_fault(Clear).await;
}
