//! The DynamoDB store: one item per user in `WorkspaceLayoutsTable`, keyed by `userId`.

use crate::model::LayoutRecord;
use crate::store::WorkspaceLayoutsStore;
use shared::dynamo::{from_item, s, store_error, to_item, Client, Item};
use shared::{Key, StoreError};

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
        // lost answer writes the same item again.
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)?))
            .send()
            .await
            .map_err(|e| store_error("workspaceLayouts.save", e))?;
        Ok(())
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
/// `false` for a delete this very call made.
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
    let result = client
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().delete(delete).build())
        .client_request_token(uuid::Uuid::new_v4().to_string())
        .send()
        .await;
    match result {
        Ok(_) => Ok(true),
        Err(err) => match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                let codes: Vec<&str> = cancelled
                    .cancellation_reasons()
                    .iter()
                    .filter_map(|r| r.code())
                    .collect();
                if codes == ["ConditionalCheckFailed"] {
                    Ok(false)
                } else {
                    // Cancelled by a conflicting transaction or throttling: nothing was applied.
                    Err(StoreError::Unavailable(format!(
                        "{op}: transaction cancelled ({})",
                        codes.join(", ")
                    )))
                }
            }
            _ => Err(store_error(op, err)),
        },
    }
}
