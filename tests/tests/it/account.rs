//! The account store contract, on both stores; the account routes over HTTP, on both stores.

use account::{
    Account, AccountStore, AccountUpdate, DynamoAccountStore, EmbeddedAccountStore, Tokens,
};
use serde_json::{json, Value};
use service_tests::{conformance, embedded_db, key, DynamoTables};
use shared::{Num, StoreError};
use std::collections::BTreeSet;

fn embedded() -> EmbeddedAccountStore {
    EmbeddedAccountStore::new(embedded_db()).unwrap()
}

#[cfg_attr(not(feature = "dynamodb-local"), allow(dead_code))]
fn dynamo(tables: &DynamoTables) -> DynamoAccountStore {
    DynamoAccountStore::new(tables.client.clone(), tables.table("accounts"))
}

fn tokens(count: f64) -> Tokens {
    Tokens::parse(count).unwrap()
}

/// The account as JSON, as the routes send it.
fn wire(account: &Account) -> Value {
    serde_json::to_value(account).unwrap()
}

/// A payload as `/account/update` receives it.
fn payload(value: Value) -> AccountUpdate {
    serde_json::from_value(value).unwrap()
}

/// 2025-01-15T10:00:00Z.
const JAN_15: f64 = 1_736_935_200_000.0;
/// 2025-01-31T23:59:59.999Z, the last millisecond of January.
const JAN_END: f64 = 1_738_367_999_999.0;
/// 2025-02-01T00:00:00Z.
const FEB_1: f64 = 1_738_368_000_000.0;
/// 2025-02-10T00:00:00Z.
const FEB_10: f64 = 1_739_145_600_000.0;

conformance!(embedded(), dynamo;
    get_or_create_creates_the_default_account_once,
    update_creates_a_missing_account_with_the_given_fields_and_no_usage,
    update_overwrites_tier_and_status_keeps_usage_and_sets_the_tier_allowance,
    update_gives_every_tier_its_allowance_and_unknown_tiers_200000,
    update_removes_premium_expires_at_when_omitted,
    update_keeps_polar_fields_when_null_or_omitted_and_overwrites_them_when_given,
    record_usage_adds_tokens_and_creates_the_account_if_missing,
    record_usage_never_rolls_the_month_over,
    record_usage_takes_the_allowance_of_the_current_tier,
    reserve_usage_reserves_up_to_the_allowance_and_creates_the_account,
    reserve_usage_refuses_over_the_allowance_and_writes_nothing,
    reserve_usage_refuses_a_new_account_over_the_free_allowance_without_creating_it,
    reserve_usage_starts_over_in_a_new_utc_month,
    reserve_usage_uses_the_allowance_of_the_tier,
    release_usage_gives_tokens_back_and_clamps_at_zero,
    release_usage_counts_a_negative_release_as_zero,
    release_usage_does_nothing_without_an_account,
    release_usage_does_nothing_in_a_later_month,
    an_update_over_the_item_limit_is_too_large_and_writes_nothing,
    parallel_record_usage_calls_add_up_exactly,
    parallel_reservations_never_pass_the_allowance,
    parallel_reservations_in_a_new_month_never_pass_the_allowance,
    parallel_first_get_or_create_calls_create_one_account,
);

async fn get_or_create_creates_the_default_account_once(store: impl AccountStore) {
    let first = store.get_or_create(&key("u1"), Num(1000.0)).await.unwrap();
    assert_eq!(
        wire(&first),
        json!({ "userId": "u1", "planTier": "free", "billingStatus": "free",
                "usage": { "monthTokensUsed": 0, "monthlyAllowance": 50000, "lastUpdated": 1000 } })
    );
    let again = store.get_or_create(&key("u1"), Num(2000.0)).await.unwrap();
    assert_eq!(again, first, "an existing account is returned unchanged");
}

async fn update_creates_a_missing_account_with_the_given_fields_and_no_usage(
    store: impl AccountStore,
) {
    let account = store
        .update(
            payload(
                json!({ "userId": "new", "planTier": "pro", "billingStatus": "active",
                            "premiumExpiresAt": 9000, "polarCustomerId": "cus_1",
                            "polarBenefits": [{ "id": "b1", "name": "Voices" }, { "id": "b2" }] }),
            ),
            Num(5000.0),
        )
        .await
        .unwrap();
    assert_eq!(
        wire(&account),
        json!({ "userId": "new", "planTier": "pro", "billingStatus": "active",
                "premiumExpiresAt": 9000, "polarCustomerId": "cus_1",
                "polarBenefits": [{ "id": "b1", "name": "Voices" }, { "id": "b2" }],
                "usage": { "monthTokensUsed": 0, "monthlyAllowance": 500000, "lastUpdated": 5000 } })
    );
    assert_eq!(
        store.get_or_create(&key("new"), Num(6000.0)).await.unwrap(),
        account
    );
}

async fn update_overwrites_tier_and_status_keeps_usage_and_sets_the_tier_allowance(
    store: impl AccountStore,
) {
    store
        .record_usage(&key("u"), Num(1200.0), Num(1000.0))
        .await
        .unwrap();
    let account = store
        .update(AccountUpdate::new("u", "pro", "active"), Num(2000.0))
        .await
        .unwrap();
    assert_eq!(
        wire(&account),
        json!({ "userId": "u", "planTier": "pro", "billingStatus": "active",
                "usage": { "monthTokensUsed": 1200, "monthlyAllowance": 500000, "lastUpdated": 2000 } })
    );
    let downgraded = store
        .update(AccountUpdate::new("u", "free", "canceled"), Num(3000.0))
        .await
        .unwrap();
    assert_eq!(downgraded.plan_tier, "free");
    assert_eq!(downgraded.billing_status, "canceled");
    assert_eq!(
        wire(&downgraded)["usage"],
        json!({ "monthTokensUsed": 1200, "monthlyAllowance": 50000, "lastUpdated": 3000 })
    );
}

async fn update_gives_every_tier_its_allowance_and_unknown_tiers_200000(store: impl AccountStore) {
    for (tier, allowance) in [
        ("free", 50_000.0),
        ("starter", 200_000.0),
        ("pro", 500_000.0),
        ("enterprise", 2_000_000.0),
        ("platinum", 200_000.0),
        ("Pro", 200_000.0),
    ] {
        let account = store
            .update(AccountUpdate::new("tiers", tier, "active"), Num(1.0))
            .await
            .unwrap();
        assert_eq!(account.usage.monthly_allowance, Num(allowance), "{tier}");
    }
}

async fn update_removes_premium_expires_at_when_omitted(store: impl AccountStore) {
    let premium = store
        .update(
            payload(
                json!({ "userId": "p", "planTier": "pro", "billingStatus": "active",
                            "premiumExpiresAt": 1_800_000_000_000u64 }),
            ),
            Num(1.0),
        )
        .await
        .unwrap();
    assert_eq!(premium.premium_expires_at, Some(Num(1_800_000_000_000.0)));
    let replaced = store
        .update(
            payload(
                json!({ "userId": "p", "planTier": "pro", "billingStatus": "active",
                            "premiumExpiresAt": 1_900_000_000_000u64 }),
            ),
            Num(2.0),
        )
        .await
        .unwrap();
    assert_eq!(replaced.premium_expires_at, Some(Num(1_900_000_000_000.0)));
    let omitted = store
        .update(AccountUpdate::new("p", "pro", "active"), Num(3.0))
        .await
        .unwrap();
    assert_eq!(omitted.premium_expires_at, None);
    assert!(wire(&omitted).get("premiumExpiresAt").is_none());
    let stored = store.get_or_create(&key("p"), Num(4.0)).await.unwrap();
    assert_eq!(stored.premium_expires_at, None, "removed from storage too");
}

async fn update_keeps_polar_fields_when_null_or_omitted_and_overwrites_them_when_given(
    store: impl AccountStore,
) {
    let polar = json!({ "polarCustomerId": "cus_1", "polarSubscriptionId": "sub_1",
                        "polarPlanId": "plan_1", "polarCurrentPeriodEnd": 1_750_000_000_000u64,
                        "polarLastEventId": "evt_1", "polarBenefits": [{ "id": "b1", "name": "Voices" }] });
    let mut first = json!({ "userId": "polar", "planTier": "pro", "billingStatus": "active" });
    first
        .as_object_mut()
        .unwrap()
        .extend(polar.as_object().unwrap().clone());
    let created = store.update(payload(first), Num(1.0)).await.unwrap();
    for (field, value) in polar.as_object().unwrap() {
        assert_eq!(&wire(&created)[field], value, "{field} is stored");
    }

    let nulls = payload(
        json!({ "userId": "polar", "planTier": "starter", "billingStatus": "past_due",
                                "polarCustomerId": null, "polarSubscriptionId": null, "polarPlanId": null,
                                "polarCurrentPeriodEnd": null, "polarLastEventId": null, "polarBenefits": null }),
    );
    let after_nulls = store.update(nulls, Num(2.0)).await.unwrap();
    let omitted =
        payload(json!({ "userId": "polar", "planTier": "starter", "billingStatus": "past_due" }));
    let after_omitted = store.update(omitted, Num(3.0)).await.unwrap();
    for kept in [&after_nulls, &after_omitted] {
        for (field, value) in polar.as_object().unwrap() {
            assert_eq!(&wire(kept)[field], value, "{field} is kept");
        }
        assert_eq!(kept.plan_tier, "starter");
    }

    let given = payload(
        json!({ "userId": "polar", "planTier": "pro", "billingStatus": "active",
                                "polarCustomerId": "cus_2", "polarCurrentPeriodEnd": 1_760_000_000_000u64,
                                "polarBenefits": [] }),
    );
    let overwritten = store.update(given, Num(4.0)).await.unwrap();
    assert_eq!(
        wire(&overwritten),
        json!({ "userId": "polar", "planTier": "pro", "billingStatus": "active",
                "polarCustomerId": "cus_2", "polarSubscriptionId": "sub_1", "polarPlanId": "plan_1",
                "polarCurrentPeriodEnd": 1_760_000_000_000u64, "polarLastEventId": "evt_1",
                "polarBenefits": [],
                "usage": { "monthTokensUsed": 0, "monthlyAllowance": 500000, "lastUpdated": 4 } })
    );
    assert_eq!(
        store.get_or_create(&key("polar"), Num(5.0)).await.unwrap(),
        overwritten
    );
}

async fn record_usage_adds_tokens_and_creates_the_account_if_missing(store: impl AccountStore) {
    let created = store
        .record_usage(&key("r"), Num(300.0), Num(JAN_15))
        .await
        .unwrap();
    assert_eq!(
        wire(&created),
        json!({ "userId": "r", "planTier": "free", "billingStatus": "free",
                "usage": { "monthTokensUsed": 300, "monthlyAllowance": 50000, "lastUpdated": JAN_15 as u64 } })
    );
    let added = store
        .record_usage(&key("r"), Num(200.0), Num(JAN_15 + 1.0))
        .await
        .unwrap();
    assert_eq!(added.usage.month_tokens_used, Num(500.0));
    assert_eq!(added.usage.last_updated, Num(JAN_15 + 1.0));
}

async fn record_usage_never_rolls_the_month_over(store: impl AccountStore) {
    store
        .record_usage(&key("r"), Num(40_000.0), Num(JAN_15))
        .await
        .unwrap();
    let february = store
        .record_usage(&key("r"), Num(1.0), Num(FEB_10))
        .await
        .unwrap();
    assert_eq!(february.usage.month_tokens_used, Num(40_001.0));
    assert_eq!(february.usage.last_updated, Num(FEB_10));
}

async fn record_usage_takes_the_allowance_of_the_current_tier(store: impl AccountStore) {
    store
        .update(AccountUpdate::new("e", "enterprise", "active"), Num(1.0))
        .await
        .unwrap();
    let account = store
        .record_usage(&key("e"), Num(10.0), Num(2.0))
        .await
        .unwrap();
    assert_eq!(account.usage.monthly_allowance, Num(2_000_000.0));
    assert_eq!(account.plan_tier, "enterprise");
}

async fn reserve_usage_reserves_up_to_the_allowance_and_creates_the_account(
    store: impl AccountStore,
) {
    let created = store
        .reserve_usage(&key("q"), tokens(1000.0), Num(JAN_15))
        .await
        .unwrap()
        .expect("a reservation within the allowance");
    assert_eq!(
        wire(&created),
        json!({ "userId": "q", "planTier": "free", "billingStatus": "free",
                "usage": { "monthTokensUsed": 1000, "monthlyAllowance": 50000, "lastUpdated": JAN_15 as u64 } })
    );
    let full = store
        .reserve_usage(&key("q"), tokens(49_000.0), Num(JAN_15 + 1.0))
        .await
        .unwrap()
        .expect("exactly the allowance fits");
    assert_eq!(full.usage.month_tokens_used, Num(50_000.0));
    assert_eq!(full.usage.last_updated, Num(JAN_15 + 1.0));
    let nothing = store
        .reserve_usage(&key("q"), tokens(0.0), Num(JAN_15 + 2.0))
        .await
        .unwrap()
        .expect("zero tokens fit a full quota");
    assert_eq!(nothing.usage.month_tokens_used, Num(50_000.0));
}

async fn reserve_usage_refuses_over_the_allowance_and_writes_nothing(store: impl AccountStore) {
    store
        .reserve_usage(&key("q"), tokens(45_000.0), Num(JAN_15))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .reserve_usage(&key("q"), tokens(5_001.0), Num(JAN_15 + 1.0))
            .await
            .unwrap(),
        None
    );
    let account = store
        .get_or_create(&key("q"), Num(JAN_15 + 2.0))
        .await
        .unwrap();
    assert_eq!(
        wire(&account)["usage"],
        json!({ "monthTokensUsed": 45000, "monthlyAllowance": 50000, "lastUpdated": JAN_15 as u64 }),
        "a refusal writes nothing"
    );
    store
        .record_usage(&key("q"), Num(10_000.0), Num(JAN_15 + 3.0))
        .await
        .unwrap();
    assert_eq!(
        store
            .reserve_usage(&key("q"), tokens(0.0), Num(JAN_15 + 4.0))
            .await
            .unwrap(),
        None,
        "recorded usage past the allowance refuses even zero tokens"
    );
}

async fn reserve_usage_refuses_a_new_account_over_the_free_allowance_without_creating_it(
    store: impl AccountStore,
) {
    assert_eq!(
        store
            .reserve_usage(&key("big"), tokens(50_001.0), Num(JAN_15))
            .await
            .unwrap(),
        None
    );
    let account = store.get_or_create(&key("big"), Num(FEB_10)).await.unwrap();
    assert_eq!(
        account.usage.last_updated,
        Num(FEB_10),
        "getOrCreate created it: the refusal did not"
    );
}

async fn reserve_usage_starts_over_in_a_new_utc_month(store: impl AccountStore) {
    store
        .reserve_usage(&key("m"), tokens(50_000.0), Num(JAN_15))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .reserve_usage(&key("m"), tokens(1.0), Num(JAN_END))
            .await
            .unwrap(),
        None,
        "the last millisecond of January is still January"
    );
    let february = store
        .reserve_usage(&key("m"), tokens(20_000.0), Num(FEB_1))
        .await
        .unwrap()
        .expect("a new month starts from 0");
    assert_eq!(
        wire(&february)["usage"],
        json!({ "monthTokensUsed": 20000, "monthlyAllowance": 50000, "lastUpdated": FEB_1 as u64 })
    );
    let more = store
        .reserve_usage(&key("m"), tokens(30_000.0), Num(FEB_10))
        .await
        .unwrap()
        .expect("February's own usage counts");
    assert_eq!(more.usage.month_tokens_used, Num(50_000.0));
    assert_eq!(
        store
            .reserve_usage(&key("m"), tokens(1.0), Num(FEB_10 + 1.0))
            .await
            .unwrap(),
        None
    );
}

async fn reserve_usage_uses_the_allowance_of_the_tier(store: impl AccountStore) {
    for (user, tier, allowance) in [
        ("t-free", "free", 50_000.0),
        ("t-starter", "starter", 200_000.0),
        ("t-pro", "pro", 500_000.0),
        ("t-enterprise", "enterprise", 2_000_000.0),
        ("t-other", "team", 200_000.0),
    ] {
        store
            .update(AccountUpdate::new(user, tier, "active"), Num(JAN_15))
            .await
            .unwrap();
        assert_eq!(
            store
                .reserve_usage(&key(user), tokens(allowance + 1.0), Num(JAN_15 + 1.0))
                .await
                .unwrap(),
            None,
            "{tier}: one token over"
        );
        let account = store
            .reserve_usage(&key(user), tokens(allowance), Num(JAN_15 + 2.0))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{tier}: the whole allowance fits"));
        assert_eq!(account.usage.month_tokens_used, Num(allowance), "{tier}");
        assert_eq!(account.usage.monthly_allowance, Num(allowance), "{tier}");
    }
}

async fn release_usage_gives_tokens_back_and_clamps_at_zero(store: impl AccountStore) {
    store
        .reserve_usage(&key("rel"), tokens(1_000.0), Num(JAN_15))
        .await
        .unwrap()
        .unwrap();
    store
        .release_usage(&key("rel"), Num(400.0), Num(JAN_15 + 1.0))
        .await
        .unwrap();
    let account = store
        .get_or_create(&key("rel"), Num(JAN_15 + 2.0))
        .await
        .unwrap();
    assert_eq!(
        wire(&account)["usage"],
        json!({ "monthTokensUsed": 600, "monthlyAllowance": 50000, "lastUpdated": JAN_15 as u64 + 1 })
    );
    store
        .release_usage(&key("rel"), Num(5_000.0), Num(JAN_15 + 3.0))
        .await
        .unwrap();
    let account = store
        .get_or_create(&key("rel"), Num(JAN_15 + 4.0))
        .await
        .unwrap();
    assert_eq!(
        wire(&account)["usage"],
        json!({ "monthTokensUsed": 0, "monthlyAllowance": 50000, "lastUpdated": JAN_15 as u64 + 3 }),
        "never below 0"
    );
}

async fn release_usage_counts_a_negative_release_as_zero(store: impl AccountStore) {
    store
        .reserve_usage(&key("neg"), tokens(700.0), Num(JAN_15))
        .await
        .unwrap()
        .unwrap();
    store
        .release_usage(&key("neg"), Num(-50.0), Num(JAN_15 + 1.0))
        .await
        .unwrap();
    let account = store
        .get_or_create(&key("neg"), Num(JAN_15 + 2.0))
        .await
        .unwrap();
    assert_eq!(account.usage.month_tokens_used, Num(700.0));
    assert_eq!(account.usage.last_updated, Num(JAN_15 + 1.0));
}

async fn release_usage_does_nothing_without_an_account(store: impl AccountStore) {
    store
        .release_usage(&key("ghost"), Num(100.0), Num(JAN_15))
        .await
        .unwrap();
    let account = store
        .get_or_create(&key("ghost"), Num(FEB_10))
        .await
        .unwrap();
    assert_eq!(
        account.usage.last_updated,
        Num(FEB_10),
        "the release created nothing"
    );
}

async fn release_usage_does_nothing_in_a_later_month(store: impl AccountStore) {
    store
        .reserve_usage(&key("late"), tokens(2_000.0), Num(JAN_15))
        .await
        .unwrap()
        .unwrap();
    store
        .release_usage(&key("late"), Num(500.0), Num(FEB_1))
        .await
        .unwrap();
    let account = store
        .get_or_create(&key("late"), Num(FEB_10))
        .await
        .unwrap();
    assert_eq!(
        wire(&account)["usage"],
        json!({ "monthTokensUsed": 2000, "monthlyAllowance": 50000, "lastUpdated": JAN_15 as u64 })
    );
}

async fn an_update_over_the_item_limit_is_too_large_and_writes_nothing(store: impl AccountStore) {
    let before = store
        .update(AccountUpdate::new("huge", "pro", "active"), Num(1.0))
        .await
        .unwrap();
    let update = AccountUpdate {
        polar_customer_id: Some("x".repeat(410 * 1024)),
        ..AccountUpdate::new("huge", "enterprise", "active")
    };
    let err = store.update(update, Num(2.0)).await.unwrap_err();
    assert!(matches!(err, StoreError::TooLarge(_)), "{err:?}");
    assert_eq!(
        store.get_or_create(&key("huge"), Num(3.0)).await.unwrap(),
        before
    );
}

async fn parallel_record_usage_calls_add_up_exactly(store: impl AccountStore) {
    let user = key("busy");
    let calls = (0..50).map(|i| store.record_usage(&user, Num(7.0), Num(JAN_15 + f64::from(i))));
    futures::future::try_join_all(calls).await.unwrap();
    let account = store
        .get_or_create(&key("busy"), Num(FEB_10))
        .await
        .unwrap();
    assert_eq!(account.usage.month_tokens_used, Num(350.0));
    assert_eq!(account.plan_tier, "free");
}

/// Reserves 10000 tokens 30 times at once on `user` at `now`; returns how many were granted.
async fn reserve_in_parallel(store: &impl AccountStore, user: &str, now: f64) -> usize {
    let user = key(user);
    let calls = (0..30).map(|_| store.reserve_usage(&user, tokens(10_000.0), Num(now)));
    let granted = futures::future::try_join_all(calls).await.unwrap();
    for account in granted.iter().flatten() {
        assert!(
            account.usage.month_tokens_used.get() <= 50_000.0,
            "{account:?}"
        );
    }
    granted.iter().flatten().count()
}

async fn parallel_reservations_never_pass_the_allowance(store: impl AccountStore) {
    assert_eq!(reserve_in_parallel(&store, "rush", JAN_15).await, 5);
    let account = store
        .get_or_create(&key("rush"), Num(JAN_15))
        .await
        .unwrap();
    assert_eq!(account.usage.month_tokens_used, Num(50_000.0));
}

async fn parallel_reservations_in_a_new_month_never_pass_the_allowance(store: impl AccountStore) {
    store
        .reserve_usage(&key("rollover"), tokens(45_000.0), Num(JAN_15))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reserve_in_parallel(&store, "rollover", FEB_1).await, 5);
    let account = store
        .get_or_create(&key("rollover"), Num(FEB_10))
        .await
        .unwrap();
    assert_eq!(account.usage.month_tokens_used, Num(50_000.0));
    assert_eq!(account.usage.last_updated, Num(FEB_1));
}

async fn parallel_first_get_or_create_calls_create_one_account(store: impl AccountStore) {
    let user = key("first");
    let calls = (0..20).map(|i| store.get_or_create(&user, Num(100.0 + f64::from(i))));
    let accounts = futures::future::try_join_all(calls).await.unwrap();
    let created: BTreeSet<u64> = accounts
        .iter()
        .map(|a| a.usage.last_updated.get() as u64)
        .collect();
    assert_eq!(created.len(), 1, "one account, created once: {created:?}");
    assert!(accounts.iter().all(|a| *a == accounts[0]));
}

/// DynamoDB calls per route (the budget in the crate docs).
#[cfg(feature = "dynamodb-local")]
mod round_trips {
    use super::*;
    use shared::dynamo::{n, s};

    #[tokio::test]
    async fn get_or_create_update_and_record_usage_are_one_update_item_each() {
        let tables = DynamoTables::create().await;
        let store = dynamo(&tables);
        store.get_or_create(&key("u"), Num(1.0)).await.unwrap();
        assert_eq!(tables.calls.take(), ["UpdateItem"], "created");
        store.get_or_create(&key("u"), Num(2.0)).await.unwrap();
        assert_eq!(tables.calls.take(), ["UpdateItem"], "existing");
        store
            .update(AccountUpdate::new("u", "pro", "active"), Num(3.0))
            .await
            .unwrap();
        assert_eq!(tables.calls.take(), ["UpdateItem"]);
        store
            .record_usage(&key("u"), Num(5.0), Num(4.0))
            .await
            .unwrap();
        assert_eq!(tables.calls.take(), ["UpdateItem"]);
        store
            .record_usage(&key("new"), Num(5.0), Num(4.0))
            .await
            .unwrap();
        assert_eq!(tables.calls.take(), ["UpdateItem"], "creating");
    }

    #[tokio::test]
    async fn reserve_usage_is_one_update_item_within_a_month_and_two_to_start_one() {
        let tables = DynamoTables::create().await;
        let store = dynamo(&tables);
        let user = key("r");
        let reserve = |count: f64, now: f64| store.reserve_usage(&user, tokens(count), Num(now));

        assert!(reserve(60_000.0, JAN_15).await.unwrap().is_none());
        assert_eq!(tables.calls.take(), ["UpdateItem"], "refused, new account");
        assert!(reserve(1_000.0, JAN_15).await.unwrap().is_some());
        assert_eq!(
            tables.calls.take(),
            ["UpdateItem", "UpdateItem"],
            "creating"
        );
        assert!(reserve(1_000.0, JAN_15).await.unwrap().is_some());
        assert_eq!(tables.calls.take(), ["UpdateItem"], "within the month");
        assert!(reserve(49_000.0, JAN_15).await.unwrap().is_none());
        assert_eq!(
            tables.calls.take(),
            ["UpdateItem"],
            "refused within the month"
        );
        assert!(reserve(1_000.0, FEB_1).await.unwrap().is_some());
        assert_eq!(
            tables.calls.take(),
            ["UpdateItem", "UpdateItem"],
            "a new month"
        );
    }

    #[tokio::test]
    async fn release_usage_is_one_update_item_and_two_when_it_clamps_at_zero() {
        let tables = DynamoTables::create().await;
        let store = dynamo(&tables);
        store
            .release_usage(&key("r"), Num(1.0), Num(JAN_15))
            .await
            .unwrap();
        assert_eq!(tables.calls.take(), ["UpdateItem"], "no account");
        store
            .reserve_usage(&key("r"), tokens(1_000.0), Num(JAN_15))
            .await
            .unwrap();
        tables.calls.take();
        store
            .release_usage(&key("r"), Num(400.0), Num(JAN_15))
            .await
            .unwrap();
        assert_eq!(tables.calls.take(), ["UpdateItem"], "within the month");
        store
            .release_usage(&key("r"), Num(1_000.0), Num(JAN_15))
            .await
            .unwrap();
        assert_eq!(tables.calls.take(), ["UpdateItem", "UpdateItem"], "clamped");
        store
            .release_usage(&key("r"), Num(1.0), Num(FEB_1))
            .await
            .unwrap();
        assert_eq!(tables.calls.take(), ["UpdateItem"], "a later month");
    }

    async fn raw_item(tables: &DynamoTables, user: &str) -> shared::dynamo::Item {
        tables
            .client
            .get_item()
            .table_name(tables.table("accounts"))
            .key("userId", s(user))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap()
    }

    #[tokio::test]
    async fn usage_is_stored_flat_and_read_back_nested() {
        let tables = DynamoTables::create().await;
        dynamo(&tables)
            .record_usage(&key("flat"), Num(12.0), Num(JAN_15))
            .await
            .unwrap();
        let item = raw_item(&tables, "flat").await;
        let mut names: Vec<&str> = item
            .keys()
            .map(String::as_str)
            .filter(|name| !shared::dynamo::once::is_token_attribute(name))
            .collect();
        names.sort_unstable();
        let tokens: Vec<_> = item
            .iter()
            .filter(|(name, _)| shared::dynamo::once::is_token_attribute(name))
            .collect();
        assert_eq!(
            tokens.len(),
            1,
            "the write's exactly-once token, in one token set: {item:?}"
        );
        assert_eq!(tokens[0].1.as_ss().unwrap().len(), 1);
        assert_eq!(
            names,
            [
                "billingStatus",
                "lastUpdated",
                "monthTokensUsed",
                "monthlyAllowance",
                "planTier",
                "userId"
            ]
        );
        assert_eq!(item["monthTokensUsed"].as_n().unwrap(), "12");
    }

    #[tokio::test]
    async fn a_reservation_repairs_a_stored_allowance_that_disagrees_with_the_tier() {
        let tables = DynamoTables::create().await;
        tables
            .client
            .put_item()
            .table_name(tables.table("accounts"))
            .item("userId", s("legacy"))
            .item("planTier", s("pro"))
            .item("billingStatus", s("active"))
            .item("monthTokensUsed", n(100_000.0))
            .item("monthlyAllowance", n(50_000.0))
            .item("lastUpdated", n(JAN_15))
            .send()
            .await
            .unwrap();
        tables.calls.take();
        let account = dynamo(&tables)
            .reserve_usage(&key("legacy"), tokens(300_000.0), Num(JAN_15 + 1.0))
            .await
            .unwrap()
            .expect("the pro allowance holds it");
        assert_eq!(tables.calls.take(), ["UpdateItem", "UpdateItem"]);
        assert_eq!(
            wire(&account)["usage"],
            json!({ "monthTokensUsed": 400000, "monthlyAllowance": 500000, "lastUpdated": JAN_15 as u64 + 1 })
        );
    }
}

/// The account routes over HTTP, on both stores: the exact reply shapes and the 400s.
mod http {
    use super::{FEB_1, JAN_15, JAN_END};
    use devserver::Store;
    use serde_json::{json, Value};
    use service_tests::{conformance, spawn_app_at, TestApp};
    use shared::clock::ManualClock;
    use std::sync::Arc;

    #[cfg_attr(not(feature = "dynamodb-local"), allow(dead_code))]
    fn dynamo(tables: &service_tests::DynamoTables) -> Store {
        tables.store()
    }

    async fn app(store: Store, clock: &Arc<ManualClock>) -> TestApp {
        spawn_app_at(store, clock.clone()).await
    }

    fn usage(used: u64, allowance: u64, at: f64) -> Value {
        json!({ "monthTokensUsed": used, "monthlyAllowance": allowance, "lastUpdated": at as u64 })
    }

    conformance!(service_tests::embedded(), dynamo;
        get_or_create_update_and_record_usage_reply_with_the_account,
        both_update_paths_apply_the_same_rules,
        reserve_usage_replies_with_the_account_or_null,
        reserve_usage_refuses_token_counts_that_are_not_non_negative_safe_integers,
        reserve_usage_follows_the_clock_into_a_new_month,
        release_usage_replies_with_a_bare_null,
        bad_arguments_are_400_with_the_field_named,
    );

    async fn get_or_create_update_and_record_usage_reply_with_the_account(store: Store) {
        let clock = ManualClock::at(1_000);
        let app = app(store, &clock).await;
        let default = json!({ "userId": "u1", "planTier": "free", "billingStatus": "free",
                              "usage": usage(0, 50_000, 1_000.0) });
        assert_eq!(
            app.ok("/account/getOrCreate", json!({ "userId": "u1" }))
                .await,
            json!({ "account": default })
        );
        clock.set(2_000);
        assert_eq!(
            app.ok(
                "/account/recordUsage",
                json!({ "userId": "u1", "provider": "openai", "tokensUsed": 250 })
            )
            .await,
            json!({ "account": { "userId": "u1", "planTier": "free", "billingStatus": "free",
                                 "usage": usage(250, 50_000, 2_000.0) } })
        );
        clock.set(3_000);
        assert_eq!(
            app.ok(
                "/account/update",
                json!({ "payload": { "userId": "u1", "planTier": "pro", "billingStatus": "active",
                                     "premiumExpiresAt": 9_000, "polarBenefits": [{ "id": "b" }] } })
            )
            .await,
            json!({ "account": { "userId": "u1", "planTier": "pro", "billingStatus": "active",
                                 "premiumExpiresAt": 9_000, "polarBenefits": [{ "id": "b" }],
                                 "usage": usage(250, 500_000, 3_000.0) } })
        );
    }

    async fn both_update_paths_apply_the_same_rules(store: Store) {
        let clock = ManualClock::at(10);
        let app = app(store, &clock).await;
        let full = json!({ "payload": { "userId": "p", "planTier": "starter", "billingStatus": "active",
                                        "premiumExpiresAt": 77, "polarCustomerId": "cus",
                                        "polarSubscriptionId": "sub", "polarPlanId": "plan",
                                        "polarCurrentPeriodEnd": 88, "polarLastEventId": "evt",
                                        "polarBenefits": [{ "id": "b1", "name": "One" }] } });
        let stored = |at: f64| {
            json!({ "account": { "userId": "p", "planTier": "starter", "billingStatus": "active",
                                          "premiumExpiresAt": 77, "polarCustomerId": "cus",
                                          "polarSubscriptionId": "sub", "polarPlanId": "plan",
                                          "polarCurrentPeriodEnd": 88, "polarLastEventId": "evt",
                                          "polarBenefits": [{ "id": "b1", "name": "One" }],
                                          "usage": usage(0, 200_000, at) } })
        };
        assert_eq!(
            app.ok("/account/updateAccount", full.clone()).await,
            stored(10.0)
        );
        clock.set(20);
        let nulls = json!({ "payload": { "userId": "p", "planTier": "enterprise", "billingStatus": "active",
                                         "polarCustomerId": null, "polarSubscriptionId": null,
                                         "polarPlanId": null, "polarCurrentPeriodEnd": null,
                                         "polarLastEventId": null, "polarBenefits": null } });
        let kept = json!({ "account": { "userId": "p", "planTier": "enterprise", "billingStatus": "active",
                                        "polarCustomerId": "cus", "polarSubscriptionId": "sub",
                                        "polarPlanId": "plan", "polarCurrentPeriodEnd": 88,
                                        "polarLastEventId": "evt",
                                        "polarBenefits": [{ "id": "b1", "name": "One" }],
                                        "usage": usage(0, 2_000_000, 20.0) } });
        assert_eq!(
            app.ok("/account/update", nulls.clone()).await,
            kept,
            "/account/update: null keeps polar fields, omission removes premiumExpiresAt"
        );
        assert_eq!(app.ok("/account/updateAccount", full).await, stored(20.0));
        assert_eq!(
            app.ok("/account/updateAccount", nulls).await,
            kept,
            "/account/updateAccount: the same rules"
        );
    }

    async fn reserve_usage_replies_with_the_account_or_null(store: Store) {
        let clock = ManualClock::at(JAN_15 as u64);
        let app = app(store, &clock).await;
        assert_eq!(
            app.ok(
                "/account/reserveUsage",
                json!({ "userId": "r", "provider": "openai", "tokensRequested": 40_000 })
            )
            .await,
            json!({ "account": { "userId": "r", "planTier": "free", "billingStatus": "free",
                                 "usage": usage(40_000, 50_000, JAN_15) } })
        );
        assert_eq!(
            app.ok(
                "/account/reserveUsage",
                json!({ "userId": "r", "provider": "openai", "tokensRequested": 10_001 })
            )
            .await,
            json!({ "account": null })
        );
    }

    async fn reserve_usage_refuses_token_counts_that_are_not_non_negative_safe_integers(
        store: Store,
    ) {
        let clock = ManualClock::at(JAN_15 as u64);
        let app = app(store, &clock).await;
        for refused in [
            json!(-1),
            json!(1.5),
            json!(-0.5),
            json!(9_007_199_254_740_992u64),
            json!(1e300),
        ] {
            assert_eq!(
                app.ok(
                    "/account/reserveUsage",
                    json!({ "userId": "n", "provider": "p", "tokensRequested": refused })
                )
                .await,
                json!({ "account": null }),
                "{refused}"
            );
        }
        clock.set(JAN_15 as u64 + 5);
        assert_eq!(
            app.ok("/account/getOrCreate", json!({ "userId": "n" }))
                .await["account"]["usage"],
            usage(0, 50_000, JAN_15 + 5.0),
            "no refusal created or changed the account"
        );
    }

    async fn reserve_usage_follows_the_clock_into_a_new_month(store: Store) {
        let clock = ManualClock::at(JAN_15 as u64);
        let app = app(store, &clock).await;
        let reserve = |count: u64| {
            app.ok(
                "/account/reserveUsage",
                json!({ "userId": "m", "provider": "p", "tokensRequested": count }),
            )
        };
        assert_eq!(
            reserve(50_000).await["account"]["usage"],
            usage(50_000, 50_000, JAN_15)
        );
        clock.set(JAN_END as u64);
        assert_eq!(reserve(1).await, json!({ "account": null }));
        clock.set(FEB_1 as u64);
        assert_eq!(
            reserve(1).await["account"]["usage"],
            usage(1, 50_000, FEB_1)
        );
    }

    async fn release_usage_replies_with_a_bare_null(store: Store) {
        let clock = ManualClock::at(JAN_15 as u64);
        let app = app(store, &clock).await;
        app.ok(
            "/account/reserveUsage",
            json!({ "userId": "rel", "provider": "p", "tokensRequested": 900 }),
        )
        .await;
        clock.advance(1);
        assert_eq!(
            app.ok(
                "/account/releaseUsage",
                json!({ "userId": "rel", "tokensReserved": 300 })
            )
            .await,
            Value::Null
        );
        assert_eq!(
            app.ok(
                "/account/releaseUsage",
                json!({ "userId": "nobody", "tokensReserved": 300 })
            )
            .await,
            Value::Null
        );
        assert_eq!(
            app.ok("/account/getOrCreate", json!({ "userId": "rel" }))
                .await["account"]["usage"],
            usage(600, 50_000, JAN_15 + 1.0)
        );
    }

    async fn bad_arguments_are_400_with_the_field_named(store: Store) {
        let clock = ManualClock::at(1);
        let app = app(store, &clock).await;
        let cases = [
            (
                "/account/recordUsage",
                json!({ "userId": "u", "provider": "p", "tokensUsed": "12" }),
                "tokensUsed: expected a number, got a string",
            ),
            (
                "/account/recordUsage",
                json!({ "userId": "u", "tokensUsed": 12 }),
                "missing field `provider`",
            ),
            (
                "/account/reserveUsage",
                json!({ "userId": "u", "provider": 3, "tokensRequested": 1 }),
                "provider: expected a string, got a number",
            ),
            (
                "/account/releaseUsage",
                json!({ "userId": "u", "tokensReserved": null }),
                "tokensReserved: expected a number, got null",
            ),
            (
                "/account/getOrCreate",
                json!({ "userId": "" }),
                "userId: must not be empty",
            ),
            (
                "/account/update",
                json!({ "payload": { "userId": "u", "planTier": "pro", "billingStatus": "a",
                                     "premiumExpiresAt": null } }),
                "payload.premiumExpiresAt: expected a number, got null",
            ),
            (
                "/account/updateAccount",
                json!({ "payload": { "userId": "u", "planTier": "pro" } }),
                "payload: missing field `billingStatus`",
            ),
            (
                "/account/update",
                json!({ "payload": { "userId": "u", "planTier": "pro", "billingStatus": "a",
                                     "polarBenefits": [{ "id": "b", "name": null }] } }),
                "payload.polarBenefits[0].name: expected a string, got null",
            ),
        ];
        for (path, body, message) in cases {
            let answer = app.call(path, body.clone()).await;
            assert_eq!(answer.status, 400, "{path} {body}");
            assert_eq!(
                answer.body,
                json!({ "error": { "code": "invalid_argument", "message": message } }),
                "{path} {body}"
            );
        }
        for (path, body) in [
            ("/account/getOrCreate", json!({ "userId": "u", "extra": 1 })),
            (
                "/account/releaseUsage",
                json!({ "userId": "u", "tokensReserved": 1, "provider": "p" }),
            ),
            (
                "/account/update",
                json!({ "payload": { "userId": "u", "planTier": "pro", "billingStatus": "a",
                                     "usage": {} } }),
            ),
        ] {
            let answer = app.call(path, body.clone()).await;
            assert_eq!(answer.status, 400, "{path} {body}");
            assert_eq!(answer.body["error"]["code"], "invalid_argument");
            assert!(
                answer.body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("unknown field"),
                "{path} {body}: {}",
                answer.body
            );
        }
        assert_eq!(
            app.ok("/account/getOrCreate", json!({ "userId": "u" }))
                .await["account"]["usage"],
            usage(0, 50_000, 1.0),
            "no refused request wrote anything"
        );
    }
}
