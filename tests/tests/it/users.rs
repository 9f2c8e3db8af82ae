//! The users store contract, on both stores.

use service_tests::{conformance, embedded_db, key, DynamoTables};
use shared::Num;
use users::{DynamoUsersStore, EmbeddedUsersStore, Profile, UsersStore};

fn embedded() -> EmbeddedUsersStore {
    EmbeddedUsersStore::new(embedded_db()).unwrap()
}

#[cfg_attr(not(feature = "dynamodb-local"), allow(dead_code))]
fn dynamo(tables: &DynamoTables) -> DynamoUsersStore {
    DynamoUsersStore::new(tables.client.clone(), tables.table("users"))
}

conformance!(embedded(), dynamo;
    ensure_creates_a_user_whose_created_at_is_set_once,
    ensure_overwrites_given_fields_and_keeps_missing_ones,
    get_answers_none_for_an_unknown_user,
    parallel_first_ensures_create_one_user,
);

async fn ensure_creates_a_user_whose_created_at_is_set_once(store: impl UsersStore) {
    let first = store
        .ensure(
            Profile {
                email: Some("a@example.com".into()),
                ..Profile::new("u1")
            },
            Num(1000.0),
        )
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&first).unwrap(),
        serde_json::json!({ "clerkId": "u1", "email": "a@example.com", "lastLoginAt": 1000, "createdAt": 1000, "updatedAt": 1000 })
    );
    let second = store.ensure(Profile::new("u1"), Num(2000.0)).await.unwrap();
    assert_eq!(second.created_at, Num(1000.0));
    assert_eq!(second.updated_at, Num(2000.0));
    assert_eq!(second.last_login_at, Some(Num(2000.0)));
    assert_eq!(store.get(&key("u1")).await.unwrap(), Some(second));
}

async fn ensure_overwrites_given_fields_and_keeps_missing_ones(store: impl UsersStore) {
    let full = Profile {
        email: Some("old@example.com".into()),
        first_name: Some("Ann".into()),
        last_name: Some("Lee".into()),
        image_url: Some("https://img/1".into()),
        ..Profile::new("u2")
    };
    store.ensure(full, Num(1.0)).await.unwrap();
    let partial = Profile {
        email: Some("new@example.com".into()),
        last_name: Some(String::new()),
        ..Profile::new("u2")
    };
    let user = store.ensure(partial, Num(2.0)).await.unwrap();
    assert_eq!(user.email.as_deref(), Some("new@example.com"));
    assert_eq!(user.first_name.as_deref(), Some("Ann"));
    assert_eq!(user.last_name.as_deref(), Some(""));
    assert_eq!(user.image_url.as_deref(), Some("https://img/1"));
    assert_eq!(store.get(&key("u2")).await.unwrap(), Some(user));
}

async fn get_answers_none_for_an_unknown_user(store: impl UsersStore) {
    assert_eq!(store.get(&key("nobody")).await.unwrap(), None);
}

async fn parallel_first_ensures_create_one_user(store: impl UsersStore) {
    let calls = (0..20).map(|i| store.ensure(Profile::new("same"), Num(100.0 + f64::from(i))));
    let users = futures::future::try_join_all(calls).await.unwrap();
    let created: std::collections::BTreeSet<i64> =
        users.iter().map(|u| u.created_at.get() as i64).collect();
    assert_eq!(created.len(), 1, "one user, one createdAt: {created:?}");
    let stored = store.get(&key("same")).await.unwrap().unwrap();
    assert_eq!(
        stored.created_at.get() as i64,
        *created.iter().next().unwrap()
    );
}

/// DynamoDB calls per route (the budget in the crate docs).
#[cfg(feature = "dynamodb-local")]
mod round_trips {
    use super::*;

    #[tokio::test]
    async fn ensure_is_one_update_item_and_get_one_get_item() {
        let tables = DynamoTables::create().await;
        let store = dynamo(&tables);
        store.ensure(Profile::new("u"), Num(1.0)).await.unwrap();
        assert_eq!(tables.calls.take(), ["UpdateItem"]);
        store
            .ensure(
                Profile {
                    email: Some("e".into()),
                    ..Profile::new("u")
                },
                Num(2.0),
            )
            .await
            .unwrap();
        assert_eq!(tables.calls.take(), ["UpdateItem"]);
        store.get(&key("u")).await.unwrap();
        assert_eq!(tables.calls.take(), ["GetItem"]);
    }
}
