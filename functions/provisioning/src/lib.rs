//! The provisioning group: provider credentials (the client hashes tokens; the service stores
//! `tokenHash` and `salt` as given) and the usage records charged against them.
//!
//! | route | store call | DynamoDB calls |
//! |---|---|---|
//! | `/provisioning/save` | [`ProvisioningStore::save`] | 1 `TransactWriteItems` (the credential and its pointer, 2 items); to another owner: + 1 `GetItem` + 1 `TransactWriteItems` (3 items) |
//! | `/provisioning/findActive` | [`ProvisioningStore::find_active`] | 1 `Query` (`Limit 1`, `ConsistentRead`) on the sparse local index [`attr::ACTIVE_BY_CREATION`] of the owner's partition |
//! | `/provisioning/markRevoked` | [`ProvisioningStore::mark_revoked`] | 1 `GetItem` (the pointer) + 1 conditional `UpdateItem`; 1 `GetItem` when there is no such credential |
//! | `/provisioning/list` | [`ProvisioningStore::list`] | [`attr::LIST_SHARDS`] `Query` in parallel on the local index [`attr::BY_CREATION`] (one more per 1 MB page of pointers), then 1 `BatchGetItem` per 100 credentials listed, in parallel (again for keys DynamoDB leaves unprocessed); all `ConsistentRead` |
//! | `/provisioning/recordUsage` | [`ProvisioningStore::record_usage`] | 1 conditional `PutItem` |
//! | `/provisioning/listUsage` | [`ProvisioningStore::list_usage`] | 1 `Query` (`ConsistentRead`, `Limit`; again one more per 1 MB page) |
//!
//! Under races with other writes of the same credential, `save` and `markRevoked` start over, at
//! most [`MAX_WRITE_ROUNDS`] rounds (then `503`). The app's two flows: *issue* (findActive →
//! markRevoked(old) → save(new)) is 1 + 2 + 1 = 4 calls one after the other (3 before these keys,
//! on eventually consistent indexes), *resolve* (findActive) is 1.
//!
//! # Creation time
//!
//! "Most recently created" and "oldest created first" mean when the service first stored a record,
//! as Convex's `_creationTime` did, not the caller's `issuedAt` or `recordedAt`. Each record carries
//! a hidden [`attr::CREATED_KEY`], [`created_key`]: the service clock's milliseconds, zero-padded
//! to 16 digits, then `#` and the record id. It is set once (`if_not_exists` on a credential and
//! its pointer, on insert for a usage record; a credential moved to another owner takes its key
//! along), so saving a credential again never makes it newer, and it is never returned. Two records
//! created in the same millisecond are ordered by id (byte order, which is how DynamoDB orders
//! string sort keys): the greater id counts as the more recent. So every ordering is total and the
//! same on both stores.
//!
//! Because the id is part of a sort key of at most 1024 bytes, credential and usage ids are
//! [`RecordId`]s: non-empty and at most [`MAX_RECORD_ID_BYTES`] bytes (longer ones are a `400`).
//! For the same reason a credential's `provider` is at most [`MAX_PROVIDER_BYTES`] bytes: with the
//! user id it forms the owner's partition key ([`owner_key`], at most 2048 bytes).
//!
//! # Credentials table
//!
//! Keyed by [`attr::PART`] and [`attr::ID`], it holds two kinds of items:
//!
//! - **Credentials**, under their owner: `part` is [`owner_key`] (user id and provider), `id` the
//!   credential id. Only an active credential carries [`attr::ACTIVE_CREATED_KEY`] (a copy of its
//!   creation key), the sort key of the *sparse* local index [`attr::ACTIVE_BY_CREATION`]
//!   (all attributes). So `findActive` is one strongly consistent `Query` of the owner's partition
//!   on that index, newest first, `Limit 1`, and exact: no filter that could read a revoked
//!   credential and come back empty.
//! - **Pointers**, one per credential id, in [`attr::LIST_SHARDS`] partitions `list#<n>`
//!   ([`list_part`], `n` a hash of the id, [`list_shard`]): the credential's [`attr::OWNER`] (its
//!   `part`) and creation key as [`attr::LIST_KEY`], the sort key of the local index
//!   [`attr::BY_CREATION`] (all attributes; only pointers carry it). A pointer's key is known from
//!   the id alone: `markRevoked` reads it (consistent `GetItem`) to find the credential, and `list`
//!   queries each shard of pointers for its oldest `limit`, in parallel, merges them, and reads the
//!   credentials they name with consistent `BatchGetItem`s (a credential that moved meanwhile is
//!   read again where its pointer now says).
//!
//! `save` is one `TransactWriteItems` (with a `ClientRequestToken`, [`shared::dynamo::transact()`]):
//! an `UpdateItem` of the credential under its owner that `SET`s every field the record carries
//! (an optional field absent from the record — `providerReference`, `metadata`, `lastRotatedAt` —
//! keeps its stored value; `metadata` is replaced as a whole, as Convex's shallow `patch` did), the
//! creation key `if_not_exists`, and the active creation key from it (or removes it when revoked);
//! and an `UpdateItem` of the pointer to this owner, on the condition that it names no other owner.
//! When it does (the credential changes owner, rare), the transaction is cancelled and hands back
//! the pointer; the store reads the stored copy (consistent `GetItem`) and runs one more
//! transaction: delete the old copy (if it still holds the optional fields the record keeps from
//! it), put the merged credential under its new owner with its creation key, and point the pointer
//! there (if it still names the old owner). A credential's copy moves only together with its
//! pointer, so there is never a second copy.
//!
//! **Why these keys.** The hot path is *resolve*, one `findActive`: here it reads one partition per
//! user and provider, one item, no hash and no fan-out, and no partition is shared by owners, so it
//! scales with the number of owners (a local index caps an item collection, one owner's
//! credentials here, at 10 GB and one partition's throughput). Two alternatives were weighed:
//! credentials in a few shard partitions chosen by a hash of the owner, with the owner hash,
//! creation time and id in a binary local index key, would also make `findActive` one call and
//! `list` one round; but every owner would share those few partitions (with a local index an item
//! collection is never split: a shard tops at one partition's 3000 reads/s and 10 GB for the whole
//! table), and the index key would hold the creation time that only the stored item knows (an
//! update expression cannot concatenate), so every `save` of a stored credential would read first.
//! Shards by id with `findActive` querying every shard would make the hot path
//! [`attr::LIST_SHARDS`] calls. The price of these keys is on `list` (the plan downgrade, an admin
//! view: rare), which reads pointers, then credentials: two rounds instead of one.
//!
//! **Write capacity.** A transactional write costs twice a plain one per item: a new or updated
//! credential of up to 1 KB costs about 4 write units plus its index entry (before: 1 plus two
//! global index entries); a move about 6 plus a read. `markRevoked` costs 1 read unit and 1 write
//! unit plus the index entry it removes; `findActive` 1 read unit (strongly consistent reads cost
//! twice eventually consistent ones). The pointer partitions take a write on every `save` (at most
//! about 500 saves per second per shard, 2000 in all, as one partition takes 1000 write units a
//! second) and a read on every `markRevoked`; credentials are written when issued or revoked, not on
//! every request.
//!
//! # Exactly once
//!
//! - `save` upserts: its writes set the record's values (or keep what is there) and a repeat
//!   writes the same again. Its transactions carry a `ClientRequestToken`, so the SDK's retry of
//!   one whose answer was lost or late is answered as the first, not applied again. The move is
//!   conditioned on the state it read; a lost race (condition or conflict) starts the save over.
//! - `markRevoked` reads, then `SET`s `status` and removes the active creation key on the condition
//!   that the credential exists; a repeat of an applied revoke finds it again and answers `true`
//!   (credentials are never deleted, only moved with their pointer; a failed condition means it
//!   moved, and the pointer is read again). It answers `false` only when there is no pointer: the
//!   id was never saved.
//! - `recordUsage` is append-only: a `PutItem` conditional on the key being free, so nothing is
//!   ever overwritten; a repeat of an applied insert fails that condition and the stored record
//!   comes back (`ReturnValuesOnConditionCheckFailure`, same call), answered as the success it was.
//!
//! `tests/tests/it/exactly_once/provisioning.rs` injects every fault into each of these writes.
//!
//! **Consistency.** Every read is a strongly consistent `GetItem`, `BatchGetItem` or `Query` of the
//! base table or a local secondary index: a credential saved or revoked before a read is seen by
//! it, on both stores.
//!
//! # Usage table
//!
//! Keyed by `userId` and [`attr::CREATED_KEY`], so `listUsage` is one strongly consistent `Query`,
//! newest first, with `Limit`. The service gives a record without an id a UUID v4 (drawn once per
//! call, so the SDK's retries carry the same). A caller's id is not a unique key (the contract says
//! `recordUsage` always inserts): recording the same id again later stores another record. The one
//! case where two records would share a key, the same user, id and millisecond, is taken as a
//! duplicate delivery of one request: nothing is written and the stored record is returned.
//!
//! # Embedded store
//!
//! The same design in redb tables, each write one transaction: credentials by id, plus two index
//! tables (creation key → id for `list`; owner key then creation key → id for `findActive`)
//! kept in the same transaction, and usage records keyed by user then creation key. Reads there
//! are always current, and a transaction is applied once or not at all.
//!
//! # Import
//!
//! `convex-import` writes each credential with its pointer (the same items `save` writes, with
//! Convex's `_creationTime`), so an import into empty tables, and the same import again, restore a
//! snapshot exactly. It does not delete: a credential that the service moved to another owner after
//! an import, imported again from the older snapshot, would keep its newer copy next to the
//! imported one (the README says so too).
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
//! `dynamo` ([`DynamoProvisioningStore`], its reads, [`attr`] and the key formats
//! [`created_key`], [`owner_key`], [`list_shard`], [`list_part`]; `dynamo/write.rs`: `save`, the
//! move and `markRevoked`), `embedded` ([`EmbeddedProvisioningStore`] and its index tables),
//! `import` ([`CredentialImport`], [`UsageImport`]), `main.rs` (the Lambda bootstrap). Every public
//! item is re-exported here.

mod dynamo;
mod embedded;
mod import;
mod model;
mod routes;
mod store;

pub use dynamo::{
    attr, created_key, list_part, list_shard, owner_key, DynamoProvisioningStore, MAX_WRITE_ROUNDS,
};
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
