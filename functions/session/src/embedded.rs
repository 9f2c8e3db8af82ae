//! The embedded (redb) store of the session group, for the dev server and the tests.

use crate::model::Session;
use crate::store::SessionStore;
use shared::embedded::{self, EmbeddedDb, Table};
use shared::{Key, Num, StoreError};

/// The embedded store's table: id → session.
pub(crate) const SESSIONS: Table = Table::new("sessions");

/// The embedded store.
#[derive(Clone)]
pub struct EmbeddedSessionStore {
    db: EmbeddedDb,
}

impl EmbeddedSessionStore {
    /// A store in `db`.
    pub fn new(db: EmbeddedDb) -> Result<Self, StoreError> {
        db.ensure_tables(&[SESSIONS])?;
        Ok(Self { db })
    }
}

impl SessionStore for EmbeddedSessionStore {
    async fn save(&self, session: Session) -> Result<(), StoreError> {
        self.db
            .write(move |txn| embedded::put(txn, SESSIONS, session.id.as_str(), &session))
            .await
    }

    async fn get(&self, id: &Key) -> Result<Option<Session>, StoreError> {
        let id = id.clone();
        self.db
            .read(move |txn| embedded::get(txn, SESSIONS, id.as_str()))
            .await
    }

    async fn delete(&self, id: &Key) -> Result<(), StoreError> {
        let id = id.clone();
        self.db
            .write(move |txn| embedded::delete(txn, SESSIONS, id.as_str()).map(drop))
            .await
    }

    /// Scans every session: the embedded store serves one developer's data, not production's.
    async fn prune(&self, now: Num, limit: usize) -> Result<usize, StoreError> {
        self.db
            .write(move |txn| {
                let mut expired: Vec<Session> =
                    embedded::scan_prefix::<Session>(txn, SESSIONS, "")?
                        .into_iter()
                        .map(|(_, session)| session)
                        .filter(|s| s.expires_at.get() < now.get())
                        .collect();
                expired.sort_by(|a, b| {
                    a.expires_at
                        .get()
                        .total_cmp(&b.expires_at.get())
                        .then_with(|| a.id.cmp(&b.id))
                });
                expired.truncate(limit);
                for session in &expired {
                    embedded::delete(txn, SESSIONS, session.id.as_str())?;
                }
                Ok(expired.len())
            })
            .await
    }
}
