//! The translations group's writes under faults: each is one transaction with a
//! `ClientRequestToken` (the generation switch, for `clear` and a collapse, then the sweep), so a
//! repeat after a lost answer is answered as the first: no second index taken, no second clear.

use super::{under_every_fault, WriteCase};
use serde_json::{json, Value};
use service_tests::TestApp;

fn doc(key: &str, extra: Value) -> Value {
    let mut args = json!({ "accountId": key, "documentId": "doc" });
    args.as_object_mut()
        .expect("an object")
        .extend(extra.as_object().expect("an object").clone());
    args
}

async fn create(app: &TestApp, key: &str, id: &str) {
    let payload = json!({ "translationId": id, "sourceText": "s", "sourceLanguageCode": "en",
        "targetLanguageCode": "fr", "translatedText": "t", "keepOriginalApplied": true, "provider": "p" });
    app.ok(
        "/translations/create",
        doc(key, json!({ "payload": payload })),
    )
    .await;
}

/// The document's (id, sequenceIndex, adopted), highest index first.
async fn history(app: &TestApp, key: &str) -> Vec<(String, u64, bool)> {
    app.ok("/translations/list", doc(key, json!({}))).await["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| {
            (
                t["id"].as_str().expect("an id").to_owned(),
                t["sequenceIndex"].as_u64().expect("an index"),
                t.get("adoptedAt").is_some(),
            )
        })
        .collect()
}

/// The index of `id`, if it is in the document.
async fn index_of(app: &TestApp, key: &str, id: &str) -> Option<u64> {
    history(app, key)
        .await
        .into_iter()
        .find(|(found, _, _)| found == id)
        .map(|(_, index, _)| index)
}

/// A create on top of one translation: applied once, it takes index 2; each more application
/// would take the next.
struct Create;

impl WriteCase for Create {
    const PATH: &'static str = "/translations/create";
    const FUNCTION: &'static str = "translations:create";
    const OP: &'static str = "TransactWriteItems";

    async fn setup(&self, app: &TestApp, key: &str) {
        create(app, key, "first").await;
    }

    fn args(&self, key: &str) -> Value {
        let payload = json!({ "translationId": "new", "sourceText": "s", "sourceLanguageCode": "en",
            "targetLanguageCode": "fr", "translatedText": "t", "keepOriginalApplied": false, "provider": "p" });
        doc(key, json!({ "payload": payload }))
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        let applied = index_of(app, key, "new").await.map_or(0, |index| index - 1);
        applied as u32
    }

    fn refused(&self, value: &Value) -> bool {
        value["translation"].is_null() || value["historySize"] != 2
    }
}

/// A promote of the older of two: applied once, it takes index 3.
struct Promote;

impl WriteCase for Promote {
    const PATH: &'static str = "/translations/promote";
    const FUNCTION: &'static str = "translations:promote";
    const OP: &'static str = "TransactWriteItems";

    async fn setup(&self, app: &TestApp, key: &str) {
        create(app, key, "a").await;
        create(app, key, "b").await;
    }

    fn args(&self, key: &str) -> Value {
        doc(key, json!({ "translationId": "a" }))
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        index_of(app, key, "a")
            .await
            .expect("a is there")
            .saturating_sub(2) as u32
    }

    fn refused(&self, value: &Value) -> bool {
        value["translation"]["sequenceIndex"] != 3 || value["reordered"] != true
    }
}

/// A clear keeping the latest of three: it must answer the 2 it deleted, never 0 from a repeat.
struct Clear;

impl WriteCase for Clear {
    const PATH: &'static str = "/translations/clear";
    const FUNCTION: &'static str = "translations:clear";
    const OP: &'static str = "TransactWriteItems";

    async fn setup(&self, app: &TestApp, key: &str) {
        for id in ["a", "b", "c"] {
            create(app, key, id).await;
        }
    }

    fn args(&self, key: &str) -> Value {
        doc(key, json!({ "keepLatest": true }))
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        let history = history(app, key).await;
        if history.len() == 3 {
            return 0;
        }
        assert_eq!(
            history,
            [("c".to_owned(), 1, false)],
            "{key}: the survivor alone"
        );
        1
    }

    fn refused(&self, value: &Value) -> bool {
        value["deletedCount"] != 2
    }
}

/// An adoption with collapse of the older of two.
struct Collapse;

impl WriteCase for Collapse {
    const PATH: &'static str = "/translations/markAdopted";
    const FUNCTION: &'static str = "translations:markAdopted";
    const OP: &'static str = "TransactWriteItems";

    async fn setup(&self, app: &TestApp, key: &str) {
        create(app, key, "a").await;
        create(app, key, "b").await;
    }

    fn args(&self, key: &str) -> Value {
        doc(
            key,
            json!({ "translationId": "a", "collapseHistory": true }),
        )
    }

    async fn applied(&self, app: &TestApp, key: &str) -> u32 {
        let history = history(app, key).await;
        if history.len() == 2 {
            assert!(history.iter().all(|(_, _, adopted)| !adopted), "{key}");
            return 0;
        }
        assert_eq!(history, [("a".to_owned(), 1, true)], "{key}");
        1
    }

    fn refused(&self, value: &Value) -> bool {
        value["translation"].is_null() || value["collapsed"] != true
    }
}

#[tokio::test]
async fn create_takes_one_index_under_every_fault() {
    under_every_fault(Create).await;
}

#[tokio::test]
async fn promote_takes_one_index_under_every_fault() {
    under_every_fault(Promote).await;
}

#[tokio::test]
async fn clear_counts_what_it_deleted_under_every_fault() {
    under_every_fault(Clear).await;
}

#[tokio::test]
async fn a_collapse_leaves_the_adopted_one_under_every_fault() {
    under_every_fault(Collapse).await;
}
