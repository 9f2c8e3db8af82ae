//! The transit store contract, on the embedded store and on DynamoDB Local.

use super::*;
use service_tests::{conformance, key};
use shared::{Num, StoreError};
use transit::{CalendarToken, Saved, Secret, TransitStore, LIST_BUDGET_BYTES, MAX_TRANSCRIPTS};

conformance!(embedded_store(), dynamo_store;
    list_is_created_at_descending_then_the_later_inserted_first,
    an_update_replaces_every_field_keeps_its_insertion_position_and_can_move,
    the_same_id_under_two_users_is_two_transcripts,
    a_newer_201st_drops_the_oldest_and_200_remain,
    an_older_201st_is_trimmed_itself_and_nothing_is_written,
    an_update_at_200_trims_nothing,
    fifty_parallel_inserts_at_190_leave_exactly_the_200_first,
    parallel_saves_of_one_id_leave_one_record,
    remove_answers_true_once_then_false,
    clear_deletes_all_and_counts_them_and_leaves_other_users,
    a_clear_past_what_one_transaction_holds_is_all_or_nothing,
    a_900_kb_transcript_round_trips_exactly,
    the_list_stops_at_the_5_mib_budget_and_a_limit_brings_older_ones_back,
    long_created_at_values_order_by_their_full_text,
    the_calendar_token_is_created_then_replaced_then_cleared,
    parallel_first_token_sets_leave_one_token_and_one_creator,
);

async fn save_all(store: &impl TransitStore, transcripts: &[NewTranscript]) {
    for t in transcripts {
        assert_eq!(store.save_transcript(t).await.unwrap(), Saved::Inserted);
    }
}

async fn list_is_created_at_descending_then_the_later_inserted_first(store: impl TransitStore) {
    save_all(
        &store,
        &[
            transcript("u", "b-tie-first", &iso(10)),
            transcript("u", "old", &iso(1)),
            transcript("u", "a-tie-second", &iso(10)),
            transcript("u", "new", &iso(20)),
            transcript("u", "empty", ""),
            transcript("other", "theirs", &iso(30)),
        ],
    )
    .await;
    let listed = store.list_transcripts(&key("u"), 200).await.unwrap();
    assert_eq!(
        ids(&listed),
        ["new", "a-tie-second", "b-tie-first", "old", "empty"],
        "createdAt descending; equal createdAt: inserted later first, whatever the ids"
    );
    assert_eq!(
        values(&listed)[0],
        returned(&wire("u", "new", &iso(20))),
        "read back exactly, as returned"
    );
    assert_eq!(
        ids(&store.list_transcripts(&key("u"), 2).await.unwrap()),
        ["new", "a-tie-second"]
    );
    assert!(store
        .list_transcripts(&key("nobody"), 200)
        .await
        .unwrap()
        .is_empty());
}

async fn an_update_replaces_every_field_keeps_its_insertion_position_and_can_move(
    store: impl TransitStore,
) {
    let mut full = wire("u", "t1", &iso(5));
    full["summary"] = json!({ "summary": "s", "actionItems": [{ "text": "do", "ownerHint": "Ada" }],
        "scheduleRecommendation": { "title": "Sync", "participants": [] } });
    full["cleanup"] = json!({ "instruction": "tidy", "output": "tidied", "label": "L" });
    full["language"] = json!("en");
    full["confidence"] = json!(0.85);
    let first = NewTranscript::parse(input(&full)).unwrap();
    assert_eq!(
        store.save_transcript(&first).await.unwrap(),
        Saved::Inserted
    );
    save_all(&store, &[transcript("u", "t2", &iso(5))]).await;
    assert_eq!(
        ids(&store.list_transcripts(&key("u"), 200).await.unwrap()),
        ["t2", "t1"]
    );

    let bare = transcript("u", "t1", &iso(5));
    assert_eq!(store.save_transcript(&bare).await.unwrap(), Saved::Updated);
    let listed = store.list_transcripts(&key("u"), 200).await.unwrap();
    assert_eq!(
        ids(&listed),
        ["t2", "t1"],
        "the update keeps its insertion position among ties"
    );
    let t1 = &values(&listed)[1];
    assert_eq!(t1, &returned(&wire("u", "t1", &iso(5))));
    assert_eq!(t1["summary"], Value::Null);
    assert!(t1.get("confidence").is_none());

    let moved = transcript("u", "t1", &iso(6));
    assert_eq!(store.save_transcript(&moved).await.unwrap(), Saved::Updated);
    assert_eq!(
        ids(&store.list_transcripts(&key("u"), 200).await.unwrap()),
        ["t1", "t2"]
    );
    assert_eq!(
        store.clear_transcripts(&key("u")).await.unwrap(),
        2,
        "updates add nothing"
    );
}

async fn the_same_id_under_two_users_is_two_transcripts(store: impl TransitStore) {
    save_all(
        &store,
        &[
            transcript("me", "same", &iso(1)),
            transcript("them", "same", &iso(2)),
        ],
    )
    .await;
    assert!(store
        .remove_transcript(&key("me"), &key("same"))
        .await
        .unwrap());
    assert_eq!(
        ids(&store.list_transcripts(&key("them"), 200).await.unwrap()),
        ["same"]
    );
}

/// 200 transcripts of `u`, `t000` oldest … `t199` newest (createdAt seconds 100 … 299).
async fn fill_200(store: &impl TransitStore) -> Vec<String> {
    let all: Vec<NewTranscript> = (0..200)
        .map(|i| transcript("u", &format!("t{i:03}"), &iso(100 + i)))
        .collect();
    save_all(store, &all).await;
    (0..200).rev().map(|i| format!("t{i:03}")).collect()
}

async fn a_newer_201st_drops_the_oldest_and_200_remain(store: impl TransitStore) {
    let mut expected = fill_200(&store).await;
    let newest = transcript("u", "newest", &iso(1000));
    assert_eq!(
        store.save_transcript(&newest).await.unwrap(),
        Saved::Inserted
    );
    expected.insert(0, "newest".into());
    expected.pop();
    assert_eq!(
        ids(&store.list_transcripts(&key("u"), 200).await.unwrap()),
        expected
    );
    assert!(
        !store
            .remove_transcript(&key("u"), &key("t000"))
            .await
            .unwrap(),
        "t000 was trimmed"
    );
    // Tied with the oldest kept: the one inserted later comes first, so the old one goes.
    let tie = transcript("u", "tie", &iso(101));
    assert_eq!(store.save_transcript(&tie).await.unwrap(), Saved::Inserted);
    let listed = ids(&store.list_transcripts(&key("u"), 200).await.unwrap());
    assert_eq!(listed.len(), MAX_TRANSCRIPTS);
    assert_eq!(&listed[198..], ["t002", "tie"]);
}

async fn an_older_201st_is_trimmed_itself_and_nothing_is_written(store: impl TransitStore) {
    let expected = fill_200(&store).await;
    let ancient = transcript("u", "ancient", &iso(0));
    assert_eq!(
        store.save_transcript(&ancient).await.unwrap(),
        Saved::Trimmed
    );
    assert_eq!(
        ids(&store.list_transcripts(&key("u"), 200).await.unwrap()),
        expected
    );
    assert!(!store
        .remove_transcript(&key("u"), &key("ancient"))
        .await
        .unwrap());
}

async fn an_update_at_200_trims_nothing(store: impl TransitStore) {
    let mut expected = fill_200(&store).await;
    let older = transcript("u", "t150", &iso(0));
    assert_eq!(store.save_transcript(&older).await.unwrap(), Saved::Updated);
    expected.retain(|id| id != "t150");
    expected.push("t150".into());
    assert_eq!(
        ids(&store.list_transcripts(&key("u"), 200).await.unwrap()),
        expected
    );
    assert_eq!(store.clear_transcripts(&key("u")).await.unwrap(), 200);
}

async fn fifty_parallel_inserts_at_190_leave_exactly_the_200_first(store: impl TransitStore) {
    let old: Vec<NewTranscript> = (0..190)
        .map(|i| transcript("u", &format!("old{i:03}"), &iso(2 * i)))
        .collect();
    save_all(&store, &old).await;
    // Spread over the old ones' times: the first 200 of the 240 mix old and new ones.
    let new: Vec<NewTranscript> = (0..50)
        .map(|i| transcript("u", &format!("new{i:03}"), &iso(7 * i + 1)))
        .collect();
    let outcomes = futures::future::join_all(new.iter().map(|t| store.save_transcript(t))).await;
    let mut inserted = 0;
    for outcome in outcomes {
        match outcome.unwrap() {
            Saved::Inserted => inserted += 1,
            Saved::Trimmed => {}
            Saved::Updated => panic!("no id was saved twice"),
        }
    }
    let listed = ids(&store.list_transcripts(&key("u"), 200).await.unwrap());
    assert_eq!(listed.len(), 200, "exactly 200 remain");
    // createdAt descending; where an old and a new one share it (old172 and new049), the new one
    // was inserted later and comes first.
    let mut created: Vec<(String, bool, String)> = old
        .iter()
        .map(|t| (t.created_at.clone(), false, t.id.as_str().to_owned()))
        .chain(
            new.iter()
                .map(|t| (t.created_at.clone(), true, t.id.as_str().to_owned())),
        )
        .collect();
    created.sort_by(|a, b| (&b.0, b.1).cmp(&(&a.0, a.1)));
    let newest: Vec<String> = created.into_iter().take(200).map(|(_, _, id)| id).collect();
    assert_eq!(listed, newest);
    assert!(
        listed.iter().any(|id| id.starts_with("new"))
            && listed.iter().any(|id| id.starts_with("old"))
    );
    assert!(inserted >= newest.iter().filter(|id| id.starts_with("new")).count());
    assert_eq!(store.clear_transcripts(&key("u")).await.unwrap(), 200);
}

async fn parallel_saves_of_one_id_leave_one_record(store: impl TransitStore) {
    let versions: Vec<NewTranscript> = (0..10).map(|i| transcript("u", "same", &iso(i))).collect();
    let outcomes =
        futures::future::join_all(versions.iter().map(|t| store.save_transcript(t))).await;
    let saved: Vec<Saved> = outcomes.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        saved.iter().filter(|s| **s == Saved::Inserted).count(),
        1,
        "{saved:?}"
    );
    assert_eq!(saved.iter().filter(|s| **s == Saved::Updated).count(), 9);
    let listed = store.list_transcripts(&key("u"), 200).await.unwrap();
    assert_eq!(ids(&listed), ["same"]);
    assert!(
        versions.iter().any(|v| v.json == listed[0]),
        "one of the saves, whole"
    );
}

async fn remove_answers_true_once_then_false(store: impl TransitStore) {
    save_all(
        &store,
        &[transcript("u", "a", &iso(1)), transcript("u", "b", &iso(2))],
    )
    .await;
    assert!(store.remove_transcript(&key("u"), &key("a")).await.unwrap());
    assert!(!store.remove_transcript(&key("u"), &key("a")).await.unwrap());
    assert!(!store
        .remove_transcript(&key("u"), &key("never"))
        .await
        .unwrap());
    assert!(!store
        .remove_transcript(&key("nobody"), &key("a"))
        .await
        .unwrap());
    assert_eq!(
        ids(&store.list_transcripts(&key("u"), 200).await.unwrap()),
        ["b"]
    );
}

async fn clear_deletes_all_and_counts_them_and_leaves_other_users(store: impl TransitStore) {
    let mine: Vec<NewTranscript> = (0..30)
        .map(|i| transcript("u", &format!("t{i}"), &iso(i)))
        .collect();
    save_all(&store, &mine).await;
    save_all(&store, &[transcript("other", "x", &iso(1))]).await;
    assert_eq!(store.clear_transcripts(&key("u")).await.unwrap(), 30);
    assert!(store
        .list_transcripts(&key("u"), 200)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.clear_transcripts(&key("u")).await.unwrap(), 0);
    assert_eq!(store.clear_transcripts(&key("nobody")).await.unwrap(), 0);
    assert_eq!(
        ids(&store.list_transcripts(&key("other"), 200).await.unwrap()),
        ["x"]
    );
    // The user starts again: new transcripts, in order, and the cap counts from zero.
    save_all(
        &store,
        &[
            transcript("u", "t0", &iso(1)),
            transcript("u", "again", &iso(1)),
        ],
    )
    .await;
    assert_eq!(
        ids(&store.list_transcripts(&key("u"), 200).await.unwrap()),
        ["again", "t0"]
    );
}

async fn a_clear_past_what_one_transaction_holds_is_all_or_nothing(store: impl TransitStore) {
    // 60 transcripts of two DynamoDB items each (over 384 KiB): 120 body items, more than one
    // transaction holds. A reader sees all of them until the clear, and none after.
    let all: Vec<NewTranscript> = (0..60)
        .map(|i| big("u", &format!("t{i:03}"), &iso(i), 390 * 1024))
        .collect();
    save_all(&store, &all).await;
    let before = store.list_transcripts(&key("u"), 200).await.unwrap().len();
    assert_eq!(before, 13, "5 MiB hold 13 of them");
    let u = key("u");
    let (cleared, seen) = tokio::join!(store.clear_transcripts(&u), async {
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(store.list_transcripts(&u, 200).await.unwrap().len());
        }
        seen
    });
    assert_eq!(cleared.unwrap(), 60);
    assert!(
        seen.iter().all(|&n| n == 0 || n == before),
        "a reader saw a partly cleared list: {seen:?}"
    );
    assert!(store
        .list_transcripts(&key("u"), 200)
        .await
        .unwrap()
        .is_empty());
    assert!(!store
        .remove_transcript(&key("u"), &key("t059"))
        .await
        .unwrap());
    save_all(&store, &[transcript("u", "after", &iso(1))]).await;
    assert_eq!(
        ids(&store.list_transcripts(&key("u"), 200).await.unwrap()),
        ["after"]
    );
}

async fn a_900_kb_transcript_round_trips_exactly(store: impl TransitStore) {
    let mut record = wire("u", "long", &iso(1));
    record["transcript"] = json!(text(600 * 1024));
    record["segments"] = json!((0..2000u32)
        .map(|i| json!({ "index": i, "startMs": i * 1000, "endMs": f64::from(i * 1000) + 999.5, "text": format!("Segment \"{i}\" é ✓ 𝄞") }))
        .collect::<Vec<_>>());
    record["cleanup"] = json!({ "instruction": "tidy", "output": text(150 * 1024) });
    record["confidence"] = json!(0.1 + 0.2);
    let long = NewTranscript::parse(input(&record)).unwrap();
    assert!(
        (880 * 1024..1024 * 1024).contains(&long.json.len()),
        "{}",
        long.json.len()
    );
    assert_eq!(store.save_transcript(&long).await.unwrap(), Saved::Inserted);
    let listed = store.list_transcripts(&key("u"), 200).await.unwrap();
    assert_eq!(listed, std::slice::from_ref(&long.json), "byte for byte");
    assert_eq!(values(&listed)[0], returned(&record));
    assert_eq!(values(&listed)[0]["confidence"], json!(0.30000000000000004));
    // Replaced by a small one, then by the large one again: every version reads back whole.
    let small = transcript("u", "long", &iso(1));
    assert_eq!(store.save_transcript(&small).await.unwrap(), Saved::Updated);
    assert_eq!(
        store.list_transcripts(&key("u"), 200).await.unwrap(),
        [small.json]
    );
    assert_eq!(store.save_transcript(&long).await.unwrap(), Saved::Updated);
    assert_eq!(
        store.list_transcripts(&key("u"), 200).await.unwrap(),
        [long.json]
    );
    assert!(store
        .remove_transcript(&key("u"), &key("long"))
        .await
        .unwrap());
}

async fn the_list_stops_at_the_5_mib_budget_and_a_limit_brings_older_ones_back(
    store: impl TransitStore,
) {
    let all: Vec<NewTranscript> = (0..7)
        .map(|i| big("u", &format!("t{i}"), &iso(i), 900 * 1024))
        .collect();
    save_all(&store, &all).await;
    let listed = store.list_transcripts(&key("u"), 200).await.unwrap();
    assert_eq!(
        ids(&listed),
        ["t6", "t5", "t4", "t3", "t2"],
        "the newest that fit"
    );
    let total: usize = listed.iter().map(|j| j.len() + 1).sum::<usize>() + 1;
    assert!(total <= LIST_BUDGET_BYTES && total + all[0].json.len() > LIST_BUDGET_BYTES);
    assert!(store
        .remove_transcript(&key("u"), &key("t6"))
        .await
        .unwrap());
    assert!(store
        .remove_transcript(&key("u"), &key("t5"))
        .await
        .unwrap());
    assert_eq!(
        ids(&store.list_transcripts(&key("u"), 200).await.unwrap()),
        ["t4", "t3", "t2", "t1", "t0"],
        "nothing stored was lost"
    );
}

async fn long_created_at_values_order_by_their_full_text(store: impl TransitStore) {
    // Longer than the 256 bytes DynamoDB's index keeps: the order needs the full values.
    let long = |tail: &str| format!("2024-{}{tail}", "9".repeat(300));
    save_all(
        &store,
        &[
            transcript("u", "b", &long("b")),
            transcript("u", "a", &long("a")),
            transcript("u", "c", &long("c")),
            transcript("u", "prefix", &long("")),
            transcript("u", "short", "2024-1"),
        ],
    )
    .await;
    assert_eq!(
        ids(&store.list_transcripts(&key("u"), 200).await.unwrap()),
        ["c", "b", "a", "prefix", "short"]
    );
    let moved = transcript("u", "a", &long("d"));
    assert_eq!(store.save_transcript(&moved).await.unwrap(), Saved::Updated);
    assert_eq!(
        ids(&store.list_transcripts(&key("u"), 200).await.unwrap()),
        ["a", "c", "b", "prefix", "short"]
    );
}

fn token(payload: &str, expires_at: f64, scope: &[&str], now: f64) -> CalendarToken {
    CalendarToken {
        encrypted_payload: Secret::new(payload),
        expires_at: Num(expires_at),
        scope: scope.iter().map(|s| (*s).to_owned()).collect(),
        updated_at: Num(now),
    }
}

async fn the_calendar_token_is_created_then_replaced_then_cleared(store: impl TransitStore) {
    assert_eq!(store.get_calendar_token(&key("u")).await.unwrap(), None);
    let first = token("cipher-1", 1000.5, &[], 10.0);
    assert!(
        !store.set_calendar_token(&key("u"), &first).await.unwrap(),
        "created"
    );
    assert_eq!(
        store.get_calendar_token(&key("u")).await.unwrap(),
        Some(first)
    );
    let second = token("cipher-2", 2000.0, &["calendar", "events"], 20.0);
    assert!(
        store.set_calendar_token(&key("u"), &second).await.unwrap(),
        "replaced"
    );
    assert_eq!(
        store.get_calendar_token(&key("u")).await.unwrap(),
        Some(second)
    );
    assert_eq!(store.get_calendar_token(&key("other")).await.unwrap(), None);
    assert!(store.clear_calendar_token(&key("u")).await.unwrap());
    assert!(!store.clear_calendar_token(&key("u")).await.unwrap());
    assert_eq!(store.get_calendar_token(&key("u")).await.unwrap(), None);
    assert!(
        !store
            .set_calendar_token(&key("u"), &token("c", 1.0, &["x"], 30.0))
            .await
            .unwrap(),
        "created again"
    );
    let huge = token(&"x".repeat(410 * 1024), 1.0, &[], 40.0);
    assert!(matches!(
        store.set_calendar_token(&key("u"), &huge).await,
        Err(StoreError::TooLarge(_))
    ));
}

async fn parallel_first_token_sets_leave_one_token_and_one_creator(store: impl TransitStore) {
    let tokens: Vec<CalendarToken> = (0..8)
        .map(|i| token(&format!("cipher-{i}"), 1.0, &["s"], 100.0 + f64::from(i)))
        .collect();
    let u = key("u");
    let outcomes =
        futures::future::join_all(tokens.iter().map(|t| store.set_calendar_token(&u, t))).await;
    let updated: Vec<bool> = outcomes.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        updated.iter().filter(|u| !**u).count(),
        1,
        "one call created it: {updated:?}"
    );
    let stored = store.get_calendar_token(&key("u")).await.unwrap().unwrap();
    assert!(tokens.contains(&stored));
    assert!(store.clear_calendar_token(&key("u")).await.unwrap());
    assert!(
        !store.clear_calendar_token(&key("u")).await.unwrap(),
        "one token only"
    );
}
