//! The translations store contract (CONTRACT.md §7.2, §7.10, §7.11 decision 3) on both stores,
//! its concurrency cases, and the DynamoDB calls per route. The routes over both surfaces are in
//! `translations_wire.rs`.

use serde_json::json;
use service_tests::{conformance, embedded_db, key, DynamoTables};
use shared::StoreError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use translations::{
    Document, DynamoTranslationsStore, EmbeddedTranslationsStore, Page, Translation,
    TranslationInput, TranslationsStore,
};

fn embedded_store() -> EmbeddedTranslationsStore {
    EmbeddedTranslationsStore::new(embedded_db()).unwrap()
}

#[cfg_attr(not(feature = "dynamodb-local"), allow(dead_code))]
fn dynamo(tables: &DynamoTables) -> DynamoTranslationsStore {
    DynamoTranslationsStore::new(tables.client.clone(), tables.table("translations"))
}

/// 2026-01-01T00:00:00.000Z plus `seconds`, as JavaScript's `toISOString` writes it.
fn at(seconds: u32) -> String {
    shared::clock::iso8601(1_767_225_600_000.0 + f64::from(seconds) * 1000.0)
}

fn document(account: &str, doc: &str) -> Document {
    Document::new(key(account), key(doc))
}

fn input(id: Option<&str>, text: &str) -> TranslationInput {
    let mut value = json!({
        "sourceText": format!("source of {text}"),
        "sourceLanguageCode": "unknown",
        "targetLanguageCode": "fr",
        "translatedText": text,
        "keepOriginalApplied": true,
        "provider": "openai",
    });
    if let Some(id) = id {
        value["translationId"] = json!(id);
    }
    serde_json::from_value(value).unwrap()
}

/// Creates translation `id` in `doc` at time `seconds`.
async fn create(
    store: &impl TranslationsStore,
    doc: &Document,
    id: &str,
    seconds: u32,
) -> Translation {
    store
        .create(Translation::new(
            doc.clone(),
            input(Some(id), id),
            &at(seconds),
        ))
        .await
        .unwrap()
}

/// Creates `count` translations `t001`, `t002`, ... one after the other: indexes 1..=count.
async fn create_many(store: &impl TranslationsStore, doc: &Document, count: u32) {
    for i in 1..=count {
        create(store, doc, &format!("t{i:03}"), i).await;
    }
}

async fn list(
    store: &impl TranslationsStore,
    doc: &Document,
    limit: usize,
    below: Option<u64>,
) -> Page {
    store.list(doc, limit, below).await.unwrap()
}

/// The whole history, highest index first.
async fn all(store: &impl TranslationsStore, doc: &Document) -> Vec<Translation> {
    list(store, doc, 100, None).await.items
}

/// (id, index) of each item.
fn ids(items: &[Translation]) -> Vec<(String, u64)> {
    items
        .iter()
        .map(|t| (t.id.as_str().to_owned(), t.sequence_index))
        .collect()
}

fn pairs(expected: &[(&str, u64)]) -> Vec<(String, u64)> {
    expected
        .iter()
        .map(|(id, i)| (id.to_string(), *i))
        .collect()
}

conformance!(embedded_store(), dynamo;
    an_empty_document_lists_nothing,
    creates_take_the_next_index_and_list_newest_first,
    a_create_without_an_id_gets_a_uuid_and_one_with_an_id_keeps_it_verbatim,
    a_create_with_an_existing_id_replaces_it_with_the_next_index,
    fifty_parallel_creates_get_the_distinct_indexes_1_to_50,
    pages_follow_the_limit_and_the_cursor_bound,
    documents_and_accounts_never_mix,
    promote_takes_the_next_index_and_keeps_the_rest,
    promote_of_an_absent_translation_changes_nothing,
    creates_after_promote_and_clear_follow_the_contracts_numbering,
    clear_deletes_all_or_all_but_the_highest_renumbered_to_1,
    mark_adopted_adopts_and_with_collapse_keeps_only_the_adopted_one,
    mark_adopted_of_an_absent_translation_deletes_nothing_even_with_collapse,
    a_clear_and_a_collapse_of_150_translations_leave_exactly_the_survivor,
    readers_never_see_a_partly_cleared_or_collapsed_document,
    concurrent_promotes_and_creates_never_share_an_index,
    an_oversized_translation_is_refused_and_nothing_is_written,
);

async fn an_empty_document_lists_nothing(store: impl TranslationsStore) {
    let doc = document("acc", "doc");
    assert_eq!(
        list(&store, &doc, 20, None).await,
        Page {
            items: vec![],
            more: false
        }
    );
    assert_eq!(
        list(&store, &doc, 20, Some(5)).await,
        Page {
            items: vec![],
            more: false
        }
    );
    assert_eq!(store.clear(&doc, true, &at(1)).await.unwrap(), 0);
    assert_eq!(store.clear(&doc, false, &at(1)).await.unwrap(), 0);
    assert_eq!(all(&store, &doc).await, []);
}

async fn creates_take_the_next_index_and_list_newest_first(store: impl TranslationsStore) {
    let doc = document("acc", "doc");
    let first = create(&store, &doc, "a", 1).await;
    let second = create(&store, &doc, "b", 2).await;
    assert_eq!((first.sequence_index, second.sequence_index), (1, 2));
    assert_eq!(first.created_at, at(1));
    assert_eq!(first.updated_at, at(1));
    assert_eq!(first.adopted_at, None);
    assert_eq!(first.account_id.as_str(), "acc");
    assert_eq!(first.document_id.as_str(), "doc");
    assert_eq!(
        all(&store, &doc).await,
        [second, first],
        "read back whole, newest first"
    );
}

async fn a_create_without_an_id_gets_a_uuid_and_one_with_an_id_keeps_it_verbatim(
    store: impl TranslationsStore,
) {
    let doc = document("acc", "doc");
    let generated = store
        .create(Translation::new(doc.clone(), input(None, "x"), &at(1)))
        .await
        .unwrap();
    let id = generated.id.as_str();
    let uuid = uuid::Uuid::parse_str(id).unwrap();
    assert_eq!(uuid.get_version_num(), 4);
    assert_eq!(id, uuid.hyphenated().to_string(), "lowercase 8-4-4-4-12");
    let odd = " Ünïcödé id / with # and meta ";
    let given = create(&store, &doc, odd, 2).await;
    assert_eq!(given.id.as_str(), odd);
    let long = "x".repeat(1024);
    create(&store, &doc, &long, 3).await;
    create(&store, &doc, "meta", 4).await;
    let listed = all(&store, &doc).await;
    assert_eq!(
        ids(&listed),
        [
            ("meta".into(), 4),
            (long, 3),
            (odd.into(), 2),
            (id.into(), 1)
        ]
    );
}

async fn a_create_with_an_existing_id_replaces_it_with_the_next_index(
    store: impl TranslationsStore,
) {
    let doc = document("acc", "doc");
    create(&store, &doc, "a", 1).await;
    create(&store, &doc, "b", 2).await;
    let mut input = input(Some("a"), "replaced");
    input.metadata =
        Some(serde_json::from_value(json!({ "model": "m", "tokensUsed": 12.5 })).unwrap());
    let replaced = store
        .create(Translation::new(doc.clone(), input, &at(3)))
        .await
        .unwrap();
    assert_eq!(
        replaced.sequence_index, 3,
        "highest + 1, counting the old one"
    );
    assert_eq!(
        all(&store, &doc).await,
        [replaced.clone(), all(&store, &doc).await[1].clone()]
    );
    assert_eq!(ids(&all(&store, &doc).await), pairs(&[("a", 3), ("b", 2)]));
    assert_eq!(all(&store, &doc).await[0].translated_text, "replaced");
    assert_eq!(
        store.clear(&doc, false, &at(4)).await.unwrap(),
        2,
        "one item per id"
    );
}

async fn fifty_parallel_creates_get_the_distinct_indexes_1_to_50(store: impl TranslationsStore) {
    let doc = document("acc", "busy");
    let created = futures::future::join_all((0..50).map(|i| {
        store.create(Translation::new(
            doc.clone(),
            input(None, &format!("p{i}")),
            &at(i),
        ))
    }))
    .await;
    let mut indexes: Vec<u64> = created
        .into_iter()
        .map(|t| t.unwrap().sequence_index)
        .collect();
    indexes.sort_unstable();
    assert_eq!(indexes, (1..=50).collect::<Vec<u64>>());
    let listed = list(&store, &doc, 100, None).await;
    assert_eq!(
        listed
            .items
            .iter()
            .map(|t| t.sequence_index)
            .collect::<Vec<_>>(),
        (1..=50).rev().collect::<Vec<u64>>()
    );
    assert!(!listed.more);
}

async fn pages_follow_the_limit_and_the_cursor_bound(store: impl TranslationsStore) {
    let doc = document("acc", "doc");
    create_many(&store, &doc, 21).await;
    let first = list(&store, &doc, 20, None).await;
    assert_eq!(first.items.len(), 20);
    assert_eq!(first.items[0].sequence_index, 21);
    assert_eq!(first.items[19].sequence_index, 2);
    assert!(first.more, "one more follows the 20th");
    let rest = list(&store, &doc, 20, Some(2)).await;
    assert_eq!(ids(&rest.items), pairs(&[("t001", 1)]));
    assert!(!rest.more);
    let exact = list(&store, &doc, 21, None).await;
    assert_eq!(exact.items.len(), 21);
    assert!(
        !exact.more,
        "a page with exactly limit items and nothing after"
    );
    let below = list(&store, &doc, 2, Some(3)).await;
    assert_eq!(ids(&below.items), pairs(&[("t002", 2), ("t001", 1)]));
    assert!(!below.more);
    let middle = list(&store, &doc, 3, Some(10)).await;
    assert_eq!(
        ids(&middle.items),
        pairs(&[("t009", 9), ("t008", 8), ("t007", 7)])
    );
    assert!(middle.more);
    assert_eq!(list(&store, &doc, 5, Some(1)).await.items, []);
    let above_all = list(&store, &doc, 2, Some(1000)).await;
    assert_eq!(ids(&above_all.items), pairs(&[("t021", 21), ("t020", 20)]));
    assert!(above_all.more);
    let one = list(&store, &doc, 1, None).await;
    assert_eq!(ids(&one.items), pairs(&[("t021", 21)]));
    assert!(one.more);
}

async fn documents_and_accounts_never_mix(store: impl TranslationsStore) {
    let mine = document("acc", "doc");
    let other_doc = document("acc", "doc2");
    let other_account = document("acc2", "doc");
    // Length-prefixed keys: these two pairs concatenate to the same text.
    let split_a = document("ab", "c");
    let split_b = document("a", "bc");
    create(&store, &mine, "same-id", 1).await;
    create(&store, &other_doc, "same-id", 2).await;
    create(&store, &other_account, "same-id", 3).await;
    create(&store, &split_a, "x", 4).await;
    create(&store, &split_b, "y", 5).await;
    for (doc, expected) in [
        (&mine, "acc/doc"),
        (&other_doc, "acc/doc2"),
        (&other_account, "acc2/doc"),
    ] {
        let listed = all(&store, doc).await;
        assert_eq!(listed.len(), 1, "{expected}");
        let t = &listed[0];
        assert_eq!(format!("{}/{}", t.account_id, t.document_id), expected);
        assert_eq!(t.sequence_index, 1, "each document numbers its own");
    }
    assert_eq!(ids(&all(&store, &split_a).await), pairs(&[("x", 1)]));
    assert_eq!(ids(&all(&store, &split_b).await), pairs(&[("y", 1)]));
    assert_eq!(store.clear(&mine, false, &at(6)).await.unwrap(), 1);
    assert_eq!(all(&store, &other_doc).await.len(), 1);
    assert_eq!(all(&store, &other_account).await.len(), 1);
    assert!(store
        .promote(&mine, &key("same-id"), &at(7))
        .await
        .unwrap()
        .is_none());
}

async fn promote_takes_the_next_index_and_keeps_the_rest(store: impl TranslationsStore) {
    let doc = document("acc", "doc");
    create(&store, &doc, "older", 1).await;
    create(&store, &doc, "newer", 2).await;
    let adopted = store
        .mark_adopted(&doc, &key("older"), false, &at(3))
        .await
        .unwrap()
        .unwrap();
    let promoted = store
        .promote(&doc, &key("older"), &at(4))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(promoted.sequence_index, 3);
    assert_eq!(promoted.updated_at, at(4));
    assert_eq!(promoted.created_at, at(1), "createdAt kept");
    assert_eq!(promoted.adopted_at, Some(at(3)), "adoptedAt kept");
    assert_eq!(
        promoted,
        Translation {
            sequence_index: 3,
            updated_at: at(4),
            ..adopted
        }
    );
    let listed = all(&store, &doc).await;
    assert_eq!(ids(&listed), pairs(&[("older", 3), ("newer", 2)]));
    assert_eq!(listed[0], promoted);
    let again = store
        .promote(&doc, &key("older"), &at(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.sequence_index, 4, "the newest is still bumped");
    assert_eq!(
        ids(&all(&store, &doc).await),
        pairs(&[("older", 4), ("newer", 2)])
    );
}

async fn promote_of_an_absent_translation_changes_nothing(store: impl TranslationsStore) {
    let doc = document("acc", "doc");
    assert_eq!(
        store.promote(&doc, &key("nope"), &at(1)).await.unwrap(),
        None
    );
    create(&store, &doc, "a", 1).await;
    let before = all(&store, &doc).await;
    assert_eq!(
        store.promote(&doc, &key("nope"), &at(2)).await.unwrap(),
        None
    );
    assert_eq!(all(&store, &doc).await, before);
    assert_eq!(
        create(&store, &doc, "b", 3).await.sequence_index,
        2,
        "no index was taken"
    );
}

async fn creates_after_promote_and_clear_follow_the_contracts_numbering(
    store: impl TranslationsStore,
) {
    let doc = document("acc", "doc");
    create_many(&store, &doc, 3).await;
    store
        .promote(&doc, &key("t001"), &at(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        create(&store, &doc, "after-promote", 11)
            .await
            .sequence_index,
        5,
        "the gap stays"
    );
    assert_eq!(
        ids(&all(&store, &doc).await),
        pairs(&[("after-promote", 5), ("t001", 4), ("t003", 3), ("t002", 2)])
    );
    assert_eq!(store.clear(&doc, false, &at(12)).await.unwrap(), 4);
    assert_eq!(
        create(&store, &doc, "after-clear", 13).await.sequence_index,
        1
    );
    create(&store, &doc, "more", 14).await;
    assert_eq!(store.clear(&doc, true, &at(15)).await.unwrap(), 1);
    assert_eq!(
        create(&store, &doc, "after-keep", 16).await.sequence_index,
        2
    );
    assert_eq!(
        ids(&all(&store, &doc).await),
        pairs(&[("after-keep", 2), ("more", 1)])
    );
}

async fn clear_deletes_all_or_all_but_the_highest_renumbered_to_1(store: impl TranslationsStore) {
    let doc = document("acc", "doc");
    let other = document("acc", "other");
    create_many(&store, &other, 2).await;

    create_many(&store, &doc, 3).await;
    let highest = all(&store, &doc).await[0].clone();
    assert_eq!(store.clear(&doc, true, &at(50)).await.unwrap(), 2);
    let kept = all(&store, &doc).await;
    assert_eq!(
        kept,
        [Translation {
            sequence_index: 1,
            updated_at: at(50),
            ..highest
        }]
    );
    assert_eq!(
        store.clear(&doc, true, &at(60)).await.unwrap(),
        0,
        "one item: nothing deleted"
    );
    assert_eq!(
        all(&store, &doc).await[0].updated_at,
        at(60),
        "but renumbered and updated"
    );
    assert_eq!(all(&store, &doc).await[0].sequence_index, 1);

    create(&store, &doc, "second", 61).await;
    assert_eq!(store.clear(&doc, false, &at(70)).await.unwrap(), 2);
    assert_eq!(all(&store, &doc).await, []);
    assert_eq!(store.clear(&doc, false, &at(71)).await.unwrap(), 0);
    assert_eq!(
        store.promote(&doc, &key("second"), &at(72)).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .mark_adopted(&doc, &key("t003"), false, &at(72))
            .await
            .unwrap(),
        None,
        "a cleared translation is gone for point reads too"
    );
    assert_eq!(
        ids(&all(&store, &other).await),
        pairs(&[("t002", 2), ("t001", 1)])
    );
}

async fn mark_adopted_adopts_and_with_collapse_keeps_only_the_adopted_one(
    store: impl TranslationsStore,
) {
    let doc = document("acc", "doc");
    let older = create(&store, &doc, "older", 1).await;
    let newer = create(&store, &doc, "newer", 2).await;
    let adopted = store
        .mark_adopted(&doc, &key("older"), false, &at(3))
        .await
        .unwrap()
        .unwrap();
    let expected = Translation {
        keep_original_applied: false,
        adopted_at: Some(at(3)),
        updated_at: at(3),
        ..older.clone()
    };
    assert_eq!(adopted, expected);
    assert_eq!(all(&store, &doc).await, [newer.clone(), expected]);
    let again = store
        .mark_adopted(&doc, &key("older"), false, &at(4))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.adopted_at, Some(at(4)), "adopting twice re-stamps");
    assert_eq!(again.updated_at, at(4));

    let collapsed = store
        .mark_adopted(&doc, &key("older"), true, &at(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        collapsed,
        Translation {
            sequence_index: 1,
            keep_original_applied: false,
            adopted_at: Some(at(5)),
            updated_at: at(5),
            ..older
        },
        "the adopted one survives, not the newest"
    );
    assert_eq!(all(&store, &doc).await, [collapsed]);
    assert_eq!(create(&store, &doc, "next", 6).await.sequence_index, 2);

    let doc2 = document("acc", "doc2");
    create(&store, &doc2, "a", 1).await;
    create(&store, &doc2, "b", 2).await;
    let kept = store
        .mark_adopted(&doc2, &key("b"), true, &at(3))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.sequence_index, 1);
    assert_eq!(ids(&all(&store, &doc2).await), pairs(&[("b", 1)]));
}

async fn mark_adopted_of_an_absent_translation_deletes_nothing_even_with_collapse(
    store: impl TranslationsStore,
) {
    let doc = document("acc", "doc");
    assert_eq!(
        store
            .mark_adopted(&doc, &key("x"), true, &at(1))
            .await
            .unwrap(),
        None
    );
    create_many(&store, &doc, 2).await;
    let before = all(&store, &doc).await;
    assert_eq!(
        store
            .mark_adopted(&doc, &key("x"), true, &at(2))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .mark_adopted(&doc, &key("x"), false, &at(2))
            .await
            .unwrap(),
        None
    );
    assert_eq!(all(&store, &doc).await, before);
}

/// Creates `count` translations `t001`, ... one after the other (the concurrency cases are
/// separate tests); returns them by index.
async fn create_numbered(
    store: &impl TranslationsStore,
    doc: &Document,
    count: u32,
) -> Vec<Translation> {
    let mut created = Vec::with_capacity(count as usize);
    for i in 1..=count {
        created.push(create(store, doc, &format!("t{i:03}"), i).await);
    }
    assert_eq!(
        created.iter().map(|t| t.sequence_index).collect::<Vec<_>>(),
        (1..=u64::from(count)).collect::<Vec<_>>()
    );
    created
}

async fn a_clear_and_a_collapse_of_150_translations_leave_exactly_the_survivor(
    store: impl TranslationsStore,
) {
    let doc = document("acc", "big");
    let created = create_numbered(&store, &doc, 150).await;
    let highest = created.last().unwrap().clone();
    assert_eq!(store.clear(&doc, true, &at(500)).await.unwrap(), 149);
    assert_eq!(
        all(&store, &doc).await,
        [Translation {
            sequence_index: 1,
            updated_at: at(500),
            ..highest.clone()
        }]
    );
    for gone in &created[..149] {
        assert_eq!(
            store.promote(&doc, &gone.id, &at(501)).await.unwrap(),
            None,
            "{}",
            gone.id
        );
    }

    let doc = document("acc", "big2");
    let created = create_numbered(&store, &doc, 150).await;
    let chosen = &created[40];
    let collapsed = store
        .mark_adopted(&doc, &chosen.id, true, &at(600))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(collapsed.id, chosen.id);
    assert_eq!(all(&store, &doc).await, [collapsed]);
    assert_eq!(
        create(&store, &doc, "t001", 601).await.sequence_index,
        2,
        "an id of the cleared history is new again"
    );
    assert_eq!(
        ids(&all(&store, &doc).await),
        pairs(&[("t001", 2), (chosen.id.as_str(), 1)])
    );

    let doc = document("acc", "big3");
    create_numbered(&store, &doc, 150).await;
    assert_eq!(store.clear(&doc, false, &at(700)).await.unwrap(), 150);
    assert_eq!(
        list(&store, &doc, 100, None).await,
        Page {
            items: vec![],
            more: false
        }
    );
    assert_eq!(list(&store, &doc, 100, Some(100)).await.items, []);
}

/// While a clear (then a collapse) of 150 translations runs, lists in a loop (first pages and
/// pages below a cursor) only ever answer the page of the document before or after it.
async fn readers_never_see_a_partly_cleared_or_collapsed_document(store: impl TranslationsStore) {
    let store = Arc::new(store);
    let doc = document("acc", "watched");
    create_numbered(store.as_ref(), &doc, 150).await;
    for collapse in [false, true] {
        if collapse {
            assert_eq!(store.clear(&doc, false, &at(800)).await.unwrap(), 1);
            create_numbered(store.as_ref(), &doc, 150).await;
        }
        let pages = [(20, None), (30, Some(100)), (100, Some(3))];
        let mut before = Vec::new();
        for (limit, below) in pages {
            before.push(list(store.as_ref(), &doc, limit, below).await);
        }
        let done = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..3)
            .map(|r| {
                let (store, doc, done) = (store.clone(), doc.clone(), done.clone());
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    while !done.load(Ordering::SeqCst) {
                        let (limit, below) = pages[r];
                        seen.push((r, store.list(&doc, limit, below).await.unwrap()));
                    }
                    seen
                })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        if collapse {
            store
                .mark_adopted(&doc, &key("t075"), true, &at(900))
                .await
                .unwrap()
                .unwrap();
        } else {
            assert_eq!(store.clear(&doc, true, &at(900)).await.unwrap(), 149);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        done.store(true, Ordering::SeqCst);
        let mut after = Vec::new();
        for (limit, below) in pages {
            after.push(list(store.as_ref(), &doc, limit, below).await);
        }
        assert_eq!(after[0].items.len(), 1);
        let mut reads = 0;
        for reader in readers {
            for (r, page) in reader.await.unwrap() {
                reads += 1;
                assert!(
                    page == before[r] || page == after[r],
                    "reader {r} saw a page of neither state: {:?}",
                    ids(&page.items)
                );
            }
        }
        assert!(reads >= 3, "the readers ran ({reads} reads)");
    }
}

async fn concurrent_promotes_and_creates_never_share_an_index(store: impl TranslationsStore) {
    let doc = document("acc", "mixed");
    create_many(&store, &doc, 10).await;
    let promotes = (1..=10).map(|i| {
        let id = key(&format!("t{i:03}"));
        let store = &store;
        let doc = &doc;
        async move {
            store
                .promote(doc, &id, &at(100))
                .await
                .unwrap()
                .unwrap()
                .sequence_index
        }
    });
    let creates = (0..10).map(|i| {
        let store = &store;
        let doc = &doc;
        async move {
            create(store, doc, &format!("new{i}"), 100)
                .await
                .sequence_index
        }
    });
    let (mut promoted, created) = futures::future::join(
        futures::future::join_all(promotes),
        futures::future::join_all(creates),
    )
    .await;
    promoted.extend(created);
    promoted.sort_unstable();
    assert_eq!(promoted, (11..=30).collect::<Vec<u64>>());
    let listed = all(&store, &doc).await;
    assert_eq!(
        listed.iter().map(|t| t.sequence_index).collect::<Vec<_>>(),
        (11..=30).rev().collect::<Vec<u64>>()
    );
}

async fn an_oversized_translation_is_refused_and_nothing_is_written(store: impl TranslationsStore) {
    let doc = document("acc", "doc");
    let big = Translation::new(
        doc.clone(),
        input(Some("big"), &"x".repeat(410 * 1024)),
        &at(1),
    );
    assert!(matches!(
        store.create(big).await,
        Err(StoreError::TooLarge(_))
    ));
    assert_eq!(all(&store, &doc).await, []);
    assert_eq!(
        create(&store, &doc, "small", 2).await.sequence_index,
        1,
        "no index was taken"
    );
}

/// DynamoDB calls per route (the budget in the crate docs).
#[cfg(feature = "dynamodb-local")]
mod round_trips {
    use super::*;

    #[tokio::test]
    async fn each_route_makes_the_calls_of_its_budget() {
        let tables = DynamoTables::create().await;
        let store = dynamo(&tables);
        let calls = || tables.calls.take();
        let doc = document("acc", "doc");

        list(&store, &doc, 20, None).await;
        assert_eq!(calls(), ["Query"], "list of an empty document");
        create(&store, &doc, "a", 1).await;
        assert_eq!(calls(), ["BatchGetItem", "TransactWriteItems"], "create");
        for i in 2..=5 {
            create(&store, &doc, &format!("t{i}"), i).await;
        }
        calls();
        list(&store, &doc, 20, None).await;
        assert_eq!(
            calls(),
            ["Query"],
            "a first page holding the whole document"
        );
        list(&store, &doc, 2, None).await;
        assert_eq!(
            calls(),
            ["Query", "GetItem"],
            "a first page with more after it"
        );
        list(&store, &doc, 2, Some(4)).await;
        assert_eq!(
            calls(),
            ["GetItem", "Query", "GetItem"],
            "a page below a cursor"
        );
        list(&store, &doc, 2, Some(1)).await;
        assert_eq!(calls(), ["GetItem"], "a cursor with nothing below it");
        store
            .promote(&doc, &key("a"), &at(6))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(calls(), ["BatchGetItem", "TransactWriteItems"], "promote");
        assert_eq!(
            store.promote(&doc, &key("nope"), &at(6)).await.unwrap(),
            None
        );
        assert_eq!(calls(), ["BatchGetItem"], "promote of an absent id");
        store
            .mark_adopted(&doc, &key("a"), false, &at(7))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            calls(),
            ["BatchGetItem", "TransactWriteItems"],
            "markAdopted"
        );
        store
            .mark_adopted(&doc, &key("a"), true, &at(8))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            calls(),
            [
                "BatchGetItem",
                "TransactWriteItems",
                "Query",
                "TransactWriteItems"
            ],
            "markAdopted with collapse: the switch, then the sweep of 4"
        );
        assert_eq!(store.promote(&doc, &key("t2"), &at(9)).await.unwrap(), None);
        assert_eq!(
            calls(),
            ["BatchGetItem"],
            "an id of a swept generation is absent"
        );
        assert_eq!(store.clear(&doc, false, &at(9)).await.unwrap(), 1);
        assert_eq!(
            calls(),
            ["Query", "TransactWriteItems", "Query", "TransactWriteItems"],
            "clear of one: the switch, then the sweep of it"
        );
        assert_eq!(store.clear(&doc, false, &at(9)).await.unwrap(), 0);
        assert_eq!(calls(), ["Query"], "clear of an empty document");

        let big = document("acc", "big");
        create_numbered(&store, &big, 250).await;
        calls();
        assert_eq!(store.clear(&big, true, &at(10)).await.unwrap(), 249);
        assert_eq!(
            calls(),
            [
                "Query",
                "TransactWriteItems",
                "Query",
                "TransactWriteItems",
                "TransactWriteItems",
                "TransactWriteItems"
            ],
            "clear of 250: the switch, then the sweep in 3 transactions of at most 100"
        );
    }
}

/// What the DynamoDB items hold: the wire's fields under their names, plus the keys and the
/// generation bookkeeping; the meta holds the counters.
#[cfg(feature = "dynamodb-local")]
#[tokio::test]
async fn items_hold_the_translation_its_keys_and_the_generation_bookkeeping() {
    use translations::attr;
    let tables = DynamoTables::create().await;
    let store = dynamo(&tables);
    let doc = document("acc", "doc");
    create(&store, &doc, "a", 1).await;
    create(&store, &doc, "b", 2).await;
    let get = |sk: String| {
        let (client, table, pk) = (
            tables.client.clone(),
            tables.table("translations"),
            attr::document_key(&doc),
        );
        async move {
            client
                .get_item()
                .table_name(table)
                .key(attr::PK, shared::dynamo::s(pk))
                .key(attr::SK, shared::dynamo::s(sk))
                .consistent_read(true)
                .send()
                .await
                .unwrap()
                .item
                .unwrap()
        }
    };
    let item = get(attr::translation_key("a")).await;
    let mut names: Vec<&str> = item.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "accountId",
            "createdAt",
            "documentId",
            "gen",
            "id",
            "keepOriginalApplied",
            "pk",
            "provider",
            "seqKey",
            "sequenceIndex",
            "sk",
            "sourceLanguageCode",
            "sourceText",
            "targetLanguageCode",
            "translatedText",
            "updatedAt",
            "ver",
        ]
    );
    assert_eq!(item["seqKey"].as_s().unwrap(), &attr::seq_key(0, 1));
    assert_eq!(item["pk"].as_s().unwrap().len(), 64, "a SHA-256, hex");
    let meta = get(attr::META.to_owned()).await;
    let n = |name: &str| meta[name].as_n().unwrap().clone();
    assert_eq!(
        (n("gen"), n("highest"), n("count"), n("ver")),
        ("0".into(), "2".into(), "2".into(), "2".into())
    );
    assert_eq!(meta["seqKey"].as_s().unwrap(), &attr::meta_seq_key(0));
    store.clear(&doc, true, &at(3)).await.unwrap();
    let meta = get(attr::META.to_owned()).await;
    assert_eq!(
        meta["gen"].as_n().unwrap(),
        "1",
        "a clear moves the generation"
    );
    assert_eq!(
        get(attr::translation_key("b")).await["seqKey"]
            .as_s()
            .unwrap(),
        &attr::seq_key(1, 1),
        "the survivor moved with it"
    );
}

#[test]
fn the_template_defines_the_translations_table_its_index_and_a_least_privilege_policy() {
    use translations::attr;
    let template: serde_norway::Value =
        serde_norway::from_str(devserver::tables::TEMPLATE).unwrap();
    let table = &template["Resources"][attr::TABLE.resource]["Properties"];
    let key_names = |keys: &serde_norway::Value| -> Vec<String> {
        keys.as_sequence()
            .unwrap()
            .iter()
            .map(|k| k["AttributeName"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(key_names(&table["KeySchema"]), [attr::PK, attr::SK]);
    let indexes = table["LocalSecondaryIndexes"].as_sequence().unwrap();
    assert_eq!(indexes.len(), 1);
    assert_eq!(indexes[0]["IndexName"], attr::BY_SEQ);
    assert_eq!(
        key_names(&indexes[0]["KeySchema"]),
        [attr::PK, attr::SEQ_KEY]
    );
    assert_eq!(indexes[0]["Projection"]["ProjectionType"], "KEYS_ONLY");
    assert!(
        table.get("GlobalSecondaryIndexes").is_none(),
        "no eventually consistent index"
    );
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(table["DeletionProtectionEnabled"], true);
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );

    let statements =
        &template["Resources"]["TranslationsFunction"]["Properties"]["Policies"][0]["Statement"];
    let actions = service_tests::policy_actions(&template, "TranslationsFunction");
    assert_eq!(
        actions,
        [
            vec![
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:PutItem",
                "dynamodb:DeleteItem"
            ],
            vec!["dynamodb:Query"]
        ]
    );
    let index_arn = format!("{:?}", statements[1]["Resource"]);
    assert!(
        index_arn.contains("/index/bySeq"),
        "Query only on the index: {index_arn}"
    );
}

/// Exactly once: DynamoDB's answer to a transaction that was applied is lost (as when the
/// connection drops after the request went out), and the SDK sends it again with the same
/// `ClientRequestToken`: DynamoDB answers the repeat as the first, the store answers the write as
/// applied, and nothing is applied twice (a second index taken, a second clear).
#[cfg(feature = "dynamodb-local")]
mod lost_answers {
    use super::*;
    use aws_sdk_dynamodb::config::interceptors::FinalizerInterceptorContextMut;
    use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
    use aws_smithy_runtime_api::client::orchestrator::{Metadata, OrchestratorError};
    use std::sync::atomic::AtomicUsize;

    /// Turns the answer of the next applied `TransactWriteItems` into a timeout, once armed.
    #[derive(Debug, Clone, Default)]
    struct LoseAnswer {
        armed: Arc<AtomicBool>,
        lost: Arc<AtomicUsize>,
    }

    impl Intercept for LoseAnswer {
        fn name(&self) -> &'static str {
            "LoseAnswer"
        }

        fn modify_before_attempt_completion(
            &self,
            context: &mut FinalizerInterceptorContextMut<'_>,
            _components: &RuntimeComponents,
            cfg: &mut ConfigBag,
        ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
            let transaction = cfg
                .load::<Metadata>()
                .is_some_and(|m| m.name() == "TransactWriteItems");
            if let Some(outcome) = context.output_or_error_mut() {
                if transaction && outcome.is_ok() && self.armed.swap(false, Ordering::SeqCst) {
                    *outcome = Err(OrchestratorError::timeout("the answer was lost".into()));
                    self.lost.fetch_add(1, Ordering::SeqCst);
                }
            }
            Ok(())
        }
    }

    impl LoseAnswer {
        fn arm(&self) {
            self.armed.store(true, Ordering::SeqCst);
        }

        fn lost(&self) -> usize {
            self.lost.load(Ordering::SeqCst)
        }
    }

    #[tokio::test]
    async fn every_write_whose_answer_was_lost_is_applied_once_and_answered_as_applied() {
        let tables = DynamoTables::create().await;
        let config = shared::Config {
            dynamodb_endpoint: Some(service_tests::dynamodb_endpoint()),
            ..shared::Config::default()
        };
        let lose = LoseAnswer::default();
        let client = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&shared::dynamo::sdk_config(&config).await)
                .interceptor(lose.clone())
                .build(),
        );
        let store = DynamoTranslationsStore::new(client, tables.table("translations"));
        let doc = document("acc", "doc");

        lose.arm();
        assert_eq!(create(&store, &doc, "a", 1).await.sequence_index, 1);
        assert_eq!(
            lose.lost(),
            1,
            "the answer was lost and the SDK sent it again"
        );
        create(&store, &doc, "b", 2).await;
        assert_eq!(
            ids(&all(&store, &doc).await),
            pairs(&[("b", 2), ("a", 1)]),
            "one create, one index"
        );

        lose.arm();
        let promoted = store
            .promote(&doc, &key("a"), &at(3))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(promoted.sequence_index, 3);
        assert_eq!(lose.lost(), 2);
        assert_eq!(
            create(&store, &doc, "c", 4).await.sequence_index,
            4,
            "one index taken"
        );

        lose.arm();
        let adopted = store
            .mark_adopted(&doc, &key("b"), false, &at(5))
            .await
            .unwrap();
        assert_eq!(adopted.unwrap().adopted_at, Some(at(5)));
        assert_eq!(lose.lost(), 3);

        lose.arm();
        assert_eq!(
            store.clear(&doc, true, &at(6)).await.unwrap(),
            2,
            "answered as applied"
        );
        assert_eq!(lose.lost(), 4);
        assert_eq!(ids(&all(&store, &doc).await), pairs(&[("c", 1)]));

        lose.arm();
        let collapsed = store
            .mark_adopted(&doc, &key("c"), true, &at(7))
            .await
            .unwrap();
        assert_eq!(collapsed.unwrap().sequence_index, 1);
        assert_eq!(lose.lost(), 5);
        assert_eq!(create(&store, &doc, "d", 8).await.sequence_index, 2);
    }
}

/// Garbage that a sweep left behind (the function stopped between the switch and the sweep, or
/// the sweep failed) is never read: not by `list`, not by point reads; a `create` under its id
/// makes a new translation; the next clear removes it.
#[cfg(feature = "dynamodb-local")]
#[tokio::test]
async fn garbage_of_an_older_generation_is_never_read_and_the_next_clear_removes_it() {
    use translations::attr;
    let tables = DynamoTables::create().await;
    let store = dynamo(&tables);
    let doc = document("acc", "doc");
    create(&store, &doc, "a", 1).await;
    create(&store, &doc, "b", 2).await;
    let item_key = |id: &str| {
        std::collections::HashMap::from([
            (
                attr::PK.to_owned(),
                shared::dynamo::s(attr::document_key(&doc)),
            ),
            (
                attr::SK.to_owned(),
                shared::dynamo::s(attr::translation_key(id)),
            ),
        ])
    };
    let raw = |id: &str| {
        let request = tables
            .client
            .get_item()
            .table_name(tables.table("translations"))
            .set_key(Some(item_key(id)))
            .consistent_read(true);
        async move { request.send().await.unwrap().item }
    };
    let left_over = raw("a").await.expect("a is stored");
    assert_eq!(store.clear(&doc, true, &at(3)).await.unwrap(), 1);
    assert_eq!(raw("a").await, None, "the sweep removed it");
    // As if the sweep had never run: the old generation's item is back.
    tables
        .client
        .put_item()
        .table_name(tables.table("translations"))
        .set_item(Some(left_over))
        .send()
        .await
        .unwrap();
    tables.calls.take();

    assert_eq!(ids(&all(&store, &doc).await), pairs(&[("b", 1)]));
    assert_eq!(store.promote(&doc, &key("a"), &at(4)).await.unwrap(), None);
    assert_eq!(
        tables.calls.take(),
        ["Query", "BatchGetItem", "GetItem", "GetItem"],
        "the list, then the read of the left-over item and its confirmation"
    );
    assert_eq!(
        store
            .mark_adopted(&doc, &key("a"), true, &at(4))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        ids(&all(&store, &doc).await),
        pairs(&[("b", 1)]),
        "nothing collapsed"
    );
    assert_eq!(list(&store, &doc, 5, Some(9)).await.items.len(), 1);

    let again = create(&store, &doc, "a", 5).await;
    assert_eq!(
        again.sequence_index, 2,
        "a new translation under the old id"
    );
    assert_eq!(again.created_at, at(5));
    assert_eq!(ids(&all(&store, &doc).await), pairs(&[("a", 2), ("b", 1)]));
    assert_eq!(
        store.clear(&doc, false, &at(6)).await.unwrap(),
        2,
        "the count holds"
    );
    assert_eq!(raw("a").await, None);
    assert_eq!(raw("b").await, None);
}
