//! The account routes: wire arguments and replies, the handlers and the route table.

use crate::model::{Account, AccountUpdate, Tokens};
use crate::store::AccountStore;
use serde::{Deserialize, Serialize};
use shared::routes::Surface;
use shared::{ApiError, Key, Num, Routes, SharedClock};
use std::sync::Arc;

/// Arguments of `/account/getOrCreate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserArgs {
    /// The user.
    pub user_id: Key,
}

/// Arguments of `/account/update` and `/account/updateAccount`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateArgs {
    /// The update.
    pub payload: AccountUpdate,
}

/// Arguments of `/account/recordUsage`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RecordUsageArgs {
    /// The user.
    pub user_id: Key,
    /// The provider the tokens were used at (validated, not stored).
    pub provider: String,
    /// Tokens to add.
    pub tokens_used: Num,
}

/// Arguments of `/account/reserveUsage`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReserveUsageArgs {
    /// The user.
    pub user_id: Key,
    /// The provider the tokens are for (validated, not stored).
    pub provider: String,
    /// Tokens to reserve; anything but a non-negative safe integer is refused (`{ account: null }`),
    /// so this is a plain `f64`: a number beyond the stored range is a refusal, not a `400`.
    pub tokens_requested: f64,
}

/// Arguments of `/account/releaseUsage`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReleaseUsageArgs {
    /// The user.
    pub user_id: Key,
    /// Tokens to give back; negative counts as 0.
    pub tokens_reserved: Num,
}

/// Reply of `getOrCreate`, `update` and `recordUsage`.
#[derive(Debug, Serialize)]
pub struct AccountReply {
    /// The account as stored.
    pub account: Account,
}

/// Reply of `reserveUsage`.
#[derive(Debug, Serialize)]
pub struct ReserveReply {
    /// The account after the reservation, or `null` when refused.
    pub account: Option<Account>,
}

/// The route table, over any store.
pub fn routes<S: AccountStore, T: Surface>(store: S, clock: SharedClock) -> Routes<T> {
    let state = Arc::new(State { store, clock });
    Routes::new()
        .mutation("/account/getOrCreate", &state, get_or_create)
        .http("/account/update", &state, update)
        .mutation("/account/updateAccount", &state, update)
        .mutation("/account/recordUsage", &state, record_usage)
        .mutation("/account/reserveUsage", &state, reserve_usage)
        .mutation("/account/releaseUsage", &state, release_usage)
}

struct State<S> {
    store: S,
    clock: SharedClock,
}

impl<S> State<S> {
    fn now(&self) -> Num {
        Num(self.clock.now_ms())
    }
}

async fn get_or_create<S: AccountStore>(
    state: Arc<State<S>>,
    args: UserArgs,
) -> Result<AccountReply, ApiError> {
    let now = state.now();
    Ok(AccountReply {
        account: state.store.get_or_create(&args.user_id, now).await?,
    })
}

async fn update<S: AccountStore>(
    state: Arc<State<S>>,
    args: UpdateArgs,
) -> Result<AccountReply, ApiError> {
    let now = state.now();
    Ok(AccountReply {
        account: state.store.update(args.payload, now).await?,
    })
}

async fn record_usage<S: AccountStore>(
    state: Arc<State<S>>,
    args: RecordUsageArgs,
) -> Result<AccountReply, ApiError> {
    let now = state.now();
    Ok(AccountReply {
        account: state
            .store
            .record_usage(&args.user_id, args.tokens_used, now)
            .await?,
    })
}

async fn reserve_usage<S: AccountStore>(
    state: Arc<State<S>>,
    args: ReserveUsageArgs,
) -> Result<ReserveReply, ApiError> {
    let Some(tokens) = Tokens::parse(args.tokens_requested) else {
        return Ok(ReserveReply { account: None });
    };
    let now = state.now();
    Ok(ReserveReply {
        account: state
            .store
            .reserve_usage(&args.user_id, tokens, now)
            .await?,
    })
}

async fn release_usage<S: AccountStore>(
    state: Arc<State<S>>,
    args: ReleaseUsageArgs,
) -> Result<(), ApiError> {
    let now = state.now();
    Ok(state
        .store
        .release_usage(&args.user_id, args.tokens_reserved, now)
        .await?)
}
