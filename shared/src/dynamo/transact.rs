//! Writes that span items or must know what they replaced, exactly once: `TransactWriteItems` with an
//! explicit `ClientRequestToken`.
//!
//! DynamoDB answers a repeat of a transaction that succeeded, with the same token and within ten
//! minutes, as a success without applying it again. The SDK sends the same token on each of its own
//! retries, so a transaction whose answer was lost is applied once and answered once. (The SDK would
//! generate a token by itself; it is set here so that the guarantee does not rest on a default.)
//! A transaction that was cancelled (a condition failed) applied nothing, and a repeat runs again.

use super::{store_error, Client, Item};
use crate::StoreError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};

/// The outcome of [`transact`].
#[derive(Debug, Clone, PartialEq)]
pub enum Transacted {
    /// Every item was written.
    Done,
    /// Nothing was written: one reason per item, in order.
    Cancelled(Vec<Cancel>),
}

/// Why one item of a cancelled transaction stopped it (or `code` `None` when it did not).
#[derive(Debug, Clone, PartialEq)]
pub struct Cancel {
    /// DynamoDB's code: `ConditionalCheckFailed`, `TransactionConflict`, `None` (this item was fine), …
    pub code: Option<String>,
    /// The item as it was, when its condition failed and the item asked for it
    /// (`ReturnValuesOnConditionCheckFailure = ALL_OLD`); token sets not stripped.
    pub item: Option<Item>,
}

impl Cancel {
    /// True when this item's condition failed.
    pub fn condition_failed(&self) -> bool {
        self.code.as_deref() == Some("ConditionalCheckFailed")
    }

    /// True when another transaction or write on this item was in progress: try again.
    pub fn conflicted(&self) -> bool {
        self.code.as_deref() == Some("TransactionConflict")
    }
}

impl Transacted {
    /// True when the transaction was cancelled only by conflicts with concurrent writes (no
    /// condition failed): the same transaction may be tried again.
    pub fn conflicted(&self) -> bool {
        match self {
            Transacted::Done => false,
            Transacted::Cancelled(reasons) => {
                reasons.iter().any(Cancel::conflicted)
                    && !reasons.iter().any(Cancel::condition_failed)
            }
        }
    }
}

/// A fresh client request token (UUID v4, 36 characters; DynamoDB takes 1 to 36).
pub fn request_token() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Runs `items` as one `TransactWriteItems` (at most 100 items) with a fresh `ClientRequestToken`.
/// A cancellation is `Ok(Cancelled)`; a cancellation because an item would pass the 400 KB limit is
/// `TooLarge`; throttling and outages are `Unavailable`, as for every call (see [`store_error`]).
pub async fn transact(
    client: &Client,
    op: &str,
    items: Vec<TransactWriteItem>,
) -> Result<Transacted, StoreError> {
    let result = client
        .transact_write_items()
        .set_transact_items(Some(items))
        .client_request_token(request_token())
        .send()
        .await;
    match result {
        Ok(_) => Ok(Transacted::Done),
        Err(err) => match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                let reasons: Vec<Cancel> = cancelled
                    .cancellation_reasons()
                    .iter()
                    .map(|reason| Cancel {
                        code: reason.code().map(str::to_owned),
                        item: reason.item().cloned(),
                    })
                    .collect();
                if let Some(reason) = cancelled.cancellation_reasons().iter().find(|r| {
                    r.code() == Some("ValidationError")
                        && r.message().unwrap_or_default().contains("size")
                }) {
                    return Err(StoreError::TooLarge(format!(
                        "the item is over DynamoDB's 400 KB item limit ({})",
                        reason.message().unwrap_or_default()
                    )));
                }
                Ok(Transacted::Cancelled(reasons))
            }
            _ => Err(store_error(op, err)),
        },
    }
}

/// Deletes the item at `key` of `table` and answers whether it existed, exactly once: a one-item
/// transaction conditioned on the item existing, so that a repeat after a lost answer is answered
/// `true` as the first attempt was, not `false` from the item it already deleted. It costs one call
/// and, as a transactional write, twice the write capacity of a `DeleteItem`.
pub async fn delete_existing(
    client: &Client,
    op: &str,
    table: &str,
    key: Item,
) -> Result<bool, StoreError> {
    let Some(key_name) = key.keys().min().cloned() else {
        return Err(StoreError::Internal(format!(
            "{op}: a delete without a key"
        )));
    };
    let delete = Delete::builder()
        .table_name(table)
        .set_key(Some(key))
        .condition_expression("attribute_exists(#key)")
        .expression_attribute_names("#key", key_name)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::None)
        .build()
        .map_err(|e| StoreError::Internal(format!("{op}: {e}")))?;
    let item = TransactWriteItem::builder().delete(delete).build();
    let mut last = Vec::new();
    for attempt in 0..CONFLICT_ATTEMPTS {
        match transact(client, op, vec![item.clone()]).await? {
            Transacted::Done => return Ok(true),
            Transacted::Cancelled(reasons) if reasons.iter().any(Cancel::condition_failed) => {
                return Ok(false)
            }
            // A conflict with another write of the item: nothing was applied, so it is tried
            // again (with a new token: the cancelled one is spent).
            Transacted::Cancelled(reasons) => {
                last = reasons;
                tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
            }
        }
    }
    Err(StoreError::Unavailable(format!(
        "{op}: the delete was cancelled {CONFLICT_ATTEMPTS} times ({})",
        last.iter()
            .filter_map(|r| r.code.as_deref())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// Tries of [`delete_existing`] when its transaction conflicts with another write of the item.
pub const CONFLICT_ATTEMPTS: u32 = 4;

/// A key of one string attribute.
pub fn key1(name: &str, value: impl Into<String>) -> Item {
    Item::from([(name.to_owned(), AttributeValue::S(value.into()))])
}
