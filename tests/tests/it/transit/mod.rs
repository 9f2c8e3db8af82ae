//! The transit group (CONTRACT.md §7.3): its store contract on both stores (`store`), every route
//! on both surfaces and both stores (`routes`), and what only DynamoDB shows: calls per route,
//! faults, items (`dynamo`).

mod dynamo;
mod routes;
mod store;

use serde_json::{json, Value};
use service_tests::{embedded_db, DynamoTables};
use transit::{
    DynamoTransitStore, EmbeddedTransitStore, NewTranscript, TranscriptInput, TranscriptJson,
};

fn embedded_store() -> EmbeddedTransitStore {
    EmbeddedTransitStore::new(embedded_db()).unwrap()
}

#[cfg_attr(not(feature = "dynamodb-local"), allow(dead_code))]
fn dynamo_store(tables: &DynamoTables) -> DynamoTransitStore {
    DynamoTransitStore::new(
        tables.client.clone(),
        tables.table("transit-transcripts"),
        tables.table("transit-calendar-tokens"),
    )
}

/// 2024-01-01T00:00:00.000Z plus `seconds`, as JavaScript's `toISOString` writes it.
fn iso(seconds: u32) -> String {
    shared::clock::iso8601(1_704_067_200_000.0 + f64::from(seconds) * 1000.0)
}

/// A `TranscriptInput` as the app sends it: every required field, no optional one.
fn wire(user: &str, id: &str, created_at: &str) -> Value {
    json!({
        "userId": user,
        "transcriptId": id,
        "title": format!("Meeting {id}"),
        "transcript": format!("Text of {id}."),
        "segments": [{ "index": 0, "startMs": 0, "endMs": 1500.5, "text": format!("Text of {id}.") }],
        "durationMs": 1500.5,
        "createdAt": created_at,
        "source": "microphone",
    })
}

/// The `Transcript` the service returns for `wire`: `id`, nulls for the absent summary, cleanup
/// and language, no confidence, no userId.
fn returned(wire: &Value) -> Value {
    let mut out = json!({
        "id": wire["transcriptId"],
        "title": wire["title"],
        "transcript": wire["transcript"],
        "segments": wire["segments"],
        "summary": wire.get("summary").cloned().unwrap_or(Value::Null),
        "cleanup": wire.get("cleanup").cloned().unwrap_or(Value::Null),
        "language": wire.get("language").cloned().unwrap_or(Value::Null),
        "durationMs": wire["durationMs"],
        "createdAt": wire["createdAt"],
        "source": wire["source"],
    });
    if let Some(confidence) = wire.get("confidence") {
        out["confidence"] = confidence.clone();
    }
    out
}

fn input(wire: &Value) -> TranscriptInput {
    serde_json::from_value(wire.clone()).unwrap()
}

/// A transcript ready for the store.
fn transcript(user: &str, id: &str, created_at: &str) -> NewTranscript {
    NewTranscript::parse(input(&wire(user, id, created_at))).unwrap()
}

/// A transcript whose JSON is about `bytes` long (its text).
fn big(user: &str, id: &str, created_at: &str, bytes: usize) -> NewTranscript {
    let mut record = wire(user, id, created_at);
    record["transcript"] = json!(text(bytes));
    NewTranscript::parse(input(&record)).unwrap()
}

/// `bytes` of plain text (sentences, so that it escapes as a transcript does).
fn text(bytes: usize) -> String {
    const SENTENCE: &str = "So the next step is to ship the draft by Friday, and Ada reviews it. ";
    SENTENCE.repeat(bytes / SENTENCE.len() + 1)[..bytes].to_owned()
}

/// The ids of listed transcripts, in order.
fn ids(listed: &[TranscriptJson]) -> Vec<String> {
    listed
        .iter()
        .map(|json| json.parse().unwrap().id.into_string())
        .collect()
}

fn values(listed: &[TranscriptJson]) -> Vec<Value> {
    listed
        .iter()
        .map(|json| serde_json::from_str(json.as_str()).unwrap())
        .collect()
}

#[test]
fn the_template_defines_both_tables_and_a_least_privilege_policy() {
    let template: serde_norway::Value =
        serde_norway::from_str(devserver::tables::TEMPLATE).unwrap();
    let key_names = |resource: &str| -> Vec<String> {
        let table = &template["Resources"][resource]["Properties"];
        assert!(
            table.get("LocalSecondaryIndexes").is_none()
                && table.get("GlobalSecondaryIndexes").is_none()
        );
        assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
        assert_eq!(table["DeletionProtectionEnabled"], true);
        table["KeySchema"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|k| k["AttributeName"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        key_names(transit::attr::TRANSCRIPTS.resource),
        [transit::attr::USER_ID, transit::attr::SK]
    );
    assert_eq!(
        key_names(transit::attr::CALENDAR_TOKENS.resource),
        [transit::attr::USER_ID]
    );
    let actions = service_tests::policy_actions(&template, "TransitFunction");
    assert_eq!(
        actions,
        [
            vec![
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:PutItem",
                "dynamodb:DeleteItem"
            ],
            vec![
                "dynamodb:GetItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem"
            ],
        ],
        "transactions need the actions of their parts; no Query, no Scan, no index"
    );
}
