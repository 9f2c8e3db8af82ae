//! The workspaceLayouts group (CONTRACT.md §7.4, the cases of §7.10): the store contract on both
//! stores; every case over both surfaces (the HTTP routes and `/api/query`, `/api/mutation`) on
//! both stores; the DynamoDB calls per route; exactly once under the SDK's retries.

use service_tests::{conformance, embedded_db, key, DynamoTables};
use shared::{Num, StoreError};
use workspace_layouts::{
    DynamoWorkspaceLayoutsStore, EmbeddedWorkspaceLayoutsStore, Layout, LayoutRecord,
    WorkspaceLayoutsStore,
};

fn embedded() -> EmbeddedWorkspaceLayoutsStore {
    EmbeddedWorkspaceLayoutsStore::new(embedded_db()).unwrap()
}

#[cfg_attr(not(feature = "dynamodb-local"), allow(dead_code))]
fn dynamo(tables: &DynamoTables) -> DynamoWorkspaceLayoutsStore {
    DynamoWorkspaceLayoutsStore::new(
        tables.client.clone(),
        tables.table(workspace_layouts::attr::TABLE.default),
    )
}

fn layout(value: serde_json::Value) -> Layout {
    serde_json::from_value(value).expect("a valid layout")
}

fn record(user: &str, value: serde_json::Value, now: f64) -> LayoutRecord {
    LayoutRecord::saved(key(user), layout(value), Num(now))
}

conformance!(embedded(), dynamo;
    get_is_none_until_a_save_and_then_the_record,
    save_replaces_the_whole_layout,
    clear_is_true_once_then_false_and_touches_no_other_user,
    parallel_first_saves_leave_one_record,
    concurrent_saves_and_clears_of_one_user_all_succeed,
    a_record_over_the_item_limit_is_refused_and_nothing_is_written,
    numbers_come_back_exactly,
);

async fn get_is_none_until_a_save_and_then_the_record(store: impl WorkspaceLayoutsStore) {
    assert_eq!(store.get(&key("u1")).await.unwrap(), None);
    let saved = record(
        "u1",
        serde_json::json!({ "version": 2, "tabs": [{ "id": "t1", "panels": ["a", "b", "a"] }], "activeTabId": "t1" }),
        1000.0,
    );
    store.save(&saved).await.unwrap();
    assert_eq!(store.get(&key("u1")).await.unwrap(), Some(saved));
    assert_eq!(store.get(&key("u2")).await.unwrap(), None);
}

async fn save_replaces_the_whole_layout(store: impl WorkspaceLayoutsStore) {
    let full = record(
        "u",
        serde_json::json!({ "version": 1, "tabs": [{ "id": "t", "panels": [] }],
            "columns": [{ "id": "c", "panels": ["x"] }], "activeTabId": "t" }),
        1.0,
    );
    store.save(&full).await.unwrap();
    for (sent, now) in [
        (serde_json::json!({ "version": 2, "tabs": [] }), 2.0),
        (serde_json::json!({ "version": 3 }), 3.0),
        (
            serde_json::json!({ "version": 4, "columns": [{ "id": "", "panels": [""] }] }),
            4.0,
        ),
    ] {
        let next = record("u", sent.clone(), now);
        store.save(&next).await.unwrap();
        let stored = store.get(&key("u")).await.unwrap().unwrap();
        assert_eq!(stored, next);
        assert_eq!(serde_json::to_value(&stored.layout).unwrap(), sent);
    }
}

async fn clear_is_true_once_then_false_and_touches_no_other_user(
    store: impl WorkspaceLayoutsStore,
) {
    let mine = record("me", serde_json::json!({ "version": 1 }), 1.0);
    let theirs = record("them", serde_json::json!({ "version": 1 }), 1.0);
    store.save(&mine).await.unwrap();
    store.save(&theirs).await.unwrap();
    assert!(store.clear(&key("me")).await.unwrap());
    assert!(!store.clear(&key("me")).await.unwrap());
    assert_eq!(store.get(&key("me")).await.unwrap(), None);
    assert_eq!(store.get(&key("them")).await.unwrap(), Some(theirs));
    assert!(!store.clear(&key("nobody")).await.unwrap());
}

async fn parallel_first_saves_leave_one_record(store: impl WorkspaceLayoutsStore) {
    let records: Vec<LayoutRecord> = (0..20)
        .map(|i| record("same", serde_json::json!({ "version": i }), f64::from(i)))
        .collect();
    futures::future::try_join_all(records.iter().map(|r| store.save(r)))
        .await
        .unwrap();
    let stored = store.get(&key("same")).await.unwrap().unwrap();
    assert!(
        records.contains(&stored),
        "one of the saves, whole: {stored:?}"
    );
    assert!(store.clear(&key("same")).await.unwrap());
    assert_eq!(
        store.get(&key("same")).await.unwrap(),
        None,
        "a single record"
    );
}

async fn concurrent_saves_and_clears_of_one_user_all_succeed(store: impl WorkspaceLayoutsStore) {
    let saved = record("busy", serde_json::json!({ "version": 1 }), 1.0);
    let saves = (0..40).map(|_| store.save(&saved));
    let clears = (0..40).map(|_| store.clear(&saved.user_id));
    let (saves, clears) = futures::future::join(
        futures::future::join_all(saves),
        futures::future::join_all(clears),
    )
    .await;
    let failed: Vec<String> = saves
        .iter()
        .filter_map(|r| r.as_ref().err())
        .chain(clears.iter().filter_map(|r| r.as_ref().err()))
        .map(ToString::to_string)
        .collect();
    assert!(
        failed.is_empty(),
        "{} calls failed: {failed:?}",
        failed.len()
    );
}

/// A layout whose record is about `bytes` long: one tab of 1 KB panel ids.
fn layout_of(bytes: usize) -> serde_json::Value {
    let panels: Vec<String> = (0..bytes / 1024).map(|i| format!("{i:0>1020}")).collect();
    serde_json::json!({ "version": 1, "tabs": [{ "id": "big", "panels": panels }] })
}

async fn a_record_over_the_item_limit_is_refused_and_nothing_is_written(
    store: impl WorkspaceLayoutsStore,
) {
    let kept = record("u", serde_json::json!({ "version": 1 }), 1.0);
    store.save(&kept).await.unwrap();
    let large = record("u", layout_of(390 * 1000), 2.0);
    store.save(&large).await.unwrap();
    assert_eq!(store.get(&key("u")).await.unwrap(), Some(large.clone()));
    let too_large = record("u", layout_of(420 * 1024), 3.0);
    match store.save(&too_large).await {
        Err(StoreError::TooLarge(_)) => {}
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(store.get(&key("u")).await.unwrap(), Some(large));
    let fresh = record("new", layout_of(420 * 1024), 3.0);
    assert!(matches!(
        store.save(&fresh).await,
        Err(StoreError::TooLarge(_))
    ));
    assert_eq!(store.get(&key("new")).await.unwrap(), None);
}

async fn numbers_come_back_exactly(store: impl WorkspaceLayoutsStore) {
    for (i, version) in [0.85, 0.1 + 0.2, -2.5, 9.9e37, 1e-120, 1_767_225_600_000.5]
        .into_iter()
        .enumerate()
    {
        let user = format!("n{i}");
        let saved = record(
            &user,
            serde_json::json!({ "version": version }),
            1_767_225_600_123.0,
        );
        store.save(&saved).await.unwrap();
        let stored = store.get(&key(&user)).await.unwrap().unwrap();
        assert_eq!(stored.version, Num(version));
        assert_eq!(stored.layout.version, Num(version));
        assert_eq!(stored, saved);
    }
}

/// Every case of §7.10 through the dev server, over each surface, on both stores.
mod wire {
    use devserver::Store;
    use serde_json::{json, Value};
    use service_tests::{conformance, spawn_app_at, Answer, TestApp, ADMIN_KEY};
    use shared::clock::ManualClock;
    use shared::convex::{Kind, FUNCTIONS};
    use std::sync::Arc;

    /// 2026-01-01T00:00:00.000Z.
    const T0: u64 = 1_767_225_600_000;
    const GET: &str = "workspaceLayouts:getWorkspaceLayout";
    const SAVE: &str = "workspaceLayouts:saveWorkspaceLayout";
    const CLEAR: &str = "workspaceLayouts:clearWorkspaceLayout";
    /// `NaN`, `+Infinity` and `-0` as the client encodes them (`$float`, little-endian, base64).
    const NAN: &str = "AAAAAAAA+H8=";
    const INFINITY: &str = "AAAAAAAA8H8=";
    const MINUS_ZERO: &str = "AAAAAAAAAIA=";

    #[cfg_attr(not(feature = "dynamodb-local"), allow(dead_code))]
    fn dynamo(tables: &service_tests::DynamoTables) -> Store {
        tables.store()
    }

    /// How a function is reached.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Surface {
        /// `POST /workspaceLayouts/<route>` with the arguments as the body.
        Http,
        /// `POST /api/query` or `/api/mutation` with the client's envelope.
        Protocol,
    }

    struct Client {
        app: TestApp,
        clock: Arc<ManualClock>,
        surface: Surface,
    }

    /// A refusal: its status on the wire and its message.
    #[derive(Debug)]
    struct Refused {
        status: u16,
        message: String,
    }

    impl Client {
        async fn new(store: Store, surface: Surface) -> Self {
            let clock = ManualClock::at(T0);
            let app = spawn_app_at(store, clock.clone()).await;
            Self {
                app,
                clock,
                surface,
            }
        }

        async fn send(&self, name: &str, args: Value) -> Answer {
            let function = shared::convex::function(name).unwrap();
            match self.surface {
                Surface::Http => self.app.call(function.path, args).await,
                Surface::Protocol => protocol(&self.app, function.kind, name, args).await,
            }
        }

        /// Calls `name` and expects a success: the function's value.
        async fn ok(&self, name: &str, args: Value) -> Value {
            let answer = self.send(name, args.clone()).await;
            assert_eq!(
                answer.status, 200,
                "{:?} {name}({args}): {answer:?}",
                self.surface
            );
            match self.surface {
                Surface::Http => answer.body,
                Surface::Protocol => {
                    assert_eq!(answer.body["status"], "success");
                    assert_eq!(answer.body["logLines"], json!([]));
                    answer.body["value"].clone()
                }
            }
        }

        /// Calls `name` and expects a refusal: `expected` on HTTP (the protocol answers every
        /// function error with `560`).
        async fn refused(&self, name: &str, args: Value, expected: u16) -> Refused {
            let answer = self.send(name, args.clone()).await;
            match self.surface {
                Surface::Http => {
                    assert_eq!(answer.status, expected, "{name}({args}): {answer:?}");
                    let code = match expected {
                        400 => "invalid_argument",
                        413 => "payload_too_large",
                        _ => unreachable!(),
                    };
                    assert_eq!(answer.body["error"]["code"], code, "{answer:?}");
                    Refused {
                        status: answer.status,
                        message: answer.body["error"]["message"].as_str().unwrap().to_owned(),
                    }
                }
                Surface::Protocol => {
                    assert_eq!(answer.status, 560, "{name}({args}): {answer:?}");
                    assert_eq!(answer.body["status"], "error");
                    Refused {
                        status: answer.status,
                        message: answer.body["errorMessage"].as_str().unwrap().to_owned(),
                    }
                }
            }
        }
    }

    /// `POST /api/<kind>` as the npm client sends it.
    async fn protocol(app: &TestApp, kind: Kind, name: &str, args: Value) -> Answer {
        let body = json!({ "path": name, "format": "convex_encoded_json", "args": [args] });
        app.send(
            "POST",
            kind.endpoint(),
            Some(&format!("Convex {ADMIN_KEY}")),
            body.to_string().into_bytes(),
        )
        .await
    }

    fn save_args(user: &str, layout: Value) -> Value {
        json!({ "payload": { "userId": user, "layout": layout } })
    }

    conformance!(service_tests::embedded(), dynamo;
        the_contracts_cases_over_http,
        the_contracts_cases_over_the_protocol,
        validation_over_http,
        validation_over_the_protocol,
        a_layout_over_the_item_limit_is_413_over_http,
        a_layout_over_the_item_limit_is_a_function_error_over_the_protocol,
        parallel_first_saves_over_http_create_one_record,
        special_floats_over_the_protocol,
    );

    async fn the_contracts_cases_over_http(store: Store) {
        the_contracts_cases(Client::new(store, Surface::Http).await).await
    }

    async fn the_contracts_cases_over_the_protocol(store: Store) {
        the_contracts_cases(Client::new(store, Surface::Protocol).await).await
    }

    async fn validation_over_http(store: Store) {
        validation(Client::new(store, Surface::Http).await).await
    }

    async fn validation_over_the_protocol(store: Store) {
        validation(Client::new(store, Surface::Protocol).await).await
    }

    async fn a_layout_over_the_item_limit_is_413_over_http(store: Store) {
        over_the_item_limit(Client::new(store, Surface::Http).await).await
    }

    async fn a_layout_over_the_item_limit_is_a_function_error_over_the_protocol(store: Store) {
        over_the_item_limit(Client::new(store, Surface::Protocol).await).await
    }

    /// §7.10 workspaceLayouts, in order.
    async fn the_contracts_cases(c: Client) {
        let me = json!({ "userId": "u1" });
        assert_eq!(c.ok(GET, me.clone()).await, Value::Null, "get: null first");

        let first = json!({ "version": 2, "tabs": [{ "id": "t1", "panels": ["editor", "preview"] }], "activeTabId": "t1" });
        let record = json!({ "userId": "u1", "layout": first, "version": 2, "updatedAt": T0 });
        assert_eq!(
            c.ok(SAVE, save_args("u1", first.clone())).await,
            json!({ "layout": record }),
            "save returns {{ layout: LayoutRecord }}, version = layout.version, updatedAt = now"
        );
        assert_eq!(c.ok(GET, me.clone()).await, record, "then the record");

        c.clock.advance(1000);
        let without_active =
            json!({ "version": 2, "tabs": [{ "id": "t1", "panels": ["editor", "preview"] }] });
        let saved = c.ok(SAVE, save_args("u1", without_active.clone())).await;
        assert_eq!(
            saved["layout"]["layout"], without_active,
            "a second save without activeTabId removes it"
        );
        assert_eq!(saved["layout"]["updatedAt"], json!(T0 + 1000));
        assert_eq!(c.ok(GET, me.clone()).await, saved["layout"]);

        let with_columns = json!({ "version": 1, "columns": [{ "id": "c1", "panels": ["a"] }] });
        assert_eq!(
            c.ok(SAVE, save_args("u1", with_columns.clone())).await["layout"]["layout"],
            with_columns,
            "columns are kept when sent; tabs absent stays absent"
        );
        assert_eq!(c.ok(GET, me.clone()).await["layout"], with_columns);
        let empty = json!({ "version": 3, "tabs": [] });
        let saved = c.ok(SAVE, save_args("u1", empty.clone())).await;
        assert_eq!(
            saved["layout"]["layout"], empty,
            "columns are gone unless sent, tabs: [] round-trips"
        );
        assert_eq!(saved["layout"]["version"], 3);
        assert_eq!(c.ok(GET, me.clone()).await["layout"], empty);
        let empty_panels = json!({ "version": 3, "tabs": [{ "id": "", "panels": [] }, { "id": "t", "panels": ["", "x", "x"] }] });
        c.ok(SAVE, save_args("u1", empty_panels.clone())).await;
        assert_eq!(
            c.ok(GET, me.clone()).await["layout"],
            empty_panels,
            "panels: [], empty and repeated ids round-trip"
        );

        let refused = c
            .refused(
                SAVE,
                save_args(
                    "u1",
                    json!({ "version": 4, "tabs": [{ "id": "t", "panelIds": ["a"] }] }),
                ),
                400,
            )
            .await;
        assert!(
            refused
                .message
                .starts_with("payload.layout.tabs[0].panelIds: unknown field `panelIds`"),
            "{refused:?}"
        );
        assert_eq!(
            c.ok(GET, me.clone()).await["layout"],
            empty_panels,
            "a refused save writes nothing"
        );

        let other = json!({ "userId": "u2" });
        c.ok(SAVE, save_args("u2", json!({ "version": 1 }))).await;
        assert_eq!(c.ok(CLEAR, me.clone()).await, json!({ "cleared": true }));
        assert_eq!(c.ok(CLEAR, me.clone()).await, json!({ "cleared": false }));
        assert_eq!(c.ok(GET, me).await, Value::Null);
        assert_eq!(
            c.ok(GET, other).await["layout"],
            json!({ "version": 1 }),
            "another user's layout is untouched"
        );

        let lines = c.app.log_lines();
        let everything: String = lines.iter().map(|l| format!("{l}\n")).collect();
        for content in ["editor", "preview"] {
            assert!(
                !everything.contains(content),
                "layout content reached a log line: {everything}"
            );
        }
        if c.surface == Surface::Protocol {
            let functions: Vec<&str> = lines
                .iter()
                .filter_map(|l| l["function"].as_str())
                .collect();
            assert!(
                functions.contains(&GET) && functions.contains(&SAVE) && functions.contains(&CLEAR)
            );
        }
    }

    /// The rules of "All 15 functions" and the strict arguments of §7.1.
    async fn validation(c: Client) {
        let long = "k".repeat(1025);
        let layout = json!({ "version": 1 });
        let mut cases: Vec<(&str, Value, &str)> = vec![
            (
                GET,
                json!({ "userId": "u", "extra": 1 }),
                "extra: unknown field `extra`",
            ),
            (
                CLEAR,
                json!({ "userId": "u", "extra": 1 }),
                "extra: unknown field `extra`",
            ),
            (
                SAVE,
                json!({ "payload": { "userId": "u", "layout": layout }, "extra": 1 }),
                "extra: unknown field `extra`",
            ),
            (
                SAVE,
                json!({ "payload": { "userId": "u", "layout": layout, "extra": 1 } }),
                "payload.extra: unknown field `extra`",
            ),
            (
                SAVE,
                save_args("u", json!({ "version": 1, "extra": 1 })),
                "payload.layout.extra: unknown field `extra`",
            ),
            (GET, json!({}), "missing field `userId`"),
            (
                SAVE,
                json!({ "payload": { "userId": "u" } }),
                "payload: missing field `layout`",
            ),
            (
                SAVE,
                save_args("u", json!({ "tabs": [] })),
                "payload.layout: missing field `version`",
            ),
            (
                SAVE,
                save_args("u", json!({ "version": 1, "tabs": [{ "id": "t" }] })),
                "payload.layout.tabs[0]: missing field `panels`",
            ),
            (
                SAVE,
                save_args("u", json!({ "version": "1" })),
                "payload.layout.version: expected a number, got a string",
            ),
            (
                SAVE,
                save_args(
                    "u",
                    json!({ "version": 1, "tabs": [{ "id": 5, "panels": [] }] }),
                ),
                "payload.layout.tabs[0].id: expected a string, got a number",
            ),
            (
                SAVE,
                save_args("u", json!({ "version": 1e38 })),
                "payload.layout.version: must be a number between -1e38 and 1e38",
            ),
            (
                GET,
                json!({ "userId": null }),
                "userId: expected a string, got null",
            ),
        ];
        for optional in ["tabs", "columns", "activeTabId"] {
            let mut sent = json!({ "version": 1 });
            sent[optional] = Value::Null;
            cases.push((SAVE, save_args("u", sent), "payload.layout."));
        }
        for name in [GET, CLEAR] {
            cases.push((name, json!({ "userId": "" }), "userId: must not be empty"));
            cases.push((
                name,
                json!({ "userId": long }),
                "userId: must be at most 1024 bytes",
            ));
        }
        cases.push((
            SAVE,
            save_args("", layout.clone()),
            "payload.userId: must not be empty",
        ));
        cases.push((
            SAVE,
            save_args(&long, layout.clone()),
            "payload.userId: must be at most 1024 bytes",
        ));
        for (name, args, message) in cases {
            let refused = c.refused(name, args.clone(), 400).await;
            assert!(
                refused.message.starts_with(message),
                "{:?} {name}({args}): {refused:?}",
                c.surface
            );
            if message == "payload.layout." {
                assert!(refused.message.ends_with("got null"), "{refused:?}");
            }
        }
        let written = c.ok(GET, json!({ "userId": "u" })).await;
        assert_eq!(written, Value::Null, "no refused save wrote anything");
        let key_1024 = "k".repeat(1024);
        c.ok(SAVE, save_args(&key_1024, layout.clone())).await;
        assert_eq!(
            c.ok(GET, json!({ "userId": key_1024 })).await["userId"],
            json!(key_1024),
            "an id of 1024 bytes is accepted"
        );

        if c.surface == Surface::Protocol {
            // The kind is part of the function: the other endpoint refuses it and runs nothing.
            let answer = protocol(&c.app, Kind::Query, SAVE, save_args("k", layout.clone())).await;
            assert_eq!(answer.status, 560);
            assert_eq!(
                answer.body["errorMessage"],
                format!("Trying to execute {SAVE} as Query, but it is defined as Mutation.")
            );
            let answer = protocol(&c.app, Kind::Mutation, GET, json!({ "userId": "k" })).await;
            assert_eq!(
                answer.body["errorMessage"],
                format!("Trying to execute {GET} as Mutation, but it is defined as Query.")
            );
            assert_eq!(c.ok(GET, json!({ "userId": "k" })).await, Value::Null);
            let kinds: Vec<(&str, Kind)> = FUNCTIONS
                .iter()
                .filter(|f| f.name.starts_with("workspaceLayouts:"))
                .map(|f| (f.name, f.kind))
                .collect();
            assert_eq!(
                kinds,
                [
                    (GET, Kind::Query),
                    (SAVE, Kind::Mutation),
                    (CLEAR, Kind::Mutation)
                ]
            );
        }
    }

    async fn over_the_item_limit(c: Client) {
        let small = json!({ "version": 1 });
        c.ok(SAVE, save_args("big", small.clone())).await;
        let panels: Vec<String> = (0..420).map(|i| format!("{i:0>1020}")).collect();
        let huge = json!({ "version": 2, "tabs": [{ "id": "t", "panels": panels }] });
        let refused = c.refused(SAVE, save_args("big", huge), 413).await;
        assert!(refused.message.contains("item limit"), "{refused:?}");
        assert!(refused.status == 413 || refused.status == 560);
        assert_eq!(
            c.ok(GET, json!({ "userId": "big" })).await["layout"],
            small,
            "nothing was written"
        );
        let lines = c.app.log_lines();
        let last = lines.last().unwrap();
        assert_eq!(last["event"], "convex_http_success");
        let refusal = &lines[lines.len() - 2];
        assert_eq!(refusal["event"], "convex_http_invalid_request");
        assert!(
            !refusal.to_string().contains("0000000000"),
            "no content logged"
        );
    }

    async fn parallel_first_saves_over_http_create_one_record(store: Store) {
        let c = Client::new(store, Surface::Http).await;
        let saves = (0..16).map(|i| c.ok(SAVE, save_args("p", json!({ "version": i }))));
        let answers = futures::future::join_all(saves).await;
        let stored = c.ok(GET, json!({ "userId": "p" })).await;
        assert!(
            answers.iter().any(|a| a["layout"] == stored),
            "the record is one of the saves: {stored}"
        );
        assert_eq!(
            c.ok(CLEAR, json!({ "userId": "p" })).await,
            json!({ "cleared": true })
        );
        assert_eq!(
            c.ok(GET, json!({ "userId": "p" })).await,
            Value::Null,
            "one record"
        );
    }

    /// Numbers JSON cannot carry arrive as `$float` over the protocol: non-finite ones are refused
    /// in every stored field; `-0` is a number (and may come back as `0`).
    async fn special_floats_over_the_protocol(store: Store) {
        let c = Client::new(store, Surface::Protocol).await;
        for encoded in [NAN, INFINITY] {
            let refused = c
                .refused(
                    SAVE,
                    save_args("f", json!({ "version": { "$float": encoded } })),
                    400,
                )
                .await;
            assert_eq!(
                refused.message,
                "payload.layout.version: must be a number between -1e38 and 1e38 (the range the database stores)"
            );
        }
        assert_eq!(c.ok(GET, json!({ "userId": "f" })).await, Value::Null);
        let saved = c
            .ok(
                SAVE,
                save_args("f", json!({ "version": { "$float": MINUS_ZERO } })),
            )
            .await;
        assert_eq!(saved["layout"]["version"].as_f64(), Some(0.0));
        assert_eq!(c.ok(GET, json!({ "userId": "f" })).await, saved["layout"]);
    }
}

/// DynamoDB calls per route (the budget in the crate docs), and that `get` reads consistently.
#[cfg(feature = "dynamodb-local")]
mod round_trips {
    use super::*;

    #[tokio::test]
    async fn get_is_one_consistent_get_item_save_one_put_item_clear_one_transaction() {
        let tables = DynamoTables::create().await;
        let reads = faults::ConsistentReads::default();
        let client = faults::client_with(reads.clone()).await;
        let store = DynamoWorkspaceLayoutsStore::new(
            client,
            tables.table(workspace_layouts::attr::TABLE.default),
        );
        let counted = dynamo(&tables);
        let saved = record("u", serde_json::json!({ "version": 1, "tabs": [] }), 1.0);

        counted.save(&saved).await.unwrap();
        assert_eq!(tables.calls.take(), ["PutItem"]);
        counted.get(&key("u")).await.unwrap();
        assert_eq!(tables.calls.take(), ["GetItem"]);
        assert!(counted.clear(&key("u")).await.unwrap());
        assert_eq!(tables.calls.take(), ["TransactWriteItems"]);
        assert!(!counted.clear(&key("u")).await.unwrap());
        assert_eq!(tables.calls.take(), ["TransactWriteItems"]);
        counted.get(&key("u")).await.unwrap();
        assert_eq!(tables.calls.take(), ["GetItem"]);

        store.get(&key("u")).await.unwrap();
        store.save(&saved).await.unwrap();
        store.get(&key("u")).await.unwrap();
        assert_eq!(
            reads.take(),
            [("GetItem".to_owned(), true), ("GetItem".to_owned(), true)],
            "every read is strongly consistent"
        );
    }
}

/// Exactly once: a write whose answer is lost after DynamoDB applied it, retried by the SDK.
#[cfg(feature = "dynamodb-local")]
mod exactly_once {
    use super::*;

    #[tokio::test]
    async fn a_clear_whose_answer_was_lost_still_answers_true_and_a_retried_save_stores_its_answer()
    {
        let tables = DynamoTables::create().await;
        let table = tables.table(workspace_layouts::attr::TABLE.default);
        let lose = faults::LoseAnswers::new(&["TransactWriteItems", "PutItem"]);
        let store =
            DynamoWorkspaceLayoutsStore::new(faults::client_with(lose.clone()).await, &table);
        let saved = record("u", serde_json::json!({ "version": 5 }), 7.0);

        store.save(&saved).await.unwrap();
        assert_eq!(lose.attempts("PutItem"), 2, "the SDK retried the save");
        assert_eq!(dynamo(&tables).get(&key("u")).await.unwrap(), Some(saved));

        assert!(
            store.clear(&key("u")).await.unwrap(),
            "the retry of an applied clear is answered as the first attempt"
        );
        assert_eq!(lose.attempts("TransactWriteItems"), 2, "the SDK retried");
        assert_eq!(dynamo(&tables).get(&key("u")).await.unwrap(), None);

        // A plain conditional delete, retried the same way, would have answered `false`: the
        // injected fault really loses an applied answer.
        let plain = faults::LoseAnswers::new(&["DeleteItem"]);
        let client = faults::client_with(plain.clone()).await;
        dynamo(&tables)
            .save(&record("v", serde_json::json!({ "version": 1 }), 1.0))
            .await
            .unwrap();
        let result = client
            .delete_item()
            .table_name(&table)
            .key("userId", shared::dynamo::s("v"))
            .condition_expression("attribute_exists(userId)")
            .send()
            .await;
        assert!(
            result.is_err_and(|e| e
                .as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception())),
            "the retry of a plain delete finds nothing"
        );
    }
}

/// A write refused because a transaction on the same item was in progress applied nothing: a save
/// is put again (the SDK does not retry such a refusal); a refusal that persists is a `503`.
#[cfg(feature = "dynamodb-local")]
mod conflicts {
    use super::*;

    const PUT_CONFLICT: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionConflictException","message":"Transaction is ongoing for the item"}"#;
    const CANCELLED_FOR_CONFLICT: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]","CancellationReasons":[{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"}]}"#;

    #[tokio::test]
    async fn a_save_refused_for_a_conflict_is_put_again_and_a_lasting_conflict_is_unavailable() {
        let tables = DynamoTables::create().await;
        let table = tables.table(workspace_layouts::attr::TABLE.default);
        let saved = record("u", serde_json::json!({ "version": 1 }), 1.0);

        let refuse = faults::Refuse::new("PutItem", 1, PUT_CONFLICT);
        let store =
            DynamoWorkspaceLayoutsStore::new(faults::client_with(refuse.clone()).await, &table);
        store.save(&saved).await.unwrap();
        assert_eq!(refuse.attempts(), 2, "put again after the conflict");
        assert_eq!(
            dynamo(&tables).get(&key("u")).await.unwrap(),
            Some(saved.clone())
        );

        let always = faults::Refuse::new("PutItem", usize::MAX, PUT_CONFLICT);
        let store =
            DynamoWorkspaceLayoutsStore::new(faults::client_with(always.clone()).await, &table);
        assert!(matches!(
            store.save(&saved).await,
            Err(StoreError::Unavailable(_))
        ));
        assert_eq!(
            always.attempts(),
            workspace_layouts::CONFLICT_ATTEMPTS as usize
        );

        let always = faults::Refuse::new("TransactWriteItems", usize::MAX, CANCELLED_FOR_CONFLICT);
        let store =
            DynamoWorkspaceLayoutsStore::new(faults::client_with(always.clone()).await, &table);
        match store.clear(&key("absent")).await {
            Err(StoreError::Unavailable(message)) => {
                assert!(message.contains("TransactionConflict"), "{message}")
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
}

/// SDK interceptors for the DynamoDB tests: answers lost after the call was applied, and the
/// consistency of every read.
#[cfg(feature = "dynamodb-local")]
mod faults {
    use aws_sdk_dynamodb::config::interceptors::{
        BeforeDeserializationInterceptorContextMut, BeforeSerializationInterceptorContextRef,
    };
    use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
    use aws_sdk_dynamodb::error::BoxError;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    fn operation(cfg: &ConfigBag) -> String {
        cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
            .map_or("unknown", |m| m.name())
            .to_owned()
    }

    /// A client on the test run's DynamoDB Local with `interceptor`.
    pub async fn client_with(interceptor: impl Intercept + 'static) -> shared::dynamo::Client {
        let config = shared::Config {
            dynamodb_endpoint: Some(service_tests::dynamodb_endpoint()),
            ..shared::Config::default()
        };
        let sdk = shared::dynamo::sdk_config(&config).await;
        shared::dynamo::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk)
                .interceptor(interceptor)
                .build(),
        )
    }

    /// Turns the answer to the first attempt of each listed operation into a `500` after DynamoDB
    /// applied the call, so that the SDK retries it (what a response lost on the way looks like to
    /// the SDK).
    #[derive(Debug, Clone, Default)]
    pub struct LoseAnswers {
        operations: Arc<Vec<String>>,
        attempts: Arc<Mutex<HashMap<String, usize>>>,
    }

    impl LoseAnswers {
        pub fn new(operations: &[&str]) -> Self {
            Self {
                operations: Arc::new(operations.iter().map(|o| (*o).to_owned()).collect()),
                attempts: Arc::default(),
            }
        }

        /// Attempts of `operation` seen so far.
        pub fn attempts(&self, operation: &str) -> usize {
            self.attempts
                .lock()
                .unwrap()
                .get(operation)
                .copied()
                .unwrap_or(0)
        }
    }

    impl Intercept for LoseAnswers {
        fn name(&self) -> &'static str {
            "LoseAnswers"
        }

        fn modify_before_deserialization(
            &self,
            context: &mut BeforeDeserializationInterceptorContextMut<'_>,
            _components: &RuntimeComponents,
            cfg: &mut ConfigBag,
        ) -> Result<(), BoxError> {
            let op = operation(cfg);
            let attempt = {
                let mut attempts = self.attempts.lock().unwrap();
                let n = attempts.entry(op.clone()).or_default();
                *n += 1;
                *n
            };
            if attempt == 1 && self.operations.contains(&op) {
                assert!(context.response().status().is_success(), "{op} was applied");
                *context.response_mut().status_mut() = 500.try_into()?;
            }
            Ok(())
        }
    }

    /// Replaces the answer to the first `rounds` attempts of `operation` with a `400` and `body`
    /// (an error DynamoDB gives when it applied nothing).
    #[derive(Debug, Clone)]
    pub struct Refuse {
        operation: &'static str,
        rounds: usize,
        body: &'static str,
        attempts: Arc<Mutex<usize>>,
    }

    impl Refuse {
        pub fn new(operation: &'static str, rounds: usize, body: &'static str) -> Self {
            Self {
                operation,
                rounds,
                body,
                attempts: Arc::default(),
            }
        }

        pub fn attempts(&self) -> usize {
            *self.attempts.lock().unwrap()
        }
    }

    impl Intercept for Refuse {
        fn name(&self) -> &'static str {
            "Refuse"
        }

        fn modify_before_deserialization(
            &self,
            context: &mut BeforeDeserializationInterceptorContextMut<'_>,
            _components: &RuntimeComponents,
            cfg: &mut ConfigBag,
        ) -> Result<(), BoxError> {
            if operation(cfg) != self.operation {
                return Ok(());
            }
            let attempt = {
                let mut attempts = self.attempts.lock().unwrap();
                *attempts += 1;
                *attempts
            };
            if attempt <= self.rounds {
                let response = context.response_mut();
                *response.status_mut() = 400.try_into()?;
                *response.body_mut() = aws_smithy_types::body::SdkBody::from(self.body);
            }
            Ok(())
        }
    }

    /// Records (operation, `ConsistentRead`) of every `GetItem`, `Query` and `Scan`.
    #[derive(Debug, Clone, Default)]
    pub struct ConsistentReads(Arc<Mutex<Vec<(String, bool)>>>);

    impl ConsistentReads {
        pub fn take(&self) -> Vec<(String, bool)> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    impl Intercept for ConsistentReads {
        fn name(&self) -> &'static str {
            "ConsistentReads"
        }

        fn read_before_execution(
            &self,
            context: &BeforeSerializationInterceptorContextRef<'_>,
            _cfg: &mut ConfigBag,
        ) -> Result<(), BoxError> {
            use aws_sdk_dynamodb::operation::{get_item, query, scan};
            let input = context.input();
            let read = if let Some(i) = input.downcast_ref::<get_item::GetItemInput>() {
                Some(("GetItem", i.consistent_read))
            } else if let Some(i) = input.downcast_ref::<query::QueryInput>() {
                Some(("Query", i.consistent_read))
            } else {
                input
                    .downcast_ref::<scan::ScanInput>()
                    .map(|i| ("Scan", i.consistent_read))
            };
            if let Some((op, consistent)) = read {
                self.0
                    .lock()
                    .unwrap()
                    .push((op.to_owned(), consistent == Some(true)));
            }
            Ok(())
        }
    }
}
