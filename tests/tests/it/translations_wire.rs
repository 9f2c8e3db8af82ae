//! The translations routes as the app reaches them (CONTRACT.md §7.10): each case through the dev
//! server, on both stores, over both surfaces: the HTTP route (`POST /translations/<route>`) and
//! the function protocol (`POST /api/query` or `/api/mutation` with `translations:<function>`).

use devserver::Store;
use serde_json::{json, Value};
use service_tests::{spawn_app_at, Answer, TestApp, ADMIN_KEY};
use shared::clock::ManualClock;
use shared::convex::Kind;
use std::sync::Arc;

/// 2026-01-01T00:00:00.000Z.
const T0: u64 = 1_767_225_600_000;
/// The little-endian bytes of NaN, +Infinity and -Infinity, base64 (the client's `$float`).
const NAN: &str = "AAAAAAAA+H8=";
const INFINITY: &str = "AAAAAAAA8H8=";
const NEG_INFINITY: &str = "AAAAAAAA8P8=";

/// How a test reaches the functions.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Surface {
    /// `POST /translations/<route>`.
    Http,
    /// `POST /api/query` or `/api/mutation`.
    Protocol,
}

/// A dev server on a store, with a clock at [`T0`], reached through one surface.
struct Wire {
    app: TestApp,
    clock: Arc<ManualClock>,
    surface: Surface,
}

/// The function name and HTTP route of `function` (`list`, `create`, ...).
fn names(function: &str) -> (&'static shared::convex::Function, String) {
    let name = format!("translations:{function}");
    let found = shared::convex::function(&name).unwrap_or_else(|| panic!("{name} is not served"));
    (found, name)
}

impl Wire {
    async fn new(store: Store, surface: Surface) -> Self {
        let clock = ManualClock::at(T0);
        let app = spawn_app_at(store, clock.clone()).await;
        Self {
            app,
            clock,
            surface,
        }
    }

    /// `now` as the service writes it.
    fn iso(&self, offset_ms: u64) -> String {
        shared::clock::iso8601((T0 + offset_ms) as f64)
    }

    async fn send(&self, function: &str, args: Value) -> Answer {
        let (found, name) = names(function);
        match self.surface {
            Surface::Http => self.app.call(found.path, args).await,
            Surface::Protocol => {
                let body = json!({ "path": name, "format": "convex_encoded_json", "args": [args] });
                self.app
                    .send(
                        "POST",
                        found.kind.endpoint(),
                        Some(&format!("Convex {ADMIN_KEY}")),
                        body.to_string().into_bytes(),
                    )
                    .await
            }
        }
    }

    /// Calls `function` and expects a success: its return value.
    async fn ok(&self, function: &str, args: Value) -> Value {
        let answer = self.send(function, args.clone()).await;
        assert_eq!(answer.status, 200, "{function}({args}) answered {answer:?}");
        match self.surface {
            Surface::Http => answer.body,
            Surface::Protocol => {
                assert_eq!(answer.body["status"], "success", "{answer:?}");
                answer.body["value"].clone()
            }
        }
    }

    /// Calls `function` and expects a refusal: `status` over HTTP, a function error (`560`) over
    /// the protocol; the message.
    async fn refused(&self, function: &str, args: Value, status: u16) -> String {
        let answer = self.send(function, args.clone()).await;
        let message = match self.surface {
            Surface::Http => {
                assert_eq!(answer.status, status, "{function}({args}): {answer:?}");
                answer.body["error"]["message"].clone()
            }
            Surface::Protocol => {
                assert_eq!(answer.status, 560, "{function}({args}): {answer:?}");
                answer.body["errorMessage"].clone()
            }
        };
        message.as_str().unwrap().to_owned()
    }
}

fn payload(id: Option<&str>, text: &str) -> Value {
    let mut payload = json!({
        "sourceText": format!("source of {text}"),
        "sourceLanguageCode": "unknown",
        "targetLanguageCode": "fr",
        "translatedText": text,
        "keepOriginalApplied": true,
        "provider": "openai",
    });
    if let Some(id) = id {
        payload["translationId"] = json!(id);
    }
    payload
}

fn doc(extra: Value) -> Value {
    let mut args = json!({ "accountId": "user_1", "documentId": "doc_1" });
    for (k, v) in extra.as_object().unwrap() {
        args[k] = v.clone();
    }
    args
}

/// The `(id, sequenceIndex)` of each listed item.
fn listed(list: &Value) -> Vec<(String, u64)> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_owned(),
                t["sequenceIndex"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn pairs(expected: &[(&str, u64)]) -> Vec<(String, u64)> {
    expected
        .iter()
        .map(|(id, i)| (id.to_string(), *i))
        .collect()
}

async fn create(w: &Wire, id: &str) -> Value {
    w.ok("create", doc(json!({ "payload": payload(Some(id), id) })))
        .await["translation"]
        .clone()
}

/// Every route's exact answers, in the order the app uses them.
async fn the_routes_answer_as_the_contract_says(w: Wire) {
    assert_eq!(
        w.ok("list", doc(json!({}))).await,
        json!({ "items": [] }),
        "no nextCursor key"
    );

    let mut first = payload(Some("t-1"), "bonjour");
    first["metadata"] = json!({});
    let created = w.ok("create", doc(json!({ "payload": first }))).await;
    let t1 = json!({
        "id": "t-1", "accountId": "user_1", "documentId": "doc_1", "sequenceIndex": 1,
        "createdAt": w.iso(0), "updatedAt": w.iso(0),
        "sourceText": "source of bonjour", "sourceLanguageCode": "unknown", "targetLanguageCode": "fr",
        "translatedText": "bonjour", "keepOriginalApplied": true, "provider": "openai", "metadata": {},
    });
    assert_eq!(
        created,
        json!({ "translation": t1, "historySize": 1 }),
        "metadata {{}} round-trips"
    );

    w.clock.advance(1000);
    let second = w
        .ok("create", doc(json!({ "payload": payload(None, "salut") })))
        .await;
    let id = second["translation"]["id"].as_str().unwrap().to_owned();
    let uuid = uuid::Uuid::parse_str(&id).unwrap();
    assert_eq!(uuid.get_version_num(), 4);
    assert_eq!(id, uuid.hyphenated().to_string());
    assert_eq!(second["historySize"], 2);
    let t2 = second["translation"].clone();
    assert!(
        t2.get("adoptedAt").is_none() && t2.get("metadata").is_none(),
        "{t2}"
    );
    assert_eq!(t2["createdAt"], w.iso(1000));
    assert_eq!(t2["updatedAt"], w.iso(1000));

    w.clock.advance(1000);
    let mut third = payload(Some("t-3"), "coucou");
    third["metadata"] = json!({ "model": "gpt", "tokensUsed": 0.85 });
    let t3 = w.ok("create", doc(json!({ "payload": third }))).await["translation"].clone();
    assert_eq!(
        t3["metadata"],
        json!({ "model": "gpt", "tokensUsed": 0.85 })
    );

    assert_eq!(
        w.ok("list", doc(json!({}))).await,
        json!({ "items": [t3, t2, t1] }),
        "newest first, whole"
    );
    let page = w.ok("list", doc(json!({ "limit": 2 }))).await;
    assert_eq!(page, json!({ "items": [t3, t2], "nextCursor": "2" }));
    assert_eq!(
        w.ok("list", doc(json!({ "limit": 2, "cursor": "2" })))
            .await,
        json!({ "items": [t1] }),
        "the last page has no nextCursor"
    );
    assert_eq!(
        w.ok("list", doc(json!({ "limit": 3 }))).await,
        json!({ "items": [t3, t2, t1] })
    );
    for (cursor, expected) in [
        ("abc", vec![("t-3", 3), (id.as_str(), 2), ("t-1", 1)]),
        ("", vec![("t-3", 3), (id.as_str(), 2), ("t-1", 1)]),
        (" 3x", vec![(id.as_str(), 2), ("t-1", 1)]),
        ("3.9", vec![(id.as_str(), 2), ("t-1", 1)]),
        ("1e3", vec![]),
        ("0", vec![]),
        ("-1", vec![]),
        (
            "99999999999999999999",
            vec![("t-3", 3), (id.as_str(), 2), ("t-1", 1)],
        ),
    ] {
        let page = w.ok("list", doc(json!({ "cursor": cursor }))).await;
        assert_eq!(listed(&page), pairs(&expected), "cursor {cursor:?}");
        assert!(page.get("nextCursor").is_none(), "cursor {cursor:?}");
    }
    for (limit, count) in [
        (json!(0), 1),
        (json!(-1), 1),
        (json!(2.9), 2),
        (json!(250), 3),
    ] {
        let page = w.ok("list", doc(json!({ "limit": limit }))).await;
        assert_eq!(listed(&page).len(), count, "limit {limit}");
    }
    let other = w
        .ok(
            "list",
            json!({ "accountId": "user_2", "documentId": "doc_1" }),
        )
        .await;
    assert_eq!(other, json!({ "items": [] }), "another account's document");

    assert_eq!(
        w.ok("promote", doc(json!({ "translationId": "nope" })))
            .await,
        json!({ "translation": null, "reordered": false })
    );
    w.clock.advance(1000);
    let mut promoted = t1.clone();
    promoted["sequenceIndex"] = json!(4);
    promoted["updatedAt"] = json!(w.iso(3000));
    assert_eq!(
        w.ok("promote", doc(json!({ "translationId": "t-1" })))
            .await,
        json!({ "translation": promoted, "reordered": true })
    );
    assert_eq!(
        listed(&w.ok("list", doc(json!({ "limit": 1 }))).await),
        pairs(&[("t-1", 4)])
    );

    assert_eq!(
        w.ok(
            "markAdopted",
            doc(json!({ "translationId": "nope", "collapseHistory": true }))
        )
        .await,
        json!({ "translation": null, "collapsed": false })
    );
    w.clock.advance(1000);
    let mut adopted = t3.clone();
    adopted["keepOriginalApplied"] = json!(false);
    adopted["adoptedAt"] = json!(w.iso(4000));
    adopted["updatedAt"] = json!(w.iso(4000));
    assert_eq!(
        w.ok("markAdopted", doc(json!({ "translationId": "t-3" })))
            .await,
        json!({ "translation": adopted, "collapsed": false })
    );
    assert_eq!(
        w.ok(
            "markAdopted",
            doc(json!({ "translationId": "t-3", "collapseHistory": false }))
        )
        .await["collapsed"],
        false
    );
    w.clock.advance(1000);
    adopted["adoptedAt"] = json!(w.iso(5000));
    adopted["updatedAt"] = json!(w.iso(5000));
    adopted["sequenceIndex"] = json!(1);
    assert_eq!(
        w.ok(
            "markAdopted",
            doc(json!({ "translationId": "t-3", "collapseHistory": true }))
        )
        .await,
        json!({ "translation": adopted, "collapsed": true }),
        "the adopted one survives, renumbered to 1"
    );
    assert_eq!(
        w.ok("list", doc(json!({}))).await,
        json!({ "items": [adopted] })
    );

    create(&w, "t-4").await;
    create(&w, "t-5").await;
    w.clock.advance(1000);
    assert_eq!(
        w.ok("clear", doc(json!({ "keepLatest": true }))).await,
        json!({ "deletedCount": 2 })
    );
    let kept = w.ok("list", doc(json!({}))).await;
    assert_eq!(listed(&kept), pairs(&[("t-5", 1)]));
    assert_eq!(kept["items"][0]["updatedAt"], w.iso(6000));
    assert_eq!(
        w.ok("create", doc(json!({ "payload": payload(None, "x") })))
            .await["historySize"],
        2,
        "after clear with keepLatest the next create gets 2"
    );
    assert_eq!(
        w.ok("clear", doc(json!({ "keepLatest": false }))).await,
        json!({ "deletedCount": 2 })
    );
    assert_eq!(
        w.ok("clear", doc(json!({}))).await,
        json!({ "deletedCount": 0 })
    );
    assert_eq!(w.ok("list", doc(json!({}))).await, json!({ "items": [] }));
    assert_eq!(
        w.ok(
            "create",
            doc(json!({ "payload": payload(Some("t-1"), "again") }))
        )
        .await["historySize"],
        1,
        "after clear the next create gets 1"
    );
    let lines = w.app.log_lines();
    assert!(lines.len() > 20, "every call logged a line");
    for line in lines {
        let text = line.to_string();
        assert!(
            !text.contains("bonjour") && !text.contains("coucou") && !text.contains("source of"),
            "translation texts are personal content, never logged: {text}"
        );
    }
}

/// Page size and cursors as the app sends them.
async fn pages_of_twenty_one(w: Wire) {
    for i in 1..=21 {
        create(&w, &format!("t-{i:02}")).await;
    }
    let first = w.ok("list", doc(json!({}))).await;
    assert_eq!(
        first["items"].as_array().unwrap().len(),
        20,
        "20 without a limit"
    );
    assert_eq!(first["nextCursor"], "2", "the 20th item's index");
    let rest = w
        .ok("list", doc(json!({ "cursor": first["nextCursor"] })))
        .await;
    assert_eq!(listed(&rest), pairs(&[("t-01", 1)]));
    assert!(rest.get("nextCursor").is_none());
    let exact = w.ok("list", doc(json!({ "limit": 21 }))).await;
    assert_eq!(exact["items"].as_array().unwrap().len(), 21);
    assert!(
        exact.get("nextCursor").is_none(),
        "exactly limit items and nothing after"
    );
    let one = w
        .ok("list", doc(json!({ "limit": 1, "cursor": "21" })))
        .await;
    assert_eq!(one["nextCursor"], "20");
    assert_eq!(listed(&one), pairs(&[("t-20", 20)]));
}

/// An existing id is replaced by the new translation, with the next index.
async fn a_create_with_an_existing_id_replaces_it(w: Wire) {
    create(&w, "a").await;
    create(&w, "b").await;
    let replaced = w
        .ok(
            "create",
            doc(json!({ "payload": payload(Some("a"), "new text") })),
        )
        .await;
    assert_eq!(replaced["historySize"], 3);
    let list = w.ok("list", doc(json!({}))).await;
    assert_eq!(listed(&list), pairs(&[("a", 3), ("b", 2)]));
    assert_eq!(list["items"][0]["translatedText"], "new text");
}

/// Arguments are validated strictly: the status of §3 over HTTP, a function error over the
/// protocol, with a message naming the field, and nothing written.
async fn arguments_are_validated_strictly(w: Wire) {
    let long = "x".repeat(1025);
    let with = |field: &str, value: Value| {
        let mut p = payload(Some("t"), "x");
        p[field] = value;
        doc(json!({ "payload": p }))
    };
    let cases = [
        ("list", doc(json!({ "extra": 1 })), "extra: unknown field"),
        (
            "list",
            doc(json!({ "limit": null })),
            "limit: expected a number, got null",
        ),
        (
            "list",
            doc(json!({ "cursor": null })),
            "cursor: expected a string, got null",
        ),
        (
            "list",
            doc(json!({ "cursor": 3 })),
            "cursor: expected a string, got a number",
        ),
        (
            "list",
            json!({ "accountId": "", "documentId": "d" }),
            "accountId: must not be empty",
        ),
        (
            "list",
            json!({ "accountId": "a", "documentId": long }),
            "documentId: must be at most 1024 bytes",
        ),
        (
            "list",
            json!({ "accountId": "a" }),
            "missing field `documentId`",
        ),
        (
            "create",
            with("metadata", json!({ "x": 1 })),
            "payload.metadata.x: unknown field",
        ),
        (
            "create",
            with("metadata", Value::Null),
            "payload.metadata: expected an object, got null",
        ),
        (
            "create",
            with("metadata", json!({ "model": null })),
            "payload.metadata.model: expected a string, got null",
        ),
        (
            "create",
            with("translationId", Value::Null),
            "payload.translationId: expected a string, got null",
        ),
        (
            "create",
            with("translationId", json!("")),
            "payload.translationId: must not be empty",
        ),
        (
            "create",
            with("translationId", json!(long)),
            "payload.translationId: must be at most 1024 bytes",
        ),
        (
            "create",
            with("keepOriginalApplied", json!("yes")),
            "payload.keepOriginalApplied: expected a boolean, got a string",
        ),
        (
            "create",
            with("extra", json!(1)),
            "payload.extra: unknown field",
        ),
        (
            "create",
            doc(json!({ "payload": payload(None, "x"), "extra": 1 })),
            "extra: unknown field",
        ),
        ("create", doc(json!({})), "missing field `payload`"),
        (
            "promote",
            doc(json!({ "translationId": "" })),
            "translationId: must not be empty",
        ),
        (
            "promote",
            doc(json!({ "translationId": "t", "extra": true })),
            "extra: unknown field",
        ),
        (
            "clear",
            doc(json!({ "keepLatest": null })),
            "keepLatest: expected a boolean, got null",
        ),
        ("clear", doc(json!({ "all": true })), "all: unknown field"),
        (
            "markAdopted",
            doc(json!({ "translationId": "t", "collapseHistory": null })),
            "collapseHistory: expected a boolean, got null",
        ),
        (
            "markAdopted",
            doc(json!({ "translationId": long })),
            "translationId: must be at most 1024 bytes",
        ),
        (
            "markAdopted",
            json!({ "accountId": "a", "documentId": "", "translationId": "t" }),
            "documentId: must not be empty",
        ),
    ];
    for (function, args, message) in cases {
        let got = w.refused(function, args.clone(), 400).await;
        assert!(got.starts_with(message), "{function}({args}): {got}");
    }
    let mut metadata = payload(Some("t"), "x");
    metadata["metadata"] = json!({ "tokensUsed": "12" });
    assert_eq!(
        w.refused("create", doc(json!({ "payload": metadata })), 400)
            .await,
        "payload.metadata.tokensUsed: expected a number, got a string"
    );
    assert_eq!(
        w.ok("list", doc(json!({}))).await,
        json!({ "items": [] }),
        "nothing was written"
    );
    let big = payload(Some("big"), &"x".repeat(410 * 1024));
    let message = w
        .refused("create", doc(json!({ "payload": big })), 413)
        .await;
    assert!(message.contains("item limit"), "{message}");
    assert_eq!(
        w.ok("list", doc(json!({}))).await,
        json!({ "items": [] }),
        "nothing was written"
    );
}

/// What only the function protocol can send: `$float` values, and the wrong endpoint.
async fn non_finite_numbers_over_the_protocol(w: Wire) {
    assert_eq!(w.surface, Surface::Protocol);
    for i in 1..=21 {
        create(&w, &format!("t-{i:02}")).await;
    }
    for encoded in [NAN, INFINITY, NEG_INFINITY] {
        let page = w
            .ok("list", doc(json!({ "limit": { "$float": encoded } })))
            .await;
        assert_eq!(
            page["items"].as_array().unwrap().len(),
            20,
            "limit {encoded} is the default"
        );
        assert_eq!(page["nextCursor"], "2");
    }
    let mut nan = payload(Some("n"), "x");
    nan["metadata"] = json!({ "tokensUsed": { "$float": NAN } });
    assert_eq!(
        w.refused("create", doc(json!({ "payload": nan })), 400).await,
        "payload.metadata.tokensUsed: must be a number between -1e38 and 1e38 (the range the database stores)"
    );
    let wrong = w
        .app
        .send(
            "POST",
            Kind::Mutation.endpoint(),
            Some(&format!("Convex {ADMIN_KEY}")),
            json!({ "path": "translations:list", "format": "convex_encoded_json", "args": [doc(json!({}))] })
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(wrong.status, 560);
    assert_eq!(
        wrong.body["errorMessage"],
        "Trying to execute translations:list as Mutation, but it is defined as Query."
    );
    let wrong = w
        .app
        .send(
            "POST",
            Kind::Query.endpoint(),
            Some(&format!("Convex {ADMIN_KEY}")),
            json!({ "path": "translations:clear", "format": "convex_encoded_json", "args": [doc(json!({}))] })
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(wrong.status, 560);
    assert_eq!(
        wrong.body["errorMessage"],
        "Trying to execute translations:clear as Query, but it is defined as Mutation."
    );
    assert_eq!(
        listed(&w.ok("list", doc(json!({ "limit": 1 }))).await),
        pairs(&[("t-21", 21)]),
        "the clear sent as a query did not run"
    );
}

/// Declares each case on both stores and on the surfaces listed for it.
macro_rules! wire_cases {
    ($($case:ident: $($surface:ident),+;)+) => {
        mod embedded_store {
            use super::*;
            $(
                mod $case {
                    use super::*;
                    $(
                        surface_test!($surface, super::super::$case, {
                            Wire::new(service_tests::embedded(), Surface::$surface).await
                        });
                    )+
                }
            )+
        }
        #[cfg(feature = "dynamodb-local")]
        mod dynamodb_store {
            use super::*;
            $(
                mod $case {
                    use super::*;
                    $(
                        surface_test!($surface, super::super::$case, {
                            let tables = service_tests::DynamoTables::create().await;
                            Wire::new(tables.store(), Surface::$surface).await
                        });
                    )+
                }
            )+
        }
    };
}

macro_rules! surface_test {
    (Http, $case:path, $wire:expr) => {
        #[tokio::test]
        async fn over_http() {
            $case($wire).await
        }
    };
    (Protocol, $case:path, $wire:expr) => {
        #[tokio::test]
        async fn over_the_function_protocol() {
            $case($wire).await
        }
    };
}

wire_cases! {
    the_routes_answer_as_the_contract_says: Http, Protocol;
    pages_of_twenty_one: Http, Protocol;
    a_create_with_an_existing_id_replaces_it: Http, Protocol;
    arguments_are_validated_strictly: Http, Protocol;
    non_finite_numbers_over_the_protocol: Protocol;
}
