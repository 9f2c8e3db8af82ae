//! What the account group needs from storage: the store trait both stores implement.

use crate::model::{Account, AccountUpdate, Tokens};
use shared::{Key, Num, StoreError};
use std::future::Future;

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
