//! The users routes: wire arguments and replies, the handlers and the route table.

use crate::model::Profile;
use crate::model::User;
use crate::store::UsersStore;
use serde::{Deserialize, Serialize};
use shared::routes::Surface;
use shared::{ApiError, Key, Num, Routes, SharedClock};
use std::sync::Arc;

/// Arguments of `/users/get`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GetArgs {
    /// The Clerk user id.
    pub clerk_id: Key,
}

/// Reply of `/users/ensure`.
#[derive(Debug, Serialize)]
pub struct EnsureReply {
    /// The user as stored.
    pub user: User,
}

/// The route table, over any store.
pub fn routes<S: UsersStore, T: Surface>(store: S, clock: SharedClock) -> Routes<T> {
    let state = Arc::new(State { store, clock });
    Routes::new()
        .mutation("/users/ensure", &state, ensure)
        .query("/users/get", &state, get)
}

struct State<S> {
    store: S,
    clock: SharedClock,
}

async fn ensure<S: UsersStore>(
    state: Arc<State<S>>,
    profile: Profile,
) -> Result<EnsureReply, ApiError> {
    let now = Num(state.clock.now_ms());
    Ok(EnsureReply {
        user: state.store.ensure(profile, now).await?,
    })
}

async fn get<S: UsersStore>(state: Arc<State<S>>, args: GetArgs) -> Result<Option<User>, ApiError> {
    Ok(state.store.get(&args.clerk_id).await?)
}
