//! Strict argument parsing (CONTRACT.md §1): a request body becomes a typed argument struct or a `400`
//! whose message names the offending field.
//!
//! Argument structs derive `Deserialize` with `#[serde(deny_unknown_fields, rename_all = "camelCase")]`.
//! An optional field that must not be `null` uses `#[serde(default, deserialize_with = "not_null")]`;
//! plain `Option<T>` accepts `null` and is only for fields the contract calls nullable.

use crate::error::ApiError;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// Longest key DynamoDB accepts in a sort key, and so the longest id the service takes.
pub const MAX_KEY_BYTES: usize = 1024;

/// Parses a request body into `T`. An empty body counts as `{}`.
pub fn parse_args<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if first != Some(b'{') {
        // serde's derived structs would also take an array, field by position: refuse it first.
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                Ok(_) => ApiError::InvalidJson("request body must be a JSON object".into()),
                Err(err) => invalid_json(&err),
            },
        );
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let inner = err.inner();
        if !inner.is_data() {
            return invalid_json(inner);
        }
        if first != Some(b'{') {
            return ApiError::InvalidJson("request body must be a JSON object".into());
        }
        invalid_argument(&err)
    })?;
    de.end().map_err(|err| invalid_json(&err))?;
    Ok(value)
}

/// Deserializes arguments from `de` (decoded arguments of the function protocol, see
/// [`crate::args::Arg`]) as strictly as [`parse_args`] does from a body, with the same messages.
pub fn parse_with<'de, T, D>(de: D) -> Result<T, ApiError>
where
    T: Deserialize<'de>,
    D: Deserializer<'de, Error = serde_json::Error>,
{
    serde_path_to_error::deserialize(de).map_err(|err| invalid_argument(&err))
}

/// A `400` naming the field of a data error.
fn invalid_argument(err: &serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let message = describe(err.inner());
    let path = err.path().to_string();
    if path == "." {
        ApiError::InvalidArgument(message)
    } else {
        ApiError::InvalidArgument(format!("{path}: {message}"))
    }
}

fn invalid_json(err: &serde_json::Error) -> ApiError {
    ApiError::InvalidJson(format!(
        "request body is not valid JSON: {}",
        strip_position(err)
    ))
}

/// serde_json's message without its ` at line L column C` suffix.
fn strip_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// A readable message for a data error. A wrong type reads `expected a number, got a string`, and never
/// repeats the value that was sent (it could be a secret in the wrong field).
fn describe(err: &serde_json::Error) -> String {
    let text = strip_position(err);
    let Some(rest) = text.strip_prefix("invalid type: ") else {
        return text;
    };
    let Some((got, expected)) = rest.split_once(", expected ") else {
        return text;
    };
    let got = match got.split_whitespace().next().unwrap_or(got) {
        "string" => "a string",
        "integer" | "floating" => "a number",
        "boolean" => "a boolean",
        "null" => "null",
        "map" => "an object",
        "sequence" => "an array",
        other => other,
    };
    let expected = match expected {
        "f64" | "f32" | "i64" | "u64" | "u32" | "i32" | "usize" => "a number",
        "a boolean" | "bool" => "a boolean",
        e if e.starts_with("struct ") || e == "a map" => "an object",
        e => e,
    };
    format!("expected {expected}, got {got}")
}

/// For `Option<T>` fields that may be omitted but not sent as `null`.
pub fn not_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// A field that can be omitted, `null`, or a value: three different instructions to an update.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Patch<T> {
    /// Not sent: keep what is stored.
    #[default]
    Keep,
    /// Sent as `null`: remove what is stored.
    Remove,
    /// Sent with a value: store it.
    Set(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(deserializer)? {
            Some(value) => Patch::Set(value),
            None => Patch::Remove,
        })
    }
}

/// An id or key: a non-empty string of at most [`MAX_KEY_BYTES`] bytes (DynamoDB refuses empty and
/// longer key values, so the service refuses them at the edge with a `400`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Key(String);

impl Key {
    /// Checks `value`.
    pub fn parse(value: impl Into<String>) -> Result<Self, String> {
        let value = value.into();
        if value.is_empty() {
            Err("must not be empty".into())
        } else if value.len() > MAX_KEY_BYTES {
            Err(format!("must be at most {MAX_KEY_BYTES} bytes"))
        } else {
            Ok(Key(value))
        }
    }

    /// The key's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key's text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Key::parse(value).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Entry {
        id: Key,
        duration_ms: f64,
        #[serde(default, deserialize_with = "not_null")]
        label: Option<String>,
        #[serde(default)]
        schedule: Patch<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Args {
        entry: Entry,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NoArgs {}

    fn err(body: &str) -> ApiError {
        parse_args::<Args>(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn a_valid_body_parses_into_the_typed_arguments() {
        let args: Args =
            parse_args(br#"{"entry":{"id":"a","durationMs":12.5,"label":"x"}}"#).unwrap();
        assert_eq!(args.entry.id.as_str(), "a");
        assert_eq!(args.entry.duration_ms, 12.5);
        assert_eq!(args.entry.label.as_deref(), Some("x"));
        assert_eq!(args.entry.schedule, Patch::Keep);
    }

    #[test]
    fn an_empty_body_counts_as_an_empty_object() {
        parse_args::<NoArgs>(b"").unwrap();
        parse_args::<NoArgs>(b"  \n").unwrap();
        assert_eq!(
            err(""),
            ApiError::InvalidArgument("missing field `entry`".into())
        );
    }

    #[test]
    fn a_wrong_type_names_the_field_and_not_the_value() {
        assert_eq!(
            err(r#"{"entry":{"id":"a","durationMs":"secret-value"}}"#),
            ApiError::InvalidArgument("entry.durationMs: expected a number, got a string".into())
        );
    }

    #[test]
    fn missing_unknown_and_null_fields_are_refused() {
        assert_eq!(
            err(r#"{"entry":{"id":"a"}}"#),
            ApiError::InvalidArgument("entry: missing field `durationMs`".into())
        );
        let unknown = err(r#"{"entry":{"id":"a","durationMs":1,"extra":true}}"#);
        assert!(
            matches!(&unknown, ApiError::InvalidArgument(m) if m.starts_with("entry.extra: unknown field `extra`")),
            "{unknown:?}"
        );
        assert_eq!(
            err(r#"{"entry":{"id":"a","durationMs":1,"label":null}}"#),
            ApiError::InvalidArgument("entry.label: expected a string, got null".into())
        );
        assert_eq!(
            err(r#"{"entry":{"id":"","durationMs":1}}"#),
            ApiError::InvalidArgument("entry.id: must not be empty".into())
        );
    }

    #[test]
    fn patch_fields_tell_omitted_from_null_from_set() {
        let removed: Args =
            parse_args(br#"{"entry":{"id":"a","durationMs":1,"schedule":null}}"#).unwrap();
        assert_eq!(removed.entry.schedule, Patch::Remove);
        let set: Args =
            parse_args(br#"{"entry":{"id":"a","durationMs":1,"schedule":"daily"}}"#).unwrap();
        assert_eq!(set.entry.schedule, Patch::Set("daily".into()));
    }

    #[test]
    fn bodies_that_are_not_json_objects_are_invalid_json() {
        assert!(
            matches!(err("{not json"), ApiError::InvalidJson(m) if m.starts_with("request body is not valid JSON"))
        );
        assert_eq!(
            err("[1,2]"),
            ApiError::InvalidJson("request body must be a JSON object".into())
        );
        assert_eq!(
            err("\"text\""),
            ApiError::InvalidJson("request body must be a JSON object".into())
        );
        assert_eq!(
            err(r#"[{"id":"a","durationMs":1}]"#),
            ApiError::InvalidJson("request body must be a JSON object".into()),
            "an array is not taken field by position"
        );
        assert!(matches!(
            err(r#"{"entry":{"id":"a","durationMs":1}} trailing"#),
            ApiError::InvalidJson(_)
        ));
    }
}
