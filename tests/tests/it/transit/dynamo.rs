//! What only DynamoDB shows: the calls each route makes (the budgets in the crate docs), the
//! items it writes, and answers under lost and late DynamoDB responses (exactly once).
#![cfg(feature = "dynamodb-local")]

use super::*;
use service_tests::fault_proxy::{Fault, FaultProxy};
use service_tests::{dynamodb_endpoint, key};
use shared::dynamo::s;
use shared::Num;
use std::time::Duration;
use transit::{CalendarToken, Saved, Secret, TransitStore};

fn token(payload: &str, now: f64) -> CalendarToken {
    CalendarToken {
        encrypted_payload: Secret::new(payload),
        expires_at: Num(1.0),
        scope: vec!["s".into()],
        updated_at: Num(now),
    }
}

/// The sort keys of every item of `user` in the transcripts table.
async fn sort_keys(tables: &DynamoTables, user: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut start = None;
    loop {
        let output = tables
            .client
            .query()
            .table_name(tables.table("transit-transcripts"))
            .key_condition_expression("userId = :u")
            .expression_attribute_values(":u", s(user))
            .projection_expression("sk")
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        keys.extend(
            output
                .items
                .unwrap_or_default()
                .iter()
                .map(|item| item["sk"].as_s().unwrap().clone()),
        );
        start = output.last_evaluated_key;
        if start.is_none() {
            return keys;
        }
    }
}

mod round_trips {
    use super::*;

    #[tokio::test]
    async fn list_is_one_get_item_and_one_batch_get_per_100_body_items() {
        let tables = DynamoTables::create().await;
        let store = dynamo_store(&tables);
        assert!(store
            .list_transcripts(&key("u"), 200)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(tables.calls.take(), ["GetItem"]);
        for i in 0..150 {
            store
                .save_transcript(&transcript("u", &format!("t{i:03}"), &iso(i)))
                .await
                .unwrap();
        }
        tables.calls.take();
        assert_eq!(store.list_transcripts(&key("u"), 3).await.unwrap().len(), 3);
        assert_eq!(tables.calls.take(), ["GetItem", "BatchGetItem"]);
        assert_eq!(
            store.list_transcripts(&key("u"), 200).await.unwrap().len(),
            150
        );
        assert_eq!(
            tables.calls.take(),
            ["GetItem", "BatchGetItem", "BatchGetItem"]
        );
        assert!(store
            .list_transcripts(&key("u"), 0)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(tables.calls.take(), ["GetItem"]);
    }

    #[tokio::test]
    async fn save_is_one_get_item_and_one_transaction_and_a_trimmed_one_writes_nothing() {
        let tables = DynamoTables::create().await;
        let store = dynamo_store(&tables);
        store
            .save_transcript(&transcript("u", "a", &iso(1)))
            .await
            .unwrap();
        assert_eq!(tables.calls.take(), ["GetItem", "TransactWriteItems"]);
        store
            .save_transcript(&transcript("u", "a", &iso(2)))
            .await
            .unwrap();
        assert_eq!(
            tables.calls.take(),
            ["GetItem", "TransactWriteItems"],
            "an update too"
        );
        store
            .save_transcript(&big("u", "large", &iso(3), 1000 * 1024))
            .await
            .unwrap();
        assert_eq!(
            tables.calls.take(),
            ["GetItem", "TransactWriteItems"],
            "a 1 MiB one too"
        );
        for i in 0..198 {
            store
                .save_transcript(&transcript("u", &format!("t{i}"), &iso(100 + i)))
                .await
                .unwrap();
        }
        tables.calls.take();
        store
            .save_transcript(&transcript("u", "newest", &iso(1000)))
            .await
            .unwrap();
        assert_eq!(
            tables.calls.take(),
            ["GetItem", "TransactWriteItems"],
            "at the cap: the trim is in the transaction"
        );
        let trimmed = store
            .save_transcript(&transcript("u", "ancient", &iso(0)))
            .await
            .unwrap();
        assert_eq!(trimmed, Saved::Trimmed);
        assert_eq!(tables.calls.take(), ["GetItem"]);
    }

    #[tokio::test]
    async fn long_created_at_ties_read_the_bodies_they_need() {
        let tables = DynamoTables::create().await;
        let store = dynamo_store(&tables);
        let long = |tail: &str| format!("{}{tail}", "2".repeat(300));
        store
            .save_transcript(&transcript("u", "a", &long("a")))
            .await
            .unwrap();
        tables.calls.take();
        store
            .save_transcript(&transcript("u", "b", &long("b")))
            .await
            .unwrap();
        assert_eq!(
            tables.calls.take(),
            ["GetItem", "BatchGetItem", "TransactWriteItems"]
        );
        store
            .save_transcript(&transcript("u", "c", "3"))
            .await
            .unwrap();
        assert_eq!(
            tables.calls.take(),
            ["GetItem", "TransactWriteItems"],
            "decided by the prefixes"
        );
    }

    #[tokio::test]
    async fn remove_and_clear_are_one_get_item_and_one_transaction_or_the_get_item_alone() {
        let tables = DynamoTables::create().await;
        let store = dynamo_store(&tables);
        for i in 0..30 {
            store
                .save_transcript(&transcript("u", &format!("t{i}"), &iso(i)))
                .await
                .unwrap();
        }
        tables.calls.take();
        assert!(store
            .remove_transcript(&key("u"), &key("t0"))
            .await
            .unwrap());
        assert_eq!(tables.calls.take(), ["GetItem", "TransactWriteItems"]);
        assert!(!store
            .remove_transcript(&key("u"), &key("t0"))
            .await
            .unwrap());
        assert_eq!(tables.calls.take(), ["GetItem"]);
        assert_eq!(store.clear_transcripts(&key("u")).await.unwrap(), 29);
        assert_eq!(tables.calls.take(), ["GetItem", "TransactWriteItems"]);
        assert_eq!(store.clear_transcripts(&key("u")).await.unwrap(), 0);
        assert_eq!(tables.calls.take(), ["GetItem"]);
        assert_eq!(sort_keys(&tables, "u").await, ["index"], "no body is left");
    }

    #[tokio::test]
    async fn a_clear_past_one_transaction_deletes_the_rest_in_more_transactions() {
        let tables = DynamoTables::create().await;
        let store = dynamo_store(&tables);
        for i in 0..60 {
            store
                .save_transcript(&big("u", &format!("t{i}"), &iso(i), 390 * 1024))
                .await
                .unwrap();
        }
        assert_eq!(sort_keys(&tables, "u").await.len(), 121);
        tables.calls.take();
        assert_eq!(store.clear_transcripts(&key("u")).await.unwrap(), 60);
        assert_eq!(
            tables.calls.take(),
            ["GetItem", "TransactWriteItems", "TransactWriteItems"]
        );
        assert_eq!(sort_keys(&tables, "u").await, ["index"]);
    }

    #[tokio::test]
    async fn the_token_routes_are_one_call_each() {
        let tables = DynamoTables::create().await;
        let store = dynamo_store(&tables);
        assert!(store.get_calendar_token(&key("u")).await.unwrap().is_none());
        assert_eq!(tables.calls.take(), ["GetItem"]);
        assert!(!store
            .set_calendar_token(&key("u"), &token("c", 1.0))
            .await
            .unwrap());
        assert_eq!(tables.calls.take(), ["UpdateItem"]);
        assert!(store
            .set_calendar_token(&key("u"), &token("d", 2.0))
            .await
            .unwrap());
        assert_eq!(tables.calls.take(), ["UpdateItem"]);
        assert!(store.clear_calendar_token(&key("u")).await.unwrap());
        assert_eq!(tables.calls.take(), ["TransactWriteItems"]);
    }
}

#[tokio::test]
async fn items_hold_the_index_the_bodies_and_the_token_as_documented() {
    let tables = DynamoTables::create().await;
    let store = dynamo_store(&tables);
    store
        .save_transcript(&big("u", "t", &iso(1), 800 * 1024))
        .await
        .unwrap();
    assert_eq!(
        sort_keys(&tables, "u").await,
        ["body#1#0", "body#1#1", "body#1#2", "index"]
    );
    store
        .save_transcript(&transcript("u", "t", &iso(1)))
        .await
        .unwrap();
    assert_eq!(
        sort_keys(&tables, "u").await,
        ["body#2#0", "index"],
        "the replaced body is gone"
    );
    let index = tables
        .client
        .get_item()
        .table_name(tables.table("transit-transcripts"))
        .key("userId", s("u"))
        .key("sk", s("index"))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let mut names: Vec<&str> = index.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["entries", "sk", "userId", "ver"]);
    assert_eq!(index["ver"].as_n().unwrap(), "2");

    store
        .set_calendar_token(&key("u"), &token("cipher", 5.0))
        .await
        .unwrap();
    let item = tables
        .client
        .get_item()
        .table_name(tables.table("transit-calendar-tokens"))
        .key("userId", s("u"))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let mut names: Vec<&str> = item
        .keys()
        .map(String::as_str)
        .filter(|n| !n.starts_with("_once"))
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "createdBy",
            "encryptedPayload",
            "expiresAt",
            "scope",
            "updatedAt",
            "userId"
        ]
    );
    assert_eq!(item["scope"].as_l().unwrap(), &[s("s")]);
}

#[tokio::test]
async fn ten_processes_inserting_at_195_race_on_the_index_and_leave_exactly_200() {
    // Separate stores share no process-local queue: like 10 Lambda instances, they race on the
    // index version, and every lost round starts again from the index the winner left. (Each
    // win costs every other racer a lost round: DynamoDB Local, which serves one request at a
    // time, makes that N² wait visible; 10 racers keep it short.)
    let tables = DynamoTables::create().await;
    let first = dynamo_store(&tables);
    for i in 0..195 {
        first
            .save_transcript(&transcript("u", &format!("old{i:03}"), &iso(2 * i)))
            .await
            .unwrap();
    }
    tables.calls.take();
    let stores: Vec<DynamoTransitStore> = (0..10).map(|_| dynamo_store(&tables)).collect();
    let new: Vec<NewTranscript> = (0..10)
        .map(|i| transcript("u", &format!("new{i:02}"), &iso(38 * i + 1)))
        .collect();
    let outcomes =
        futures::future::join_all(stores.iter().zip(&new).map(|(s, t)| s.save_transcript(t))).await;
    for outcome in outcomes {
        assert_ne!(outcome.unwrap(), Saved::Updated);
    }
    let calls = tables.calls.take();
    let transactions = calls.iter().filter(|c| *c == "TransactWriteItems").count();
    assert!(transactions > 10, "they raced: {transactions} transactions");
    let listed = ids(&first.list_transcripts(&key("u"), 200).await.unwrap());
    assert_eq!(listed.len(), 200);
    // No createdAt is shared (old ones are even seconds, new ones odd).
    let mut all: Vec<(String, String)> = (0..195)
        .map(|i| (iso(2 * i), format!("old{i:03}")))
        .chain((0..10).map(|i| (iso(38 * i + 1), format!("new{i:02}"))))
        .collect();
    all.sort_by(|a, b| b.cmp(a));
    let newest: Vec<String> = all.into_iter().take(200).map(|(_, id)| id).collect();
    assert_eq!(listed, newest);
}

/// A store whose DynamoDB calls go through a fault-injecting proxy.
async fn through_proxy() -> (FaultProxy, DynamoTables, DynamoTransitStore) {
    let proxy = FaultProxy::start(&dynamodb_endpoint()).await;
    let tables = DynamoTables::create_on(&proxy.endpoint).await;
    let store = dynamo_store(&tables);
    (proxy, tables, store)
}

mod faults {
    use super::*;

    const LATE: Fault = Fault::DelayResponse(Duration::from_millis(2_500));

    #[tokio::test]
    async fn a_token_created_by_a_call_whose_answer_was_lost_is_answered_as_created() {
        for fault in [Fault::DropResponse, LATE] {
            let (proxy, _tables, store) = through_proxy().await;
            proxy.nth("UpdateItem", 1, fault);
            assert!(
                !store
                    .set_calendar_token(&key("u"), &token("c1", 1.0))
                    .await
                    .unwrap(),
                "{fault:?}: created"
            );
            proxy.nth("UpdateItem", 1, fault);
            assert!(
                store
                    .set_calendar_token(&key("u"), &token("c2", 2.0))
                    .await
                    .unwrap(),
                "{fault:?}: replaced"
            );
            assert_eq!(
                store.get_calendar_token(&key("u")).await.unwrap(),
                Some(token("c2", 2.0))
            );
            proxy.nth("TransactWriteItems", 1, fault);
            assert!(
                store.clear_calendar_token(&key("u")).await.unwrap(),
                "{fault:?}: cleared"
            );
            assert!(!store.clear_calendar_token(&key("u")).await.unwrap());
            let calls = proxy.take_calls();
            assert!(
                calls.iter().filter(|c| c.fault.is_some()).count() == 3,
                "{calls:?}"
            );
        }
    }

    #[tokio::test]
    async fn transcript_writes_whose_answers_were_lost_are_applied_once_and_answered_as_applied() {
        for fault in [Fault::DropResponse, LATE] {
            let (proxy, _tables, store) = through_proxy().await;
            for i in 0..3 {
                proxy.nth("TransactWriteItems", 1, fault);
                let saved = store
                    .save_transcript(&transcript("u", &format!("t{i}"), &iso(i)))
                    .await
                    .unwrap();
                assert_eq!(saved, Saved::Inserted, "{fault:?}");
            }
            proxy.nth("TransactWriteItems", 1, fault);
            let updated = store
                .save_transcript(&transcript("u", "t0", &iso(9)))
                .await
                .unwrap();
            assert_eq!(updated, Saved::Updated, "{fault:?}");
            assert_eq!(
                ids(&store.list_transcripts(&key("u"), 200).await.unwrap()),
                ["t0", "t2", "t1"]
            );
            proxy.nth("TransactWriteItems", 1, fault);
            assert!(
                store
                    .remove_transcript(&key("u"), &key("t1"))
                    .await
                    .unwrap(),
                "{fault:?}"
            );
            proxy.nth("TransactWriteItems", 1, fault);
            assert_eq!(
                store.clear_transcripts(&key("u")).await.unwrap(),
                2,
                "{fault:?}"
            );
            assert!(store
                .list_transcripts(&key("u"), 200)
                .await
                .unwrap()
                .is_empty());
            let faulted = proxy
                .take_calls()
                .iter()
                .filter(|c| c.fault.is_some())
                .count();
            assert_eq!(faulted, 6, "{fault:?}");
        }
    }

    #[tokio::test]
    async fn a_write_refused_before_dynamodb_saw_it_is_retried_and_applied_once() {
        let (proxy, _tables, store) = through_proxy().await;
        for fault in [
            Fault::Throttle,
            Fault::InternalError,
            Fault::ResetBeforeForward,
        ] {
            proxy.nth("TransactWriteItems", 1, fault);
            let id = format!("{fault:?}");
            assert_eq!(
                store
                    .save_transcript(&transcript("u", &id, &iso(1)))
                    .await
                    .unwrap(),
                Saved::Inserted
            );
        }
        assert_eq!(
            store.list_transcripts(&key("u"), 200).await.unwrap().len(),
            3
        );
        proxy.always(Some("TransactWriteItems"), Fault::InternalError);
        let failed = store
            .save_transcript(&transcript("u", "never", &iso(1)))
            .await;
        assert!(
            matches!(failed, Err(shared::StoreError::Unavailable(_))),
            "{failed:?}"
        );
        proxy.clear();
        assert_eq!(
            store.list_transcripts(&key("u"), 200).await.unwrap().len(),
            3,
            "a failed write wrote nothing"
        );
    }
}
