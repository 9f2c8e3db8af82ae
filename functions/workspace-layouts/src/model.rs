//! The group's records (CONTRACT.md §7.1: `Pane`, `Layout`, `LayoutRecord`), parsed at the edge.
//!
//! Every object is closed (`deny_unknown_fields`: a pane with `panelIds` is a `400`), no optional
//! field accepts `null`, strings are open and may be empty (tab and panel ids are not checked
//! against the app's sets), arrays keep their order, and numbers are [`Num`]s: finite and within
//! what DynamoDB stores, so `NaN` or `Infinity` sent over the function protocol is a `400`.

use serde::{Deserialize, Serialize};
use shared::parse::not_null;
use shared::{Key, Num};

/// A tab or a column of the workspace: its id and the panels it shows, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pane {
    /// The pane's id (an open string).
    pub id: String,
    /// The ids of its panels, in order (open strings; may be empty, may repeat).
    pub panels: Vec<String>,
}

/// A workspace layout, stored and returned exactly as saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Layout {
    /// The layout format's version (the record's `version` copies it).
    pub version: Num,
    /// The tabs (absent stays absent; `[]` is kept).
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub tabs: Option<Vec<Pane>>,
    /// The legacy, pre-tabs shape: kept only when sent.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub columns: Option<Vec<Pane>>,
    /// The tab shown.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub active_tab_id: Option<String>,
}

/// A user's stored layout (`LayoutRecord`): what `get` returns and `save` answers. Not an argument
/// type, so it reads stored items leniently; `convex-import` refuses unknown fields of a document
/// on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayoutRecord {
    /// The owner; the key.
    pub user_id: Key,
    /// The layout as saved.
    pub layout: Layout,
    /// `layout.version` when it was saved.
    pub version: Num,
    /// When it was saved, ms (the service's clock).
    pub updated_at: Num,
}

impl LayoutRecord {
    /// The record `save` stores: the layout replaced as a whole, `version` = `layout.version`,
    /// `updatedAt` = `now`. Built from the request and the clock alone, so writing it again (a
    /// retried call) writes the same item.
    pub fn saved(user_id: Key, layout: Layout, now: Num) -> Self {
        Self {
            user_id,
            version: layout.version,
            layout,
            updated_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: serde_json::Value) -> Result<Layout, shared::ApiError> {
        shared::parse::parse_args(value.to_string().as_bytes())
    }

    #[test]
    fn a_layout_reads_back_exactly_as_sent_with_absent_keys_absent() {
        for sent in [
            json!({ "version": 2, "tabs": [{ "id": "t1", "panels": ["a", "b", "a"] }], "activeTabId": "t1" }),
            json!({ "version": 1.5, "tabs": [], "columns": [{ "id": "", "panels": [] }] }),
            json!({ "version": -3 }),
        ] {
            let layout = parse(sent.clone()).unwrap();
            assert_eq!(serde_json::to_value(&layout).unwrap(), sent);
        }
    }

    #[test]
    fn unknown_keys_nulls_and_unstorable_numbers_are_refused() {
        for (sent, message) in [
            (
                json!({ "version": 1, "tabs": [{ "id": "t", "panelIds": [] }] }),
                "tabs[0].panelIds: unknown field `panelIds`",
            ),
            (
                json!({ "version": 1, "activeTabId": null }),
                "activeTabId: expected a string, got null",
            ),
            (
                json!({ "version": 1, "tabs": null }),
                "tabs: expected a sequence, got null",
            ),
            (json!({ "tabs": [] }), "missing field `version`"),
            (
                json!({ "version": 1e39 }),
                "version: must be a number between -1e38 and 1e38 (the range the database stores)",
            ),
        ] {
            match parse(sent.clone()) {
                Err(shared::ApiError::InvalidArgument(got)) => {
                    assert!(got.starts_with(message), "{sent}: {got}")
                }
                other => panic!("{sent}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_saved_record_copies_the_layouts_version_and_stamps_now() {
        let layout = parse(json!({ "version": 7, "tabs": [] })).unwrap();
        let record = LayoutRecord::saved(Key::parse("u").unwrap(), layout, Num(42.0));
        assert_eq!(
            serde_json::to_value(&record).unwrap(),
            json!({ "userId": "u", "layout": { "version": 7, "tabs": [] }, "version": 7, "updatedAt": 42 })
        );
    }
}
