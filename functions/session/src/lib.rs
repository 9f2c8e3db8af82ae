//! The session group: encrypted vault session secrets, stored opaque.
//!
//! | route | store call | DynamoDB calls |
//! |---|---|---|
//! | `/session/save` | [`SessionStore::save`] | 1 `PutItem` |
//! | `/session/get` | [`SessionStore::get`] | 1 `GetItem` (strongly consistent) |
//! | `/session/delete` | [`SessionStore::delete`] | 1 `DeleteItem` |
//! | `/session/prune` | [`SessionStore::prune`] | [`attr::PRUNE_SHARDS`] `Query` in parallel on the local expiry index (strongly consistent), then one `TransactWriteItems` per [`DELETES_PER_TRANSACTION`] expired sessions (≤ 500: at most 5, [`DELETE_CONCURRENCY`] at a time); a batch in which a session was saved again meanwhile is tried once more without it |
//!
//! # Table design
//!
//! `SessionsTable` is keyed by (`pruneShard`, `id`): the shard, a hash of the id over
//! [`attr::PRUNE_SHARDS`] values ([`prune_shard`]), is the partition key, so every session is in
//! one of 8 item collections and `get`, `save` and `delete` still address one item by the id
//! alone. The local secondary index [`attr::BY_EXPIRY`] (`pruneShard`, `expiresAt`, keys only)
//! orders each shard by expiry, so `prune` reads the oldest expired sessions of every shard with
//! strongly consistent `Query` calls: a session saved a moment ago with a past expiry is pruned,
//! as Convex would. (A global index, as before, could not be read consistently.) The price of a
//! local index: each shard is one item collection of at most 10 GB (some 40 million sessions per
//! shard) whose writes go to one partition (1,000 write units per second per shard, 8,000 in all).
//! Items also carry a TTL attribute, a day past expiry, as a safety net behind `prune`.
//!
//! # Exactly once
//!
//! `save` puts the whole item and `delete` deletes by key and always answers `true`: a repeat
//! changes nothing. `prune` answers how many sessions it deleted, so its deletes are transactions
//! with a `ClientRequestToken` (see [`shared::dynamo::transact`]): a transaction repeated after its
//! answer was lost is answered as the first attempt without deleting again, and the count is exact.
//! Each delete is conditional on the session still being expired, so a session saved again with a
//! later expiry between the query and the delete survives (its batch is tried again without it).
//! A transactional delete costs two write units; 100 of them are one call instead of 100.
//!
//! # Modules
//!
//! `model` ([`Session`], [`PRUNE_LIMIT`]), `routes` (arguments, replies, handlers and
//! [`routes()`]), `store` ([`SessionStore`]), `dynamo` ([`DynamoSessionStore`], [`attr`], the
//! expiry-index shard and TTL), `embedded` ([`EmbeddedSessionStore`]), `import` ([`Import`]),
//! `main.rs` (the Lambda bootstrap). Every public item is re-exported here.

mod dynamo;
mod embedded;
mod import;
mod model;
mod routes;
mod store;

pub use dynamo::{
    attr, prune_shard, DynamoSessionStore, DELETES_PER_TRANSACTION, DELETE_CONCURRENCY,
    PRUNE_ATTEMPTS, TTL_GRACE_SECONDS,
};
pub use embedded::EmbeddedSessionStore;
pub use import::Import;
pub use model::{Session, PRUNE_LIMIT};
pub use routes::{routes, GetReply, IdArgs, PruneArgs, SaveArgs};
pub use store::SessionStore;

use shared::routes::Surface;
use shared::{Routes, SharedClock};

/// The group, for its Lambda bootstrap and the dev server.
pub const GROUP: shared::Group = shared::Group {
    name: "session",
    tables: &[attr::TABLE],
    embedded: |db, _clock| Ok(routes(EmbeddedSessionStore::new(db.clone())?)),
    dynamo: dynamo_routes,
};

/// The group's routes on DynamoDB, with table names prefixed by `prefix` (empty in production), for
/// the surfaces `T` (its Lambda function: the HTTP routes only).
pub fn dynamo_routes<T: Surface>(
    client: &shared::dynamo::Client,
    prefix: &str,
    _clock: SharedClock,
) -> Routes<T> {
    routes(DynamoSessionStore::new(
        client.clone(),
        attr::TABLE.name(prefix),
    ))
}
