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
//!
//! # Modules
//!
//! `model` ([`Pipeline`], [`Step`] and its options, [`CreateInput`], [`Changes`], [`Update`],
//! [`Run`], the list and runs-limit rules), `routes` (arguments, replies, handlers and
//! [`routes()`]), `store` ([`PipelinesStore`]), `dynamo` ([`DynamoPipelinesStore`] and [`attr`];
//! its writes in `dynamo/write.rs`), `embedded` ([`EmbeddedPipelinesStore`]), `import`
//! ([`Import`]), and the group's own helpers [`collate`] (name order) and [`time`] (ISO-8601
//! date-times); `main.rs` is the Lambda bootstrap. Every public item is re-exported here.

#![warn(missing_docs)]

pub mod collate;
mod dynamo;
mod embedded;
mod import;
mod model;
mod routes;
mod store;
pub mod time;

pub use dynamo::{attr, DynamoPipelinesStore, MAX_ATTEMPTS};
pub use embedded::EmbeddedPipelinesStore;
pub use import::Import;
pub use model::{
    new_secret, runs_limit, Changes, CreateInput, DefaultSource, Name, Pipeline, PipelineListItem,
    Run, RunStatus, Schedule, SourceKind, Step, StepKind, StepOptions, Strategy, Style, Tone,
    Update, VoicePreference, DEFAULT_RUNS_LIMIT, LIST_LIMIT_PER_OWNER_SET, MAX_RUNS_LIMIT,
};
pub use routes::{
    routes, CreateArgs, CreateReply, IdArgs, ListArgs, ListReply, ListRunsArgs, PipelineReply,
    RecordRunArgs, RunsReply, SecretArgs, UpdateArgs,
};
pub use store::PipelinesStore;
pub use time::Timestamp;

use shared::routes::Surface;
use shared::{Routes, SharedClock};

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
