//! Every transit route as the app calls it, on both surfaces (`POST /transit/<function>` and the
//! function protocol, `transit:<function>` through `/api/query` or `/api/mutation`) and both stores.

use super::*;
use devserver::Store;
use service_tests::{embedded, spawn_app_at, Answer, TestApp, ADMIN_KEY};
use shared::clock::ManualClock;
use shared::convex::{Kind, FUNCTIONS};
use std::sync::Arc;

/// 2026-01-01T00:00:00.000Z.
const T0: u64 = 1_767_225_600_000;
/// The little-endian bytes of NaN and +Infinity, base64 (the protocol's `$float`).
const NAN: &str = "AAAAAAAA+H8=";
const INFINITY: &str = "AAAAAAAA8H8=";

/// Which way a function is called.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Surface {
    /// `POST /transit/<function>`.
    Http,
    /// `POST /api/query` or `/api/mutation` with `transit:<function>`.
    Protocol,
}

/// A dev server on a store, with a clock at [`T0`], called through one surface.
struct App {
    app: TestApp,
    clock: Arc<ManualClock>,
    surface: Surface,
}

/// What a call answered: the value, or (status, error message).
type Outcome = Result<Value, (u16, String)>;

impl App {
    async fn new(store: Store, surface: Surface) -> Self {
        let clock = ManualClock::at(T0);
        let app = spawn_app_at(store, clock.clone()).await;
        Self {
            app,
            clock,
            surface,
        }
    }

    async fn send(&self, function: &str, body: Vec<u8>) -> Answer {
        let bearer = format!("Bearer {ADMIN_KEY}");
        match self.surface {
            Surface::Http => {
                self.app
                    .send("POST", &format!("/transit/{function}"), Some(&bearer), body)
                    .await
            }
            Surface::Protocol => {
                let name = format!("transit:{function}");
                let kind = FUNCTIONS.iter().find(|f| f.name == name).unwrap().kind;
                let mut envelope =
                    format!(r#"{{"path":"{name}","format":"convex_encoded_json","args":["#)
                        .into_bytes();
                envelope.extend_from_slice(&body);
                envelope.extend_from_slice(b"]}");
                self.app
                    .send("POST", kind.endpoint(), Some(&bearer), envelope)
                    .await
            }
        }
    }

    async fn call(&self, function: &str, args: Value) -> Outcome {
        self.outcome(self.send(function, args.to_string().into_bytes()).await)
    }

    fn outcome(&self, answer: Answer) -> Outcome {
        match (self.surface, answer.status) {
            (Surface::Http, 200) => Ok(answer.body),
            (Surface::Protocol, 200) => {
                assert_eq!(answer.body["status"], "success", "{answer:?}");
                Ok(answer.body["value"].clone())
            }
            (Surface::Protocol, 560) => Err((
                560,
                answer.body["errorMessage"].as_str().unwrap().to_owned(),
            )),
            (_, status) => Err((
                status,
                answer.body["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )),
        }
    }

    async fn ok(&self, function: &str, args: Value) -> Value {
        self.call(function, args.clone()).await.unwrap_or_else(|e| {
            panic!(
                "{:?} transit:{function}({}) answered {e:?}",
                self.surface,
                short(&args)
            )
        })
    }

    /// Expects the argument error of the surface (`400`, or the protocol's `560`); its message.
    async fn invalid(&self, function: &str, args: Value) -> String {
        match self.call(function, args.clone()).await {
            Err((400, message)) if self.surface == Surface::Http => message,
            Err((560, message)) if self.surface == Surface::Protocol => message,
            other => panic!(
                "{:?} transit:{function}({}): expected an argument error, got {other:?}",
                self.surface,
                short(&args)
            ),
        }
    }

    /// Expects a `413`; its message.
    async fn too_large(&self, function: &str, args: Value) -> String {
        match self.call(function, args.clone()).await {
            Err((413, message)) => message,
            Err((560, message)) if self.surface == Surface::Protocol => message,
            other => panic!(
                "{:?} transit:{function}: expected a 413, got {other:?}",
                self.surface
            ),
        }
    }
}

/// `args` for a message: its first 300 characters.
fn short(args: &Value) -> String {
    args.to_string().chars().take(300).collect()
}

fn ids_of(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect()
}

async fn transcripts_answer_as_the_contract_says(store: Store, surface: Surface) {
    let app = App::new(store, surface).await;
    assert_eq!(
        app.ok("listTranscripts", json!({ "userId": "u" })).await,
        json!([])
    );

    let first = wire("u", "t1", "2026-01-01T10:00:00.000Z");
    assert_eq!(
        app.ok("saveTranscript", json!({ "record": first })).await,
        json!({ "record": returned(&first) }),
        "the mapped record: id, nulls, no confidence, no userId"
    );
    let mut full = wire("u", "t2", "2026-01-01T09:00:00.000Z");
    full["summary"] = json!({ "summary": "", "actionItems": [],
        "scheduleRecommendation": { "title": "Retro", "startWindow": "next week", "durationMinutes": 30.5, "participants": [] } });
    full["cleanup"] = json!({ "instruction": "tidy", "output": "Tidied.", "label": "" });
    full["language"] = json!("");
    full["confidence"] = json!(0.85);
    full["segments"] = json!([]);
    full["title"] = json!("");
    full["source"] = json!("other");
    full["durationMs"] = json!(-12.25);
    assert_eq!(
        app.ok("saveTranscript", json!({ "record": full })).await,
        json!({ "record": returned(&full) }),
        "empty strings and arrays, an open source, negative and fractional numbers are kept"
    );
    let tie = wire("u", "t3", "2026-01-01T10:00:00.000Z");
    app.ok("saveTranscript", json!({ "record": tie })).await;
    let listed = app.ok("listTranscripts", json!({ "userId": "u" })).await;
    assert_eq!(
        listed,
        json!([returned(&tie), returned(&first), returned(&full)]),
        "a bare array"
    );
    assert!(listed[0].get("userId").is_none() && listed[0].get("confidence").is_none());
    assert_eq!(listed[0]["summary"], Value::Null);

    for (limit, expected) in [
        (json!(2.9), vec!["t3", "t1"]),
        (json!(0), vec![]),
        (json!(-1), vec![]),
        (json!(0.5), vec![]),
        (json!(1e9), vec!["t3", "t1", "t2"]),
    ] {
        let list = app
            .ok("listTranscripts", json!({ "userId": "u", "limit": limit }))
            .await;
        assert_eq!(ids_of(&list), expected, "limit {limit}");
    }
    assert_eq!(
        app.ok("listTranscripts", json!({ "userId": "nobody" }))
            .await,
        json!([])
    );
    if surface == Surface::Protocol {
        let nan = app
            .ok(
                "listTranscripts",
                json!({ "userId": "u", "limit": { "$float": NAN } }),
            )
            .await;
        assert_eq!(nan, json!([]), "NaN → []");
        let all = app
            .ok(
                "listTranscripts",
                json!({ "userId": "u", "limit": { "$float": INFINITY } }),
            )
            .await;
        assert_eq!(ids_of(&all), ["t3", "t1", "t2"], "Infinity → all");
        let mut nan_record = first.clone();
        nan_record["durationMs"] = json!({ "$float": NAN });
        let message = app
            .invalid("saveTranscript", json!({ "record": nan_record }))
            .await;
        assert!(
            message.starts_with("record.durationMs: must be a number"),
            "{message}"
        );
    }

    // Saving again without the optionals removes them; a new createdAt re-sorts.
    let mut bare = wire("u", "t2", "2026-01-01T11:00:00.000Z");
    bare["title"] = json!("Renamed");
    assert_eq!(
        app.ok("saveTranscript", json!({ "record": bare })).await,
        json!({ "record": returned(&bare) })
    );
    let listed = app.ok("listTranscripts", json!({ "userId": "u" })).await;
    assert_eq!(ids_of(&listed), ["t2", "t3", "t1"]);
    assert_eq!(listed[0]["summary"], Value::Null);
    assert_eq!(listed[0]["cleanup"], Value::Null);
    assert_eq!(listed[0]["language"], Value::Null);
    assert!(listed[0].get("confidence").is_none());

    assert_eq!(
        app.ok(
            "removeTranscript",
            json!({ "userId": "u", "transcriptId": "t3" })
        )
        .await,
        json!({ "removed": true })
    );
    assert_eq!(
        app.ok(
            "removeTranscript",
            json!({ "userId": "u", "transcriptId": "t3" })
        )
        .await,
        json!({ "removed": false })
    );
    app.ok(
        "saveTranscript",
        json!({ "record": wire("other", "x", "") }),
    )
    .await;
    assert_eq!(
        app.ok("clearTranscripts", json!({ "userId": "u" })).await,
        json!({ "cleared": 2 })
    );
    assert_eq!(
        app.ok("clearTranscripts", json!({ "userId": "u" })).await,
        json!({ "cleared": 0 })
    );
    assert_eq!(
        ids_of(
            &app.ok("listTranscripts", json!({ "userId": "other" }))
                .await
        ),
        ["x"]
    );
}

async fn the_cap_answers_null_for_a_record_older_than_the_200_kept(store: Store, surface: Surface) {
    let app = App::new(store, surface).await;
    for i in 0..200 {
        app.ok(
            "saveTranscript",
            json!({ "record": wire("u", &format!("t{i:03}"), &iso(100 + i)) }),
        )
        .await;
    }
    assert_eq!(
        app.ok(
            "saveTranscript",
            json!({ "record": wire("u", "ancient", &iso(0)) })
        )
        .await,
        json!({ "record": null })
    );
    let newest = wire("u", "newest", &iso(1000));
    assert_eq!(
        app.ok("saveTranscript", json!({ "record": newest })).await,
        json!({ "record": returned(&newest) })
    );
    let listed = app.ok("listTranscripts", json!({ "userId": "u" })).await;
    assert_eq!(listed.as_array().unwrap().len(), 200);
    assert_eq!(ids_of(&listed)[0], "newest");
    assert_eq!(
        ids_of(&listed)[199],
        "t001",
        "t000 was dropped, ancient never kept"
    );
}

async fn the_calendar_token_answers_as_the_contract_says(store: Store, surface: Surface) {
    let app = App::new(store, surface).await;
    assert_eq!(
        app.ok("getCalendarToken", json!({ "userId": "u" })).await,
        Value::Null
    );
    let set = json!({ "userId": "u", "encryptedPayload": "c1", "expiresAt": 1_767_229_200_000.5_f64, "scope": [] });
    assert_eq!(
        app.ok("setCalendarToken", set).await,
        json!({ "updated": false })
    );
    assert_eq!(
        app.ok("getCalendarToken", json!({ "userId": "u" })).await,
        json!({ "encryptedPayload": "c1", "expiresAt": 1_767_229_200_000.5_f64, "scope": [], "updatedAt": T0 }),
        "exactly these four fields, updatedAt set by the service in ms"
    );
    app.clock.advance(5_000);
    let again = json!({ "userId": "u", "encryptedPayload": "c2", "expiresAt": 1, "scope": ["a", "b", "a"] });
    assert_eq!(
        app.ok("setCalendarToken", again).await,
        json!({ "updated": true })
    );
    assert_eq!(
        app.ok("getCalendarToken", json!({ "userId": "u" })).await,
        json!({ "encryptedPayload": "c2", "expiresAt": 1, "scope": ["a", "b", "a"], "updatedAt": T0 + 5_000 })
    );
    assert_eq!(
        app.ok("clearCalendarToken", json!({ "userId": "u" })).await,
        json!({ "cleared": true })
    );
    assert_eq!(
        app.ok("clearCalendarToken", json!({ "userId": "u" })).await,
        json!({ "cleared": false })
    );
    assert_eq!(
        app.ok("getCalendarToken", json!({ "userId": "u" })).await,
        Value::Null
    );
}

/// The same secret in every place a request can carry it: a stored token, and bad requests.
const SECRET: &str = "AES-GCM-ciphertext-7f3a9c-DO-NOT-LOG";

async fn the_encrypted_payload_is_in_no_log_line_and_no_error(store: Store, surface: Surface) {
    let app = App::new(store, surface).await;
    let good = json!({ "userId": "u", "encryptedPayload": SECRET, "expiresAt": 1, "scope": ["s"] });
    app.ok("setCalendarToken", good.clone()).await;
    app.ok("setCalendarToken", good.clone()).await;
    assert_eq!(
        app.ok("getCalendarToken", json!({ "userId": "u" })).await["encryptedPayload"],
        SECRET
    );
    let with = |field: &str, value: Value| {
        let mut args = good.clone();
        args[field] = value;
        args
    };
    let mut errors = Vec::new();
    for (args, expected) in [
        (
            with("expiresAt", json!("soon")),
            "expiresAt: expected a number, got a string",
        ),
        (
            with("expiresAt", json!(SECRET)),
            "expiresAt: expected a number, got a string",
        ),
        (
            with("scope", json!(SECRET)),
            "scope: expected a sequence, got a string",
        ),
        (
            with("scope", json!([SECRET, 1])),
            "scope[1]: expected a string, got a number",
        ),
        (
            with("encryptedPayload", json!(7)),
            "encryptedPayload: expected a string, got a number",
        ),
        (
            with("encryptedPayload", Value::Null),
            "encryptedPayload: expected a string, got null",
        ),
        (with("userId", json!("")), "userId: must not be empty"),
    ] {
        let message = app.invalid("setCalendarToken", args).await;
        assert_eq!(message, expected);
        errors.push(message);
    }
    let unknown = app
        .invalid("setCalendarToken", with("extra", json!(SECRET)))
        .await;
    assert!(
        unknown.starts_with("extra: unknown field `extra`"),
        "{unknown}"
    );
    errors.push(unknown);
    let missing = app
        .invalid(
            "setCalendarToken",
            json!({ "userId": "u", "encryptedPayload": SECRET, "scope": [] }),
        )
        .await;
    assert_eq!(missing, "missing field `expiresAt`");
    errors.push(missing);
    let huge = with(
        "encryptedPayload",
        json!(format!("{SECRET}{}", "x".repeat(410 * 1024))),
    );
    errors.push(app.too_large("setCalendarToken", huge).await);
    if surface == Surface::Http {
        let broken = format!(r#"{{"userId":"u","encryptedPayload":"{SECRET}","#);
        let answer = app.send("setCalendarToken", broken.into_bytes()).await;
        assert_eq!(answer.status, 400);
        errors.push(answer.body.to_string());
    }
    for error in &errors {
        assert!(
            !error.contains(SECRET) && !error.contains("DO-NOT-LOG"),
            "{error}"
        );
    }
    let lines = app.app.log_lines();
    assert!(lines.len() >= errors.len() + 3);
    for line in &lines {
        assert!(!line.to_string().contains("DO-NOT-LOG"), "{line}");
    }
    assert!(lines
        .iter()
        .any(|l| l["event"] == "convex_http_invalid_request"));
}

async fn arguments_are_validated_strictly(store: Store, surface: Surface) {
    let app = App::new(store, surface).await;
    let record = wire("u", "t", "2026");
    let with = |path: &[&str], value: Value| {
        let mut args = json!({ "record": record.clone() });
        let mut at = &mut args["record"];
        for p in &path[..path.len() - 1] {
            at = &mut at[*p];
        }
        at[path[path.len() - 1]] = value;
        args
    };
    let summary = json!({ "summary": "s", "actionItems": [] });
    let cases = [
        (
            with(
                &["segments"],
                json!([{ "index": 0, "startMs": 0, "endMs": 1, "text": "x", "confidence": 0.9 }]),
            ),
            "record.segments[0].confidence: unknown field",
        ),
        (
            with(&["summary"], Value::Null),
            "record.summary: expected an object, got null",
        ),
        (
            with(
                &["summary"],
                json!({ "summary": "s", "actionItems": [], "scheduleRecommendation": null }),
            ),
            "record.summary.scheduleRecommendation: expected an object, got null",
        ),
        (
            with(&["summary"], json!({ "summary": "s" })),
            "record.summary: missing field `actionItems`",
        ),
        (
            with(
                &["cleanup"],
                json!({ "instruction": "i", "output": "o", "label": null }),
            ),
            "record.cleanup.label: expected a string, got null",
        ),
        (
            with(&["language"], Value::Null),
            "record.language: expected a string, got null",
        ),
        (
            with(&["confidence"], Value::Null),
            "record.confidence: expected a number, got null",
        ),
        (
            with(&["confidence"], json!("0.9")),
            "record.confidence: expected a number, got a string",
        ),
        (
            with(&["durationMs"], json!(1e39)),
            "record.durationMs: must be a number",
        ),
        (
            with(&["transcriptId"], json!("")),
            "record.transcriptId: must not be empty",
        ),
        (
            with(&["userId"], json!("u".repeat(1025))),
            "record.userId: must be at most 1024 bytes",
        ),
        (with(&["extra"], json!(1)), "record.extra: unknown field"),
        (
            json!({ "record": record.clone(), "extra": 1 }),
            "extra: unknown field",
        ),
        (json!({}), "missing field `record`"),
    ];
    for (args, expected) in cases {
        let message = app.invalid("saveTranscript", args.clone()).await;
        assert!(message.starts_with(expected), "{args}: {message}");
    }
    let mut ok = with(&["summary"], summary);
    ok["record"]["transcriptId"] = json!("i".repeat(1024));
    app.ok("saveTranscript", ok).await;
    for (function, args, expected) in [
        (
            "listTranscripts",
            json!({ "userId": "u", "limit": null }),
            "limit: expected a number, got null",
        ),
        (
            "listTranscripts",
            json!({ "userId": "u", "offset": 1 }),
            "offset: unknown field",
        ),
        (
            "listTranscripts",
            json!({ "userId": "" }),
            "userId: must not be empty",
        ),
        (
            "removeTranscript",
            json!({ "userId": "u" }),
            "missing field `transcriptId`",
        ),
        (
            "removeTranscript",
            json!({ "userId": "u", "transcriptId": "x".repeat(1025) }),
            "transcriptId: must be at most 1024 bytes",
        ),
        (
            "clearTranscripts",
            json!({ "userId": "u", "all": true }),
            "all: unknown field",
        ),
        ("getCalendarToken", json!({}), "missing field `userId`"),
        (
            "clearCalendarToken",
            json!({ "userId": 1 }),
            "userId: expected a string, got a number",
        ),
        (
            "setCalendarToken",
            json!({ "userId": "u", "encryptedPayload": "p", "expiresAt": 1, "scope": null }),
            "scope: expected a sequence, got null",
        ),
    ] {
        let message = app.invalid(function, args.clone()).await;
        assert!(
            message.starts_with(expected),
            "{function} {args}: {message}"
        );
    }
    assert_eq!(
        ids_of(&app.ok("listTranscripts", json!({ "userId": "u" })).await),
        ["i".repeat(1024)],
        "only the valid save was written"
    );
}

async fn a_transcript_up_to_1_mib_is_stored_and_one_over_it_is_413(store: Store, surface: Surface) {
    let app = App::new(store, surface).await;
    // A transcript whose JSON, as returned, is exactly 1 MiB: its request body is over 1 MiB.
    let mut record = wire("u", "max", "2026");
    let base = serde_json::to_vec(&returned(&record)).unwrap().len()
        - record["transcript"].as_str().unwrap().len();
    record["transcript"] = json!(text(1024 * 1024 - base));
    let saved = app.ok("saveTranscript", json!({ "record": record })).await;
    assert_eq!(
        serde_json::to_vec(&saved["record"]).unwrap().len(),
        1024 * 1024
    );
    let listed = app.ok("listTranscripts", json!({ "userId": "u" })).await;
    assert_eq!(listed, json!([returned(&record)]), "read back exactly");

    let mut over = wire("u", "over", "2026");
    over["transcript"] = json!(text(1024 * 1024 - base + 1));
    let message = app
        .too_large("saveTranscript", json!({ "record": over }))
        .await;
    assert!(
        message.contains("over the 1048576 byte (1 MiB) limit"),
        "{message}"
    );
    let mut far_over = wire("u", "far", "2026");
    far_over["transcript"] = json!(text(3 * 1024 * 1024));
    app.too_large("saveTranscript", json!({ "record": far_over }))
        .await;
    assert_eq!(
        ids_of(&app.ok("listTranscripts", json!({ "userId": "u" })).await),
        ["max"],
        "nothing else written"
    );
    // Other routes keep the 1 MiB body limit.
    let padded = format!(r#"{{"userId":"u"{}}}"#, " ".repeat(1024 * 1024));
    let answer = app.send("listTranscripts", padded.into_bytes()).await;
    assert_eq!(answer.status, 413, "{answer:?}");
}

async fn a_900_kb_transcript_round_trips_on_the_surface(store: Store, surface: Surface) {
    let app = App::new(store, surface).await;
    let mut record = wire("u", "long", "2026-01-01T00:00:00.000Z");
    record["transcript"] = json!(text(780 * 1024));
    record["segments"] = json!((0..1500u32).map(|i| json!({ "index": i, "startMs": i * 800, "endMs": f64::from(i * 800) + 799.25, "text": format!("“Quoted” \"{i}\"\n") })).collect::<Vec<_>>());
    let saved = app.ok("saveTranscript", json!({ "record": record })).await;
    let size = serde_json::to_vec(&saved["record"]).unwrap().len();
    assert!((880 * 1024..1000 * 1024).contains(&size), "{size}");
    assert_eq!(saved, json!({ "record": returned(&record) }));
    assert_eq!(
        app.ok("listTranscripts", json!({ "userId": "u" })).await,
        json!([returned(&record)])
    );
}

macro_rules! on_both_surfaces_and_stores {
    ($($case:ident),+ $(,)?) => {
        mod embedded_store {
            use super::*;
            $(
                mod $case {
                    use super::*;
                    #[tokio::test]
                    async fn over_http() {
                        super::super::$case(embedded(), Surface::Http).await
                    }
                    #[tokio::test]
                    async fn over_the_protocol() {
                        super::super::$case(embedded(), Surface::Protocol).await
                    }
                }
            )+
        }
        #[cfg(feature = "dynamodb-local")]
        mod dynamodb_store {
            use super::*;
            $(
                mod $case {
                    use super::*;
                    #[tokio::test]
                    async fn over_http() {
                        let tables = DynamoTables::create().await;
                        super::super::$case(tables.store(), Surface::Http).await
                    }
                    #[tokio::test]
                    async fn over_the_protocol() {
                        let tables = DynamoTables::create().await;
                        super::super::$case(tables.store(), Surface::Protocol).await
                    }
                }
            )+
        }
    };
}

on_both_surfaces_and_stores!(
    transcripts_answer_as_the_contract_says,
    the_cap_answers_null_for_a_record_older_than_the_200_kept,
    the_calendar_token_answers_as_the_contract_says,
    the_encrypted_payload_is_in_no_log_line_and_no_error,
    arguments_are_validated_strictly,
    a_transcript_up_to_1_mib_is_stored_and_one_over_it_is_413,
    a_900_kb_transcript_round_trips_on_the_surface,
);

#[tokio::test]
async fn a_query_sent_as_a_mutation_is_a_function_error() {
    let app = App::new(embedded(), Surface::Protocol).await;
    for (name, wrong) in [
        ("transit:listTranscripts", Kind::Mutation),
        ("transit:getCalendarToken", Kind::Mutation),
        ("transit:saveTranscript", Kind::Query),
    ] {
        let body =
            json!({ "path": name, "format": "convex_encoded_json", "args": [{ "userId": "u" }] });
        let answer = app
            .app
            .send(
                "POST",
                wrong.endpoint(),
                Some(&format!("Bearer {ADMIN_KEY}")),
                body.to_string().into_bytes(),
            )
            .await;
        assert_eq!(answer.status, 560, "{answer:?}");
        assert!(answer.body["errorMessage"]
            .as_str()
            .unwrap()
            .starts_with(&format!("Trying to execute {name} as")));
    }
}
