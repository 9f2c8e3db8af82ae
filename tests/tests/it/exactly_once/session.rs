//! The session group's writes under faults.

use super::{under_every_fault, WriteCase};
use serde_json::{json, Value};
use service_tests::TestApp;

async fn get(app: &TestApp, id: &str) -> Value {
    app.ok("/session/get", json!({ "sessionId": id })).await["session"].clone()
}

struct Save;

impl WriteCase for Save {
    const PATH: &'static str = "/session/save";
    const FUNCTION: &'static str = "session:save";
    const OP: &'static str = "PutItem";

    fn args(&self, key: &str) -> Value {
        json!({ "record": { "id": key, "secret": "s", "expiresAt": 5 } })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        u32::from(get(app, key).await == json!({ "id": key, "secret": "s", "expiresAt": 5 }))
    }
}

struct Delete;

impl WriteCase for Delete {
    const PATH: &'static str = "/session/delete";
    const FUNCTION: &'static str = "session:deleteSession";
    const OP: &'static str = "DeleteItem";

    async fn setup(&self, app: &TestApp, key: &str) {
        app.ok(
            "/session/save",
            json!({ "record": { "id": key, "secret": "s", "expiresAt": 5 } }),
        )
        .await;
    }

    fn args(&self, key: &str) -> Value {
        json!({ "sessionId": key })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        u32::from(get(app, key).await.is_null())
    }
}

/// Three expired sessions and a live one; the prune deletes the three and says so.
struct Prune;

impl WriteCase for Prune {
    const PATH: &'static str = "/session/prune";
    const FUNCTION: &'static str = "session:prune";
    const OP: &'static str = "TransactWriteItems";
    const OWN_TABLES: bool = true;

    async fn setup(&self, app: &TestApp, key: &str) {
        for (i, expires) in [1, 2, 3, 1_000].into_iter().enumerate() {
            app.ok(
                "/session/save",
                json!({ "record": { "id": format!("{key}-{i}"), "secret": "s", "expiresAt": expires } }),
            )
            .await;
        }
    }

    fn args(&self, _key: &str) -> Value {
        json!({ "now": 100 })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        let mut gone = 0;
        for i in 0..3 {
            gone += u32::from(get(app, &format!("{key}-{i}")).await.is_null());
        }
        assert!(
            !get(app, &format!("{key}-3")).await.is_null(),
            "the live one stays"
        );
        assert!(gone == 0 || gone == 3, "all or none: {gone}");
        u32::from(gone == 3)
    }

    fn refused(&self, value: &Value) -> bool {
        value["result"] != 3
    }
}

#[tokio::test]
async fn save_and_delete_are_safe_to_repeat_under_every_fault() {
    under_every_fault(Save).await;
    under_every_fault(Delete).await;
}

#[tokio::test]
async fn prune_counts_exactly_what_it_deleted_under_every_fault() {
    under_every_fault(Prune).await;
}
