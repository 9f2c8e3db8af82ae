//! The provisioning group's writes under faults: `save` (a new credential, an update keeping the
//! fields it omits, a move to another owner), `markRevoked` and `recordUsage` (with and without an
//! id). What is stored is read back through `findActive`, `list` and `listUsage`.

use super::{under_every_fault, WriteCase};
use serde_json::{json, Value};
use service_tests::TestApp;

/// An active credential `id` of `user` for provider `p`, with no optional field.
fn credential(id: &str, user: &str) -> Value {
    json!({
        "id": id, "userId": user, "provider": "p", "tokenHash": format!("hash-{id}"),
        "salt": "salt", "scopes": ["tts"], "planTier": "pro", "issuedAt": 1,
        "expiresAt": 9_000_000_000_000u64, "status": "active"
    })
}

/// Every listed credential whose id is `id` (all runs of a case share the tables: at most 12 × 2
/// credentials, well under the limit).
async fn listed(app: &TestApp, id: &str) -> Vec<Value> {
    let all = app.ok("/provisioning/list", json!({ "limit": 1000 })).await;
    all["credentials"]
        .as_array()
        .expect("credentials")
        .iter()
        .filter(|c| c["id"] == id)
        .cloned()
        .collect()
}

/// The active credential of `user` for provider `p`, or `null`.
async fn active(app: &TestApp, user: &str) -> Value {
    app.ok(
        "/provisioning/findActive",
        json!({ "userId": user, "provider": "p" }),
    )
    .await["credential"]
        .clone()
}

/// The one stored copy of credential `id`, checked against what `findActive` of its owner answers
/// (it, when it is active; nothing, when it is revoked: each owner has one credential here).
async fn the_copy(app: &TestApp, id: &str) -> Option<Value> {
    let copies = listed(app, id).await;
    assert!(copies.len() <= 1, "{id} is listed twice: {copies:?}");
    let copy = copies.into_iter().next()?;
    let owner = copy["userId"].as_str().expect("a user id");
    let expected = if copy["status"] == "active" {
        copy.clone()
    } else {
        Value::Null
    };
    assert_eq!(
        active(app, owner).await,
        expected,
        "findActive agrees with list"
    );
    Some(copy)
}

const SAVE: &str = "/provisioning/save";
const SAVE_FN: &str = "provisioning:saveCredential";

/// A new credential.
struct SaveNew;

impl WriteCase for SaveNew {
    const PATH: &'static str = SAVE;
    const FUNCTION: &'static str = SAVE_FN;
    const OP: &'static str = "TransactWriteItems";

    fn args(&self, key: &str) -> Value {
        json!({ "record": credential(key, key) })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        match the_copy(app, key).await {
            Some(copy) => {
                assert_eq!(copy, credential(key, key));
                1
            }
            None => 0,
        }
    }
}

/// A credential saved again without its optional fields: they are kept.
struct SaveUpdate;

impl WriteCase for SaveUpdate {
    const PATH: &'static str = SAVE;
    const FUNCTION: &'static str = SAVE_FN;
    const OP: &'static str = "TransactWriteItems";

    async fn setup(&self, app: &TestApp, key: &str) {
        let mut first = credential(key, key);
        first["providerReference"] = json!("ref");
        first["metadata"] = json!({ "source": "dashboard" });
        app.ok(SAVE, json!({ "record": first })).await;
    }

    fn args(&self, key: &str) -> Value {
        let mut rotated = credential(key, key);
        rotated["tokenHash"] = json!("rotated");
        json!({ "record": rotated })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        let copy = the_copy(app, key).await.expect("the credential is kept");
        assert_eq!(copy["providerReference"], "ref", "{copy}");
        assert_eq!(copy["metadata"], json!({ "source": "dashboard" }), "{copy}");
        u32::from(copy["tokenHash"] == "rotated")
    }
}

/// A credential saved again for another owner: the rare path. The fault goes into its `N`-th
/// transaction: 1, the one cancelled because the pointer names the old owner; 2, the move.
struct SaveMove<const N: usize>;

impl<const N: usize> WriteCase for SaveMove<N> {
    const PATH: &'static str = SAVE;
    const FUNCTION: &'static str = SAVE_FN;
    const OP: &'static str = "TransactWriteItems";
    const NTH: usize = N;

    async fn setup(&self, app: &TestApp, key: &str) {
        let mut first = credential(key, &format!("{key}-before"));
        first["lastRotatedAt"] = json!(5);
        app.ok(SAVE, json!({ "record": first })).await;
    }

    fn args(&self, key: &str) -> Value {
        json!({ "record": credential(key, &format!("{key}-after")) })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        let copy = the_copy(app, key).await.expect("the credential is kept");
        let (before, after) = (format!("{key}-before"), format!("{key}-after"));
        assert_eq!(copy["lastRotatedAt"], 5, "{copy}");
        if copy["userId"] == after.as_str() {
            assert_eq!(
                active(app, &before).await,
                Value::Null,
                "no copy left behind"
            );
            1
        } else {
            assert_eq!(copy["userId"], before.as_str(), "{copy}");
            assert_eq!(active(app, &after).await, Value::Null, "no copy ahead");
            0
        }
    }
}

struct MarkRevoked;

impl WriteCase for MarkRevoked {
    const PATH: &'static str = "/provisioning/markRevoked";
    const FUNCTION: &'static str = "provisioning:markCredentialRevoked";
    const OP: &'static str = "UpdateItem";

    async fn setup(&self, app: &TestApp, key: &str) {
        app.ok(SAVE, json!({ "record": credential(key, key) }))
            .await;
    }

    fn args(&self, key: &str) -> Value {
        json!({ "credentialId": key })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        let copy = the_copy(app, key).await.expect("the credential is kept");
        assert_eq!(
            copy["tokenHash"],
            format!("hash-{key}"),
            "only the status changes"
        );
        u32::from(copy["status"] == "revoked")
    }

    fn refused(&self, value: &Value) -> bool {
        value["result"] != true
    }
}

/// `recordUsage`, with the caller's id or without (the service's UUID).
struct RecordUsage {
    with_id: bool,
}

impl WriteCase for RecordUsage {
    const PATH: &'static str = "/provisioning/recordUsage";
    const FUNCTION: &'static str = "provisioning:recordUsage";
    const OP: &'static str = "PutItem";

    fn args(&self, key: &str) -> Value {
        let mut entry = json!({ "userId": key, "provider": "p", "tokensUsed": 10, "costMinorUnits": 1, "recordedAt": 5 });
        if self.with_id {
            entry["id"] = json!(format!("use-{key}"));
        }
        json!({ "entry": entry })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        let usage = app
            .ok("/provisioning/listUsage", json!({ "userId": key }))
            .await["usage"]
            .as_array()
            .expect("usage")
            .clone();
        if self.with_id {
            assert!(usage.iter().all(|u| u["id"] == format!("use-{key}")));
        }
        usage.len() as u32
    }
}

#[tokio::test]
async fn save_of_a_new_credential_is_applied_exactly_once_under_every_fault() {
    under_every_fault(SaveNew).await;
}

#[tokio::test]
async fn save_of_a_stored_credential_keeps_what_it_omits_under_every_fault() {
    under_every_fault(SaveUpdate).await;
}

#[tokio::test]
async fn save_moving_a_credential_to_another_owner_leaves_one_copy_under_every_fault() {
    under_every_fault(SaveMove::<1>).await;
    under_every_fault(SaveMove::<2>).await;
}

#[tokio::test]
async fn mark_revoked_is_never_answered_false_once_applied_under_every_fault() {
    under_every_fault(MarkRevoked).await;
}

#[tokio::test]
async fn record_usage_stores_one_record_under_every_fault() {
    under_every_fault(RecordUsage { with_id: true }).await;
    under_every_fault(RecordUsage { with_id: false }).await;
}
