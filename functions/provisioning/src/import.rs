//! The Convex `provisioning_credentials` and `provisioning_usage` tables, for the `convex-import`
//! command.

use crate::dynamo::{attr, created_key, credential_import_items, usage_item};
use crate::embedded::{put_stored, tables, usage_key, StoredCredential};
use crate::model::{Credential, RecordId, UsageEntry};
use shared::dynamo::Item;
use shared::embedded;
use shared::import::Doc;
use shared::StoreError;

/// The Convex `provisioning_credentials` table, for the `convex-import` command. Its creation
/// order (`findActive`, `list`) is Convex's `_creationTime`.
pub struct CredentialImport;

impl shared::import::ImportTable for CredentialImport {
    const CONVEX_TABLE: &'static str = "provisioning_credentials";
    const TABLES: &'static [shared::config::TableRef] = &[attr::CREDENTIALS];
    type Record = Credential;

    fn key(credential: &Credential) -> String {
        format!("{} {}", attr::ID, credential.id.as_str())
    }

    /// The credential under its owner and its pointer (both in the credentials table).
    fn items(doc: &Doc<Credential>) -> Result<Vec<(usize, Item)>, StoreError> {
        let items = credential_import_items(&doc.record, doc.created_ms)?;
        Ok(items.into_iter().map(|item| (0, item)).collect())
    }

    fn put_embedded(
        txn: &embedded::WriteTransaction,
        doc: &Doc<Credential>,
    ) -> Result<(), StoreError> {
        let id = doc.record.id.as_str();
        let old: Option<StoredCredential> = embedded::get_for_update(txn, tables::CREDENTIALS, id)?;
        let stored = StoredCredential {
            created_key: created_key(doc.created_ms, id),
            record: doc.record.clone(),
        };
        put_stored(txn, old.as_ref(), &stored)
    }
}

/// The Convex `provisioning_usage` table, for the `convex-import` command. Its order
/// (`listUsage`) is Convex's `_creationTime`; a record without an `id` gets its Convex `_id`, so
/// that an import run twice writes the same records.
pub struct UsageImport;

impl shared::import::ImportTable for UsageImport {
    const CONVEX_TABLE: &'static str = "provisioning_usage";
    const TABLES: &'static [shared::config::TableRef] = &[attr::USAGE];
    type Record = UsageEntry;

    fn complete(mut entry: UsageEntry, convex_id: &str) -> Result<UsageEntry, String> {
        if entry.id.is_none() {
            entry.id = Some(RecordId::parse(convex_id)?);
        }
        Ok(entry)
    }

    fn key(entry: &UsageEntry) -> String {
        let id = entry.id.as_ref().map_or("", RecordId::as_str);
        format!("{} {}", attr::ID, id)
    }

    fn items(doc: &Doc<UsageEntry>) -> Result<Vec<(usize, Item)>, StoreError> {
        let usage = doc.record.clone().into_usage();
        let key = created_key(doc.created_ms, usage.id.as_str());
        Ok(vec![(0, usage_item(&usage, key)?)])
    }

    fn put_embedded(
        txn: &embedded::WriteTransaction,
        doc: &Doc<UsageEntry>,
    ) -> Result<(), StoreError> {
        let usage = doc.record.clone().into_usage();
        let key = usage_key(&usage, &created_key(doc.created_ms, usage.id.as_str()));
        embedded::put(txn, tables::USAGE, &key, &usage)
    }
}
