//! The Convex `workspace_layouts` table, for the `convex-import` command: each document is a
//! [`LayoutRecord`] (`userId`, `layout`, `version`, `updatedAt`), validated by the same types as
//! the routes' arguments, and written as the routes write it (one item, one record per user).

use crate::dynamo::attr;
use crate::embedded::LAYOUTS;
use crate::model::LayoutRecord;
use shared::dynamo::Item;
use shared::embedded;
use shared::import::Doc;
use shared::StoreError;

/// The Convex `workspace_layouts` table.
pub struct Import;

impl shared::import::ImportTable for Import {
    const CONVEX_TABLE: &'static str = "workspace_layouts";
    const TABLES: &'static [shared::config::TableRef] = &[attr::TABLE];
    type Record = LayoutRecord;

    fn key(record: &LayoutRecord) -> String {
        format!("{} {}", attr::USER_ID, record.user_id.as_str())
    }

    fn items(doc: &Doc<LayoutRecord>) -> Result<Vec<(usize, Item)>, StoreError> {
        Ok(vec![(0, shared::dynamo::to_item(&doc.record)?)])
    }

    fn put_embedded(
        txn: &embedded::WriteTransaction,
        doc: &Doc<LayoutRecord>,
    ) -> Result<(), StoreError> {
        embedded::put(txn, LAYOUTS, doc.record.user_id.as_str(), &doc.record)
    }
}
