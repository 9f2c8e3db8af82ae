//! The embedded store: a crash-safe file database (redb) for running the service with no server,
//! or in memory for tests. Each group keeps its records as JSON values in tables of its own.
//!
//! Every write runs in one redb transaction, committed durably before the call returns, so a crash
//! mid-write leaves the previous state, and concurrent writers are serialized (read-modify-write is
//! safe inside [`EmbeddedDb::write`]).

use crate::error::{check_item_size, StoreError};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

pub use redb::{ReadTransaction, WriteTransaction};

/// A table of JSON records by string key.
pub type Table = TableDefinition<'static, &'static str, &'static [u8]>;

/// A handle on the database, cheap to clone; one per process (redb locks its file).
#[derive(Clone)]
pub struct EmbeddedDb {
    db: Arc<redb::Database>,
}

fn internal(err: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("embedded store: {err}"))
}

impl EmbeddedDb {
    /// Opens (or creates) the database file `path`, creating its folder.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(internal)?;
        }
        let db = redb::Database::create(path).map_err(internal)?;
        Ok(Self { db: Arc::new(db) })
    }

    /// A database that lives in memory only.
    pub fn in_memory() -> Self {
        let db = redb::Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .expect("an in-memory database always opens");
        Self { db: Arc::new(db) }
    }

    /// Creates `tables` if they do not exist yet.
    pub fn ensure_tables(&self, tables: &[Table]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(internal)?;
        for table in tables {
            txn.open_table(*table).map_err(internal)?;
        }
        txn.commit().map_err(internal)
    }

    /// Runs `f` in a read transaction, off the async threads.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&ReadTransaction) -> Result<T, StoreError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(internal)?;
            f(&txn)
        })
        .await
        .map_err(internal)?
    }

    /// Runs `f` in a write transaction, off the async threads; commits when `f` returns `Ok`, and
    /// leaves the database untouched when it returns `Err`.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_write().map_err(internal)?;
            match f(&txn) {
                Ok(value) => {
                    txn.commit().map_err(internal)?;
                    Ok(value)
                }
                Err(err) => {
                    txn.abort().map_err(internal)?;
                    Err(err)
                }
            }
        })
        .await
        .map_err(internal)?
    }
}

/// Reads the record `key` of `table` in a read transaction.
pub fn get<T: DeserializeOwned>(
    txn: &ReadTransaction,
    table: Table,
    key: &str,
) -> Result<Option<T>, StoreError> {
    let table = txn.open_table(table).map_err(internal)?;
    let value = table.get(key).map_err(internal)?;
    value
        .map(|v| serde_json::from_slice(v.value()).map_err(internal))
        .transpose()
}

/// Reads the record `key` of `table` in a write transaction.
pub fn get_for_update<T: DeserializeOwned>(
    txn: &WriteTransaction,
    table: Table,
    key: &str,
) -> Result<Option<T>, StoreError> {
    let table = txn.open_table(table).map_err(internal)?;
    let value = table.get(key).map_err(internal)?;
    value
        .map(|v| serde_json::from_slice(v.value()).map_err(internal))
        .transpose()
}

/// Writes `record` at `key`, refusing records over DynamoDB's item limit as DynamoDB would.
pub fn put<T: Serialize>(
    txn: &WriteTransaction,
    table: Table,
    key: &str,
    record: &T,
) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(record).map_err(internal)?;
    check_item_size("the item", bytes.len())?;
    let mut table = txn.open_table(table).map_err(internal)?;
    table.insert(key, bytes.as_slice()).map_err(internal)?;
    Ok(())
}

/// Deletes `key`; true when it was there.
pub fn delete(txn: &WriteTransaction, table: Table, key: &str) -> Result<bool, StoreError> {
    let mut table = txn.open_table(table).map_err(internal)?;
    let removed = table.remove(key).map_err(internal)?;
    Ok(removed.is_some())
}

/// Every record of `table` whose key starts with `prefix`, in key order.
pub fn scan_prefix<T: DeserializeOwned>(
    txn: &WriteTransaction,
    table: Table,
    prefix: &str,
) -> Result<Vec<(String, T)>, StoreError> {
    let table = txn.open_table(table).map_err(internal)?;
    let mut out = Vec::new();
    for entry in table.range(prefix..).map_err(internal)? {
        let (key, value) = entry.map_err(internal)?;
        if !key.value().starts_with(prefix) {
            break;
        }
        out.push((
            key.value().to_owned(),
            serde_json::from_slice(value.value()).map_err(internal)?,
        ));
    }
    Ok(out)
}

/// Up to `limit` records of `table` with keys in `[lower, upper)` (every key when `None`), in key
/// order or reversed, in a read transaction.
pub fn read_range<T: DeserializeOwned>(
    txn: &ReadTransaction,
    table: Table,
    bounds: Option<(&str, &str)>,
    reverse: bool,
    limit: usize,
) -> Result<Vec<T>, StoreError> {
    let table = txn.open_table(table).map_err(internal)?;
    let bounds = match bounds {
        Some((lower, upper)) => (Bound::Included(lower), Bound::Excluded(upper)),
        None => (Bound::Unbounded, Bound::Unbounded),
    };
    let range = table.range::<&str>(bounds).map_err(internal)?;
    let entries: Box<dyn Iterator<Item = _>> = if reverse {
        Box::new(range.rev())
    } else {
        Box::new(range)
    };
    entries
        .take(limit)
        .map(|entry| {
            let (_, value) = entry.map_err(internal)?;
            serde_json::from_slice(value.value()).map_err(internal)
        })
        .collect()
}
