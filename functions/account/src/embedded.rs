//! The embedded (redb) store of the account group, for the dev server and the tests.

use crate::model::{allowance, used_this_month, Account, AccountUpdate, Month, Tokens, Usage};
use crate::store::AccountStore;
use shared::embedded::{self, EmbeddedDb, Table};
use shared::{Key, Num, StoreError};

/// The embedded store's table: user id → account.
pub(crate) const ACCOUNTS: Table = Table::new("accounts");

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
