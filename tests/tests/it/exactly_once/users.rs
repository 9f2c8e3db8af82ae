//! The users group's write under faults: `ensure` sets values of its own or keeps what is there
//! (`createdAt` once), so a repeat writes the same again.

use super::{under_every_fault, WriteCase};
use serde_json::{json, Value};
use service_tests::TestApp;

struct Ensure;

impl WriteCase for Ensure {
    const PATH: &'static str = "/users/ensure";
    const FUNCTION: &'static str = "users:ensureUser";
    const OP: &'static str = "UpdateItem";

    fn args(&self, key: &str) -> Value {
        json!({ "clerkId": key, "email": "a@example.com" })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        let user = app.ok("/users/get", json!({ "clerkId": key })).await;
        u32::from(user["email"] == "a@example.com")
    }
}

#[tokio::test]
async fn ensure_is_safe_to_repeat_under_every_fault() {
    under_every_fault(Ensure).await;
}
