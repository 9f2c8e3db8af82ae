//! The provisioning group's domain types and rules, parsed at the edge.

use serde::{Deserialize, Deserializer, Serialize};
use shared::parse::not_null;
use shared::{Key, Num};

/// Longest credential or usage id: the id is part of a sort key (at most 1024 bytes) after the
/// 17 bytes of the creation time.
pub const MAX_RECORD_ID_BYTES: usize = 1000;

/// Longest credential provider: with the user id it forms a partition key (at most 2048 bytes).
pub const MAX_PROVIDER_BYTES: usize = 1000;

/// The id of a credential or a usage record: non-empty, at most [`MAX_RECORD_ID_BYTES`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RecordId(String);

impl RecordId {
    /// Checks `value`.
    pub fn parse(value: impl Into<String>) -> Result<Self, String> {
        let value = value.into();
        if value.is_empty() {
            Err("must not be empty".into())
        } else if value.len() > MAX_RECORD_ID_BYTES {
            Err(format!("must be at most {MAX_RECORD_ID_BYTES} bytes"))
        } else {
            Ok(Self(value))
        }
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for RecordId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Self::parse(value).map_err(serde::de::Error::custom)
    }
}

/// A credential's provider: at most [`MAX_PROVIDER_BYTES`] bytes (it may be empty).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Provider(String);

impl Provider {
    /// Checks `value`.
    pub fn parse(value: impl Into<String>) -> Result<Self, String> {
        let value = value.into();
        if value.len() > MAX_PROVIDER_BYTES {
            Err(format!("must be at most {MAX_PROVIDER_BYTES} bytes"))
        } else {
            Ok(Self(value))
        }
    }

    /// The provider's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Provider {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Self::parse(value).map_err(serde::de::Error::custom)
    }
}

/// A credential's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// In use: `findActive` can return it.
    Active,
    /// Revoked: `findActive` never returns it.
    Revoked,
}

/// Free-form details of a credential.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metadata {
    /// A description.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    /// Where the credential came from.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub source: Option<String>,
    /// A plan tier.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub plan_tier: Option<String>,
    /// Scopes.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub scopes: Option<Vec<String>>,
}

/// A provider credential (CONTRACT.md §5, `Credential`), as the caller sends it and as it is
/// returned (the hidden attributes of the table never are).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Credential {
    /// Opaque id chosen by the caller; the key.
    pub id: RecordId,
    /// The owner.
    pub user_id: Key,
    /// The provider (e.g. `elevenlabs`).
    pub provider: Provider,
    /// The token's hash, computed by the client.
    pub token_hash: String,
    /// The hash's salt.
    pub salt: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The plan tier it was issued for.
    pub plan_tier: String,
    /// Issued, ms.
    pub issued_at: Num,
    /// Expires, ms (the caller checks expiry).
    pub expires_at: Num,
    /// Active or revoked.
    pub status: Status,
    /// The provider's own reference.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub provider_reference: Option<String>,
    /// Free-form details.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub metadata: Option<Metadata>,
    /// Last rotation, ms.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_rotated_at: Option<Num>,
}

impl Credential {
    /// This record saved over `stored`: the optional fields it lacks are taken from `stored`.
    pub fn kept_over(mut self, stored: &Credential) -> Self {
        if self.provider_reference.is_none() {
            self.provider_reference = stored.provider_reference.clone();
        }
        if self.metadata.is_none() {
            self.metadata = stored.metadata.clone();
        }
        if self.last_rotated_at.is_none() {
            self.last_rotated_at = stored.last_rotated_at;
        }
        self
    }
}

/// A usage record (CONTRACT.md §5, `Usage`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Usage {
    /// The caller's id, or a UUID v4 from the service.
    pub id: RecordId,
    /// The user charged.
    pub user_id: Key,
    /// The provider used.
    pub provider: String,
    /// Tokens used.
    pub tokens_used: Num,
    /// Cost, in minor units of a currency.
    pub cost_minor_units: Num,
    /// When it was used, ms (the caller's time).
    pub recorded_at: Num,
}

/// The usage `/provisioning/recordUsage` receives: a [`Usage`] whose id may be omitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UsageEntry {
    /// The caller's id; the service generates a UUID v4 when it is omitted.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<RecordId>,
    /// The user charged.
    pub user_id: Key,
    /// The provider used.
    pub provider: String,
    /// Tokens used.
    pub tokens_used: Num,
    /// Cost, in minor units of a currency.
    pub cost_minor_units: Num,
    /// When it was used, ms.
    pub recorded_at: Num,
}

impl UsageEntry {
    /// The record to store: the entry with its id, or a fresh UUID v4.
    pub fn into_usage(self) -> Usage {
        let id = self
            .id
            .unwrap_or_else(|| RecordId(uuid::Uuid::new_v4().to_string()));
        Usage {
            id,
            user_id: self.user_id,
            provider: self.provider,
            tokens_used: self.tokens_used,
            cost_minor_units: self.cost_minor_units,
            recorded_at: self.recorded_at,
        }
    }
}

/// How many records `list` and `listUsage` return: absent or not finite → [`Limit::DEFAULT`],
/// otherwise floored and clamped to [1, [`Limit::MAX`]].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(usize);

impl Limit {
    /// When no limit is given (or it is not finite).
    pub const DEFAULT: usize = 200;
    /// The largest limit.
    pub const MAX: usize = 1000;

    /// The limit a caller's number stands for.
    pub fn from_number(value: f64) -> Self {
        if value.is_finite() {
            Self(value.floor().clamp(1.0, Self::MAX as f64) as usize)
        } else {
            Self(Self::DEFAULT)
        }
    }

    /// The limit of an optional argument.
    pub fn from_arg(value: Option<f64>) -> Self {
        value.map_or_else(Self::default, Self::from_number)
    }

    /// How many records.
    pub fn get(self) -> usize {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self(Self::DEFAULT)
    }
}

/// A limit is any JSON number (it cannot be `null`); omitted, it is the default (`#[serde(default)]`).
impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        f64::deserialize(deserializer).map(Self::from_number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_rule_defaults_floors_and_clamps() {
        assert_eq!(Limit::from_arg(None).get(), 200);
        for (given, expected) in [
            (0.0, 1),
            (2.7, 2),
            (1.0, 1),
            (1000.0, 1000),
            (1000.9, 1000),
            (5000.0, 1000),
            (-3.0, 1),
            (-0.5, 1),
            (0.99, 1),
        ] {
            assert_eq!(Limit::from_number(given).get(), expected, "{given}");
        }
    }

    #[test]
    fn a_limit_that_is_not_finite_is_the_default() {
        for given in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(Limit::from_arg(Some(given)).get(), 200, "{given}");
        }
    }

    #[test]
    fn ids_and_providers_past_their_key_room_are_refused() {
        assert!(RecordId::parse("").is_err());
        assert!(RecordId::parse("x".repeat(MAX_RECORD_ID_BYTES)).is_ok());
        assert!(RecordId::parse("x".repeat(MAX_RECORD_ID_BYTES + 1)).is_err());
        assert!(Provider::parse("").is_ok());
        assert!(Provider::parse("p".repeat(MAX_PROVIDER_BYTES + 1)).is_err());
    }

    #[test]
    fn an_entry_without_id_gets_a_uuid_v4_and_one_with_id_keeps_it() {
        let entry = UsageEntry {
            id: None,
            user_id: Key::parse("u").unwrap(),
            provider: "p".into(),
            tokens_used: Num(1.0),
            cost_minor_units: Num(2.0),
            recorded_at: Num(3.0),
        };
        let generated = entry.clone().into_usage().id;
        let parsed = uuid::Uuid::parse_str(generated.as_str()).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(generated.as_str(), parsed.hyphenated().to_string());
        let given = UsageEntry {
            id: Some(RecordId::parse("mine").unwrap()),
            ..entry
        };
        assert_eq!(given.into_usage().id.as_str(), "mine");
    }
}
