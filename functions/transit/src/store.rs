//! What the transit group needs from storage.

use crate::model::{CalendarToken, NewTranscript, Saved, TranscriptJson};
use shared::{Key, StoreError};
use std::future::Future;

/// The transit group's store: a user's transcripts (at most 200, in list order) and calendar token.
pub trait TransitStore: Send + Sync + 'static {
    /// The user's first `limit` transcripts in list order (`createdAt` descending, then the later
    /// inserted first), cut to those whose JSON fits the list budgets (see
    /// [`crate::index::Index::select`]); each exactly as saved.
    fn list_transcripts(
        &self,
        user_id: &Key,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<TranscriptJson>, StoreError>> + Send;

    /// Upserts by (userId, transcriptId). An existing transcript is replaced whole and keeps its
    /// insertion position; a new one is inserted, then the user's transcripts past the 200th in
    /// list order are deleted in the same atomic step ([`Saved::Trimmed`] when that is the new one
    /// itself: then nothing is written).
    fn save_transcript(
        &self,
        transcript: &NewTranscript,
    ) -> impl Future<Output = Result<Saved, StoreError>> + Send;

    /// Deletes every transcript of the user, all or nothing; returns how many.
    fn clear_transcripts(
        &self,
        user_id: &Key,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Deletes one transcript; false when it did not exist.
    fn remove_transcript(
        &self,
        user_id: &Key,
        transcript_id: &Key,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The user's calendar token, if any.
    fn get_calendar_token(
        &self,
        user_id: &Key,
    ) -> impl Future<Output = Result<Option<CalendarToken>, StoreError>> + Send;

    /// Stores the user's token, replacing any; true when one was replaced, false when this call
    /// created it (exactly, even when the call is repeated after a lost answer).
    fn set_calendar_token(
        &self,
        user_id: &Key,
        token: &CalendarToken,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Deletes the user's token; true when there was one.
    fn clear_calendar_token(
        &self,
        user_id: &Key,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}
