//! The DynamoDB tables as `template.yaml` defines them, so that local tables (DynamoDB Local, tests)
//! have exactly the keys and indexes that production has.

use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;
use serde::Deserialize;
use serde_norway::Value;

/// The template, embedded at build time.
pub const TEMPLATE: &str = include_str!("../../../template.yaml");

/// One `AWS::DynamoDB::Table` resource of the template.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableSpec {
    /// The resource's logical id (e.g. `UsersTable`), filled from the map key.
    #[serde(skip)]
    pub logical_id: String,
    /// Attribute definitions.
    pub attribute_definitions: Vec<AttributeSpec>,
    /// The table's key.
    pub key_schema: Vec<KeySpec>,
    /// Global secondary indexes.
    #[serde(default)]
    pub global_secondary_indexes: Vec<IndexSpec>,
    /// Local secondary indexes.
    #[serde(default)]
    pub local_secondary_indexes: Vec<IndexSpec>,
    /// The TTL setting.
    #[serde(default)]
    pub time_to_live_specification: Option<TtlSpec>,
}

/// An attribute definition.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeSpec {
    /// Name.
    pub attribute_name: String,
    /// `S`, `N` or `B`.
    pub attribute_type: String,
}

/// A key element.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeySpec {
    /// Name.
    pub attribute_name: String,
    /// `HASH` or `RANGE`.
    pub key_type: String,
}

/// A secondary index.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexSpec {
    /// Name.
    pub index_name: String,
    /// The index key.
    pub key_schema: Vec<KeySpec>,
    /// What the index holds.
    pub projection: ProjectionSpec,
}

/// An index projection.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectionSpec {
    /// `KEYS_ONLY`, `INCLUDE` or `ALL`.
    pub projection_type: String,
    /// For `INCLUDE`.
    #[serde(default)]
    pub non_key_attributes: Vec<String>,
}

/// The TTL setting of a table.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TtlSpec {
    /// The TTL attribute.
    pub attribute_name: String,
}

/// Every table of the template.
pub fn tables() -> Vec<TableSpec> {
    let template: Value = serde_norway::from_str(TEMPLATE).expect("template.yaml is YAML");
    let resources = template
        .get("Resources")
        .and_then(Value::as_mapping)
        .expect("template has Resources");
    resources
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::DynamoDB::Table"))
        .map(|(id, r)| {
            let id = id.as_str().expect("logical ids are strings").to_owned();
            let props = r.get("Properties").cloned().unwrap_or(Value::Null);
            let mut spec: TableSpec = serde_norway::from_value(strip_unknown(props))
                .unwrap_or_else(|e| panic!("table {id} in template.yaml: {e}"));
            spec.logical_id = id;
            spec
        })
        .collect()
}

/// The table `logical_id` of the template.
///
/// # Panics
/// When the template has no such table: code that uses a table the template lacks fails here.
pub fn table(logical_id: &str) -> TableSpec {
    tables()
        .into_iter()
        .find(|t| t.logical_id == logical_id)
        .unwrap_or_else(|| panic!("template.yaml has no table {logical_id}"))
}

/// Keeps only the properties [`TableSpec`] reads (the rest may hold intrinsic functions).
fn strip_unknown(props: Value) -> Value {
    let keep = [
        "AttributeDefinitions",
        "KeySchema",
        "GlobalSecondaryIndexes",
        "LocalSecondaryIndexes",
        "TimeToLiveSpecification",
    ];
    match props {
        Value::Mapping(map) => Value::Mapping(
            map.into_iter()
                .filter(|(k, _)| k.as_str().is_some_and(|k| keep.contains(&k)))
                .collect(),
        ),
        other => other,
    }
}

impl ProjectionSpec {
    fn build(&self) -> Projection {
        let mut projection = Projection::builder()
            .projection_type(ProjectionType::from(self.projection_type.as_str()));
        for attr in &self.non_key_attributes {
            projection = projection.non_key_attributes(attr);
        }
        projection.build()
    }
}

fn key_schema(keys: &[KeySpec]) -> Vec<KeySchemaElement> {
    keys.iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .expect("key schema elements are complete")
        })
        .collect()
}

impl TableSpec {
    /// Creates this table as `name` (on-demand billing), unless it exists; waits until it is active.
    pub async fn create(&self, client: &Client, name: &str) -> Result<(), aws_sdk_dynamodb::Error> {
        let exists = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .is_ok();
        if !exists {
            let mut request = client
                .create_table()
                .table_name(name)
                .billing_mode(BillingMode::PayPerRequest);
            for a in &self.attribute_definitions {
                request = request.attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name(&a.attribute_name)
                        .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                        .build()
                        .expect("attribute definitions are complete"),
                );
            }
            request = request.set_key_schema(Some(key_schema(&self.key_schema)));
            for index in &self.global_secondary_indexes {
                request = request.global_secondary_indexes(
                    GlobalSecondaryIndex::builder()
                        .index_name(&index.index_name)
                        .set_key_schema(Some(key_schema(&index.key_schema)))
                        .projection(index.projection.build())
                        .build()
                        .expect("indexes are complete"),
                );
            }
            for index in &self.local_secondary_indexes {
                request = request.local_secondary_indexes(
                    LocalSecondaryIndex::builder()
                        .index_name(&index.index_name)
                        .set_key_schema(Some(key_schema(&index.key_schema)))
                        .projection(index.projection.build())
                        .build()
                        .expect("indexes are complete"),
                );
            }
            match request.send().await {
                Ok(_) => {}
                // Created meanwhile: by another process, or by this call's own first attempt
                // whose answer was late (the SDK sent it again). Either way the table exists.
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_resource_in_use_exception()) => {}
                Err(err) => return Err(err.into()),
            }
        }
        client
            .wait_until_table_exists()
            .table_name(name)
            .wait(std::time::Duration::from_secs(30))
            .await
            .ok();
        Ok(())
    }
}
