//! What the pipelines group needs from storage: the store trait both stores implement.

use crate::model::{Pipeline, PipelineListItem, Run, Update};
use shared::{Key, StoreError};
use std::future::Future;

/// What the pipelines group needs from storage.
pub trait PipelinesStore: Send + Sync + 'static {
    /// With `owner`: that owner's pipelines and the unowned ones; without: every pipeline. At most
    /// [`LIST_LIMIT_PER_OWNER_SET`](crate::LIST_LIMIT_PER_OWNER_SET) (the first by name) of each
    /// owner set; sorted by name (see [`collate`](crate::collate)).
    fn list(
        &self,
        owner: Option<&Key>,
    ) -> impl Future<Output = Result<Vec<PipelineListItem>, StoreError>> + Send;

    /// The pipeline, if any.
    fn get(&self, id: &Key) -> impl Future<Output = Result<Option<Pipeline>, StoreError>> + Send;

    /// The pipeline whose current webhook secret is exactly `secret`, if any.
    fn find_by_webhook_secret(
        &self,
        secret: &str,
    ) -> impl Future<Output = Result<Option<Pipeline>, StoreError>> + Send;

    /// Stores a new pipeline (made by
    /// [`CreateInput::into_pipeline`](crate::CreateInput::into_pipeline)) and its secret lookup.
    fn create(
        &self,
        pipeline: Pipeline,
    ) -> impl Future<Output = Result<Pipeline, StoreError>> + Send;

    /// Applies `update` to the pipeline; `None` when there is none. Concurrent updates of different
    /// fields all take effect.
    fn update(
        &self,
        id: &Key,
        update: Update,
    ) -> impl Future<Output = Result<Option<Pipeline>, StoreError>> + Send;

    /// Deletes the pipeline, its secret lookup and its runs; false when there was no pipeline.
    fn delete(&self, id: &Key) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Appends `run` to its pipeline's runs and sets `lastRunAt` = its `completedAt`, `updatedAt` =
    /// `now`; `None` (and nothing written) when there is no such pipeline.
    fn record_run(
        &self,
        run: Run,
        now: &str,
    ) -> impl Future<Output = Result<Option<Pipeline>, StoreError>> + Send;

    /// The pipeline's runs, newest `completedAt` first, at most `limit`.
    fn list_runs(
        &self,
        id: &Key,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Run>, StoreError>> + Send;
}
