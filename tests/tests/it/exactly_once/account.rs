//! The account group's writes under faults.

use super::{under_every_fault, WriteCase};
use serde_json::{json, Value};
use service_tests::TestApp;

/// The account's `monthTokensUsed`, read through `getOrCreate`.
async fn used(app: &TestApp, user: &str) -> f64 {
    app.ok("/account/getOrCreate", json!({ "userId": user }))
        .await["account"]["usage"]["monthTokensUsed"]
        .as_f64()
        .expect("a number")
}

/// How many times `step` was added on top of `base`.
fn times(now: f64, base: f64, step: f64) -> u32 {
    let applied = (now - base) / step;
    assert!(
        applied >= 0.0 && applied.fract() == 0.0,
        "{now} is not {base} plus a whole number of {step}"
    );
    applied as u32
}

struct RecordUsage;

impl WriteCase for RecordUsage {
    const PATH: &'static str = "/account/recordUsage";
    const FUNCTION: &'static str = "account:recordUsage";
    const OP: &'static str = "UpdateItem";

    async fn setup(&self, app: &TestApp, key: &str) {
        app.ok("/account/getOrCreate", json!({ "userId": key }))
            .await;
    }

    fn args(&self, key: &str) -> Value {
        json!({ "userId": key, "provider": "openai", "tokensUsed": 100 })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        times(used(app, key).await, 0.0, 100.0)
    }
}

/// A reservation of `tokens` on top of `before` already reserved this month.
struct ReserveUsage {
    before: f64,
    tokens: f64,
}

impl WriteCase for ReserveUsage {
    const PATH: &'static str = "/account/reserveUsage";
    const FUNCTION: &'static str = "account:reserveUsage";
    const OP: &'static str = "UpdateItem";

    async fn setup(&self, app: &TestApp, key: &str) {
        let reserved = app
            .ok(
                "/account/reserveUsage",
                json!({ "userId": key, "provider": "p", "tokensRequested": self.before }),
            )
            .await;
        assert!(reserved["account"].is_object(), "{reserved}");
    }

    fn args(&self, key: &str) -> Value {
        json!({ "userId": key, "provider": "p", "tokensRequested": self.tokens })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        times(used(app, key).await, self.before, self.tokens)
    }

    fn refused(&self, value: &Value) -> bool {
        value["account"].is_null()
    }
}

struct ReleaseUsage;

impl WriteCase for ReleaseUsage {
    const PATH: &'static str = "/account/releaseUsage";
    const FUNCTION: &'static str = "account:releaseUsage";
    const OP: &'static str = "UpdateItem";

    async fn setup(&self, app: &TestApp, key: &str) {
        app.ok(
            "/account/reserveUsage",
            json!({ "userId": key, "provider": "p", "tokensRequested": 1000 }),
        )
        .await;
    }

    fn args(&self, key: &str) -> Value {
        json!({ "userId": key, "tokensReserved": 100 })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        times(1000.0, used(app, key).await, 100.0)
    }
}

/// `update` and `getOrCreate` set values, so a repeat is harmless; they are checked all the same.
struct Update(&'static str);

impl WriteCase for Update {
    const PATH: &'static str = "/account/update";
    const FUNCTION: &'static str = "account:updateAccount";
    const OP: &'static str = "UpdateItem";

    async fn setup(&self, app: &TestApp, key: &str) {
        app.ok(
            "/account/recordUsage",
            json!({ "userId": key, "provider": "p", "tokensUsed": 7 }),
        )
        .await;
    }

    fn args(&self, key: &str) -> Value {
        json!({ "payload": { "userId": key, "planTier": self.0, "billingStatus": "active" } })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        let account = app
            .ok("/account/getOrCreate", json!({ "userId": key }))
            .await["account"]
            .clone();
        assert_eq!(account["usage"]["monthTokensUsed"], 7, "usage is kept");
        u32::from(account["planTier"] == self.0)
    }
}

struct GetOrCreate;

impl WriteCase for GetOrCreate {
    const PATH: &'static str = "/account/getOrCreate";
    const FUNCTION: &'static str = "account:getOrCreate";
    const OP: &'static str = "UpdateItem";

    fn args(&self, key: &str) -> Value {
        json!({ "userId": key })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        // Created once or not at all: the account exists with no usage, or it is created now.
        assert_eq!(used(app, key).await, 0.0);
        1
    }
}

#[tokio::test]
async fn record_usage_is_applied_exactly_once_under_every_fault() {
    under_every_fault(RecordUsage).await;
}

#[tokio::test]
async fn reserve_usage_is_applied_exactly_once_under_every_fault() {
    under_every_fault(ReserveUsage {
        before: 1000.0,
        tokens: 1000.0,
    })
    .await;
}

#[tokio::test]
async fn a_reservation_near_the_allowance_is_never_answered_as_refused_once_applied() {
    // 30000 of a free account's 50000 reserved: a second 15000 fits once, not twice.
    under_every_fault(ReserveUsage {
        before: 30_000.0,
        tokens: 15_000.0,
    })
    .await;
}

#[tokio::test]
async fn release_usage_is_applied_exactly_once_under_every_fault() {
    under_every_fault(ReleaseUsage).await;
}

#[tokio::test]
async fn update_and_get_or_create_are_safe_to_repeat_under_every_fault() {
    under_every_fault(Update("pro")).await;
    under_every_fault(GetOrCreate).await;
}
