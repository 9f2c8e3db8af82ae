//! The DynamoDB store: one item per user in `WorkspaceLayoutsTable`, keyed by `userId`.

use crate::model::LayoutRecord;
use crate::store::WorkspaceLayoutsStore;
use shared::dynamo::{from_item, s, store_error, to_item, Client, Item};
use shared::{Key, StoreError};
use std::time::Duration;

/// Rounds of a write that DynamoDB refused because a transaction on the same item was in progress
/// (a `save` meeting a `clear`): such a refusal applied nothing and the SDK does not retry it.
pub const CONFLICT_ATTEMPTS: u32 = 3;

/// The pause before round `attempt` (from 1) of a write refused for a transaction conflict.
fn conflict_backoff(attempt: u32) -> Duration {
    Duration::from_millis(20 << attempt)
}

/// Attribute names of the workspace layouts table (key: `userId`), also the JSON field names: an
/// item is the [`LayoutRecord`] as JSON, the layout a nested map (`serde_dynamo`), numbers `N`.
pub mod attr {
    /// The table: `WorkspaceLayoutsTable` in `template.yaml`, named by `WORKSPACE_LAYOUTS_TABLE`.
    pub const TABLE: shared::config::TableRef = shared::config::TableRef {
        resource: "WorkspaceLayoutsTable",
        env: "WORKSPACE_LAYOUTS_TABLE",
        default: "workspace-layouts",
    };
    /// Partition key.
    pub const USER_ID: &str = "userId";
    /// The layout as saved: a map.
    pub const LAYOUT: &str = "layout";
    /// `layout.version` when it was saved.
    pub const VERSION: &str = "version";
    /// When it was saved, ms.
    pub const UPDATED_AT: &str = "updatedAt";
}

/// The DynamoDB store.
#[derive(Clone)]
pub struct DynamoWorkspaceLayoutsStore {
    client: Client,
    table: String,
}

impl DynamoWorkspaceLayoutsStore {
    /// A store on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn key(user_id: &Key) -> Item {
        Item::from([(attr::USER_ID.to_owned(), s(user_id.as_str()))])
    }
}

impl WorkspaceLayoutsStore for DynamoWorkspaceLayoutsStore {
    async fn get(&self, user_id: &Key) -> Result<Option<LayoutRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(user_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error("workspaceLayouts.get", e))?;
        output.item.map(from_item).transpose()
    }

    async fn save(&self, record: &LayoutRecord) -> Result<(), StoreError> {
        // A whole item computed from the request and the clock reading alone: a retry after a
        // lost answer, or after a conflict with a `clear` in progress, writes the same item again.
        let item = to_item(record)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item.clone()))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(()),
                Err(err)
                    if attempt < CONFLICT_ATTEMPTS
                        && err
                            .as_service_error()
                            .is_some_and(|e| e.is_transaction_conflict_exception()) =>
                {
                    tokio::time::sleep(conflict_backoff(attempt)).await;
                }
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_transaction_conflict_exception()) =>
                {
                    return Err(StoreError::Unavailable(
                        "workspaceLayouts.save: the layout is being cleared; try again".into(),
                    ))
                }
                Err(err) => return Err(store_error("workspaceLayouts.save", err)),
            }
        }
    }

    async fn clear(&self, user_id: &Key) -> Result<bool, StoreError> {
        delete_existing(
            &self.client,
            "workspaceLayouts.clear",
            &self.table,
            Self::key(user_id),
        )
        .await
    }
}

/// A delete that answers whether the item existed, exactly once: a one-item `TransactWriteItems`
/// with `attribute_exists` on the key and a `ClientRequestToken`, so an SDK retry after a lost or
/// late answer is answered as the first attempt was (within DynamoDB's 10-minute window), never
/// `false` for a delete this very call made. A transaction cancelled for a conflict (a write of the
/// same item in progress) applied nothing: it is tried again with a new token, at most
/// [`CONFLICT_ATTEMPTS`] rounds in all.
///
/// The same signature as `shared::dynamo::delete_existing` (notes/exactly-once.md), which replaces
/// this local copy once it is on main.
pub(crate) async fn delete_existing(
    client: &Client,
    op: &str,
    table: &str,
    key: Item,
) -> Result<bool, StoreError> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};
    let name = key
        .keys()
        .next()
        .cloned()
        .ok_or_else(|| StoreError::Internal(format!("{op}: an empty key")))?;
    let delete = Delete::builder()
        .table_name(table)
        .set_key(Some(key))
        .condition_expression("attribute_exists(#key)")
        .expression_attribute_names("#key", name)
        .build()
        .map_err(|e| StoreError::Internal(format!("{op}: {e}")))?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        // One token per round: the SDK's own retries of this round resend it.
        let result = client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(delete.clone()).build())
            .client_request_token(uuid::Uuid::new_v4().to_string())
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(true),
            Err(err) => err,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            err.as_service_error()
        else {
            return Err(store_error(op, err));
        };
        let codes: Vec<&str> = cancelled
            .cancellation_reasons()
            .iter()
            .filter_map(|r| r.code())
            .collect();
        match codes.as_slice() {
            ["ConditionalCheckFailed"] => return Ok(false),
            ["TransactionConflict"] if attempt < CONFLICT_ATTEMPTS => {
                tokio::time::sleep(conflict_backoff(attempt)).await;
            }
            // Still conflicting, or throttled: nothing was applied.
            _ => {
                return Err(StoreError::Unavailable(format!(
                    "{op}: transaction cancelled ({})",
                    codes.join(", ")
                )))
            }
        }
    }
}
