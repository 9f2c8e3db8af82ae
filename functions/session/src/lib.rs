//! The session group: encrypted vault session secrets, stored opaque.
//!
//! | route | store call | DynamoDB calls |
//! |---|---|---|
//! | `/session/save` | [`SessionStore::save`] | 1 `PutItem` |
//! | `/session/get` | [`SessionStore::get`] | 1 `GetItem` (strongly consistent) |
//! | `/session/delete` | [`SessionStore::delete`] | 1 `DeleteItem` |
//! | `/session/prune` | [`SessionStore::prune`] | [`attr::PRUNE_SHARDS`] `Query` in parallel on the expiry index, then one conditional `DeleteItem` per expired session (≤ 500, [`DELETE_CONCURRENCY`] at a time) |
//!
//! The expiry index is split over [`attr::PRUNE_SHARDS`] partitions (by a hash of the id) so that
//! session writes never pile onto one index partition. Deletes are conditional on the session still
//! being expired, so a session saved again with a later expiry between the query and the delete
//! survives. Items also carry a TTL attribute, a day past expiry, as a safety net behind `prune`.

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use shared::embedded::{self, EmbeddedDb, Table};
use shared::import::Doc;
use shared::routes::Surface;
use shared::routes::WithResult;
use shared::{ApiError, Key, Num, Routes, SharedClock, StoreError};
use std::future::Future;
use std::sync::Arc;

/// At most this many sessions are deleted by one `/session/prune`.
pub const PRUNE_LIMIT: usize = 500;
/// Conditional deletes in flight at once during a prune.
pub const DELETE_CONCURRENCY: usize = 16;
/// The TTL attribute is set this long after `expiresAt`.
pub const TTL_GRACE_SECONDS: f64 = 24.0 * 3600.0;

/// A stored session (CONTRACT.md §5, `Session`): the secret is already encrypted by the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Session {
    /// Opaque id chosen by the caller.
    pub id: Key,
    /// Opaque (encrypted) secret.
    pub secret: String,
    /// Expiry, ms.
    pub expires_at: Num,
}

/// Arguments of `/session/save`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaveArgs {
    /// The session to store.
    pub record: Session,
}

/// Arguments of `/session/get` and `/session/delete`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IdArgs {
    /// The session id.
    pub session_id: Key,
}

/// Arguments of `/session/prune`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneArgs {
    /// Sessions with `expiresAt` before this are deleted.
    pub now: Num,
}

/// Reply of `/session/get`.
#[derive(Debug, Serialize)]
pub struct GetReply {
    /// The session, or `null`.
    pub session: Option<Session>,
}

/// What the session group needs from storage.
pub trait SessionStore: Send + Sync + 'static {
    /// Upserts by id.
    fn save(&self, session: Session) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The session, expired or not.
    fn get(&self, id: &Key) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send;
    /// Deletes the session if it exists.
    fn delete(&self, id: &Key) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Deletes up to `limit` sessions with `expiresAt < now`, oldest expiry first; returns how many.
    fn prune(
        &self,
        now: Num,
        limit: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;
}

/// The group, for its Lambda bootstrap and the dev server.
pub const GROUP: shared::Group = shared::Group {
    name: "session",
    tables: &[attr::TABLE],
    embedded: |db, _clock| Ok(routes(EmbeddedSessionStore::new(db.clone())?)),
    dynamo: dynamo_routes,
};

/// The group's routes on DynamoDB, with table names prefixed by `prefix` (empty in production), for
/// the surfaces `T` (its Lambda function: the HTTP routes only).
pub fn dynamo_routes<T: Surface>(
    client: &shared::dynamo::Client,
    prefix: &str,
    _clock: SharedClock,
) -> Routes<T> {
    routes(DynamoSessionStore::new(
        client.clone(),
        attr::TABLE.name(prefix),
    ))
}

/// The route table, over any store.
pub fn routes<S: SessionStore, T: Surface>(store: S) -> Routes<T> {
    let store = Arc::new(store);
    Routes::new()
        .post("/session/save", &store, save)
        .post("/session/get", &store, get)
        .post("/session/delete", &store, delete)
        .post("/session/prune", &store, prune)
}

async fn save<S: SessionStore>(
    store: Arc<S>,
    args: SaveArgs,
) -> Result<WithResult<bool>, ApiError> {
    store.save(args.record).await?;
    Ok(WithResult { result: true })
}

async fn get<S: SessionStore>(store: Arc<S>, args: IdArgs) -> Result<GetReply, ApiError> {
    Ok(GetReply {
        session: store.get(&args.session_id).await?,
    })
}

async fn delete<S: SessionStore>(
    store: Arc<S>,
    args: IdArgs,
) -> Result<WithResult<bool>, ApiError> {
    store.delete(&args.session_id).await?;
    Ok(WithResult { result: true })
}

async fn prune<S: SessionStore>(
    store: Arc<S>,
    args: PruneArgs,
) -> Result<WithResult<usize>, ApiError> {
    Ok(WithResult {
        result: store.prune(args.now, PRUNE_LIMIT).await?,
    })
}

/// Attribute and index names of the sessions table (key: `id`).
pub mod attr {
    /// The table: `SessionsTable` in `template.yaml`, named by `SESSIONS_TABLE`.
    pub const TABLE: shared::config::TableRef = shared::config::TableRef {
        resource: "SessionsTable",
        env: "SESSIONS_TABLE",
        default: "sessions",
    };
    /// Partition key.
    pub const ID: &str = "id";
    /// The opaque secret.
    pub const SECRET: &str = "secret";
    /// Expiry, ms; the expiry index's sort key.
    pub const EXPIRES_AT: &str = "expiresAt";
    /// The expiry index's partition key: a shard number from a hash of the id.
    pub const PRUNE_SHARD: &str = "pruneShard";
    /// The table's TTL attribute: epoch seconds, a day past `expiresAt`.
    pub const TTL: &str = "ttlEpochSeconds";
    /// The expiry index (`pruneShard`, `expiresAt`), keys only.
    pub const BY_EXPIRY: &str = "byExpiry";
    /// How many shards the expiry index has.
    pub const PRUNE_SHARDS: u32 = 8;
}

/// The expiry-index shard of a session id: FNV-1a of its bytes, modulo [`attr::PRUNE_SHARDS`].
pub fn prune_shard(id: &str) -> u32 {
    shared::dynamo::shard_of(id, attr::PRUNE_SHARDS)
}

/// The item of `session`: its fields, its expiry index shard and its TTL (a day past expiry).
fn session_item(session: &Session) -> Result<shared::dynamo::Item, StoreError> {
    use shared::dynamo::n;
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

/// The Convex `sessions` table, for the `convex-import` command: the expiry index shard and the
/// TTL attribute are rebuilt from `expiresAt`, as `save` writes them.
pub struct Import;

impl shared::import::ImportTable for Import {
    const CONVEX_TABLE: &'static str = "sessions";
    const TABLES: &'static [shared::config::TableRef] = &[attr::TABLE];
    type Record = Session;

    fn key(session: &Session) -> String {
        format!("{} {}", attr::ID, session.id.as_str())
    }

    fn items(doc: &Doc<Session>) -> Result<Vec<(usize, shared::dynamo::Item)>, StoreError> {
        Ok(vec![(0, session_item(&doc.record)?)])
    }

    fn put_embedded(
        txn: &embedded::WriteTransaction,
        doc: &Doc<Session>,
    ) -> Result<(), StoreError> {
        embedded::put(txn, SESSIONS, doc.record.id.as_str(), &doc.record)
    }
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

    async fn expired_in_shard(
        &self,
        shard: u32,
        now: Num,
    ) -> Result<Vec<(Num, String)>, StoreError> {
        use shared::dynamo::n;
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(attr::BY_EXPIRY)
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

    /// Deletes `id` if it is still expired at `now`; true when deleted.
    async fn delete_if_expired(&self, id: String, now: Num) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(attr::ID, shared::dynamo::s(id))
            .condition_expression("#exp < :now")
            .expression_attribute_names("#exp", attr::EXPIRES_AT)
            .expression_attribute_values(":now", shared::dynamo::n(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(err) => Err(shared::dynamo::store_error("session.prune.delete", err)),
        }
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
            .key(attr::ID, shared::dynamo::s(id.as_str()))
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
            .key(attr::ID, shared::dynamo::s(id.as_str()))
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
        futures::stream::iter(expired)
            .map(|(_, id)| self.delete_if_expired(id, now))
            .buffer_unordered(DELETE_CONCURRENCY)
            .try_fold(0, |deleted, was_deleted| async move {
                Ok(deleted + usize::from(was_deleted))
            })
            .await
    }
}

/// The embedded store's table: id → session.
const SESSIONS: Table = Table::new("sessions");

/// The embedded store.
#[derive(Clone)]
pub struct EmbeddedSessionStore {
    db: EmbeddedDb,
}

impl EmbeddedSessionStore {
    /// A store in `db`.
    pub fn new(db: EmbeddedDb) -> Result<Self, StoreError> {
        db.ensure_tables(&[SESSIONS])?;
        Ok(Self { db })
    }
}

impl SessionStore for EmbeddedSessionStore {
    async fn save(&self, session: Session) -> Result<(), StoreError> {
        self.db
            .write(move |txn| embedded::put(txn, SESSIONS, session.id.as_str(), &session))
            .await
    }

    async fn get(&self, id: &Key) -> Result<Option<Session>, StoreError> {
        let id = id.clone();
        self.db
            .read(move |txn| embedded::get(txn, SESSIONS, id.as_str()))
            .await
    }

    async fn delete(&self, id: &Key) -> Result<(), StoreError> {
        let id = id.clone();
        self.db
            .write(move |txn| embedded::delete(txn, SESSIONS, id.as_str()).map(drop))
            .await
    }

    /// Scans every session: the embedded store serves one developer's data, not production's.
    async fn prune(&self, now: Num, limit: usize) -> Result<usize, StoreError> {
        self.db
            .write(move |txn| {
                let mut expired: Vec<Session> =
                    embedded::scan_prefix::<Session>(txn, SESSIONS, "")?
                        .into_iter()
                        .map(|(_, session)| session)
                        .filter(|s| s.expires_at.get() < now.get())
                        .collect();
                expired.sort_by(|a, b| {
                    a.expires_at
                        .get()
                        .total_cmp(&b.expires_at.get())
                        .then_with(|| a.id.cmp(&b.id))
                });
                expired.truncate(limit);
                for session in &expired {
                    embedded::delete(txn, SESSIONS, session.id.as_str())?;
                }
                Ok(expired.len())
            })
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
