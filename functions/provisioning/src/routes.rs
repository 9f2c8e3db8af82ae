//! The provisioning routes: wire arguments and replies, the handlers and the route table.

use crate::model::{Credential, Limit, Provider, RecordId, Usage, UsageEntry};
use crate::store::ProvisioningStore;
use serde::{Deserialize, Serialize};
use shared::routes::Surface;
use shared::routes::WithResult;
use shared::{ApiError, Key, Num, Routes, SharedClock};
use std::sync::Arc;

/// Arguments of `/provisioning/save`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaveArgs {
    /// The credential to upsert.
    pub record: Credential,
}

/// Arguments of `/provisioning/findActive`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FindActiveArgs {
    /// The owner.
    pub user_id: Key,
    /// The provider.
    pub provider: Provider,
}

/// Arguments of `/provisioning/markRevoked`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MarkRevokedArgs {
    /// The credential to revoke.
    pub credential_id: RecordId,
}

/// Arguments of `/provisioning/list`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// How many credentials.
    #[serde(default)]
    pub limit: Limit,
}

/// Arguments of `/provisioning/recordUsage`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordUsageArgs {
    /// The usage to record.
    pub entry: UsageEntry,
}

/// Arguments of `/provisioning/listUsage`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListUsageArgs {
    /// The user.
    pub user_id: Key,
    /// How many records.
    #[serde(default)]
    pub limit: Limit,
}

/// Reply of `/provisioning/findActive`.
#[derive(Debug, Serialize)]
pub struct FindActiveReply {
    /// The credential, or `null`.
    pub credential: Option<Credential>,
}

/// Reply of `/provisioning/list`.
#[derive(Debug, Serialize)]
pub struct ListReply {
    /// Oldest created first.
    pub credentials: Vec<Credential>,
}

/// Reply of `/provisioning/recordUsage`.
#[derive(Debug, Serialize)]
pub struct RecordUsageReply {
    /// The record as stored.
    pub usage: Usage,
}

/// Reply of `/provisioning/listUsage`.
#[derive(Debug, Serialize)]
pub struct ListUsageReply {
    /// Newest created first.
    pub usage: Vec<Usage>,
}

/// The route table, over any store.
pub fn routes<S: ProvisioningStore, T: Surface>(store: S, clock: SharedClock) -> Routes<T> {
    let state = Arc::new(State { store, clock });
    Routes::new()
        .mutation("/provisioning/save", &state, save)
        .query("/provisioning/findActive", &state, find_active)
        .mutation("/provisioning/markRevoked", &state, mark_revoked)
        .query("/provisioning/list", &state, list)
        .mutation("/provisioning/recordUsage", &state, record_usage)
        .query("/provisioning/listUsage", &state, list_usage)
}

struct State<S> {
    store: S,
    clock: SharedClock,
}

async fn save<S: ProvisioningStore>(
    state: Arc<State<S>>,
    args: SaveArgs,
) -> Result<WithResult<bool>, ApiError> {
    let now = Num(state.clock.now_ms());
    state.store.save(args.record, now).await?;
    Ok(WithResult { result: true })
}

async fn find_active<S: ProvisioningStore>(
    state: Arc<State<S>>,
    args: FindActiveArgs,
) -> Result<FindActiveReply, ApiError> {
    Ok(FindActiveReply {
        credential: state
            .store
            .find_active(&args.user_id, &args.provider)
            .await?,
    })
}

async fn mark_revoked<S: ProvisioningStore>(
    state: Arc<State<S>>,
    args: MarkRevokedArgs,
) -> Result<WithResult<bool>, ApiError> {
    Ok(WithResult {
        result: state.store.mark_revoked(&args.credential_id).await?,
    })
}

async fn list<S: ProvisioningStore>(
    state: Arc<State<S>>,
    args: ListArgs,
) -> Result<ListReply, ApiError> {
    Ok(ListReply {
        credentials: state.store.list(args.limit).await?,
    })
}

async fn record_usage<S: ProvisioningStore>(
    state: Arc<State<S>>,
    args: RecordUsageArgs,
) -> Result<RecordUsageReply, ApiError> {
    let now = Num(state.clock.now_ms());
    Ok(RecordUsageReply {
        usage: state.store.record_usage(args.entry, now).await?,
    })
}

async fn list_usage<S: ProvisioningStore>(
    state: Arc<State<S>>,
    args: ListUsageArgs,
) -> Result<ListUsageReply, ApiError> {
    Ok(ListUsageReply {
        usage: state.store.list_usage(&args.user_id, args.limit).await?,
    })
}
