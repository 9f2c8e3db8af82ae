//! What the workspaceLayouts group needs from storage: one record per user, by full key.

use crate::model::LayoutRecord;
use shared::{Key, StoreError};
use std::future::Future;

/// The store of the workspaceLayouts group.
pub trait WorkspaceLayoutsStore: Send + Sync + 'static {
    /// The user's layout, if any (reads every write acknowledged before it).
    fn get(
        &self,
        user_id: &Key,
    ) -> impl Future<Output = Result<Option<LayoutRecord>, StoreError>> + Send;

    /// Stores `record` in place of whatever the user had (the whole record is replaced). A record
    /// over DynamoDB's 400 KB item limit is refused with [`StoreError::TooLarge`] and nothing is
    /// written.
    fn save(&self, record: &LayoutRecord) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes the user's layout; whether there was one. Exactly once: a retried call whose first
    /// attempt deleted it still answers `true`.
    fn clear(&self, user_id: &Key) -> impl Future<Output = Result<bool, StoreError>> + Send;
}
