//! What the session group needs from storage: the store trait both stores implement.

use crate::model::Session;
use shared::{Key, Num, StoreError};
use std::future::Future;

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
