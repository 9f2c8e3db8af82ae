//! Exactly-once updates: a per-call token written on the item by the same `UpdateItem`.
//!
//! The SDK sends a call again when its answer was lost, reset or late (and the store's own retry
//! rounds may write again), but the first attempt may already have been applied. An update that is
//! not idempotent (an `ADD` to a counter, a write whose answer depends on what it replaced) carries a
//! [`WriteToken`]: the update adds the token to one of the item's token sets, on the condition that
//! the set does not hold it yet. A repeat of an applied update then fails its condition, and the item
//! DynamoDB hands back (`ReturnValuesOnConditionCheckFailure = ALL_OLD`) holds the token: the store
//! answers from it as a success ([`WriteToken::applied_in`]), and nothing is applied twice.
//!
//! # Pruning
//!
//! Tokens are kept in [`BUCKETS`] string sets, `_once0` … `_once7`, one per [`BUCKET_MS`] slot of
//! the write's clock (`slot mod BUCKETS`). Every token write also removes the set half a cycle
//! ahead, so a set is emptied before it is reused, and each item holds only the tokens of the last
//! 15–20 s (3 to 4 slots) of writes: the item grows by about 20 bytes per write in that window, and
//! never more. A token is checked against its own set only: every attempt of one call carries the same
//! set (it is fixed when the call is built), and that set is removed only by a write built at least
//! 15 s later or earlier, far past [`super::OPERATION_TIMEOUT`] (4 s, retries included). The sets
//! are stripped from every item read back ([`strip`], called by [`super::from_item`]).

use super::Item;
use aws_sdk_dynamodb::types::AttributeValue;

/// Token sets per item.
pub const BUCKETS: u64 = 8;
/// The clock slot of one set, ms.
pub const BUCKET_MS: f64 = 5_000.0;
/// The attribute name prefix of the token sets (`_once0` …).
pub const PREFIX: &str = "_once";

/// The placeholder of the set this call's token goes into.
pub const ADD_NAME: &str = "#_onceAdd";
/// The placeholder of the set this call empties.
pub const DROP_NAME: &str = "#_onceDrop";
/// The value placeholder of the token, as a one-element string set.
pub const SET_VALUE: &str = ":_onceSet";
/// The value placeholder of the token, as a string.
pub const TOKEN_VALUE: &str = ":_onceToken";

/// The identity of one store call's writes: built once per call, from the call's `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteToken {
    token: String,
    bucket: u64,
}

impl WriteToken {
    /// A fresh token (64 random bits, 16 hex digits) for a call made at `now_ms`.
    pub fn new(now_ms: f64) -> Self {
        let random = uuid::Uuid::new_v4();
        let bytes = &random.as_bytes()[..8];
        let token = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Self::with(token, now_ms)
    }

    fn with(token: String, now_ms: f64) -> Self {
        let slot = (now_ms / BUCKET_MS).floor();
        let bucket = if slot.is_finite() {
            (slot as i64).rem_euclid(BUCKETS as i64) as u64
        } else {
            0
        };
        Self { token, bucket }
    }

    /// The token's text.
    pub fn as_str(&self) -> &str {
        &self.token
    }

    /// The set this token goes into (`_once<k>`).
    pub fn set_name(&self) -> String {
        format!("{PREFIX}{}", self.bucket)
    }

    fn drop_name(&self) -> String {
        format!("{PREFIX}{}", (self.bucket + BUCKETS / 2) % BUCKETS)
    }

    /// The entry for the update's `ADD` clause: `#_onceAdd :_onceSet`.
    pub fn add_clause(&self) -> String {
        format!("{ADD_NAME} {SET_VALUE}")
    }

    /// The entry for the update's `REMOVE` clause: `#_onceDrop`.
    pub fn remove_clause(&self) -> String {
        DROP_NAME.to_owned()
    }

    /// The condition to `AND` with the update's own: this token was not applied yet.
    pub fn condition(&self) -> String {
        format!("NOT contains({ADD_NAME}, {TOKEN_VALUE})")
    }

    /// The expression attribute names the clauses use.
    pub fn names(&self) -> [(String, String); 2] {
        [
            (ADD_NAME.to_owned(), self.set_name()),
            (DROP_NAME.to_owned(), self.drop_name()),
        ]
    }

    /// The expression attribute values the clauses use.
    pub fn values(&self) -> [(String, AttributeValue); 2] {
        [
            (
                SET_VALUE.to_owned(),
                AttributeValue::Ss(vec![self.token.clone()]),
            ),
            (
                TOKEN_VALUE.to_owned(),
                AttributeValue::S(self.token.clone()),
            ),
        ]
    }

    /// True when `item` (as DynamoDB returned it, before [`strip`]) holds this token: an earlier
    /// attempt of this call was applied.
    pub fn applied_in(&self, item: &Item) -> bool {
        matches!(item.get(&self.set_name()), Some(AttributeValue::Ss(tokens)) if tokens.contains(&self.token))
    }
}

/// Whether `name` is one of the token sets.
pub fn is_token_attribute(name: &str) -> bool {
    name.strip_prefix(PREFIX)
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
}

/// Removes the token sets from an item read back.
pub fn strip(item: &mut Item) {
    item.retain(|name, _| !is_token_attribute(name));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_goes_into_the_set_of_its_slot_and_empties_the_one_half_a_cycle_ahead() {
        let token = WriteToken::with("t".into(), 3.0 * BUCKET_MS + 1.0);
        assert_eq!(token.set_name(), "_once3");
        assert_eq!(
            token.names(),
            [
                ("#_onceAdd".to_owned(), "_once3".to_owned()),
                ("#_onceDrop".to_owned(), "_once7".to_owned())
            ]
        );
        let wrapped = WriteToken::with("t".into(), 13.0 * BUCKET_MS);
        assert_eq!(wrapped.set_name(), "_once5");
        assert_eq!(wrapped.drop_name(), "_once1");
        let before_epoch = WriteToken::with("t".into(), -1.0);
        assert_eq!(before_epoch.set_name(), "_once7");
    }

    #[test]
    fn a_set_is_emptied_by_writes_at_least_three_slots_away_only() {
        for slot in 0..64_i64 {
            let token = WriteToken::with("t".into(), slot as f64 * BUCKET_MS);
            for other in slot - 3..=slot + 3 {
                let writer = WriteToken::with("u".into(), other as f64 * BUCKET_MS);
                assert_ne!(writer.drop_name(), token.set_name(), "{slot} {other}");
            }
        }
    }

    #[test]
    fn applied_in_finds_the_token_in_its_own_set_only() {
        let token = WriteToken::with("abc".into(), 0.0);
        let mut item = Item::new();
        assert!(!token.applied_in(&item));
        item.insert("_once1".into(), AttributeValue::Ss(vec!["abc".into()]));
        assert!(!token.applied_in(&item));
        item.insert(
            "_once0".into(),
            AttributeValue::Ss(vec!["x".into(), "abc".into()]),
        );
        assert!(token.applied_in(&item));
        item.insert("userId".into(), AttributeValue::S("u".into()));
        item.insert("_onceler".into(), AttributeValue::S("kept".into()));
        strip(&mut item);
        let mut names: Vec<_> = item.keys().cloned().collect();
        names.sort();
        assert_eq!(names, ["_onceler", "userId"]);
    }

    #[test]
    fn new_tokens_are_sixteen_hex_digits_and_differ() {
        let (a, b) = (WriteToken::new(0.0), WriteToken::new(0.0));
        assert_eq!(a.as_str().len(), 16);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
