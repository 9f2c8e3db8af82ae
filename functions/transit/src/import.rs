//! The Convex tables `transit_transcripts` and `transit_calendar_tokens`, for `convex-import`.
//!
//! Transcripts are replayed per user in Convex's insertion order (`_creationTime`, then the line):
//! each is saved into the user's index as `saveTranscript` would insert it, so the sequence numbers
//! (the tie order) follow Convex's insertion order, and a user's transcripts past the 200th in list
//! order are left out and reported. The user's last kept document carries the index item. A
//! re-import writes the same items under the same keys (bodies are numbered by the replay), so it
//! restores the snapshot's transcripts; bodies written by the service after the snapshot are left
//! behind unreferenced (invisible, never returned).

use crate::dynamo::{self, attr};
use crate::embedded;
use crate::index::{Candidate, Entry, Index, SavePlan};
use crate::model::{CalendarToken, NewTranscript, Secret, TranscriptInput, MAX_TRANSCRIPTS};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use shared::dynamo::{n, s, Item};
use shared::import::{Doc, ImportTable, Skipped};
use shared::{ApiError, Key, Num, StoreError};
use std::collections::BTreeMap;

/// A transcript of the export: the record as saved, and where the replay put it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedTranscript {
    /// The document.
    pub record: TranscriptInput,
    /// Its entry in the user's index (set by the replay).
    entry: Option<Entry>,
    /// The user's index, on the user's last kept document.
    index: Option<Index>,
}

impl<'de> Deserialize<'de> for ImportedTranscript {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self {
            record: TranscriptInput::deserialize(deserializer)?,
            entry: None,
            index: None,
        })
    }
}

impl Serialize for ImportedTranscript {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.record.serialize(serializer)
    }
}

fn transcript(record: &TranscriptInput) -> Result<NewTranscript, StoreError> {
    NewTranscript::parse(record.clone()).map_err(|e| match e {
        ApiError::PayloadTooLarge(message) => StoreError::TooLarge(message),
        other => StoreError::Internal(other.to_string()),
    })
}

/// The Convex `transit_transcripts` table.
pub struct TranscriptImport;

impl ImportTable for TranscriptImport {
    const CONVEX_TABLE: &'static str = "transit_transcripts";
    const TABLES: &'static [shared::config::TableRef] = &[attr::TRANSCRIPTS];
    const MAX_RECORD_BYTES: usize = crate::model::MAX_TRANSCRIPT_BYTES + 64 * 1024;
    type Record = ImportedTranscript;

    fn complete(record: ImportedTranscript, _convex_id: &str) -> Result<Self::Record, String> {
        transcript(&record.record).map_err(|e| e.to_string())?;
        Ok(record)
    }

    fn key(doc: &ImportedTranscript) -> String {
        format!(
            "{} {}, transcriptId {}",
            attr::USER_ID,
            doc.record.user_id.as_str(),
            doc.record.transcript_id.as_str()
        )
    }

    fn select(docs: Vec<Doc<ImportedTranscript>>) -> (Vec<Doc<ImportedTranscript>>, Vec<Skipped>) {
        let mut users: BTreeMap<Key, Vec<Doc<ImportedTranscript>>> = BTreeMap::new();
        for doc in docs {
            users
                .entry(doc.record.record.user_id.clone())
                .or_default()
                .push(doc);
        }
        let (mut kept, mut skipped) = (Vec::new(), Vec::new());
        for (user_id, mut docs) in users {
            docs.sort_by(|a, b| {
                a.created_ms
                    .total_cmp(&b.created_ms)
                    .then(a.line.cmp(&b.line))
            });
            let mut index = Index::default();
            for doc in &mut docs {
                let saved = transcript(&doc.record.record).ok().map(|t| {
                    index.plan_save(&Candidate {
                        id: t.id,
                        created_at: t.created_at,
                        chunks: dynamo::chunks(t.json.len()),
                        size: t.json.len() as u64,
                        wire: t.json.wire_len() as u64,
                    })
                });
                match saved {
                    Some(SavePlan::Write {
                        index: next, entry, ..
                    }) => {
                        index = next;
                        doc.record.entry = Some(entry);
                    }
                    // Trimmed at once, as `saveTranscript` would; `None` was refused by `complete`.
                    Some(SavePlan::Trimmed) | None => {}
                }
            }
            let mut user_docs = Vec::new();
            for mut doc in docs {
                let live = doc.record.entry.as_ref().is_some_and(|entry| {
                    index
                        .entries
                        .iter()
                        .any(|e| e.seq == entry.seq && e.id == entry.id)
                });
                if live {
                    user_docs.push(doc);
                } else {
                    doc.record.entry = None;
                    skipped.push(Skipped {
                        line: doc.line,
                        reason: format!(
                            "over the {MAX_TRANSCRIPTS}-transcript cap of {} {}: after its {MAX_TRANSCRIPTS} newest transcripts",
                            attr::USER_ID,
                            user_id.as_str()
                        ),
                    });
                }
            }
            if let Some(last) = user_docs.last_mut() {
                last.record.index = Some(index);
            }
            kept.extend(user_docs);
        }
        kept.sort_by_key(|doc| doc.line);
        (kept, skipped)
    }

    fn items(doc: &Doc<ImportedTranscript>) -> Result<Vec<(usize, Item)>, StoreError> {
        let record = &doc.record;
        let entry = record.entry.as_ref().ok_or_else(|| {
            StoreError::Internal("an imported transcript without its entry".into())
        })?;
        let user_id = &record.record.user_id;
        let json = transcript(&record.record)?.json;
        let key = |sk: String| {
            Item::from([
                (attr::USER_ID.to_owned(), s(user_id.as_str())),
                (attr::SK.to_owned(), s(sk)),
            ])
        };
        let mut items = Vec::new();
        for (part, bytes) in json
            .as_str()
            .as_bytes()
            .chunks(dynamo::CHUNK_BYTES)
            .enumerate()
        {
            let mut item = key(attr::body_sk(entry.body, part as u32));
            item.insert(attr::DATA.to_owned(), AttributeValue::B(Blob::new(bytes)));
            items.push((0, item));
        }
        if let Some(index) = &record.index {
            let mut item = dynamo::index_to_item(index)?;
            item.extend(key(attr::INDEX.to_owned()));
            items.push((0, item));
        }
        Ok(items)
    }

    fn put_embedded(
        txn: &shared::embedded::WriteTransaction,
        doc: &Doc<ImportedTranscript>,
    ) -> Result<(), StoreError> {
        let record = &doc.record;
        let entry = record.entry.as_ref().ok_or_else(|| {
            StoreError::Internal("an imported transcript without its entry".into())
        })?;
        let user_id = &record.record.user_id;
        embedded::write_body(txn, user_id, entry.body, &transcript(&record.record)?.json)?;
        if let Some(index) = &record.index {
            embedded::write_index(txn, user_id, index)?;
        }
        Ok(())
    }
}

/// A calendar token document of the export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImportedToken {
    /// The user.
    pub user_id: Key,
    /// The ciphertext (secret).
    pub encrypted_payload: Secret,
    /// Expiry, ms.
    pub expires_at: Num,
    /// Scopes.
    pub scope: Vec<String>,
    /// Last set, ms.
    pub updated_at: Num,
}

/// The Convex `transit_calendar_tokens` table.
pub struct CalendarTokenImport;

impl ImportTable for CalendarTokenImport {
    const CONVEX_TABLE: &'static str = "transit_calendar_tokens";
    const TABLES: &'static [shared::config::TableRef] = &[attr::CALENDAR_TOKENS];
    type Record = ImportedToken;

    fn key(token: &ImportedToken) -> String {
        format!("{} {}", attr::USER_ID, token.user_id.as_str())
    }

    fn items(doc: &Doc<ImportedToken>) -> Result<Vec<(usize, Item)>, StoreError> {
        let token = &doc.record;
        let scope = token.scope.iter().map(|scope| s(scope.as_str())).collect();
        Ok(vec![(
            0,
            Item::from([
                (attr::USER_ID.to_owned(), s(token.user_id.as_str())),
                (
                    attr::ENCRYPTED_PAYLOAD.to_owned(),
                    s(token.encrypted_payload.expose()),
                ),
                (attr::EXPIRES_AT.to_owned(), n(token.expires_at)),
                (attr::SCOPE.to_owned(), AttributeValue::L(scope)),
                (attr::UPDATED_AT.to_owned(), n(token.updated_at)),
                (attr::CREATED_BY.to_owned(), s(attr::IMPORTED)),
            ]),
        )])
    }

    fn put_embedded(
        txn: &shared::embedded::WriteTransaction,
        doc: &Doc<ImportedToken>,
    ) -> Result<(), StoreError> {
        let token = &doc.record;
        shared::embedded::put(
            txn,
            embedded::CALENDAR_TOKENS,
            token.user_id.as_str(),
            &CalendarToken {
                encrypted_payload: token.encrypted_payload.clone(),
                expires_at: token.expires_at,
                scope: token.scope.clone(),
                updated_at: token.updated_at,
            },
        )
    }
}
