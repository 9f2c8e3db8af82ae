//! The embedded (redb) store of the history group, for the dev server and the tests.

use crate::model::{newest_first, HistoryEntry, Recorded, MAX_ENTRIES};
use crate::store::HistoryStore;
use shared::embedded::{self, EmbeddedDb, Table};
use shared::{Key, StoreError};

/// The embedded store's table: `len(userId):userId` + `id` → entry. The length prefix makes a
/// user's keys a prefix no other user's keys share, whatever characters the ids hold.
pub(crate) const HISTORY: Table = Table::new("history");

/// The embedded key prefix of a user's entries.
fn user_prefix(user_id: &Key) -> String {
    format!("{}:{}", user_id.as_str().len(), user_id.as_str())
}

/// The embedded key of an entry.
pub(crate) fn entry_key(user_id: &Key, id: &Key) -> String {
    format!("{}{}", user_prefix(user_id), id.as_str())
}

/// The user's entries in a read transaction, in key order.
fn read_user_entries(
    txn: &embedded::ReadTransaction,
    prefix: &str,
) -> Result<Vec<HistoryEntry>, StoreError> {
    let internal = |e: &dyn std::fmt::Display| StoreError::Internal(format!("embedded store: {e}"));
    let table = txn.open_table(HISTORY).map_err(|e| internal(&e))?;
    let mut out = Vec::new();
    for row in table.range(prefix..).map_err(|e| internal(&e))? {
        let (key, value) = row.map_err(|e| internal(&e))?;
        if !key.value().starts_with(prefix) {
            break;
        }
        out.push(serde_json::from_slice(value.value()).map_err(|e| internal(&e))?);
    }
    Ok(out)
}

/// The embedded store: each call is one redb transaction, so `record`'s insert and trim are atomic.
#[derive(Clone)]
pub struct EmbeddedHistoryStore {
    db: EmbeddedDb,
}

impl EmbeddedHistoryStore {
    /// A store in `db`.
    pub fn new(db: EmbeddedDb) -> Result<Self, StoreError> {
        db.ensure_tables(&[HISTORY])?;
        Ok(Self { db })
    }
}

impl HistoryStore for EmbeddedHistoryStore {
    async fn list(&self, user_id: &Key, limit: usize) -> Result<Vec<HistoryEntry>, StoreError> {
        let prefix = user_prefix(user_id);
        self.db
            .read(move |txn| {
                let mut entries = read_user_entries(txn, &prefix)?;
                entries.sort_by(newest_first);
                entries.truncate(limit.min(MAX_ENTRIES));
                Ok(entries)
            })
            .await
    }

    async fn record(&self, entry: &HistoryEntry) -> Result<Recorded, StoreError> {
        let entry = entry.clone();
        self.db
            .write(move |txn| {
                let key = entry_key(&entry.user_id, &entry.id);
                let existed =
                    embedded::get_for_update::<HistoryEntry>(txn, HISTORY, &key)?.is_some();
                embedded::put(txn, HISTORY, &key, &entry)?;
                if existed {
                    return Ok(Recorded::Replaced);
                }
                let mut entries: Vec<HistoryEntry> =
                    embedded::scan_prefix(txn, HISTORY, &user_prefix(&entry.user_id))?
                        .into_iter()
                        .map(|(_, e)| e)
                        .collect();
                entries.sort_by(newest_first);
                for old in entries.iter().skip(MAX_ENTRIES) {
                    embedded::delete(txn, HISTORY, &entry_key(&old.user_id, &old.id))?;
                }
                Ok(Recorded::Inserted)
            })
            .await
    }

    async fn remove(&self, user_id: &Key, id: &Key) -> Result<bool, StoreError> {
        let key = entry_key(user_id, id);
        self.db
            .write(move |txn| embedded::delete(txn, HISTORY, &key))
            .await
    }

    async fn clear(&self, user_id: &Key) -> Result<usize, StoreError> {
        let prefix = user_prefix(user_id);
        self.db
            .write(move |txn| {
                let keys: Vec<String> =
                    embedded::scan_prefix::<HistoryEntry>(txn, HISTORY, &prefix)?
                        .into_iter()
                        .map(|(key, _)| key)
                        .collect();
                for key in &keys {
                    embedded::delete(txn, HISTORY, key)?;
                }
                Ok(keys.len())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_prefixes_never_match_another_users_keys() {
        let key = |s: &str| Key::parse(s).unwrap();
        let (a, ab) = (key("a"), key("ab"));
        assert!(!entry_key(&ab, &key("x")).starts_with(&user_prefix(&a)));
        assert!(entry_key(&a, &key("bx")).starts_with(&user_prefix(&a)));
        assert!(!entry_key(&a, &key("bx")).starts_with(&user_prefix(&ab)));
    }
}
