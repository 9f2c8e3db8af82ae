//! The provisioning store contract on both stores, its DynamoDB calls, and its routes over HTTP.

use futures::StreamExt;
use provisioning::{
    Credential, DynamoProvisioningStore, EmbeddedProvisioningStore, Limit, Metadata, Provider,
    ProvisioningStore, RecordId, Status, Usage, UsageEntry,
};
use serde_json::{json, Value};
use service_tests::{conformance, embedded_db, key, spawn_app_at, DynamoTables};
use shared::clock::ManualClock;
use shared::{Num, StoreError};

fn embedded() -> EmbeddedProvisioningStore {
    EmbeddedProvisioningStore::new(embedded_db()).unwrap()
}

#[cfg_attr(not(feature = "dynamodb-local"), allow(dead_code))]
fn dynamo(tables: &DynamoTables) -> DynamoProvisioningStore {
    DynamoProvisioningStore::new(
        tables.client.clone(),
        tables.table("credentials"),
        tables.table("provisioning-usage"),
    )
}

fn rid(id: &str) -> RecordId {
    RecordId::parse(id).unwrap()
}

fn provider(name: &str) -> Provider {
    Provider::parse(name).unwrap()
}

/// An active credential with every required field and no optional one.
fn credential(id: &str, user: &str, provider_name: &str) -> Credential {
    Credential {
        id: rid(id),
        user_id: key(user),
        provider: provider(provider_name),
        token_hash: format!("hash-of-{id}"),
        salt: format!("salt-of-{id}"),
        scopes: vec!["tts".into()],
        plan_tier: "pro".into(),
        issued_at: Num(1_000.0),
        expires_at: Num(9_000_000_000_000.0),
        status: Status::Active,
        provider_reference: None,
        metadata: None,
        last_rotated_at: None,
    }
}

fn revoked(credential: Credential) -> Credential {
    Credential {
        status: Status::Revoked,
        ..credential
    }
}

fn entry(id: Option<&str>, user: &str, tokens: f64) -> UsageEntry {
    UsageEntry {
        id: id.map(rid),
        user_id: key(user),
        provider: "elevenlabs".into(),
        tokens_used: Num(tokens),
        cost_minor_units: Num(tokens / 10.0),
        recorded_at: Num(5_000.0),
    }
}

fn ids_of(credentials: &[Credential]) -> Vec<&str> {
    credentials.iter().map(|c| c.id.as_str()).collect()
}

fn usage_ids(usage: &[Usage]) -> Vec<&str> {
    usage.iter().map(|u| u.id.as_str()).collect()
}

async fn found(store: &impl ProvisioningStore, user: &str, provider_name: &str) -> Option<String> {
    store
        .find_active(&key(user), &provider(provider_name))
        .await
        .unwrap()
        .map(|c| c.id.as_str().to_owned())
}

conformance!(embedded(), dynamo;
    save_inserts_a_credential_that_reads_back_unchanged,
    save_updates_keep_optional_fields_the_record_omits,
    find_active_returns_the_most_recently_created_active_credential,
    find_active_skips_revoked_credentials_and_answers_none_when_none_is_active,
    find_active_breaks_same_millisecond_ties_by_id,
    find_active_follows_a_credential_whose_owner_changes,
    a_credential_moved_to_another_owner_keeps_what_the_record_omits_and_its_creation_time,
    concurrent_saves_moving_one_credential_leave_one_copy,
    mark_revoked_answers_true_for_a_credential_and_false_when_absent,
    list_returns_every_users_credentials_oldest_created_first,
    list_and_list_usage_apply_the_limit_rule,
    record_usage_keeps_a_given_id_and_generates_a_uuid_v4_otherwise,
    record_usage_appends_and_never_overwrites,
    list_usage_returns_the_users_records_newest_created_first,
    items_over_the_item_limit_are_too_large_and_leave_nothing_behind,
);

async fn save_inserts_a_credential_that_reads_back_unchanged(store: impl ProvisioningStore) {
    let full = Credential {
        provider_reference: Some("ref-1".into()),
        metadata: Some(Metadata {
            description: Some("CLI token".into()),
            source: Some("dashboard".into()),
            plan_tier: Some("pro".into()),
            scopes: Some(vec![]),
        }),
        last_rotated_at: Some(Num(1_500.5)),
        scopes: vec![],
        ..credential("c1", "u1", "elevenlabs")
    };
    store.save(full.clone(), Num(10.0)).await.unwrap();
    assert_eq!(
        store
            .find_active(&key("u1"), &provider("elevenlabs"))
            .await
            .unwrap(),
        Some(full.clone())
    );
    assert_eq!(store.list(Limit::default()).await.unwrap(), [full]);
}

async fn save_updates_keep_optional_fields_the_record_omits(store: impl ProvisioningStore) {
    let first = Credential {
        provider_reference: Some("ref-1".into()),
        metadata: Some(Metadata {
            description: Some("first".into()),
            ..Metadata::default()
        }),
        last_rotated_at: Some(Num(2_000.0)),
        ..credential("c1", "u1", "openai")
    };
    store.save(first, Num(10.0)).await.unwrap();
    let update = Credential {
        token_hash: "rotated-hash".into(),
        salt: "rotated-salt".into(),
        scopes: vec!["tts".into(), "stt".into()],
        plan_tier: "enterprise".into(),
        issued_at: Num(3_000.0),
        expires_at: Num(4_000.0),
        metadata: Some(Metadata {
            source: Some("api".into()),
            ..Metadata::default()
        }),
        ..credential("c1", "u1", "openai")
    };
    store.save(update.clone(), Num(20.0)).await.unwrap();
    let expected = Credential {
        provider_reference: Some("ref-1".into()),
        last_rotated_at: Some(Num(2_000.0)),
        ..update
    };
    assert_eq!(
        store.list(Limit::default()).await.unwrap(),
        [expected],
        "required fields overwritten, metadata replaced as a whole, omitted optionals kept"
    );
}

async fn find_active_returns_the_most_recently_created_active_credential(
    store: impl ProvisioningStore,
) {
    let issued_late = Credential {
        issued_at: Num(99_000.0),
        ..credential("older", "u1", "elevenlabs")
    };
    store.save(issued_late, Num(100.0)).await.unwrap();
    store
        .save(credential("newer", "u1", "elevenlabs"), Num(200.0))
        .await
        .unwrap();
    store
        .save(credential("other-provider", "u1", "openai"), Num(300.0))
        .await
        .unwrap();
    store
        .save(credential("other-user", "u2", "elevenlabs"), Num(400.0))
        .await
        .unwrap();
    assert_eq!(
        found(&store, "u1", "elevenlabs").await.as_deref(),
        Some("newer"),
        "created later wins, whatever issuedAt says"
    );
    store
        .save(credential("older", "u1", "elevenlabs"), Num(500.0))
        .await
        .unwrap();
    assert_eq!(
        found(&store, "u1", "elevenlabs").await.as_deref(),
        Some("newer"),
        "saving again never makes a credential newer"
    );
    assert_eq!(
        found(&store, "u1", "openai").await.as_deref(),
        Some("other-provider")
    );
    assert_eq!(
        found(&store, "u2", "elevenlabs").await.as_deref(),
        Some("other-user")
    );
}

async fn find_active_skips_revoked_credentials_and_answers_none_when_none_is_active(
    store: impl ProvisioningStore,
) {
    store
        .save(credential("a", "u1", "p"), Num(1.0))
        .await
        .unwrap();
    store
        .save(revoked(credential("b", "u1", "p")), Num(2.0))
        .await
        .unwrap();
    store
        .save(credential("c", "u1", "p"), Num(3.0))
        .await
        .unwrap();
    assert_eq!(found(&store, "u1", "p").await.as_deref(), Some("c"));
    assert!(store.mark_revoked(&rid("c")).await.unwrap());
    assert_eq!(
        found(&store, "u1", "p").await.as_deref(),
        Some("a"),
        "b is newer but was saved revoked"
    );
    store
        .save(revoked(credential("a", "u1", "p")), Num(4.0))
        .await
        .unwrap();
    assert_eq!(found(&store, "u1", "p").await, None, "all revoked");
    assert_eq!(
        found(&store, "nobody", "p").await,
        None,
        "no credential at all"
    );
    store
        .save(credential("b", "u1", "p"), Num(5.0))
        .await
        .unwrap();
    assert_eq!(
        found(&store, "u1", "p").await.as_deref(),
        Some("b"),
        "saved active again"
    );
}

async fn find_active_breaks_same_millisecond_ties_by_id(store: impl ProvisioningStore) {
    for id in ["m", "z", "a"] {
        store
            .save(credential(id, "u1", "p"), Num(7.0))
            .await
            .unwrap();
    }
    assert_eq!(found(&store, "u1", "p").await.as_deref(), Some("z"));
    assert_eq!(
        ids_of(&store.list(Limit::default()).await.unwrap()),
        ["a", "m", "z"]
    );
}

async fn find_active_follows_a_credential_whose_owner_changes(store: impl ProvisioningStore) {
    store
        .save(credential("c", "u1", "p"), Num(1.0))
        .await
        .unwrap();
    store
        .save(credential("c", "u2", "q"), Num(2.0))
        .await
        .unwrap();
    assert_eq!(found(&store, "u1", "p").await, None);
    assert_eq!(found(&store, "u2", "q").await.as_deref(), Some("c"));
    store
        .save(credential("tricky", "u2#q", ""), Num(3.0))
        .await
        .unwrap();
    assert_eq!(
        found(&store, "u2", "q").await.as_deref(),
        Some("c"),
        "user u2#q with provider \"\" is not user u2 with provider q"
    );
    assert_eq!(found(&store, "u2#q", "").await.as_deref(), Some("tricky"));
}

async fn a_credential_moved_to_another_owner_keeps_what_the_record_omits_and_its_creation_time(
    store: impl ProvisioningStore,
) {
    let first = Credential {
        provider_reference: Some("ref".into()),
        metadata: Some(Metadata {
            description: Some("first".into()),
            scopes: Some(vec!["a".into()]),
            ..Metadata::default()
        }),
        last_rotated_at: Some(Num(3.0)),
        ..credential("c", "u1", "p")
    };
    store.save(first, Num(10.0)).await.unwrap();
    store
        .save(credential("later", "u2", "p"), Num(20.0))
        .await
        .unwrap();
    let moved = Credential {
        provider_reference: Some("ref2".into()),
        ..revoked(credential("c", "u2", "p"))
    };
    store.save(moved.clone(), Num(30.0)).await.unwrap();
    let expected = Credential {
        metadata: Some(Metadata {
            description: Some("first".into()),
            scopes: Some(vec!["a".into()]),
            ..Metadata::default()
        }),
        last_rotated_at: Some(Num(3.0)),
        ..moved
    };
    assert_eq!(
        store.list(Limit::default()).await.unwrap(),
        [expected.clone(), credential("later", "u2", "p")],
        "one copy, still the oldest"
    );
    assert_eq!(found(&store, "u1", "p").await, None, "nothing left behind");
    assert_eq!(found(&store, "u2", "p").await.as_deref(), Some("later"));
    store
        .save(credential("c", "u2", "p"), Num(40.0))
        .await
        .unwrap();
    assert_eq!(
        found(&store, "u2", "p").await.as_deref(),
        Some("later"),
        "active again, but created before `later`"
    );
    assert!(store.mark_revoked(&rid("c")).await.unwrap());
    let listed = store.list(Limit::default()).await.unwrap();
    assert_eq!(ids_of(&listed), ["c", "later"]);
    assert_eq!(listed[0].status, Status::Revoked);
    assert_eq!(
        listed[0],
        Credential {
            status: Status::Revoked,
            ..expected
        }
    );
}

/// Six saves of one credential id for six owners at once: whatever order they take, one copy
/// is stored, under the owner of one of them, and every other owner has none.
async fn concurrent_saves_moving_one_credential_leave_one_copy(store: impl ProvisioningStore) {
    store
        .save(credential("c", "start", "p"), Num(1.0))
        .await
        .unwrap();
    let owners: Vec<String> = (0..6).map(|i| format!("owner-{i}")).collect();
    let saves = owners
        .iter()
        .map(|owner| store.save(credential("c", owner, "p"), Num(2.0)));
    for saved in futures::future::join_all(saves).await {
        saved.unwrap();
    }
    let listed = store.list(Limit::default()).await.unwrap();
    assert_eq!(ids_of(&listed), ["c"]);
    let owner = listed[0].user_id.as_str().to_owned();
    assert!(owners.contains(&owner), "{owner}");
    for other in owners.iter().chain([&"start".to_owned()]) {
        let expected = (*other == owner).then(|| "c".to_owned());
        assert_eq!(found(&store, other, "p").await, expected, "{other}");
    }
    assert!(store.mark_revoked(&rid("c")).await.unwrap());
    assert_eq!(found(&store, &owner, "p").await, None);
}

async fn mark_revoked_answers_true_for_a_credential_and_false_when_absent(
    store: impl ProvisioningStore,
) {
    let stored = Credential {
        provider_reference: Some("ref".into()),
        ..credential("c", "u1", "p")
    };
    store.save(stored.clone(), Num(1.0)).await.unwrap();
    assert!(store.mark_revoked(&rid("c")).await.unwrap());
    assert!(
        store.mark_revoked(&rid("c")).await.unwrap(),
        "revoking again still finds it"
    );
    assert!(!store.mark_revoked(&rid("missing")).await.unwrap());
    assert_eq!(
        store.list(Limit::default()).await.unwrap(),
        [revoked(stored)],
        "only the status changed, and no credential was created for the missing id"
    );
    assert_eq!(found(&store, "u1", "p").await, None);
}

async fn list_returns_every_users_credentials_oldest_created_first(store: impl ProvisioningStore) {
    for (id, user, created) in [
        ("c3", "u2", 30.0),
        ("c1", "u1", 10.0),
        ("c4", "u1", 40.0),
        ("c2", "u3", 20.0),
    ] {
        store
            .save(credential(id, user, "p"), Num(created))
            .await
            .unwrap();
    }
    store
        .save(revoked(credential("c1", "u1", "p")), Num(50.0))
        .await
        .unwrap();
    let all = store.list(Limit::default()).await.unwrap();
    assert_eq!(ids_of(&all), ["c1", "c2", "c3", "c4"]);
    assert_eq!(
        all[0].status,
        Status::Revoked,
        "revoked ones are listed too"
    );
    assert_eq!(
        ids_of(&store.list(Limit::from_number(2.0)).await.unwrap()),
        ["c1", "c2"],
        "the limit keeps the oldest"
    );
    assert_eq!(store.list(Limit::from_number(1.0)).await.unwrap().len(), 1);
}

/// 1005 credentials and 1005 usage records of one user: every limit rule at once.
async fn list_and_list_usage_apply_the_limit_rule(store: impl ProvisioningStore) {
    const COUNT: usize = 1005;
    futures::stream::iter(0..COUNT)
        .map(|i| {
            let store = &store;
            async move {
                let created = Num(1_000.0 + i as f64);
                let id = format!("c{i:04}");
                store
                    .save(credential(&id, &format!("u{}", i % 7), "p"), created)
                    .await?;
                store
                    .record_usage(entry(Some(&format!("r{i:04}")), "heavy", 1.0), created)
                    .await
                    .map(drop)
            }
        })
        .buffer_unordered(16)
        .for_each(|result| async move { result.unwrap() })
        .await;
    let user = key("heavy");
    for (limit, expected) in [
        (Limit::from_arg(None), 200),
        (Limit::from_number(0.0), 1),
        (Limit::from_number(2.7), 2),
        (Limit::from_number(5000.0), 1000),
        (Limit::from_number(-4.0), 1),
        (Limit::from_number(f64::NAN), 200),
    ] {
        let credentials = store.list(limit).await.unwrap();
        let oldest: Vec<String> = (0..expected).map(|i| format!("c{i:04}")).collect();
        assert_eq!(ids_of(&credentials), oldest, "{limit:?}");
        let usage = store.list_usage(&user, limit).await.unwrap();
        let newest: Vec<String> = (0..expected)
            .map(|i| format!("r{:04}", COUNT - 1 - i))
            .collect();
        assert_eq!(usage_ids(&usage), newest, "{limit:?}");
    }
}

async fn record_usage_keeps_a_given_id_and_generates_a_uuid_v4_otherwise(
    store: impl ProvisioningStore,
) {
    let given = store
        .record_usage(entry(Some("mine"), "u1", 120.0), Num(1.0))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&given).unwrap(),
        json!({ "id": "mine", "userId": "u1", "provider": "elevenlabs", "tokensUsed": 120, "costMinorUnits": 12, "recordedAt": 5000 })
    );
    let generated = store
        .record_usage(entry(None, "u1", 7.0), Num(2.0))
        .await
        .unwrap();
    let uuid = uuid::Uuid::parse_str(generated.id.as_str()).unwrap();
    assert_eq!(uuid.get_version_num(), 4);
    assert_eq!(generated.id.as_str(), uuid.hyphenated().to_string());
    assert_eq!(
        store
            .list_usage(&key("u1"), Limit::default())
            .await
            .unwrap(),
        [generated, given]
    );
}

async fn record_usage_appends_and_never_overwrites(store: impl ProvisioningStore) {
    let first = store
        .record_usage(entry(Some("dup"), "u1", 1.0), Num(10.0))
        .await
        .unwrap();
    let same_moment = store
        .record_usage(entry(Some("dup"), "u1", 999.0), Num(10.0))
        .await
        .unwrap();
    assert_eq!(
        same_moment, first,
        "the same id in the same millisecond is one delivery: the stored record stands"
    );
    let later = store
        .record_usage(entry(Some("dup"), "u1", 2.0), Num(11.0))
        .await
        .unwrap();
    let other_user = store
        .record_usage(entry(Some("dup"), "u2", 3.0), Num(10.0))
        .await
        .unwrap();
    assert_eq!(
        store
            .list_usage(&key("u1"), Limit::default())
            .await
            .unwrap(),
        [later, first],
        "recording an id again later appends another record"
    );
    assert_eq!(
        store
            .list_usage(&key("u2"), Limit::default())
            .await
            .unwrap(),
        [other_user]
    );
}

async fn list_usage_returns_the_users_records_newest_created_first(store: impl ProvisioningStore) {
    for (id, user, created, recorded) in [
        ("b", "u1", 20.0, 1.0),
        ("a", "u1", 10.0, 99.0),
        ("x", "u1#", 15.0, 1.0),
        ("c", "u1", 30.0, 50.0),
        ("same-ms-1", "u1", 40.0, 1.0),
        ("same-ms-2", "u1", 40.0, 1.0),
        ("y", "u2", 25.0, 1.0),
    ] {
        let mut usage = entry(Some(id), user, 1.0);
        usage.recorded_at = Num(recorded);
        store.record_usage(usage, Num(created)).await.unwrap();
    }
    assert_eq!(
        usage_ids(
            &store
                .list_usage(&key("u1"), Limit::default())
                .await
                .unwrap()
        ),
        ["same-ms-2", "same-ms-1", "c", "b", "a"],
        "by creation, not recordedAt; same millisecond: greater id first"
    );
    assert_eq!(
        usage_ids(
            &store
                .list_usage(&key("u1"), Limit::from_number(2.0))
                .await
                .unwrap()
        ),
        ["same-ms-2", "same-ms-1"]
    );
    assert_eq!(
        store
            .list_usage(&key("nobody"), Limit::default())
            .await
            .unwrap(),
        []
    );
}

async fn items_over_the_item_limit_are_too_large_and_leave_nothing_behind(
    store: impl ProvisioningStore,
) {
    let huge = Credential {
        token_hash: "h".repeat(shared::MAX_ITEM_BYTES + 1),
        ..credential("big", "u1", "p")
    };
    let saved = store.save(huge, Num(1.0)).await;
    assert!(matches!(saved, Err(StoreError::TooLarge(_))), "{saved:?}");
    assert_eq!(store.list(Limit::default()).await.unwrap(), []);
    assert_eq!(found(&store, "u1", "p").await, None);
    let mut big_usage = entry(Some("big"), "u1", 1.0);
    big_usage.provider = "p".repeat(shared::MAX_ITEM_BYTES + 1);
    let recorded = store.record_usage(big_usage, Num(1.0)).await;
    assert!(
        matches!(recorded, Err(StoreError::TooLarge(_))),
        "{recorded:?}"
    );
    assert_eq!(
        store
            .list_usage(&key("u1"), Limit::default())
            .await
            .unwrap(),
        []
    );
}

/// DynamoDB calls per route (the budget in the crate docs) and the hidden attributes.
#[cfg(feature = "dynamodb-local")]
mod round_trips {
    use super::*;
    use provisioning::{attr, list_part, list_shard, owner_key};
    use shared::dynamo::Item;

    #[tokio::test]
    async fn every_route_costs_the_calls_of_its_budget() {
        let tables = DynamoTables::create().await;
        let store = dynamo(&tables);
        store
            .save(credential("c", "u", "p"), Num(1.0))
            .await
            .unwrap();
        assert_eq!(tables.calls.take(), ["TransactWriteItems"], "save, new");
        store
            .save(revoked(credential("c", "u", "p")), Num(2.0))
            .await
            .unwrap();
        assert_eq!(tables.calls.take(), ["TransactWriteItems"], "save, update");
        store
            .save(credential("c", "v", "p"), Num(3.0))
            .await
            .unwrap();
        assert_eq!(
            tables.calls.take(),
            ["TransactWriteItems", "GetItem", "TransactWriteItems"],
            "save, to another owner"
        );
        store.find_active(&key("v"), &provider("p")).await.unwrap();
        assert_eq!(tables.calls.take(), ["Query"], "findActive");
        store.mark_revoked(&rid("c")).await.unwrap();
        assert_eq!(
            tables.calls.take(),
            ["GetItem", "UpdateItem"],
            "markRevoked, found"
        );
        store.mark_revoked(&rid("missing")).await.unwrap();
        assert_eq!(tables.calls.take(), ["GetItem"], "markRevoked, absent");
        let mut queries = vec!["Query"; attr::LIST_SHARDS as usize];
        store.list(Limit::default()).await.unwrap();
        queries.push("BatchGetItem");
        assert_eq!(
            tables.calls.take(),
            queries,
            "list: one query per shard, then the credentials"
        );
        store
            .record_usage(entry(None, "u", 1.0), Num(1.0))
            .await
            .unwrap();
        assert_eq!(tables.calls.take(), ["PutItem"], "recordUsage");
        store
            .record_usage(entry(Some("d"), "u", 1.0), Num(1.0))
            .await
            .unwrap();
        store
            .record_usage(entry(Some("d"), "u", 1.0), Num(1.0))
            .await
            .unwrap();
        assert_eq!(
            tables.calls.take(),
            ["PutItem", "PutItem"],
            "recordUsage, also for a duplicate delivery"
        );
        store.list_usage(&key("u"), Limit::default()).await.unwrap();
        assert_eq!(tables.calls.take(), ["Query"], "listUsage");
    }

    #[tokio::test]
    async fn an_empty_list_costs_the_shard_queries_only() {
        let tables = DynamoTables::create().await;
        assert_eq!(dynamo(&tables).list(Limit::default()).await.unwrap(), []);
        assert_eq!(
            tables.calls.take(),
            vec!["Query"; attr::LIST_SHARDS as usize]
        );
    }

    /// Ids of `count` credentials whose pointers all fall in shard 0, `width` bytes long.
    fn ids_in_shard_zero(count: usize, width: usize) -> Vec<String> {
        (0..)
            .map(|i| format!("{i:0width$}"))
            .filter(|id| list_shard(id) == 0)
            .take(count)
            .collect()
    }

    /// 300 pointers of about 4 KB (longest ids, user ids and providers) in one shard: DynamoDB ends
    /// a page once it has read 1 MB, so the shard's query takes more than one; the 300 credentials
    /// take three `BatchGetItem` of 100.
    #[tokio::test]
    async fn list_pages_past_one_megabyte_of_pointers_and_gets_credentials_a_hundred_at_a_time() {
        const COUNT: usize = 300;
        let tables = DynamoTables::create().await;
        let store = dynamo(&tables);
        let user = "u".repeat(shared::parse::MAX_KEY_BYTES);
        let provider_name = "p".repeat(provisioning::MAX_PROVIDER_BYTES);
        let ids = ids_in_shard_zero(COUNT, provisioning::MAX_RECORD_ID_BYTES);
        futures::stream::iter(ids.iter().enumerate())
            .map(|(i, id)| {
                let store = &store;
                let credential = credential(id, &user, &provider_name);
                async move { store.save(credential, Num(i as f64)).await }
            })
            .buffer_unordered(16)
            .for_each(|result| async move { result.unwrap() })
            .await;
        tables.calls.take();
        let listed = store.list(Limit::from_number(1000.0)).await.unwrap();
        assert_eq!(ids_of(&listed), ids);
        let calls = tables.calls.take();
        let count = |op: &str| calls.iter().filter(|c| *c == op).count();
        assert!(
            count("Query") > attr::LIST_SHARDS as usize,
            "one query per shard plus one per extra page: {calls:?}"
        );
        assert_eq!(count("BatchGetItem"), 3, "{calls:?}");
        assert_eq!(count("Query") + count("BatchGetItem"), calls.len());
        let newest = found(&store, &user, &provider_name).await;
        assert_eq!(newest.as_deref(), ids.last().map(String::as_str));
    }

    /// 60 credentials of about 300 KB: more than `BatchGetItem` answers at once (16 MB), so the
    /// keys it leaves unprocessed are asked for again.
    #[tokio::test]
    async fn list_asks_again_for_the_credentials_batch_get_item_leaves_unprocessed() {
        const COUNT: u32 = 60;
        let tables = DynamoTables::create().await;
        let store = dynamo(&tables);
        let big = "h".repeat(300 * 1024);
        for i in 0..COUNT {
            let credential = Credential {
                token_hash: big.clone(),
                ..credential(&format!("c{i:02}"), "u", "p")
            };
            store.save(credential, Num(f64::from(i))).await.unwrap();
        }
        tables.calls.take();
        let listed = store.list(Limit::default()).await.unwrap();
        let expected: Vec<String> = (0..COUNT).map(|i| format!("c{i:02}")).collect();
        assert_eq!(ids_of(&listed), expected);
        assert!(listed.iter().all(|c| c.token_hash == big));
        let calls = tables.calls.take();
        eprintln!("{calls:?}");
        assert!(
            calls.iter().filter(|c| *c == "BatchGetItem").count() > 1,
            "{calls:?}"
        );
    }

    /// 32 usage records of about 300 KB: the user's query pages past 1 MB.
    #[tokio::test]
    async fn list_usage_pages_past_one_megabyte_in_order() {
        const COUNT: u32 = 32;
        let tables = DynamoTables::create().await;
        let store = dynamo(&tables);
        let big = "h".repeat(300 * 1024);
        for i in 0..COUNT {
            let mut usage = entry(Some(&format!("r{i:02}")), "u", 1.0);
            usage.provider = big.clone();
            store.record_usage(usage, Num(f64::from(i))).await.unwrap();
        }
        tables.calls.take();
        let usage = store.list_usage(&key("u"), Limit::default()).await.unwrap();
        let expected: Vec<String> = (0..COUNT).rev().map(|i| format!("r{i:02}")).collect();
        assert_eq!(usage_ids(&usage), expected);
        let queries = tables.calls.take();
        assert!(
            queries.len() > 1 && queries.iter().all(|c| c == "Query"),
            "{queries:?}"
        );
        let three = store
            .list_usage(&key("u"), Limit::from_number(3.0))
            .await
            .unwrap();
        assert_eq!(usage_ids(&three), ["r31", "r30", "r29"]);
        assert_eq!(tables.calls.take(), ["Query"], "3 items fit in one page");
    }

    async fn raw(tables: &DynamoTables, part: &str, id: &str) -> Option<Item> {
        tables
            .client
            .get_item()
            .table_name(tables.table("credentials"))
            .key(attr::PART, shared::dynamo::s(part))
            .key(attr::ID, shared::dynamo::s(id))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
    }

    fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
    }

    #[tokio::test]
    async fn a_credential_lives_under_its_owner_with_a_pointer_and_its_creation_key_is_set_once() {
        let tables = DynamoTables::create().await;
        let store = dynamo(&tables);
        let alice = owner_key(&key("alice"), &provider("openai"));
        assert_eq!(alice, "5:alice#openai");
        let pointer_part = list_part(list_shard("c"));
        let created = "0001700000000000#c";
        store
            .save(credential("c", "alice", "openai"), Num(1_700_000_000_000.0))
            .await
            .unwrap();
        let item = raw(&tables, &alice, "c").await.expect("under its owner");
        assert_eq!(text(&item, attr::CREATED_KEY), Some(created));
        assert_eq!(text(&item, attr::ACTIVE_CREATED_KEY), Some(created));
        let pointer = raw(&tables, &pointer_part, "c").await.expect("a pointer");
        assert_eq!(text(&pointer, attr::OWNER), Some(alice.as_str()));
        assert_eq!(text(&pointer, attr::LIST_KEY), Some(created));
        assert_eq!(pointer.len(), 4, "part, id, owner, listKey: {pointer:?}");

        store.mark_revoked(&rid("c")).await.unwrap();
        let item = raw(&tables, &alice, "c").await.unwrap();
        assert_eq!(text(&item, attr::ACTIVE_CREATED_KEY), None);
        store
            .save(credential("c", "alice", "openai"), Num(1_800_000_000_000.0))
            .await
            .unwrap();
        let item = raw(&tables, &alice, "c").await.unwrap();
        assert_eq!(
            text(&item, attr::ACTIVE_CREATED_KEY),
            Some(created),
            "active again, with the creation key it had"
        );
        assert_eq!(text(&item, attr::CREATED_KEY), Some(created));
        store
            .save(revoked(credential("c", "alice", "openai")), Num(1.0))
            .await
            .unwrap();
        let item = raw(&tables, &alice, "c").await.unwrap();
        assert_eq!(text(&item, attr::ACTIVE_CREATED_KEY), None);

        store
            .save(credential("c", "bob", "openai"), Num(1_900_000_000_000.0))
            .await
            .unwrap();
        assert_eq!(raw(&tables, &alice, "c").await, None, "moved away");
        let bob = owner_key(&key("bob"), &provider("openai"));
        let item = raw(&tables, &bob, "c").await.expect("under its new owner");
        assert_eq!(text(&item, attr::CREATED_KEY), Some(created));
        assert_eq!(text(&item, attr::ACTIVE_CREATED_KEY), Some(created));
        let pointer = raw(&tables, &pointer_part, "c").await.unwrap();
        assert_eq!(text(&pointer, attr::OWNER), Some(bob.as_str()));
        assert_eq!(text(&pointer, attr::LIST_KEY), Some(created));
    }

    #[tokio::test]
    async fn the_http_routes_answer_the_same_on_dynamodb() {
        let tables = DynamoTables::create().await;
        super::routes_answer_as_the_contract_says(tables.store()).await;
        super::oversized_credential_is_413(tables.store()).await;
    }
}

fn wire_credential(id: &str, user: &str) -> Value {
    json!({
        "id": id,
        "userId": user,
        "provider": "elevenlabs",
        "tokenHash": format!("sha256:{id}"),
        "salt": "s4lt",
        "scopes": ["tts", "voices"],
        "planTier": "pro",
        "issuedAt": 1_700_000_000_000u64,
        "expiresAt": 1_800_000_000_000u64,
        "status": "active"
    })
}

async fn routes_answer_as_the_contract_says(store: devserver::Store) {
    let clock = ManualClock::at(1_000);
    let app = spawn_app_at(store, clock.clone()).await;
    let mut first = wire_credential("c1", "u1");
    first["providerReference"] = json!("prov-1");
    first["metadata"] =
        json!({ "description": "d", "source": "s", "planTier": "pro", "scopes": ["a"] });
    first["lastRotatedAt"] = json!(1_750_000_000_000u64);
    assert_eq!(
        app.ok("/provisioning/save", json!({ "record": first }))
            .await,
        json!({ "result": true })
    );
    clock.set(2_000);
    let second = wire_credential("c2", "u1");
    assert_eq!(
        app.ok("/provisioning/save", json!({ "record": second }))
            .await,
        json!({ "result": true })
    );
    let find = json!({ "userId": "u1", "provider": "elevenlabs" });
    assert_eq!(
        app.ok("/provisioning/findActive", find.clone()).await,
        json!({ "credential": second })
    );
    assert_eq!(
        app.ok("/provisioning/markRevoked", json!({ "credentialId": "c2" }))
            .await,
        json!({ "result": true })
    );
    assert_eq!(
        app.ok(
            "/provisioning/markRevoked",
            json!({ "credentialId": "nope" })
        )
        .await,
        json!({ "result": false })
    );
    assert_eq!(
        app.ok("/provisioning/findActive", find).await,
        json!({ "credential": first })
    );
    assert_eq!(
        app.ok(
            "/provisioning/findActive",
            json!({ "userId": "u1", "provider": "openai" })
        )
        .await,
        json!({ "credential": null })
    );
    let mut second_revoked = second.clone();
    second_revoked["status"] = json!("revoked");
    assert_eq!(
        app.ok("/provisioning/list", json!({})).await,
        json!({ "credentials": [first, second_revoked] })
    );
    assert_eq!(
        app.ok("/provisioning/list", json!({ "limit": 1.9 })).await,
        json!({ "credentials": [first] })
    );
    assert_eq!(
        app.ok("/provisioning/list", json!({ "limit": 0 })).await,
        json!({ "credentials": [first] })
    );

    clock.set(3_000);
    let recorded = app
        .ok(
            "/provisioning/recordUsage",
            json!({ "entry": { "id": "use-1", "userId": "u1", "provider": "elevenlabs", "tokensUsed": 250, "costMinorUnits": 1.5, "recordedAt": 1_700_000_000_500u64 } }),
        )
        .await;
    let use_1 = json!({ "id": "use-1", "userId": "u1", "provider": "elevenlabs", "tokensUsed": 250, "costMinorUnits": 1.5, "recordedAt": 1_700_000_000_500u64 });
    assert_eq!(recorded, json!({ "usage": use_1 }));
    clock.set(4_000);
    let generated = app
        .ok(
            "/provisioning/recordUsage",
            json!({ "entry": { "userId": "u1", "provider": "openai", "tokensUsed": 1, "costMinorUnits": 0, "recordedAt": 1 } }),
        )
        .await;
    let id = generated["usage"]["id"].as_str().unwrap().to_owned();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 4);
    let use_2 = json!({ "id": id, "userId": "u1", "provider": "openai", "tokensUsed": 1, "costMinorUnits": 0, "recordedAt": 1 });
    assert_eq!(generated, json!({ "usage": use_2 }));
    assert_eq!(
        app.ok("/provisioning/listUsage", json!({ "userId": "u1" }))
            .await,
        json!({ "usage": [use_2, use_1] })
    );
    assert_eq!(
        app.ok(
            "/provisioning/listUsage",
            json!({ "userId": "u1", "limit": -1 })
        )
        .await,
        json!({ "usage": [use_2] })
    );
    assert_eq!(
        app.ok("/provisioning/listUsage", json!({ "userId": "u9" }))
            .await,
        json!({ "usage": [] })
    );

    let logs = serde_json::to_string(&app.log_lines()).unwrap();
    assert!(
        !logs.contains("sha256:c1") && !logs.contains("s4lt"),
        "no token hash or salt in a log line"
    );
}

#[tokio::test]
async fn provisioning_routes_answer_as_the_contract_says() {
    routes_answer_as_the_contract_says(service_tests::embedded()).await;
}

#[tokio::test]
async fn bad_provisioning_arguments_are_400_naming_the_field() {
    let app = spawn_app_at(service_tests::embedded(), ManualClock::at(1)).await;
    let with = |field: &str, value: Value| {
        let mut record = wire_credential("c", "u");
        record[field] = value;
        json!({ "record": record })
    };
    let without = |field: &str| {
        let mut record = wire_credential("c", "u");
        record.as_object_mut().unwrap().remove(field);
        json!({ "record": record })
    };
    let usage = json!({ "userId": "u", "provider": "p", "tokensUsed": 1, "costMinorUnits": 1, "recordedAt": 1 });
    let usage_with = |field: &str, value: Value| {
        let mut entry = usage.clone();
        entry[field] = value;
        json!({ "entry": entry })
    };
    let cases = [
        (
            "/provisioning/save",
            with("status", json!("expired")),
            "record.status: unknown variant `expired`",
        ),
        (
            "/provisioning/save",
            with("issuedAt", json!("soon")),
            "record.issuedAt: expected a number, got a string",
        ),
        (
            "/provisioning/save",
            with("scopes", json!("tts")),
            "record.scopes:",
        ),
        (
            "/provisioning/save",
            with("providerReference", Value::Null),
            "record.providerReference: expected a string, got null",
        ),
        (
            "/provisioning/save",
            with("metadata", json!({ "color": "red" })),
            "record.metadata.color: unknown field `color`",
        ),
        (
            "/provisioning/save",
            with("extra", json!(1)),
            "record.extra: unknown field `extra`",
        ),
        (
            "/provisioning/save",
            with("id", json!("")),
            "record.id: must not be empty",
        ),
        (
            "/provisioning/save",
            with("id", json!("i".repeat(1001))),
            "record.id: must be at most 1000 bytes",
        ),
        (
            "/provisioning/save",
            with("provider", json!("p".repeat(1001))),
            "record.provider: must be at most 1000 bytes",
        ),
        (
            "/provisioning/save",
            without("salt"),
            "record: missing field `salt`",
        ),
        (
            "/provisioning/findActive",
            json!({ "userId": "u" }),
            "missing field `provider`",
        ),
        (
            "/provisioning/markRevoked",
            json!({ "credentialId": 5 }),
            "credentialId: expected a string, got a number",
        ),
        (
            "/provisioning/list",
            json!({ "limit": "5" }),
            "limit: expected a number, got a string",
        ),
        (
            "/provisioning/list",
            json!({ "limit": null }),
            "limit: expected a number, got null",
        ),
        (
            "/provisioning/list",
            json!({ "limit": 5, "offset": 1 }),
            "offset: unknown field `offset`",
        ),
        (
            "/provisioning/recordUsage",
            usage_with("id", Value::Null),
            "entry.id: expected a string, got null",
        ),
        (
            "/provisioning/recordUsage",
            usage_with("tokensUsed", json!("12")),
            "entry.tokensUsed: expected a number, got a string",
        ),
        (
            "/provisioning/recordUsage",
            json!({ "entry": { "userId": "u" } }),
            "entry: missing field `provider`",
        ),
        (
            "/provisioning/listUsage",
            json!({ "userId": "u", "limit": "Infinity" }),
            "limit: expected a number, got a string",
        ),
        (
            "/provisioning/listUsage",
            json!({}),
            "missing field `userId`",
        ),
    ];
    for (path, body, message) in cases {
        let answer = app.call(path, body.clone()).await;
        assert_eq!(answer.status, 400, "{path} {body}: {:?}", answer.body);
        assert_eq!(
            answer.body["error"]["code"], "invalid_argument",
            "{path} {body}"
        );
        let text = answer.body["error"]["message"].as_str().unwrap();
        assert!(
            text.starts_with(message),
            "{path}: {text:?} should start with {message:?}"
        );
    }
    assert_eq!(
        app.ok("/provisioning/list", json!({})).await,
        json!({ "credentials": [] }),
        "nothing was stored by the refused calls"
    );
}

#[tokio::test]
async fn an_oversized_credential_is_413() {
    oversized_credential_is_413(service_tests::embedded()).await;
}

async fn oversized_credential_is_413(store: devserver::Store) {
    let app = spawn_app_at(store, ManualClock::at(1)).await;
    let mut record = wire_credential("c", "u");
    record["tokenHash"] = json!("h".repeat(shared::MAX_ITEM_BYTES + 1));
    let answer = app
        .call("/provisioning/save", json!({ "record": record }))
        .await;
    assert_eq!(answer.status, 413, "{:?}", answer.body);
    assert_eq!(answer.body["error"]["code"], "payload_too_large");
}
