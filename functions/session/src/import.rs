//! The Convex `sessions` table, for the `convex-import` command.

use crate::dynamo::{attr, session_item};
use crate::embedded::SESSIONS;
use crate::model::Session;
use shared::embedded::{self};
use shared::import::Doc;
use shared::StoreError;

/// The Convex `sessions` table, for the `convex-import` command: the expiry index shard and the
/// TTL attribute are rebuilt from `expiresAt`, as `save` writes them.
pub struct Import;

impl shared::import::ImportTable for Import {
    const CONVEX_TABLE: &'static str = "sessions";
    const TABLES: &'static [shared::config::TableRef] = &[attr::TABLE];
    type Record = Session;

    fn key(session: &Session) -> String {
        format!("{} {}", attr::ID, session.id.as_str())
    }

    fn items(doc: &Doc<Session>) -> Result<Vec<(usize, shared::dynamo::Item)>, StoreError> {
        Ok(vec![(0, session_item(&doc.record)?)])
    }

    fn put_embedded(
        txn: &embedded::WriteTransaction,
        doc: &Doc<Session>,
    ) -> Result<(), StoreError> {
        embedded::put(txn, SESSIONS, doc.record.id.as_str(), &doc.record)
    }
}
