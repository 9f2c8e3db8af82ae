//! The session group's domain types and rules, parsed at the edge.

use serde::{Deserialize, Serialize};
use shared::{Key, Num};

/// At most this many sessions are deleted by one `/session/prune`.
pub const PRUNE_LIMIT: usize = 500;

/// A stored session (CONTRACT.md §5, `Session`): the secret is already encrypted by the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Session {
    /// Opaque id chosen by the caller.
    pub id: Key,
    /// Opaque (encrypted) secret.
    pub secret: String,
    /// Expiry, ms.
    pub expires_at: Num,
}
