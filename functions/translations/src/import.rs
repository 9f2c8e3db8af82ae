//! The Convex `translations` table, for the `convex-import` command.
//!
//! Each exported document is a [`Translation`] (with Convex's `_id` and `_creationTime`, which
//! the import reads apart). Duplicates of (accountId, documentId, id), which upstream allowed
//! (CONTRACT.md §7.8 #2), keep the one created first; two translations of one document with the
//! same `sequenceIndex` likewise keep the one created first (indexes are distinct here).
//!
//! On DynamoDB, every imported document gets a new generation: the import's start time in
//! milliseconds (generations are otherwise only ever bumped by one, so it is above any a document
//! reached since an earlier import, as long as the importing machines' clocks agree to the
//! millisecond more than clears add up). Its meta is written with the snapshot's highest index and
//! count, and its translations into that generation: whatever the document held since the export
//! becomes garbage of an older generation, never read, so a second import restores the snapshot
//! exactly. On the embedded store, the first translation written of a document empties it first.
//!
//! On DynamoDB a document's translations can be written by several `BatchWriteItem` calls. An
//! import stopped between them leaves a meta that counts translations not written yet: `list` of
//! that document then never answers a partial history, it answers `503` until the same import is
//! run again (which finishes it).

use crate::dynamo::{attr, translation_item, Meta};
use crate::model::{Translation, MAX_INDEX};
use serde::{Deserialize, Serialize};
use shared::dynamo::Item;
use shared::embedded::WriteTransaction;
use shared::import::{Doc, ImportTable, Skipped};
use shared::{Clock, StoreError};

/// The table, for `convex-import`.
pub struct Import;

/// One exported translation, and what the import decided for its document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportedTranslation {
    /// The record.
    #[serde(flatten)]
    pub translation: Translation,
    /// Filled by [`ImportTable::select`].
    #[serde(skip)]
    plan: Plan,
}

/// Where a translation's document stands in the import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Plan {
    /// The generation (and version) written: the import's start, ms.
    gen: u64,
    /// Set on the document's first translation: its meta (highest index, count).
    meta: Option<(u64, u64)>,
}

impl ImportTable for Import {
    const CONVEX_TABLE: &'static str = "translations";
    const TABLES: &'static [shared::config::TableRef] = &[attr::TABLE];
    type Record = ImportedTranslation;

    fn complete(record: ImportedTranslation, _convex_id: &str) -> Result<Self::Record, String> {
        let index = record.translation.sequence_index;
        if !(1..=MAX_INDEX).contains(&index) {
            return Err(format!(
                "sequenceIndex: expected an integer from 1 to {MAX_INDEX}"
            ));
        }
        Ok(record)
    }

    fn key(record: &ImportedTranslation) -> String {
        let t = &record.translation;
        format!(
            "accountId {}, documentId {}, id {}",
            t.account_id, t.document_id, t.id
        )
    }

    fn select(
        mut docs: Vec<Doc<ImportedTranslation>>,
    ) -> (Vec<Doc<ImportedTranslation>>, Vec<Skipped>) {
        let gen = shared::SystemClock.now_ms() as u64;
        let place = |d: &Doc<ImportedTranslation>| {
            let t = &d.record.translation;
            (t.account_id.clone(), t.document_id.clone())
        };
        docs.sort_by(|a, b| {
            place(a)
                .cmp(&place(b))
                .then(
                    a.record
                        .translation
                        .sequence_index
                        .cmp(&b.record.translation.sequence_index),
                )
                .then(a.created_ms.total_cmp(&b.created_ms))
                .then(a.line.cmp(&b.line))
        });
        let mut kept: Vec<Doc<ImportedTranslation>> = Vec::with_capacity(docs.len());
        let mut skipped = Vec::new();
        let mut first_of_document = 0;
        for mut doc in docs {
            doc.record.plan = Plan { gen, meta: None };
            let same_document = kept.last().is_some_and(|last| place(last) == place(&doc));
            if same_document {
                let last = kept.last().expect("a previous document");
                if last.record.translation.sequence_index == doc.record.translation.sequence_index {
                    skipped.push(Skipped {
                        line: doc.line,
                        reason: format!(
                            "sequenceIndex {} is taken in its document by line {}, created first",
                            doc.record.translation.sequence_index, last.line
                        ),
                    });
                    continue;
                }
            } else {
                first_of_document = kept.len();
            }
            kept.push(doc);
            let count = (kept.len() - first_of_document) as u64;
            let highest = kept
                .last()
                .expect("just pushed")
                .record
                .translation
                .sequence_index;
            kept[first_of_document].record.plan.meta = Some((highest, count));
        }
        (kept, skipped)
    }

    fn items(doc: &Doc<ImportedTranslation>) -> Result<Vec<(usize, Item)>, StoreError> {
        let Plan { gen, meta } = doc.record.plan;
        let translation = &doc.record.translation;
        let mut items = vec![(0, translation_item(translation, gen, gen)?)];
        if let Some((highest, count)) = meta {
            let meta = Meta {
                exists: true,
                gen,
                highest,
                count,
                ver: gen,
            };
            items.push((0, meta.item(&translation.document())));
        }
        Ok(items)
    }

    fn put_embedded(
        txn: &WriteTransaction,
        doc: &Doc<ImportedTranslation>,
    ) -> Result<(), StoreError> {
        let first = doc.record.plan.meta.is_some();
        crate::embedded::import(txn, &doc.record.translation, first)
    }
}
