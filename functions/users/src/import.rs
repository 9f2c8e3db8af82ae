//! The Convex `users` table, for the `convex-import` command.

use crate::dynamo::attr;
use crate::embedded::USERS;
use crate::model::User;
use shared::embedded::{self};
use shared::import::Doc;
use shared::StoreError;

/// The Convex `users` table, for the `convex-import` command.
pub struct Import;

impl shared::import::ImportTable for Import {
    const CONVEX_TABLE: &'static str = "users";
    const TABLES: &'static [shared::config::TableRef] = &[attr::TABLE];
    type Record = User;

    fn key(user: &User) -> String {
        format!("{} {}", attr::CLERK_ID, user.clerk_id.as_str())
    }

    fn items(doc: &Doc<User>) -> Result<Vec<(usize, shared::dynamo::Item)>, StoreError> {
        Ok(vec![(0, shared::dynamo::to_item(&doc.record)?)])
    }

    fn put_embedded(txn: &embedded::WriteTransaction, doc: &Doc<User>) -> Result<(), StoreError> {
        embedded::put(txn, USERS, doc.record.clerk_id.as_str(), &doc.record)
    }
}
