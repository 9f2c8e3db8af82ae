//! The pipelines routes: wire arguments and replies, the handlers and the route table.

use crate::model::{
    runs_limit, Changes, CreateInput, Pipeline, PipelineListItem, Run, RunStatus, Update,
};
use crate::store::PipelinesStore;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use shared::parse::not_null;
use shared::routes::Surface;
use shared::routes::WithResult;
use shared::{ApiError, Key, Num, Routes, SharedClock};
use std::sync::Arc;

/// Arguments of `/pipelines/list`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListArgs {
    /// List this owner's pipelines and the unowned ones (all pipelines when omitted).
    #[serde(default, deserialize_with = "not_null")]
    pub owner_id: Option<Key>,
}

/// Arguments of `/pipelines/get` and `/pipelines/delete`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdArgs {
    /// The pipeline id.
    pub id: Key,
}

/// Arguments of `/pipelines/findByWebhookSecret`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretArgs {
    /// The secret the webhook presented.
    pub secret: String,
}

/// Arguments of `/pipelines/create`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateArgs {
    /// The new pipeline.
    pub input: CreateInput,
}

/// Arguments of `/pipelines/update`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateArgs {
    /// The pipeline id.
    pub id: Key,
    /// The changes.
    pub input: Changes,
}

/// Arguments of `/pipelines/recordRun`: the contract's `{ id, completedAt }`, and optionally the
/// run's `status` (default `success`), `startedAt` (default `completedAt`) and `error`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RecordRunArgs {
    /// The pipeline id.
    pub id: Key,
    /// When the run completed; becomes `lastRunAt`.
    pub completed_at: Timestamp,
    /// The run's outcome.
    #[serde(default, deserialize_with = "not_null")]
    pub status: Option<RunStatus>,
    /// When the run started.
    #[serde(default, deserialize_with = "not_null")]
    pub started_at: Option<Timestamp>,
    /// What went wrong.
    #[serde(default, deserialize_with = "not_null")]
    pub error: Option<String>,
}

impl RecordRunArgs {
    /// The run these arguments describe, with a fresh UUID v4 run id.
    pub fn into_run(self) -> Run {
        Run {
            pipeline_id: self.id,
            run_id: uuid::Uuid::new_v4().to_string(),
            status: self.status.unwrap_or_default(),
            started_at: self.started_at.unwrap_or_else(|| self.completed_at.clone()),
            completed_at: self.completed_at,
            error: self.error,
        }
    }
}

/// Arguments of `/pipelines/listRuns`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListRunsArgs {
    /// The pipeline id.
    pub id: Key,
    /// How many runs at most: floored, clamped to `[1, 1000]`; omitted or not finite: 200.
    #[serde(default, deserialize_with = "not_null")]
    pub limit: Option<Num>,
}

/// Reply of `/pipelines/list`.
#[derive(Debug, Serialize)]
pub struct ListReply {
    /// Sorted by name (see [`collate`](crate::collate)).
    pub pipelines: Vec<PipelineListItem>,
}

/// Reply of `/pipelines/get`, `findByWebhookSecret`, `update` and `recordRun`.
#[derive(Debug, Serialize)]
pub struct PipelineReply {
    /// The pipeline, or `null`.
    pub pipeline: Option<Pipeline>,
}

/// Reply of `/pipelines/create`.
#[derive(Debug, Serialize)]
pub struct CreateReply {
    /// The new pipeline.
    pub pipeline: Pipeline,
}

/// Reply of `/pipelines/listRuns`.
#[derive(Debug, Serialize)]
pub struct RunsReply {
    /// Newest first.
    pub runs: Vec<Run>,
}

/// The route table, over any store.
pub fn routes<S: PipelinesStore, T: Surface>(store: S, clock: SharedClock) -> Routes<T> {
    let state = Arc::new(State { store, clock });
    Routes::new()
        .query("/pipelines/list", &state, list)
        .query("/pipelines/get", &state, get)
        .query(
            "/pipelines/findByWebhookSecret",
            &state,
            find_by_webhook_secret,
        )
        .mutation("/pipelines/create", &state, create)
        .mutation("/pipelines/update", &state, update)
        .mutation("/pipelines/delete", &state, delete)
        .mutation("/pipelines/recordRun", &state, record_run)
        .http("/pipelines/listRuns", &state, list_runs)
}

struct State<S> {
    store: S,
    clock: SharedClock,
}

impl<S> State<S> {
    fn now(&self) -> String {
        shared::clock::iso8601(self.clock.now_ms())
    }
}

async fn list<S: PipelinesStore>(
    state: Arc<State<S>>,
    args: ListArgs,
) -> Result<ListReply, ApiError> {
    Ok(ListReply {
        pipelines: state.store.list(args.owner_id.as_ref()).await?,
    })
}

async fn get<S: PipelinesStore>(
    state: Arc<State<S>>,
    args: IdArgs,
) -> Result<PipelineReply, ApiError> {
    Ok(PipelineReply {
        pipeline: state.store.get(&args.id).await?,
    })
}

async fn find_by_webhook_secret<S: PipelinesStore>(
    state: Arc<State<S>>,
    args: SecretArgs,
) -> Result<PipelineReply, ApiError> {
    Ok(PipelineReply {
        pipeline: state.store.find_by_webhook_secret(&args.secret).await?,
    })
}

async fn create<S: PipelinesStore>(
    state: Arc<State<S>>,
    args: CreateArgs,
) -> Result<CreateReply, ApiError> {
    let pipeline = args.input.into_pipeline(&state.now());
    Ok(CreateReply {
        pipeline: state.store.create(pipeline).await?,
    })
}

async fn update<S: PipelinesStore>(
    state: Arc<State<S>>,
    args: UpdateArgs,
) -> Result<PipelineReply, ApiError> {
    let update = Update::new(args.input, &state.now());
    Ok(PipelineReply {
        pipeline: state.store.update(&args.id, update).await?,
    })
}

async fn delete<S: PipelinesStore>(
    state: Arc<State<S>>,
    args: IdArgs,
) -> Result<WithResult<bool>, ApiError> {
    Ok(WithResult {
        result: state.store.delete(&args.id).await?,
    })
}

async fn record_run<S: PipelinesStore>(
    state: Arc<State<S>>,
    args: RecordRunArgs,
) -> Result<PipelineReply, ApiError> {
    let now = state.now();
    Ok(PipelineReply {
        pipeline: state.store.record_run(args.into_run(), &now).await?,
    })
}

async fn list_runs<S: PipelinesStore>(
    state: Arc<State<S>>,
    args: ListRunsArgs,
) -> Result<RunsReply, ApiError> {
    Ok(RunsReply {
        runs: state
            .store
            .list_runs(&args.id, runs_limit(args.limit))
            .await?,
    })
}
