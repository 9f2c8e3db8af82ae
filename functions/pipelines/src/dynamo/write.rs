//! The writes of the DynamoDB store: each one transaction with a `ClientRequestToken`
//! ([`shared::dynamo::transact`]), after a strongly consistent read of the pipeline where the write
//! depends on it; and the deletion of a pipeline's runs in batches.

use super::items::{
    build_error, delete, list_item, list_key, lookup_item, lookup_key, pipeline_item, pipeline_key,
    put, run_item, version_of, Condition,
};
use super::{attr, DynamoPipelinesStore, MAX_ATTEMPTS};
use crate::model::{Pipeline, PipelineListItem, Run, Update};
use aws_sdk_dynamodb::types::{DeleteRequest, TransactWriteItem, WriteRequest};
use futures::{StreamExt, TryStreamExt};
use shared::dynamo::{from_item, s, store_error, transact, Item, Transacted};
use shared::{Key, StoreError};
use std::time::Duration;

/// Items per `BatchWriteItem` (DynamoDB's limit).
const BATCH_SIZE: usize = 25;
/// `BatchWriteItem` calls in flight at once while deleting runs.
const BATCH_CONCURRENCY: usize = 8;

/// How a transaction ended.
enum Tx {
    /// Applied.
    Done,
    /// Cancelled, nothing applied: the indexes of the items whose condition failed.
    Failed(Vec<usize>),
    /// Cancelled, nothing applied, because another write on one of its items was in progress.
    Conflict,
}

/// The error after [`MAX_ATTEMPTS`] lost races: the caller may try again (`503`).
fn contention(op: &str) -> StoreError {
    StoreError::Unavailable(format!(
        "{op}: the pipeline kept changing during {MAX_ATTEMPTS} attempts; try again"
    ))
}

/// Waits before attempt `attempt` (1-based retries): exponential, jittered, at most ~320 ms.
async fn pause(attempt: u32) {
    let base = 10u64 << attempt.min(5);
    let jitter = (uuid::Uuid::new_v4().as_u128() % u128::from(base)) as u64;
    tokio::time::sleep(Duration::from_millis(base / 2 + jitter / 2)).await;
}

impl DynamoPipelinesStore {
    /// Runs one transaction. A repeat of it by the SDK (after a lost, reset or late answer) carries
    /// the same `ClientRequestToken`, so DynamoDB applies it once and answers the repeat as the
    /// first. A cancellation applied nothing; an error (the SDK gave up, throttled, ...) may have
    /// applied it, and ends the call: it is never followed by another attempt of this store.
    async fn run(&self, op: &str, items: Vec<TransactWriteItem>) -> Result<Tx, StoreError> {
        match transact(&self.client, op, items).await? {
            Transacted::Done => Ok(Tx::Done),
            Transacted::Cancelled(reasons) => {
                let failed: Vec<usize> = reasons
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.condition_failed())
                    .map(|(i, _)| i)
                    .collect();
                if !failed.is_empty() {
                    Ok(Tx::Failed(failed))
                } else if reasons.iter().any(|r| r.conflicted()) {
                    Ok(Tx::Conflict)
                } else {
                    let codes: Vec<&str> =
                        reasons.iter().filter_map(|r| r.code.as_deref()).collect();
                    Err(StoreError::Unavailable(format!(
                        "{op}: the transaction was cancelled ({})",
                        codes.join(", ")
                    )))
                }
            }
        }
    }

    /// The pipeline and its version, read strongly consistently.
    async fn versioned(&self, op: &str, id: &Key) -> Result<Option<(Pipeline, u64)>, StoreError> {
        let Some(item) = self.pipeline_item(op, id.as_str(), None).await? else {
            return Ok(None);
        };
        let version = version_of(&item)?;
        Ok(Some((from_item(item)?, version)))
    }

    /// Stores a new pipeline, its secret lookup and its list item in one transaction.
    pub(super) async fn insert(&self, pipeline: Pipeline) -> Result<Pipeline, StoreError> {
        let items = vec![
            put(
                &self.table,
                pipeline_item(&pipeline, 1)?,
                Some(Condition::absent()),
            )?,
            put(
                &self.table,
                lookup_item(&pipeline.webhook_secret, &pipeline.id),
                Some(Condition::absent()),
            )?,
            put(
                &self.table,
                list_item(&pipeline)?,
                Some(Condition::absent()),
            )?,
        ];
        match self.run("pipelines.create", items).await? {
            Tx::Done => Ok(pipeline),
            Tx::Failed(_) => Err(StoreError::Internal(
                "pipelines.create: the new id or secret is taken".into(),
            )),
            Tx::Conflict => Err(StoreError::Unavailable(
                "pipelines.create: a concurrent write conflicted; try again".into(),
            )),
        }
    }

    /// Applies `update`: reads the pipeline, then in one transaction rewrites it on the condition
    /// that it is still the version read, rewrites its list item if a list field changes, and when
    /// rotating deletes the old secret's lookup and puts the new one. Tried again when another
    /// write came between.
    pub(super) async fn change(
        &self,
        id: &Key,
        update: &Update,
    ) -> Result<Option<Pipeline>, StoreError> {
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                pause(attempt).await;
            }
            let Some((old, version)) = self.versioned("pipelines.update.get", id).await? else {
                return Ok(None);
            };
            let mut new = old.clone();
            update.apply(&mut new);
            let mut items = vec![put(
                &self.table,
                pipeline_item(&new, version + 1)?,
                Some(Condition::version(version)),
            )?];
            if PipelineListItem::from(&new) != PipelineListItem::from(&old) {
                items.push(put(&self.table, list_item(&new)?, None)?);
            }
            if let Some(secret) = &update.new_secret {
                items.push(delete(&self.table, lookup_key(&old.webhook_secret), None)?);
                items.push(put(
                    &self.table,
                    lookup_item(secret, id),
                    Some(Condition::absent()),
                )?);
            }
            match self.run("pipelines.update", items).await? {
                Tx::Done => return Ok(Some(new)),
                Tx::Conflict => continue,
                Tx::Failed(failed) if failed.contains(&0) => continue,
                Tx::Failed(_) => {
                    return Err(StoreError::Internal(
                        "pipelines.update: the new secret's lookup exists".into(),
                    ))
                }
            }
        }
        Err(contention("pipelines.update"))
    }

    /// Appends `run` and sets `lastRunAt` and `updatedAt` on the pipeline and `lastRunAt` on its
    /// list item, in one transaction on the condition that the pipeline is still the version read.
    pub(super) async fn append_run(
        &self,
        run: &Run,
        now: &str,
    ) -> Result<Option<Pipeline>, StoreError> {
        let run_item = run_item(run)?;
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                pause(attempt).await;
            }
            let Some((mut pipeline, version)) = self
                .versioned("pipelines.recordRun.get", &run.pipeline_id)
                .await?
            else {
                return Ok(None);
            };
            pipeline.last_run_at = Some(run.completed_at.clone());
            pipeline.updated_at = now.to_owned();
            let items = vec![
                put(
                    &self.table,
                    pipeline_item(&pipeline, version + 1)?,
                    Some(Condition::version(version)),
                )?,
                put(&self.table, list_item(&pipeline)?, None)?,
                put(
                    &self.runs_table,
                    run_item.clone(),
                    Some(Condition::run_absent()),
                )?,
            ];
            match self.run("pipelines.recordRun", items).await? {
                Tx::Done => return Ok(Some(pipeline)),
                Tx::Conflict => continue,
                Tx::Failed(failed) if failed.contains(&0) => continue,
                Tx::Failed(_) => {
                    return Err(StoreError::Internal(
                        "pipelines.recordRun: the new run id is taken".into(),
                    ))
                }
            }
        }
        Err(contention("pipelines.recordRun"))
    }

    /// Deletes the pipeline, its secret lookup and its list item in one transaction (on the
    /// condition that its secret is still the one read, so the right lookup goes), then its runs.
    /// Whether there was a pipeline.
    pub(super) async fn remove(&self, id: &Key) -> Result<bool, StoreError> {
        let mut existed = None;
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                pause(attempt).await;
            }
            let Some(item) = self
                .pipeline_item(
                    "pipelines.delete.get",
                    id.as_str(),
                    Some(&[attr::WEBHOOK_SECRET, attr::OWNER_ID]),
                )
                .await?
            else {
                existed = Some(false);
                break;
            };
            let field = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
            let secret = field(attr::WEBHOOK_SECRET)
                .ok_or_else(|| StoreError::Internal("pipeline item without a secret".into()))?;
            let owner = field(attr::OWNER_ID)
                .map(Key::parse)
                .transpose()
                .map_err(|e| StoreError::Internal(format!("pipeline item owner: {e}")))?;
            let items = vec![
                delete(
                    &self.table,
                    pipeline_key(id.as_str()),
                    Some(Condition::secret(&secret)),
                )?,
                delete(&self.table, lookup_key(&secret), None)?,
                delete(&self.table, list_key(owner.as_ref(), id.as_str()), None)?,
            ];
            match self.run("pipelines.delete", items).await? {
                Tx::Done => {
                    existed = Some(true);
                    break;
                }
                Tx::Failed(_) | Tx::Conflict => continue,
            }
        }
        let existed = existed.ok_or_else(|| contention("pipelines.delete"))?;
        self.delete_runs(id).await?;
        Ok(existed)
    }

    /// Deletes every run of pipeline `id`, in batches; returns how many.
    pub(super) async fn delete_runs(&self, id: &Key) -> Result<usize, StoreError> {
        let mut deleted = 0;
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.runs_table)
                .key_condition_expression("#p = :p")
                .projection_expression("#p, #r")
                .expression_attribute_names("#p", attr::PIPELINE_ID)
                .expression_attribute_names("#r", attr::RUN_KEY)
                .expression_attribute_values(":p", s(id.as_str()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_error("pipelines.delete.runs", e))?;
            let keys = output.items.unwrap_or_default();
            deleted += keys.len();
            let batches: Vec<Vec<Item>> = keys.chunks(BATCH_SIZE).map(<[Item]>::to_vec).collect();
            futures::stream::iter(batches)
                .map(|batch| self.delete_batch(batch))
                .buffer_unordered(BATCH_CONCURRENCY)
                .try_collect::<Vec<()>>()
                .await?;
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(deleted);
            }
        }
    }

    /// Deletes the runs with these keys; unprocessed ones are sent again, [`MAX_ATTEMPTS`] in all.
    async fn delete_batch(&self, keys: Vec<Item>) -> Result<(), StoreError> {
        let mut requests: Vec<WriteRequest> = keys
            .into_iter()
            .map(|key| {
                DeleteRequest::builder()
                    .set_key(Some(key))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build())
                    .map_err(build_error)
            })
            .collect::<Result<_, _>>()?;
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                pause(attempt).await;
            }
            let output = self
                .client
                .batch_write_item()
                .request_items(&self.runs_table, requests)
                .send()
                .await
                .map_err(|e| store_error("pipelines.delete.batch", e))?;
            requests = output
                .unprocessed_items
                .and_then(|mut left| left.remove(&self.runs_table))
                .unwrap_or_default();
            if requests.is_empty() {
                return Ok(());
            }
        }
        Err(StoreError::Unavailable(
            "pipelines.delete: runs were left unprocessed; try again".into(),
        ))
    }
}
