//! What the history group needs from storage: the store trait both stores implement.

use crate::model::{HistoryEntry, Recorded};
use shared::{Key, StoreError};
use std::future::Future;

/// What the history group needs from storage.
pub trait HistoryStore: Send + Sync + 'static {
    /// The user's newest `limit` entries (at most [`MAX_ENTRIES`](crate::MAX_ENTRIES)), in
    /// [`newest_first`](crate::newest_first) order.
    fn list(
        &self,
        user_id: &Key,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<HistoryEntry>, StoreError>> + Send;

    /// Upserts by (userId, id): an existing entry gets every field of `entry` (an omitted
    /// transcript removes the stored one); a new one is inserted, then the user's entries past the
    /// [`MAX_ENTRIES`](crate::MAX_ENTRIES) newest are deleted.
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
