//! The DynamoDB store of the pipelines group (see the crate documentation for the table design),
//! and [`attr`]: its tables, key formats, index and attribute names.

use crate::model::{
    limit_and_sort, Pipeline, PipelineListItem, Run, Update, LIST_LIMIT_PER_OWNER_SET,
};
use crate::store::PipelinesStore;
use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};
use shared::dynamo::{from_item, n, s, store_error, to_item, Item};
use shared::{Key, StoreError};
use subtle::ConstantTimeEq;

mod write;

pub(crate) use write::import_items;
use write::{build_error, contention, lookup_item, pause, pipeline_item, pk, put, TxError};

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

    /// Partition key of the pipelines table: [`pipeline_key`] or [`secret_key`].
    pub const PK: &str = "pk";
    /// The owner index's partition key: [`owner_key`].
    pub const OWNER_KEY: &str = "ownerKey";
    /// The owner index's sort key: [`crate::collate::index_key`] of the name.
    pub const NAME_KEY: &str = "nameKey";
    /// Bumped by every write of a pipeline item.
    pub const VERSION: &str = "version";
    /// The owner index (`ownerKey`, `nameKey`), projecting the list fields.
    pub const BY_OWNER: &str = "byOwner";
    /// `ownerKey` of pipelines without an owner.
    pub const UNOWNED: &str = "unowned";

    /// See [`super::Pipeline`].
    pub const ID: &str = "id";
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

    /// The owner index partition of a pipeline.
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
    /// A store on `table` (pipelines and secret lookups) and `runs_table`.
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
        projection: Option<&str>,
    ) -> Result<Option<Item>, StoreError> {
        let mut request = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(pk(attr::pipeline_key(id))))
            .consistent_read(true);
        if let Some(attribute) = projection {
            request = request
                .projection_expression("#p")
                .expression_attribute_names("#p", attribute);
        }
        let output = request.send().await.map_err(|e| store_error(op, e))?;
        Ok(output.item)
    }

    /// One owner set from the owner index: at most [`LIST_LIMIT_PER_OWNER_SET`], first by name.
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
                .index_name(attr::BY_OWNER)
                .key_condition_expression("#o = :o")
                .expression_attribute_names("#o", attr::OWNER_KEY)
                .expression_attribute_values(":o", s(owner_key.as_str()))
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

    /// Every pipeline, from the owner index, with its owner set.
    async fn every_pipeline(&self) -> Result<Vec<(String, PipelineListItem)>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .scan()
                .table_name(&self.table)
                .index_name(attr::BY_OWNER)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_error("pipelines.list.scan", e))?;
            for item in output.items.unwrap_or_default() {
                let set = item
                    .get(attr::OWNER_KEY)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .ok_or_else(|| StoreError::Internal("index item without ownerKey".into()))?;
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
            .set_key(Some(pk(attr::secret_key(secret))))
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
        let items = vec![
            put(
                &self.table,
                pipeline_item(&pipeline, 1)?,
                "attribute_not_exists(#pk)",
                &[("#pk", attr::PK)],
                vec![],
            )?,
            put(
                &self.table,
                lookup_item(&pipeline.webhook_secret, &pipeline.id),
                "attribute_not_exists(#pk)",
                &[("#pk", attr::PK)],
                vec![],
            )?,
        ];
        match self.transact("pipelines.create", items).await {
            Ok(()) => Ok(pipeline),
            Err(TxError::Condition(_)) => Err(StoreError::Internal(
                "pipelines.create: the new id or secret is taken".into(),
            )),
            Err(TxError::Conflict) => Err(contention("pipelines.create")),
            Err(TxError::Store(err)) => Err(err),
        }
    }

    async fn update(&self, id: &Key, update: Update) -> Result<Option<Pipeline>, StoreError> {
        match &update.new_secret {
            Some(secret) => self.update_rotating(id, &update, secret).await,
            None => self.update_fields(id, &update).await,
        }
    }

    async fn delete(&self, id: &Key) -> Result<bool, StoreError> {
        let mut existed = None;
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                pause(attempt).await;
            }
            let Some(item) = self
                .pipeline_item(
                    "pipelines.delete.get",
                    id.as_str(),
                    Some(attr::WEBHOOK_SECRET),
                )
                .await?
            else {
                existed = Some(false);
                break;
            };
            let secret = item
                .get(attr::WEBHOOK_SECRET)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .ok_or_else(|| StoreError::Internal("pipeline item without a secret".into()))?;
            let items = vec![
                TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name(&self.table)
                            .set_key(Some(pk(attr::pipeline_key(id.as_str()))))
                            .condition_expression("#secret = :secret")
                            .expression_attribute_names("#secret", attr::WEBHOOK_SECRET)
                            .expression_attribute_values(":secret", s(secret.as_str()))
                            .build()
                            .map_err(build_error)?,
                    )
                    .build(),
                TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name(&self.table)
                            .set_key(Some(pk(attr::secret_key(&secret))))
                            .build()
                            .map_err(build_error)?,
                    )
                    .build(),
            ];
            match self.transact("pipelines.delete", items).await {
                Ok(()) => {
                    existed = Some(true);
                    break;
                }
                Err(TxError::Condition(_) | TxError::Conflict) => continue,
                Err(TxError::Store(err)) => return Err(err),
            }
        }
        let existed = existed.ok_or_else(|| contention("pipelines.delete"))?;
        self.delete_runs(id).await?;
        Ok(existed)
    }

    async fn record_run(&self, run: Run, now: &str) -> Result<Option<Pipeline>, StoreError> {
        let mut run_item = to_item(&run)?;
        run_item.insert(attr::RUN_KEY.into(), s(run.sort_key()));
        let id = run.pipeline_id.as_str();
        let mut recorded = false;
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                pause(attempt).await;
            }
            let update = aws_sdk_dynamodb::types::Update::builder()
                .table_name(&self.table)
                .set_key(Some(pk(attr::pipeline_key(id))))
                .update_expression(
                    "SET #lastRunAt = :completedAt, #updatedAt = :now ADD #version :one",
                )
                .condition_expression("attribute_exists(#pk)")
                .expression_attribute_names("#pk", attr::PK)
                .expression_attribute_names("#lastRunAt", attr::LAST_RUN_AT)
                .expression_attribute_names("#updatedAt", attr::UPDATED_AT)
                .expression_attribute_names("#version", attr::VERSION)
                .expression_attribute_values(":completedAt", s(run.completed_at.as_str()))
                .expression_attribute_values(":now", s(now))
                .expression_attribute_values(":one", n(1.0))
                .build()
                .map_err(build_error)?;
            let items = vec![
                TransactWriteItem::builder().update(update).build(),
                put(
                    &self.runs_table,
                    run_item.clone(),
                    "attribute_not_exists(#r)",
                    &[("#r", attr::RUN_KEY)],
                    vec![],
                )?,
            ];
            match self.transact("pipelines.recordRun", items).await {
                Ok(()) => {
                    recorded = true;
                    break;
                }
                Err(TxError::Condition(failed)) if failed.contains(&0) => return Ok(None),
                Err(TxError::Condition(_)) => {
                    return Err(StoreError::Internal(
                        "pipelines.recordRun: the new run id is taken".into(),
                    ))
                }
                Err(TxError::Conflict) => continue,
                Err(TxError::Store(err)) => return Err(err),
            }
        }
        if !recorded {
            return Err(contention("pipelines.recordRun"));
        }
        self.get(&run.pipeline_id).await
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
