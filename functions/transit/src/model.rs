//! Domain types of the transit group (CONTRACT.md §7.1), parsed at the edge: transcripts as the app
//! sends them, as they are returned, and the calendar token.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use shared::parse::not_null;
use shared::{ApiError, Key, Num};
use std::fmt;

/// At most this many transcripts are kept per user (CONTRACT.md §7.3).
pub const MAX_TRANSCRIPTS: usize = 200;
/// The largest transcript stored: its JSON as returned ([`Transcript`]) is at most 1 MiB
/// (CONTRACT.md §7.11 decision 5). Larger ones are a `413` and nothing is written.
pub const MAX_TRANSCRIPT_BYTES: usize = 1024 * 1024;
/// The largest request body of `/transit/saveTranscript` (and of its function): room for a
/// transcript of [`MAX_TRANSCRIPT_BYTES`] however its client escaped it. Other routes keep
/// [`shared::service::MAX_BODY_BYTES`].
pub const MAX_SAVE_BODY_BYTES: usize = 2 * 1024 * 1024;
/// `listTranscripts` returns the newest transcripts whose JSON array fits in this many bytes
/// (CONTRACT.md §7.11 decision 4) ...
pub const LIST_BUDGET_BYTES: usize = 5 * 1024 * 1024;
/// ... and whose JSON array, written inside the JSON string that carries a Lambda response's body
/// (every `"` and `\` doubled), fits in this many: Lambda refuses a response over 6 MiB in all, and
/// this leaves 64 KiB for the response's own fields and the function protocol's envelope.
pub const LIST_WIRE_BUDGET_BYTES: usize = 6 * 1024 * 1024 - 64 * 1024;

/// One timed segment of a transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Segment {
    /// Position in the transcript.
    pub index: Num,
    /// Start, ms.
    pub start_ms: Num,
    /// End, ms.
    pub end_ms: Num,
    /// The words.
    pub text: String,
}

/// One action item of a summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ActionItem {
    /// What to do.
    pub text: String,
    /// Who, as the transcript suggests.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub owner_hint: Option<String>,
    /// When, as the transcript suggests.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub due_date_hint: Option<String>,
}

/// A meeting the summary recommends scheduling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScheduleRecommendation {
    /// The event's title.
    pub title: String,
    /// When, as free text.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_window: Option<String>,
    /// How long.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub duration_minutes: Option<Num>,
    /// Who.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub participants: Option<Vec<String>>,
}

/// The summary of a transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Summary {
    /// The text.
    pub summary: String,
    /// What to do next.
    pub action_items: Vec<ActionItem>,
    /// A meeting to schedule.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub schedule_recommendation: Option<ScheduleRecommendation>,
}

/// A cleaned-up version of a transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Cleanup {
    /// What the cleanup was asked to do.
    pub instruction: String,
    /// The result.
    pub output: String,
    /// A label for it.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub label: Option<String>,
}

/// A transcript as `saveTranscript` receives it (`TranscriptInput`): no field is nullable, and
/// omitted optionals mean "none" (an update removes them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TranscriptInput {
    /// The owner.
    pub user_id: Key,
    /// The caller's id of the transcript, unique per user.
    pub transcript_id: Key,
    /// Its title.
    pub title: String,
    /// The whole text.
    pub transcript: String,
    /// Timed segments.
    pub segments: Vec<Segment>,
    /// The summary.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub summary: Option<Summary>,
    /// The cleanup.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub cleanup: Option<Cleanup>,
    /// Language code.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub language: Option<String>,
    /// Length of the audio, ms.
    pub duration_ms: Num,
    /// Recognition confidence.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub confidence: Option<Num>,
    /// The caller's creation time: an opaque string of any length (ISO-8601 by convention),
    /// ordered as UTF-8 bytes, never parsed.
    pub created_at: String,
    /// Where it came from (`microphone`, `upload`, or anything else).
    pub source: String,
}

/// A transcript as returned (`Transcript`): `id` is the `transcriptId`, there is no `userId`,
/// `summary`, `cleanup` and `language` are `null` when absent and `confidence` is omitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Transcript {
    /// The `transcriptId`.
    pub id: Key,
    /// Its title.
    pub title: String,
    /// The whole text.
    pub transcript: String,
    /// Timed segments.
    pub segments: Vec<Segment>,
    /// The summary, `null` when none.
    pub summary: Option<Summary>,
    /// The cleanup, `null` when none.
    pub cleanup: Option<Cleanup>,
    /// Language code, `null` when none.
    pub language: Option<String>,
    /// Length of the audio, ms.
    pub duration_ms: Num,
    /// Recognition confidence, omitted when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Num>,
    /// The caller's creation time.
    pub created_at: String,
    /// Where it came from.
    pub source: String,
}

impl From<TranscriptInput> for Transcript {
    fn from(input: TranscriptInput) -> Self {
        Transcript {
            id: input.transcript_id,
            title: input.title,
            transcript: input.transcript,
            segments: input.segments,
            summary: input.summary,
            cleanup: input.cleanup,
            language: input.language,
            duration_ms: input.duration_ms,
            confidence: input.confidence,
            created_at: input.created_at,
            source: input.source,
        }
    }
}

/// A transcript's JSON as returned, exactly as stored: the list answers with the stored bytes,
/// never parsing and re-writing up to 5 MiB of them.
#[derive(Clone)]
pub struct TranscriptJson(Box<RawValue>);

impl TranscriptJson {
    /// The JSON of `transcript`.
    pub fn of(transcript: &Transcript) -> Result<Self, ApiError> {
        serde_json::value::to_raw_value(transcript)
            .map(Self)
            .map_err(|e| ApiError::Internal(format!("transcript does not serialize: {e}")))
    }

    /// Stored bytes read back; anything that is not one JSON value is a corrupt item.
    pub fn from_stored(bytes: Vec<u8>) -> Result<Self, shared::StoreError> {
        let corrupt = |e: &dyn fmt::Display| {
            shared::StoreError::Internal(format!("a stored transcript does not read back: {e}"))
        };
        let text = String::from_utf8(bytes).map_err(|e| corrupt(&e))?;
        RawValue::from_string(text)
            .map(Self)
            .map_err(|e| corrupt(&e))
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.0.get().len()
    }

    /// Never true: a transcript's JSON is an object.
    pub fn is_empty(&self) -> bool {
        self.0.get().is_empty()
    }

    /// Its length written inside a JSON string (see [`wire_len`]).
    pub fn wire_len(&self) -> usize {
        wire_len(self.as_str())
    }

    /// The transcript.
    pub fn parse(&self) -> Result<Transcript, shared::StoreError> {
        serde_json::from_str(self.as_str()).map_err(|e| {
            shared::StoreError::Internal(format!("a stored transcript does not read back: {e}"))
        })
    }

    /// Its `createdAt` alone (what ordering needs; the other fields are skipped unread).
    pub fn created_at(&self) -> Result<String, shared::StoreError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct CreatedAt {
            created_at: String,
        }
        serde_json::from_str::<CreatedAt>(self.as_str())
            .map(|t| t.created_at)
            .map_err(|e| {
                shared::StoreError::Internal(format!("a stored transcript does not read back: {e}"))
            })
    }
}

impl Serialize for TranscriptJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl fmt::Debug for TranscriptJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TranscriptJson({} bytes)", self.len())
    }
}

impl PartialEq for TranscriptJson {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

/// The length of JSON text `json` once written inside a JSON string, as the Lambda runtime writes a
/// response body: serde_json's JSON has no raw control characters, so only `"` and `\` grow (to two
/// bytes each).
pub fn wire_len(json: &str) -> usize {
    json.len() + json.bytes().filter(|b| matches!(b, b'"' | b'\\')).count()
}

/// A transcript ready to store: its owner, id, creation time, and its JSON as returned (at most
/// [`MAX_TRANSCRIPT_BYTES`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NewTranscript {
    /// The owner.
    pub user_id: Key,
    /// The `transcriptId`.
    pub id: Key,
    /// The caller's creation time, the list's order.
    pub created_at: String,
    /// The JSON returned for it.
    pub json: TranscriptJson,
}

impl NewTranscript {
    /// Checks `input`'s size: over [`MAX_TRANSCRIPT_BYTES`] of JSON is a `413`.
    pub fn parse(input: TranscriptInput) -> Result<Self, ApiError> {
        let user_id = input.user_id.clone();
        let created_at = input.created_at.clone();
        let transcript = Transcript::from(input);
        let json = TranscriptJson::of(&transcript)?;
        if json.len() > MAX_TRANSCRIPT_BYTES {
            return Err(ApiError::PayloadTooLarge(format!(
                "the transcript is {} bytes of JSON, over the {MAX_TRANSCRIPT_BYTES} byte (1 MiB) limit",
                json.len()
            )));
        }
        Ok(Self {
            user_id,
            id: transcript.id,
            created_at,
            json,
        })
    }
}

/// What [`crate::TransitStore::save_transcript`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// A new transcript, inserted (and the user's transcripts past the 200th deleted).
    Inserted,
    /// A transcript with this id existed: replaced, its insertion position kept.
    Updated,
    /// A new transcript that sorts after the 200 kept: deleted at once, so nothing was written.
    Trimmed,
}

/// How many transcripts `listTranscripts` returns for its `limit` (before the size budget):
/// absent → all; else `max(0, limit)` truncated toward zero, at most [`MAX_TRANSCRIPTS`]
/// (`NaN` → 0, `+Infinity` → all, over the function protocol).
pub fn list_limit(limit: Option<f64>) -> usize {
    match limit {
        None => MAX_TRANSCRIPTS,
        Some(value) if value.is_nan() || value < 1.0 => 0,
        Some(value) => value.trunc().min(MAX_TRANSCRIPTS as f64) as usize,
    }
}

/// A secret string (the calendar token's `encryptedPayload`): serialized as it is, shown as
/// `<redacted>` by `Debug` and `Display`, so that no log line or error message can carry it by
/// accident (CONTRACT.md §7.7).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, to store or return it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The user's Google Calendar token (`CalendarToken`): no `userId`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CalendarToken {
    /// AES-256-GCM ciphertext of the Google access and refresh tokens (the app holds the key).
    pub encrypted_payload: Secret,
    /// When the access token expires, ms (the caller refreshes it).
    pub expires_at: Num,
    /// The granted scopes, in the caller's order.
    pub scope: Vec<String>,
    /// When it was last set, ms (set by the service).
    pub updated_at: Num,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_limit_truncates_toward_zero_and_keeps_nan_and_infinity_rules() {
        assert_eq!(list_limit(None), 200);
        assert_eq!(list_limit(Some(2.9)), 2);
        assert_eq!(list_limit(Some(0.0)), 0);
        assert_eq!(list_limit(Some(0.9)), 0);
        assert_eq!(list_limit(Some(-3.0)), 0);
        assert_eq!(list_limit(Some(f64::NAN)), 0);
        assert_eq!(list_limit(Some(f64::INFINITY)), 200);
        assert_eq!(list_limit(Some(f64::NEG_INFINITY)), 0);
        assert_eq!(list_limit(Some(1e9)), 200);
    }

    #[test]
    fn the_returned_transcript_has_nulls_for_three_fields_and_omits_confidence() {
        let input: TranscriptInput = serde_json::from_value(serde_json::json!({
            "userId": "u", "transcriptId": "t", "title": "", "transcript": "x", "segments": [],
            "durationMs": 1.5, "createdAt": "", "source": "other"
        }))
        .unwrap();
        let json = NewTranscript::parse(input).unwrap().json;
        assert_eq!(
            json.as_str(),
            r#"{"id":"t","title":"","transcript":"x","segments":[],"summary":null,"cleanup":null,"language":null,"durationMs":1.5,"createdAt":"","source":"other"}"#
        );
        assert_eq!(json.wire_len(), json.len() + 30, "30 quotes, each doubled");
    }

    #[test]
    fn secrets_never_show_in_debug_or_display() {
        let token = CalendarToken {
            encrypted_payload: Secret::new("s3cr3t"),
            expires_at: Num(1.0),
            scope: vec![],
            updated_at: Num(2.0),
        };
        assert!(!format!("{token:?}").contains("s3cr3t"));
        assert!(!format!("{}", token.encrypted_payload).contains("s3cr3t"));
        assert!(serde_json::to_string(&token).unwrap().contains("s3cr3t"));
    }
}
