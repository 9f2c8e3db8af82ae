//! The session routes: wire arguments and replies, the handlers and the route table.

use crate::model::{Session, PRUNE_LIMIT};
use crate::store::SessionStore;
use serde::{Deserialize, Serialize};
use shared::routes::Surface;
use shared::routes::WithResult;
use shared::{ApiError, Key, Num, Routes};
use std::sync::Arc;

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

/// The route table, over any store.
pub fn routes<S: SessionStore, T: Surface>(store: S) -> Routes<T> {
    let store = Arc::new(store);
    Routes::new()
        .mutation("/session/save", &store, save)
        .query("/session/get", &store, get)
        .mutation("/session/delete", &store, delete)
        .mutation("/session/prune", &store, prune)
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
