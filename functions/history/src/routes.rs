//! The history routes: wire arguments and replies, the handlers and the route table.

use crate::model::{list_limit, HistoryEntry};
use crate::store::HistoryStore;
use serde::{Deserialize, Serialize};
use shared::parse::not_null;
use shared::routes::Surface;
use shared::{ApiError, Key, Num, Routes};
use std::sync::Arc;

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

/// The route table, over any store.
pub fn routes<S: HistoryStore, T: Surface>(store: S) -> Routes<T> {
    let store = Arc::new(store);
    Routes::new()
        .query("/history/list", &store, list)
        .mutation("/history/record", &store, record)
        .mutation("/history/remove", &store, remove)
        .mutation("/history/clear", &store, clear)
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
