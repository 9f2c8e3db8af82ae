//! The pipelines route group: automation pipelines (steps, schedule, webhook secret) and their
//! run history.
//!
//! | route | store call | DynamoDB calls |
//! |---|---|---|
//! | `/pipelines/list` with `ownerId` | [`PipelinesStore::list`] | 2 `Query` in parallel on the local index [`attr::BY_NAME`] (the owner's partition, the unowned one), strongly consistent; another per 1 MB page |
//! | `/pipelines/list` without | [`PipelinesStore::list`] | 1 `Scan` of the local index [`attr::BY_NAME`] (list items only), strongly consistent, per 1 MB page |
//! | `/pipelines/get` | [`PipelinesStore::get`] | 1 `GetItem` (strongly consistent) |
//! | `/pipelines/findByWebhookSecret` | [`PipelinesStore::find_by_webhook_secret`] | 2 `GetItem` (strongly consistent); 1 when the secret is unknown |
//! | `/pipelines/create` | [`PipelinesStore::create`] | 1 `TransactWriteItems` (3 puts: pipeline, lookup, list item) |
//! | `/pipelines/update` | [`PipelinesStore::update`] | 1 `GetItem` + 1 `TransactWriteItems` (the pipeline; its list item when a list field changes; with `rotateSecret` the old lookup's delete and the new one's put); absent: 1 `GetItem` |
//! | `/pipelines/delete` | [`PipelinesStore::delete`] | 1 `GetItem` + 1 `TransactWriteItems` (3 deletes) + 1 `Query` of its runs (per 1 MB page) + 1 `BatchWriteItem` per 25 runs; absent: 1 `GetItem` + 1 `Query` |
//! | `/pipelines/recordRun` | [`PipelinesStore::record_run`] | 1 `GetItem` + 1 `TransactWriteItems` (the pipeline, its list item, the run); absent: 1 `GetItem` |
//! | `/pipelines/listRuns` | [`PipelinesStore::list_runs`] | 1 `Query` (strongly consistent; another per 1 MB page) |
//!
//! Capacity: a transactional write consumes twice the units of the same write made alone (2 per
//! KB of each item), a strongly consistent read twice those of an eventually consistent one (1 per
//! 4 KB). So `create` costs 2 × (pipeline + lookup + list item) write units, an `update`
//! 2 × (pipeline [+ list item] [+ the 2 lookups]) and a read of the pipeline, `recordRun`
//! 2 × (pipeline + list item + run) and a read. Before the list items (the list read a global
//! index), `update` without rotation was one `UpdateItem` (1 × pipeline) and `recordRun` a
//! transaction of 2 × (pipeline + run) then a read. A list item write also writes its
//! [`attr::BY_NAME`] entry (1 unit per KB; 2 when `nameKey` changes), as the global index was
//! written before.
//!
//! A write that loses a race (the version, or secret, it read has changed, or DynamoDB's
//! `TransactionConflict`) is tried again, read included, up to [`MAX_ATTEMPTS`] times in all; each
//! attempt costs the calls above again.
//!
//! # Storage
//!
//! One table, [`attr::TABLE`], keyed by [`attr::PK`] and [`attr::SK`], holds three kinds of items:
//! - a pipeline, (`pipeline#<id>`, [`attr::PIPELINE_SK`]): the [`Pipeline`] fields and
//!   [`attr::VERSION`] (bumped by every write);
//! - a secret lookup, (`secret#<SHA-256 of the secret, hex>`, [`attr::SECRET_SK`]): the
//!   [`attr::PIPELINE_ID`] it belongs to;
//! - a list item, (`owner#<ownerId>` or `unowned`, `<id>`): the [`PipelineListItem`] fields and
//!   [`attr::NAME_KEY`], the collation key of the name (see [`collate`]), cut to
//!   [`collate::INDEX_KEY_BYTES`] (DynamoDB allows 1024 bytes for a sort key).
//!
//! Every write of a pipeline keeps its lookup and list item in step, in the same transaction:
//! create puts all three; an update or `recordRun` rewrites the pipeline on the condition that its
//! version is still the one read (and so its secret and list fields), and the list item with it
//! when a list field changes; a rotation also deletes the old lookup and puts the new one; delete
//! removes all three on the condition that the secret is still the one read. The list item's key
//! never changes (the owner never does), so a rename rewrites it in place.
//!
//! So every read on a request path is strongly consistent and reads the base table or its local
//! index: a webhook lookup is two reads, lookup then pipeline; a new secret resolves as soon as its
//! write returns, and a rotated-out or deleted one never does (the pipeline's current secret is also
//! compared, in constant time, with the one presented). `list` with an owner queries two partitions
//! of [`attr::BY_NAME`] (the owner's and the unowned one), each in name order, so the first 500 read
//! are the first 500 by name; `list` without one scans that index, which is sparse (only list items
//! have `nameKey`) and projects the list fields only, so the Scan reads what the answer holds and
//! nothing else. A pipeline is listed, renamed or gone from the list in the very next request.
//! The plaintext secret is only ever in the pipeline item (`get` returns it), never in a key, an
//! index or a log line.
//!
//! A table with a local index keeps each partition key's items (the list items of one owner, or of
//! every unowned pipeline) within 10 GB, about ten million list items of 1 KB, and in one partition,
//! whose 1,000 write units a second its writes share: about 300 list item writes of 1 KB a second
//! (2 units in a transaction, 1 for the index). Far above what one owner, or the unowned pipelines
//! of this app, write; a pipeline's own items and lookups are each in a partition of their own.
//!
//! Runs live in [`attr::RUNS_TABLE`], keyed by `pipelineId` and [`attr::RUN_KEY`] =
//! `<completedAt in UTC>#<runId>`, so one descending `Query` lists a pipeline's runs newest first.
//! `delete` removes the pipeline, its lookup and its list item in one transaction first (the secret
//! stops resolving then), then its runs in batches. If that second step fails the request answers
//! the error (`503`) and the runs stay behind under an id no pipeline has (`recordRun` cannot add
//! any: its transaction needs the pipeline); `delete` of an absent pipeline sweeps such runs, so
//! the caller's retry finishes the job (and answers `false`).
//!
//! # Exactly once
//!
//! Every write is one `TransactWriteItems` with an explicit `ClientRequestToken`
//! ([`shared::dynamo::transact`]): when its answer is lost, reset or late, the SDK sends it again
//! with the same token, and DynamoDB applies it once and answers the repeat as the first (a
//! `create` does not make a second pipeline, a rotation does not rotate twice, `recordRun` does not
//! append a second run, a `delete` answers `true`). A retry round of the store follows only a
//! cancelled transaction, which applied nothing; an error from the SDK (it gave up, throttled, the
//! 4 s budget spent) ends the call with `503`, the write applied at most once. The run id is made
//! once per request, so every attempt of one `recordRun` writes the same run item; the new secret
//! of a rotation likewise. Each transaction is also conditioned on what it read (the version, the
//! secret, or the items' absence), which its own application changes, so it cannot apply twice
//! whatever the token. The runs cleanup of `delete` deletes keys, which is safe to repeat.
//!
//! # Concurrent updates
//!
//! An update, rotating or not, and `recordRun` read the pipeline and write on the condition that
//! its version is still the one read, so each answers exactly the pipeline it wrote; if another
//! write came between, they read again and retry (at most [`MAX_ATTEMPTS`] attempts in all, then
//! `503`). Concurrent updates of different fields all take effect. `delete` retries the same way
//! when the secret changed or on DynamoDB's `TransactionConflict`.
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
//! its items in `dynamo/items.rs`, its writes in `dynamo/write.rs`), `embedded`
//! ([`EmbeddedPipelinesStore`]), `import` ([`Import`]), and the group's own helpers [`collate`]
//! (name order) and [`time`] (ISO-8601 date-times); `main.rs` is the Lambda bootstrap. Every public
//! item is re-exported here.

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
