//! The account group: plan tier, billing state and the monthly token quota of each user.
//!
//! | route | store call | DynamoDB calls |
//! |---|---|---|
//! | `/account/getOrCreate` | [`AccountStore::get_or_create`] | 1 `UpdateItem` |
//! | `/account/update`, `/account/updateAccount` | [`AccountStore::update`] | 1 `UpdateItem` |
//! | `/account/recordUsage` | [`AccountStore::record_usage`] | 1 `UpdateItem` |
//! | `/account/reserveUsage` | [`AccountStore::reserve_usage`] | 1 `UpdateItem` when the account was already used this month (reserved or refused); 2 on a new account or the first reservation of a month; at most [`MAX_RESERVE_ROUNDS`] × 2 under conflicting writes; none when `tokensRequested` is refused at the edge |
//! | `/account/releaseUsage` | [`AccountStore::release_usage`] | 1 `UpdateItem` (also when there is nothing to release); 2 when the release clamps at 0; at most [`MAX_RELEASE_ROUNDS`] × 2 under conflicting writes |
//!
//! # Table design
//!
//! One item per user in `AccountsTable` (key `userId`). The usage fields are stored **flat**
//! (`monthTokensUsed`, `monthlyAllowance`, `lastUpdated`) and assembled into the contract's nested
//! `usage` object when read: DynamoDB cannot `ADD` into a map that does not exist yet, and flat
//! attributes let one `UpdateItem` both create an account and add to its counter.
//!
//! `monthlyAllowance` is stored, and every write keeps it equal to [`allowance`]`(planTier)`
//! (`update` sets both, creation sets both to the free defaults, reservations repair it), so
//! `recordUsage` reads "the allowance of the current tier" from the item in the same `UpdateItem`
//! that adds to the counter.
//!
//! # Atomicity
//!
//! - `getOrCreate`: `SET field = if_not_exists(field, default)` for every field, `ReturnValues=ALL_NEW`.
//!   Concurrent first calls all write the same defaults or keep what the first wrote: one account.
//! - `recordUsage`: `ADD monthTokensUsed :tokens` plus `if_not_exists` defaults: no increment is lost
//!   and a missing account is created by the same call.
//! - `update`: one `SET … REMOVE …` built from the payload (polar fields only when given non-null;
//!   `premiumExpiresAt` set when given, removed when omitted; `monthTokensUsed` kept or 0).
//! - `reserveUsage`: first an optimistic `ADD` whose condition is the quota check itself:
//!   `lastUpdated` is in the current UTC month, and for the item's `planTier` the stored
//!   `monthlyAllowance` is that tier's and `monthTokensUsed <= allowance − tokensRequested` (one
//!   disjunct per tier of the allowance table plus one for "any other tier"). Concurrent reservations
//!   do not conflict with each other: each is accepted exactly while the quota holds it, so together
//!   they never pass the allowance. When the condition fails, DynamoDB returns the item as it was
//!   (`ReturnValuesOnConditionCheckFailure=ALL_OLD`) and the store decides from that state: refuse
//!   (the quota is exhausted: nothing is written), or create the account (`attribute_not_exists`),
//!   or start a new month / repair the allowance with a write conditioned on the exact values it read
//!   (`planTier`, `monthTokensUsed`, `lastUpdated`). Losing that race starts a new round, at most
//!   [`MAX_RESERVE_ROUNDS`]; past them the call answers `503` (never reached without a writer that
//!   keeps changing the account between every read and write).
//! - `releaseUsage`: an `ADD −r` conditioned on the current month and `monthTokensUsed >= r`; when
//!   that fails with a current-month item, a `SET monthTokensUsed = 0` conditioned on
//!   `monthTokensUsed < r`, so the result is `max(0, used − r)` whatever runs in between.
//!
//! Why reservations do not read first: a `GetItem` followed by a write conditioned on the values
//! read would cost 2 calls on every reservation and make concurrent reservations conflict and
//! retry; the tier table is small and fixed, so the quota check fits in the condition, and the
//! failed check hands back the item for the rare cases that need it (DynamoDB Local supports
//! `ReturnValuesOnConditionCheckFailure` from 1.25).
//!
//! An update that would make the item exceed 400 KB (a huge polar field) is a `413` on both stores:
//! DynamoDB words that error differently for `UpdateItem`, so this crate maps it itself.
//!
//! The month is the UTC calendar month of `now`, which the handlers take from the injected
//! [`SharedClock`] and pass to the store, so month rollover is tested with a manual clock.
//!
//! The `provider` arguments of `recordUsage` and `reserveUsage` are validated (a string) but not
//! stored: the contract's `Account` has no field for them.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use serde::{Deserialize, Serialize};
use shared::dynamo::{n, s, Item};
use shared::embedded::{self, EmbeddedDb, Table};
use shared::parse::not_null;
use shared::routes::Surface;
use shared::{ApiError, Key, Num, Routes, SharedClock, StoreError};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

/// The tier of a new account.
pub const DEFAULT_PLAN_TIER: &str = "free";
/// The billing status of a new account.
pub const DEFAULT_BILLING_STATUS: &str = "free";
/// Monthly token allowance of each named tier (CONTRACT.md §5).
pub const ALLOWANCES: [(&str, f64); 4] = [
    ("free", 50_000.0),
    ("starter", 200_000.0),
    ("pro", 500_000.0),
    ("enterprise", 2_000_000.0),
];
/// Monthly token allowance of any tier not in [`ALLOWANCES`].
pub const OTHER_TIER_ALLOWANCE: f64 = 200_000.0;
/// Rounds of "try, read what failed, decide, write conditionally" a reservation makes before it
/// answers `503`.
pub const MAX_RESERVE_ROUNDS: usize = 5;
/// Rounds a release makes before it answers `503`.
pub const MAX_RELEASE_ROUNDS: usize = 5;

/// The monthly token allowance of `tier`.
pub fn allowance(tier: &str) -> f64 {
    ALLOWANCES
        .iter()
        .find(|(name, _)| *name == tier)
        .map_or(OTHER_TIER_ALLOWANCE, |(_, allowance)| *allowance)
}

/// A stored account (CONTRACT.md §5, `Account`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Account {
    /// The user; the key.
    pub user_id: Key,
    /// Plan tier (`free`, `starter`, `pro`, `enterprise` or any other name).
    pub plan_tier: String,
    /// Billing status.
    pub billing_status: String,
    /// End of a premium period, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub premium_expires_at: Option<Num>,
    /// Polar customer id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polar_customer_id: Option<String>,
    /// Polar subscription id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polar_subscription_id: Option<String>,
    /// Polar plan id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polar_plan_id: Option<String>,
    /// End of the current Polar billing period, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polar_current_period_end: Option<Num>,
    /// Id of the last Polar webhook event applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polar_last_event_id: Option<String>,
    /// Polar benefits granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polar_benefits: Option<Vec<Benefit>>,
    /// Token usage of the month.
    pub usage: Usage,
}

impl Account {
    /// The account `getOrCreate` creates: free tier, no usage, nothing else.
    pub fn new_default(user_id: Key, now: Num) -> Self {
        Self {
            user_id,
            plan_tier: DEFAULT_PLAN_TIER.into(),
            billing_status: DEFAULT_BILLING_STATUS.into(),
            premium_expires_at: None,
            polar_customer_id: None,
            polar_subscription_id: None,
            polar_plan_id: None,
            polar_current_period_end: None,
            polar_last_event_id: None,
            polar_benefits: None,
            usage: Usage {
                month_tokens_used: Num(0.0),
                monthly_allowance: Num(allowance(DEFAULT_PLAN_TIER)),
                last_updated: now,
            },
        }
    }
}

/// Reads a stored usage counter: any number. Each `recordUsage` amount is within [`Num`]'s range,
/// but their sum can pass it (`9e37 + 9e37`), and a stored counter must always read back: refusing
/// it would make every later call on the account a `500`.
fn stored_counter<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Num, D::Error> {
    f64::deserialize(deserializer).map(Num)
}

/// The usage part of an [`Account`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Usage {
    /// Tokens used (or reserved) this month.
    #[serde(deserialize_with = "stored_counter")]
    pub month_tokens_used: Num,
    /// The tier's monthly allowance.
    pub monthly_allowance: Num,
    /// Last change of the usage, ms.
    pub last_updated: Num,
}

/// A Polar benefit: `{ id, name? }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Benefit {
    /// Benefit id.
    pub id: String,
    /// Benefit name.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
}

/// The payload of `/account/update`: an upsert by `userId`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AccountUpdate {
    /// The user.
    pub user_id: Key,
    /// Overwritten.
    pub plan_tier: String,
    /// Overwritten.
    pub billing_status: String,
    /// Overwritten when given, removed when omitted (not nullable).
    #[serde(default, deserialize_with = "not_null")]
    pub premium_expires_at: Option<Num>,
    /// Overwritten when given; kept when `null` or omitted.
    #[serde(default)]
    pub polar_customer_id: Option<String>,
    /// Overwritten when given; kept when `null` or omitted.
    #[serde(default)]
    pub polar_subscription_id: Option<String>,
    /// Overwritten when given; kept when `null` or omitted.
    #[serde(default)]
    pub polar_plan_id: Option<String>,
    /// Overwritten when given; kept when `null` or omitted.
    #[serde(default)]
    pub polar_current_period_end: Option<Num>,
    /// Overwritten when given; kept when `null` or omitted.
    #[serde(default)]
    pub polar_last_event_id: Option<String>,
    /// Overwritten when given; kept when `null` or omitted.
    #[serde(default)]
    pub polar_benefits: Option<Vec<Benefit>>,
}

impl AccountUpdate {
    /// An update setting only the required fields.
    pub fn new(user_id: &str, plan_tier: &str, billing_status: &str) -> Self {
        Self {
            user_id: Key::parse(user_id).expect("a valid user id"),
            plan_tier: plan_tier.into(),
            billing_status: billing_status.into(),
            premium_expires_at: None,
            polar_customer_id: None,
            polar_subscription_id: None,
            polar_plan_id: None,
            polar_current_period_end: None,
            polar_last_event_id: None,
            polar_benefits: None,
        }
    }

    /// The polar fields given non-null, with their attribute names, as DynamoDB values.
    fn given_polar_fields(&self) -> Result<Vec<(&'static str, AttributeValue)>, StoreError> {
        let mut fields = Vec::new();
        for (name, value) in [
            (attr::POLAR_CUSTOMER_ID, &self.polar_customer_id),
            (attr::POLAR_SUBSCRIPTION_ID, &self.polar_subscription_id),
            (attr::POLAR_PLAN_ID, &self.polar_plan_id),
            (attr::POLAR_LAST_EVENT_ID, &self.polar_last_event_id),
        ] {
            if let Some(value) = value {
                fields.push((name, s(value.as_str())));
            }
        }
        if let Some(end) = self.polar_current_period_end {
            fields.push((attr::POLAR_CURRENT_PERIOD_END, n(end)));
        }
        if let Some(benefits) = &self.polar_benefits {
            let value = serde_dynamo::to_attribute_value(benefits)
                .map_err(|e| StoreError::Internal(format!("polarBenefits do not convert: {e}")))?;
            fields.push((attr::POLAR_BENEFITS, value));
        }
        Ok(fields)
    }

    /// `account` with this update applied at `now` (`account` is `None` for a new one).
    fn apply(self, account: Option<Account>, now: Num) -> Account {
        let (used, old) = match account {
            Some(a) => (a.usage.month_tokens_used, Some(a)),
            None => (Num(0.0), None),
        };
        let keep = |given: Option<String>, stored: Option<&String>| given.or(stored.cloned());
        let old = old.as_ref();
        Account {
            polar_customer_id: keep(
                self.polar_customer_id,
                old.and_then(|a| a.polar_customer_id.as_ref()),
            ),
            polar_subscription_id: keep(
                self.polar_subscription_id,
                old.and_then(|a| a.polar_subscription_id.as_ref()),
            ),
            polar_plan_id: keep(
                self.polar_plan_id,
                old.and_then(|a| a.polar_plan_id.as_ref()),
            ),
            polar_last_event_id: keep(
                self.polar_last_event_id,
                old.and_then(|a| a.polar_last_event_id.as_ref()),
            ),
            polar_current_period_end: self
                .polar_current_period_end
                .or(old.and_then(|a| a.polar_current_period_end)),
            polar_benefits: self
                .polar_benefits
                .or_else(|| old.and_then(|a| a.polar_benefits.clone())),
            premium_expires_at: self.premium_expires_at,
            usage: Usage {
                month_tokens_used: used,
                monthly_allowance: Num(allowance(&self.plan_tier)),
                last_updated: now,
            },
            user_id: self.user_id,
            plan_tier: self.plan_tier,
            billing_status: self.billing_status,
        }
    }
}

/// A number of tokens to reserve: a non-negative safe integer.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Tokens(f64);

impl Tokens {
    /// `value` if it is a non-negative safe integer.
    pub fn parse(value: f64) -> Option<Self> {
        (Num(value).is_safe_integer() && value >= 0.0).then_some(Self(value.abs()))
    }

    /// The count.
    pub fn get(self) -> f64 {
        self.0
    }
}

/// A UTC calendar month, as `[start, end)` in epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Month {
    /// First millisecond of the month.
    pub start: f64,
    /// First millisecond of the next month.
    pub end: f64,
}

const DAY_MS: f64 = 86_400_000.0;

impl Month {
    /// The UTC month holding the instant `ms`.
    pub fn of(ms: Num) -> Self {
        let day = (ms.get() / DAY_MS).floor() as i64;
        let (year, month) = year_month_of_day(day);
        let (next_year, next_month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
        Self {
            start: day_of_month_start(year, month) as f64 * DAY_MS,
            end: day_of_month_start(next_year, next_month) as f64 * DAY_MS,
        }
    }

    /// True when `ms` falls in this month.
    pub fn contains(self, ms: Num) -> bool {
        self.start <= ms.get() && ms.get() < self.end
    }
}

/// Year and month (1–12) of a day counted from 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn year_month_of_day(day: i64) -> (i64, i64) {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month)
}

/// The day (counted from 1970-01-01) of the first of `month` in `year` (`days_from_civil`).
fn day_of_month_start(year: i64, month: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Tokens already used this month by `account`: 0 when its usage is from another month.
fn used_this_month(usage: &Usage, month: Month) -> f64 {
    if month.contains(usage.last_updated) {
        usage.month_tokens_used.get()
    } else {
        0.0
    }
}

/// Arguments of `/account/getOrCreate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserArgs {
    /// The user.
    pub user_id: Key,
}

/// Arguments of `/account/update` and `/account/updateAccount`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateArgs {
    /// The update.
    pub payload: AccountUpdate,
}

/// Arguments of `/account/recordUsage`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RecordUsageArgs {
    /// The user.
    pub user_id: Key,
    /// The provider the tokens were used at (validated, not stored).
    pub provider: String,
    /// Tokens to add.
    pub tokens_used: Num,
}

/// Arguments of `/account/reserveUsage`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReserveUsageArgs {
    /// The user.
    pub user_id: Key,
    /// The provider the tokens are for (validated, not stored).
    pub provider: String,
    /// Tokens to reserve; anything but a non-negative safe integer is refused (`{ account: null }`),
    /// so this is a plain `f64`: a number beyond the stored range is a refusal, not a `400`.
    pub tokens_requested: f64,
}

/// Arguments of `/account/releaseUsage`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReleaseUsageArgs {
    /// The user.
    pub user_id: Key,
    /// Tokens to give back; negative counts as 0.
    pub tokens_reserved: Num,
}

/// Reply of `getOrCreate`, `update` and `recordUsage`.
#[derive(Debug, Serialize)]
pub struct AccountReply {
    /// The account as stored.
    pub account: Account,
}

/// Reply of `reserveUsage`.
#[derive(Debug, Serialize)]
pub struct ReserveReply {
    /// The account after the reservation, or `null` when refused.
    pub account: Option<Account>,
}

/// What the account group needs from storage. `now` is the caller's clock, in ms.
pub trait AccountStore: Send + Sync + 'static {
    /// The account; the default one (see [`Account::new_default`]) is created first if missing.
    fn get_or_create(
        &self,
        user_id: &Key,
        now: Num,
    ) -> impl Future<Output = Result<Account, StoreError>> + Send;

    /// Upserts by user id (see [`AccountUpdate`]); usage becomes `{ existing monthTokensUsed or 0,
    /// allowance(planTier), now }`.
    fn update(
        &self,
        update: AccountUpdate,
        now: Num,
    ) -> impl Future<Output = Result<Account, StoreError>> + Send;

    /// Adds `tokens` to `monthTokensUsed` (no month rollover), `lastUpdated` = `now`; creates the
    /// default account first if missing.
    fn record_usage(
        &self,
        user_id: &Key,
        tokens: Num,
        now: Num,
    ) -> impl Future<Output = Result<Account, StoreError>> + Send;

    /// Reserves `tokens` in the month of `now` if they fit the allowance of the account's tier
    /// (usage from an earlier month counts as 0), creating the account if missing. `None` when
    /// refused, and then nothing is written.
    fn reserve_usage(
        &self,
        user_id: &Key,
        tokens: Tokens,
        now: Num,
    ) -> impl Future<Output = Result<Option<Account>, StoreError>> + Send;

    /// Gives back `tokens` (negative counts as 0) of this month's usage, never going below 0;
    /// does nothing when there is no account or its usage is not from the month of `now`.
    fn release_usage(
        &self,
        user_id: &Key,
        tokens: Num,
        now: Num,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The group, for its Lambda bootstrap and the dev server.
pub const GROUP: shared::Group = shared::Group {
    name: "account",
    tables: &[attr::TABLE],
    embedded: |db, clock| Ok(routes(EmbeddedAccountStore::new(db.clone())?, clock)),
    dynamo: dynamo_routes,
};

/// The group's routes on DynamoDB, with table names prefixed by `prefix` (empty in production), for
/// the surfaces `T` (its Lambda function: the HTTP routes only).
pub fn dynamo_routes<T: Surface>(
    client: &shared::dynamo::Client,
    prefix: &str,
    clock: SharedClock,
) -> Routes<T> {
    routes(
        DynamoAccountStore::new(client.clone(), attr::TABLE.name(prefix)),
        clock,
    )
}

/// The route table, over any store.
pub fn routes<S: AccountStore, T: Surface>(store: S, clock: SharedClock) -> Routes<T> {
    let state = Arc::new(State { store, clock });
    Routes::new()
        .post("/account/getOrCreate", &state, get_or_create)
        .post("/account/update", &state, update)
        .post("/account/updateAccount", &state, update)
        .post("/account/recordUsage", &state, record_usage)
        .post("/account/reserveUsage", &state, reserve_usage)
        .post("/account/releaseUsage", &state, release_usage)
}

struct State<S> {
    store: S,
    clock: SharedClock,
}

impl<S> State<S> {
    fn now(&self) -> Num {
        Num(self.clock.now_ms())
    }
}

async fn get_or_create<S: AccountStore>(
    state: Arc<State<S>>,
    args: UserArgs,
) -> Result<AccountReply, ApiError> {
    let now = state.now();
    Ok(AccountReply {
        account: state.store.get_or_create(&args.user_id, now).await?,
    })
}

async fn update<S: AccountStore>(
    state: Arc<State<S>>,
    args: UpdateArgs,
) -> Result<AccountReply, ApiError> {
    let now = state.now();
    Ok(AccountReply {
        account: state.store.update(args.payload, now).await?,
    })
}

async fn record_usage<S: AccountStore>(
    state: Arc<State<S>>,
    args: RecordUsageArgs,
) -> Result<AccountReply, ApiError> {
    let now = state.now();
    Ok(AccountReply {
        account: state
            .store
            .record_usage(&args.user_id, args.tokens_used, now)
            .await?,
    })
}

async fn reserve_usage<S: AccountStore>(
    state: Arc<State<S>>,
    args: ReserveUsageArgs,
) -> Result<ReserveReply, ApiError> {
    let Some(tokens) = Tokens::parse(args.tokens_requested) else {
        return Ok(ReserveReply { account: None });
    };
    let now = state.now();
    Ok(ReserveReply {
        account: state
            .store
            .reserve_usage(&args.user_id, tokens, now)
            .await?,
    })
}

async fn release_usage<S: AccountStore>(
    state: Arc<State<S>>,
    args: ReleaseUsageArgs,
) -> Result<(), ApiError> {
    let now = state.now();
    Ok(state
        .store
        .release_usage(&args.user_id, args.tokens_reserved, now)
        .await?)
}

/// Attribute names of the accounts table (key: `userId`). The usage fields are stored flat.
pub mod attr {
    /// The table: `AccountsTable` in `template.yaml`, named by `ACCOUNTS_TABLE`.
    pub const TABLE: shared::config::TableRef = shared::config::TableRef {
        resource: "AccountsTable",
        env: "ACCOUNTS_TABLE",
        default: "accounts",
    };
    /// Partition key.
    pub const USER_ID: &str = "userId";
    /// See [`super::Account`].
    pub const PLAN_TIER: &str = "planTier";
    /// See [`super::Account`].
    pub const BILLING_STATUS: &str = "billingStatus";
    /// See [`super::Account`].
    pub const PREMIUM_EXPIRES_AT: &str = "premiumExpiresAt";
    /// See [`super::Account`].
    pub const POLAR_CUSTOMER_ID: &str = "polarCustomerId";
    /// See [`super::Account`].
    pub const POLAR_SUBSCRIPTION_ID: &str = "polarSubscriptionId";
    /// See [`super::Account`].
    pub const POLAR_PLAN_ID: &str = "polarPlanId";
    /// See [`super::Account`].
    pub const POLAR_CURRENT_PERIOD_END: &str = "polarCurrentPeriodEnd";
    /// See [`super::Account`].
    pub const POLAR_LAST_EVENT_ID: &str = "polarLastEventId";
    /// See [`super::Account`].
    pub const POLAR_BENEFITS: &str = "polarBenefits";
    /// `usage.monthTokensUsed`, stored flat.
    pub const MONTH_TOKENS_USED: &str = "monthTokensUsed";
    /// `usage.monthlyAllowance`, stored flat; always the allowance of `planTier`.
    pub const MONTHLY_ALLOWANCE: &str = "monthlyAllowance";
    /// `usage.lastUpdated`, stored flat.
    pub const LAST_UPDATED: &str = "lastUpdated";
    /// Every attribute of an account item.
    pub const ALL: [&str; 13] = [
        USER_ID,
        PLAN_TIER,
        BILLING_STATUS,
        PREMIUM_EXPIRES_AT,
        POLAR_CUSTOMER_ID,
        POLAR_SUBSCRIPTION_ID,
        POLAR_PLAN_ID,
        POLAR_CURRENT_PERIOD_END,
        POLAR_LAST_EVENT_ID,
        POLAR_BENEFITS,
        MONTH_TOKENS_USED,
        MONTHLY_ALLOWANCE,
        LAST_UPDATED,
    ];
}

/// An account item as DynamoDB holds it: the usage fields flat.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredAccount {
    user_id: Key,
    plan_tier: String,
    billing_status: String,
    #[serde(default)]
    premium_expires_at: Option<Num>,
    #[serde(default)]
    polar_customer_id: Option<String>,
    #[serde(default)]
    polar_subscription_id: Option<String>,
    #[serde(default)]
    polar_plan_id: Option<String>,
    #[serde(default)]
    polar_current_period_end: Option<Num>,
    #[serde(default)]
    polar_last_event_id: Option<String>,
    #[serde(default)]
    polar_benefits: Option<Vec<Benefit>>,
    month_tokens_used: Num,
    monthly_allowance: Num,
    last_updated: Num,
}

impl From<StoredAccount> for Account {
    fn from(item: StoredAccount) -> Self {
        Account {
            user_id: item.user_id,
            plan_tier: item.plan_tier,
            billing_status: item.billing_status,
            premium_expires_at: item.premium_expires_at,
            polar_customer_id: item.polar_customer_id,
            polar_subscription_id: item.polar_subscription_id,
            polar_plan_id: item.polar_plan_id,
            polar_current_period_end: item.polar_current_period_end,
            polar_last_event_id: item.polar_last_event_id,
            polar_benefits: item.polar_benefits,
            usage: Usage {
                month_tokens_used: item.month_tokens_used,
                monthly_allowance: item.monthly_allowance,
                last_updated: item.last_updated,
            },
        }
    }
}

fn read_account(item: Item) -> Result<Account, StoreError> {
    shared::dynamo::from_item::<StoredAccount>(item).map(Account::from)
}

/// The outcome of a conditional `UpdateItem`.
enum Written {
    /// Written; the item as it is now.
    Done(Item),
    /// The condition failed; the item as it was (`None`: there is none). Nothing was written.
    Refused(Option<Item>),
}

/// Every `#name` placeholder of `expressions`, mapped to the attribute `name`: in this crate a
/// placeholder is always `#` + the attribute name, one of [`attr::ALL`] (checked in debug builds,
/// so a misspelt name in an expression fails the tests).
fn placeholders(expressions: &[&str]) -> HashMap<String, String> {
    let mut names = HashMap::new();
    for expression in expressions {
        let mut rest = *expression;
        while let Some(at) = rest.find('#') {
            let after = &rest[at + 1..];
            let len = after
                .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .unwrap_or(after.len());
            let name = &after[..len];
            debug_assert!(
                attr::ALL.contains(&name),
                "#{name} is not an account attribute"
            );
            names.insert(format!("#{name}"), name.to_owned());
            rest = &after[len..];
        }
    }
    names
}

/// The DynamoDB store.
#[derive(Clone)]
pub struct DynamoAccountStore {
    client: shared::dynamo::Client,
    table: String,
}

impl DynamoAccountStore {
    /// A store on `table`.
    pub fn new(client: shared::dynamo::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// One `UpdateItem` on `user_id` returning the new item; with a `condition`, a failed check
    /// returns the item as it was instead of an error.
    async fn update_item(
        &self,
        op: &'static str,
        user_id: &Key,
        update: &str,
        condition: Option<&str>,
        values: HashMap<String, AttributeValue>,
    ) -> Result<Written, StoreError> {
        let names = placeholders(&[update, condition.unwrap_or_default()]);
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(attr::USER_ID, s(user_id.as_str()))
            .update_expression(update)
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew)
            .set_return_values_on_condition_check_failure(
                condition.map(|_| ReturnValuesOnConditionCheckFailure::AllOld),
            );
        match request.send().await {
            Ok(output) => Ok(Written::Done(output.attributes.unwrap_or_default())),
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    Ok(Written::Refused(failed.item.clone()))
                }
                _ => Err(shared::dynamo::store_error(op, err)),
            },
        }
    }

    /// An `UpdateItem` without a condition, returning the new account.
    async fn update_account(
        &self,
        op: &'static str,
        user_id: &Key,
        update: &str,
        values: HashMap<String, AttributeValue>,
    ) -> Result<Account, StoreError> {
        match self.update_item(op, user_id, update, None, values).await? {
            Written::Done(item) => read_account(item),
            Written::Refused(_) => Err(StoreError::Internal(format!(
                "{op}: a write without a condition was refused"
            ))),
        }
    }

    /// The optimistic reservation: `ADD` guarded by the quota check for every tier.
    async fn try_reserve_in_month(
        &self,
        user_id: &Key,
        tokens: Tokens,
        now: Num,
        month: Month,
    ) -> Result<Written, StoreError> {
        let mut values = values([
            (":now", n(now)),
            (":tokens", n(tokens.get())),
            (":monthStart", n(month.start)),
            (":monthEnd", n(month.end)),
        ]);
        let mut per_tier = Vec::new();
        let mut tiers = Vec::new();
        for (i, (tier, allowance)) in ALLOWANCES.iter().enumerate() {
            per_tier.push(format!(
                "(#planTier = :tier{i} AND #monthlyAllowance = :allowance{i} AND #monthTokensUsed <= :most{i})"
            ));
            tiers.push(format!(":tier{i}"));
            values.insert(format!(":tier{i}"), s(*tier));
            values.insert(format!(":allowance{i}"), n(*allowance));
            values.insert(format!(":most{i}"), n(*allowance - tokens.get()));
        }
        per_tier.push(format!(
            "(NOT (#planTier IN ({})) AND #monthlyAllowance = :allowanceOther AND #monthTokensUsed <= :mostOther)",
            tiers.join(", ")
        ));
        values.insert(":allowanceOther".into(), n(OTHER_TIER_ALLOWANCE));
        values.insert(":mostOther".into(), n(OTHER_TIER_ALLOWANCE - tokens.get()));
        let condition = format!(
            "#lastUpdated >= :monthStart AND #lastUpdated < :monthEnd AND ({})",
            per_tier.join(" OR ")
        );
        self.update_item(
            "account.reserveUsage",
            user_id,
            "SET #lastUpdated = :now ADD #monthTokensUsed :tokens",
            Some(&condition),
            values,
        )
        .await
    }

    /// The reservation decided from the item as it was (`old`): refuse (`Ok(None)`), or write
    /// conditioned on that state (`Ok(Some(..))`, a [`Written::Refused`] when it changed meanwhile).
    async fn reserve_from(
        &self,
        user_id: &Key,
        tokens: Tokens,
        now: Num,
        month: Month,
        old: Option<Item>,
    ) -> Result<Option<Written>, StoreError> {
        let op = "account.reserveUsage";
        let Some(old) = old else {
            let allowance = allowance(DEFAULT_PLAN_TIER);
            if tokens.get() > allowance {
                return Ok(None);
            }
            let written = self
                .update_item(
                    op,
                    user_id,
                    "SET #planTier = :tier, #billingStatus = :status, #monthTokensUsed = :tokens, \
                     #monthlyAllowance = :allowance, #lastUpdated = :now",
                    Some("attribute_not_exists(#userId)"),
                    values([
                        (":tier", s(DEFAULT_PLAN_TIER)),
                        (":status", s(DEFAULT_BILLING_STATUS)),
                        (":tokens", n(tokens.get())),
                        (":allowance", n(allowance)),
                        (":now", n(now)),
                    ]),
                )
                .await?;
            return Ok(Some(written));
        };
        let condition_values = [
            (":oldTier", old.get(attr::PLAN_TIER).cloned()),
            (":oldUsed", old.get(attr::MONTH_TOKENS_USED).cloned()),
            (":oldUpdated", old.get(attr::LAST_UPDATED).cloned()),
        ];
        let account = read_account(old)?;
        let used = used_this_month(&account.usage, month);
        let allowance = allowance(&account.plan_tier);
        if used > allowance - tokens.get() {
            return Ok(None);
        }
        let mut values = values([
            (":used", n(used + tokens.get())),
            (":allowance", n(allowance)),
            (":now", n(now)),
        ]);
        for (name, value) in condition_values {
            let value = value.ok_or_else(|| {
                StoreError::Internal(format!("{op}: stored account lacks {name}"))
            })?;
            values.insert(name.into(), value);
        }
        let written = self
            .update_item(
                op,
                user_id,
                "SET #monthTokensUsed = :used, #monthlyAllowance = :allowance, #lastUpdated = :now",
                Some(
                    "#planTier = :oldTier AND #monthTokensUsed = :oldUsed AND #lastUpdated = :oldUpdated",
                ),
                values,
            )
            .await?;
        Ok(Some(written))
    }
}

fn values<const N: usize>(pairs: [(&str, AttributeValue); N]) -> HashMap<String, AttributeValue> {
    pairs
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

/// `SET` clauses giving every missing field of a new account its default.
const CREATE_DEFAULTS: &str = "#planTier = if_not_exists(#planTier, :tier), \
     #billingStatus = if_not_exists(#billingStatus, :status), \
     #monthlyAllowance = if_not_exists(#monthlyAllowance, :allowance)";

fn default_values(now: Num) -> HashMap<String, AttributeValue> {
    values([
        (":tier", s(DEFAULT_PLAN_TIER)),
        (":status", s(DEFAULT_BILLING_STATUS)),
        (":allowance", n(allowance(DEFAULT_PLAN_TIER))),
        (":now", n(now)),
    ])
}

impl AccountStore for DynamoAccountStore {
    async fn get_or_create(&self, user_id: &Key, now: Num) -> Result<Account, StoreError> {
        let mut values = default_values(now);
        values.insert(":zero".into(), n(0.0));
        self.update_account(
            "account.getOrCreate",
            user_id,
            &format!(
                "SET {CREATE_DEFAULTS}, #monthTokensUsed = if_not_exists(#monthTokensUsed, :zero), \
                 #lastUpdated = if_not_exists(#lastUpdated, :now)"
            ),
            values,
        )
        .await
    }

    async fn update(&self, update: AccountUpdate, now: Num) -> Result<Account, StoreError> {
        let mut sets = vec![
            "#planTier = :planTier".to_owned(),
            "#billingStatus = :billingStatus".to_owned(),
            "#monthTokensUsed = if_not_exists(#monthTokensUsed, :zero)".to_owned(),
            "#monthlyAllowance = :allowance".to_owned(),
            "#lastUpdated = :now".to_owned(),
        ];
        let mut values = values([
            (":planTier", s(update.plan_tier.as_str())),
            (":billingStatus", s(update.billing_status.as_str())),
            (":zero", n(0.0)),
            (":allowance", n(allowance(&update.plan_tier))),
            (":now", n(now)),
        ]);
        for (name, value) in update.given_polar_fields()? {
            sets.push(format!("#{name} = :{name}"));
            values.insert(format!(":{name}"), value);
        }
        let mut expression = format!("SET {}", sets.join(", "));
        match update.premium_expires_at {
            Some(at) => {
                expression.push_str(", #premiumExpiresAt = :premiumExpiresAt");
                values.insert(":premiumExpiresAt".into(), n(at));
            }
            None => expression.push_str(" REMOVE #premiumExpiresAt"),
        }
        self.update_account("account.update", &update.user_id, &expression, values)
            .await
    }

    async fn record_usage(
        &self,
        user_id: &Key,
        tokens: Num,
        now: Num,
    ) -> Result<Account, StoreError> {
        let mut values = default_values(now);
        values.insert(":tokens".into(), n(tokens));
        self.update_account(
            "account.recordUsage",
            user_id,
            &format!("SET {CREATE_DEFAULTS}, #lastUpdated = :now ADD #monthTokensUsed :tokens"),
            values,
        )
        .await
    }

    async fn reserve_usage(
        &self,
        user_id: &Key,
        tokens: Tokens,
        now: Num,
    ) -> Result<Option<Account>, StoreError> {
        let month = Month::of(now);
        for _ in 0..MAX_RESERVE_ROUNDS {
            let old = match self
                .try_reserve_in_month(user_id, tokens, now, month)
                .await?
            {
                Written::Done(item) => return read_account(item).map(Some),
                Written::Refused(old) => old,
            };
            match self.reserve_from(user_id, tokens, now, month, old).await? {
                None => return Ok(None),
                Some(Written::Done(item)) => return read_account(item).map(Some),
                Some(Written::Refused(_)) => continue,
            }
        }
        Err(StoreError::Unavailable(format!(
            "account.reserveUsage: the account kept changing during {MAX_RESERVE_ROUNDS} attempts"
        )))
    }

    async fn release_usage(&self, user_id: &Key, tokens: Num, now: Num) -> Result<(), StoreError> {
        let op = "account.releaseUsage";
        let released = tokens.get().max(0.0);
        let month = Month::of(now);
        let in_month = |old: Option<Item>| -> Result<bool, StoreError> {
            match old {
                None => Ok(false),
                Some(item) => Ok(month.contains(read_account(item)?.usage.last_updated)),
            }
        };
        let bounds = || {
            values([
                (":now", n(now)),
                (":released", n(released)),
                (":monthStart", n(month.start)),
                (":monthEnd", n(month.end)),
            ])
        };
        for _ in 0..MAX_RELEASE_ROUNDS {
            let mut subtract = bounds();
            subtract.insert(":minus".into(), n(-released));
            let written = self
                .update_item(
                    op,
                    user_id,
                    "SET #lastUpdated = :now ADD #monthTokensUsed :minus",
                    Some(
                        "#lastUpdated >= :monthStart AND #lastUpdated < :monthEnd \
                         AND #monthTokensUsed >= :released",
                    ),
                    subtract,
                )
                .await?;
            let Written::Refused(old) = written else {
                return Ok(());
            };
            if !in_month(old)? {
                return Ok(());
            }
            let mut clamp = bounds();
            clamp.insert(":zero".into(), n(0.0));
            let written = self
                .update_item(
                    op,
                    user_id,
                    "SET #lastUpdated = :now, #monthTokensUsed = :zero",
                    Some(
                        "#lastUpdated >= :monthStart AND #lastUpdated < :monthEnd \
                         AND #monthTokensUsed < :released",
                    ),
                    clamp,
                )
                .await?;
            let Written::Refused(old) = written else {
                return Ok(());
            };
            if !in_month(old)? {
                return Ok(());
            }
        }
        Err(StoreError::Unavailable(format!(
            "{op}: the account kept changing during {MAX_RELEASE_ROUNDS} attempts"
        )))
    }
}

/// The Convex `accounts` table, for the `convex-import` command. The usage fields are stored flat,
/// as the routes store them, and `monthlyAllowance` is [`allowance`]`(planTier)`, the invariant
/// every write of the routes keeps (an export made before a tier's allowance changed may differ).
pub struct Import;

impl shared::import::ImportTable for Import {
    const CONVEX_TABLE: &'static str = "accounts";
    const TABLES: &'static [shared::config::TableRef] = &[attr::TABLE];
    type Record = Account;

    fn complete(mut account: Account, _convex_id: &str) -> Result<Account, String> {
        account.usage.monthly_allowance = Num(allowance(&account.plan_tier));
        Ok(account)
    }

    fn key(account: &Account) -> String {
        format!("{} {}", attr::USER_ID, account.user_id.as_str())
    }

    fn items(doc: &shared::import::Doc<Account>) -> Result<Vec<(usize, Item)>, StoreError> {
        let account = &doc.record;
        let mut item = shared::dynamo::to_item(account)?;
        item.remove("usage");
        item.insert(
            attr::MONTH_TOKENS_USED.into(),
            n(account.usage.month_tokens_used),
        );
        item.insert(
            attr::MONTHLY_ALLOWANCE.into(),
            n(account.usage.monthly_allowance),
        );
        item.insert(attr::LAST_UPDATED.into(), n(account.usage.last_updated));
        Ok(vec![(0, item)])
    }

    fn put_embedded(
        txn: &embedded::WriteTransaction,
        doc: &shared::import::Doc<Account>,
    ) -> Result<(), StoreError> {
        embedded::put(txn, ACCOUNTS, doc.record.user_id.as_str(), &doc.record)
    }
}

/// The embedded store's table: user id → account.
const ACCOUNTS: Table = Table::new("accounts");

/// The embedded store. Each operation is one write transaction (read, decide, write), which redb
/// serializes, so the same guarantees hold as on DynamoDB.
#[derive(Clone)]
pub struct EmbeddedAccountStore {
    db: EmbeddedDb,
}

impl EmbeddedAccountStore {
    /// A store in `db`.
    pub fn new(db: EmbeddedDb) -> Result<Self, StoreError> {
        db.ensure_tables(&[ACCOUNTS])?;
        Ok(Self { db })
    }

    /// Runs `f` on the user's account (`None` if missing) in one write transaction; stores what
    /// it returns as `Some`, and leaves the table untouched for `None`.
    async fn modify<T, F>(&self, user_id: &Key, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Option<Account>) -> (Option<Account>, T) + Send + 'static,
    {
        let key = user_id.clone();
        self.db
            .write(move |txn| {
                let old = embedded::get_for_update(txn, ACCOUNTS, key.as_str())?;
                let (new, result) = f(old);
                if let Some(account) = new {
                    embedded::put(txn, ACCOUNTS, key.as_str(), &account)?;
                }
                Ok(result)
            })
            .await
    }
}

impl AccountStore for EmbeddedAccountStore {
    async fn get_or_create(&self, user_id: &Key, now: Num) -> Result<Account, StoreError> {
        let id = user_id.clone();
        self.modify(user_id, move |old| match old {
            Some(account) => (None, account),
            None => {
                let account = Account::new_default(id, now);
                (Some(account.clone()), account)
            }
        })
        .await
    }

    async fn update(&self, update: AccountUpdate, now: Num) -> Result<Account, StoreError> {
        let id = update.user_id.clone();
        self.modify(&id, move |old| {
            let account = update.apply(old, now);
            (Some(account.clone()), account)
        })
        .await
    }

    async fn record_usage(
        &self,
        user_id: &Key,
        tokens: Num,
        now: Num,
    ) -> Result<Account, StoreError> {
        let id = user_id.clone();
        self.modify(user_id, move |old| {
            let mut account = old.unwrap_or_else(|| Account::new_default(id, now));
            account.usage = Usage {
                month_tokens_used: Num(account.usage.month_tokens_used.get() + tokens.get()),
                monthly_allowance: Num(allowance(&account.plan_tier)),
                last_updated: now,
            };
            (Some(account.clone()), account)
        })
        .await
    }

    async fn reserve_usage(
        &self,
        user_id: &Key,
        tokens: Tokens,
        now: Num,
    ) -> Result<Option<Account>, StoreError> {
        let id = user_id.clone();
        let month = Month::of(now);
        self.modify(user_id, move |old| {
            let mut account = old.unwrap_or_else(|| Account::new_default(id, now));
            let used = used_this_month(&account.usage, month);
            let allowance = allowance(&account.plan_tier);
            if used > allowance - tokens.get() {
                return (None, None);
            }
            account.usage = Usage {
                month_tokens_used: Num(used + tokens.get()),
                monthly_allowance: Num(allowance),
                last_updated: now,
            };
            (Some(account.clone()), Some(account))
        })
        .await
    }

    async fn release_usage(&self, user_id: &Key, tokens: Num, now: Num) -> Result<(), StoreError> {
        let month = Month::of(now);
        self.modify(user_id, move |old| match old {
            Some(mut account) if month.contains(account.usage.last_updated) => {
                let used = account.usage.month_tokens_used.get();
                account.usage.month_tokens_used = Num((used - tokens.get().max(0.0)).max(0.0));
                account.usage.last_updated = now;
                (Some(account), ())
            }
            _ => (None, ()),
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::num::MAX_SAFE_INTEGER;

    const DAY: f64 = 86_400_000.0;

    #[test]
    fn months_are_utc_calendar_months() {
        // 2024-02-10T12:00:00Z, in a leap year.
        let feb = Month::of(Num(1_707_566_400_000.0));
        assert_eq!(feb.start, 1_706_745_600_000.0, "2024-02-01T00:00:00Z");
        assert_eq!(feb.end, feb.start + 29.0 * DAY, "2024-03-01T00:00:00Z");
        // 2025-12-31T23:59:59.999Z rolls into 2026-01-01.
        let december = Month::of(Num(1_767_225_599_999.0));
        assert_eq!(december.start, 1_764_547_200_000.0, "2025-12-01T00:00:00Z");
        assert_eq!(december.end, 1_767_225_600_000.0, "2026-01-01T00:00:00Z");
        assert!(december.contains(Num(1_767_225_599_999.0)));
        assert!(!december.contains(Num(1_767_225_600_000.0)));
        assert_eq!(Month::of(Num(december.end)).start, december.end);
        let epoch = Month::of(Num(0.0));
        assert_eq!((epoch.start, epoch.end), (0.0, 31.0 * DAY));
        let before = Month::of(Num(-1.0));
        assert_eq!((before.start, before.end), (-31.0 * DAY, 0.0), "1969-12");
    }

    #[test]
    fn every_day_of_four_centuries_is_in_its_own_month() {
        let mut day = day_of_month_start(1900, 1);
        for year in 1900..2300 {
            for month in 1..=12 {
                assert_eq!(day_of_month_start(year, month), day, "{year}-{month}");
                let (next_year, next_month) = if month == 12 {
                    (year + 1, 1)
                } else {
                    (year, month + 1)
                };
                while day < day_of_month_start(next_year, next_month) {
                    assert_eq!(year_month_of_day(day), (year, month));
                    day += 1;
                }
            }
        }
    }

    #[test]
    fn the_allowance_table_gives_200000_to_unknown_tiers() {
        assert_eq!(allowance("free"), 50_000.0);
        assert_eq!(allowance("starter"), 200_000.0);
        assert_eq!(allowance("pro"), 500_000.0);
        assert_eq!(allowance("enterprise"), 2_000_000.0);
        assert_eq!(allowance("Pro"), 200_000.0);
        assert_eq!(allowance(""), 200_000.0);
    }

    #[test]
    fn only_non_negative_safe_integers_are_token_counts() {
        assert_eq!(Tokens::parse(0.0).map(Tokens::get), Some(0.0));
        assert_eq!(Tokens::parse(-0.0).map(Tokens::get), Some(0.0));
        assert_eq!(
            Tokens::parse(MAX_SAFE_INTEGER).map(Tokens::get),
            Some(MAX_SAFE_INTEGER)
        );
        for refused in [-1.0, 1.5, MAX_SAFE_INTEGER + 1.0, 1e300] {
            assert_eq!(Tokens::parse(refused), None, "{refused}");
        }
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "#planTeir is not an account attribute")]
    fn a_placeholder_naming_no_attribute_is_caught() {
        placeholders(&["SET #planTeir = :x"]);
    }

    #[test]
    fn placeholders_name_their_attributes() {
        let names = placeholders(&[
            "SET #planTier = :x, #monthTokensUsed = if_not_exists(#monthTokensUsed, :y)",
            "#lastUpdated < :z",
        ]);
        assert_eq!(names.len(), 3);
        assert_eq!(names["#planTier"], attr::PLAN_TIER);
        assert_eq!(names["#monthTokensUsed"], attr::MONTH_TOKENS_USED);
        assert_eq!(names["#lastUpdated"], attr::LAST_UPDATED);
    }
}
