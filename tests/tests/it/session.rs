//! The session store contract, on both stores.

use service_tests::{conformance, embedded_db, key, DynamoTables};
use session::{DynamoSessionStore, EmbeddedSessionStore, Session, SessionStore};
use shared::Num;

fn embedded() -> EmbeddedSessionStore {
    EmbeddedSessionStore::new(embedded_db()).unwrap()
}

#[cfg_attr(not(feature = "dynamodb-local"), allow(dead_code))]
fn dynamo(tables: &DynamoTables) -> DynamoSessionStore {
    DynamoSessionStore::new(tables.client.clone(), tables.table("sessions"))
}

fn session(id: &str, expires_at: f64) -> Session {
    Session {
        id: key(id),
        secret: format!("secret-of-{id}"),
        expires_at: Num(expires_at),
    }
}

async fn save_all(store: &impl SessionStore, sessions: impl IntoIterator<Item = Session>) {
    use futures::StreamExt;
    futures::stream::iter(sessions)
        .map(|s| store.save(s))
        .buffer_unordered(16)
        .for_each(|r| async move { r.unwrap() })
        .await;
}

conformance!(embedded(), dynamo;
    save_then_get_returns_the_session_and_save_upserts,
    get_does_not_filter_expired_sessions,
    delete_removes_and_is_idempotent,
    prune_deletes_expired_sessions_oldest_first_up_to_the_limit,
    prune_stops_at_500_per_call,
);

async fn save_then_get_returns_the_session_and_save_upserts(store: impl SessionStore) {
    store.save(session("s1", 5_000.0)).await.unwrap();
    assert_eq!(
        store.get(&key("s1")).await.unwrap(),
        Some(session("s1", 5_000.0))
    );
    let renewed = Session {
        secret: "rotated".into(),
        ..session("s1", 9_000.0)
    };
    store.save(renewed.clone()).await.unwrap();
    assert_eq!(store.get(&key("s1")).await.unwrap(), Some(renewed));
    assert_eq!(store.get(&key("missing")).await.unwrap(), None);
}

async fn get_does_not_filter_expired_sessions(store: impl SessionStore) {
    store.save(session("old", 1.0)).await.unwrap();
    assert_eq!(
        store.get(&key("old")).await.unwrap(),
        Some(session("old", 1.0))
    );
}

async fn delete_removes_and_is_idempotent(store: impl SessionStore) {
    store.save(session("s", 10.0)).await.unwrap();
    store.delete(&key("s")).await.unwrap();
    assert_eq!(store.get(&key("s")).await.unwrap(), None);
    store.delete(&key("s")).await.unwrap();
}

async fn prune_deletes_expired_sessions_oldest_first_up_to_the_limit(store: impl SessionStore) {
    save_all(
        &store,
        [6.0, 2.0, 4.0, 1.0, 5.0, 3.0, 100.0].map(|e| session(&format!("e{e}"), e)),
    )
    .await;
    assert_eq!(
        store.prune(Num(5.0), 3).await.unwrap(),
        3,
        "the three oldest of the four expired"
    );
    for gone in ["e1", "e2", "e3"] {
        assert_eq!(store.get(&key(gone)).await.unwrap(), None, "{gone}");
    }
    assert!(
        store.get(&key("e4")).await.unwrap().is_some(),
        "e4 is expired but past the limit"
    );
    assert_eq!(store.prune(Num(5.0), 500).await.unwrap(), 1);
    assert_eq!(store.prune(Num(5.0), 500).await.unwrap(), 0);
    for kept in ["e5", "e6", "e100"] {
        assert!(
            store.get(&key(kept)).await.unwrap().is_some(),
            "{kept} expires at or after now"
        );
    }
}

async fn prune_stops_at_500_per_call(store: impl SessionStore) {
    save_all(
        &store,
        (0..510).map(|i| session(&format!("bulk-{i}"), f64::from(i))),
    )
    .await;
    assert_eq!(
        store.prune(Num(1e6), session::PRUNE_LIMIT).await.unwrap(),
        500
    );
    assert!(
        store.get(&key("bulk-509")).await.unwrap().is_some(),
        "the newest expiries are left for later"
    );
    assert_eq!(
        store.prune(Num(1e6), session::PRUNE_LIMIT).await.unwrap(),
        10
    );
}

/// DynamoDB calls per route (the budget in the crate docs).
#[cfg(feature = "dynamodb-local")]
mod round_trips {
    use super::*;

    #[tokio::test]
    async fn save_get_delete_are_one_call_each_and_prune_queries_every_shard_once() {
        let tables = DynamoTables::create().await;
        let store = dynamo(&tables);
        store.save(session("a", 1.0)).await.unwrap();
        assert_eq!(tables.calls.take(), ["PutItem"]);
        store.get(&key("a")).await.unwrap();
        assert_eq!(tables.calls.take(), ["GetItem"]);
        store.delete(&key("a")).await.unwrap();
        assert_eq!(tables.calls.take(), ["DeleteItem"]);

        save_all(&store, (0..3).map(|i| session(&format!("x{i}"), 1.0))).await;
        tables.calls.take();
        assert_eq!(store.prune(Num(10.0), 500).await.unwrap(), 3);
        let calls = tables.calls.take();
        let queries = calls.iter().filter(|c| *c == "Query").count();
        let deletes = calls.iter().filter(|c| *c == "TransactWriteItems").count();
        assert_eq!(
            (queries, deletes, calls.len()),
            (session::attr::PRUNE_SHARDS as usize, 1, calls.len())
        );
        assert_eq!(calls.len(), queries + deletes, "{calls:?}");
    }

    #[tokio::test]
    async fn prune_deletes_a_hundred_sessions_per_transaction() {
        let tables = DynamoTables::create().await;
        let store = dynamo(&tables);
        save_all(&store, (0..250).map(|i| session(&format!("p{i:03}"), 1.0))).await;
        tables.calls.take();
        assert_eq!(store.prune(Num(10.0), 500).await.unwrap(), 250);
        let calls = tables.calls.take();
        assert_eq!(
            calls.iter().filter(|c| *c == "TransactWriteItems").count(),
            3,
            "{calls:?}"
        );
        assert_eq!(store.prune(Num(10.0), 500).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn saved_items_carry_the_ttl_attribute_a_day_past_expiry() {
        let tables = DynamoTables::create().await;
        dynamo(&tables)
            .save(session("t", 1_700_000_000_000.0))
            .await
            .unwrap();
        let item = tables
            .client
            .get_item()
            .table_name(tables.table("sessions"))
            .key("id", shared::dynamo::s("t"))
            .key(
                session::attr::PRUNE_SHARD,
                shared::dynamo::n(f64::from(session::prune_shard("t"))),
            )
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        assert_eq!(item[session::attr::TTL].as_n().unwrap(), "1700086400");
    }
}
