//! The Convex `history` table, for the `convex-import` command.

use crate::dynamo::attr;
use crate::embedded::{entry_key, HISTORY};
use crate::model::{newest_first, HistoryEntry, MAX_ENTRIES};
use shared::dynamo::Item;
use shared::embedded;
use shared::import::{Doc, Skipped};
use shared::{Key, StoreError};

/// The Convex `history_entries` table, for the `convex-import` command. At most [`MAX_ENTRIES`]
/// entries per user are kept, the newest (the order of `/history/list`); older ones are skipped
/// and reported.
pub struct Import;

impl shared::import::ImportTable for Import {
    const CONVEX_TABLE: &'static str = "history_entries";
    const TABLES: &'static [shared::config::TableRef] = &[attr::TABLE];
    type Record = HistoryEntry;

    fn key(entry: &HistoryEntry) -> String {
        format!(
            "{} {}, {} {}",
            attr::USER_ID,
            entry.user_id.as_str(),
            attr::ID,
            entry.id.as_str()
        )
    }

    fn select(mut docs: Vec<Doc<HistoryEntry>>) -> (Vec<Doc<HistoryEntry>>, Vec<Skipped>) {
        docs.sort_by(|a, b| {
            a.record
                .user_id
                .cmp(&b.record.user_id)
                .then_with(|| newest_first(&a.record, &b.record))
        });
        let mut kept = Vec::with_capacity(docs.len());
        let mut skipped = Vec::new();
        let mut run: Option<(Key, usize)> = None;
        for doc in docs {
            let n = match &mut run {
                Some((user, n)) if *user == doc.record.user_id => {
                    *n += 1;
                    *n
                }
                _ => {
                    run = Some((doc.record.user_id.clone(), 1));
                    1
                }
            };
            if n > MAX_ENTRIES {
                skipped.push(Skipped {
                    line: doc.line,
                    reason: format!(
                        "over the {MAX_ENTRIES}-entry cap of {} {}: older than its {MAX_ENTRIES} newest entries",
                        attr::USER_ID,
                        doc.record.user_id.as_str()
                    ),
                });
            } else {
                kept.push(doc);
            }
        }
        (kept, skipped)
    }

    fn items(doc: &Doc<HistoryEntry>) -> Result<Vec<(usize, Item)>, StoreError> {
        Ok(vec![(0, shared::dynamo::to_item(&doc.record)?)])
    }

    fn put_embedded(
        txn: &embedded::WriteTransaction,
        doc: &Doc<HistoryEntry>,
    ) -> Result<(), StoreError> {
        let entry = &doc.record;
        embedded::put(txn, HISTORY, &entry_key(&entry.user_id, &entry.id), entry)
    }
}
