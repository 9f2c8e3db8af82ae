//! The DynamoDB store: one item per user in `WorkspaceLayoutsTable`, keyed by `userId`.

use crate::model::LayoutRecord;
use crate::store::WorkspaceLayoutsStore;
use shared::dynamo::{from_item, s, store_error, to_item, Client, Item};
use shared::{Key, StoreError};
use std::time::Duration;

/// Rounds of a `save` that DynamoDB refused because a transaction on the same item was in progress
/// (a `clear`): such a refusal (`TransactionConflictException`) applied nothing, and neither the
/// SDK retries it nor `shared::dynamo::store_error` counts it as an outage.
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
        // Exactly once: a one-item transaction with a ClientRequestToken (see the crate docs).
        shared::dynamo::delete_existing(
            &self.client,
            "workspaceLayouts.clear",
            &self.table,
            Self::key(user_id),
        )
        .await
    }
}
