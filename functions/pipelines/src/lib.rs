//! The pipelines route group: automation pipelines (steps, schedule, webhook secret) and their
//! run history.
//!
//! | route | store call | DynamoDB calls |
//! |---|---|---|
//! | `/pipelines/list` with `ownerId` | [`PipelinesStore::list`] | 2 `Query` in parallel on [`attr::BY_OWNER`] (the owner's, the unowned); another per 1 MB page |
//! | `/pipelines/list` without | [`PipelinesStore::list`] | 1 `Scan` of the [`attr::BY_OWNER`] index per 1 MB page |
//! | `/pipelines/get` | [`PipelinesStore::get`] | 1 `GetItem` (strongly consistent) |
//! | `/pipelines/findByWebhookSecret` | [`PipelinesStore::find_by_webhook_secret`] | 2 `GetItem` (strongly consistent); 1 when the secret is unknown |
//! | `/pipelines/create` | [`PipelinesStore::create`] | 1 `TransactWriteItems` |
//! | `/pipelines/update` | [`PipelinesStore::update`] | 1 `UpdateItem`; with `rotateSecret`: 1 `GetItem` + 1 `TransactWriteItems` |
//! | `/pipelines/delete` | [`PipelinesStore::delete`] | 1 `GetItem` + 1 `TransactWriteItems` + 1 `Query` of its runs (per 1 MB page) + 1 `BatchWriteItem` per 25 runs; absent: 1 `GetItem` + 1 `Query` |
//! | `/pipelines/recordRun` | [`PipelinesStore::record_run`] | 1 `TransactWriteItems` + 1 `GetItem`; absent: 1 `TransactWriteItems` |
//! | `/pipelines/listRuns` | [`PipelinesStore::list_runs`] | 1 `Query` (another per 1 MB page) |
//!
//! A write that loses a race (a condition on the version or secret it read, or DynamoDB's
//! `TransactionConflict`) is tried again, up to [`MAX_ATTEMPTS`] times in all; each attempt costs the
//! calls above again.
//!
//! # Storage
//!
//! One table, [`attr::TABLE`], holds two kinds of items under the partition key [`attr::PK`]:
//! - a pipeline, `pipeline#<id>`: the [`Pipeline`] fields, plus [`attr::OWNER_KEY`] and
//!   [`attr::NAME_KEY`] (the owner index's keys) and [`attr::VERSION`] (bumped by every write);
//! - a secret lookup, `secret#<SHA-256 of the secret, hex>`: the [`attr::PIPELINE_ID`] it belongs to.
//!
//! The lookup item is written and deleted in the same transaction as the pipeline whose secret it
//! names (create; rotation: delete the old lookup, put the new one, rewrite the pipeline on the
//! condition that its version, and so its secret, is still the one read; delete). So a webhook
//! lookup is two strongly consistent reads, lookup then pipeline, and never depends on an index: a
//! new secret resolves as soon as its write returns, and a rotated-out or deleted one never does.
//! The pipeline's current secret is also compared (in constant time) with the one presented before
//! answering. The plaintext secret is only ever in the pipeline item (`get` returns it), never in a
//! key, an index or a log line.
//!
//! The owner index [`attr::BY_OWNER`] (`ownerKey` = `owner#<ownerId>` or `unowned`, `nameKey` = the
//! collation key of the name, see [`collate`]) projects the list fields only. `list` with an owner
//! queries two of its partitions; `list` without one wants every pipeline, which is exactly the whole
//! index, so it scans the index (only pipeline items are in it, projected to the listed fields: the
//! Scan reads what the answer holds and nothing else). The index is eventually consistent: a
//! pipeline created a moment ago may be missing from `list` for that moment (`get` and
//! `findByWebhookSecret` are strongly consistent).
//!
//! Runs live in [`attr::RUNS_TABLE`], keyed by `pipelineId` and [`attr::RUN_KEY`] =
//! `<completedAt in UTC>#<runId>`, so one descending `Query` lists a pipeline's runs newest first.
//! `recordRun` appends the run and sets `lastRunAt` in one transaction. `delete` removes the
//! pipeline and its secret lookup in one transaction first (the secret stops resolving then), then
//! its runs in batches. If that second step fails the request answers the error (`503`) and the runs
//! stay behind under an id no pipeline has; `delete` of an absent pipeline sweeps such runs, so the
//! caller's retry finishes the job (and answers `false`).
//!
//! # Concurrent updates
//!
//! An update without `rotateSecret` is one `UpdateItem` that sets (or removes) only the fields it
//! was given, so concurrent updates of different fields all take effect. A rotation must know the
//! secret it replaces, so it reads the pipeline and writes on the condition that the version is
//! still the one it read; if another write came between, it reads again and retries (at most
//! [`MAX_ATTEMPTS`] attempts in all, then `503`). `recordRun` and `delete` retry the same way on
//! DynamoDB's `TransactionConflict`.
//!
//! # Choices where the contract is silent
//!
//! - `recordRun` takes the contract's `{ id, completedAt }` and, optionally, `status` (`queued`,
//!   `running`, `success`, `failed`; default `success`), `startedAt` (default `completedAt`) and
//!   `error` (a string). The service generates the `runId` (UUID v4). `completedAt` and `startedAt`
//!   must be ISO-8601 date-times (see [`Timestamp`]); `lastRunAt` is `completedAt` exactly as sent.
//! - `listRuns` orders by the instant of `completedAt` (offsets taken into account), newest first;
//!   `limit` as `/provisioning/list`: floored, clamped to `[1, 1000]`, omitted or not finite: 200. An
//!   unknown pipeline has no runs (`{ runs: [] }`).
//! - `list` without `ownerId` also keeps at most 500 pipelines per owner set (each owner's, and the
//!   unowned), the first by name.

#![warn(missing_docs)]

pub mod collate;
mod dynamo;
mod embedded;
pub mod time;

pub use dynamo::DynamoPipelinesStore;
pub use embedded::EmbeddedPipelinesStore;
pub use time::Timestamp;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use shared::parse::{not_null, Patch};
use shared::routes::Surface;
use shared::routes::WithResult;
use shared::{ApiError, Key, Num, Routes, SharedClock, StoreError};
use std::future::Future;
use std::sync::Arc;

/// At most this many pipelines of one owner set (one owner's, or the unowned ones) are listed.
pub const LIST_LIMIT_PER_OWNER_SET: usize = 500;
/// `listRuns` without a `limit` returns this many runs.
pub const DEFAULT_RUNS_LIMIT: usize = 200;
/// `listRuns` returns at most this many runs.
pub const MAX_RUNS_LIMIT: usize = 1000;
/// Attempts of a write that loses a race, the first included.
pub const MAX_ATTEMPTS: u32 = 10;

/// The kind of a pipeline step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    /// Clean the text.
    Clean,
    /// Summarise it.
    Summarise,
    /// Translate it.
    Translate,
    /// Change its tone.
    Tone,
    /// Split it into chunks.
    Chunk,
    /// Queue it for speech.
    Queue,
}

/// `options.style`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Style {
    /// Bullet points.
    Bullets,
    /// Prose.
    Paragraph,
}

/// `options.tone`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tone {
    /// Neutral.
    Neutral,
    /// Friendly.
    Friendly,
    /// Formal.
    Formal,
    /// Dramatic.
    Dramatic,
}

/// `options.strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Split by paragraph.
    Paragraph,
    /// Split by sentence.
    Sentence,
}

/// `options.voicePreference`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VoicePreference {
    /// The voice used last.
    History,
    /// The default voice.
    Default,
    /// The step's `voiceId`.
    Custom,
}

/// A step's options: one flat, strict object, every key optional (CONTRACT.md §5, `Step`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StepOptions {
    /// Keep quotations intact.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub preserve_quotes: Option<bool>,
    /// Collapse runs of whitespace.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub normalise_whitespace: Option<bool>,
    /// Remove bullet characters.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub strip_bullets: Option<bool>,
    /// Add keywords to a summary.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub include_keywords: Option<bool>,
    /// Keep the original next to a translation.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub keep_original: Option<bool>,
    /// Merge short chunks.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub join_short_segments: Option<bool>,
    /// How many bullets a summary has.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub bullet_count: Option<Num>,
    /// Longest chunk.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_characters: Option<Num>,
    /// Pause between queued segments, ms.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub segment_delay_ms: Option<Num>,
    /// Language to translate into.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub target_language: Option<String>,
    /// Who the text is for.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub audience_hint: Option<String>,
    /// Speech provider.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub provider: Option<String>,
    /// Voice.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub voice_id: Option<String>,
    /// Summary style.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub style: Option<Style>,
    /// Target tone.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub tone: Option<Tone>,
    /// Chunking strategy.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub strategy: Option<Strategy>,
    /// Which voice to queue with.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub voice_preference: Option<VoicePreference>,
}

/// One step of a pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Step {
    /// The caller's id of the step.
    pub id: String,
    /// What the step does.
    pub kind: StepKind,
    /// A label for people.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub label: Option<String>,
    /// Its options.
    pub options: StepOptions,
}

/// When a pipeline runs by itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Schedule {
    /// A cron expression (not interpreted by this service).
    pub cron: String,
    /// A description for people.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
}

/// The only kind of default source: a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// `"url"`.
    Url,
}

/// Where a pipeline takes its input from by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DefaultSource {
    /// Always `"url"`.
    pub kind: SourceKind,
    /// The URL.
    pub value: String,
}

/// A pipeline name: trimmed, not empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Name(String);

impl Name {
    /// Trims `text`; refuses it when nothing is left.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            Err("must not be empty".into())
        } else {
            Ok(Name(trimmed.to_owned()))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Name::parse(&String::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

/// A stored pipeline (CONTRACT.md §5, `Pipeline`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pipeline {
    /// UUID v4, generated by the service.
    pub id: Key,
    /// The owner; absent for pipelines everyone sees. Never changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<Key>,
    /// Trimmed, not empty.
    pub name: Name,
    /// Trimmed, never empty (an empty one is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// When it runs by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// Its default input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_source: Option<DefaultSource>,
    /// UUID v4, generated by the service; what the inbound webhook presents.
    pub webhook_secret: String,
    /// ISO-8601, set by the service.
    pub created_at: String,
    /// ISO-8601, set by the service on every change.
    pub updated_at: String,
    /// The `completedAt` of the last recorded run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_at: Option<Timestamp>,
}

/// A pipeline as `/pipelines/list` shows it (CONTRACT.md §5, `PipelineListItem`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineListItem {
    /// The id.
    pub id: Key,
    /// The name.
    pub name: Name,
    /// The description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// The last run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_at: Option<Timestamp>,
}

impl From<&Pipeline> for PipelineListItem {
    fn from(p: &Pipeline) -> Self {
        Self {
            id: p.id.clone(),
            name: p.name.clone(),
            description: p.description.clone(),
            schedule: p.schedule.clone(),
            last_run_at: p.last_run_at.clone(),
        }
    }
}

/// What `/pipelines/create` receives.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateInput {
    /// The owner.
    #[serde(default, deserialize_with = "not_null")]
    pub owner_id: Option<Key>,
    /// The name (trimmed, not empty).
    pub name: Name,
    /// The description (trimmed; empty means none).
    #[serde(default, deserialize_with = "not_null")]
    pub description: Option<String>,
    /// The steps.
    pub steps: Vec<Step>,
    /// The schedule.
    #[serde(default, deserialize_with = "not_null")]
    pub schedule: Option<Schedule>,
    /// The default source.
    #[serde(default, deserialize_with = "not_null")]
    pub default_source: Option<DefaultSource>,
}

impl CreateInput {
    /// An input with only a name and steps.
    pub fn new(name: &str, steps: Vec<Step>) -> Self {
        Self {
            owner_id: None,
            name: Name::parse(name).expect("a non-empty name"),
            description: None,
            steps,
            schedule: None,
            default_source: None,
        }
    }

    /// The new pipeline: fresh UUID v4 id and webhook secret, `createdAt` = `updatedAt` = `now`,
    /// the description trimmed and left out when empty.
    pub fn into_pipeline(self, now: &str) -> Pipeline {
        Pipeline {
            id: Key::parse(uuid::Uuid::new_v4().to_string()).expect("a UUID is a valid key"),
            owner_id: self.owner_id,
            name: self.name,
            description: self.description.as_deref().and_then(trimmed_non_empty),
            steps: self.steps,
            schedule: self.schedule,
            default_source: self.default_source,
            webhook_secret: new_secret(),
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
            last_run_at: None,
        }
    }
}

fn trimmed_non_empty(text: &str) -> Option<String> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// A fresh webhook secret: a UUID v4.
pub fn new_secret() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// What `/pipelines/update` receives: each field omitted (keep), or given (change).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Changes {
    /// A new name (trimmed, not empty).
    #[serde(default, deserialize_with = "not_null")]
    pub name: Option<Name>,
    /// A new description: trimmed; an empty one removes it (`Patch::Remove`). `null` is refused.
    #[serde(default, deserialize_with = "description_patch")]
    pub description: Patch<String>,
    /// New steps, replacing the old ones.
    #[serde(default, deserialize_with = "not_null")]
    pub steps: Option<Vec<Step>>,
    /// A new schedule, or `null` to remove it.
    #[serde(default)]
    pub schedule: Patch<Schedule>,
    /// A new default source, or `null` to remove it.
    #[serde(default)]
    pub default_source: Patch<DefaultSource>,
    /// Issue a new webhook secret.
    #[serde(default)]
    pub rotate_secret: bool,
}

fn description_patch<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Patch<String>, D::Error> {
    let text = String::deserialize(deserializer)?;
    Ok(match trimmed_non_empty(&text) {
        Some(text) => Patch::Set(text),
        None => Patch::Remove,
    })
}

/// An update as the store applies it: the changes, the time, and the new secret when rotating.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// The field changes (`rotate_secret` is carried by `new_secret`).
    pub changes: Changes,
    /// The new `updatedAt`.
    pub now: String,
    /// The new webhook secret, when the secret is rotated.
    pub new_secret: Option<String>,
}

impl Update {
    /// The update `changes` asks for at `now`, with a fresh secret if it rotates.
    pub fn new(changes: Changes, now: &str) -> Self {
        let new_secret = changes.rotate_secret.then(new_secret);
        Self {
            changes,
            now: now.to_owned(),
            new_secret,
        }
    }

    /// Applies the update to `pipeline` (`ownerId`, `id`, `createdAt` and `lastRunAt` never change).
    pub fn apply(&self, pipeline: &mut Pipeline) {
        let c = &self.changes;
        if let Some(name) = &c.name {
            pipeline.name = name.clone();
        }
        patch(&mut pipeline.description, &c.description);
        if let Some(steps) = &c.steps {
            pipeline.steps = steps.clone();
        }
        patch(&mut pipeline.schedule, &c.schedule);
        patch(&mut pipeline.default_source, &c.default_source);
        if let Some(secret) = &self.new_secret {
            pipeline.webhook_secret = secret.clone();
        }
        pipeline.updated_at = self.now.clone();
    }
}

fn patch<T: Clone>(field: &mut Option<T>, change: &Patch<T>) {
    match change {
        Patch::Keep => {}
        Patch::Remove => *field = None,
        Patch::Set(value) => *field = Some(value.clone()),
    }
}

/// A run's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Waiting to run.
    Queued,
    /// Running.
    Running,
    /// Finished well (the default when `recordRun` gives no status).
    #[default]
    Success,
    /// Finished with an error.
    Failed,
}

/// One run of a pipeline, as `recordRun` appends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    /// The pipeline.
    pub pipeline_id: Key,
    /// UUID v4, generated by the service.
    pub run_id: String,
    /// Its outcome.
    pub status: RunStatus,
    /// When it started (defaults to `completedAt`).
    pub started_at: Timestamp,
    /// When it completed.
    pub completed_at: Timestamp,
    /// What went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Run {
    /// Its sort key among the pipeline's runs: `<completedAt in UTC>#<runId>`, ascending in time.
    pub fn sort_key(&self) -> String {
        format!("{}#{}", self.completed_at.utc(), self.run_id)
    }
}

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

/// The `limit` rule of `/pipelines/listRuns` (the one `/provisioning/list` uses).
pub fn runs_limit(limit: Option<Num>) -> usize {
    match limit.map(Num::get) {
        Some(l) if l.is_finite() => l.floor().clamp(1.0, MAX_RUNS_LIMIT as f64) as usize,
        _ => DEFAULT_RUNS_LIMIT,
    }
}

/// Reply of `/pipelines/list`.
#[derive(Debug, Serialize)]
pub struct ListReply {
    /// Sorted by name (see [`collate`]).
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

/// What the pipelines group needs from storage.
pub trait PipelinesStore: Send + Sync + 'static {
    /// With `owner`: that owner's pipelines and the unowned ones; without: every pipeline. At most
    /// [`LIST_LIMIT_PER_OWNER_SET`] (the first by name) of each owner set; sorted by name (see
    /// [`collate`]).
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

    /// Stores a new pipeline (made by [`CreateInput::into_pipeline`]) and its secret lookup.
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

/// The group, for its Lambda bootstrap and the dev server.
pub const GROUP: shared::Group = shared::Group {
    name: "pipelines",
    tables: &[attr::TABLE, attr::RUNS_TABLE],
    embedded: |db, clock| Ok(routes(EmbeddedPipelinesStore::new(db.clone())?, clock)),
    dynamo: dynamo_routes,
};

/// The group's routes on DynamoDB, with table names prefixed by `prefix` (empty in production), for
/// the surfaces `T` (its Lambda function: the HTTP routes only).
pub fn dynamo_routes<T: Surface>(
    client: &shared::dynamo::Client,
    prefix: &str,
    clock: SharedClock,
) -> Routes<T> {
    routes(
        DynamoPipelinesStore::new(
            client.clone(),
            attr::TABLE.name(prefix),
            attr::RUNS_TABLE.name(prefix),
        ),
        clock,
    )
}

/// The route table, over any store.
pub fn routes<S: PipelinesStore, T: Surface>(store: S, clock: SharedClock) -> Routes<T> {
    let state = Arc::new(State { store, clock });
    Routes::new()
        .post("/pipelines/list", &state, list)
        .post("/pipelines/get", &state, get)
        .post(
            "/pipelines/findByWebhookSecret",
            &state,
            find_by_webhook_secret,
        )
        .post("/pipelines/create", &state, create)
        .post("/pipelines/update", &state, update)
        .post("/pipelines/delete", &state, delete)
        .post("/pipelines/recordRun", &state, record_run)
        .post("/pipelines/listRuns", &state, list_runs)
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

/// Keeps the first [`LIST_LIMIT_PER_OWNER_SET`] by name of each owner set, then sorts all by name.
/// `entries` are `(owner set, item)`.
fn limit_and_sort(mut entries: Vec<(String, PipelineListItem)>) -> Vec<PipelineListItem> {
    collate::sort_by_name(&mut entries, |(_, item)| {
        (item.name.as_str(), item.id.as_str())
    });
    let mut per_set = std::collections::HashMap::<String, usize>::new();
    entries
        .into_iter()
        .filter(|(set, _)| {
            let count = per_set.entry(set.clone()).or_default();
            *count += 1;
            *count <= LIST_LIMIT_PER_OWNER_SET
        })
        .map(|(_, item)| item)
        .collect()
}

/// The Convex `pipelines` table, for the `convex-import` command. Each pipeline's webhook-secret
/// lookup is rebuilt beside it; `createdAt` and `updatedAt` must be ISO-8601 date-times; two
/// pipelines cannot share a webhook secret (the one Convex created later is skipped).
pub struct Import;

impl shared::import::ImportTable for Import {
    const CONVEX_TABLE: &'static str = "pipelines";
    const TABLES: &'static [shared::config::TableRef] = &[attr::TABLE];
    type Record = Pipeline;

    fn complete(pipeline: Pipeline, _convex_id: &str) -> Result<Pipeline, String> {
        for (field, value) in [
            ("createdAt", &pipeline.created_at),
            ("updatedAt", &pipeline.updated_at),
        ] {
            Timestamp::parse(value.as_str()).map_err(|e| format!("{field}: {e}"))?;
        }
        if pipeline.webhook_secret.is_empty() {
            return Err("webhookSecret: must not be empty".into());
        }
        Ok(pipeline)
    }

    fn key(pipeline: &Pipeline) -> String {
        format!("id {}", pipeline.id.as_str())
    }

    fn select(
        mut docs: Vec<shared::import::Doc<Pipeline>>,
    ) -> (
        Vec<shared::import::Doc<Pipeline>>,
        Vec<shared::import::Skipped>,
    ) {
        docs.sort_by(|a, b| a.created_ms.total_cmp(&b.created_ms));
        let mut owners = std::collections::HashMap::new();
        let mut skipped = Vec::new();
        docs.retain(
            |doc| match owners.entry(attr::secret_key(&doc.record.webhook_secret)) {
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(doc.line);
                    true
                }
                std::collections::hash_map::Entry::Occupied(first) => {
                    skipped.push(shared::import::Skipped {
                        line: doc.line,
                        reason: format!(
                            "its webhookSecret is already the secret of the pipeline on line {}",
                            first.get()
                        ),
                    });
                    false
                }
            },
        );
        (docs, skipped)
    }

    fn items(
        doc: &shared::import::Doc<Pipeline>,
    ) -> Result<Vec<(usize, shared::dynamo::Item)>, StoreError> {
        dynamo::import_items(&doc.record)
    }

    fn put_embedded(
        txn: &shared::embedded::WriteTransaction,
        doc: &shared::import::Doc<Pipeline>,
    ) -> Result<(), StoreError> {
        embedded::import_put(txn, &doc.record)
    }
}

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

    #[test]
    fn runs_limit_floors_clamps_and_defaults() {
        assert_eq!(runs_limit(None), DEFAULT_RUNS_LIMIT);
        assert_eq!(runs_limit(Some(Num(2.9))), 2);
        assert_eq!(runs_limit(Some(Num(0.0))), 1);
        assert_eq!(runs_limit(Some(Num(-5.0))), 1);
        assert_eq!(runs_limit(Some(Num(1e9))), MAX_RUNS_LIMIT);
    }

    #[test]
    fn run_sort_keys_order_by_instant_whatever_the_offset() {
        let run = |completed: &str| Run {
            pipeline_id: Key::parse("p").unwrap(),
            run_id: "r".into(),
            status: RunStatus::Success,
            started_at: Timestamp::parse(completed).unwrap(),
            completed_at: Timestamp::parse(completed).unwrap(),
            error: None,
        };
        let earlier = run("2025-01-01T10:00:00.000+02:00");
        let later = run("2025-01-01T09:00:00.000Z");
        assert!(earlier.sort_key() < later.sort_key());
        assert_eq!(later.sort_key(), "2025-01-01T09:00:00.000Z#r");
    }
}
