//! The users group's domain types and rules, parsed at the edge.

use serde::{Deserialize, Serialize};
use shared::parse::not_null;
use shared::{Key, Num};

/// A stored user (CONTRACT.md §5, `User`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The Clerk user id; the key.
    pub clerk_id: Key,
    /// Email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// First name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Avatar URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// Last `ensure`, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login_at: Option<Num>,
    /// First `ensure`, ms.
    pub created_at: Num,
    /// Last change, ms.
    pub updated_at: Num,
}

/// The profile `/users/ensure` receives: given fields overwrite, missing ones are kept.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Profile {
    /// The Clerk user id.
    pub clerk_id: Key,
    /// Email address.
    #[serde(default, deserialize_with = "not_null")]
    pub email: Option<String>,
    /// First name.
    #[serde(default, deserialize_with = "not_null")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default, deserialize_with = "not_null")]
    pub last_name: Option<String>,
    /// Avatar URL.
    #[serde(default, deserialize_with = "not_null")]
    pub image_url: Option<String>,
}

impl Profile {
    /// A profile with only its id.
    pub fn new(clerk_id: &str) -> Self {
        Self {
            clerk_id: Key::parse(clerk_id).expect("a valid clerk id"),
            email: None,
            first_name: None,
            last_name: None,
            image_url: None,
        }
    }
}
