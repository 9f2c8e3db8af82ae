//! The DynamoDB store of the history group, and [`attr`]: its table, key formats and attribute
//! names.

use crate::model::{by_recency, newest_first, HistoryEntry, Recorded, MAX_ENTRIES};
use crate::store::HistoryStore;
use futures::{StreamExt, TryStreamExt};
use shared::dynamo::{from_item, s, store_error, Item};
use shared::{Key, StoreError};
use std::time::Duration;

/// Conditional deletes in flight at once during a trim.
pub const DELETE_CONCURRENCY: usize = 8;

/// Deletes per `BatchWriteItem` (DynamoDB's maximum).
pub const BATCH_SIZE: usize = 25;

/// `BatchWriteItem` calls per batch at most, the first included, while items come back unprocessed.
pub const BATCH_ATTEMPTS: u32 = 5;

/// `BatchWriteItem` calls of one `clear` in flight at once.
pub const BATCH_CONCURRENCY: usize = 4;

/// Attribute and index names of the history table (key: `userId`, `id`), also the JSON field names.
pub mod attr {
    /// The table: `HistoryTable` in `template.yaml`, named by `HISTORY_TABLE`.
    pub const TABLE: shared::config::TableRef = shared::config::TableRef {
        resource: "HistoryTable",
        env: "HISTORY_TABLE",
        default: "history",
    };
    /// Partition key of the table and of its index.
    pub const USER_ID: &str = "userId";
    /// Sort key of the table.
    pub const ID: &str = "id";
    /// Sort key of [`BY_CREATED_AT`]: the ISO-8601 creation time.
    pub const CREATED_AT: &str = "createdAt";
    /// See [`super::HistoryEntry`].
    pub const PROVIDER: &str = "provider";
    /// See [`super::HistoryEntry`].
    pub const VOICE_ID: &str = "voiceId";
    /// See [`super::HistoryEntry`].
    pub const TEXT: &str = "text";
    /// See [`super::HistoryEntry`].
    pub const DURATION_MS: &str = "durationMs";
    /// See [`super::HistoryEntry`].
    pub const TRANSCRIPT: &str = "transcript";
    /// The local secondary index (`userId`, `createdAt`), keys only.
    pub const BY_CREATED_AT: &str = "byCreatedAt";
}

/// The DynamoDB store.
#[derive(Clone)]
pub struct DynamoHistoryStore {
    client: shared::dynamo::Client,
    table: String,
}

/// An entry's place in the index: (`createdAt`, `id`).
type IndexKey = (String, String);

impl DynamoHistoryStore {
    /// A store on `table`.
    pub fn new(client: shared::dynamo::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// A query of `user_id`'s entries on the index, newest first, strongly consistent.
    fn index_query(
        &self,
        user_id: &Key,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(attr::BY_CREATED_AT)
            .key_condition_expression("#user = :user")
            .expression_attribute_names("#user", attr::USER_ID)
            .expression_attribute_values(":user", s(user_id.as_str()))
            .scan_index_forward(false)
            .consistent_read(true)
    }

    /// Every (`createdAt`, `id`) of the user, read from the index in one strongly consistent
    /// keys-only query (more pages only past 1 MB of keys), in [`newest_first`] order.
    async fn index_keys(&self, user_id: &Key, op: &str) -> Result<Vec<IndexKey>, StoreError> {
        let mut keys = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .index_query(user_id)
                .projection_expression("#id, #created")
                .expression_attribute_names("#id", attr::ID)
                .expression_attribute_names("#created", attr::CREATED_AT)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_error(op, e))?;
            for item in output.items.unwrap_or_default() {
                keys.push((string(&item, attr::CREATED_AT)?, string(&item, attr::ID)?));
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        keys.sort_by(|a, b| by_recency((&a.0, &a.1), (&b.0, &b.1)));
        Ok(keys)
    }

    /// Deletes the user's entries past the [`MAX_ENTRIES`] newest; returns how many it deleted.
    async fn trim(&self, user_id: &Key) -> Result<usize, StoreError> {
        let keys = self.index_keys(user_id, "history.record.trim").await?;
        futures::stream::iter(keys.into_iter().skip(MAX_ENTRIES))
            .map(|(created_at, id)| self.delete_if_created_at(user_id, id, created_at))
            .buffer_unordered(DELETE_CONCURRENCY)
            .try_fold(0, |deleted, was_deleted| async move {
                Ok(deleted + usize::from(was_deleted))
            })
            .await
    }

    /// Deletes (`user_id`, `id`) if its `createdAt` is still `created_at`; true when deleted.
    async fn delete_if_created_at(
        &self,
        user_id: &Key,
        id: String,
        created_at: String,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(attr::USER_ID, s(user_id.as_str()))
            .key(attr::ID, s(id))
            .condition_expression("#created = :created")
            .expression_attribute_names("#created", attr::CREATED_AT)
            .expression_attribute_values(":created", s(created_at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_conditional_check_failure(&err) => Ok(false),
            Err(err) => Err(store_error("history.record.trim.delete", err)),
        }
    }

    /// Deletes one batch of at most [`BATCH_SIZE`] entries, retrying unprocessed items.
    async fn delete_batch(&self, user_id: &Key, ids: Vec<String>) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
        let mut requests = ids
            .into_iter()
            .map(|id| {
                let delete = DeleteRequest::builder()
                    .key(attr::USER_ID, s(user_id.as_str()))
                    .key(attr::ID, s(id))
                    .build()
                    .map_err(|e| StoreError::Internal(format!("history.clear: {e}")))?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        for attempt in 0..BATCH_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
            }
            let output = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await
                .map_err(|e| store_error("history.clear.delete", e))?;
            requests = output
                .unprocessed_items
                .and_then(|mut unprocessed| unprocessed.remove(&self.table))
                .unwrap_or_default();
            if requests.is_empty() {
                return Ok(());
            }
        }
        Err(StoreError::Unavailable(format!(
            "history.clear: {} deletes still unprocessed after {BATCH_ATTEMPTS} attempts",
            requests.len()
        )))
    }
}

/// The string attribute `name` of an item read from the table.
fn string(item: &Item, name: &str) -> Result<String, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .ok_or_else(|| StoreError::Internal(format!("history item without {name}")))
}

fn is_conditional_check_failure<R>(
    err: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::delete_item::DeleteItemError,
        R,
    >,
) -> bool {
    err.as_service_error()
        .is_some_and(|e| e.is_conditional_check_failed_exception())
}

impl HistoryStore for DynamoHistoryStore {
    async fn list(&self, user_id: &Key, limit: usize) -> Result<Vec<HistoryEntry>, StoreError> {
        use aws_sdk_dynamodb::types::Select;
        let limit = limit.min(MAX_ENTRIES);
        let mut entries: Vec<HistoryEntry> = Vec::with_capacity(limit);
        let mut start = None;
        while entries.len() < limit {
            let output = self
                .index_query(user_id)
                .select(Select::AllAttributes)
                .limit((limit - entries.len()) as i32)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_error("history.list", e))?;
            for item in output.items.unwrap_or_default() {
                entries.push(from_item(item)?);
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        entries.sort_by(newest_first);
        Ok(entries)
    }

    async fn record(&self, entry: &HistoryEntry) -> Result<Recorded, StoreError> {
        use aws_sdk_dynamodb::types::ReturnValue;
        let item = shared::dynamo::to_item(entry)?;
        let output = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item.clone()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| store_error("history.record", e))?;
        match output.attributes.filter(|old| !old.is_empty()) {
            // The same entry: this call's own first attempt whose answer was lost (the SDK sent
            // it again), or an identical record before, which cannot be told apart. The entry may
            // be new, so it counts as inserted and trims.
            Some(old) if old != item => return Ok(Recorded::Replaced),
            _ => {}
        }
        if let Err(err) = self.trim(&entry.user_id).await {
            tracing::warn!(
                error = %err,
                "history.record: the entry is stored but trimming failed; the next new entry trims"
            );
        }
        Ok(Recorded::Inserted)
    }

    async fn remove(&self, user_id: &Key, id: &Key) -> Result<bool, StoreError> {
        let key = shared::dynamo::Item::from([
            (attr::USER_ID.to_owned(), s(user_id.as_str())),
            (attr::ID.to_owned(), s(id.as_str())),
        ]);
        shared::dynamo::delete_existing(&self.client, "history.remove", &self.table, key).await
    }

    async fn clear(&self, user_id: &Key) -> Result<usize, StoreError> {
        let keys = self.index_keys(user_id, "history.clear.query").await?;
        let count = keys.len();
        let ids: Vec<String> = keys.into_iter().map(|(_, id)| id).collect();
        let batches: Vec<Vec<String>> = ids.chunks(BATCH_SIZE).map(<[String]>::to_vec).collect();
        futures::stream::iter(batches)
            .map(|batch| self.delete_batch(user_id, batch))
            .buffer_unordered(BATCH_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(count)
    }
}
