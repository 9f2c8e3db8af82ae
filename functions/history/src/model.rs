//! The history group's domain types and rules, parsed at the edge.

use serde::{Deserialize, Serialize};
use shared::parse::not_null;
use shared::{Key, Num};
use std::cmp::Ordering;

/// At most this many entries are kept per user; `list` returns at most this many.
pub const MAX_ENTRIES: usize = 200;

/// One history entry (CONTRACT.md §5, `HistoryEntry`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HistoryEntry {
    /// Opaque id chosen by the caller, unique per user.
    pub id: Key,
    /// The owner.
    pub user_id: Key,
    /// The speech provider.
    pub provider: String,
    /// The provider's voice.
    pub voice_id: String,
    /// The spoken text.
    pub text: String,
    /// ISO-8601 time set by the caller; entries are ordered by it as a string. An index key, hence
    /// a [`Key`]: non-empty, at most 1024 bytes.
    pub created_at: Key,
    /// Length of the audio, ms.
    pub duration_ms: Num,
    /// Subtitles of the audio.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub transcript: Option<Transcript>,
}

/// Subtitles of an entry: both optional, neither nullable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transcript {
    /// SubRip text.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub srt: Option<String>,
    /// WebVTT text.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub vtt: Option<String>,
}

/// The newest-first order of entries: `createdAt` descending, then `id` descending (a total order,
/// so that every reader, and every concurrent trim, agrees on which entries are the newest 200).
pub fn newest_first(a: &HistoryEntry, b: &HistoryEntry) -> Ordering {
    by_recency(
        (a.created_at.as_str(), a.id.as_str()),
        (b.created_at.as_str(), b.id.as_str()),
    )
}

/// [`newest_first`] on (`createdAt`, `id`) pairs.
pub(crate) fn by_recency(a: (&str, &str), b: (&str, &str)) -> Ordering {
    b.cmp(&a)
}

/// How many entries `/history/list` returns for its `limit` argument: floored, negative counts as
/// 0, at most [`MAX_ENTRIES`]; none given means [`MAX_ENTRIES`].
pub fn list_limit(limit: Option<Num>) -> usize {
    match limit {
        None => MAX_ENTRIES,
        Some(Num(value)) if value.is_nan() || value < 1.0 => 0,
        Some(Num(value)) => value.floor().min(MAX_ENTRIES as f64) as usize,
    }
}

/// What [`HistoryStore::record`](crate::HistoryStore::record) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The entry was new: inserted, then the user was trimmed to [`MAX_ENTRIES`].
    Inserted,
    /// An entry with this (userId, id) existed: its fields were replaced.
    Replaced,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_limit_is_floored_negative_is_zero_and_at_most_200() {
        assert_eq!(list_limit(None), 200);
        assert_eq!(list_limit(Some(Num(0.0))), 0);
        assert_eq!(list_limit(Some(Num(-3.0))), 0);
        assert_eq!(list_limit(Some(Num(0.9))), 0);
        assert_eq!(list_limit(Some(Num(2.9))), 2);
        assert_eq!(list_limit(Some(Num(7.0))), 7);
        assert_eq!(list_limit(Some(Num(1e9))), 200);
        assert_eq!(list_limit(Some(Num(f64::INFINITY))), 200);
    }
}
