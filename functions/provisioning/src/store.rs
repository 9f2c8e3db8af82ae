//! What the provisioning group needs from storage: the store trait both stores implement.

use crate::model::{Credential, Limit, Provider, RecordId, Usage, UsageEntry};
use shared::{Key, Num, StoreError};
use std::future::Future;

/// What the provisioning group needs from storage. `now` is the service's time, ms: it becomes
/// the record's creation time when the record is new.
pub trait ProvisioningStore: Send + Sync + 'static {
    /// Upserts by id; optional fields absent from `credential` keep their stored values.
    fn save(
        &self,
        credential: Credential,
        now: Num,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The most recently created active credential of `user_id` and `provider`.
    fn find_active(
        &self,
        user_id: &Key,
        provider: &Provider,
    ) -> impl Future<Output = Result<Option<Credential>, StoreError>> + Send;

    /// Sets the status to revoked; false when there is no such credential.
    fn mark_revoked(&self, id: &RecordId) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Every user's credentials, oldest created first, at most `limit`.
    fn list(
        &self,
        limit: Limit,
    ) -> impl Future<Output = Result<Vec<Credential>, StoreError>> + Send;

    /// Appends a usage record (see the crate docs for a repeated id); returns it as stored.
    fn record_usage(
        &self,
        entry: UsageEntry,
        now: Num,
    ) -> impl Future<Output = Result<Usage, StoreError>> + Send;

    /// The user's usage records, newest created first, at most `limit`.
    fn list_usage(
        &self,
        user_id: &Key,
        limit: Limit,
    ) -> impl Future<Output = Result<Vec<Usage>, StoreError>> + Send;
}
