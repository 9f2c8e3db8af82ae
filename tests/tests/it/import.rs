//! `convex-import`: a snapshot in the export's layout, with every table and its odd cases, imported
//! into each store and read back through the HTTP routes.

use convex_import::snapshot::Snapshot;
use convex_import::{ImportError, Options, Progress, Report, TableKind, TableNames, Target};
use serde_json::{json, Value};
use service_tests::{spawn_app, TestApp};
use shared::embedded::EmbeddedDb;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A store to import into, and the same store for the dev server.
struct Under {
    target: Target,
    store: devserver::Store,
}

fn embedded() -> Under {
    let db = EmbeddedDb::in_memory();
    Under {
        target: Target::Embedded(db.clone()),
        store: devserver::Store::Embedded(db),
    }
}

#[cfg(feature = "dynamodb-local")]
fn dynamo(tables: &service_tests::DynamoTables) -> Under {
    Under {
        target: Target::Dynamo {
            client: tables.client.clone(),
            names: TableNames {
                prefix: tables.prefix.clone(),
                ..TableNames::default()
            },
        },
        store: tables.store(),
    }
}

/// A document: `fields` plus Convex's system fields.
fn doc(id: &str, created_ms: impl serde::Serialize, fields: Value) -> Value {
    let mut doc = fields;
    doc["_id"] = json!(id);
    doc["_creationTime"] = json!(created_ms);
    doc
}

const SECRET_1: &str = "11111111-1111-4111-8111-111111111111";
const SECRET_2: &str = "22222222-2222-4222-8222-222222222222";

fn credential(id: &str, user: &str, status: &str, issued_at: u64) -> Value {
    json!({
        "id": id, "userId": user, "provider": "openai", "tokenHash": format!("hash-{id}"),
        "salt": format!("salt-{id}"), "scopes": ["tts"], "planTier": "pro", "issuedAt": issued_at,
        "expiresAt": 1_900_000_000_000u64, "status": status,
    })
}

fn history_entry(user: &str, i: usize) -> Value {
    json!({
        "id": format!("e{i:03}"), "userId": user, "provider": "openai", "voiceId": "alloy",
        "text": format!("entry {i}"), "createdAt": format!("2025-01-01T{:02}:{:02}:00.000Z", i / 60, i % 60),
        "durationMs": 1000 + i,
    })
}

fn transcript(user: &str, id: &str, created_at: &str) -> Value {
    json!({
        "userId": user, "transcriptId": id, "title": format!("Meeting {id}"), "transcript": format!("Text of {id}."),
        "segments": [{ "index": 0, "startMs": 0, "endMs": 1200.5, "text": format!("Text of {id}.") }],
        "durationMs": 1200.5, "createdAt": created_at, "source": "microphone",
    })
}

/// `transcript` as `listTranscripts` returns it.
fn listed_transcript(value: &Value) -> Value {
    let mut out = value.clone();
    let fields = out.as_object_mut().unwrap();
    fields.remove("userId");
    let id = fields.remove("transcriptId").unwrap();
    fields.insert("id".into(), id);
    for nullable in ["summary", "cleanup", "language"] {
        fields.entry(nullable).or_insert(Value::Null);
    }
    out
}

/// The many transcripts of `tr-many`: 203, the 3 oldest over the cap.
fn many_transcript(i: usize) -> Value {
    transcript(
        "tr-many",
        &format!("m{i:03}"),
        &format!("2025-03-01T00:{:02}:{:02}.000Z", i / 60, i % 60),
    )
}

/// The export: every table of the service with its odd cases, an unknown table, bad lines.
struct Fixture {
    tables: Vec<(&'static str, Vec<String>)>,
}

impl Fixture {
    fn new() -> Self {
        let lines = |docs: Vec<Value>| docs.iter().map(Value::to_string).collect::<Vec<_>>();
        let mut history: Vec<Value> = (0..203)
            .map(|i| doc(&format!("h{i}"), 1000 + i, history_entry("hist-many", i)))
            .collect();
        history[202]["transcript"] = json!({ "srt": "1\n00:00:00,000 --> 00:00:01,000\nhi\n" });
        history.push(doc("h-one", 5000u64, history_entry("hist-one", 7)));
        let mut history = lines(history);
        history.insert(10, "{not json".into());
        Self {
            tables: vec![
                (
                    "accounts",
                    lines(vec![
                        doc("a1", 1_700_000_000_000.5, Self::full_account()),
                        doc(
                            "a2",
                            1_700_000_000_001u64,
                            json!({
                                "userId": "acct-min", "planTier": "starter", "billingStatus": "free",
                                "usage": { "monthTokensUsed": 0, "monthlyAllowance": 999, "lastUpdated": 1_763_000_000_000u64 },
                            }),
                        ),
                        doc(
                            "a3",
                            1_700_000_000_002u64,
                            json!({
                                "userId": "acct-full", "planTier": "free", "billingStatus": "free",
                                "usage": { "monthTokensUsed": 0, "monthlyAllowance": 50000, "lastUpdated": 1u64 },
                            }),
                        ),
                        doc(
                            "a4",
                            1_700_000_000_003u64,
                            json!({
                                "userId": "acct-bad", "planTier": 5, "billingStatus": "free",
                                "usage": { "monthTokensUsed": 0, "monthlyAllowance": 50000, "lastUpdated": 1u64 },
                            }),
                        ),
                    ]),
                ),
                (
                    "users",
                    lines(vec![
                        doc("u1", 1u64, Self::full_user()),
                        doc(
                            "u2",
                            2u64,
                            json!({ "clerkId": "user_min", "createdAt": 5u64, "updatedAt": 6u64 }),
                        ),
                        doc(
                            "u3",
                            3u64,
                            json!({ "clerkId": "user_extra", "createdAt": 1u64, "updatedAt": 1u64, "favoriteColor": "green" }),
                        ),
                        doc(
                            "u4",
                            4u64,
                            json!({ "clerkId": "user_null", "email": null, "createdAt": 1u64, "updatedAt": 1u64 }),
                        ),
                    ]),
                ),
                ("history_entries", history),
                (
                    "sessions",
                    lines(vec![
                        doc(
                            "s1",
                            1u64,
                            json!({ "id": "sess-live", "secret": "enc:v1:abc", "expiresAt": 1_900_000_000_000u64 }),
                        ),
                        doc(
                            "s2",
                            2u64,
                            json!({ "id": "sess-old", "secret": "enc:v1:def", "expiresAt": 1000u64 }),
                        ),
                    ]),
                ),
                (
                    "provisioning_credentials",
                    lines(vec![
                        doc(
                            "c1",
                            1000u64,
                            credential("cred-old", "prov-user", "active", 5000u64),
                        ),
                        doc("c2", 1500u64, {
                            let mut c = credential("cred-other", "prov-other", "active", 3u64);
                            c["providerReference"] = json!("ref-1");
                            c["metadata"] = json!({ "description": "d", "source": "s", "planTier": "pro", "scopes": ["a"] });
                            c["lastRotatedAt"] = json!(7u64);
                            c
                        }),
                        doc(
                            "c3",
                            2000u64,
                            credential("cred-new", "prov-user", "active", 1u64),
                        ),
                        doc(
                            "c4",
                            3000u64,
                            credential("cred-rev", "prov-user", "revoked", 9u64),
                        ),
                    ]),
                ),
                (
                    "provisioning_usage",
                    lines(vec![
                        doc(
                            "use-doc-a",
                            1000u64,
                            json!({ "id": "use-a", "userId": "prov-user", "provider": "openai", "tokensUsed": 10, "costMinorUnits": 1, "recordedAt": 99999u64 }),
                        ),
                        doc(
                            "use-doc-b",
                            3000u64,
                            json!({ "userId": "prov-user", "provider": "openai", "tokensUsed": 20, "costMinorUnits": 2, "recordedAt": 1u64 }),
                        ),
                        doc(
                            "use-doc-c",
                            2000u64,
                            json!({ "id": "use-c", "userId": "prov-user", "provider": "openai", "tokensUsed": 30, "costMinorUnits": 3, "recordedAt": 5u64 }),
                        ),
                    ]),
                ),
                (
                    "pipelines",
                    lines(vec![
                        doc("p1", 1000u64, Self::full_pipeline()),
                        doc(
                            "p2",
                            2000u64,
                            json!({
                                "id": "pipe-2", "name": "alpha", "steps": [], "webhookSecret": SECRET_2,
                                "createdAt": "2025-02-01T00:00:00.000Z", "updatedAt": "2025-02-01T00:00:00.000Z",
                            }),
                        ),
                        doc(
                            "p3",
                            3000u64,
                            json!({
                                "id": "pipe-3", "name": "Copy", "steps": [], "webhookSecret": SECRET_1,
                                "createdAt": "2025-02-01T00:00:00.000Z", "updatedAt": "2025-02-01T00:00:00.000Z",
                            }),
                        ),
                        doc(
                            "p4",
                            4000u64,
                            json!({
                                "id": "pipe-4", "name": "Bad", "steps": [], "webhookSecret": "44444444-4444-4444-8444-444444444444",
                                "createdAt": "yesterday", "updatedAt": "2025-02-01T00:00:00.000Z",
                            }),
                        ),
                    ]),
                ),
                ("transit_transcripts", lines(Self::transcripts())),
                (
                    "transit_calendar_tokens",
                    lines(vec![
                        doc(
                            "tok1",
                            1u64,
                            json!({ "userId": "tok-user", "encryptedPayload": "iv:ciphertext:tag", "expiresAt": 1_767_229_200_000u64, "scope": [], "updatedAt": 1_767_225_600_000u64 }),
                        ),
                        doc(
                            "tok2",
                            2u64,
                            json!({ "userId": "tok-bad", "encryptedPayload": "iv:other:tag", "expiresAt": "tomorrow", "scope": [], "updatedAt": 1u64 }),
                        ),
                    ]),
                ),
                (
                    "workspace_layouts",
                    lines(vec![
                        doc("wl1", 1000u64, Self::full_layout()),
                        doc(
                            "wl2",
                            2000u64,
                            json!({ "userId": "layout-min", "layout": { "version": 1.5 }, "version": 1.5, "updatedAt": 5u64 }),
                        ),
                        doc(
                            "wl3",
                            3000u64,
                            json!({ "userId": "layout-bad", "layout": { "version": 1, "tabs": [{ "id": "t", "panelIds": [] }] }, "version": 1, "updatedAt": 5u64 }),
                        ),
                        doc("wl4", 4000u64, {
                            let mut later = Self::full_layout();
                            later["layout"] = json!({ "version": 3 });
                            later["version"] = json!(3);
                            later
                        }),
                    ]),
                ),
                (
                    "translations",
                    lines(vec![
                        doc("x1", 1u64, Self::translation("tr-1", "doc-t", 1)),
                        doc("x2", 2u64, Self::translation("tr-2", "doc-t", 3)),
                        doc("x3", 3u64, Self::translation("tr-1", "doc-t", 4)),
                        doc("x4", 4u64, Self::translation("tr-1", "doc-u", 1)),
                        doc("x5", 5u64, Self::translation("tr-5", "doc-t", 0)),
                        doc("x6", 6u64, {
                            let mut t = Self::translation("tr-6", "doc-t", 6);
                            t["text"] = json!("hola");
                            t
                        }),
                        doc("x7", 7u64, Self::translation("tr-7", "doc-t", 3)),
                    ]),
                ),
                (
                    "feature_flags",
                    lines(vec![
                        doc("f1", 1u64, json!({ "flag": "beta" })),
                        doc("f2", 2u64, json!({ "flag": "gamma" })),
                    ]),
                ),
            ],
        }
    }

    /// `tr-many`'s 203 transcripts (Convex order reversed in the file), then `tr-odd`'s: a tie of
    /// equal createdAt whose later-created document comes first in the file, a 600 KB one (two
    /// DynamoDB items), a duplicate id, and a `summary: null` Convex never stores.
    fn transcripts() -> Vec<Value> {
        let mut docs: Vec<Value> = (0..203)
            .rev()
            .map(|i| doc(&format!("tm{i}"), 1000 + i, many_transcript(i)))
            .collect();
        let mut full = transcript("tr-odd", "full", "2025-04-01T00:00:00.000Z");
        full["summary"] = json!({ "summary": "s", "actionItems": [{ "text": "t", "ownerHint": "o" }], "scheduleRecommendation": { "title": "r", "durationMinutes": 30 } });
        full["cleanup"] = json!({ "instruction": "i", "output": "o" });
        full["language"] = json!("en");
        full["confidence"] = json!(0.75);
        full["transcript"] = json!("x".repeat(600 * 1024));
        let mut null_summary = transcript("tr-odd", "nulls", "2025-04-02T00:00:00.000Z");
        null_summary["summary"] = Value::Null;
        docs.extend([
            doc(
                "to-tie-later",
                3000u64,
                transcript("tr-odd", "tie-later", "2025-04-01T12:00:00.000Z"),
            ),
            doc(
                "to-tie-earlier",
                2000u64,
                transcript("tr-odd", "tie-earlier", "2025-04-01T12:00:00.000Z"),
            ),
            doc("to-full", 4000u64, full),
            doc(
                "to-dup",
                5000u64,
                transcript("tr-odd", "full", "2030-01-01T00:00:00.000Z"),
            ),
            doc("to-null", 6000u64, null_summary),
        ]);
        docs
    }

    /// A translation of account `acc-t`; `tr-1` of `doc-t` has every optional field.
    fn translation(id: &str, document: &str, index: u64) -> Value {
        let mut t = json!({
            "id": id, "accountId": "acc-t", "documentId": document, "sequenceIndex": index,
            "createdAt": "2025-03-01T00:00:00.000Z", "updatedAt": "2025-03-02T00:00:00.000Z",
            "sourceText": format!("source {id}"), "sourceLanguageCode": "unknown", "targetLanguageCode": "de",
            "translatedText": format!("text {id}"), "keepOriginalApplied": true, "provider": "openai",
        });
        if id == "tr-1" && document == "doc-t" && index == 1 {
            t["keepOriginalApplied"] = json!(false);
            t["adoptedAt"] = json!("2025-03-02T00:00:00.000Z");
            t["metadata"] = json!({ "model": "gpt", "tokensUsed": 12.5 });
        }
        t
    }

    fn full_account() -> Value {
        json!({
            "userId": "acct-full", "planTier": "pro", "billingStatus": "active",
            "premiumExpiresAt": 1_767_225_600_000u64, "polarCustomerId": "cus_1",
            "polarSubscriptionId": "sub_1", "polarPlanId": "plan_pro",
            "polarCurrentPeriodEnd": 1_767_225_600_000u64, "polarLastEventId": "evt_9",
            "polarBenefits": [{ "id": "b1", "name": "Priority" }, { "id": "b2" }],
            "usage": { "monthTokensUsed": 1234, "monthlyAllowance": 500000, "lastUpdated": 1_763_700_000_000u64 },
        })
    }

    fn full_user() -> Value {
        json!({
            "clerkId": "user_full", "email": "ada@example.com", "firstName": "Ada",
            "lastName": "Lovelace", "imageUrl": "https://img.example.com/ada.png",
            "lastLoginAt": 1_763_700_000_000u64, "createdAt": 1_700_000_000_000u64,
            "updatedAt": 1_763_700_000_000u64,
        })
    }

    fn full_pipeline() -> Value {
        json!({
            "id": "pipe-1", "ownerId": "owner-1", "name": "Morning digest", "description": "Daily",
            "steps": [
                { "id": "s1", "kind": "clean", "options": { "preserveQuotes": true } },
                { "id": "s2", "kind": "summarise", "label": "Sum", "options": { "style": "bullets", "bulletCount": 3 } },
            ],
            "schedule": { "cron": "0 7 * * *", "description": "7am" },
            "defaultSource": { "kind": "url", "value": "https://example.com/feed" },
            "webhookSecret": SECRET_1,
            "createdAt": "2025-01-01T00:00:00.000Z", "updatedAt": "2025-01-02T00:00:00.000Z",
            "lastRunAt": "2025-01-03T00:00:00.000Z",
        })
    }

    fn full_layout() -> Value {
        json!({
            "userId": "layout-full",
            "layout": {
                "version": 2, "activeTabId": "t1",
                "tabs": [{ "id": "t1", "panels": ["editor", "preview", "editor"] }, { "id": "t2", "panels": [] }],
                "columns": [{ "id": "", "panels": ["legacy"] }],
            },
            "version": 2, "updatedAt": 1_763_700_000_000u64,
        })
    }

    /// The export's files, by path.
    fn files(&self) -> Vec<(String, String)> {
        let mut files = vec![(
            "README.md".to_owned(),
            "This is a Convex snapshot export.\n".to_owned(),
        )];
        let list: Vec<String> = self
            .tables
            .iter()
            .enumerate()
            .map(|(i, (name, _))| json!({ "name": name, "id": 10001 + i }).to_string())
            .collect();
        files.push(("_tables/documents.jsonl".into(), list.join("\n") + "\n"));
        files.push(("_storage/documents.jsonl".into(), String::new()));
        for (name, lines) in &self.tables {
            files.push((format!("{name}/documents.jsonl"), lines.join("\n") + "\n"));
            files.push((
                format!("{name}/generated_schema.jsonl"),
                "{\"_creationTime\":\"normalfloat64\",\"_id\":\"string\"}\n".into(),
            ));
        }
        files
    }

    /// Writes the export as a ZIP file in a new temporary directory.
    fn zip(&self) -> PathBuf {
        let path = scratch("snapshot").join("snapshot.zip");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).expect("zip file"));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, text) in self.files() {
            zip.start_file(name, options).expect("zip entry");
            zip.write_all(text.as_bytes()).expect("zip write");
        }
        zip.finish().expect("zip finishes");
        path
    }

    /// Writes the export unpacked, as a directory.
    fn dir(&self) -> PathBuf {
        let dir = scratch("snapshot-dir");
        for (name, text) in self.files() {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("dir");
            std::fs::write(path, text).expect("file");
        }
        dir
    }
}

fn scratch(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{what}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

async fn import(path: &Path, target: &Target, options: Options) -> Result<Report, ImportError> {
    let mut snapshot = Snapshot::open(path).expect("the snapshot opens");
    convex_import::run(&mut snapshot, target, options, &Progress::silent()).await
}

/// (read, written, skipped) of each table.
fn counts(report: &Report) -> Vec<(String, usize, usize, usize)> {
    report
        .tables
        .iter()
        .map(|t| (t.table.clone(), t.read, t.written, t.skipped.len()))
        .collect()
}

fn expected_counts() -> Vec<(String, usize, usize, usize)> {
    [
        ("accounts", 4, 2, 2),
        ("users", 4, 2, 2),
        ("history_entries", 205, 201, 4),
        ("sessions", 2, 2, 0),
        ("provisioning_credentials", 4, 4, 0),
        ("provisioning_usage", 3, 3, 0),
        ("pipelines", 4, 2, 2),
        ("workspace_layouts", 4, 2, 2),
        ("transit_transcripts", 208, 203, 5),
        ("transit_calendar_tokens", 2, 1, 1),
        ("translations", 7, 3, 4),
        ("feature_flags", 2, 0, 0),
    ]
    .into_iter()
    .map(|(t, r, w, s)| (t.to_owned(), r, w, s))
    .collect()
}

/// Every record of the fixture, read back through the routes, is what the contract returns.
async fn assert_every_record_reads_back(app: &TestApp) {
    assert_the_layouts_read_back(app).await;
    let fixture_account = Fixture::full_account();
    assert_eq!(
        app.ok("/account/getOrCreate", json!({ "userId": "acct-full" }))
            .await,
        json!({ "account": fixture_account })
    );
    assert_eq!(
        app.ok("/account/getOrCreate", json!({ "userId": "acct-min" }))
            .await,
        json!({ "account": {
            "userId": "acct-min", "planTier": "starter", "billingStatus": "free",
            "usage": { "monthTokensUsed": 0, "monthlyAllowance": 200000, "lastUpdated": 1_763_000_000_000u64 },
        } })
    );
    assert_eq!(
        app.ok("/users/get", json!({ "clerkId": "user_full" }))
            .await,
        Fixture::full_user()
    );
    assert_eq!(
        app.ok("/users/get", json!({ "clerkId": "user_min" })).await,
        json!({ "clerkId": "user_min", "createdAt": 5, "updatedAt": 6 })
    );
    for skipped in ["user_extra", "user_null"] {
        assert_eq!(
            app.ok("/users/get", json!({ "clerkId": skipped })).await,
            Value::Null
        );
    }

    let many = app
        .ok("/history/list", json!({ "userId": "hist-many" }))
        .await;
    let mut expected: Vec<Value> = (3..203)
        .rev()
        .map(|i| history_entry("hist-many", i))
        .collect();
    expected[0]["transcript"] = json!({ "srt": "1\n00:00:00,000 --> 00:00:01,000\nhi\n" });
    assert_eq!(many, Value::Array(expected), "the 200 newest, newest first");
    assert_eq!(
        app.ok("/history/list", json!({ "userId": "hist-one" }))
            .await,
        json!([history_entry("hist-one", 7)])
    );

    assert_eq!(
        app.ok("/session/get", json!({ "sessionId": "sess-live" }))
            .await,
        json!({ "session": { "id": "sess-live", "secret": "enc:v1:abc", "expiresAt": 1_900_000_000_000u64 } })
    );

    let find = app
        .ok(
            "/provisioning/findActive",
            json!({ "userId": "prov-user", "provider": "openai" }),
        )
        .await;
    assert_eq!(
        find,
        json!({ "credential": credential("cred-new", "prov-user", "active", 1u64) }),
        "the active credential Convex created last, whatever its issuedAt"
    );
    let listed = app.ok("/provisioning/list", json!({})).await;
    let ids: Vec<&str> = listed["credentials"]
        .as_array()
        .expect("credentials")
        .iter()
        .map(|c| c["id"].as_str().expect("an id"))
        .collect();
    assert_eq!(ids, ["cred-old", "cred-other", "cred-new", "cred-rev"]);
    assert_eq!(listed["credentials"][1]["metadata"]["scopes"], json!(["a"]));
    assert_eq!(listed["credentials"][1]["lastRotatedAt"], json!(7));
    let usage = app
        .ok("/provisioning/listUsage", json!({ "userId": "prov-user" }))
        .await;
    assert_eq!(
        usage,
        json!({ "usage": [
            { "id": "use-doc-b", "userId": "prov-user", "provider": "openai", "tokensUsed": 20, "costMinorUnits": 2, "recordedAt": 1 },
            { "id": "use-c", "userId": "prov-user", "provider": "openai", "tokensUsed": 30, "costMinorUnits": 3, "recordedAt": 5 },
            { "id": "use-a", "userId": "prov-user", "provider": "openai", "tokensUsed": 10, "costMinorUnits": 1, "recordedAt": 99999 },
        ] }),
        "newest created first; a record without id has its Convex _id"
    );

    let pipeline = Fixture::full_pipeline();
    assert_eq!(
        app.ok("/pipelines/get", json!({ "id": "pipe-1" })).await,
        json!({ "pipeline": pipeline })
    );
    assert_eq!(
        app.ok(
            "/pipelines/findByWebhookSecret",
            json!({ "secret": SECRET_1 })
        )
        .await,
        json!({ "pipeline": pipeline }),
        "the webhook-secret lookup is rebuilt"
    );
    assert_eq!(
        app.ok(
            "/pipelines/findByWebhookSecret",
            json!({ "secret": SECRET_2 })
        )
        .await["pipeline"]["id"],
        json!("pipe-2")
    );
    assert_eq!(
        app.ok("/pipelines/list", json!({})).await,
        json!({ "pipelines": [
            { "id": "pipe-2", "name": "alpha" },
            { "id": "pipe-1", "name": "Morning digest", "description": "Daily",
              "schedule": { "cron": "0 7 * * *", "description": "7am" }, "lastRunAt": "2025-01-03T00:00:00.000Z" },
        ] })
    );
    for skipped in ["pipe-3", "pipe-4"] {
        assert_eq!(
            app.ok("/pipelines/get", json!({ "id": skipped })).await,
            json!({ "pipeline": null })
        );
    }

    let many = app
        .ok("/transit/listTranscripts", json!({ "userId": "tr-many" }))
        .await;
    let expected: Vec<Value> = (3..203)
        .rev()
        .map(|i| listed_transcript(&many_transcript(i)))
        .collect();
    assert_eq!(many, Value::Array(expected), "the 200 newest, newest first");
    let odd = app
        .ok("/transit/listTranscripts", json!({ "userId": "tr-odd" }))
        .await;
    let ids: Vec<&str> = odd
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["tie-later", "tie-earlier", "full"],
        "equal createdAt: the one Convex created later first"
    );
    let full = Fixture::transcripts()
        .into_iter()
        .find(|d| d["_id"] == "to-full")
        .unwrap();
    let mut full = listed_transcript(&full);
    let fields = full.as_object_mut().unwrap();
    fields.remove("_id");
    fields.remove("_creationTime");
    assert_eq!(odd[2], full, "600 KB, every field, read back exactly");
    assert_eq!(
        app.ok("/transit/getCalendarToken", json!({ "userId": "tok-user" }))
            .await,
        json!({ "encryptedPayload": "iv:ciphertext:tag", "expiresAt": 1_767_229_200_000u64, "scope": [], "updatedAt": 1_767_225_600_000u64 })
    );
    assert_eq!(
        app.ok("/transit/getCalendarToken", json!({ "userId": "tok-bad" }))
            .await,
        Value::Null
    );
    assert_eq!(
        app.ok(
            "/translations/list",
            json!({ "accountId": "acc-t", "documentId": "doc-t" })
        )
        .await,
        json!({ "items": [
            Fixture::translation("tr-2", "doc-t", 3),
            Fixture::translation("tr-1", "doc-t", 1),
        ] }),
        "highest index first, the gap kept"
    );
    assert_eq!(
        app.ok(
            "/translations/list",
            json!({ "accountId": "acc-t", "documentId": "doc-u" })
        )
        .await,
        json!({ "items": [Fixture::translation("tr-1", "doc-u", 1)] })
    );
}

/// The fixture's workspace layouts, read back through the routes.
async fn assert_the_layouts_read_back(app: &TestApp) {
    assert_eq!(
        app.ok("/workspaceLayouts/get", json!({ "userId": "layout-full" }))
            .await,
        Fixture::full_layout(),
        "the layout exactly as exported; of two documents the one created first"
    );
    assert_eq!(
        app.ok("/workspaceLayouts/get", json!({ "userId": "layout-min" }))
            .await,
        json!({ "userId": "layout-min", "layout": { "version": 1.5 }, "version": 1.5, "updatedAt": 5 })
    );
    assert_eq!(
        app.ok("/workspaceLayouts/get", json!({ "userId": "layout-bad" }))
            .await,
        Value::Null
    );
}

async fn a_snapshot_imports_and_every_record_reads_back_through_the_routes(under: Under) {
    let fixture = Fixture::new();
    let report = import(&fixture.zip(), &under.target, Options::default())
        .await
        .expect("the import runs");
    assert_eq!(counts(&report), expected_counts());
    assert_eq!(
        report.table("feature_flags").map(|t| t.kind),
        Some(TableKind::Unknown)
    );
    let app = spawn_app(under.store.clone()).await;
    assert_every_record_reads_back(&app).await;
    // The sessions' expiry index is rebuilt: prune finds the expired one.
    assert_eq!(
        app.ok("/session/prune", json!({ "now": 2000 })).await,
        json!({ "result": 1 })
    );
}

async fn bad_documents_are_reported_with_table_line_and_reason(under: Under) {
    let report = import(&Fixture::new().zip(), &under.target, Options::default())
        .await
        .expect("the import runs");
    let skipped = |table: &str| -> Vec<(usize, String)> {
        report
            .table(table)
            .expect("the table is reported")
            .skipped
            .iter()
            .map(|s| (s.line, s.reason.clone()))
            .collect()
    };
    assert_eq!(
        skipped("accounts"),
        [
            (
                3,
                "duplicate of line 1 (userId acct-full); the document created first is imported"
                    .to_owned()
            ),
            (4, "planTier: expected a string, got a number".to_owned()),
        ]
    );
    assert_eq!(
        skipped("users"),
        [
            (3, "unknown field `favoriteColor`".to_owned()),
            (
                4,
                "email: null where the contract allows a value or no field".to_owned()
            ),
        ]
    );
    let history = skipped("history_entries");
    assert_eq!(history.len(), 4);
    assert_eq!(history[0].0, 1, "the oldest entries are over the cap");
    assert!(history[0]
        .1
        .starts_with("over the 200-entry cap of userId hist-many"));
    assert!(history
        .iter()
        .any(|(line, reason)| *line == 11 && reason.starts_with("not valid JSON")));
    assert_eq!(
        skipped("workspace_layouts"),
        [
            (
                3,
                "layout.tabs[0].panelIds: unknown field `panelIds`, expected `id` or `panels`"
                    .to_owned()
            ),
            (
                4,
                "duplicate of line 1 (userId layout-full); the document created first is imported"
                    .to_owned()
            ),
        ]
    );
    assert_eq!(
        skipped("pipelines"),
        [
            (
                3,
                "its webhookSecret is already the secret of the pipeline on line 1".to_owned()
            ),
            (
                4,
                "createdAt: expected an ISO-8601 date-time such as 2025-01-31T12:00:00.000Z"
                    .to_owned()
            ),
        ]
    );
    assert_eq!(
        skipped("translations"),
        [
            (
                3,
                "duplicate of line 1 (accountId acc-t, documentId doc-t, id tr-1); the document created first is imported"
                    .to_owned()
            ),
            (5, "sequenceIndex: expected an integer from 1 to 9007199254740991".to_owned()),
            (6, "unknown field `text`".to_owned()),
            (
                7,
                "sequenceIndex 3 is taken in its document by line 2, created first".to_owned()
            ),
        ]
    );
    let summary = report.to_string();
    assert!(summary.contains("feature_flags"), "{summary}");
    assert!(
        summary.contains("not a table of this service: skipped"),
        "{summary}"
    );
    assert!(
        summary.contains("  line 4: planTier: expected a string, got a number"),
        "{summary}"
    );
    assert!(
        !summary.contains(SECRET_1),
        "no secret in the summary: {summary}"
    );
    let transcripts = skipped("transit_transcripts");
    assert_eq!(transcripts.len(), 5, "{transcripts:?}");
    assert!(transcripts[..3]
        .iter()
        .all(|(_, r)| r.starts_with("over the 200-transcript cap of userId tr-many")));
    assert!(transcripts.iter().any(|(_, r)| r
        == "duplicate of line 206 (userId tr-odd, transcriptId full); the document created first is imported"));
    assert!(transcripts
        .iter()
        .any(|(_, r)| r == "summary: expected an object, got null"));
    assert_eq!(
        skipped("transit_calendar_tokens"),
        [(2, "expiresAt: expected a number, got a string".to_owned())]
    );
    assert!(!summary.contains("iv:ciphertext:tag") && !summary.contains("iv:other:tag"));
}

async fn running_the_same_import_again_changes_nothing(under: Under) {
    let fixture = Fixture::new();
    let path = fixture.dir();
    let first = import(&path, &under.target, Options::default())
        .await
        .expect("the first import runs");
    let second = import(&path, &under.target, Options::default())
        .await
        .expect("the second import runs");
    assert_eq!(first, second);
    let app = spawn_app(under.store.clone()).await;
    assert_every_record_reads_back(&app).await;
}

async fn a_dry_run_reports_what_it_would_write_and_writes_nothing(under: Under) {
    let report = import(
        &Fixture::new().zip(),
        &under.target,
        Options {
            dry_run: true,
            strict: false,
        },
    )
    .await
    .expect("the dry run runs");
    assert_eq!(counts(&report), expected_counts());
    let pipelines = report.table("pipelines").expect("pipelines");
    assert_eq!(
        pipelines.items.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
        [6],
        "two pipelines, their two secret lookups and their two list items"
    );
    assert!(report.to_string().contains("would write"));
    let app = spawn_app(under.store.clone()).await;
    assert_eq!(
        app.ok("/users/get", json!({ "clerkId": "user_full" }))
            .await,
        Value::Null
    );
    assert_eq!(
        app.ok("/provisioning/list", json!({})).await,
        json!({ "credentials": [] })
    );
}

async fn strict_stops_before_writing_anything(under: Under) {
    let result = import(
        &Fixture::new().zip(),
        &under.target,
        Options {
            dry_run: false,
            strict: true,
        },
    )
    .await;
    match result {
        Err(ImportError::Strict { count, report }) => {
            assert_eq!(count, 22);
            assert_eq!(report.written(), 0);
        }
        other => panic!("expected a strict stop, got {other:?}"),
    }
    let app = spawn_app(under.store.clone()).await;
    assert_eq!(
        app.ok("/account/getOrCreate", json!({ "userId": "acct-full" }))
            .await["account"]["planTier"],
        json!("free"),
        "nothing was imported: getOrCreate creates the default account"
    );
}

service_tests::conformance!(embedded(), dynamo;
    a_snapshot_imports_and_every_record_reads_back_through_the_routes,
    bad_documents_are_reported_with_table_line_and_reason,
    running_the_same_import_again_changes_nothing,
    a_dry_run_reports_what_it_would_write_and_writes_nothing,
    strict_stops_before_writing_anything,
    a_second_import_restores_the_snapshot_over_later_changes,
);

#[test]
fn every_table_is_named_in_the_stack_outputs_the_import_reads() {
    let template = service_tests::template::expanded();
    let outputs: Vec<Value> = template["Outputs"]
        .as_mapping()
        .expect("Outputs")
        .keys()
        .map(|key| key.as_str().expect("output names are strings"))
        .map(|key| json!({ "OutputKey": key, "OutputValue": format!("stack-{key}") }))
        .collect();
    let names =
        TableNames::from_stack_outputs(&Value::Array(outputs).to_string()).expect("outputs parse");
    for table in devserver::tables() {
        assert_eq!(
            names.name(table),
            format!("stack-{}Name", table.resource),
            "{} has an output",
            table.resource
        );
    }
}

async fn a_second_import_restores_the_snapshot_over_later_changes(under: Under) {
    let path = Fixture::new().zip();
    import(&path, &under.target, Options::default())
        .await
        .expect("the import runs");
    let app = spawn_app(under.store.clone()).await;
    let find_active = json!({ "userId": "prov-user", "provider": "openai" });
    app.ok(
        "/provisioning/markRevoked",
        json!({ "credentialId": "cred-new" }),
    )
    .await;
    assert_eq!(
        app.ok("/provisioning/findActive", find_active.clone())
            .await["credential"]["id"],
        json!("cred-old")
    );
    app.ok(
        "/workspaceLayouts/save",
        json!({ "payload": { "userId": "layout-full", "layout": { "version": 9 } } }),
    )
    .await;
    app.ok("/workspaceLayouts/clear", json!({ "userId": "layout-min" }))
        .await;
    let rotated = app
        .ok(
            "/pipelines/update",
            json!({ "id": "pipe-1", "input": { "rotateSecret": true } }),
        )
        .await["pipeline"]["webhookSecret"]
        .clone();
    assert_ne!(rotated, json!(SECRET_1));

    let doc_t = json!({ "accountId": "acc-t", "documentId": "doc-t" });
    let mut later = doc_t.clone();
    later["payload"] = json!({ "translationId": "tr-later", "sourceText": "s", "sourceLanguageCode": "en",
        "targetLanguageCode": "fr", "translatedText": "t", "keepOriginalApplied": true, "provider": "p" });
    assert_eq!(
        app.ok("/translations/create", later.clone()).await["historySize"],
        4,
        "the imported meta holds the snapshot's highest index"
    );
    let mut promote = doc_t.clone();
    promote["translationId"] = json!("tr-1");
    app.ok("/translations/promote", promote).await;
    let mut keep = doc_t.clone();
    keep["keepLatest"] = json!(true);
    assert_eq!(
        app.ok("/translations/clear", keep).await,
        json!({ "deletedCount": 2 })
    );

    import(&path, &under.target, Options::default())
        .await
        .expect("the second import runs");
    assert_eq!(
        app.ok("/translations/list", doc_t.clone()).await,
        json!({ "items": [
            Fixture::translation("tr-2", "doc-t", 3),
            Fixture::translation("tr-1", "doc-t", 1),
        ] }),
        "the snapshot's history again, the later translations gone"
    );
    assert_eq!(
        app.ok("/translations/create", later).await["historySize"],
        4
    );
    assert_eq!(
        app.ok("/provisioning/findActive", find_active).await["credential"]["id"],
        json!("cred-new"),
        "the snapshot's state again, in the active index too"
    );
    let listed = app.ok("/provisioning/list", json!({})).await;
    assert_eq!(
        listed["credentials"].as_array().map(Vec::len),
        Some(4),
        "no index entry twice: {listed}"
    );
    assert_eq!(
        app.ok(
            "/pipelines/findByWebhookSecret",
            json!({ "secret": SECRET_1 })
        )
        .await["pipeline"]["id"],
        json!("pipe-1")
    );
    assert_eq!(
        app.ok(
            "/pipelines/findByWebhookSecret",
            json!({ "secret": rotated })
        )
        .await,
        json!({ "pipeline": null }),
        "the secret issued after the export no longer resolves"
    );
    assert_the_layouts_read_back(&app).await;
}

/// Makes the fields of document `i` of a table.
type DocumentOf = Box<dyn Fn(usize) -> Value>;

/// `documents` documents over four tables, as a directory export.
fn large_export(documents: usize) -> PathBuf {
    let dir = scratch("large-export");
    let quarter = documents / 4;
    let tables: [(&str, DocumentOf); 4] = [
        (
            "sessions",
            Box::new(
                |i| json!({ "id": format!("s{i}"), "secret": format!("enc:{i}"), "expiresAt": 1_900_000_000_000u64 + i as u64 }),
            ),
        ),
        (
            "users",
            Box::new(
                |i| json!({ "clerkId": format!("user_{i}"), "email": format!("u{i}@example.com"), "createdAt": i, "updatedAt": i }),
            ),
        ),
        (
            "provisioning_usage",
            Box::new(
                |i| json!({ "id": format!("use-{i}"), "userId": format!("user_{}", i % 1000), "provider": "openai", "tokensUsed": i, "costMinorUnits": 1, "recordedAt": i }),
            ),
        ),
        (
            "history_entries",
            Box::new(|i| history_entry(&format!("user_{}", i / 200), i % 200)),
        ),
    ];
    let mut list = String::new();
    for (n, (table, make)) in tables.iter().enumerate() {
        list.push_str(&json!({ "name": table, "id": 10001 + n }).to_string());
        list.push('\n');
        let mut text = String::new();
        for i in 0..quarter {
            text.push_str(&doc(&format!("{table}-{i}"), 1000 + i, make(i)).to_string());
            text.push('\n');
        }
        std::fs::create_dir_all(dir.join(table)).expect("table dir");
        std::fs::write(dir.join(table).join("documents.jsonl"), text).expect("documents");
    }
    std::fs::create_dir_all(dir.join("_tables")).expect("_tables");
    std::fs::write(dir.join("_tables/documents.jsonl"), list).expect("table list");
    dir
}

/// Imports 100,000 documents and prints the rate (`-- --nocapture` shows it); the bound is loose,
/// it only catches an import that stopped batching or stalls on retries.
async fn import_at_scale(under: Under, store: &str) {
    const DOCUMENTS: usize = 100_000;
    let path = large_export(DOCUMENTS);
    let started = std::time::Instant::now();
    let mut snapshot = Snapshot::open(&path).expect("the export opens");
    let report = convex_import::run(
        &mut snapshot,
        &under.target,
        Options::default(),
        &Progress::new(Box::new(std::io::stderr())),
    )
    .await
    .expect("the import runs");
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "import of {DOCUMENTS} documents into {store}: {seconds:.1} s, {:.0} documents/s",
        DOCUMENTS as f64 / seconds
    );
    assert_eq!(report.written(), DOCUMENTS);
    assert_eq!(report.skipped(), 0);
    assert!(seconds < 600.0, "{seconds:.1} s");
    let app = spawn_app(under.store.clone()).await;
    assert_eq!(
        app.ok("/users/get", json!({ "clerkId": "user_24999" }))
            .await["email"],
        json!("u24999@example.com")
    );
    let usage = app
        .ok(
            "/provisioning/listUsage",
            json!({ "userId": "user_7", "limit": 1000 }),
        )
        .await;
    assert_eq!(usage["usage"].as_array().map(Vec::len), Some(25));
    assert_eq!(usage["usage"][0]["id"], json!("use-24007"));
}

#[tokio::test]
async fn a_hundred_thousand_documents_import_into_the_embedded_store() {
    import_at_scale(embedded(), "the embedded store (in memory)").await;
}

#[cfg(feature = "dynamodb-local")]
#[tokio::test]
async fn a_hundred_thousand_documents_import_into_dynamodb_local() {
    let tables = service_tests::DynamoTables::create().await;
    import_at_scale(dynamo(&tables), "DynamoDB Local").await;
}
