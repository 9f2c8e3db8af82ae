//! The history route group: a user's text-to-speech history, at most [`MAX_ENTRIES`] entries per
//! user, newest first.
//!
//! | route | store call | DynamoDB calls |
//! |---|---|---|
//! | `/history/list` | [`HistoryStore::list`] | 1 `Query` on [`attr::BY_CREATED_AT`] (strongly consistent, newest first, `Limit` = the requested limit, at most 200); none when the limit is 0; one more page only if the entries read pass 1 MB |
//! | `/history/record` | [`HistoryStore::record`] | existing entry: 1 `PutItem` (`ReturnValues=ALL_OLD`). New entry: 1 `PutItem` + 1 keys-only `Query` on [`attr::BY_CREATED_AT`], + 1 conditional `DeleteItem` per entry past the 200th (so 2 calls under the cap, 3 at the cap) |
//! | `/history/remove` | [`HistoryStore::remove`] | 1 conditional `DeleteItem` |
//! | `/history/clear` | [`HistoryStore::clear`] | 1 keys-only `Query` on [`attr::BY_CREATED_AT`] + ⌈n / 25⌉ `BatchWriteItem` (in parallel; unprocessed items retried, at most [`BATCH_ATTEMPTS`] times) |
//!
//! # Table design
//!
//! `HistoryTable` (env `HISTORY_TABLE`) has the key (`userId`, `id`): the upsert of `record` and
//! the delete of `remove` address one item, and a user's entries are one item collection. Items
//! carry exactly the wire's attributes, under the wire's names, and nothing else.
//!
//! The local secondary index [`attr::BY_CREATED_AT`] (`userId`, `createdAt`) keeps each user's
//! entries in `createdAt` order, so `list` is one `Query` read newest first
//! (`ScanIndexForward=false`) that stops after `Limit` items instead of fetching all 200. A local
//! index (not a global one) because it allows strongly consistent reads: an entry just recorded or
//! removed is seen at once. Its price, an item collection limit of 10 GB per user, is far above
//! 200 entries of at most 400 KB.
//!
//! The index projects keys only. The trim after every new entry reads the user's whole index
//! (≤ 200 keys of ~100 bytes: a few read units, always one page), and it is the most frequent read;
//! with an `ALL` projection the same query would read every full entry (texts and transcripts),
//! could pass the 1 MB page limit, and every write would store each entry twice. `list` asks for
//! all attributes, which DynamoDB fetches from the table within the same `Query` call; that costs a
//! read unit per returned entry, paid only for the entries the caller asked for.
//!
//! `createdAt` is an index key, so it must be a non-empty string of at most 1024 bytes (checked at
//! the edge, a `400` otherwise). Any such string is accepted, as the Convex validator accepted any
//! string; order is plain string (UTF-8 byte) order, which for ISO-8601 UTC timestamps is time
//! order.
//!
//! The embedded store keeps entries under `len(userId):userId` + `id` (so a user's keys are a
//! prefix no other user's share) and runs each call in one transaction: there, insert and trim are
//! one atomic step.
//!
//! # The cap of 200 under concurrency
//!
//! `record` writes the entry with one `PutItem` and `ReturnValues=ALL_OLD`: no old item means the
//! entry is new. Only then does it trim: one strongly consistent keys-only `Query` of the user's
//! index, a total order of the keys by (`createdAt`, `id`) descending computed from that read,
//! and a `DeleteItem` of every entry past the 200th, each conditional on `createdAt` still being
//! the value read (so an entry re-recorded with a newer `createdAt` meanwhile is not lost, and a
//! second trimmer deleting the same entry is a no-op).
//!
//! Concurrent recorders may both trim; the result is still exactly the 200 newest. An entry is
//! deleted only when a consistent read showed at least 200 newer entries, which an entry among the
//! 200 newest of all never has, so none of them is deleted; and the trim of the last recorder to
//! query runs after every insert, sees every entry, and deletes everything past the 200th. (With
//! concurrent `remove` calls the user may end up with fewer than 200, never more.)
//!
//! Knowing whether a trim is needed without the `Query` would take a per-user counter. It cannot
//! share the table safely (ids are opaque caller strings, so no reserved id is free), and keeping
//! it exact would put every insert in a `TransactWriteItems` (twice the write units on the most
//! frequent write, and no `ReturnValues` to read the count back) and make `clear`, which spans up
//! to 200 items, transactional as well. One keys-only `Query` of a few read units is cheaper and
//! cannot drift, so every new entry pays exactly one.
//!
//! If the trim fails after the insert succeeded, the entry stays recorded and `record` still
//! answers it (the write is acknowledged, not half done): the user holds more than 200 entries
//! until the next new entry trims them all, and `list` never shows more than 200 meanwhile.
//!
//! # Limits
//!
//! Entries with equal `createdAt` are listed by `id`, descending. DynamoDB does not order equal
//! index sort keys, so where a `limit` cuts through such a tie, which of the tied entries are
//! returned is the index's choice (the embedded store takes the greatest ids); the trim never
//! depends on it, as it orders the complete set of keys it reads.
//!
//! `list`'s `limit` is floored (`2.9` → 2), a negative one counts as 0, and it is capped at 200;
//! no limit means 200. Items over DynamoDB's 400 KB limit are refused with a `413` by both stores,
//! and nothing is written. `clear` is not atomic across its batches: if it fails midway, calling
//! it again deletes the rest. Its count is the number of entries its query found.

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use shared::dynamo::{from_item, s, store_error, Item};
use shared::embedded::{self, EmbeddedDb, Table};
use shared::import::{Doc, Skipped};
use shared::parse::not_null;
use shared::routes::Surface;
use shared::{ApiError, Key, Num, Routes, SharedClock, StoreError};
use std::cmp::Ordering;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// At most this many entries are kept per user; `list` returns at most this many.
pub const MAX_ENTRIES: usize = 200;
/// Conditional deletes in flight at once during a trim.
pub const DELETE_CONCURRENCY: usize = 8;
/// Deletes per `BatchWriteItem` (DynamoDB's maximum).
pub const BATCH_SIZE: usize = 25;
/// `BatchWriteItem` calls per batch at most, the first included, while items come back unprocessed.
pub const BATCH_ATTEMPTS: u32 = 5;
/// `BatchWriteItem` calls of one `clear` in flight at once.
pub const BATCH_CONCURRENCY: usize = 4;

/// One history entry (CONTRACT.md §5, `HistoryEntry`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HistoryEntry {
    /// Opaque id chosen by the caller, unique per user.
    pub id: Key,
    /// The owner.
    pub user_id: Key,
    /// The speech provider.
    pub provider: String,
    /// The provider's voice.
    pub voice_id: String,
    /// The spoken text.
    pub text: String,
    /// ISO-8601 time set by the caller; entries are ordered by it as a string. An index key, hence
    /// a [`Key`]: non-empty, at most 1024 bytes.
    pub created_at: Key,
    /// Length of the audio, ms.
    pub duration_ms: Num,
    /// Subtitles of the audio.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub transcript: Option<Transcript>,
}

/// Subtitles of an entry: both optional, neither nullable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transcript {
    /// SubRip text.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub srt: Option<String>,
    /// WebVTT text.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub vtt: Option<String>,
}

/// The newest-first order of entries: `createdAt` descending, then `id` descending (a total order,
/// so that every reader, and every concurrent trim, agrees on which entries are the newest 200).
pub fn newest_first(a: &HistoryEntry, b: &HistoryEntry) -> Ordering {
    by_recency(
        (a.created_at.as_str(), a.id.as_str()),
        (b.created_at.as_str(), b.id.as_str()),
    )
}

/// [`newest_first`] on (`createdAt`, `id`) pairs.
fn by_recency(a: (&str, &str), b: (&str, &str)) -> Ordering {
    b.cmp(&a)
}

/// How many entries `/history/list` returns for its `limit` argument: floored, negative counts as
/// 0, at most [`MAX_ENTRIES`]; none given means [`MAX_ENTRIES`].
pub fn list_limit(limit: Option<Num>) -> usize {
    match limit {
        None => MAX_ENTRIES,
        Some(Num(value)) if value.is_nan() || value < 1.0 => 0,
        Some(Num(value)) => value.floor().min(MAX_ENTRIES as f64) as usize,
    }
}

/// Arguments of `/history/list`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListArgs {
    /// The owner.
    pub user_id: Key,
    /// How many entries at most (see [`list_limit`]).
    #[serde(default, deserialize_with = "not_null")]
    pub limit: Option<Num>,
}

/// Arguments of `/history/record`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordArgs {
    /// The entry to upsert.
    pub entry: HistoryEntry,
}

/// Arguments of `/history/remove`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RemoveArgs {
    /// The owner.
    pub user_id: Key,
    /// The entry id.
    pub id: Key,
}

/// Arguments of `/history/clear`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClearArgs {
    /// The owner.
    pub user_id: Key,
}

/// Reply of `/history/record`.
#[derive(Debug, Serialize)]
pub struct RecordReply {
    /// The entry as given (and stored).
    pub entry: HistoryEntry,
}

/// Reply of `/history/remove`.
#[derive(Debug, Serialize)]
pub struct RemoveReply {
    /// False when there was no such entry.
    pub removed: bool,
}

/// Reply of `/history/clear`.
#[derive(Debug, Serialize)]
pub struct ClearReply {
    /// How many entries were deleted.
    pub cleared: usize,
}

/// What [`HistoryStore::record`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The entry was new: inserted, then the user was trimmed to [`MAX_ENTRIES`].
    Inserted,
    /// An entry with this (userId, id) existed: its fields were replaced.
    Replaced,
}

/// What the history group needs from storage.
pub trait HistoryStore: Send + Sync + 'static {
    /// The user's newest `limit` entries (at most [`MAX_ENTRIES`]), in [`newest_first`] order.
    fn list(
        &self,
        user_id: &Key,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<HistoryEntry>, StoreError>> + Send;

    /// Upserts by (userId, id): an existing entry gets every field of `entry` (an omitted
    /// transcript removes the stored one); a new one is inserted, then the user's entries past the
    /// [`MAX_ENTRIES`] newest are deleted.
    fn record(
        &self,
        entry: &HistoryEntry,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;

    /// Deletes the entry; false when it did not exist.
    fn remove(
        &self,
        user_id: &Key,
        id: &Key,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Deletes every entry of the user; returns how many.
    fn clear(&self, user_id: &Key) -> impl Future<Output = Result<usize, StoreError>> + Send;
}

/// The group, for its Lambda bootstrap and the dev server.
pub const GROUP: shared::Group = shared::Group {
    name: "history",
    tables: &[attr::TABLE],
    embedded: |db, _clock| Ok(routes(EmbeddedHistoryStore::new(db.clone())?)),
    dynamo: dynamo_routes,
};

/// The group's routes on DynamoDB, with table names prefixed by `prefix` (empty in production), for
/// the surfaces `T` (its Lambda function: the HTTP routes only).
pub fn dynamo_routes<T: Surface>(
    client: &shared::dynamo::Client,
    prefix: &str,
    _clock: SharedClock,
) -> Routes<T> {
    routes(DynamoHistoryStore::new(
        client.clone(),
        attr::TABLE.name(prefix),
    ))
}

/// The route table, over any store.
pub fn routes<S: HistoryStore, T: Surface>(store: S) -> Routes<T> {
    let store = Arc::new(store);
    Routes::new()
        .post("/history/list", &store, list)
        .post("/history/record", &store, record)
        .post("/history/remove", &store, remove)
        .post("/history/clear", &store, clear)
}

async fn list<S: HistoryStore>(
    store: Arc<S>,
    args: ListArgs,
) -> Result<Vec<HistoryEntry>, ApiError> {
    Ok(store.list(&args.user_id, list_limit(args.limit)).await?)
}

async fn record<S: HistoryStore>(store: Arc<S>, args: RecordArgs) -> Result<RecordReply, ApiError> {
    store.record(&args.entry).await?;
    Ok(RecordReply { entry: args.entry })
}

async fn remove<S: HistoryStore>(store: Arc<S>, args: RemoveArgs) -> Result<RemoveReply, ApiError> {
    Ok(RemoveReply {
        removed: store.remove(&args.user_id, &args.id).await?,
    })
}

async fn clear<S: HistoryStore>(store: Arc<S>, args: ClearArgs) -> Result<ClearReply, ApiError> {
    Ok(ClearReply {
        cleared: store.clear(&args.user_id).await?,
    })
}

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
        let output = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(shared::dynamo::to_item(entry)?))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| store_error("history.record", e))?;
        if output.attributes.is_some_and(|old| !old.is_empty()) {
            return Ok(Recorded::Replaced);
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
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(attr::USER_ID, s(user_id.as_str()))
            .key(attr::ID, s(id.as_str()))
            .condition_expression("attribute_exists(#id)")
            .expression_attribute_names("#id", attr::ID)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_conditional_check_failure(&err) => Ok(false),
            Err(err) => Err(store_error("history.remove", err)),
        }
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

/// The embedded store's table: `len(userId):userId` + `id` → entry. The length prefix makes a
/// user's keys a prefix no other user's keys share, whatever characters the ids hold.
const HISTORY: Table = Table::new("history");

/// The Convex `history_entries` table, for the `convex-import` command. At most [`MAX_ENTRIES`]
/// entries per user are kept, the newest (the order of `/history/list`); older ones are skipped
/// and reported.
pub struct Import;

impl shared::import::ImportTable for Import {
    const CONVEX_TABLE: &'static str = "history_entries";
    const TABLES: &'static [shared::config::TableRef] = &[attr::TABLE];
    type Record = HistoryEntry;

    fn key(entry: &HistoryEntry) -> String {
        format!(
            "{} {}, {} {}",
            attr::USER_ID,
            entry.user_id.as_str(),
            attr::ID,
            entry.id.as_str()
        )
    }

    fn select(mut docs: Vec<Doc<HistoryEntry>>) -> (Vec<Doc<HistoryEntry>>, Vec<Skipped>) {
        docs.sort_by(|a, b| {
            a.record
                .user_id
                .cmp(&b.record.user_id)
                .then_with(|| newest_first(&a.record, &b.record))
        });
        let mut kept = Vec::with_capacity(docs.len());
        let mut skipped = Vec::new();
        let mut run: Option<(Key, usize)> = None;
        for doc in docs {
            let n = match &mut run {
                Some((user, n)) if *user == doc.record.user_id => {
                    *n += 1;
                    *n
                }
                _ => {
                    run = Some((doc.record.user_id.clone(), 1));
                    1
                }
            };
            if n > MAX_ENTRIES {
                skipped.push(Skipped {
                    line: doc.line,
                    reason: format!(
                        "over the {MAX_ENTRIES}-entry cap of {} {}: older than its {MAX_ENTRIES} newest entries",
                        attr::USER_ID,
                        doc.record.user_id.as_str()
                    ),
                });
            } else {
                kept.push(doc);
            }
        }
        (kept, skipped)
    }

    fn items(doc: &Doc<HistoryEntry>) -> Result<Vec<(usize, Item)>, StoreError> {
        Ok(vec![(0, shared::dynamo::to_item(&doc.record)?)])
    }

    fn put_embedded(
        txn: &embedded::WriteTransaction,
        doc: &Doc<HistoryEntry>,
    ) -> Result<(), StoreError> {
        let entry = &doc.record;
        embedded::put(txn, HISTORY, &entry_key(&entry.user_id, &entry.id), entry)
    }
}

/// The embedded key prefix of a user's entries.
fn user_prefix(user_id: &Key) -> String {
    format!("{}:{}", user_id.as_str().len(), user_id.as_str())
}

/// The embedded key of an entry.
fn entry_key(user_id: &Key, id: &Key) -> String {
    format!("{}{}", user_prefix(user_id), id.as_str())
}

/// The user's entries in a read transaction, in key order.
fn read_user_entries(
    txn: &embedded::ReadTransaction,
    prefix: &str,
) -> Result<Vec<HistoryEntry>, StoreError> {
    let internal = |e: &dyn std::fmt::Display| StoreError::Internal(format!("embedded store: {e}"));
    let table = txn.open_table(HISTORY).map_err(|e| internal(&e))?;
    let mut out = Vec::new();
    for row in table.range(prefix..).map_err(|e| internal(&e))? {
        let (key, value) = row.map_err(|e| internal(&e))?;
        if !key.value().starts_with(prefix) {
            break;
        }
        out.push(serde_json::from_slice(value.value()).map_err(|e| internal(&e))?);
    }
    Ok(out)
}

/// The embedded store: each call is one redb transaction, so `record`'s insert and trim are atomic.
#[derive(Clone)]
pub struct EmbeddedHistoryStore {
    db: EmbeddedDb,
}

impl EmbeddedHistoryStore {
    /// A store in `db`.
    pub fn new(db: EmbeddedDb) -> Result<Self, StoreError> {
        db.ensure_tables(&[HISTORY])?;
        Ok(Self { db })
    }
}

impl HistoryStore for EmbeddedHistoryStore {
    async fn list(&self, user_id: &Key, limit: usize) -> Result<Vec<HistoryEntry>, StoreError> {
        let prefix = user_prefix(user_id);
        self.db
            .read(move |txn| {
                let mut entries = read_user_entries(txn, &prefix)?;
                entries.sort_by(newest_first);
                entries.truncate(limit.min(MAX_ENTRIES));
                Ok(entries)
            })
            .await
    }

    async fn record(&self, entry: &HistoryEntry) -> Result<Recorded, StoreError> {
        let entry = entry.clone();
        self.db
            .write(move |txn| {
                let key = entry_key(&entry.user_id, &entry.id);
                let existed =
                    embedded::get_for_update::<HistoryEntry>(txn, HISTORY, &key)?.is_some();
                embedded::put(txn, HISTORY, &key, &entry)?;
                if existed {
                    return Ok(Recorded::Replaced);
                }
                let mut entries: Vec<HistoryEntry> =
                    embedded::scan_prefix(txn, HISTORY, &user_prefix(&entry.user_id))?
                        .into_iter()
                        .map(|(_, e)| e)
                        .collect();
                entries.sort_by(newest_first);
                for old in entries.iter().skip(MAX_ENTRIES) {
                    embedded::delete(txn, HISTORY, &entry_key(&old.user_id, &old.id))?;
                }
                Ok(Recorded::Inserted)
            })
            .await
    }

    async fn remove(&self, user_id: &Key, id: &Key) -> Result<bool, StoreError> {
        let key = entry_key(user_id, id);
        self.db
            .write(move |txn| embedded::delete(txn, HISTORY, &key))
            .await
    }

    async fn clear(&self, user_id: &Key) -> Result<usize, StoreError> {
        let prefix = user_prefix(user_id);
        self.db
            .write(move |txn| {
                let keys: Vec<String> =
                    embedded::scan_prefix::<HistoryEntry>(txn, HISTORY, &prefix)?
                        .into_iter()
                        .map(|(key, _)| key)
                        .collect();
                for key in &keys {
                    embedded::delete(txn, HISTORY, key)?;
                }
                Ok(keys.len())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_limit_is_floored_negative_is_zero_and_at_most_200() {
        assert_eq!(list_limit(None), 200);
        assert_eq!(list_limit(Some(Num(0.0))), 0);
        assert_eq!(list_limit(Some(Num(-3.0))), 0);
        assert_eq!(list_limit(Some(Num(0.9))), 0);
        assert_eq!(list_limit(Some(Num(2.9))), 2);
        assert_eq!(list_limit(Some(Num(7.0))), 7);
        assert_eq!(list_limit(Some(Num(1e9))), 200);
        assert_eq!(list_limit(Some(Num(f64::INFINITY))), 200);
    }

    #[test]
    fn user_prefixes_never_match_another_users_keys() {
        let key = |s: &str| Key::parse(s).unwrap();
        let (a, ab) = (key("a"), key("ab"));
        assert!(!entry_key(&ab, &key("x")).starts_with(&user_prefix(&a)));
        assert!(entry_key(&a, &key("bx")).starts_with(&user_prefix(&a)));
        assert!(!entry_key(&a, &key("bx")).starts_with(&user_prefix(&ab)));
    }
}
