//! What the users group needs from storage: the store trait both stores implement.

use crate::model::Profile;
use crate::model::User;
use shared::{Key, Num, StoreError};
use std::future::Future;

/// What the users group needs from storage.
pub trait UsersStore: Send + Sync + 'static {
    /// Upserts by clerk id: given fields overwrite, `lastLoginAt` = `updatedAt` = `now`, `createdAt`
    /// is set on the first call only. Returns the stored user.
    fn ensure(
        &self,
        profile: Profile,
        now: Num,
    ) -> impl Future<Output = Result<User, StoreError>> + Send;

    /// The user, if any.
    fn get(&self, clerk_id: &Key) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;
}
