//! The embedded (redb) store: each call is one redb transaction, so every mutation is atomic and
//! serialized with the others.
//!
//! Tables: [`INDEXES`] (userId → the user's [`Index`], JSON, with full `createdAt` values),
//! [`BODIES`] (`len(userId):userId` + body version → a transcript's JSON, as returned), and
//! [`CALENDAR_TOKENS`] (userId → [`CalendarToken`]). Transcript records are not bound by DynamoDB's
//! 400 KB item limit here (the 1 MiB limit is the handler's), so they are written with redb's own
//! calls; calendar tokens go through [`embedded::put`], which refuses items over 400 KB as DynamoDB
//! does.

use crate::index::{Candidate, Index, SavePlan};
use crate::model::{CalendarToken, NewTranscript, Saved, TranscriptJson};
use crate::store::TransitStore;
use redb::ReadableTable;
use shared::embedded::{self, EmbeddedDb, Table};
use shared::{Key, StoreError};

/// userId → the user's transcript [`Index`].
pub const INDEXES: Table = Table::new("transit_transcript_indexes");
/// [`body_key`] → a transcript's JSON.
pub const BODIES: Table = Table::new("transit_transcript_bodies");
/// userId → the user's [`CalendarToken`].
pub const CALENDAR_TOKENS: Table = Table::new("transit_calendar_tokens");

fn internal(err: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("embedded store: {err}"))
}

/// The key of body version `body` of a user's transcript. The length prefix makes a user's keys a
/// prefix no other user's share.
pub fn body_key(user_id: &Key, body: u64) -> String {
    format!("{}:{}{body:020}", user_id.as_str().len(), user_id.as_str())
}

/// The user's index in a write transaction (the default when none).
pub fn read_index(txn: &embedded::WriteTransaction, user_id: &Key) -> Result<Index, StoreError> {
    let table = txn.open_table(INDEXES).map_err(internal)?;
    let value = table.get(user_id.as_str()).map_err(internal)?;
    match value {
        Some(bytes) => serde_json::from_slice(bytes.value()).map_err(internal),
        None => Ok(Index::default()),
    }
}

/// Writes the user's index (deleting it when it holds nothing).
pub fn write_index(
    txn: &embedded::WriteTransaction,
    user_id: &Key,
    index: &Index,
) -> Result<(), StoreError> {
    let mut table = txn.open_table(INDEXES).map_err(internal)?;
    if index.entries.is_empty() {
        table.remove(user_id.as_str()).map_err(internal)?;
    } else {
        let bytes = serde_json::to_vec(index).map_err(internal)?;
        table
            .insert(user_id.as_str(), bytes.as_slice())
            .map_err(internal)?;
    }
    Ok(())
}

/// Writes a body.
pub fn write_body(
    txn: &embedded::WriteTransaction,
    user_id: &Key,
    body: u64,
    json: &TranscriptJson,
) -> Result<(), StoreError> {
    let mut table = txn.open_table(BODIES).map_err(internal)?;
    table
        .insert(body_key(user_id, body).as_str(), json.as_str().as_bytes())
        .map_err(internal)?;
    Ok(())
}

fn delete_body(
    txn: &embedded::WriteTransaction,
    user_id: &Key,
    body: u64,
) -> Result<(), StoreError> {
    let mut table = txn.open_table(BODIES).map_err(internal)?;
    table
        .remove(body_key(user_id, body).as_str())
        .map_err(internal)?;
    Ok(())
}

/// The embedded store.
#[derive(Clone)]
pub struct EmbeddedTransitStore {
    db: EmbeddedDb,
}

impl EmbeddedTransitStore {
    /// A store in `db`.
    pub fn new(db: EmbeddedDb) -> Result<Self, StoreError> {
        db.ensure_tables(&[INDEXES, BODIES, CALENDAR_TOKENS])?;
        Ok(Self { db })
    }
}

impl TransitStore for EmbeddedTransitStore {
    async fn list_transcripts(
        &self,
        user_id: &Key,
        limit: usize,
    ) -> Result<Vec<TranscriptJson>, StoreError> {
        let user_id = user_id.clone();
        self.db
            .read(move |txn| {
                let indexes = txn.open_table(INDEXES).map_err(internal)?;
                let index: Index = match indexes.get(user_id.as_str()).map_err(internal)? {
                    Some(bytes) => serde_json::from_slice(bytes.value()).map_err(internal)?,
                    None => return Ok(Vec::new()),
                };
                let bodies = txn.open_table(BODIES).map_err(internal)?;
                index
                    .select(limit)
                    .iter()
                    .map(|entry| {
                        let key = body_key(&user_id, entry.body);
                        let bytes = bodies
                            .get(key.as_str())
                            .map_err(internal)?
                            .ok_or_else(|| internal("a transcript without its body"))?;
                        TranscriptJson::from_stored(bytes.value().to_vec())
                    })
                    .collect()
            })
            .await
    }

    async fn save_transcript(&self, transcript: &NewTranscript) -> Result<Saved, StoreError> {
        let transcript = transcript.clone();
        self.db
            .write(move |txn| {
                let user_id = &transcript.user_id;
                let index = read_index(txn, user_id)?;
                let candidate = Candidate {
                    id: transcript.id.clone(),
                    created_at: transcript.created_at.clone(),
                    chunks: 1,
                    size: transcript.json.len() as u64,
                    wire: transcript.json.wire_len() as u64,
                };
                match index.plan_save(&candidate) {
                    SavePlan::Trimmed => Ok(Saved::Trimmed),
                    SavePlan::Write {
                        index,
                        entry,
                        updated,
                        dropped,
                    } => {
                        for old in &dropped {
                            delete_body(txn, user_id, old.body)?;
                        }
                        write_body(txn, user_id, entry.body, &transcript.json)?;
                        write_index(txn, user_id, &index)?;
                        Ok(if updated {
                            Saved::Updated
                        } else {
                            Saved::Inserted
                        })
                    }
                }
            })
            .await
    }

    async fn clear_transcripts(&self, user_id: &Key) -> Result<usize, StoreError> {
        let user_id = user_id.clone();
        self.db
            .write(move |txn| {
                let (index, removed) = read_index(txn, &user_id)?.plan_clear();
                for entry in &removed {
                    delete_body(txn, &user_id, entry.body)?;
                }
                write_index(txn, &user_id, &index)?;
                Ok(removed.len())
            })
            .await
    }

    async fn remove_transcript(
        &self,
        user_id: &Key,
        transcript_id: &Key,
    ) -> Result<bool, StoreError> {
        let (user_id, transcript_id) = (user_id.clone(), transcript_id.clone());
        self.db
            .write(move |txn| {
                let Some((index, removed)) = read_index(txn, &user_id)?.plan_remove(&transcript_id)
                else {
                    return Ok(false);
                };
                delete_body(txn, &user_id, removed.body)?;
                write_index(txn, &user_id, &index)?;
                Ok(true)
            })
            .await
    }

    async fn get_calendar_token(&self, user_id: &Key) -> Result<Option<CalendarToken>, StoreError> {
        let user_id = user_id.clone();
        self.db
            .read(move |txn| embedded::get(txn, CALENDAR_TOKENS, user_id.as_str()))
            .await
    }

    async fn set_calendar_token(
        &self,
        user_id: &Key,
        token: &CalendarToken,
    ) -> Result<bool, StoreError> {
        let (user_id, token) = (user_id.clone(), token.clone());
        self.db
            .write(move |txn| {
                let existed = embedded::get_for_update::<CalendarToken>(
                    txn,
                    CALENDAR_TOKENS,
                    user_id.as_str(),
                )?
                .is_some();
                embedded::put(txn, CALENDAR_TOKENS, user_id.as_str(), &token)?;
                Ok(existed)
            })
            .await
    }

    async fn clear_calendar_token(&self, user_id: &Key) -> Result<bool, StoreError> {
        let user_id = user_id.clone();
        self.db
            .write(move |txn| embedded::delete(txn, CALENDAR_TOKENS, user_id.as_str()))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_keys_of_one_user_never_share_a_prefix_with_another_users() {
        let key = |s: &str| Key::parse(s).unwrap();
        assert_eq!(body_key(&key("u"), 7), "1:u00000000000000000007");
        assert!(!body_key(&key("u1"), 1).starts_with("1:u"));
    }
}
