//! The history store contract, on both stores, and the history routes over HTTP.

use devserver::Store;
use futures::StreamExt;
use history::{
    list_limit, newest_first, DynamoHistoryStore, EmbeddedHistoryStore, HistoryEntry, HistoryStore,
    Recorded, Transcript, MAX_ENTRIES,
};
use serde_json::{json, Value};
use service_tests::{conformance, embedded, embedded_db, key, spawn_app, DynamoTables};
use shared::{Num, StoreError};

fn embedded_store() -> EmbeddedHistoryStore {
    EmbeddedHistoryStore::new(embedded_db()).unwrap()
}

#[cfg_attr(not(feature = "dynamodb-local"), allow(dead_code))]
fn dynamo(tables: &DynamoTables) -> DynamoHistoryStore {
    DynamoHistoryStore::new(tables.client.clone(), tables.table("history"))
}

/// 2024-01-01T00:00:00.000Z plus `seconds`, as JavaScript's `toISOString` writes it.
fn iso(seconds: u32) -> String {
    shared::clock::iso8601(1_704_067_200_000.0 + f64::from(seconds) * 1000.0)
}

fn entry(user: &str, id: &str, created_at: &str) -> HistoryEntry {
    HistoryEntry {
        id: key(id),
        user_id: key(user),
        provider: "openai".into(),
        voice_id: "alloy".into(),
        text: format!("text of {id}"),
        created_at: key(created_at),
        duration_ms: Num(1234.5),
        transcript: None,
    }
}

fn ids(entries: &[HistoryEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.id.as_str()).collect()
}

async fn record_all(store: &impl HistoryStore, entries: &[HistoryEntry]) {
    futures::stream::iter(entries)
        .map(|e| store.record(e))
        .buffer_unordered(16)
        .for_each(|r| async move {
            assert_eq!(r.unwrap(), Recorded::Inserted);
        })
        .await;
}

/// The `count` newest of `entries`, newest first.
fn newest(mut entries: Vec<HistoryEntry>, count: usize) -> Vec<HistoryEntry> {
    entries.sort_by(newest_first);
    entries.truncate(count);
    entries
}

conformance!(embedded_store(), dynamo;
    list_returns_the_users_entries_newest_first_by_iso_created_at,
    list_limit_cuts_the_list_floored_with_negative_as_zero,
    entries_with_the_same_created_at_are_listed_by_id_descending,
    record_replaces_every_field_of_an_existing_entry_and_removes_an_omitted_transcript,
    the_same_id_under_two_users_is_two_entries,
    recording_one_by_one_past_200_keeps_the_200_newest,
    fifty_parallel_new_entries_on_top_of_180_leave_exactly_the_200_newest,
    remove_answers_true_for_an_entry_and_false_when_absent,
    clear_deletes_every_entry_of_the_user_and_counts_them,
    an_oversized_entry_is_refused_as_too_large_and_nothing_is_written,
);

async fn list_returns_the_users_entries_newest_first_by_iso_created_at(store: impl HistoryStore) {
    let entries = [
        entry("u", "march-10h", "2024-03-05T10:00:00.000Z"),
        entry("u", "new-year-eve", "2023-12-31T23:59:59.999Z"),
        entry("u", "march-9h59", "2024-03-05T09:59:59.999Z"),
        entry("u", "november", "2024-11-01T00:00:00.000Z"),
        entry("u", "leap-day", "2024-02-29T12:00:00.000Z"),
        entry("other", "theirs", "2030-01-01T00:00:00.000Z"),
    ];
    for e in &entries {
        store.record(e).await.unwrap();
    }
    let listed = store.list(&key("u"), list_limit(None)).await.unwrap();
    assert_eq!(
        ids(&listed),
        [
            "november",
            "march-10h",
            "march-9h59",
            "leap-day",
            "new-year-eve"
        ]
    );
    assert_eq!(listed[0], entries[3], "entries read back whole");
    assert_eq!(
        store.list(&key("nobody"), list_limit(None)).await.unwrap(),
        []
    );
}

async fn list_limit_cuts_the_list_floored_with_negative_as_zero(store: impl HistoryStore) {
    let entries: Vec<HistoryEntry> = (0..5)
        .map(|i| entry("u", &format!("e{i}"), &iso(i)))
        .collect();
    record_all(&store, &entries).await;
    let user = key("u");
    let list = |limit: Option<f64>| store.list(&user, list_limit(limit.map(Num)));
    assert_eq!(ids(&list(Some(2.0)).await.unwrap()), ["e4", "e3"]);
    assert_eq!(
        ids(&list(Some(2.9)).await.unwrap()),
        ["e4", "e3"],
        "a fractional limit is floored"
    );
    assert_eq!(list(Some(0.0)).await.unwrap(), []);
    assert_eq!(list(Some(-3.0)).await.unwrap(), [], "negative counts as 0");
    assert_eq!(list(Some(0.5)).await.unwrap(), []);
    assert_eq!(
        ids(&list(Some(100.0)).await.unwrap()),
        ["e4", "e3", "e2", "e1", "e0"],
        "a limit larger than the count gives all"
    );
    assert_eq!(
        ids(&list(None).await.unwrap()),
        ["e4", "e3", "e2", "e1", "e0"]
    );
}

async fn entries_with_the_same_created_at_are_listed_by_id_descending(store: impl HistoryStore) {
    let same = iso(10);
    record_all(
        &store,
        &[
            entry("u", "b", &same),
            entry("u", "a", &same),
            entry("u", "c", &same),
            entry("u", "z-older", &iso(9)),
        ],
    )
    .await;
    assert_eq!(
        ids(&store.list(&key("u"), 10).await.unwrap()),
        ["c", "b", "a", "z-older"]
    );
    // Where a limit cuts through entries of equal createdAt, which of them come first is the
    // index's choice on DynamoDB (it does not order equal sort keys); they are still sorted.
    let cut = store.list(&key("u"), 2).await.unwrap();
    assert_eq!(cut.len(), 2);
    assert!(cut.iter().all(|e| e.created_at.as_str() == same), "{cut:?}");
    assert!(cut[0].id > cut[1].id, "{cut:?}");
}

async fn record_replaces_every_field_of_an_existing_entry_and_removes_an_omitted_transcript(
    store: impl HistoryStore,
) {
    let first = HistoryEntry {
        transcript: Some(Transcript {
            srt: Some("1\n00:00:00,000 --> 00:00:01,000\nHi\n".into()),
            vtt: Some("WEBVTT\n\n00:00.000 --> 00:01.000\nHi\n".into()),
        }),
        ..entry("u", "e1", &iso(1))
    };
    assert_eq!(store.record(&first).await.unwrap(), Recorded::Inserted);
    store.record(&entry("u", "e2", &iso(2))).await.unwrap();

    let replaced = HistoryEntry {
        id: key("e1"),
        user_id: key("u"),
        provider: "elevenlabs".into(),
        voice_id: "rachel".into(),
        text: "new text".into(),
        created_at: key(&iso(3)),
        duration_ms: Num(99.0),
        transcript: None,
    };
    assert_eq!(store.record(&replaced).await.unwrap(), Recorded::Replaced);
    let listed = store.list(&key("u"), list_limit(None)).await.unwrap();
    assert_eq!(
        listed,
        [replaced.clone(), entry("u", "e2", &iso(2))],
        "every field replaced, the transcript removed, and the new createdAt orders it first"
    );

    let vtt_only = HistoryEntry {
        transcript: Some(Transcript {
            srt: None,
            vtt: Some("WEBVTT".into()),
        }),
        ..replaced
    };
    assert_eq!(store.record(&vtt_only).await.unwrap(), Recorded::Replaced);
    assert_eq!(store.list(&key("u"), 1).await.unwrap(), [vtt_only]);
    assert_eq!(
        store.clear(&key("u")).await.unwrap(),
        2,
        "an upsert adds nothing"
    );
}

async fn the_same_id_under_two_users_is_two_entries(store: impl HistoryStore) {
    let mine = entry("me", "shared-id", &iso(1));
    let theirs = HistoryEntry {
        text: "theirs".into(),
        ..entry("them", "shared-id", &iso(2))
    };
    assert_eq!(store.record(&mine).await.unwrap(), Recorded::Inserted);
    assert_eq!(store.record(&theirs).await.unwrap(), Recorded::Inserted);
    assert_eq!(store.list(&key("me"), 10).await.unwrap(), [mine]);
    assert_eq!(store.list(&key("them"), 10).await.unwrap(), [theirs]);
}

async fn recording_one_by_one_past_200_keeps_the_200_newest(store: impl HistoryStore) {
    // Ids run against time, so an order by id would show.
    let entries: Vec<HistoryEntry> = (0..205)
        .map(|i| entry("u", &format!("e{:03}", 999 - i), &iso(100 + i)))
        .collect();
    for e in &entries {
        assert_eq!(store.record(e).await.unwrap(), Recorded::Inserted);
    }
    let listed = store.list(&key("u"), list_limit(None)).await.unwrap();
    assert_eq!(listed, newest(entries.clone(), MAX_ENTRIES));
    for oldest in &entries[..5] {
        assert!(
            !store.remove(&key("u"), &oldest.id).await.unwrap(),
            "{} was trimmed",
            oldest.id
        );
    }

    let older_than_all = entry("u", "ancient", &iso(0));
    assert_eq!(
        store.record(&older_than_all).await.unwrap(),
        Recorded::Inserted
    );
    assert_eq!(
        store.list(&key("u"), list_limit(None)).await.unwrap(),
        listed,
        "an entry older than the 200 newest is trimmed at once"
    );
    let edited = HistoryEntry {
        text: "edited".into(),
        ..entries[10].clone()
    };
    assert_eq!(store.record(&edited).await.unwrap(), Recorded::Replaced);
    assert_eq!(store.clear(&key("u")).await.unwrap(), MAX_ENTRIES);
}

async fn fifty_parallel_new_entries_on_top_of_180_leave_exactly_the_200_newest(
    store: impl HistoryStore,
) {
    let existing: Vec<HistoryEntry> = (0..180)
        .map(|i| entry("u", &format!("old-{i:03}"), &iso(2 * i)))
        .collect();
    record_all(&store, &existing).await;
    // Spread over the existing ones' times, some equal to them: the newest 200 of the 230 mix
    // existing and new entries, and ties are broken by id.
    let new: Vec<HistoryEntry> = (0..50)
        .map(|i| entry("u", &format!("new-{i:03}"), &iso(7 * i + 1)))
        .collect();
    let outcomes = futures::future::join_all(new.iter().map(|e| store.record(e))).await;
    for outcome in outcomes {
        assert_eq!(outcome.unwrap(), Recorded::Inserted);
    }
    let expected = newest(existing.into_iter().chain(new).collect(), MAX_ENTRIES);
    assert!(expected.iter().any(|e| e.id.as_str().starts_with("new-")));
    assert!(expected.iter().any(|e| e.id.as_str().starts_with("old-")));
    assert_eq!(
        ids(&store.list(&key("u"), list_limit(None)).await.unwrap()),
        ids(&expected)
    );
    assert_eq!(
        store.clear(&key("u")).await.unwrap(),
        MAX_ENTRIES,
        "no more than 200 remain"
    );
}

async fn remove_answers_true_for_an_entry_and_false_when_absent(store: impl HistoryStore) {
    store.record(&entry("u", "a", &iso(1))).await.unwrap();
    store.record(&entry("other", "a", &iso(1))).await.unwrap();
    assert!(store.remove(&key("u"), &key("a")).await.unwrap());
    assert!(!store.remove(&key("u"), &key("a")).await.unwrap());
    assert!(!store.remove(&key("u"), &key("never")).await.unwrap());
    assert_eq!(store.list(&key("u"), 10).await.unwrap(), []);
    assert_eq!(
        ids(&store.list(&key("other"), 10).await.unwrap()),
        ["a"],
        "another user's entry with the same id stays"
    );
}

async fn clear_deletes_every_entry_of_the_user_and_counts_them(store: impl HistoryStore) {
    let mine: Vec<HistoryEntry> = (0..30)
        .map(|i| entry("u", &format!("e{i}"), &iso(i)))
        .collect();
    record_all(&store, &mine).await;
    record_all(
        &store,
        &[entry("other", "x", &iso(1)), entry("other", "y", &iso(2))],
    )
    .await;
    assert_eq!(store.clear(&key("u")).await.unwrap(), 30);
    assert_eq!(store.list(&key("u"), list_limit(None)).await.unwrap(), []);
    assert_eq!(store.list(&key("other"), 10).await.unwrap().len(), 2);
    assert_eq!(store.clear(&key("u")).await.unwrap(), 0);
}

async fn an_oversized_entry_is_refused_as_too_large_and_nothing_is_written(
    store: impl HistoryStore,
) {
    let too_long = "x".repeat(410 * 1024);
    let big_text = HistoryEntry {
        text: too_long.clone(),
        ..entry("u", "big", &iso(1))
    };
    assert!(matches!(
        store.record(&big_text).await,
        Err(StoreError::TooLarge(_))
    ));
    assert_eq!(store.list(&key("u"), 10).await.unwrap(), []);

    let small = entry("u", "small", &iso(2));
    store.record(&small).await.unwrap();
    let big_transcript = HistoryEntry {
        transcript: Some(Transcript {
            srt: Some(too_long),
            vtt: None,
        }),
        ..small.clone()
    };
    assert!(matches!(
        store.record(&big_transcript).await,
        Err(StoreError::TooLarge(_))
    ));
    assert_eq!(
        store.list(&key("u"), 10).await.unwrap(),
        [small],
        "the stored entry is unchanged"
    );
}

/// DynamoDB calls per route (the budget in the crate docs).
#[cfg(feature = "dynamodb-local")]
mod round_trips {
    use super::*;

    #[tokio::test]
    async fn list_is_one_query_whatever_the_limit_and_none_for_a_limit_of_zero() {
        let tables = DynamoTables::create().await;
        let store = dynamo(&tables);
        let entries: Vec<HistoryEntry> = (0..10)
            .map(|i| entry("u", &format!("e{i}"), &iso(i)))
            .collect();
        record_all(&store, &entries).await;
        tables.calls.take();
        assert_eq!(store.list(&key("u"), 3).await.unwrap().len(), 3);
        assert_eq!(tables.calls.take(), ["Query"]);
        assert_eq!(
            store.list(&key("u"), list_limit(None)).await.unwrap().len(),
            10
        );
        assert_eq!(tables.calls.take(), ["Query"]);
        assert_eq!(store.list(&key("u"), 0).await.unwrap(), []);
        assert!(tables.calls.take().is_empty());
    }

    #[tokio::test]
    async fn record_is_one_put_for_an_existing_entry_and_a_put_and_a_query_for_a_new_one() {
        let tables = DynamoTables::create().await;
        let store = dynamo(&tables);
        store.record(&entry("u", "a", &iso(1))).await.unwrap();
        assert_eq!(tables.calls.take(), ["PutItem", "Query"]);
        store.record(&entry("u", "a", &iso(2))).await.unwrap();
        assert_eq!(tables.calls.take(), ["PutItem"]);
    }

    #[tokio::test]
    async fn record_at_the_cap_adds_one_conditional_delete() {
        let tables = DynamoTables::create().await;
        let store = dynamo(&tables);
        let full: Vec<HistoryEntry> = (0..200)
            .map(|i| entry("u", &format!("e{i:03}"), &iso(i)))
            .collect();
        record_all(&store, &full).await;
        tables.calls.take();
        store
            .record(&entry("u", "newest", &iso(500)))
            .await
            .unwrap();
        assert_eq!(tables.calls.take(), ["PutItem", "Query", "DeleteItem"]);
    }

    #[tokio::test]
    async fn remove_is_one_transactional_delete_found_or_not() {
        let tables = DynamoTables::create().await;
        let store = dynamo(&tables);
        store.record(&entry("u", "a", &iso(1))).await.unwrap();
        tables.calls.take();
        assert!(store.remove(&key("u"), &key("a")).await.unwrap());
        assert_eq!(tables.calls.take(), ["TransactWriteItems"]);
        assert!(!store.remove(&key("u"), &key("a")).await.unwrap());
        assert_eq!(tables.calls.take(), ["TransactWriteItems"]);
    }

    #[tokio::test]
    async fn clear_is_one_query_and_one_batch_write_per_25_entries() {
        let tables = DynamoTables::create().await;
        let store = dynamo(&tables);
        let entries: Vec<HistoryEntry> = (0..30)
            .map(|i| entry("u", &format!("e{i}"), &iso(i)))
            .collect();
        record_all(&store, &entries).await;
        tables.calls.take();
        assert_eq!(store.clear(&key("u")).await.unwrap(), 30);
        assert_eq!(
            tables.calls.take(),
            ["Query", "BatchWriteItem", "BatchWriteItem"]
        );
        assert_eq!(store.clear(&key("u")).await.unwrap(), 0);
        assert_eq!(tables.calls.take(), ["Query"]);
    }

    #[tokio::test]
    async fn items_hold_exactly_the_wire_attributes() {
        let tables = DynamoTables::create().await;
        let stored = HistoryEntry {
            transcript: Some(Transcript {
                srt: Some("s".into()),
                vtt: None,
            }),
            ..entry("u", "a", &iso(1))
        };
        dynamo(&tables).record(&stored).await.unwrap();
        let item = tables
            .client
            .get_item()
            .table_name(tables.table("history"))
            .key("userId", shared::dynamo::s("u"))
            .key("id", shared::dynamo::s("a"))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        let mut names: Vec<&str> = item.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "createdAt",
                "durationMs",
                "id",
                "provider",
                "text",
                "transcript",
                "userId",
                "voiceId"
            ]
        );
        assert_eq!(item["durationMs"].as_n().unwrap(), "1234.5");
        assert_eq!(
            item["createdAt"].as_s().unwrap(),
            "2024-01-01T00:00:01.000Z"
        );
    }
}

fn wire_entry(id: &str, created_at: &str) -> Value {
    json!({
        "id": id,
        "userId": "u1",
        "provider": "openai",
        "voiceId": "alloy",
        "text": format!("text of {id}"),
        "createdAt": created_at,
        "durationMs": 1500,
    })
}

async fn routes_answer_as_the_contract_says(store: Store) {
    let app = spawn_app(store).await;
    let mut first = wire_entry("h1", "2024-05-01T10:00:00.000Z");
    first["transcript"] = json!({ "srt": "1\n00:00:00,000 --> 00:00:01,500\nHello\n" });
    let second = wire_entry("h2", "2024-05-02T10:00:00.000Z");
    assert_eq!(
        app.ok("/history/record", json!({ "entry": first })).await,
        json!({ "entry": first })
    );
    assert_eq!(
        app.ok("/history/record", json!({ "entry": second })).await,
        json!({ "entry": second })
    );
    assert_eq!(
        app.ok("/history/list", json!({ "userId": "u1" })).await,
        json!([second, first]),
        "a bare array, newest first"
    );
    assert_eq!(
        app.ok("/history/list", json!({ "userId": "u1", "limit": 1 }))
            .await,
        json!([second])
    );
    assert_eq!(
        app.ok("/history/list", json!({ "userId": "u1", "limit": 1.9 }))
            .await,
        json!([second])
    );
    assert_eq!(
        app.ok("/history/list", json!({ "userId": "u1", "limit": -1 }))
            .await,
        json!([])
    );

    let mut replaced = wire_entry("h1", "2024-05-03T10:00:00.000Z");
    replaced["text"] = json!("replaced");
    replaced["durationMs"] = json!(2.25);
    assert_eq!(
        app.ok("/history/record", json!({ "entry": replaced }))
            .await,
        json!({ "entry": replaced })
    );
    assert_eq!(
        app.ok("/history/list", json!({ "userId": "u1" })).await,
        json!([replaced, second]),
        "the omitted transcript is gone"
    );

    assert_eq!(
        app.ok("/history/remove", json!({ "userId": "u1", "id": "h1" }))
            .await,
        json!({ "removed": true })
    );
    assert_eq!(
        app.ok("/history/remove", json!({ "userId": "u1", "id": "h1" }))
            .await,
        json!({ "removed": false })
    );
    assert_eq!(
        app.ok("/history/clear", json!({ "userId": "u1" })).await,
        json!({ "cleared": 1 })
    );
    assert_eq!(
        app.ok("/history/clear", json!({ "userId": "u1" })).await,
        json!({ "cleared": 0 })
    );
    assert_eq!(
        app.ok("/history/list", json!({ "userId": "u1" })).await,
        json!([])
    );
}

async fn an_oversized_entry_is_413_and_writes_nothing(store: Store) {
    let app = spawn_app(store).await;
    let mut big = wire_entry("big", "2024-05-01T10:00:00.000Z");
    big["text"] = json!("x".repeat(410 * 1024));
    let answer = app.call("/history/record", json!({ "entry": big })).await;
    assert_eq!(answer.status, 413, "{:?}", answer.body["error"]);
    assert_eq!(answer.body["error"]["code"], "payload_too_large");
    assert!(
        answer.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("item limit"),
        "{}",
        answer.body["error"]["message"]
    );
    assert_eq!(
        app.ok("/history/list", json!({ "userId": "u1" })).await,
        json!([])
    );
}

mod http {
    use super::*;

    #[tokio::test]
    async fn history_routes_answer_as_the_contract_says_on_the_embedded_store() {
        routes_answer_as_the_contract_says(embedded()).await;
    }

    #[tokio::test]
    async fn an_oversized_entry_is_413_and_writes_nothing_on_the_embedded_store() {
        an_oversized_entry_is_413_and_writes_nothing(embedded()).await;
    }

    #[cfg(feature = "dynamodb-local")]
    #[tokio::test]
    async fn history_routes_answer_as_the_contract_says_on_dynamodb() {
        let tables = DynamoTables::create().await;
        routes_answer_as_the_contract_says(tables.store()).await;
    }

    #[cfg(feature = "dynamodb-local")]
    #[tokio::test]
    async fn an_oversized_entry_is_413_and_writes_nothing_on_dynamodb() {
        let tables = DynamoTables::create().await;
        an_oversized_entry_is_413_and_writes_nothing(tables.store()).await;
    }

    #[tokio::test]
    async fn arguments_are_validated_strictly_and_the_message_names_the_field() {
        let app = spawn_app(embedded()).await;
        let with = |field: &str, value: Value| {
            let mut e = wire_entry("h1", "2024-05-01T10:00:00.000Z");
            e[field] = value;
            json!({ "entry": e })
        };
        let without = |field: &str| {
            let mut e = wire_entry("h1", "2024-05-01T10:00:00.000Z");
            e.as_object_mut().unwrap().remove(field);
            json!({ "entry": e })
        };
        let cases = [
            (
                "/history/record",
                with("durationMs", json!("1500")),
                "entry.durationMs: expected a number, got a string",
            ),
            (
                "/history/record",
                without("createdAt"),
                "entry: missing field `createdAt`",
            ),
            (
                "/history/record",
                with("createdAt", json!("")),
                "entry.createdAt: must not be empty",
            ),
            (
                "/history/record",
                with("transcript", Value::Null),
                "entry.transcript: expected an object, got null",
            ),
            (
                "/history/record",
                with("transcript", json!({ "srt": null })),
                "entry.transcript.srt: expected a string, got null",
            ),
            (
                "/history/list",
                json!({ "userId": "u1", "limit": null }),
                "limit: expected a number, got null",
            ),
            (
                "/history/list",
                json!({ "userId": "u1", "limit": "5" }),
                "limit: expected a number, got a string",
            ),
            (
                "/history/remove",
                json!({ "userId": "u1" }),
                "missing field `id`",
            ),
            ("/history/clear", json!({}), "missing field `userId`"),
        ];
        for (path, body, message) in cases {
            let answer = app.call(path, body.clone()).await;
            assert_eq!(answer.status, 400, "{path} {body}");
            assert_eq!(
                answer.body,
                json!({ "error": { "code": "invalid_argument", "message": message } }),
                "{path} {body}"
            );
        }
        for (path, body, field) in [
            ("/history/record", with("extra", json!(1)), "entry.extra"),
            (
                "/history/record",
                with("transcript", json!({ "txt": "x" })),
                "entry.transcript.txt",
            ),
            (
                "/history/list",
                json!({ "userId": "u1", "offset": 2 }),
                "offset",
            ),
            (
                "/history/clear",
                json!({ "userId": "u1", "all": true }),
                "all",
            ),
        ] {
            let answer = app.call(path, body.clone()).await;
            assert_eq!(answer.status, 400, "{path} {body}");
            let message = answer.body["error"]["message"].as_str().unwrap();
            assert!(
                message.starts_with(&format!("{field}: unknown field")),
                "{path}: {message}"
            );
        }
        assert_eq!(
            app.ok("/history/list", json!({ "userId": "u1" })).await,
            json!([]),
            "nothing was written"
        );
    }
}

#[test]
fn the_template_defines_the_history_table_its_index_and_a_least_privilege_policy() {
    let template: serde_norway::Value =
        serde_norway::from_str(devserver::tables::TEMPLATE).unwrap();
    let table = &template["Resources"][history::attr::TABLE.resource]["Properties"];
    let key_names = |keys: &serde_norway::Value| -> Vec<String> {
        keys.as_sequence()
            .unwrap()
            .iter()
            .map(|k| k["AttributeName"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        key_names(&table["KeySchema"]),
        [history::attr::USER_ID, history::attr::ID]
    );
    let indexes = table["LocalSecondaryIndexes"].as_sequence().unwrap();
    assert_eq!(indexes.len(), 1);
    assert_eq!(indexes[0]["IndexName"], history::attr::BY_CREATED_AT);
    assert_eq!(
        key_names(&indexes[0]["KeySchema"]),
        [history::attr::USER_ID, history::attr::CREATED_AT]
    );
    assert_eq!(indexes[0]["Projection"]["ProjectionType"], "KEYS_ONLY");
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(table["DeletionProtectionEnabled"], true);

    let statements =
        &template["Resources"]["HistoryFunction"]["Properties"]["Policies"][0]["Statement"];
    let actions = service_tests::policy_actions(&template, "HistoryFunction");
    assert_eq!(
        actions,
        [
            vec![
                "dynamodb:PutItem",
                "dynamodb:DeleteItem",
                "dynamodb:BatchWriteItem"
            ],
            vec!["dynamodb:Query"]
        ]
    );
    let index_arn = format!("{:?}", statements[1]["Resource"]);
    assert!(
        index_arn.contains("/index/byCreatedAt"),
        "Query only on the index: {index_arn}"
    );
}
