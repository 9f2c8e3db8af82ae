//! The embedded store: two redb tables, each call one transaction (a read transaction is a
//! snapshot; write transactions are serialized), so every call is atomic and isolated and no
//! generation scheme is needed here.
//!
//! - [`TRANSLATIONS`]: `<document>` + `id` → the translation (point reads and writes by id);
//! - [`BY_INDEX`]: `<document>` + `sequenceIndex` in 16 digits → the id: a document's history in
//!   index order, so `list` is one reverse range read and the highest index is its last key.
//!
//! `<document>` is `len(accountId):accountId len(documentId):documentId`, so one document's keys
//! are a prefix that no other document's keys share, whatever characters the ids hold.

use crate::model::{Document, Translation, MAX_INDEX};
use crate::store::{Page, TranslationsStore};
use shared::embedded::{self, EmbeddedDb, Table, WriteTransaction};
use shared::{Key, StoreError};

/// `<document>` + id → translation (JSON).
pub(crate) const TRANSLATIONS: Table = Table::new("translations");
/// `<document>` + 16-digit `sequenceIndex` → id (JSON string).
pub(crate) const BY_INDEX: Table = Table::new("translations_by_index");

fn internal(err: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("embedded store: {err}"))
}

/// The key prefix of `document`'s records.
pub(crate) fn document_prefix(document: &Document) -> String {
    let (account, doc) = (document.account_id.as_str(), document.document_id.as_str());
    format!("{}:{account}{}:{doc}", account.len(), doc.len())
}

fn translation_key(prefix: &str, id: &Key) -> String {
    format!("{prefix}{}", id.as_str())
}

fn index_key(prefix: &str, index: u64) -> String {
    format!("{prefix}{index:016}")
}

/// Just past every index key of the document (`:` sorts after the digits).
fn index_end(prefix: &str) -> String {
    format!("{prefix}:")
}

/// The document's (index, id) entries in index order, the highest last.
fn entries(txn: &WriteTransaction, prefix: &str) -> Result<Vec<(u64, Key)>, StoreError> {
    embedded::scan_prefix::<Key>(txn, BY_INDEX, prefix)?
        .into_iter()
        .map(|(key, id)| {
            let index = key[prefix.len()..].parse().map_err(internal)?;
            Ok((index, id))
        })
        .collect()
}

/// The document's highest index, 0 when it is empty.
fn highest(txn: &WriteTransaction, prefix: &str) -> Result<u64, StoreError> {
    use redb::ReadableTable;
    let table = txn.open_table(BY_INDEX).map_err(internal)?;
    let end = index_end(prefix);
    let last = table
        .range::<&str>(prefix..end.as_str())
        .map_err(internal)?
        .next_back()
        .transpose()
        .map_err(internal)?;
    match last {
        Some((key, _)) => key.value()[prefix.len()..].parse().map_err(internal),
        None => Ok(0),
    }
}

/// The next index after `highest`, refused past [`MAX_INDEX`].
fn next_index(highest: u64) -> Result<u64, StoreError> {
    if highest >= MAX_INDEX {
        return Err(StoreError::Internal(format!(
            "the document's history reached the largest index ({MAX_INDEX}); clear it"
        )));
    }
    Ok(highest + 1)
}

/// Writes `translation` at its index (the caller removed its old index entry).
fn put(txn: &WriteTransaction, prefix: &str, translation: &Translation) -> Result<(), StoreError> {
    embedded::put(
        txn,
        TRANSLATIONS,
        &translation_key(prefix, &translation.id),
        translation,
    )?;
    embedded::put(
        txn,
        BY_INDEX,
        &index_key(prefix, translation.sequence_index),
        &translation.id,
    )
}

/// Deletes `translation` and its index entry.
fn delete(
    txn: &WriteTransaction,
    prefix: &str,
    translation: &Translation,
) -> Result<(), StoreError> {
    embedded::delete(txn, TRANSLATIONS, &translation_key(prefix, &translation.id))?;
    embedded::delete(
        txn,
        BY_INDEX,
        &index_key(prefix, translation.sequence_index),
    )?;
    Ok(())
}

/// Writes `translation` into a write transaction as the import does: replacing what its id held.
pub(crate) fn import(
    txn: &WriteTransaction,
    translation: &Translation,
    first_of_document: bool,
) -> Result<(), StoreError> {
    let prefix = document_prefix(&translation.document());
    if first_of_document {
        // The snapshot's history replaces the document's, whatever it held since.
        for (index, id) in entries(txn, &prefix)? {
            embedded::delete(txn, BY_INDEX, &index_key(&prefix, index))?;
            embedded::delete(txn, TRANSLATIONS, &translation_key(&prefix, &id))?;
        }
    }
    let key = translation_key(&prefix, &translation.id);
    if let Some(old) = embedded::get_for_update::<Translation>(txn, TRANSLATIONS, &key)? {
        delete(txn, &prefix, &old)?;
    }
    put(txn, &prefix, translation)
}

/// The embedded store.
#[derive(Clone)]
pub struct EmbeddedTranslationsStore {
    db: EmbeddedDb,
}

impl EmbeddedTranslationsStore {
    /// A store in `db`.
    pub fn new(db: EmbeddedDb) -> Result<Self, StoreError> {
        db.ensure_tables(&[TRANSLATIONS, BY_INDEX])?;
        Ok(Self { db })
    }

    /// Runs `f` on the current translation `id` of `document` in one write transaction: `None`
    /// (nothing written) when absent, else what `f` stored.
    async fn update<F>(
        &self,
        document: &Document,
        id: &Key,
        f: F,
    ) -> Result<Option<Translation>, StoreError>
    where
        F: FnOnce(&WriteTransaction, &str, Translation) -> Result<Translation, StoreError>
            + Send
            + 'static,
    {
        let prefix = document_prefix(document);
        let key = translation_key(&prefix, id);
        self.db
            .write(move |txn| {
                match embedded::get_for_update::<Translation>(txn, TRANSLATIONS, &key)? {
                    Some(translation) => f(txn, &prefix, translation).map(Some),
                    None => Ok(None),
                }
            })
            .await
    }
}

impl TranslationsStore for EmbeddedTranslationsStore {
    async fn list(
        &self,
        document: &Document,
        limit: usize,
        below: Option<u64>,
    ) -> Result<Page, StoreError> {
        let prefix = document_prefix(document);
        self.db
            .read(move |txn| {
                let lower = index_key(&prefix, 0);
                let upper = match below {
                    Some(below) => index_key(&prefix, below),
                    None => index_end(&prefix),
                };
                let ids: Vec<Key> =
                    embedded::read_range(txn, BY_INDEX, Some((&lower, &upper)), true, limit + 1)?;
                let more = ids.len() > limit;
                let mut items = Vec::with_capacity(limit.min(ids.len()));
                for id in ids.iter().take(limit) {
                    let translation =
                        embedded::get(txn, TRANSLATIONS, &translation_key(&prefix, id))?
                            .ok_or_else(|| internal("an index entry without its translation"))?;
                    items.push(translation);
                }
                Ok(Page { items, more })
            })
            .await
    }

    async fn create(&self, mut translation: Translation) -> Result<Translation, StoreError> {
        self.db
            .write(move |txn| {
                let prefix = document_prefix(&translation.document());
                translation.sequence_index = next_index(highest(txn, &prefix)?)?;
                let key = translation_key(&prefix, &translation.id);
                if let Some(old) = embedded::get_for_update::<Translation>(txn, TRANSLATIONS, &key)?
                {
                    delete(txn, &prefix, &old)?;
                }
                put(txn, &prefix, &translation)?;
                Ok(translation)
            })
            .await
    }

    async fn promote(
        &self,
        document: &Document,
        id: &Key,
        now: &str,
    ) -> Result<Option<Translation>, StoreError> {
        let now = now.to_owned();
        self.update(document, id, move |txn, prefix, mut translation| {
            let index = next_index(highest(txn, prefix)?)?;
            embedded::delete(
                txn,
                BY_INDEX,
                &index_key(prefix, translation.sequence_index),
            )?;
            translation.sequence_index = index;
            translation.updated_at = now;
            put(txn, prefix, &translation)?;
            Ok(translation)
        })
        .await
    }

    async fn clear(
        &self,
        document: &Document,
        keep_latest: bool,
        now: &str,
    ) -> Result<usize, StoreError> {
        let prefix = document_prefix(document);
        let now = now.to_owned();
        self.db
            .write(move |txn| {
                let mut entries = entries(txn, &prefix)?;
                let survivor = if keep_latest { entries.pop() } else { None };
                for (index, id) in &entries {
                    embedded::delete(txn, BY_INDEX, &index_key(&prefix, *index))?;
                    embedded::delete(txn, TRANSLATIONS, &translation_key(&prefix, id))?;
                }
                if let Some((index, id)) = survivor {
                    let key = translation_key(&prefix, &id);
                    let mut kept: Translation = embedded::get_for_update(txn, TRANSLATIONS, &key)?
                        .ok_or_else(|| internal("an index entry without its translation"))?;
                    embedded::delete(txn, BY_INDEX, &index_key(&prefix, index))?;
                    kept.sequence_index = 1;
                    kept.updated_at = now;
                    put(txn, &prefix, &kept)?;
                }
                Ok(entries.len())
            })
            .await
    }

    async fn mark_adopted(
        &self,
        document: &Document,
        id: &Key,
        collapse: bool,
        now: &str,
    ) -> Result<Option<Translation>, StoreError> {
        let now = now.to_owned();
        self.update(document, id, move |txn, prefix, mut translation| {
            translation.adopt(&now);
            if collapse {
                for (index, other) in entries(txn, prefix)? {
                    embedded::delete(txn, BY_INDEX, &index_key(prefix, index))?;
                    if other != translation.id {
                        embedded::delete(txn, TRANSLATIONS, &translation_key(prefix, &other))?;
                    }
                }
                translation.sequence_index = 1;
            }
            put(txn, prefix, &translation)?;
            Ok(translation)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(account: &str, doc: &str) -> Document {
        Document::new(Key::parse(account).unwrap(), Key::parse(doc).unwrap())
    }

    #[test]
    fn document_prefixes_never_match_another_documents_keys() {
        let (a, ab) = (document("a", "bc"), document("ab", "c"));
        assert_ne!(document_prefix(&a), document_prefix(&ab));
        let id = Key::parse("x").unwrap();
        let key = translation_key(&document_prefix(&document("a", "b")), &id);
        assert!(!key.starts_with(&document_prefix(&document("a", "bx"))));
        assert!(index_key(&document_prefix(&a), MAX_INDEX) < index_end(&document_prefix(&a)));
    }
}
