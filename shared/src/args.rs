//! Decoded arguments of the Convex function protocol: [`Arg`], JSON plus the float64 values JSON
//! cannot carry, read from the protocol's encoding by [`Arg::decode`], and a serde deserializer, so
//! that a route's argument struct is parsed from it as from a request body ([`crate::parse`]).
//! The route tables (`routes`) take it; the function protocol (`convex`, above the
//! routes and the service) makes it.

use crate::error::ApiError;
use serde::de::{self, IntoDeserializer, Visitor};
use std::collections::BTreeMap;

/// An argument value after decoding: JSON, plus the float64 values JSON cannot carry.
///
/// It is a serde [`Deserializer`](de::Deserializer) with serde_json's errors, so a route's argument
/// struct is parsed from it exactly as from a request body, with the same messages (see
/// [`crate::parse::parse_with`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A JSON number.
    Number(serde_json::Number),
    /// A `$float`: `NaN`, `±Infinity` or `-0`.
    Float(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Arg>),
    /// An object.
    Object(BTreeMap<String, Arg>),
}

impl Arg {
    /// Decodes one argument value of the protocol: `{"$float": "<base64>"}` becomes its float64;
    /// the other encoded values (`$integer`, `$bytes`, `$set`, `$map`) and any other field name
    /// starting with `$` are refused with a `400` naming the field.
    pub fn decode(value: serde_json::Value) -> Result<Arg, ApiError> {
        decode_at(value, &mut String::new())
    }
}

fn decode_at(value: serde_json::Value, path: &mut String) -> Result<Arg, ApiError> {
    use serde_json::Value;
    let at = |path: &str, message: &str| {
        if path.is_empty() {
            ApiError::InvalidArgument(message.to_owned())
        } else {
            ApiError::InvalidArgument(format!("{path}: {message}"))
        }
    };
    Ok(match value {
        Value::Null => Arg::Null,
        Value::Bool(b) => Arg::Bool(b),
        Value::Number(n) => Arg::Number(n),
        Value::String(s) => Arg::String(s),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                out.push(decode_at(item, path)?);
                path.truncate(len);
            }
            Arg::Array(out)
        }
        Value::Object(map) => {
            if map.len() == 1 {
                let (key, inner) = map.iter().next().expect("one entry");
                let special = match key.as_str() {
                    "$float" => {
                        return inner
                            .as_str()
                            .and_then(decode_float)
                            .map(Arg::Float)
                            .ok_or_else(|| {
                                at(path, "malformed $float: expected the base64 of 8 bytes")
                            })
                    }
                    "$integer" => Some("a BigInt ($integer) is not accepted: send a number"),
                    "$bytes" => Some("an ArrayBuffer ($bytes) is not accepted"),
                    "$set" => Some("a Set ($set) is not a supported value"),
                    "$map" => Some("a Map ($map) is not a supported value"),
                    _ => None,
                };
                if let Some(message) = special {
                    return Err(at(path, message));
                }
            }
            let mut out = BTreeMap::new();
            for (key, item) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&key);
                if key.starts_with('$') {
                    return Err(at(path, "field names starting with '$' are reserved"));
                }
                let item = decode_at(item, path)?;
                path.truncate(len);
                out.insert(key, item);
            }
            Arg::Object(out)
        }
    })
}

/// A float64 from the standard base64 (with padding) of its 8 little-endian bytes.
fn decode_float(text: &str) -> Option<f64> {
    let bytes: [u8; 8] = base64_decode(text)?.try_into().ok()?;
    Some(f64::from_le_bytes(bytes))
}

/// Standard base64 with padding, strictly (what the client's `Base64.fromByteArray` writes).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (n, chunk) in bytes.chunks(4).enumerate() {
        let last = n + 1 == bytes.len() / 4;
        let padding = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if padding > 2 || (padding > 0 && !last) {
            return None;
        }
        let mut bits = 0u32;
        for &c in &chunk[..4 - padding] {
            bits = (bits << 6) | sextet(c)?;
        }
        bits <<= 6 * padding as u32;
        let group = [(bits >> 16) as u8, (bits >> 8) as u8, bits as u8];
        out.extend_from_slice(&group[..3 - padding]);
    }
    Some(out)
}

impl<'de> IntoDeserializer<'de, serde_json::Error> for Arg {
    type Deserializer = Arg;

    fn into_deserializer(self) -> Arg {
        self
    }
}

impl<'de> de::Deserializer<'de> for Arg {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self {
            Arg::Null => visitor.visit_unit(),
            Arg::Bool(b) => visitor.visit_bool(b),
            Arg::Number(n) => de::Deserializer::deserialize_any(n, visitor),
            Arg::Float(f) => visitor.visit_f64(f),
            Arg::String(s) => visitor.visit_string(s),
            Arg::Array(items) => {
                let mut seq = de::value::SeqDeserializer::new(items.into_iter());
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(value)
            }
            Arg::Object(map) => {
                let mut map = de::value::MapDeserializer::new(map.into_iter());
                let value = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(value)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self {
            Arg::Null => visitor.visit_none(),
            other => visitor.visit_some(other),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self {
            Arg::String(variant) => visitor.visit_enum(
                IntoDeserializer::<serde_json::Error>::into_deserializer(variant),
            ),
            Arg::Object(map) if map.len() == 1 => {
                let (variant, value) = map.into_iter().next().expect("one entry");
                visitor.visit_enum(Variant { variant, value })
            }
            other => Err(de::Error::invalid_type(other.unexpected(), &"an enum")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map struct identifier
    }
}

impl Arg {
    fn unexpected(&self) -> de::Unexpected<'_> {
        match self {
            Arg::Null => de::Unexpected::Unit,
            Arg::Bool(b) => de::Unexpected::Bool(*b),
            Arg::Number(_) | Arg::Float(_) => de::Unexpected::Other("number"),
            Arg::String(s) => de::Unexpected::Str(s),
            Arg::Array(_) => de::Unexpected::Seq,
            Arg::Object(_) => de::Unexpected::Map,
        }
    }
}

/// An externally tagged enum variant with content: `{ "<variant>": <value> }`.
struct Variant {
    variant: String,
    value: Arg,
}

impl<'de> de::EnumAccess<'de> for Variant {
    type Error = serde_json::Error;
    type Variant = Arg;

    fn variant_seed<V: de::DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Arg), Self::Error> {
        let variant = seed.deserialize(
            IntoDeserializer::<serde_json::Error>::into_deserializer(self.variant),
        )?;
        Ok((variant, self.value))
    }
}

impl<'de> de::VariantAccess<'de> for Arg {
    type Error = serde_json::Error;

    fn unit_variant(self) -> Result<(), Self::Error> {
        // As serde_json does: `null`, else "expected unit" naming what was sent.
        de::Deserialize::deserialize(self)
    }

    fn newtype_variant_seed<T: de::DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, Self::Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        de::Deserializer::deserialize_map(self, visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_args;
    use serde::Deserialize;
    use serde_json::json;

    #[test]
    fn floats_decode_from_the_base64_of_their_little_endian_bytes() {
        for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 1.5] {
            let text = base64(&value.to_le_bytes());
            let decoded = decode_float(&text).unwrap();
            assert_eq!(decoded.to_bits(), value.to_bits(), "{text}");
        }
        assert_eq!(base64(&(-0.0f64).to_le_bytes()), "AAAAAAAAAIA=");
        assert_eq!(base64(&f64::NAN.to_le_bytes()), "AAAAAAAA+H8=");
        for bad in [
            "",
            "AAAA",
            "AAAAAAAAAIA",
            "AAAAAAAAAI==",
            "AAAAAAAA-H8=",
            "AA=AAAAAAIA=",
        ] {
            assert_eq!(decode_float(bad), None, "{bad}");
        }
        assert_eq!(base64_decode("aGk=").unwrap(), b"hi");
        assert_eq!(base64_decode("aGV5").unwrap(), b"hey");
        assert_eq!(base64_decode("aA==").unwrap(), b"h");
    }

    /// The client's encoder, for the tests.
    fn base64(bytes: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let bits = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[(bits >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn decoding_turns_floats_into_numbers_anywhere_and_refuses_other_encoded_values() {
        let decoded = Arg::decode(json!({
            "a": { "$float": "AAAAAAAAAIA=" },
            "b": [1, { "c": { "$float": "AAAAAAAA+H8=" } }],
        }))
        .unwrap();
        let Arg::Object(map) = decoded else { panic!() };
        assert!(matches!(map["a"], Arg::Float(f) if f == 0.0 && f.is_sign_negative()));
        let Arg::Array(items) = &map["b"] else {
            panic!()
        };
        assert_eq!(items[0], Arg::Number(1.into()));
        let Arg::Object(inner) = &items[1] else {
            panic!()
        };
        assert!(matches!(inner["c"], Arg::Float(f) if f.is_nan()));

        let refused = |value: serde_json::Value| match Arg::decode(value) {
            Err(ApiError::InvalidArgument(message)) => message,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            refused(json!({ "entry": { "tokensUsed": { "$integer": "AQAAAAAAAAA=" } } })),
            "entry.tokensUsed: a BigInt ($integer) is not accepted: send a number"
        );
        assert_eq!(
            refused(json!({ "x": [0, { "$bytes": "" }] })),
            "x[1]: an ArrayBuffer ($bytes) is not accepted"
        );
        assert_eq!(
            refused(json!({ "s": { "$set": [] } })),
            "s: a Set ($set) is not a supported value"
        );
        assert_eq!(
            refused(json!({ "m": { "$map": [] } })),
            "m: a Map ($map) is not a supported value"
        );
        assert_eq!(
            refused(json!({ "n": { "$float": "AAAA" } })),
            "n: malformed $float: expected the base64 of 8 bytes"
        );
        assert_eq!(
            refused(json!({ "n": { "$float": 1 } })),
            "n: malformed $float: expected the base64 of 8 bytes"
        );
        assert_eq!(
            refused(json!({ "o": { "$other": 1, "b": 2 } })),
            "o.$other: field names starting with '$' are reserved"
        );
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Entry {
        id: crate::Key,
        duration_ms: crate::Num,
        #[serde(default, deserialize_with = "crate::parse::not_null")]
        label: Option<String>,
        #[serde(default)]
        kind: Option<Shape>,
        #[serde(default)]
        tags: Vec<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase")]
    enum Shape {
        Round,
        Square,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Args {
        entry: Entry,
        limit: Option<f64>,
    }

    fn parse(value: serde_json::Value) -> Result<Args, ApiError> {
        crate::parse::parse_with(Arg::decode(value)?)
    }

    #[test]
    fn decoded_arguments_parse_as_strictly_and_with_the_same_messages_as_a_body() {
        let valid = json!({ "entry": { "id": "a", "durationMs": 2.5, "label": "x", "kind": "square", "tags": ["t"] }, "limit": 3 });
        let from_body: Args = parse_args(valid.to_string().as_bytes()).unwrap();
        assert_eq!(parse(valid).unwrap(), from_body);
        for bad in [
            json!({ "entry": { "id": "a" } }),
            json!({ "entry": { "id": "a", "durationMs": "1" } }),
            json!({ "entry": { "id": "a", "durationMs": 1, "extra": true } }),
            json!({ "entry": { "id": "a", "durationMs": 1, "label": null } }),
            json!({ "entry": { "id": "", "durationMs": 1 } }),
            json!({ "entry": { "id": "a", "durationMs": 1, "kind": "oval" } }),
            json!({ "entry": { "id": "a", "durationMs": 1, "tags": [1] } }),
            json!({ "entry": { "id": "a", "durationMs": 1e39 } }),
            json!({ "entry": [] }),
            json!({}),
            json!({ "entry": { "id": "a", "durationMs": 1, "tags": ["t", "u", 3] } }),
            json!({ "entry": { "id": "a", "durationMs": 1, "kind": { "round": 1 } } }),
            json!({ "entry": { "id": "a", "durationMs": 1 }, "limit": "3" }),
            json!({ "entry": { "id": "a", "durationMs": 1 }, "other": 1 }),
            json!({ "entry": null }),
        ] {
            let from_body = parse_args::<Args>(bad.to_string().as_bytes()).unwrap_err();
            assert_eq!(parse(bad.clone()).unwrap_err(), from_body, "{bad}");
        }
    }

    #[test]
    fn special_floats_reach_the_arguments_and_only_numbers_the_store_takes_pass() {
        let nan = json!({ "$float": "AAAAAAAA+H8=" });
        let minus_zero = json!({ "$float": "AAAAAAAAAIA=" });
        let parsed =
            parse(json!({ "entry": { "id": "a", "durationMs": minus_zero }, "limit": nan }))
                .unwrap();
        assert!(parsed.entry.duration_ms.get().is_sign_negative());
        assert!(parsed.limit.unwrap().is_nan(), "a plain f64 takes NaN");
        assert_eq!(
            parse(json!({ "entry": { "id": "a", "durationMs": nan } })).unwrap_err(),
            ApiError::InvalidArgument(
                "entry.durationMs: must be a number between -1e38 and 1e38 (the range the database stores)"
                    .into()
            )
        );
        assert_eq!(
            parse(json!({ "entry": { "id": nan, "durationMs": 1 } })).unwrap_err(),
            ApiError::InvalidArgument("entry.id: expected a string, got a number".into())
        );
    }
}
