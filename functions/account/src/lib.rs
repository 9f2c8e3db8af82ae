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
//! # Exactly once
//!
//! `recordUsage`, `reserveUsage` and `releaseUsage` change a counter, so a write the SDK sends again
//! after its answer was lost or late (the first attempt may have been applied) must not count twice.
//! Each of these calls makes one [`shared::dynamo::WriteToken`] and every write it makes records
//! that token on the item, on the condition that the item does not hold it yet (one more `ADD` and
//! `REMOVE` in the same `UpdateItem`, no extra call). A repeat of an applied write fails that
//! condition, and the item DynamoDB hands back holds the token: the call answers from it, as the
//! success it was (a reservation granted is never answered `null`). The token sets prune themselves
//! (see [`shared::dynamo::once`]): an account item carries the tokens of its last 15–20 s of
//! counter writes, about 20 bytes each, so one write unit still covers a write unless an account
//! takes dozens of counter writes in that window. `getOrCreate` and `update` only set values of
//! their own (or keep what is there), so a repeat writes the same again and needs no token.
//! `tests/tests/it/exactly_once/account.rs` injects every fault into these writes.
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
//!
//! # Modules
//!
//! `model` ([`Account`], [`AccountUpdate`], [`Tokens`], [`Month`], the allowance table), `routes`
//! (arguments, replies, handlers and [`routes()`]), `store` ([`AccountStore`]), `dynamo`
//! ([`DynamoAccountStore`], [`attr`], the conditional updates and their rounds), `embedded`
//! ([`EmbeddedAccountStore`]), `import` ([`Import`]), `main.rs` (the Lambda bootstrap). Every
//! public item is re-exported here.

mod dynamo;
mod embedded;
mod import;
mod model;
mod routes;
mod store;

pub use dynamo::{attr, DynamoAccountStore, MAX_RELEASE_ROUNDS, MAX_RESERVE_ROUNDS};
pub use embedded::EmbeddedAccountStore;
pub use import::Import;
pub use model::{
    allowance, Account, AccountUpdate, Benefit, Month, Tokens, Usage, ALLOWANCES,
    DEFAULT_BILLING_STATUS, DEFAULT_PLAN_TIER, OTHER_TIER_ALLOWANCE,
};
pub use routes::{
    routes, AccountReply, RecordUsageArgs, ReleaseUsageArgs, ReserveReply, ReserveUsageArgs,
    UpdateArgs, UserArgs,
};
pub use store::AccountStore;

use shared::routes::Surface;
use shared::{Routes, SharedClock};

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
