//! The embedded store: pipelines, secret lookups and runs in three redb tables. Every write is one
//! serialized redb transaction, so a pipeline, its lookup and its runs always change together.

use crate::dynamo::attr;
use crate::model::{limit_and_sort, Pipeline, PipelineListItem, Run, Update};
use crate::store::PipelinesStore;
use redb::ReadableTable;
use serde::de::DeserializeOwned;
use shared::embedded::{self, EmbeddedDb, ReadTransaction, Table};
use shared::{Key, StoreError};
use subtle::ConstantTimeEq;

/// Pipeline id → pipeline.
const PIPELINES: Table = Table::new("pipelines");
/// [`attr::secret_key`] of a secret → the id of the pipeline whose current secret it is.
const SECRETS: Table = Table::new("pipeline_secrets");
/// [`run_prefix`] of the pipeline + [`Run::sort_key`] → run.
const RUNS: Table = Table::new("pipeline_runs");

/// The key prefix of a pipeline's runs: the id's length pins where the id ends, so no pipeline's
/// prefix is the start of another's.
fn run_prefix(id: &str) -> String {
    format!("{}:{id}|", id.len())
}

fn internal(err: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("embedded store: {err}"))
}

/// The records of `table` whose keys start with `prefix` (which ends in `|`), last key first, at
/// most `limit`.
fn read_prefix_reversed<T: DeserializeOwned>(
    txn: &ReadTransaction,
    table: Table,
    prefix: &str,
    limit: usize,
) -> Result<Vec<T>, StoreError> {
    let end = format!("{}}}", &prefix[..prefix.len() - 1]);
    shared::embedded::read_range(txn, table, Some((prefix, end.as_str())), true, limit)
}

/// Writes `pipeline` as the `convex-import` command imports it, in place of what its id held,
/// with the lookup of its secret (the lookup of the secret it held before is removed).
pub(crate) fn import_put(
    txn: &embedded::WriteTransaction,
    pipeline: &Pipeline,
) -> Result<(), StoreError> {
    let id = pipeline.id.as_str();
    if let Some(old) = embedded::get_for_update::<Pipeline>(txn, PIPELINES, id)? {
        let old_secret = attr::secret_key(&old.webhook_secret);
        if embedded::get_for_update::<String>(txn, SECRETS, &old_secret)?.as_deref() == Some(id) {
            embedded::delete(txn, SECRETS, &old_secret)?;
        }
    }
    embedded::put(txn, PIPELINES, id, pipeline)?;
    embedded::put(
        txn,
        SECRETS,
        &attr::secret_key(&pipeline.webhook_secret),
        &id,
    )
}

/// The embedded store.
#[derive(Clone)]
pub struct EmbeddedPipelinesStore {
    db: EmbeddedDb,
}

impl EmbeddedPipelinesStore {
    /// A store in `db`.
    pub fn new(db: EmbeddedDb) -> Result<Self, StoreError> {
        db.ensure_tables(&[PIPELINES, SECRETS, RUNS])?;
        Ok(Self { db })
    }
}

impl PipelinesStore for EmbeddedPipelinesStore {
    /// Reads every pipeline: the embedded store serves one developer's data, not production's.
    async fn list(&self, owner: Option<&Key>) -> Result<Vec<PipelineListItem>, StoreError> {
        let owner = owner.cloned();
        self.db
            .read(move |txn| {
                let table = txn.open_table(PIPELINES).map_err(internal)?;
                let mut entries = Vec::new();
                for entry in table.iter().map_err(internal)? {
                    let (_, value) = entry.map_err(internal)?;
                    let pipeline: Pipeline =
                        serde_json::from_slice(value.value()).map_err(internal)?;
                    let visible = match (&owner, &pipeline.owner_id) {
                        (Some(wanted), Some(has)) => wanted == has,
                        _ => true,
                    };
                    if visible {
                        let set = attr::owner_key(pipeline.owner_id.as_ref());
                        entries.push((set, PipelineListItem::from(&pipeline)));
                    }
                }
                Ok(limit_and_sort(entries))
            })
            .await
    }

    async fn get(&self, id: &Key) -> Result<Option<Pipeline>, StoreError> {
        let id = id.clone();
        self.db
            .read(move |txn| embedded::get(txn, PIPELINES, id.as_str()))
            .await
    }

    async fn find_by_webhook_secret(&self, secret: &str) -> Result<Option<Pipeline>, StoreError> {
        let secret = secret.to_owned();
        self.db
            .read(move |txn| {
                let Some(id) = embedded::get::<String>(txn, SECRETS, &attr::secret_key(&secret))?
                else {
                    return Ok(None);
                };
                let pipeline: Option<Pipeline> = embedded::get(txn, PIPELINES, &id)?;
                Ok(pipeline
                    .filter(|p| bool::from(p.webhook_secret.as_bytes().ct_eq(secret.as_bytes()))))
            })
            .await
    }

    async fn create(&self, pipeline: Pipeline) -> Result<Pipeline, StoreError> {
        self.db
            .write(move |txn| {
                let id = pipeline.id.as_str();
                let secret = attr::secret_key(&pipeline.webhook_secret);
                if embedded::get_for_update::<Pipeline>(txn, PIPELINES, id)?.is_some()
                    || embedded::get_for_update::<String>(txn, SECRETS, &secret)?.is_some()
                {
                    return Err(StoreError::Internal(
                        "pipelines.create: the new id or secret is taken".into(),
                    ));
                }
                embedded::put(txn, PIPELINES, id, &pipeline)?;
                embedded::put(txn, SECRETS, &secret, &id)?;
                Ok(pipeline)
            })
            .await
    }

    async fn update(&self, id: &Key, update: Update) -> Result<Option<Pipeline>, StoreError> {
        let id = id.clone();
        self.db
            .write(move |txn| {
                let Some(mut pipeline) =
                    embedded::get_for_update::<Pipeline>(txn, PIPELINES, id.as_str())?
                else {
                    return Ok(None);
                };
                let old_secret = pipeline.webhook_secret.clone();
                update.apply(&mut pipeline);
                embedded::put(txn, PIPELINES, id.as_str(), &pipeline)?;
                if pipeline.webhook_secret != old_secret {
                    embedded::delete(txn, SECRETS, &attr::secret_key(&old_secret))?;
                    embedded::put(
                        txn,
                        SECRETS,
                        &attr::secret_key(&pipeline.webhook_secret),
                        &id,
                    )?;
                }
                Ok(Some(pipeline))
            })
            .await
    }

    async fn delete(&self, id: &Key) -> Result<bool, StoreError> {
        let id = id.clone();
        self.db
            .write(move |txn| {
                let pipeline = embedded::get_for_update::<Pipeline>(txn, PIPELINES, id.as_str())?;
                if let Some(pipeline) = &pipeline {
                    embedded::delete(txn, PIPELINES, id.as_str())?;
                    embedded::delete(txn, SECRETS, &attr::secret_key(&pipeline.webhook_secret))?;
                }
                let runs = embedded::scan_prefix::<serde_json::Value>(
                    txn,
                    RUNS,
                    &run_prefix(id.as_str()),
                )?;
                for (key, _) in runs {
                    embedded::delete(txn, RUNS, &key)?;
                }
                Ok(pipeline.is_some())
            })
            .await
    }

    async fn record_run(&self, run: Run, now: &str) -> Result<Option<Pipeline>, StoreError> {
        let now = now.to_owned();
        self.db
            .write(move |txn| {
                let id = run.pipeline_id.as_str();
                let Some(mut pipeline) = embedded::get_for_update::<Pipeline>(txn, PIPELINES, id)?
                else {
                    return Ok(None);
                };
                pipeline.last_run_at = Some(run.completed_at.clone());
                pipeline.updated_at = now;
                embedded::put(txn, PIPELINES, id, &pipeline)?;
                let key = format!("{}{}", run_prefix(id), run.sort_key());
                embedded::put(txn, RUNS, &key, &run)?;
                Ok(Some(pipeline))
            })
            .await
    }

    async fn list_runs(&self, id: &Key, limit: usize) -> Result<Vec<Run>, StoreError> {
        let prefix = run_prefix(id.as_str());
        self.db
            .read(move |txn| read_prefix_reversed(txn, RUNS, &prefix, limit))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_run_prefix_starts_another() {
        let ids = ["a", "a|", "a:1", "1:a", "ab", "a|b"];
        for x in ids {
            for y in ids {
                if x != y {
                    assert!(!run_prefix(y).starts_with(&run_prefix(x)), "{x} {y}");
                }
            }
        }
    }
}
