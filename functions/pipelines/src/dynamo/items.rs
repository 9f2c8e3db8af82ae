//! The items of the pipelines table (pipeline, secret lookup, list item) and the runs table, their
//! keys, and the transaction items that write them.

use super::attr;
use crate::collate;
use crate::model::{Pipeline, PipelineListItem, Run};
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use shared::dynamo::{n, s, to_item, Item};
use shared::{Key, StoreError};

pub(super) fn build_error(err: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("request does not build: {err}"))
}

fn key(pk: String, sk: &str) -> Item {
    Item::from([(attr::PK.to_owned(), s(pk)), (attr::SK.to_owned(), s(sk))])
}

/// The key of pipeline `id`'s item.
pub(super) fn pipeline_key(id: &str) -> Item {
    key(attr::pipeline_key(id), attr::PIPELINE_SK)
}

/// The key of the lookup item of `secret`.
pub(super) fn lookup_key(secret: &str) -> Item {
    key(attr::secret_key(secret), attr::SECRET_SK)
}

/// The key of the list item of pipeline `id` of `owner`.
pub(super) fn list_key(owner: Option<&Key>, id: &str) -> Item {
    key(attr::owner_key(owner), id)
}

/// The item of `pipeline` at `version`: its fields, its key and the version.
pub(super) fn pipeline_item(pipeline: &Pipeline, version: u64) -> Result<Item, StoreError> {
    let mut item = to_item(pipeline)?;
    item.extend(pipeline_key(pipeline.id.as_str()));
    item.insert(attr::VERSION.into(), n(version as f64));
    Ok(item)
}

/// The secret lookup item of `secret`, naming pipeline `id`.
pub(super) fn lookup_item(secret: &str, id: &Key) -> Item {
    let mut item = lookup_key(secret);
    item.insert(attr::PIPELINE_ID.to_owned(), s(id.as_str()));
    item
}

/// The list item of `pipeline`: its list fields, in its owner's partition, with the name's
/// collation key for the [`attr::BY_NAME`] index.
pub(super) fn list_item(pipeline: &Pipeline) -> Result<Item, StoreError> {
    let mut item = to_item(&PipelineListItem::from(pipeline))?;
    item.extend(list_key(pipeline.owner_id.as_ref(), pipeline.id.as_str()));
    item.insert(
        attr::NAME_KEY.into(),
        s(collate::index_key(pipeline.name.as_str())),
    );
    Ok(item)
}

/// The item of `run` in the runs table.
pub(super) fn run_item(run: &Run) -> Result<Item, StoreError> {
    let mut item = to_item(run)?;
    item.insert(attr::RUN_KEY.into(), s(run.sort_key()));
    Ok(item)
}

/// What the `convex-import` command writes for `pipeline`: the pipeline (version 1), its secret
/// lookup and its list item, all in the pipelines table. A lookup of a secret the pipeline held
/// before stays behind, and never resolves: `findByWebhookSecret` checks the pipeline's current
/// secret. The list item's key does not depend on what can change (owner and id never do), so a
/// re-import replaces it.
pub(crate) fn import_items(pipeline: &Pipeline) -> Result<Vec<(usize, Item)>, StoreError> {
    Ok(vec![
        (0, pipeline_item(pipeline, 1)?),
        (0, lookup_item(&pipeline.webhook_secret, &pipeline.id)),
        (0, list_item(pipeline)?),
    ])
}

/// The version of a pipeline item.
pub(super) fn version_of(item: &Item) -> Result<u64, StoreError> {
    item.get(attr::VERSION)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Internal("pipeline item without a version".into()))
}

/// A condition of a transaction item: the expression and its names and values.
pub(super) struct Condition {
    expression: &'static str,
    names: Vec<(&'static str, &'static str)>,
    values: Vec<(&'static str, AttributeValue)>,
}

impl Condition {
    /// The item does not exist yet.
    pub(super) fn absent() -> Self {
        Self {
            expression: "attribute_not_exists(#pk)",
            names: vec![("#pk", attr::PK)],
            values: vec![],
        }
    }

    /// The run item does not exist yet.
    pub(super) fn run_absent() -> Self {
        Self {
            expression: "attribute_not_exists(#r)",
            names: vec![("#r", attr::RUN_KEY)],
            values: vec![],
        }
    }

    /// The pipeline item is still at `version`.
    pub(super) fn version(version: u64) -> Self {
        Self {
            expression: "#version = :version",
            names: vec![("#version", attr::VERSION)],
            values: vec![(":version", n(version as f64))],
        }
    }

    /// The pipeline item's secret is still `secret`.
    pub(super) fn secret(secret: &str) -> Self {
        Self {
            expression: "#secret = :secret",
            names: vec![("#secret", attr::WEBHOOK_SECRET)],
            values: vec![(":secret", s(secret))],
        }
    }
}

/// A `Put` of `item` into `table`, on `condition` if given.
pub(super) fn put(
    table: &str,
    item: Item,
    condition: Option<Condition>,
) -> Result<TransactWriteItem, StoreError> {
    let mut put = Put::builder().table_name(table).set_item(Some(item));
    if let Some(c) = condition {
        put = put.condition_expression(c.expression);
        for (placeholder, name) in c.names {
            put = put.expression_attribute_names(placeholder, name);
        }
        for (placeholder, value) in c.values {
            put = put.expression_attribute_values(placeholder, value);
        }
    }
    Ok(TransactWriteItem::builder()
        .put(put.build().map_err(build_error)?)
        .build())
}

/// A `Delete` of the item at `key` of `table`, on `condition` if given.
pub(super) fn delete(
    table: &str,
    key: Item,
    condition: Option<Condition>,
) -> Result<TransactWriteItem, StoreError> {
    let mut delete = Delete::builder().table_name(table).set_key(Some(key));
    if let Some(c) = condition {
        delete = delete.condition_expression(c.expression);
        for (placeholder, name) in c.names {
            delete = delete.expression_attribute_names(placeholder, name);
        }
        for (placeholder, value) in c.values {
            delete = delete.expression_attribute_values(placeholder, value);
        }
    }
    Ok(TransactWriteItem::builder()
        .delete(delete.build().map_err(build_error)?)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CreateInput;

    #[test]
    fn the_list_item_holds_the_list_fields_in_its_owners_partition_and_no_secret() {
        let mut input: CreateInput = serde_json::from_value(
            serde_json::json!({ "ownerId": "alice", "name": "Émile", "steps": [] }),
        )
        .unwrap();
        input.description = Some("About".into());
        let pipeline = input.into_pipeline("2025-01-01T00:00:00.000Z");
        let item = list_item(&pipeline).unwrap();
        let mut names: Vec<&str> = item.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["description", "id", "name", "nameKey", "pk", "sk"]);
        assert_eq!(item[attr::PK], s("owner#alice"));
        assert_eq!(item[attr::SK], s(pipeline.id.as_str()));
        assert_eq!(item[attr::NAME_KEY], s("emile"));
        let unowned = CreateInput::new("x", vec![]).into_pipeline("2025-01-01T00:00:00.000Z");
        assert_eq!(list_item(&unowned).unwrap()[attr::PK], s(attr::UNOWNED));
    }
}
