//! The DynamoDB store of the account group, and [`attr`]: its table, key formats and attribute
//! names.

use crate::model::{
    allowance, used_this_month, Account, AccountUpdate, Benefit, Month, Tokens, Usage, ALLOWANCES,
    DEFAULT_BILLING_STATUS, DEFAULT_PLAN_TIER, OTHER_TIER_ALLOWANCE,
};
use crate::store::AccountStore;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use serde::Deserialize;
use shared::dynamo::{n, s, Item, UpdateExpression, WriteToken};
use shared::{Key, Num, StoreError};
use std::collections::HashMap;

/// Rounds of "try, read what failed, decide, write conditionally" a reservation makes before it
/// answers `503`.
pub const MAX_RESERVE_ROUNDS: usize = 5;

/// Rounds a release makes before it answers `503`.
pub const MAX_RELEASE_ROUNDS: usize = 5;

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
    /// Written by an earlier attempt of this call (its [`WriteToken`] is on the item): the item as
    /// it is now, holding this write. Nothing was written again.
    AlreadyApplied(Item),
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
    /// returns the item as it was instead of an error. With a `token` (a write that must not be
    /// applied twice), the update also records the token, on the condition that it is not there
    /// yet: a repeat of an applied write is [`Written::AlreadyApplied`].
    async fn update_item(
        &self,
        op: &'static str,
        user_id: &Key,
        update: UpdateExpression,
        condition: Option<&str>,
        mut values: HashMap<String, AttributeValue>,
        token: Option<&WriteToken>,
    ) -> Result<Written, StoreError> {
        let mut names = placeholders(&[&update.render(), condition.unwrap_or_default()]);
        let (update, condition) = match token {
            Some(token) => {
                names.extend(token.names());
                values.extend(token.values());
                let condition = match condition {
                    Some(condition) => format!("({condition}) AND {}", token.condition()),
                    None => token.condition(),
                };
                (update.once(token), Some(condition))
            }
            None => (update, condition.map(str::to_owned)),
        };
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(attr::USER_ID, s(user_id.as_str()))
            .update_expression(update.render())
            .set_return_values_on_condition_check_failure(
                condition
                    .as_ref()
                    .map(|_| ReturnValuesOnConditionCheckFailure::AllOld),
            )
            .set_condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew);
        match request.send().await {
            Ok(output) => Ok(Written::Done(output.attributes.unwrap_or_default())),
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    Ok(match (&failed.item, token) {
                        (Some(item), Some(token)) if token.applied_in(item) => {
                            Written::AlreadyApplied(item.clone())
                        }
                        _ => Written::Refused(failed.item.clone()),
                    })
                }
                _ => Err(shared::dynamo::store_error(op, err)),
            },
        }
    }

    /// An `UpdateItem` with no condition of its own (the `token`'s only), returning the account.
    async fn update_account(
        &self,
        op: &'static str,
        user_id: &Key,
        update: UpdateExpression,
        values: HashMap<String, AttributeValue>,
        token: Option<&WriteToken>,
    ) -> Result<Account, StoreError> {
        match self
            .update_item(op, user_id, update, None, values, token)
            .await?
        {
            Written::Done(item) | Written::AlreadyApplied(item) => read_account(item),
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
        token: &WriteToken,
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
            UpdateExpression::new()
                .set("#lastUpdated = :now")
                .add_action("#monthTokensUsed :tokens"),
            Some(&condition),
            values,
            Some(token),
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
        token: &WriteToken,
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
                    UpdateExpression::new().set(
                        "#planTier = :tier, #billingStatus = :status, #monthTokensUsed = :tokens, \
                         #monthlyAllowance = :allowance, #lastUpdated = :now",
                    ),
                    Some("attribute_not_exists(#userId)"),
                    values([
                        (":tier", s(DEFAULT_PLAN_TIER)),
                        (":status", s(DEFAULT_BILLING_STATUS)),
                        (":tokens", n(tokens.get())),
                        (":allowance", n(allowance)),
                        (":now", n(now)),
                    ]),
                    Some(token),
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
                UpdateExpression::new().set(
                    "#monthTokensUsed = :used, #monthlyAllowance = :allowance, #lastUpdated = :now",
                ),
                Some(
                    "#planTier = :oldTier AND #monthTokensUsed = :oldUsed AND #lastUpdated = :oldUpdated",
                ),
                values,
                Some(token),
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
            UpdateExpression::new()
                .set(CREATE_DEFAULTS)
                .set("#monthTokensUsed = if_not_exists(#monthTokensUsed, :zero)")
                .set("#lastUpdated = if_not_exists(#lastUpdated, :now)"),
            values,
            None,
        )
        .await
    }

    async fn update(&self, update: AccountUpdate, now: Num) -> Result<Account, StoreError> {
        let mut expression = UpdateExpression::new()
            .set("#planTier = :planTier")
            .set("#billingStatus = :billingStatus")
            .set("#monthTokensUsed = if_not_exists(#monthTokensUsed, :zero)")
            .set("#monthlyAllowance = :allowance")
            .set("#lastUpdated = :now");
        let mut values = values([
            (":planTier", s(update.plan_tier.as_str())),
            (":billingStatus", s(update.billing_status.as_str())),
            (":zero", n(0.0)),
            (":allowance", n(allowance(&update.plan_tier))),
            (":now", n(now)),
        ]);
        for (name, value) in update.given_polar_fields()? {
            expression = expression.set(format!("#{name} = :{name}"));
            values.insert(format!(":{name}"), value);
        }
        expression = match update.premium_expires_at {
            Some(at) => {
                values.insert(":premiumExpiresAt".into(), n(at));
                expression.set("#premiumExpiresAt = :premiumExpiresAt")
            }
            None => expression.remove("#premiumExpiresAt"),
        };
        // Every field is set to a value of this call's own: a repeat writes the same again.
        self.update_account("account.update", &update.user_id, expression, values, None)
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
            UpdateExpression::new()
                .set(CREATE_DEFAULTS)
                .set("#lastUpdated = :now")
                .add_action("#monthTokensUsed :tokens"),
            values,
            Some(&WriteToken::new(now.get())),
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
        // One token for every write of this call: whichever of them was applied, a repeat of any
        // of them finds it and answers the reservation as granted.
        let token = WriteToken::new(now.get());
        for _ in 0..MAX_RESERVE_ROUNDS {
            let old = match self
                .try_reserve_in_month(user_id, tokens, now, month, &token)
                .await?
            {
                Written::Done(item) | Written::AlreadyApplied(item) => {
                    return read_account(item).map(Some)
                }
                Written::Refused(old) => old,
            };
            match self
                .reserve_from(user_id, tokens, now, month, old, &token)
                .await?
            {
                None => return Ok(None),
                Some(Written::Done(item) | Written::AlreadyApplied(item)) => {
                    return read_account(item).map(Some)
                }
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
        let token = WriteToken::new(now.get());
        for _ in 0..MAX_RELEASE_ROUNDS {
            let mut subtract = bounds();
            subtract.insert(":minus".into(), n(-released));
            let written = self
                .update_item(
                    op,
                    user_id,
                    UpdateExpression::new()
                        .set("#lastUpdated = :now")
                        .add_action("#monthTokensUsed :minus"),
                    Some(
                        "#lastUpdated >= :monthStart AND #lastUpdated < :monthEnd \
                         AND #monthTokensUsed >= :released",
                    ),
                    subtract,
                    Some(&token),
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
                    UpdateExpression::new().set("#lastUpdated = :now, #monthTokensUsed = :zero"),
                    Some(
                        "#lastUpdated >= :monthStart AND #lastUpdated < :monthEnd \
                         AND #monthTokensUsed < :released",
                    ),
                    clamp,
                    Some(&token),
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

impl AccountUpdate {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
