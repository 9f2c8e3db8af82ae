//! The DynamoDB store of the pipelines group (see the crate documentation for the table design),
//! and [`attr`]: its tables, key formats, index and attribute names.

use crate::model::{
    limit_and_sort, Pipeline, PipelineListItem, Run, Update, LIST_LIMIT_PER_OWNER_SET,
};
use crate::store::PipelinesStore;
use shared::dynamo::{from_item, s, store_error, Item};
use shared::{Key, StoreError};
use subtle::ConstantTimeEq;

mod items;
mod write;

pub(crate) use items::import_items;
use items::{lookup_key, pipeline_key};

/// Attempts of a write that loses a race, the first included.
pub const MAX_ATTEMPTS: u32 = 10;

/// Key formats, attribute and index names of the pipelines and runs tables (attribute names are
/// also the JSON field names).
pub mod attr {
    use sha2::Digest;

    /// The pipelines table: `PipelinesTable` in `template.yaml`, named by `PIPELINES_TABLE`.
    pub const TABLE: shared::config::TableRef = shared::config::TableRef {
        resource: "PipelinesTable",
        env: "PIPELINES_TABLE",
        default: "pipelines",
    };
    /// The runs table: `PipelineRunsTable` in `template.yaml`, named by `PIPELINE_RUNS_TABLE`.
    pub const RUNS_TABLE: shared::config::TableRef = shared::config::TableRef {
        resource: "PipelineRunsTable",
        env: "PIPELINE_RUNS_TABLE",
        default: "pipeline-runs",
    };

    /// Partition key of the pipelines table: [`pipeline_key`], [`secret_key`] or [`owner_key`].
    pub const PK: &str = "pk";
    /// Sort key of the pipelines table: [`PIPELINE_SK`], [`SECRET_SK`], or the pipeline id in an
    /// owner partition.
    pub const SK: &str = "sk";
    /// The sort key of a pipeline item.
    pub const PIPELINE_SK: &str = "pipeline";
    /// The sort key of a secret lookup item.
    pub const SECRET_SK: &str = "secret";
    /// The [`BY_NAME`] index's sort key, on list items only: [`crate::collate::index_key`] of the name.
    pub const NAME_KEY: &str = "nameKey";
    /// Bumped by every write of a pipeline item.
    pub const VERSION: &str = "version";
    /// The local secondary index (`pk`, `nameKey`) of list items, projecting the list fields.
    pub const BY_NAME: &str = "byName";
    /// The partition of the list items of pipelines without an owner.
    pub const UNOWNED: &str = "unowned";

    /// See [`super::Pipeline`].
    pub const ID: &str = "id";
    /// See [`super::Pipeline`].
    pub const OWNER_ID: &str = "ownerId";
    /// See [`super::Pipeline`].
    pub const NAME: &str = "name";
    /// See [`super::Pipeline`].
    pub const DESCRIPTION: &str = "description";
    /// See [`super::Pipeline`].
    pub const STEPS: &str = "steps";
    /// See [`super::Pipeline`].
    pub const SCHEDULE: &str = "schedule";
    /// See [`super::Pipeline`].
    pub const DEFAULT_SOURCE: &str = "defaultSource";
    /// See [`super::Pipeline`].
    pub const WEBHOOK_SECRET: &str = "webhookSecret";
    /// See [`super::Pipeline`].
    pub const UPDATED_AT: &str = "updatedAt";
    /// See [`super::Pipeline`].
    pub const LAST_RUN_AT: &str = "lastRunAt";

    /// The pipeline a secret lookup names; the runs table's partition key.
    pub const PIPELINE_ID: &str = "pipelineId";
    /// The runs table's sort key: [`super::Run::sort_key`].
    pub const RUN_KEY: &str = "runKey";

    /// The key of a pipeline item.
    pub fn pipeline_key(id: &str) -> String {
        format!("pipeline#{id}")
    }

    /// The key of a secret lookup item: the SHA-256 of the secret, so the secret itself is in no key.
    pub fn secret_key(secret: &str) -> String {
        let digest = sha2::Sha256::digest(secret.as_bytes());
        let mut key = String::with_capacity(7 + 64);
        key.push_str("secret#");
        for byte in digest.iter() {
            key.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
            key.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
        }
        key
    }

    /// The partition of a pipeline's list item: `owner#<ownerId>`, or [`UNOWNED`].
    pub fn owner_key(owner: Option<&shared::Key>) -> String {
        match owner {
            Some(owner) => format!("owner#{owner}"),
            None => UNOWNED.to_owned(),
        }
    }
}

/// The DynamoDB store.
#[derive(Clone)]
pub struct DynamoPipelinesStore {
    client: shared::dynamo::Client,
    table: String,
    runs_table: String,
}

impl DynamoPipelinesStore {
    /// A store on `table` (pipelines, secret lookups, list items) and `runs_table`.
    pub fn new(
        client: shared::dynamo::Client,
        table: impl Into<String>,
        runs_table: impl Into<String>,
    ) -> Self {
        Self {
            client,
            table: table.into(),
            runs_table: runs_table.into(),
        }
    }

    /// The pipeline item, read strongly consistently, with only `projection` if given.
    async fn pipeline_item(
        &self,
        op: &str,
        id: &str,
        projection: Option<&[&str]>,
    ) -> Result<Option<Item>, StoreError> {
        let mut request = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(pipeline_key(id)))
            .consistent_read(true);
        if let Some(attributes) = projection {
            let placeholders: Vec<String> =
                (0..attributes.len()).map(|i| format!("#p{i}")).collect();
            request = request.projection_expression(placeholders.join(", "));
            for (placeholder, attribute) in placeholders.iter().zip(attributes) {
                request = request.expression_attribute_names(placeholder, *attribute);
            }
        }
        let output = request.send().await.map_err(|e| store_error(op, e))?;
        Ok(output.item)
    }

    /// One owner set from the [`attr::BY_NAME`] index, read strongly consistently: at most
    /// [`LIST_LIMIT_PER_OWNER_SET`], first by name.
    async fn owner_set(
        &self,
        owner_key: String,
    ) -> Result<Vec<(String, PipelineListItem)>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let remaining = LIST_LIMIT_PER_OWNER_SET - out.len();
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(attr::BY_NAME)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", attr::PK)
                .expression_attribute_values(":pk", s(owner_key.as_str()))
                .consistent_read(true)
                .limit(remaining as i32)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_error("pipelines.list.query", e))?;
            for item in output.items.unwrap_or_default() {
                out.push((owner_key.clone(), from_item(item)?));
            }
            start = output.last_evaluated_key;
            if start.is_none() || out.len() >= LIST_LIMIT_PER_OWNER_SET {
                return Ok(out);
            }
        }
    }

    /// Every pipeline, with its owner set: a strongly consistent `Scan` of the [`attr::BY_NAME`]
    /// index, which holds the list items only.
    async fn every_pipeline(&self) -> Result<Vec<(String, PipelineListItem)>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .scan()
                .table_name(&self.table)
                .index_name(attr::BY_NAME)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_error("pipelines.list.scan", e))?;
            for item in output.items.unwrap_or_default() {
                let set = item
                    .get(attr::PK)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .ok_or_else(|| StoreError::Internal("list item without a key".into()))?;
                out.push((set, from_item(item)?));
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }
}

impl PipelinesStore for DynamoPipelinesStore {
    async fn list(&self, owner: Option<&Key>) -> Result<Vec<PipelineListItem>, StoreError> {
        let entries = match owner {
            Some(owner) => {
                let (owned, unowned) = futures::try_join!(
                    self.owner_set(attr::owner_key(Some(owner))),
                    self.owner_set(attr::owner_key(None)),
                )?;
                [owned, unowned].concat()
            }
            None => self.every_pipeline().await?,
        };
        Ok(limit_and_sort(entries))
    }

    async fn get(&self, id: &Key) -> Result<Option<Pipeline>, StoreError> {
        self.pipeline_item("pipelines.get", id.as_str(), None)
            .await?
            .map(from_item)
            .transpose()
    }

    async fn find_by_webhook_secret(&self, secret: &str) -> Result<Option<Pipeline>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(lookup_key(secret)))
            .projection_expression("#p")
            .expression_attribute_names("#p", attr::PIPELINE_ID)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error("pipelines.findByWebhookSecret.lookup", e))?;
        let Some(id) = output
            .item
            .as_ref()
            .and_then(|item| item.get(attr::PIPELINE_ID))
            .and_then(|v| v.as_s().ok())
        else {
            return Ok(None);
        };
        let Some(item) = self
            .pipeline_item("pipelines.findByWebhookSecret.get", id, None)
            .await?
        else {
            return Ok(None);
        };
        let pipeline: Pipeline = from_item(item)?;
        let current = bool::from(pipeline.webhook_secret.as_bytes().ct_eq(secret.as_bytes()));
        Ok(current.then_some(pipeline))
    }

    async fn create(&self, pipeline: Pipeline) -> Result<Pipeline, StoreError> {
        self.insert(pipeline).await
    }

    async fn update(&self, id: &Key, update: Update) -> Result<Option<Pipeline>, StoreError> {
        self.change(id, &update).await
    }

    async fn delete(&self, id: &Key) -> Result<bool, StoreError> {
        self.remove(id).await
    }

    async fn record_run(&self, run: Run, now: &str) -> Result<Option<Pipeline>, StoreError> {
        self.append_run(&run, now).await
    }

    async fn list_runs(&self, id: &Key, limit: usize) -> Result<Vec<Run>, StoreError> {
        let mut runs = Vec::new();
        let mut start = None;
        while runs.len() < limit {
            let output = self
                .client
                .query()
                .table_name(&self.runs_table)
                .key_condition_expression("#p = :p")
                .expression_attribute_names("#p", attr::PIPELINE_ID)
                .expression_attribute_values(":p", s(id.as_str()))
                .consistent_read(true)
                .scan_index_forward(false)
                .limit((limit - runs.len()) as i32)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_error("pipelines.listRuns", e))?;
            for item in output.items.unwrap_or_default() {
                runs.push(from_item(item)?);
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        Ok(runs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_are_sha256_hex_and_hold_no_plaintext() {
        assert_eq!(
            attr::secret_key("abc"),
            "secret#ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(!attr::secret_key("my-secret").contains("my-secret"));
    }
}
