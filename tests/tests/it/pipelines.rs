//! The pipelines store contract, on both stores, and the pipelines routes over HTTP.

use futures::StreamExt;
use pipelines::{
    Changes, CreateInput, DynamoPipelinesStore, EmbeddedPipelinesStore, Pipeline, PipelinesStore,
    RecordRunArgs, Run, Update,
};
use serde_json::{json, Value};
use service_tests::{conformance, embedded_db, key, DynamoTables};
use shared::{Key, StoreError};

const CREATED: &str = "2025-01-01T00:00:00.000Z";
const LATER: &str = "2025-01-02T00:00:00.000Z";

fn embedded() -> EmbeddedPipelinesStore {
    EmbeddedPipelinesStore::new(embedded_db()).unwrap()
}

#[cfg_attr(not(feature = "dynamodb-local"), allow(dead_code))]
fn dynamo(tables: &DynamoTables) -> DynamoPipelinesStore {
    DynamoPipelinesStore::new(
        tables.client.clone(),
        tables.table("pipelines"),
        tables.table("pipeline-runs"),
    )
}

/// A create input from its JSON, parsed as the route parses it.
fn input(value: Value) -> CreateInput {
    serde_json::from_value(value).unwrap()
}

/// Update changes from their JSON, parsed as the route parses them.
fn changes(value: Value) -> Changes {
    serde_json::from_value(value).unwrap()
}

fn update(value: Value) -> Update {
    Update::new(changes(value), LATER)
}

fn run(id: &Key, completed_at: &str) -> Run {
    let args: RecordRunArgs =
        serde_json::from_value(json!({ "id": id, "completedAt": completed_at })).unwrap();
    args.into_run()
}

fn clean_step() -> Value {
    json!({ "id": "s1", "kind": "clean", "options": { "normaliseWhitespace": true } })
}

async fn create(store: &impl PipelinesStore, name: &str) -> Pipeline {
    create_owned(store, name, None).await
}

async fn create_owned(store: &impl PipelinesStore, name: &str, owner: Option<&str>) -> Pipeline {
    let mut value = json!({ "name": name, "steps": [clean_step()] });
    if let Some(owner) = owner {
        value["ownerId"] = json!(owner);
    }
    store
        .create(input(value).into_pipeline(CREATED))
        .await
        .unwrap()
}

fn is_uuid_v4(text: &str) -> bool {
    uuid::Uuid::parse_str(text).is_ok_and(|u| u.get_version_num() == 4)
        && text.len() == 36
        && text == text.to_lowercase()
}

async fn resolves(store: &impl PipelinesStore, secret: &str) -> Option<Key> {
    store
        .find_by_webhook_secret(secret)
        .await
        .unwrap()
        .map(|p| p.id)
}

conformance!(embedded(), dynamo;
    create_generates_uuids_and_stores_what_get_returns,
    create_trims_name_and_description_and_leaves_an_empty_description_out,
    a_new_secret_resolves_at_once_and_an_unknown_one_never,
    update_applies_the_field_rules_and_never_changes_the_owner,
    update_of_an_absent_pipeline_is_none_and_writes_nothing,
    rotation_retires_the_old_secret_and_issues_a_new_one_at_once,
    delete_removes_the_pipeline_its_secret_and_its_runs_only,
    list_sorts_by_name_case_insensitively_and_scopes_by_owner,
    list_keeps_at_most_500_of_each_owner_set_first_by_name,
    the_list_shows_every_write_in_the_very_next_request,
    record_run_sets_last_run_at_and_appends_a_run,
    record_run_of_an_absent_pipeline_is_none_and_writes_no_run,
    list_runs_returns_the_newest_first_up_to_the_limit,
    parallel_updates_of_different_fields_of_one_pipeline_lose_nothing,
    parallel_record_runs_record_every_run,
    a_pipeline_over_the_item_limit_is_refused_as_too_large,
    option_numbers_at_the_edges_of_the_storable_range_read_back,
);

async fn create_generates_uuids_and_stores_what_get_returns(store: impl PipelinesStore) {
    let first = create(&store, "First").await;
    let second = create(&store, "Second").await;
    for p in [&first, &second] {
        assert!(is_uuid_v4(p.id.as_str()), "{}", p.id);
        assert!(is_uuid_v4(&p.webhook_secret));
        assert_eq!(
            (p.created_at.as_str(), p.updated_at.as_str()),
            (CREATED, CREATED)
        );
        assert_eq!(p.last_run_at, None);
    }
    assert_ne!(first.id, second.id);
    assert_ne!(first.webhook_secret, second.webhook_secret);
    assert_ne!(first.id.as_str(), first.webhook_secret);
    assert_eq!(store.get(&first.id).await.unwrap(), Some(first.clone()));
    assert_eq!(store.get(&key("missing")).await.unwrap(), None);
    assert_eq!(
        serde_json::to_value(&first).unwrap(),
        json!({
            "id": first.id, "name": "First", "steps": [clean_step()],
            "webhookSecret": first.webhook_secret, "createdAt": CREATED, "updatedAt": CREATED,
        }),
        "absent fields are left out, nothing of the storage layout shows"
    );
}

async fn create_trims_name_and_description_and_leaves_an_empty_description_out(
    store: impl PipelinesStore,
) {
    let full = json!({
        "ownerId": "owner-1",
        "name": "  Morning digest \n",
        "description": "  Reads the news  ",
        "steps": [
            { "id": "a", "kind": "summarise", "label": "Summary", "options": {
                "style": "bullets", "bulletCount": 5, "includeKeywords": true, "audienceHint": "kids" } },
            { "id": "b", "kind": "translate", "options": { "targetLanguage": "fr", "keepOriginal": false } },
            { "id": "c", "kind": "tone", "options": { "tone": "dramatic" } },
            { "id": "d", "kind": "chunk", "options": { "strategy": "sentence", "maxCharacters": 1200.5, "joinShortSegments": true } },
            { "id": "e", "kind": "queue", "options": { "voicePreference": "custom", "voiceId": "v1", "provider": "p", "segmentDelayMs": 250 } },
            { "id": "f", "kind": "clean", "options": { "preserveQuotes": true, "stripBullets": true, "normaliseWhitespace": false } },
        ],
        "schedule": { "cron": "0 7 * * *", "description": "every morning" },
        "defaultSource": { "kind": "url", "value": "https://example.com/feed" },
    });
    let made = store
        .create(input(full.clone()).into_pipeline(CREATED))
        .await
        .unwrap();
    assert_eq!(made.name.as_str(), "Morning digest");
    assert_eq!(made.description.as_deref(), Some("Reads the news"));
    let stored = serde_json::to_value(store.get(&made.id).await.unwrap().unwrap()).unwrap();
    for field in ["ownerId", "steps", "schedule", "defaultSource"] {
        assert_eq!(stored[field], full[field], "{field} reads back as sent");
    }

    let blank = store
        .create(
            input(json!({ "name": "x", "description": "   ", "steps": [] })).into_pipeline(CREATED),
        )
        .await
        .unwrap();
    assert_eq!(blank.description, None);
    let stored = serde_json::to_value(store.get(&blank.id).await.unwrap().unwrap()).unwrap();
    assert!(stored.get("description").is_none(), "{stored}");
    assert!(stored.get("ownerId").is_none(), "{stored}");
}

async fn a_new_secret_resolves_at_once_and_an_unknown_one_never(store: impl PipelinesStore) {
    let p = create(&store, "Hook").await;
    let found = store
        .find_by_webhook_secret(&p.webhook_secret)
        .await
        .unwrap();
    assert_eq!(
        found,
        Some(p.clone()),
        "the whole pipeline, secret included"
    );
    assert_eq!(resolves(&store, "not-a-secret").await, None);
    assert_eq!(resolves(&store, "").await, None);
    assert_eq!(
        resolves(&store, &p.webhook_secret.to_uppercase()).await,
        None,
        "exact match"
    );
    assert_eq!(
        resolves(&store, p.id.as_str()).await,
        None,
        "an id is not a secret"
    );
}

async fn update_applies_the_field_rules_and_never_changes_the_owner(store: impl PipelinesStore) {
    let made = store
        .create(
            input(json!({
                "ownerId": "owner-1", "name": "Old", "description": "old text",
                "steps": [clean_step()],
                "schedule": { "cron": "* * * * *" },
                "defaultSource": { "kind": "url", "value": "https://a" },
            }))
            .into_pipeline(CREATED),
        )
        .await
        .unwrap();

    let omitted = store
        .update(&made.id, update(json!({})))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        Pipeline {
            updated_at: CREATED.into(),
            ..omitted.clone()
        },
        made,
        "omitted fields are kept; only updatedAt moves"
    );
    assert_eq!(omitted.updated_at, LATER);

    let new_steps = json!([{ "id": "t", "kind": "tone", "options": { "tone": "formal" } }]);
    let changed = store
        .update(
            &made.id,
            update(
                json!({ "name": "  New name ", "description": "  new text ", "steps": new_steps }),
            ),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.name.as_str(), "New name");
    assert_eq!(changed.description.as_deref(), Some("new text"));
    assert_eq!(
        serde_json::to_value(&changed.steps).unwrap(),
        new_steps,
        "steps are replaced"
    );
    assert!(changed.schedule.is_some() && changed.default_source.is_some());

    let removed = store
        .update(
            &made.id,
            update(json!({ "description": "  ", "schedule": null, "defaultSource": null })),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            &removed.description,
            &removed.schedule,
            &removed.default_source
        ),
        (&None, &None, &None),
        "an empty description and nulls remove"
    );
    assert_eq!(removed.owner_id, Some(key("owner-1")));
    assert_eq!(removed.created_at, CREATED);
    assert_eq!(
        removed.webhook_secret, made.webhook_secret,
        "no rotation asked"
    );
    assert_eq!(store.get(&made.id).await.unwrap(), Some(removed.clone()));

    let set_again = store
        .update(
            &made.id,
            update(
                json!({ "schedule": { "cron": "0 0 * * *", "description": "midnight" },
                           "defaultSource": { "kind": "url", "value": "https://b" } }),
            ),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(set_again.schedule.unwrap().cron, "0 0 * * *");
    assert_eq!(set_again.default_source.unwrap().value, "https://b");
    let listed = store.list(Some(&key("owner-1"))).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].name.as_str(),
        "New name",
        "the list shows the new name"
    );
}

async fn update_of_an_absent_pipeline_is_none_and_writes_nothing(store: impl PipelinesStore) {
    let missing = key("no-such-pipeline");
    assert_eq!(
        store
            .update(&missing, update(json!({ "name": "x" })))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .update(&missing, update(json!({ "rotateSecret": true })))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.get(&missing).await.unwrap(),
        None,
        "no pipeline appears"
    );
    assert!(store.list(None).await.unwrap().is_empty());
}

async fn rotation_retires_the_old_secret_and_issues_a_new_one_at_once(store: impl PipelinesStore) {
    let p = create(&store, "Rotating").await;
    let old = p.webhook_secret.clone();
    let rotated = store
        .update(
            &p.id,
            update(json!({ "rotateSecret": true, "name": "Renamed" })),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(is_uuid_v4(&rotated.webhook_secret));
    assert_ne!(rotated.webhook_secret, old);
    assert_eq!(
        rotated.name.as_str(),
        "Renamed",
        "other changes apply with the rotation"
    );
    assert_eq!(rotated.updated_at, LATER);
    assert_eq!(
        resolves(&store, &old).await,
        None,
        "the old secret stops at once"
    );
    assert_eq!(
        resolves(&store, &rotated.webhook_secret).await,
        Some(p.id.clone())
    );
    assert_eq!(store.get(&p.id).await.unwrap(), Some(rotated.clone()));

    let kept = store
        .update(&p.id, update(json!({ "rotateSecret": false })))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        kept.webhook_secret, rotated.webhook_secret,
        "rotateSecret: false keeps it"
    );
}

async fn delete_removes_the_pipeline_its_secret_and_its_runs_only(store: impl PipelinesStore) {
    let doomed = create(&store, "Doomed").await;
    let other = create(&store, "Other").await;
    for i in 0..30 {
        let completed = format!("2025-02-01T00:00:{i:02}.000Z");
        store
            .record_run(run(&doomed.id, &completed), LATER)
            .await
            .unwrap();
    }
    store
        .record_run(run(&other.id, "2025-02-01T00:00:00.000Z"), LATER)
        .await
        .unwrap();
    assert_eq!(store.list_runs(&doomed.id, 1000).await.unwrap().len(), 30);

    assert!(store.delete(&doomed.id).await.unwrap());
    assert_eq!(store.get(&doomed.id).await.unwrap(), None);
    assert_eq!(
        resolves(&store, &doomed.webhook_secret).await,
        None,
        "its secret stops at once"
    );
    assert!(
        store.list_runs(&doomed.id, 1000).await.unwrap().is_empty(),
        "its runs are gone"
    );
    assert!(
        !store.delete(&doomed.id).await.unwrap(),
        "false when absent"
    );

    assert_eq!(
        resolves(&store, &other.webhook_secret).await,
        Some(other.id.clone())
    );
    assert_eq!(store.list_runs(&other.id, 1000).await.unwrap().len(), 1);
    let names: Vec<String> = store
        .list(None)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name.as_str().to_owned())
        .collect();
    assert_eq!(names, ["Other"]);
}

async fn list_sorts_by_name_case_insensitively_and_scopes_by_owner(store: impl PipelinesStore) {
    for (name, owner) in [
        ("banana", None),
        ("Cherry", Some("alice")),
        ("apple", Some("bob")),
        ("Émile", None),
        ("Banana split", Some("alice")),
        ("zebra", Some("alice")),
        ("Apricot", None),
        ("date", Some("bob")),
    ] {
        create_owned(&store, name, owner).await;
    }
    let names = |items: Vec<pipelines::PipelineListItem>| -> Vec<String> {
        items
            .into_iter()
            .map(|p| p.name.as_str().to_owned())
            .collect()
    };
    assert_eq!(
        names(store.list(None).await.unwrap()),
        [
            "apple",
            "Apricot",
            "banana",
            "Banana split",
            "Cherry",
            "date",
            "Émile",
            "zebra"
        ],
        "everyone's, sorted as a person expects"
    );
    assert_eq!(
        names(store.list(Some(&key("alice"))).await.unwrap()),
        [
            "Apricot",
            "banana",
            "Banana split",
            "Cherry",
            "Émile",
            "zebra"
        ],
        "alice's and the unowned"
    );
    assert_eq!(
        names(store.list(Some(&key("carol"))).await.unwrap()),
        ["Apricot", "banana", "Émile"],
        "an owner with none sees the unowned"
    );
    let item = store
        .list(Some(&key("bob")))
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.name.as_str() == "apple")
        .unwrap();
    assert_eq!(
        serde_json::to_value(&item)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["id", "name"],
        "a list item has the list fields only"
    );
}

async fn list_keeps_at_most_500_of_each_owner_set_first_by_name(store: impl PipelinesStore) {
    let names: Vec<String> = (0..503).map(|i| format!("Unowned {i:04}")).collect();
    futures::stream::iter(names.iter())
        .map(|name| create(&store, name))
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    create_owned(&store, "Mine", Some("alice")).await;
    let listed = store.list(Some(&key("alice"))).await.unwrap();
    assert_eq!(listed.len(), 501, "500 unowned and alice's one");
    assert_eq!(
        listed.last().unwrap().name.as_str(),
        "Unowned 0499",
        "the first 500 by name"
    );
    assert!(listed.iter().any(|p| p.name.as_str() == "Mine"));
    assert_eq!(store.list(None).await.unwrap().len(), 501);
}

async fn the_list_shows_every_write_in_the_very_next_request(store: impl PipelinesStore) {
    let owner = key("reloader");
    let listed = |items: Vec<pipelines::PipelineListItem>| -> Vec<Value> {
        items
            .into_iter()
            .map(|i| serde_json::to_value(i).unwrap())
            .collect()
    };
    for round in 0..10 {
        let p = create_owned(&store, &format!("Round {round}"), Some("reloader")).await;
        let shown = listed(store.list(Some(&owner)).await.unwrap());
        assert_eq!(
            shown,
            [json!({ "id": p.id, "name": format!("Round {round}") })],
            "created"
        );
        store
            .update(
                &p.id,
                update(json!({ "name": "Renamed", "description": "d", "schedule": { "cron": "1 * * * *" } })),
            )
            .await
            .unwrap();
        store
            .record_run(run(&p.id, "2025-06-01T00:00:00.000Z"), LATER)
            .await
            .unwrap();
        let item = json!({ "id": p.id, "name": "Renamed", "description": "d",
                           "schedule": { "cron": "1 * * * *" }, "lastRunAt": "2025-06-01T00:00:00.000Z" });
        assert_eq!(
            listed(store.list(Some(&owner)).await.unwrap()),
            std::slice::from_ref(&item)
        );
        assert_eq!(
            listed(store.list(None).await.unwrap()),
            [item],
            "everyone's"
        );
        store
            .update(
                &p.id,
                update(json!({ "rotateSecret": true, "schedule": null })),
            )
            .await
            .unwrap();
        assert!(
            store.list(None).await.unwrap()[0].schedule.is_none(),
            "rotated and changed"
        );
        assert!(store.delete(&p.id).await.unwrap());
        assert!(
            store.list(Some(&owner)).await.unwrap().is_empty(),
            "deleted"
        );
        assert!(store.list(None).await.unwrap().is_empty(), "deleted");
    }
}

async fn record_run_sets_last_run_at_and_appends_a_run(store: impl PipelinesStore) {
    let p = create(&store, "Runner").await;
    let completed = "2025-03-01T10:00:00.000Z";
    let the_run = run(&p.id, completed);
    let updated = store
        .record_run(the_run.clone(), LATER)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        updated.last_run_at.as_ref().map(|t| t.as_str()),
        Some(completed)
    );
    assert_eq!(updated.updated_at, LATER);
    assert_eq!(
        Pipeline {
            last_run_at: None,
            updated_at: CREATED.into(),
            ..updated.clone()
        },
        p,
        "nothing else changes"
    );
    assert_eq!(store.get(&p.id).await.unwrap(), Some(updated));
    let runs = store.list_runs(&p.id, 10).await.unwrap();
    assert_eq!(runs, std::slice::from_ref(&the_run));
    assert_eq!(
        serde_json::to_value(&runs[0]).unwrap(),
        json!({ "pipelineId": p.id, "runId": the_run.run_id, "status": "success",
                "startedAt": completed, "completedAt": completed }),
        "defaults: status success, startedAt = completedAt"
    );
    assert!(is_uuid_v4(&the_run.run_id));
    let listed = store.list(None).await.unwrap();
    assert_eq!(
        listed[0].last_run_at.as_ref().map(|t| t.as_str()),
        Some(completed)
    );
}

async fn record_run_of_an_absent_pipeline_is_none_and_writes_no_run(store: impl PipelinesStore) {
    let ghost = key("ghost");
    assert_eq!(
        store
            .record_run(run(&ghost, "2025-03-01T10:00:00.000Z"), LATER)
            .await
            .unwrap(),
        None
    );
    assert!(store.list_runs(&ghost, 10).await.unwrap().is_empty());
    assert_eq!(store.get(&ghost).await.unwrap(), None);
}

async fn list_runs_returns_the_newest_first_up_to_the_limit(store: impl PipelinesStore) {
    let p = create(&store, "History").await;
    let completions = [
        "2025-03-02T00:00:00.000Z",
        "2025-03-01T00:00:00.000Z",
        "2025-03-03T01:00:00.000+02:00",
        "2025-03-03T00:00:00.000Z",
    ];
    for completed in completions {
        let args: RecordRunArgs = serde_json::from_value(json!({
            "id": p.id, "completedAt": completed, "startedAt": "2025-02-28T00:00:00.000Z",
            "status": "failed", "error": format!("failed at {completed}"),
        }))
        .unwrap();
        store.record_run(args.into_run(), LATER).await.unwrap();
    }
    let order = |runs: Vec<Run>| -> Vec<String> {
        runs.into_iter()
            .map(|r| r.completed_at.as_str().to_owned())
            .collect()
    };
    assert_eq!(
        order(store.list_runs(&p.id, 10).await.unwrap()),
        [
            "2025-03-03T00:00:00.000Z",
            "2025-03-03T01:00:00.000+02:00",
            "2025-03-02T00:00:00.000Z",
            "2025-03-01T00:00:00.000Z",
        ],
        "by instant, not by text: 01:00+02:00 on the 3rd is 23:00Z on the 2nd"
    );
    let two = store.list_runs(&p.id, 2).await.unwrap();
    assert_eq!(
        order(two.clone()),
        ["2025-03-03T00:00:00.000Z", "2025-03-03T01:00:00.000+02:00"]
    );
    assert_eq!(two[0].status, pipelines::RunStatus::Failed);
    assert_eq!(
        two[0].error.as_deref(),
        Some("failed at 2025-03-03T00:00:00.000Z")
    );
    assert_eq!(two[0].started_at.as_str(), "2025-02-28T00:00:00.000Z");
}

async fn parallel_updates_of_different_fields_of_one_pipeline_lose_nothing(
    store: impl PipelinesStore,
) {
    let p = create(&store, "Contended").await;
    let updates = vec![
        json!({ "name": "Final name" }),
        json!({ "description": "final description" }),
        json!({ "steps": [{ "id": "q", "kind": "queue", "options": {} }] }),
        json!({ "schedule": { "cron": "5 * * * *" } }),
        json!({ "defaultSource": { "kind": "url", "value": "https://final" } }),
        json!({ "rotateSecret": true }),
        json!({ "rotateSecret": true }),
        json!({ "rotateSecret": true }),
    ];
    let results =
        futures::future::try_join_all(updates.into_iter().map(|u| store.update(&p.id, update(u))))
            .await
            .unwrap();
    let secrets: Vec<String> = results[5..]
        .iter()
        .map(|r| r.as_ref().unwrap().webhook_secret.clone())
        .collect();
    let last = store.get(&p.id).await.unwrap().unwrap();
    assert_eq!(last.name.as_str(), "Final name");
    assert_eq!(last.description.as_deref(), Some("final description"));
    assert_eq!(last.steps.len(), 1);
    assert_eq!(last.schedule.as_ref().unwrap().cron, "5 * * * *");
    assert_eq!(last.default_source.as_ref().unwrap().value, "https://final");
    assert!(
        secrets.contains(&last.webhook_secret),
        "the last rotation's secret is current"
    );
    for secret in secrets.iter().chain([&p.webhook_secret]) {
        let expected = (secret == &last.webhook_secret).then(|| p.id.clone());
        assert_eq!(
            resolves(&store, secret).await,
            expected,
            "only the current secret resolves"
        );
    }
}

async fn parallel_record_runs_record_every_run(store: impl PipelinesStore) {
    let p = create(&store, "Busy").await;
    let runs: Vec<Run> = (0..12)
        .map(|i| run(&p.id, &format!("2025-04-01T00:00:{i:02}.000Z")))
        .collect();
    futures::future::try_join_all(runs.iter().map(|r| store.record_run(r.clone(), LATER)))
        .await
        .unwrap();
    let listed = store.list_runs(&p.id, 100).await.unwrap();
    assert_eq!(listed.len(), 12, "no run is lost");
    let mut expected = runs;
    expected.reverse();
    assert_eq!(listed, expected);
    assert!(store
        .get(&p.id)
        .await
        .unwrap()
        .unwrap()
        .last_run_at
        .is_some());
}

async fn a_pipeline_over_the_item_limit_is_refused_as_too_large(store: impl PipelinesStore) {
    let huge = "x".repeat(500 * 1024);
    let too_big =
        input(json!({ "name": "Big", "description": huge, "steps": [] })).into_pipeline(CREATED);
    assert!(
        matches!(store.create(too_big).await, Err(StoreError::TooLarge(_))),
        "create"
    );
    assert!(
        store.list(None).await.unwrap().is_empty(),
        "nothing was written"
    );
    let p = create(&store, "Small").await;
    let result = store
        .update(&p.id, update(json!({ "description": huge })))
        .await;
    assert!(
        matches!(result, Err(StoreError::TooLarge(_))),
        "update: {result:?}"
    );
    let result = store
        .update(
            &p.id,
            update(json!({ "description": huge, "rotateSecret": true })),
        )
        .await;
    assert!(
        matches!(result, Err(StoreError::TooLarge(_))),
        "rotating update: {result:?}"
    );
    let unchanged = store.get(&p.id).await.unwrap().unwrap();
    assert_eq!(unchanged, p, "a refused update changes nothing");
    assert_eq!(
        resolves(&store, &p.webhook_secret).await,
        Some(p.id.clone())
    );
}

async fn option_numbers_at_the_edges_of_the_storable_range_read_back(store: impl PipelinesStore) {
    let largest_below_1e38 = f64::from_bits(1e38_f64.to_bits() - 1);
    let options = json!({ "bulletCount": largest_below_1e38, "maxCharacters": -1e-120,
                          "segmentDelayMs": 0.1 });
    let made = store
        .create(
            input(json!({ "name": "Edges", "steps": [{ "id": "s", "kind": "chunk", "options": options }] }))
                .into_pipeline(CREATED),
        )
        .await
        .unwrap();
    let stored = serde_json::to_value(store.get(&made.id).await.unwrap().unwrap()).unwrap();
    assert_eq!(stored["steps"][0]["options"], options);
}

#[test]
fn the_template_table_and_index_have_the_keys_and_projection_the_code_uses() {
    use pipelines::attr;
    let table = devserver::tables::table(attr::TABLE.resource);
    let keys: Vec<&str> = table
        .key_schema
        .iter()
        .map(|k| k.attribute_name.as_str())
        .collect();
    assert_eq!(keys, [attr::PK, attr::SK]);
    assert!(
        table.global_secondary_indexes.is_empty(),
        "no global index: every read is strongly consistent"
    );
    let index = table
        .local_secondary_indexes
        .iter()
        .find(|i| i.index_name == attr::BY_NAME)
        .unwrap();
    let keys: Vec<&str> = index
        .key_schema
        .iter()
        .map(|k| k.attribute_name.as_str())
        .collect();
    assert_eq!(keys, [attr::PK, attr::NAME_KEY]);
    assert_eq!(index.projection.projection_type, "INCLUDE");
    let mut projected = index.projection.non_key_attributes.clone();
    projected.sort();
    let mut listed: Vec<String> = ["id", "name", "description", "schedule", "lastRunAt"]
        .map(str::to_owned)
        .to_vec();
    listed.sort();
    assert_eq!(projected, listed, "every PipelineListItem field");
    let runs = devserver::tables::table(attr::RUNS_TABLE.resource);
    let keys: Vec<&str> = runs
        .key_schema
        .iter()
        .map(|k| k.attribute_name.as_str())
        .collect();
    assert_eq!(keys, [attr::PIPELINE_ID, attr::RUN_KEY]);
}

/// DynamoDB only: the webhook lookup under concurrent rotations, what items hold, the sweep of runs.
#[cfg(feature = "dynamodb-local")]
mod dynamodb_only {
    use super::*;

    #[tokio::test]
    async fn lookups_interleaved_with_rotations_never_resolve_a_retired_secret() {
        let tables = DynamoTables::create().await;
        let store = dynamo(&tables);
        let p = create(&store, "Webhook").await;
        let mut retired: Vec<String> = Vec::new();
        let mut current = p.webhook_secret.clone();
        for round in 0..20 {
            let rotation = store.update(&p.id, update(json!({ "rotateSecret": true })));
            let lookups = async {
                for _ in 0..4 {
                    let retired_lookups = retired.iter().map(|s| store.find_by_webhook_secret(s));
                    let (old, during) = futures::join!(
                        futures::future::try_join_all(retired_lookups),
                        store.find_by_webhook_secret(&current),
                    );
                    assert!(
                        old.unwrap().iter().all(Option::is_none),
                        "round {round}: a retired secret resolved"
                    );
                    if let Some(found) = during.unwrap() {
                        assert_eq!(found.webhook_secret, current, "round {round}");
                    }
                }
            };
            let (rotated, ()) = futures::join!(rotation, lookups);
            let new = rotated.unwrap().unwrap().webhook_secret;
            assert_eq!(
                resolves(&store, &current).await,
                None,
                "round {round}: old, next call"
            );
            assert_eq!(
                resolves(&store, &new).await,
                Some(p.id.clone()),
                "round {round}: new, at once"
            );
            retired.push(std::mem::replace(&mut current, new));
        }
    }

    #[tokio::test]
    async fn no_key_or_index_attribute_holds_a_plaintext_secret() {
        let tables = DynamoTables::create().await;
        let store = dynamo(&tables);
        let p = create_owned(&store, "Private", Some("alice")).await;
        let items = tables
            .client
            .scan()
            .table_name(tables.table("pipelines"))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .items
            .unwrap();
        assert_eq!(
            items.len(),
            3,
            "the pipeline, its secret lookup and its list item"
        );
        for item in &items {
            for attribute in [
                pipelines::attr::PK,
                pipelines::attr::SK,
                pipelines::attr::NAME_KEY,
            ] {
                if let Some(value) = item.get(attribute) {
                    assert!(
                        !value.as_s().unwrap().contains(&p.webhook_secret),
                        "{attribute}"
                    );
                }
            }
        }
        let of_kind = |prefix: &str| {
            items
                .iter()
                .find(|i| i[pipelines::attr::PK].as_s().unwrap().starts_with(prefix))
                .unwrap()
        };
        let lookup = of_kind("secret#");
        assert_eq!(
            lookup.len(),
            3,
            "a lookup holds its key and the pipeline id only: {lookup:?}"
        );
        let list_item = of_kind("owner#alice");
        let mut fields: Vec<&str> = list_item.keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            ["id", "name", "nameKey", "pk", "sk"],
            "a list item holds its keys and the list fields only"
        );
    }

    #[tokio::test]
    async fn runs_left_behind_by_a_failed_cleanup_are_swept_by_the_next_delete() {
        let tables = DynamoTables::create().await;
        let store = dynamo(&tables);
        let orphan = run(&key("deleted-pipeline"), CREATED);
        let mut item = shared::dynamo::to_item(&orphan).unwrap();
        item.insert(
            pipelines::attr::RUN_KEY.into(),
            shared::dynamo::s(orphan.sort_key()),
        );
        tables
            .client
            .put_item()
            .table_name(tables.table("pipeline-runs"))
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
        assert!(!store.delete(&key("deleted-pipeline")).await.unwrap());
        assert!(store
            .list_runs(&key("deleted-pipeline"), 10)
            .await
            .unwrap()
            .is_empty());
    }
}

/// DynamoDB calls per store method (the budget in the crate docs).
#[cfg(feature = "dynamodb-local")]
mod round_trips {
    use super::*;

    #[tokio::test]
    async fn each_store_method_makes_the_calls_of_its_budget() {
        let tables = DynamoTables::create().await;
        let store = dynamo(&tables);
        let calls = || tables.calls.take();

        let p = create(&store, "Budget").await;
        assert_eq!(calls(), ["TransactWriteItems"], "create");
        store.get(&p.id).await.unwrap();
        assert_eq!(calls(), ["GetItem"], "get");
        resolves(&store, &p.webhook_secret).await.unwrap();
        assert_eq!(calls(), ["GetItem", "GetItem"], "findByWebhookSecret");
        resolves(&store, "unknown").await;
        assert_eq!(
            calls(),
            ["GetItem"],
            "findByWebhookSecret of an unknown secret"
        );
        store.list(Some(&key("alice"))).await.unwrap();
        assert_eq!(calls(), ["Query", "Query"], "list with an owner");
        store.list(None).await.unwrap();
        assert_eq!(calls(), ["Scan"], "list without an owner");
        store
            .update(&p.id, update(json!({ "name": "n", "schedule": null })))
            .await
            .unwrap();
        assert_eq!(calls(), ["GetItem", "TransactWriteItems"], "update");
        store
            .update(&p.id, update(json!({ "rotateSecret": true })))
            .await
            .unwrap();
        assert_eq!(
            calls(),
            ["GetItem", "TransactWriteItems"],
            "update with rotateSecret"
        );
        store
            .update(&key("absent"), update(json!({})))
            .await
            .unwrap();
        assert_eq!(calls(), ["GetItem"], "update of an absent pipeline");
        store.record_run(run(&p.id, CREATED), LATER).await.unwrap();
        assert_eq!(calls(), ["GetItem", "TransactWriteItems"], "recordRun");
        store
            .record_run(run(&key("absent"), CREATED), LATER)
            .await
            .unwrap();
        assert_eq!(calls(), ["GetItem"], "recordRun of an absent pipeline");
        store.list_runs(&p.id, 10).await.unwrap();
        assert_eq!(calls(), ["Query"], "listRuns");
        for i in 0..29 {
            store
                .record_run(run(&p.id, &format!("2025-01-01T00:00:{i:02}.000Z")), LATER)
                .await
                .unwrap();
        }
        calls();
        assert!(store.delete(&p.id).await.unwrap());
        assert_eq!(
            calls(),
            [
                "GetItem",
                "TransactWriteItems",
                "Query",
                "BatchWriteItem",
                "BatchWriteItem"
            ],
            "delete of a pipeline with 30 runs"
        );
        assert!(!store.delete(&p.id).await.unwrap());
        assert_eq!(
            calls(),
            ["GetItem", "Query"],
            "delete of an absent pipeline"
        );
    }
}

/// The routes over HTTP, on each store: exact reply shapes and the validation answers.
mod http {
    use super::*;
    use devserver::Store;
    use service_tests::spawn_app_at;
    use shared::clock::ManualClock;

    /// 2025-01-01T00:00:00.000Z.
    const T0: u64 = 1_735_689_600_000;

    async fn app(store: Store) -> (service_tests::TestApp, std::sync::Arc<ManualClock>) {
        let clock = ManualClock::at(T0);
        let app = spawn_app_at(store, clock.clone()).await;
        (app, clock)
    }

    #[tokio::test]
    async fn every_route_answers_the_contract_shape_on_the_embedded_store() {
        every_route_answers_the_contract_shape(service_tests::embedded()).await;
    }

    #[cfg(feature = "dynamodb-local")]
    #[tokio::test]
    async fn every_route_answers_the_contract_shape_on_dynamodb() {
        let tables = DynamoTables::create().await;
        every_route_answers_the_contract_shape(tables.store()).await;
    }

    async fn every_route_answers_the_contract_shape(store: Store) {
        let (app, clock) = app(store).await;
        let created = app
            .ok(
                "/pipelines/create",
                json!({ "input": {
                    "ownerId": "alice", "name": " Digest ", "description": "", "steps": [clean_step()],
                    "schedule": { "cron": "0 7 * * *" },
                } }),
            )
            .await;
        let id = created["pipeline"]["id"].as_str().unwrap().to_owned();
        let secret = created["pipeline"]["webhookSecret"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(is_uuid_v4(&id) && is_uuid_v4(&secret));
        let pipeline = json!({
            "id": id, "ownerId": "alice", "name": "Digest", "steps": [clean_step()],
            "schedule": { "cron": "0 7 * * *" }, "webhookSecret": secret,
            "createdAt": "2025-01-01T00:00:00.000Z", "updatedAt": "2025-01-01T00:00:00.000Z",
        });
        assert_eq!(created, json!({ "pipeline": pipeline }));

        assert_eq!(
            app.ok("/pipelines/get", json!({ "id": id })).await,
            json!({ "pipeline": pipeline })
        );
        assert_eq!(
            app.ok("/pipelines/get", json!({ "id": "nope" })).await,
            json!({ "pipeline": null })
        );
        assert_eq!(
            app.ok(
                "/pipelines/findByWebhookSecret",
                json!({ "secret": secret })
            )
            .await,
            json!({ "pipeline": pipeline })
        );
        assert_eq!(
            app.ok(
                "/pipelines/findByWebhookSecret",
                json!({ "secret": "nope" })
            )
            .await,
            json!({ "pipeline": null })
        );
        let item = json!({ "id": id, "name": "Digest", "schedule": { "cron": "0 7 * * *" } });
        assert_eq!(
            app.ok("/pipelines/list", json!({})).await,
            json!({ "pipelines": [item] })
        );
        assert_eq!(
            app.ok("/pipelines/list", json!({ "ownerId": "alice" }))
                .await,
            json!({ "pipelines": [item] })
        );
        assert_eq!(
            app.ok("/pipelines/list", json!({ "ownerId": "bob" })).await,
            json!({ "pipelines": [] })
        );

        clock.set(T0 + 60_000);
        let updated = app
            .ok(
                "/pipelines/update",
                json!({ "id": id, "input": { "description": " About ", "schedule": null } }),
            )
            .await;
        let mut expected = pipeline.clone();
        expected["description"] = json!("About");
        expected["updatedAt"] = json!("2025-01-01T00:01:00.000Z");
        expected.as_object_mut().unwrap().remove("schedule");
        assert_eq!(updated, json!({ "pipeline": expected }));
        assert_eq!(
            app.ok(
                "/pipelines/update",
                json!({ "id": "nope", "input": { "name": "x" } })
            )
            .await,
            json!({ "pipeline": null })
        );

        clock.set(T0 + 120_000);
        let recorded = app
            .ok(
                "/pipelines/recordRun",
                json!({ "id": id, "completedAt": "2025-01-01T00:01:30.000Z" }),
            )
            .await;
        expected["lastRunAt"] = json!("2025-01-01T00:01:30.000Z");
        expected["updatedAt"] = json!("2025-01-01T00:02:00.000Z");
        assert_eq!(recorded, json!({ "pipeline": expected }));
        app.ok(
            "/pipelines/recordRun",
            json!({ "id": id, "completedAt": "2025-01-01T00:01:50.000Z", "startedAt": "2025-01-01T00:01:40.000Z",
                    "status": "failed", "error": "boom" }),
        )
        .await;
        assert_eq!(
            app.ok(
                "/pipelines/recordRun",
                json!({ "id": "nope", "completedAt": "2025-01-01T00:01:30.000Z" })
            )
            .await,
            json!({ "pipeline": null })
        );
        let runs = app.ok("/pipelines/listRuns", json!({ "id": id })).await;
        let run_ids: Vec<&str> = runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["runId"].as_str().unwrap())
            .collect();
        assert_eq!(
            runs,
            json!({ "runs": [
                { "pipelineId": id, "runId": run_ids[0], "status": "failed", "startedAt": "2025-01-01T00:01:40.000Z",
                  "completedAt": "2025-01-01T00:01:50.000Z", "error": "boom" },
                { "pipelineId": id, "runId": run_ids[1], "status": "success", "startedAt": "2025-01-01T00:01:30.000Z",
                  "completedAt": "2025-01-01T00:01:30.000Z" },
            ] })
        );
        assert!(run_ids.iter().all(|r| is_uuid_v4(r)));
        assert_eq!(
            app.ok("/pipelines/listRuns", json!({ "id": id, "limit": 1 }))
                .await["runs"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            app.ok("/pipelines/listRuns", json!({ "id": "nope" })).await,
            json!({ "runs": [] })
        );

        let rotated = app
            .ok(
                "/pipelines/update",
                json!({ "id": id, "input": { "rotateSecret": true } }),
            )
            .await;
        let new_secret = rotated["pipeline"]["webhookSecret"].as_str().unwrap();
        assert_ne!(new_secret, secret);
        assert_eq!(
            app.ok(
                "/pipelines/findByWebhookSecret",
                json!({ "secret": secret })
            )
            .await,
            json!({ "pipeline": null }),
            "the old secret stops in the very next request"
        );
        assert_eq!(
            app.ok(
                "/pipelines/findByWebhookSecret",
                json!({ "secret": new_secret })
            )
            .await,
            json!({ "pipeline": rotated["pipeline"] })
        );

        assert_eq!(
            app.ok("/pipelines/delete", json!({ "id": id })).await,
            json!({ "result": true })
        );
        assert_eq!(
            app.ok("/pipelines/delete", json!({ "id": id })).await,
            json!({ "result": false })
        );
        assert_eq!(
            app.ok(
                "/pipelines/findByWebhookSecret",
                json!({ "secret": new_secret })
            )
            .await,
            json!({ "pipeline": null })
        );
        assert_eq!(
            app.ok("/pipelines/listRuns", json!({ "id": id })).await,
            json!({ "runs": [] })
        );
        assert_eq!(
            app.ok("/pipelines/list", json!({})).await,
            json!({ "pipelines": [] })
        );
        let logged = serde_json::to_string(&app.log_lines()).unwrap();
        assert!(
            !logged.contains(&secret) && !logged.contains(new_secret),
            "no secret in any log line"
        );
    }

    /// A `400` whose message is `message` (or starts with it when it ends in `…`).
    async fn refused(app: &service_tests::TestApp, path: &str, body: Value, message: &str) {
        let answer = app.call(path, body.clone()).await;
        assert_eq!(answer.status, 400, "{path} {body}: {answer:?}");
        assert_eq!(answer.body["error"]["code"], "invalid_argument");
        let got = answer.body["error"]["message"].as_str().unwrap();
        match message.strip_suffix('…') {
            Some(start) => assert!(
                got.starts_with(start),
                "{got:?} should start with {start:?}"
            ),
            None => assert_eq!(got, message),
        }
    }

    #[tokio::test]
    async fn invalid_arguments_are_400s_naming_the_field() {
        let (app, _) = app(service_tests::embedded()).await;
        let with_step =
            |step: Value| json!({ "input": { "name": "n", "steps": [clean_step(), step] } });
        refused(
            &app,
            "/pipelines/create",
            json!({ "input": { "name": "   ", "steps": [] } }),
            "input.name: must not be empty",
        )
        .await;
        refused(
            &app,
            "/pipelines/create",
            json!({ "input": { "steps": [] } }),
            "input: missing field `name`",
        )
        .await;
        refused(
            &app,
            "/pipelines/create",
            with_step(json!({ "id": "x", "kind": "dance", "options": {} })),
            "input.steps[1].kind: unknown variant `dance`…",
        )
        .await;
        refused(
            &app,
            "/pipelines/create",
            with_step(json!({ "id": "x", "kind": "clean", "options": { "colour": "red" } })),
            "input.steps[1].options.colour: unknown field `colour`…",
        )
        .await;
        refused(
            &app,
            "/pipelines/create",
            with_step(
                json!({ "id": "x", "kind": "chunk", "options": { "maxCharacters": "many" } }),
            ),
            "input.steps[1].options.maxCharacters: expected a number, got a string",
        )
        .await;
        refused(
            &app,
            "/pipelines/create",
            with_step(json!({ "id": "x", "kind": "tone", "options": { "tone": "sarcastic" } })),
            "input.steps[1].options.tone: unknown variant `sarcastic`…",
        )
        .await;
        refused(
            &app,
            "/pipelines/create",
            with_step(json!({ "id": "x", "kind": "clean", "options": { "preserveQuotes": null } })),
            "input.steps[1].options.preserveQuotes: expected a boolean, got null",
        )
        .await;
        refused(
            &app,
            "/pipelines/create",
            with_step(
                json!({ "id": "x", "kind": "clean", "options": { "segmentDelayMs": 1e200 } }),
            ),
            "input.steps[1].options.segmentDelayMs: must be a number between -1e38 and 1e38 (the range the database stores)",
        )
        .await;
        refused(
            &app,
            "/pipelines/create",
            with_step(json!({ "id": "x", "kind": "clean", "options": {}, "extra": 1 })),
            "input.steps[1].extra: unknown field `extra`…",
        )
        .await;
        refused(
            &app,
            "/pipelines/create",
            json!({ "input": { "name": "n", "steps": [], "defaultSource": { "kind": "file", "value": "x" } } }),
            "input.defaultSource.kind: unknown variant `file`…",
        )
        .await;
        refused(
            &app,
            "/pipelines/create",
            json!({ "input": { "name": "n", "steps": [], "schedule": null } }),
            "input.schedule: expected an object, got null",
        )
        .await;
        refused(
            &app,
            "/pipelines/update",
            json!({ "id": "p", "input": { "description": null } }),
            "input.description: expected a string, got null",
        )
        .await;
        refused(
            &app,
            "/pipelines/update",
            json!({ "id": "p", "input": { "name": " " } }),
            "input.name: must not be empty",
        )
        .await;
        refused(
            &app,
            "/pipelines/update",
            json!({ "id": "p", "input": { "ownerId": "someone-else" } }),
            "input.ownerId: unknown field `ownerId`…",
        )
        .await;
        refused(
            &app,
            "/pipelines/recordRun",
            json!({ "id": "p", "completedAt": "last tuesday" }),
            "completedAt: expected an ISO-8601 date-time…",
        )
        .await;
        refused(
            &app,
            "/pipelines/recordRun",
            json!({ "id": "p", "completedAt": "2025-01-01T00:00:00.000Z", "status": "exploded" }),
            "status: unknown variant `exploded`…",
        )
        .await;
        refused(
            &app,
            "/pipelines/listRuns",
            json!({ "id": "p", "limit": "ten" }),
            "limit: expected a number, got a string",
        )
        .await;
        refused(
            &app,
            "/pipelines/get",
            json!({ "id": "" }),
            "id: must not be empty",
        )
        .await;
        refused(
            &app,
            "/pipelines/list",
            json!({ "ownerId": null }),
            "ownerId: expected a string, got null",
        )
        .await;
    }
}
