//! The embedded (redb) store of the users group, for the dev server and the tests.

use crate::model::Profile;
use crate::model::User;
use crate::store::UsersStore;
use shared::embedded::{self, EmbeddedDb, Table};
use shared::{Key, Num, StoreError};

/// The embedded store's table: clerk id → user.
pub(crate) const USERS: Table = Table::new("users");

/// The embedded store.
#[derive(Clone)]
pub struct EmbeddedUsersStore {
    db: EmbeddedDb,
}

impl EmbeddedUsersStore {
    /// A store in `db`.
    pub fn new(db: EmbeddedDb) -> Result<Self, StoreError> {
        db.ensure_tables(&[USERS])?;
        Ok(Self { db })
    }
}

impl UsersStore for EmbeddedUsersStore {
    async fn ensure(&self, profile: Profile, now: Num) -> Result<User, StoreError> {
        self.db
            .write(move |txn| {
                let key = profile.clerk_id.clone();
                let mut user =
                    embedded::get_for_update(txn, USERS, key.as_str())?.unwrap_or(User {
                        clerk_id: profile.clerk_id,
                        email: None,
                        first_name: None,
                        last_name: None,
                        image_url: None,
                        last_login_at: None,
                        created_at: now,
                        updated_at: now,
                    });
                for (given, stored) in [
                    (profile.email, &mut user.email),
                    (profile.first_name, &mut user.first_name),
                    (profile.last_name, &mut user.last_name),
                    (profile.image_url, &mut user.image_url),
                ] {
                    if given.is_some() {
                        *stored = given;
                    }
                }
                user.last_login_at = Some(now);
                user.updated_at = now;
                embedded::put(txn, USERS, key.as_str(), &user)?;
                Ok(user)
            })
            .await
    }

    async fn get(&self, clerk_id: &Key) -> Result<Option<User>, StoreError> {
        let key = clerk_id.clone();
        self.db
            .read(move |txn| embedded::get(txn, USERS, key.as_str()))
            .await
    }
}
