//! The translations domain (CONTRACT.md §7.1, §7.2): records, the document they belong to, and the
//! rules of paging (page size and JavaScript `parseInt` cursors).

use serde::{Deserialize, Serialize};
use shared::parse::not_null;
use shared::{Key, Num};

/// The largest `sequenceIndex` the service hands out: the largest integer a JSON number (float64)
/// holds exactly, 16 decimal digits in the keys. A document would need nine quadrillion creates and
/// promotes to reach it.
pub const MAX_INDEX: u64 = 9_007_199_254_740_991;

/// Page size of `list` without a `limit` (or with a non-finite one).
pub const DEFAULT_PAGE: usize = 20;
/// Largest page of `list`.
pub const MAX_PAGE: usize = 100;

/// One history: the translations of one document of one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Document {
    /// The owner.
    pub account_id: Key,
    /// The document.
    pub document_id: Key,
}

impl Document {
    /// The document `document_id` of `account_id`.
    pub fn new(account_id: Key, document_id: Key) -> Self {
        Self {
            account_id,
            document_id,
        }
    }
}

/// `{ model?, tokensUsed? }`: closed, stored and returned exactly as given (`{}` included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TranslationMetadata {
    /// The model that translated.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub model: Option<String>,
    /// Tokens the translation used.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub tokens_used: Option<Num>,
}

/// What `/translations/create` receives (`TranslationInput`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TranslationInput {
    /// The id to use; a UUID v4 when omitted.
    #[serde(default, deserialize_with = "not_null")]
    pub translation_id: Option<Key>,
    /// The text translated.
    pub source_text: String,
    /// Its language (open string; the app sends `unknown`).
    pub source_language_code: String,
    /// The language translated into.
    pub target_language_code: String,
    /// The translation.
    pub translated_text: String,
    /// Whether the original was kept next to the translation.
    pub keep_original_applied: bool,
    /// The translation provider (open string).
    pub provider: String,
    /// Model and token use.
    #[serde(default, deserialize_with = "not_null")]
    pub metadata: Option<TranslationMetadata>,
}

/// A stored translation, as every route returns it (`Translation`).
///
/// Unknown fields are ignored when it is read back from a store (the DynamoDB items carry their
/// keys and bookkeeping attributes beside these); the import checks them separately.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Translation {
    /// Unique within its document.
    pub id: Key,
    /// The owner.
    pub account_id: Key,
    /// The document.
    pub document_id: Key,
    /// Its place in the document's history: distinct, ≥ 1, the highest is the active translation.
    pub sequence_index: u64,
    /// ISO-8601, set by the service at create.
    pub created_at: String,
    /// ISO-8601, set by the service at every change.
    pub updated_at: String,
    /// See [`TranslationInput`].
    pub source_text: String,
    /// See [`TranslationInput`].
    pub source_language_code: String,
    /// See [`TranslationInput`].
    pub target_language_code: String,
    /// See [`TranslationInput`].
    pub translated_text: String,
    /// See [`TranslationInput`]; `markAdopted` sets it to `false`.
    pub keep_original_applied: bool,
    /// ISO-8601, set by `markAdopted`.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub adopted_at: Option<String>,
    /// See [`TranslationInput`].
    pub provider: String,
    /// See [`TranslationInput`].
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub metadata: Option<TranslationMetadata>,
}

impl Translation {
    /// The translation `create` stores for `input` in `document` at `now` (ISO), with `id` (the
    /// caller's `translationId`, or a new UUID v4). Its `sequenceIndex` is the store's to set.
    pub fn new(document: Document, input: TranslationInput, now: &str) -> Self {
        let id = input.translation_id.unwrap_or_else(|| {
            Key::parse(uuid::Uuid::new_v4().to_string()).expect("a UUID is a valid key")
        });
        Self {
            id,
            account_id: document.account_id,
            document_id: document.document_id,
            sequence_index: 0,
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
            source_text: input.source_text,
            source_language_code: input.source_language_code,
            target_language_code: input.target_language_code,
            translated_text: input.translated_text,
            keep_original_applied: input.keep_original_applied,
            adopted_at: None,
            provider: input.provider,
            metadata: input.metadata,
        }
    }

    /// The document it belongs to.
    pub fn document(&self) -> Document {
        Document::new(self.account_id.clone(), self.document_id.clone())
    }

    /// What `markAdopted` changes: the original is no longer kept, adopted and updated `now`.
    pub fn adopt(&mut self, now: &str) {
        self.keep_original_applied = false;
        self.adopted_at = Some(now.to_owned());
        self.updated_at = now.to_owned();
    }
}

/// The page size of `list` for its `limit`: floored, then clamped to [1, [`MAX_PAGE`]]; absent or
/// not finite (`NaN`, `±Infinity`, possible over the function protocol): [`DEFAULT_PAGE`].
pub fn page_size(limit: Option<f64>) -> usize {
    match limit {
        Some(limit) if limit.is_finite() => limit.floor().clamp(1.0, MAX_PAGE as f64) as usize,
        _ => DEFAULT_PAGE,
    }
}

/// JavaScript's `parseInt(text, 10)`: leading white space skipped, an optional sign, then the
/// decimal digits up to the first other character; `NaN` when there are none.
pub fn parse_int(text: &str) -> f64 {
    let rest = text.trim_start_matches(is_js_white_space);
    let (negative, rest) = match rest.as_bytes().first() {
        Some(b'-') => (true, &rest[1..]),
        Some(b'+') => (false, &rest[1..]),
        _ => (false, rest),
    };
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return f64::NAN;
    }
    let value: f64 = rest[..digits]
        .parse()
        .expect("decimal digits parse as a float");
    if negative {
        -value
    } else {
        value
    }
}

/// ECMAScript's `WhiteSpace` and `LineTerminator`, which `parseInt` skips: TAB, VT, FF, ZWNBSP,
/// every `Zs` space, LF, CR, LS and PS (not U+0085, which Rust's `char::is_whitespace` counts).
fn is_js_white_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

/// Where a page of `list` starts, from its `cursor`: `None` for the first page (no cursor, or no
/// leading digits), else `Some(c)`: only translations with `sequenceIndex < c` (`Some(1)` and
/// below can hold none). A bound past [`MAX_INDEX`] is the first page too.
pub fn cursor_bound(cursor: Option<&str>) -> Option<u64> {
    let c = parse_int(cursor?);
    if c.is_nan() || c > MAX_INDEX as f64 {
        None
    } else if c <= 1.0 {
        Some(1)
    } else {
        Some(c as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_int_reads_as_javascript_does() {
        let cases: [(&str, f64); 16] = [
            (" 3x", 3.0),
            ("3.9", 3.0),
            ("1e3", 1.0),
            ("-2", -2.0),
            ("+7", 7.0),
            ("\u{a0}\u{feff}\u{2028}\t12", 12.0),
            ("0012", 12.0),
            ("42", 42.0),
            ("99999999999999999999", 1e20),
            ("-0", -0.0),
            ("0", 0.0),
            ("12 34", 12.0),
            ("٣", f64::NAN),
            ("0x10", 0.0),
            ("\u{85}3", f64::NAN),
            ("- 3", f64::NAN),
        ];
        for (text, expected) in cases {
            let got = parse_int(text);
            if expected.is_nan() {
                assert!(got.is_nan(), "{text:?} gave {got}");
            } else {
                assert_eq!(got, expected, "{text:?}");
                assert_eq!(
                    got.is_sign_negative(),
                    expected.is_sign_negative(),
                    "{text:?}"
                );
            }
        }
        for junk in ["", "abc", " ", "-", "+", "Infinity", ".5", "e3"] {
            assert!(parse_int(junk).is_nan(), "{junk:?}");
        }
    }

    #[test]
    fn cursors_bound_the_page_as_the_contract_says() {
        assert_eq!(cursor_bound(None), None);
        assert_eq!(cursor_bound(Some("")), None);
        assert_eq!(cursor_bound(Some("abc")), None);
        assert_eq!(cursor_bound(Some(" 3x")), Some(3));
        assert_eq!(cursor_bound(Some("3.9")), Some(3));
        assert_eq!(cursor_bound(Some("1e3")), Some(1));
        assert_eq!(cursor_bound(Some("0")), Some(1));
        assert_eq!(cursor_bound(Some("-1")), Some(1));
        assert_eq!(cursor_bound(Some("-0")), Some(1));
        assert_eq!(cursor_bound(Some("2")), Some(2));
        assert_eq!(
            cursor_bound(Some("9007199254740991")),
            Some(MAX_INDEX),
            "the largest index's own cursor"
        );
        assert_eq!(cursor_bound(Some("9007199254740992")), None);
        assert_eq!(cursor_bound(Some("123456789012345678901234567890")), None);
    }

    #[test]
    fn page_size_is_floored_clamped_and_20_when_absent_or_not_finite() {
        assert_eq!(page_size(None), 20);
        assert_eq!(page_size(Some(0.0)), 1);
        assert_eq!(page_size(Some(-3.0)), 1);
        assert_eq!(page_size(Some(0.5)), 1);
        assert_eq!(page_size(Some(2.9)), 2);
        assert_eq!(page_size(Some(50.0)), 50);
        assert_eq!(page_size(Some(250.0)), 100);
        assert_eq!(page_size(Some(f64::NAN)), 20);
        assert_eq!(page_size(Some(f64::INFINITY)), 20);
        assert_eq!(page_size(Some(f64::NEG_INFINITY)), 20);
    }

    #[test]
    fn metadata_is_closed_and_null_is_refused() {
        let empty: TranslationMetadata = serde_json::from_str("{}").unwrap();
        assert_eq!(serde_json::to_string(&empty).unwrap(), "{}");
        assert!(serde_json::from_str::<TranslationMetadata>(r#"{"x":1}"#).is_err());
        assert!(serde_json::from_str::<TranslationMetadata>(r#"{"model":null}"#).is_err());
    }
}
