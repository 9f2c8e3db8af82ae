//! Wire arguments and replies of the transit routes, their handlers, and the route table (both
//! surfaces: `/transit/<function>` and `transit:<function>`).

use crate::model::{
    list_limit, CalendarToken, NewTranscript, Saved, Secret, TranscriptInput, TranscriptJson,
    MAX_SAVE_BODY_BYTES,
};
use crate::store::TransitStore;
use serde::{Deserialize, Serialize};
use shared::parse::not_null;
use shared::routes::Surface;
use shared::{ApiError, Key, Num, Routes, SharedClock};
use std::sync::Arc;

/// Arguments of `/transit/listTranscripts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListTranscriptsArgs {
    /// The owner.
    pub user_id: Key,
    /// How many at most (see [`list_limit`]); over the function protocol it may be `NaN` or
    /// `±Infinity`.
    #[serde(default, deserialize_with = "not_null")]
    pub limit: Option<f64>,
}

/// Arguments of `/transit/saveTranscript`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaveTranscriptArgs {
    /// The transcript.
    pub record: TranscriptInput,
}

/// Arguments of `/transit/clearTranscripts`, `/transit/getCalendarToken` and
/// `/transit/clearCalendarToken`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserArgs {
    /// The user.
    pub user_id: Key,
}

/// Arguments of `/transit/removeTranscript`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RemoveTranscriptArgs {
    /// The owner.
    pub user_id: Key,
    /// The transcript.
    pub transcript_id: Key,
}

/// Arguments of `/transit/setCalendarToken`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetCalendarTokenArgs {
    /// The user.
    pub user_id: Key,
    /// The encrypted tokens (secret: never logged, never in an error message).
    pub encrypted_payload: Secret,
    /// When the access token expires, ms.
    pub expires_at: Num,
    /// The granted scopes.
    pub scope: Vec<String>,
}

/// Reply of `/transit/saveTranscript`.
#[derive(Debug, Serialize)]
pub struct SaveTranscriptReply {
    /// The transcript as stored, or `null` when it was trimmed at once by the cap.
    pub record: Option<TranscriptJson>,
}

/// Reply of `/transit/clearTranscripts`.
#[derive(Debug, Serialize)]
pub struct ClearTranscriptsReply {
    /// How many were deleted.
    pub cleared: usize,
}

/// Reply of `/transit/removeTranscript`.
#[derive(Debug, Serialize)]
pub struct RemoveTranscriptReply {
    /// False when there was no such transcript.
    pub removed: bool,
}

/// Reply of `/transit/setCalendarToken`.
#[derive(Debug, Serialize)]
pub struct SetCalendarTokenReply {
    /// True when a token existed and was replaced, false when this call created it.
    pub updated: bool,
}

/// Reply of `/transit/clearCalendarToken`.
#[derive(Debug, Serialize)]
pub struct ClearCalendarTokenReply {
    /// Whether a token existed.
    pub cleared: bool,
}

/// The handlers' state: the store and the clock.
struct State<S> {
    store: S,
    clock: SharedClock,
}

/// The route table, over any store.
pub fn routes<S: TransitStore, T: Surface>(store: S, clock: SharedClock) -> Routes<T> {
    let state = Arc::new(State { store, clock });
    Routes::new()
        .query("/transit/listTranscripts", &state, list_transcripts)
        .mutation("/transit/saveTranscript", &state, save_transcript)
        .max_body("/transit/saveTranscript", MAX_SAVE_BODY_BYTES)
        .mutation("/transit/clearTranscripts", &state, clear_transcripts)
        .mutation("/transit/removeTranscript", &state, remove_transcript)
        .query("/transit/getCalendarToken", &state, get_calendar_token)
        .mutation("/transit/setCalendarToken", &state, set_calendar_token)
        .mutation("/transit/clearCalendarToken", &state, clear_calendar_token)
}

async fn list_transcripts<S: TransitStore>(
    state: Arc<State<S>>,
    args: ListTranscriptsArgs,
) -> Result<Vec<TranscriptJson>, ApiError> {
    let limit = list_limit(args.limit);
    if limit == 0 {
        return Ok(Vec::new());
    }
    Ok(state.store.list_transcripts(&args.user_id, limit).await?)
}

async fn save_transcript<S: TransitStore>(
    state: Arc<State<S>>,
    args: SaveTranscriptArgs,
) -> Result<SaveTranscriptReply, ApiError> {
    let transcript = NewTranscript::parse(args.record)?;
    let record = match state.store.save_transcript(&transcript).await? {
        Saved::Inserted | Saved::Updated => Some(transcript.json),
        Saved::Trimmed => None,
    };
    Ok(SaveTranscriptReply { record })
}

async fn clear_transcripts<S: TransitStore>(
    state: Arc<State<S>>,
    args: UserArgs,
) -> Result<ClearTranscriptsReply, ApiError> {
    Ok(ClearTranscriptsReply {
        cleared: state.store.clear_transcripts(&args.user_id).await?,
    })
}

async fn remove_transcript<S: TransitStore>(
    state: Arc<State<S>>,
    args: RemoveTranscriptArgs,
) -> Result<RemoveTranscriptReply, ApiError> {
    Ok(RemoveTranscriptReply {
        removed: state
            .store
            .remove_transcript(&args.user_id, &args.transcript_id)
            .await?,
    })
}

async fn get_calendar_token<S: TransitStore>(
    state: Arc<State<S>>,
    args: UserArgs,
) -> Result<Option<CalendarToken>, ApiError> {
    Ok(state.store.get_calendar_token(&args.user_id).await?)
}

async fn set_calendar_token<S: TransitStore>(
    state: Arc<State<S>>,
    args: SetCalendarTokenArgs,
) -> Result<SetCalendarTokenReply, ApiError> {
    let token = CalendarToken {
        encrypted_payload: args.encrypted_payload,
        expires_at: args.expires_at,
        scope: args.scope,
        updated_at: Num(state.clock.now_ms()),
    };
    Ok(SetCalendarTokenReply {
        updated: state
            .store
            .set_calendar_token(&args.user_id, &token)
            .await?,
    })
}

async fn clear_calendar_token<S: TransitStore>(
    state: Arc<State<S>>,
    args: UserArgs,
) -> Result<ClearCalendarTokenReply, ApiError> {
    Ok(ClearCalendarTokenReply {
        cleared: state.store.clear_calendar_token(&args.user_id).await?,
    })
}
