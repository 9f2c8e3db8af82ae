//! The provisioning group: provider credentials (the client hashes tokens; the service stores
//! `tokenHash` and `salt` as given) and the usage records charged against them.
//!
//! | route | store call | DynamoDB calls |
//! |---|---|---|
//! | `/provisioning/save` | [`ProvisioningStore::save`] | 1 `UpdateItem` |
//! | `/provisioning/findActive` | [`ProvisioningStore::find_active`] | 1 `Query` (`Limit 1`) on the sparse [`attr::ACTIVE_BY_OWNER`] index |
//! | `/provisioning/markRevoked` | [`ProvisioningStore::mark_revoked`] | 1 conditional `UpdateItem` |
//! | `/provisioning/list` | [`ProvisioningStore::list`] | [`attr::LIST_SHARDS`] `Query` in parallel on the [`attr::BY_CREATION`] index (a shard whose page DynamoDB cuts at 1 MB before `limit` items costs one more `Query` per extra page) |
//! | `/provisioning/recordUsage` | [`ProvisioningStore::record_usage`] | 1 conditional `PutItem` |
//! | `/provisioning/listUsage` | [`ProvisioningStore::list_usage`] | 1 `Query` (strongly consistent, `Limit`; again one more per 1 MB page) |
//!
//! # Creation time
//!
//! "Most recently created" and "oldest created first" mean when the service first stored a record,
//! as Convex's `_creationTime` did, not the caller's `issuedAt` or `recordedAt`. Each record carries
//! a hidden [`attr::CREATED_KEY`], [`created_key`]: the service clock's milliseconds, zero-padded
//! to 16 digits, then `#` and the record id. It is set once (`if_not_exists` on a credential, on
//! insert for a usage record), so saving a credential again never makes it newer, and it is never
//! returned. Two records created in the same millisecond are ordered by id (byte order): the
//! greater id counts as the more recent. So every ordering is total and the same on both stores.
//!
//! Because the id is part of a key of at most 1024 bytes, credential and usage ids are
//! [`RecordId`]s: non-empty and at most [`MAX_RECORD_ID_BYTES`] bytes (longer ones are a `400`).
//! For the same reason a credential's `provider` is at most [`MAX_PROVIDER_BYTES`] bytes: with the
//! user id it forms the active index's partition key (at most 2048 bytes).
//!
//! # Credentials table
//!
//! Keyed by `id`. `save` is one `UpdateItem` that `SET`s every field the record carries, so an
//! optional field absent from an update (`providerReference`, `metadata`, `lastRotatedAt`) keeps its
//! stored value; required fields are always present, because the record is validated strictly.
//! `metadata` is one field: when given it replaces the stored object as a whole (Convex's `patch`
//! is shallow too). Two global secondary indexes serve the reads:
//!
//! - [`attr::ACTIVE_BY_OWNER`] (`activeKey`, `createdKey`), projecting every attribute, is *sparse*:
//!   only a credential whose status is `active` has an [`attr::ACTIVE_KEY`] (see [`active_key`]);
//!   `save` with status `revoked` and `markRevoked` remove it. So `findActive` is one `Query`,
//!   newest first, `Limit 1`, and exact: no filter expression that could read a revoked credential
//!   and come back empty.
//! - [`attr::BY_CREATION`] (`listShard`, `createdKey`), projecting every attribute: every credential
//!   is in one of [`attr::LIST_SHARDS`] partitions (by a hash of its id, [`list_shard`]), so `list`
//!   queries each shard for its oldest `limit`, in parallel, and merges them: no Scan, no sort of
//!   the whole table, and no single index partition taking every write. The price is reading up
//!   to `LIST_SHARDS × limit` index items to return `limit` (at most 4000 for a limit of 1000);
//!   four shards keep that small, as credentials are written rarely (not on every request).
//!
//! **Consistency.** Global secondary indexes are eventually consistent (DynamoDB propagates a write
//! to them usually within a fraction of a second), and a `Query` on them cannot ask for a strongly consistent
//! read. So `findActive` and `list` may, for that moment, miss a credential just saved or still
//! return one just revoked. This is accepted: the contract asks for no read-your-writes here, and
//! the alternative (a second, strongly consistent read per candidate, or index items kept in
//! transactions) would double the cost of every call for a window of well under a second. A caller
//! that must act on its own write at once has the record it just wrote.
//!
//! # Usage table
//!
//! Keyed by `userId` and [`attr::CREATED_KEY`], so `listUsage` is one strongly consistent `Query`,
//! newest first, with `Limit`. `recordUsage` is append-only: a `PutItem` conditional on the key
//! being free, so nothing is ever overwritten. The service gives a record without an id a UUID v4.
//! A caller's id is not a unique key (the contract says `recordUsage` always inserts): recording
//! the same id again later stores another record. The one case where two records would share a key, the same user,
//! id and millisecond, is taken as a duplicate delivery of one request: nothing is written and the
//! stored record is returned (from the failed condition, in the same call).
//!
//! # Embedded store
//!
//! The same design in redb tables, each write one transaction: credentials by id, plus two index
//! tables (creation key → id for `list`; active key then creation key → id for `findActive`)
//! kept in the same transaction, and usage records keyed by user then creation key. Reads there
//! are always current.
//!
//! # Limits
//!
//! `list` and `listUsage` take `limit?: number`: absent or not finite → 200, else floored and
//! clamped to [1, 1000] ([`Limit`]).
//!
//! # Modules
//!
//! `model` ([`Credential`], [`Usage`], [`UsageEntry`], the id, provider and [`Limit`] rules),
//! `routes` (arguments, replies, handlers and [`routes()`]), `store` ([`ProvisioningStore`]),
//! `dynamo` ([`DynamoProvisioningStore`], [`attr`] and the key formats [`created_key`],
//! [`active_key`], [`list_shard`]), `embedded` ([`EmbeddedProvisioningStore`] and its index
//! tables), `import` ([`CredentialImport`], [`UsageImport`]), `main.rs` (the Lambda bootstrap).
//! Every public item is re-exported here.

mod dynamo;
mod embedded;
mod import;
mod model;
mod routes;
mod store;

pub use dynamo::{active_key, attr, created_key, list_shard, DynamoProvisioningStore};
pub use embedded::EmbeddedProvisioningStore;
pub use import::{CredentialImport, UsageImport};
pub use model::{
    Credential, Limit, Metadata, Provider, RecordId, Status, Usage, UsageEntry, MAX_PROVIDER_BYTES,
    MAX_RECORD_ID_BYTES,
};
pub use routes::{
    routes, FindActiveArgs, FindActiveReply, ListArgs, ListReply, ListUsageArgs, ListUsageReply,
    MarkRevokedArgs, RecordUsageArgs, RecordUsageReply, SaveArgs,
};
pub use store::ProvisioningStore;

use shared::routes::Surface;
use shared::{Routes, SharedClock};

/// The group, for its Lambda bootstrap and the dev server.
pub const GROUP: shared::Group = shared::Group {
    name: "provisioning",
    tables: &[attr::CREDENTIALS, attr::USAGE],
    embedded: |db, clock| Ok(routes(EmbeddedProvisioningStore::new(db.clone())?, clock)),
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
        DynamoProvisioningStore::new(
            client.clone(),
            attr::CREDENTIALS.name(prefix),
            attr::USAGE.name(prefix),
        ),
        clock,
    )
}
