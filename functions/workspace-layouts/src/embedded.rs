//! The embedded store: one redb table, user id → record; each call one transaction.

use crate::model::LayoutRecord;
use crate::store::WorkspaceLayoutsStore;
use shared::embedded::{self, EmbeddedDb, Table};
use shared::{Key, StoreError};

/// The embedded store's table: `userId` → record (as JSON).
pub(crate) const LAYOUTS: Table = Table::new("workspace_layouts");

/// The embedded store.
#[derive(Clone)]
pub struct EmbeddedWorkspaceLayoutsStore {
    db: EmbeddedDb,
}

impl EmbeddedWorkspaceLayoutsStore {
    /// A store in `db`.
    pub fn new(db: EmbeddedDb) -> Result<Self, StoreError> {
        db.ensure_tables(&[LAYOUTS])?;
        Ok(Self { db })
    }
}

impl WorkspaceLayoutsStore for EmbeddedWorkspaceLayoutsStore {
    async fn get(&self, user_id: &Key) -> Result<Option<LayoutRecord>, StoreError> {
        let key = user_id.clone();
        self.db
            .read(move |txn| embedded::get(txn, LAYOUTS, key.as_str()))
            .await
    }

    async fn save(&self, record: &LayoutRecord) -> Result<(), StoreError> {
        let record = record.clone();
        self.db
            .write(move |txn| embedded::put(txn, LAYOUTS, record.user_id.as_str(), &record))
            .await
    }

    async fn clear(&self, user_id: &Key) -> Result<bool, StoreError> {
        let key = user_id.clone();
        self.db
            .write(move |txn| embedded::delete(txn, LAYOUTS, key.as_str()))
            .await
    }
}
