//! The wire: arguments and replies of the three routes (CONTRACT.md §7.4), their handlers, and the
//! route table serving both surfaces (`/workspaceLayouts/<route>` and the functions
//! `workspaceLayouts:getWorkspaceLayout`, `saveWorkspaceLayout`, `clearWorkspaceLayout` of
//! `shared::convex::FUNCTIONS`).

use crate::model::{Layout, LayoutRecord};
use crate::store::WorkspaceLayoutsStore;
use serde::{Deserialize, Serialize};
use shared::routes::Surface;
use shared::{ApiError, Key, Num, Routes, SharedClock};
use std::sync::Arc;

/// Arguments of `/workspaceLayouts/get` and `/workspaceLayouts/clear`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserArgs {
    /// The owner.
    pub user_id: Key,
}

/// Arguments of `/workspaceLayouts/save`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaveArgs {
    /// What to save.
    pub payload: SavePayload,
}

/// `payload` of `/workspaceLayouts/save`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SavePayload {
    /// The owner.
    pub user_id: Key,
    /// The layout, replacing the stored one as a whole.
    pub layout: Layout,
}

/// Reply of `/workspaceLayouts/save`: the stored record, never `null` (the snapshot is at
/// `layout.layout`).
#[derive(Debug, Serialize)]
pub struct SaveReply {
    /// The record as stored.
    pub layout: LayoutRecord,
}

/// Reply of `/workspaceLayouts/clear`.
#[derive(Debug, Serialize)]
pub struct ClearReply {
    /// Whether a layout existed (and was deleted).
    pub cleared: bool,
}

/// The route table, over any store, for the surfaces `T`.
pub fn routes<S: WorkspaceLayoutsStore, T: Surface>(store: S, clock: SharedClock) -> Routes<T> {
    let state = Arc::new(State { store, clock });
    Routes::new()
        .query("/workspaceLayouts/get", &state, get)
        .mutation("/workspaceLayouts/save", &state, save)
        .mutation("/workspaceLayouts/clear", &state, clear)
}

struct State<S> {
    store: S,
    clock: SharedClock,
}

async fn get<S: WorkspaceLayoutsStore>(
    state: Arc<State<S>>,
    args: UserArgs,
) -> Result<Option<LayoutRecord>, ApiError> {
    Ok(state.store.get(&args.user_id).await?)
}

async fn save<S: WorkspaceLayoutsStore>(
    state: Arc<State<S>>,
    args: SaveArgs,
) -> Result<SaveReply, ApiError> {
    let now = Num(state.clock.now_ms());
    let record = LayoutRecord::saved(args.payload.user_id, args.payload.layout, now);
    state.store.save(&record).await?;
    Ok(SaveReply { layout: record })
}

async fn clear<S: WorkspaceLayoutsStore>(
    state: Arc<State<S>>,
    args: UserArgs,
) -> Result<ClearReply, ApiError> {
    Ok(ClearReply {
        cleared: state.store.clear(&args.user_id).await?,
    })
}
