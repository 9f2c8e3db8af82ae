//! What the `convex-import` command (`infra/import`) needs from a route group to load one table of a
//! Convex snapshot export: the record type, its key, and the items it becomes on each store.
//!
//! Each group implements [`ImportTable`] next to its stores, so the items an import writes are built
//! by the same functions as the items the routes write, and cannot drift from them.

use crate::config::TableRef;
use crate::dynamo::Item;
use crate::embedded::WriteTransaction;
use crate::StoreError;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// One exported document, validated: its record, and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc<R> {
    /// Its line in `<table>/documents.jsonl`, from 1.
    pub line: usize,
    /// Convex's `_id`.
    pub convex_id: String,
    /// Convex's `_creationTime`, ms (fractional, as Convex writes it).
    pub created_ms: f64,
    /// The document as the contract types it.
    pub record: R,
}

/// A document left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Its line in `<table>/documents.jsonl`, from 1.
    pub line: usize,
    /// Why, in a few words (never a field's value: it could be a secret).
    pub reason: String,
}

/// One Convex table this service holds.
pub trait ImportTable {
    /// The Convex table's name (`accounts`, `history_entries`, ...).
    const CONVEX_TABLE: &'static str;
    /// The DynamoDB tables its documents are written to; [`ImportTable::items`] names them by index.
    const TABLES: &'static [TableRef];
    /// The largest record taken, in bytes of its JSON: DynamoDB's item limit, unless the group
    /// splits a record over several items.
    const MAX_RECORD_BYTES: usize = crate::MAX_ITEM_BYTES;
    /// A document's record, as CONTRACT.md §5 types it.
    type Record: DeserializeOwned + Serialize + Send + Sync + 'static;

    /// Checks beyond the record's type, and fills what the export may lack (a usage record's id is
    /// its Convex `_id` when it has none). The reason when the document is refused.
    fn complete(record: Self::Record, _convex_id: &str) -> Result<Self::Record, String> {
        Ok(record)
    }

    /// The record's identity in the store, as shown to people (`userId user_1`): two documents
    /// with the same key are duplicates, and only the one Convex created first is imported.
    fn key(record: &Self::Record) -> String;

    /// Table-wide rules, applied after duplicates are removed: which documents are kept. The
    /// default keeps all of them.
    fn select(docs: Vec<Doc<Self::Record>>) -> (Vec<Doc<Self::Record>>, Vec<Skipped>) {
        (docs, Vec::new())
    }

    /// The items one document becomes in DynamoDB: (index into [`ImportTable::TABLES`], item).
    /// Writing them replaces what the same keys held, so an import can run again.
    fn items(doc: &Doc<Self::Record>) -> Result<Vec<(usize, Item)>, StoreError>;

    /// Writes one document into the embedded store inside `txn`, replacing what its key held
    /// (and the index entries of what it held).
    fn put_embedded(txn: &WriteTransaction, doc: &Doc<Self::Record>) -> Result<(), StoreError>;
}
