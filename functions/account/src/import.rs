//! The Convex `accounts` table, for the `convex-import` command.

use crate::dynamo::attr;
use crate::embedded::ACCOUNTS;
use crate::model::{allowance, Account};
use shared::dynamo::{n, Item};
use shared::embedded;
use shared::{Num, StoreError};

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
