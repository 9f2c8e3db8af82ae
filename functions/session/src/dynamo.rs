//! The DynamoDB store of the session group, and [`attr`]: its table, key formats and attribute
//! names.

use crate::model::{Session, PRUNE_LIMIT};
use crate::store::SessionStore;
use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};
use futures::{StreamExt, TryStreamExt};
use shared::dynamo::{n, s, transact, Item, Transacted};
use shared::{Key, Num, StoreError};

/// Deletes per `TransactWriteItems` of a prune (DynamoDB's limit is 100 actions).
pub const DELETES_PER_TRANSACTION: usize = 100;

/// Transactions of a prune in flight at once.
pub const DELETE_CONCURRENCY: usize = 5;

/// Tries per batch of a prune when transactions conflict with concurrent writes.
pub const PRUNE_ATTEMPTS: usize = 5;

/// The TTL attribute is set this long after `expiresAt`.
pub const TTL_GRACE_SECONDS: f64 = 24.0 * 3600.0;

/// Attribute and index names of the sessions table (key: `pruneShard`, `id`).
pub mod attr {
    /// The table: `SessionsTable` in `template.yaml`, named by `SESSIONS_TABLE`.
    pub const TABLE: shared::config::TableRef = shared::config::TableRef {
        resource: "SessionsTable",
        env: "SESSIONS_TABLE",
        default: "sessions",
    };
    /// Sort key: the session id.
    pub const ID: &str = "id";
    /// The opaque secret.
    pub const SECRET: &str = "secret";
    /// Expiry, ms; the expiry index's sort key.
    pub const EXPIRES_AT: &str = "expiresAt";
    /// Partition key: a shard number from a hash of the id ([`super::prune_shard`]).
    pub const PRUNE_SHARD: &str = "pruneShard";
    /// The table's TTL attribute: epoch seconds, a day past `expiresAt`.
    pub const TTL: &str = "ttlEpochSeconds";
    /// The local secondary index (`pruneShard`, `expiresAt`), keys only.
    pub const BY_EXPIRY: &str = "byExpiry";
    /// How many shards (partition key values) the table has.
    pub const PRUNE_SHARDS: u32 = 8;
}

/// The shard of a session id: FNV-1a of its bytes, modulo [`attr::PRUNE_SHARDS`].
pub fn prune_shard(id: &str) -> u32 {
    shared::dynamo::shard_of(id, attr::PRUNE_SHARDS)
}

/// The key of session `id`: its shard and its id.
fn key_of(id: &str) -> Item {
    Item::from([
        (attr::PRUNE_SHARD.to_owned(), n(f64::from(prune_shard(id)))),
        (attr::ID.to_owned(), s(id)),
    ])
}

/// The item of `session`: its fields, its shard (the partition key) and its TTL (a day past
/// expiry).
pub(crate) fn session_item(session: &Session) -> Result<shared::dynamo::Item, StoreError> {
    let ttl = (session.expires_at.get() / 1000.0 + TTL_GRACE_SECONDS)
        .floor()
        .max(0.0);
    let mut item = shared::dynamo::to_item(session)?;
    item.insert(
        attr::PRUNE_SHARD.into(),
        n(f64::from(prune_shard(session.id.as_str()))),
    );
    item.insert(attr::TTL.into(), n(ttl));
    Ok(item)
}

/// The DynamoDB store.
#[derive(Clone)]
pub struct DynamoSessionStore {
    client: shared::dynamo::Client,
    table: String,
}

impl DynamoSessionStore {
    /// A store on `table`.
    pub fn new(client: shared::dynamo::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The sessions of `shard` expired at `now`, oldest first, at most [`PRUNE_LIMIT`]: one
    /// strongly consistent `Query` of the local expiry index.
    async fn expired_in_shard(
        &self,
        shard: u32,
        now: Num,
    ) -> Result<Vec<(Num, String)>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(attr::BY_EXPIRY)
            .consistent_read(true)
            .key_condition_expression("#shard = :shard AND #exp < :now")
            .expression_attribute_names("#shard", attr::PRUNE_SHARD)
            .expression_attribute_names("#exp", attr::EXPIRES_AT)
            .expression_attribute_values(":shard", n(f64::from(shard)))
            .expression_attribute_values(":now", n(now))
            .limit(PRUNE_LIMIT as i32)
            .send()
            .await
            .map_err(|e| shared::dynamo::store_error("session.prune.query", e))?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let id = item.get(attr::ID).and_then(|v| v.as_s().ok()).cloned();
                let expires = item
                    .get(attr::EXPIRES_AT)
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok());
                match (id, expires) {
                    (Some(id), Some(expires)) => Ok((Num(expires), id)),
                    _ => Err(StoreError::Internal(
                        "expiry index item without id or expiresAt".into(),
                    )),
                }
            })
            .collect()
    }

    /// Deletes the sessions `ids` that are still expired at `now`, in one transaction per try
    /// (a `ClientRequestToken` each: a repeat after a lost answer is not applied twice, and the
    /// count stays exact). A session saved again with a later expiry fails its condition: it is
    /// left out and the others are tried again. The number deleted.
    async fn delete_expired(&self, mut ids: Vec<String>, now: Num) -> Result<usize, StoreError> {
        let op = "session.prune.delete";
        for _ in 0..PRUNE_ATTEMPTS {
            if ids.is_empty() {
                return Ok(0);
            }
            let items = ids
                .iter()
                .map(|id| {
                    let delete = Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_of(id)))
                        .condition_expression("#exp < :now")
                        .expression_attribute_names("#exp", attr::EXPIRES_AT)
                        .expression_attribute_values(":now", n(now))
                        .build()
                        .map_err(|e| StoreError::Internal(format!("{op}: {e}")))?;
                    Ok(TransactWriteItem::builder().delete(delete).build())
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            match transact(&self.client, op, items).await? {
                Transacted::Done => return Ok(ids.len()),
                Transacted::Cancelled(reasons) => {
                    let mut kept = reasons.iter().map(|r| !r.condition_failed());
                    ids.retain(|_| kept.next().unwrap_or(true));
                }
            }
        }
        Err(StoreError::Unavailable(format!(
            "{op}: the sessions kept changing during {PRUNE_ATTEMPTS} attempts"
        )))
    }
}

impl SessionStore for DynamoSessionStore {
    async fn save(&self, session: Session) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(session_item(&session)?))
            .send()
            .await
            .map_err(|e| shared::dynamo::store_error("session.save", e))?;
        Ok(())
    }

    async fn get(&self, id: &Key) -> Result<Option<Session>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_of(id.as_str())))
            .projection_expression("#id, #secret, #exp")
            .expression_attribute_names("#id", attr::ID)
            .expression_attribute_names("#secret", attr::SECRET)
            .expression_attribute_names("#exp", attr::EXPIRES_AT)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| shared::dynamo::store_error("session.get", e))?;
        output.item.map(shared::dynamo::from_item).transpose()
    }

    async fn delete(&self, id: &Key) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_of(id.as_str())))
            .send()
            .await
            .map_err(|e| shared::dynamo::store_error("session.delete", e))?;
        Ok(())
    }

    async fn prune(&self, now: Num, limit: usize) -> Result<usize, StoreError> {
        let shards = (0..attr::PRUNE_SHARDS).map(|shard| self.expired_in_shard(shard, now));
        let mut expired: Vec<(Num, String)> = futures::future::try_join_all(shards).await?.concat();
        expired.sort_by(|a, b| a.0.get().total_cmp(&b.0.get()).then_with(|| a.1.cmp(&b.1)));
        expired.truncate(limit);
        let ids: Vec<String> = expired.into_iter().map(|(_, id)| id).collect();
        let batches: Vec<Vec<String>> = ids
            .chunks(DELETES_PER_TRANSACTION)
            .map(<[String]>::to_vec)
            .collect();
        futures::stream::iter(batches)
            .map(|batch| self.delete_expired(batch, now))
            .buffer_unordered(DELETE_CONCURRENCY)
            .try_fold(0, |deleted, batch| async move { Ok(deleted + batch) })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_shards_spread_ids_over_every_shard() {
        let mut seen = [0u32; attr::PRUNE_SHARDS as usize];
        for i in 0..800 {
            seen[prune_shard(&format!("session-{i}")) as usize] += 1;
        }
        assert!(seen.iter().all(|&count| count > 50), "{seen:?}");
    }
}
