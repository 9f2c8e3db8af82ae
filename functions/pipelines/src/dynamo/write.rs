//! The write side of the DynamoDB store: the item builders, running one transaction (telling a
//! failed condition or a conflict from a failure), the field and rotating updates, and the deletion
//! of a pipeline's runs in batches.

use super::{attr, DynamoPipelinesStore, MAX_ATTEMPTS};
use crate::collate;
use crate::model::{Pipeline, Update};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, DeleteRequest, Put, ReturnValue, TransactWriteItem, WriteRequest,
};
use futures::{StreamExt, TryStreamExt};
use shared::dynamo::{from_item, n, s, store_error, to_item, Item};
use shared::parse::Patch;
use shared::{Key, StoreError};
use std::time::Duration;

/// Items per `BatchWriteItem` (DynamoDB's limit).
const BATCH_SIZE: usize = 25;
/// `BatchWriteItem` calls in flight at once while deleting runs.
const BATCH_CONCURRENCY: usize = 8;

/// How a transaction failed.
pub(super) enum TxError {
    /// These items' conditions failed (indexes into the transaction).
    Condition(Vec<usize>),
    /// Another transaction or write on one of its items was in progress.
    Conflict,
    /// Anything else.
    Store(StoreError),
}

pub(super) fn build_error(err: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("request does not build: {err}"))
}

/// The error after [`MAX_ATTEMPTS`] lost races: the caller may try again (`503`).
pub(super) fn contention(op: &str) -> StoreError {
    StoreError::Unavailable(format!(
        "{op}: the pipeline kept changing during {MAX_ATTEMPTS} attempts; try again"
    ))
}

/// Waits before attempt `attempt` (1-based retries): exponential, jittered, at most ~320 ms.
pub(super) async fn pause(attempt: u32) {
    let base = 10u64 << attempt.min(5);
    let jitter = (uuid::Uuid::new_v4().as_u128() % u128::from(base)) as u64;
    tokio::time::sleep(Duration::from_millis(base / 2 + jitter / 2)).await;
}

fn version_of(item: &Item) -> Result<u64, StoreError> {
    item.get(attr::VERSION)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Internal("pipeline item without a version".into()))
}

/// The item of `pipeline` at `version`: its fields plus the key, the owner index keys and the version.
pub(super) fn pipeline_item(pipeline: &Pipeline, version: u64) -> Result<Item, StoreError> {
    let mut item = to_item(pipeline)?;
    item.insert(attr::PK.into(), s(attr::pipeline_key(pipeline.id.as_str())));
    item.insert(
        attr::OWNER_KEY.into(),
        s(attr::owner_key(pipeline.owner_id.as_ref())),
    );
    item.insert(
        attr::NAME_KEY.into(),
        s(collate::index_key(pipeline.name.as_str())),
    );
    item.insert(attr::VERSION.into(), n(version as f64));
    Ok(item)
}

/// The secret lookup item of `secret`, naming pipeline `id`.
pub(super) fn lookup_item(secret: &str, id: &Key) -> Item {
    Item::from([
        (attr::PK.to_owned(), s(attr::secret_key(secret))),
        (attr::PIPELINE_ID.to_owned(), s(id.as_str())),
    ])
}

/// What the `convex-import` command writes for `pipeline`: the pipeline (version 1) and its
/// secret lookup, both in the pipelines table. A lookup of a secret the pipeline held before stays
/// behind, and never resolves: `findByWebhookSecret` checks the pipeline's current secret.
pub(crate) fn import_items(pipeline: &Pipeline) -> Result<Vec<(usize, Item)>, StoreError> {
    Ok(vec![
        (0, pipeline_item(pipeline, 1)?),
        (0, lookup_item(&pipeline.webhook_secret, &pipeline.id)),
    ])
}

pub(super) fn pk(key: String) -> std::collections::HashMap<String, AttributeValue> {
    std::collections::HashMap::from([(attr::PK.to_owned(), s(key))])
}

fn value<T: serde::Serialize>(v: &T) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(v)
        .map_err(|e| StoreError::Internal(format!("value does not convert: {e}")))
}

/// A `Put` of `item` into `table` on the condition `condition` (with `#pk` and `names`/`values`).
pub(super) fn put(
    table: &str,
    item: Item,
    condition: &str,
    names: &[(&str, &str)],
    values: Vec<(&str, AttributeValue)>,
) -> Result<TransactWriteItem, StoreError> {
    let mut put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(condition);
    for (placeholder, name) in names {
        put = put.expression_attribute_names(*placeholder, *name);
    }
    for (placeholder, v) in values {
        put = put.expression_attribute_values(placeholder, v);
    }
    Ok(TransactWriteItem::builder()
        .put(put.build().map_err(build_error)?)
        .build())
}

impl DynamoPipelinesStore {
    /// Runs one transaction (with a fresh idempotency token, so the SDK's own retries of it are
    /// safe).
    pub(super) async fn transact(
        &self,
        op: &str,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), TxError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(uuid::Uuid::new_v4().to_string())
            .send()
            .await;
        let Err(err) = result else {
            return Ok(());
        };
        if let Some(TransactWriteItemsError::TransactionCanceledException(canceled)) =
            err.as_service_error()
        {
            let reasons = canceled.cancellation_reasons();
            let code_is = |code: &str| reasons.iter().any(|r| r.code() == Some(code));
            let failed: Vec<usize> = reasons
                .iter()
                .enumerate()
                .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                .map(|(i, _)| i)
                .collect();
            if !failed.is_empty() {
                return Err(TxError::Condition(failed));
            }
            if code_is("TransactionConflict") {
                return Err(TxError::Conflict);
            }
            if code_is("ThrottlingError") || code_is("ProvisionedThroughputExceeded") {
                return Err(TxError::Store(StoreError::Unavailable(format!(
                    "{op}: throttled"
                ))));
            }
            if reasons
                .iter()
                .any(|r| r.message().is_some_and(|m| m.contains("size has exceeded")))
            {
                return Err(TxError::Store(StoreError::TooLarge(
                    "the item is over DynamoDB's 400 KB item limit".into(),
                )));
            }
        }
        Err(TxError::Store(store_error(op, err)))
    }

    /// The non-rotating update: one `UpdateItem` that sets only the given fields.
    pub(super) async fn update_fields(
        &self,
        id: &Key,
        update: &Update,
    ) -> Result<Option<Pipeline>, StoreError> {
        let c = &update.changes;
        let mut set = vec!["#updatedAt = :updatedAt".to_owned()];
        let mut remove = Vec::new();
        let mut names = vec![
            ("#pk", attr::PK),
            ("#updatedAt", attr::UPDATED_AT),
            ("#version", attr::VERSION),
        ];
        let mut values = vec![(":updatedAt", s(update.now.as_str())), (":one", n(1.0))];
        if let Some(name) = &c.name {
            set.push("#name = :name".into());
            set.push("#nameKey = :nameKey".into());
            names.extend([("#name", attr::NAME), ("#nameKey", attr::NAME_KEY)]);
            values.push((":name", s(name.as_str())));
            values.push((":nameKey", s(collate::index_key(name.as_str()))));
        }
        if let Some(steps) = &c.steps {
            set.push("#steps = :steps".into());
            names.push(("#steps", attr::STEPS));
            values.push((":steps", value(steps)?));
        }
        let patches = [
            (
                "#description",
                ":description",
                attr::DESCRIPTION,
                patch_value(&c.description)?,
            ),
            (
                "#schedule",
                ":schedule",
                attr::SCHEDULE,
                patch_value(&c.schedule)?,
            ),
            (
                "#defaultSource",
                ":defaultSource",
                attr::DEFAULT_SOURCE,
                patch_value(&c.default_source)?,
            ),
        ];
        for (name, placeholder, attribute, change) in patches {
            match change {
                Patch::Keep => continue,
                Patch::Remove => remove.push(name.to_owned()),
                Patch::Set(v) => {
                    set.push(format!("{name} = {placeholder}"));
                    values.push((placeholder, v));
                }
            }
            names.push((name, attribute));
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        expression.push_str(" ADD #version :one");

        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                pause(attempt).await;
            }
            let mut request = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(pk(attr::pipeline_key(id.as_str()))))
                .update_expression(&expression)
                .condition_expression("attribute_exists(#pk)")
                .return_values(ReturnValue::AllNew);
            for (placeholder, name) in &names {
                request = request.expression_attribute_names(*placeholder, *name);
            }
            for (placeholder, v) in &values {
                request = request.expression_attribute_values(*placeholder, v.clone());
            }
            match request.send().await {
                Ok(output) => return from_item(output.attributes.unwrap_or_default()).map(Some),
                Err(err) => match err.as_service_error() {
                    Some(e) if e.is_conditional_check_failed_exception() => return Ok(None),
                    Some(e) if e.is_transaction_conflict_exception() => continue,
                    _ => return Err(store_error("pipelines.update", err)),
                },
            }
        }
        Err(contention("pipelines.update"))
    }

    /// The rotating update: read the pipeline, then in one transaction delete the old secret's
    /// lookup, put the new one and rewrite the pipeline if it is still the version read.
    pub(super) async fn update_rotating(
        &self,
        id: &Key,
        update: &Update,
        new_secret: &str,
    ) -> Result<Option<Pipeline>, StoreError> {
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                pause(attempt).await;
            }
            let Some(item) = self
                .pipeline_item("pipelines.update.get", id.as_str(), None)
                .await?
            else {
                return Ok(None);
            };
            let version = version_of(&item)?;
            let mut pipeline: Pipeline = from_item(item)?;
            let old_secret = pipeline.webhook_secret.clone();
            update.apply(&mut pipeline);
            let items = vec![
                TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name(&self.table)
                            .set_key(Some(pk(attr::secret_key(&old_secret))))
                            .build()
                            .map_err(build_error)?,
                    )
                    .build(),
                put(
                    &self.table,
                    lookup_item(new_secret, id),
                    "attribute_not_exists(#pk)",
                    &[("#pk", attr::PK)],
                    vec![],
                )?,
                put(
                    &self.table,
                    pipeline_item(&pipeline, version + 1)?,
                    "#version = :version AND #secret = :secret",
                    &[
                        ("#version", attr::VERSION),
                        ("#secret", attr::WEBHOOK_SECRET),
                    ],
                    vec![(":version", n(version as f64)), (":secret", s(old_secret))],
                )?,
            ];
            match self.transact("pipelines.update.rotate", items).await {
                Ok(()) => return Ok(Some(pipeline)),
                Err(TxError::Condition(failed)) if failed.contains(&2) => continue,
                Err(TxError::Conflict) => continue,
                Err(TxError::Condition(_)) => {
                    return Err(StoreError::Internal(
                        "pipelines.update: the new secret's lookup exists".into(),
                    ))
                }
                Err(TxError::Store(err)) => return Err(err),
            }
        }
        Err(contention("pipelines.update"))
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

fn patch_value<T: serde::Serialize>(
    change: &Patch<T>,
) -> Result<Patch<AttributeValue>, StoreError> {
    Ok(match change {
        Patch::Keep => Patch::Keep,
        Patch::Remove => Patch::Remove,
        Patch::Set(v) => Patch::Set(value(v)?),
    })
}
