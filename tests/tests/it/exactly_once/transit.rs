//! The transit group's writes under faults. Every transcript write is one `TransactWriteItems`
//! with a `ClientRequestToken` (the body items, the index, the deletes), so a repeat after a lost
//! answer is answered as the first: a removal or a clear it made is never answered `false` or `0`,
//! and a new transcript takes one entry. `setCalendarToken` is an `UpdateItem` with a write token
//! (a repeat answers from the item it finds), `clearCalendarToken` is `delete_existing`.
//!
//! A save writes the whole transcript at its place in the user's index (an update keeps its
//! insertion sequence), so a second application of the same save leaves the same list; what the
//! list can show is a second entry of the id, a lost one, a partial body, a broken cap, or an
//! answer that is not what is stored.

use super::{under_every_fault, WriteCase};
use serde_json::{json, Value};
use service_tests::{DynamoTables, TestApp};
use shared::import::{Doc, ImportTable};
use transit::import::TranscriptImport;

/// The `createdAt` of seeded transcript `i`: the later `i`, the newer.
fn created(i: usize) -> String {
    format!("2026-01-01T00:{:02}:{:02}.000Z", i / 60, i % 60)
}

/// Newer than every seeded one.
const NEWEST: &str = "2026-02-01T00:00:00.000Z";

/// A `TranscriptInput` as the app sends it, with `text` as its transcript.
fn record(user: &str, id: &str, created_at: &str, text: &str) -> Value {
    json!({
        "userId": user,
        "transcriptId": id,
        "title": format!("Meeting {id}"),
        "transcript": text,
        "segments": [{ "index": 0, "startMs": 0, "endMs": 1500.5, "text": "segment" }],
        "durationMs": 1500.5,
        "createdAt": created_at,
        "source": "microphone",
    })
}

async fn save(app: &TestApp, record: Value) {
    let saved = app
        .ok("/transit/saveTranscript", json!({ "record": record }))
        .await;
    assert!(saved["record"].is_object(), "{saved}");
}

/// The user's transcripts, in list order.
async fn list(app: &TestApp, user: &str) -> Vec<Value> {
    app.ok("/transit/listTranscripts", json!({ "userId": user }))
        .await
        .as_array()
        .expect("an array")
        .clone()
}

/// The listed transcripts with id `id`.
fn with_id<'a>(listed: &'a [Value], id: &str) -> Vec<&'a Value> {
    listed.iter().filter(|t| t["id"] == id).collect()
}

/// Writes `count` transcripts `old-000`.. (`old-000` the oldest) straight into the table, as
/// `convex-import` does (the items `saveTranscript` writes, built by the group's own code), in
/// batches: a few calls instead of 2 per transcript.
async fn seed_transcripts(tables: &DynamoTables, user: &str, count: usize) {
    let docs = (0..count)
        .map(|i| Doc {
            line: i + 1,
            convex_id: format!("c{i}"),
            created_ms: i as f64,
            record: serde_json::from_value(record(
                user,
                &format!("old-{i:03}"),
                &created(i),
                "old",
            ))
            .expect("a transcript"),
        })
        .collect();
    let (kept, skipped) = TranscriptImport::select(docs);
    assert!(skipped.is_empty(), "{skipped:?}");
    let items = kept
        .iter()
        .flat_map(|doc| TranscriptImport::items(doc).expect("items"))
        .map(|(_, item)| item)
        .collect();
    tables.put_all("transit-transcripts", items).await;
}

/// The listed `id` next to a save's answer: they must be the same transcript.
fn answered_is_listed(listed: &[Value], id: &str, value: &Value) -> Option<String> {
    match with_id(listed, id).as_slice() {
        [stored] if *stored == &value["record"] => None,
        [_] => Some(format!("{id}: the answered record is not the stored one")),
        found => Some(format!("{id}: {} stored after a success", found.len())),
    }
}

/// A new transcript, the newest, saved on top of `before` (200: the cap, so the oldest goes in
/// the same write).
struct SaveNew {
    before: usize,
}

impl WriteCase for SaveNew {
    const PATH: &'static str = "/transit/saveTranscript";
    const FUNCTION: &'static str = "transit:saveTranscript";
    const OP: &'static str = "TransactWriteItems";

    async fn seed(&self, tables: &DynamoTables, key: &str) {
        seed_transcripts(tables, key, self.before).await;
    }

    fn args(&self, key: &str) -> Value {
        json!({ "record": record(key, "new", NEWEST, "new") })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        let listed = list(app, key).await;
        let present = with_id(&listed, "new").len();
        let old = |i: usize| format!("old-{i:03}");
        // Applied: the new one first, then the newest seeded ones down to the cap.
        let expected: Vec<String> = match present {
            0 => (0..self.before).rev().map(old).collect(),
            _ => std::iter::once("new".to_owned())
                .chain(
                    (0..self.before)
                        .rev()
                        .take(transit::MAX_TRANSCRIPTS - 1)
                        .map(old),
                )
                .collect(),
        };
        if present <= 1 {
            let ids: Vec<&str> = listed.iter().map(|t| t["id"].as_str().unwrap()).collect();
            assert_eq!(ids, expected, "{key}: the cap holds, nothing else changed");
        }
        present as u32
    }

    fn refused(&self, value: &Value) -> bool {
        value["record"].is_null()
    }

    async fn disagrees(&self, app: &TestApp, key: &str, value: &Value) -> Option<String> {
        answered_is_listed(&list(app, key).await, "new", value)
    }
}

/// An update of `t` (a new text, a newer `createdAt`: it moves to the front) next to `u`.
struct SaveUpdate;

impl WriteCase for SaveUpdate {
    const PATH: &'static str = "/transit/saveTranscript";
    const FUNCTION: &'static str = "transit:saveTranscript";
    const OP: &'static str = "TransactWriteItems";

    async fn setup(&self, app: &TestApp, key: &str) {
        save(app, record(key, "t", &created(1), "before")).await;
        save(app, record(key, "u", &created(2), "other")).await;
    }

    fn args(&self, key: &str) -> Value {
        json!({ "record": record(key, "t", NEWEST, "after") })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        let listed = list(app, key).await;
        let ids: Vec<&str> = listed.iter().map(|t| t["id"].as_str().unwrap()).collect();
        let stored = with_id(&listed, "t");
        match stored.as_slice() {
            [t] if t["transcript"] == "before" => {
                assert_eq!(ids, ["u", "t"], "{key}: as it was");
                0
            }
            [t] => {
                assert_eq!(t["transcript"], "after", "{key}");
                assert_eq!(ids, ["t", "u"], "{key}: moved to its new place");
                1
            }
            more => more.len() as u32,
        }
    }

    fn refused(&self, value: &Value) -> bool {
        value["record"].is_null()
    }

    async fn disagrees(&self, app: &TestApp, key: &str, value: &Value) -> Option<String> {
        answered_is_listed(&list(app, key).await, "t", value)
    }
}

/// The text of the large transcript: its JSON takes 3 body items of 384 KiB.
fn large_text() -> String {
    "0123456789abcdef".repeat(900 * 1024 / 16)
}

/// A new transcript of about 900 KiB: its body spans 3 items, written in the index's transaction.
struct SaveLarge;

impl WriteCase for SaveLarge {
    const PATH: &'static str = "/transit/saveTranscript";
    const FUNCTION: &'static str = "transit:saveTranscript";
    const OP: &'static str = "TransactWriteItems";

    async fn setup(&self, app: &TestApp, key: &str) {
        save(app, record(key, "small", &created(1), "small")).await;
    }

    fn args(&self, key: &str) -> Value {
        json!({ "record": record(key, "large", NEWEST, &large_text()) })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        let listed = list(app, key).await;
        let large = with_id(&listed, "large");
        if let [stored] = large.as_slice() {
            assert!(
                stored["transcript"].as_str() == Some(large_text().as_str()),
                "{key}: the large transcript reads back whole"
            );
        }
        assert_eq!(listed.len(), large.len() + 1, "{key}: small is kept");
        large.len() as u32
    }

    fn refused(&self, value: &Value) -> bool {
        value["record"].is_null()
    }

    async fn disagrees(&self, app: &TestApp, key: &str, value: &Value) -> Option<String> {
        answered_is_listed(&list(app, key).await, "large", value)
    }
}

/// A removal of `a` next to `b`: it must answer `removed: true` once it removed `a`.
struct Remove;

impl WriteCase for Remove {
    const PATH: &'static str = "/transit/removeTranscript";
    const FUNCTION: &'static str = "transit:removeTranscript";
    const OP: &'static str = "TransactWriteItems";

    async fn setup(&self, app: &TestApp, key: &str) {
        save(app, record(key, "a", &created(1), "a")).await;
        save(app, record(key, "b", &created(2), "b")).await;
    }

    fn args(&self, key: &str) -> Value {
        json!({ "userId": key, "transcriptId": "a" })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        let listed = list(app, key).await;
        assert_eq!(with_id(&listed, "b").len(), 1, "{key}: b is kept");
        u32::from(with_id(&listed, "a").is_empty())
    }

    fn refused(&self, value: &Value) -> bool {
        value["removed"] != true
    }
}

/// A clear of `count` transcripts: it must answer the count it deleted, never `0` from a repeat
/// (200: the index and 99 bodies in the first transaction, the other bodies in more).
struct Clear {
    count: usize,
}

impl WriteCase for Clear {
    const PATH: &'static str = "/transit/clearTranscripts";
    const FUNCTION: &'static str = "transit:clearTranscripts";
    const OP: &'static str = "TransactWriteItems";

    async fn seed(&self, tables: &DynamoTables, key: &str) {
        seed_transcripts(tables, key, self.count).await;
    }

    fn args(&self, key: &str) -> Value {
        json!({ "userId": key })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        match list(app, key).await.len() {
            0 => 1,
            left => {
                assert_eq!(left, self.count, "{key}: all or nothing");
                0
            }
        }
    }

    fn refused(&self, value: &Value) -> bool {
        value["cleared"] != self.count
    }
}

async fn token(app: &TestApp, user: &str) -> Value {
    app.ok("/transit/getCalendarToken", json!({ "userId": user }))
        .await
}

fn token_args(user: &str, payload: &str, expires_at: u64) -> Value {
    json!({ "userId": user, "encryptedPayload": payload, "expiresAt": expires_at,
            "scope": ["calendar.events"] })
}

/// A set of the calendar token, the user's first (answered `updated: false`) or over one set
/// before (answered `updated: true`).
struct SetToken {
    first: bool,
}

impl WriteCase for SetToken {
    const PATH: &'static str = "/transit/setCalendarToken";
    const FUNCTION: &'static str = "transit:setCalendarToken";
    const OP: &'static str = "UpdateItem";

    async fn setup(&self, app: &TestApp, key: &str) {
        if !self.first {
            let set = app
                .ok("/transit/setCalendarToken", token_args(key, "old", 1))
                .await;
            assert_eq!(set["updated"], false, "{set}");
        }
    }

    fn args(&self, key: &str) -> Value {
        token_args(key, "new", 2)
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        let token = token(app, key).await;
        match token["encryptedPayload"].as_str() {
            Some("new") => {
                assert_eq!(token["expiresAt"], 2, "{key}");
                1
            }
            Some("old") if !self.first => 0,
            None if self.first => {
                assert!(token.is_null(), "{key}: {token}");
                0
            }
            other => panic!("{key}: an unexpected token {other:?}"),
        }
    }

    async fn disagrees(&self, _app: &TestApp, _key: &str, value: &Value) -> Option<String> {
        // Not a failure flag: `false` says this call created the token, `true` that it replaced one.
        (value["updated"] != !self.first).then(|| {
            format!(
                "answered updated {}, but a token {} before the call",
                value["updated"],
                if self.first {
                    "did not exist"
                } else {
                    "existed"
                }
            )
        })
    }
}

/// A clear of a token that exists: it must answer `cleared: true` once it deleted it.
struct ClearToken;

impl WriteCase for ClearToken {
    const PATH: &'static str = "/transit/clearCalendarToken";
    const FUNCTION: &'static str = "transit:clearCalendarToken";
    const OP: &'static str = "TransactWriteItems";

    async fn setup(&self, app: &TestApp, key: &str) {
        app.ok("/transit/setCalendarToken", token_args(key, "old", 1))
            .await;
    }

    fn args(&self, key: &str) -> Value {
        json!({ "userId": key })
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        u32::from(token(app, key).await.is_null())
    }

    fn refused(&self, value: &Value) -> bool {
        value["cleared"] != true
    }
}

#[tokio::test]
async fn save_of_a_new_transcript_takes_one_entry_and_keeps_the_cap_under_every_fault() {
    under_every_fault(SaveNew { before: 3 }).await;
    under_every_fault(SaveNew { before: 200 }).await;
}

#[tokio::test]
async fn save_of_an_existing_transcript_replaces_it_once_under_every_fault() {
    under_every_fault(SaveUpdate).await;
}

#[tokio::test]
async fn save_of_a_transcript_over_several_items_is_whole_or_absent_under_every_fault() {
    under_every_fault(SaveLarge).await;
}

#[tokio::test]
async fn remove_answers_true_once_it_removed_under_every_fault() {
    under_every_fault(Remove).await;
}

#[tokio::test]
async fn clear_counts_what_it_deleted_under_every_fault() {
    under_every_fault(Clear { count: 3 }).await;
    under_every_fault(Clear { count: 200 }).await;
}

#[tokio::test]
async fn set_calendar_token_says_whether_it_created_the_token_under_every_fault() {
    under_every_fault(SetToken { first: true }).await;
    under_every_fault(SetToken { first: false }).await;
}

#[tokio::test]
async fn clear_calendar_token_answers_true_once_it_cleared_under_every_fault() {
    under_every_fault(ClearToken).await;
}
