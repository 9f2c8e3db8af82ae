//! The session group: encrypted vault session secrets, stored opaque.
//!
//! | route | store call | DynamoDB calls |
//! |---|---|---|
//! | `/session/save` | [`SessionStore::save`] | 1 `PutItem` |
//! | `/session/get` | [`SessionStore::get`] | 1 `GetItem` (strongly consistent) |
//! | `/session/delete` | [`SessionStore::delete`] | 1 `DeleteItem` |
//! | `/session/prune` | [`SessionStore::prune`] | [`attr::PRUNE_SHARDS`] `Query` in parallel on the expiry index, then one conditional `DeleteItem` per expired session (≤ 500, [`DELETE_CONCURRENCY`] at a time) |
//!
//! The expiry index is split over [`attr::PRUNE_SHARDS`] partitions (by a hash of the id) so that
//! session writes never pile onto one index partition. Deletes are conditional on the session still
//! being expired, so a session saved again with a later expiry between the query and the delete
//! survives. Items also carry a TTL attribute, a day past expiry, as a safety net behind `prune`.
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

pub use dynamo::{attr, prune_shard, DynamoSessionStore, DELETE_CONCURRENCY, TTL_GRACE_SECONDS};
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
