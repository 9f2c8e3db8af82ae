//! The users route group: Clerk profiles mirrored by `/api/auth/sync`.
//!
//! | route | store call | DynamoDB calls |
//! |---|---|---|
//! | `/users/ensure` | [`UsersStore::ensure`] | 1 `UpdateItem` |
//! | `/users/get` | [`UsersStore::get`] | 1 `GetItem` (strongly consistent) |
//!
//! # Storage
//!
//! One table, [`attr::TABLE`], keyed by [`attr::CLERK_ID`]: one item per user, its attributes the
//! JSON fields of [`User`]. `ensure` is one `UpdateItem` setting the given fields and the times
//! (`createdAt` only if absent), with `now` taken once per request, so the SDK repeating it after a
//! lost answer writes the same values again. The embedded store keeps the same records in one
//! redb table, keyed by clerk id.
//!
//! # Modules
//!
//! The shape every group crate has (this one is the template for a new group):
//! `model` (domain types: [`User`], [`Profile`]), `routes` (arguments, replies, handlers and
//! [`routes()`]), `store` ([`UsersStore`]), `dynamo` ([`DynamoUsersStore`] and [`attr`]),
//! `embedded` ([`EmbeddedUsersStore`]), `import` ([`Import`]), `main.rs` (the Lambda bootstrap).
//! Every public item is re-exported here.

mod dynamo;
mod embedded;
mod import;
mod model;
mod routes;
mod store;

pub use dynamo::{attr, DynamoUsersStore};
pub use embedded::EmbeddedUsersStore;
pub use import::Import;
pub use model::{Profile, User};
pub use routes::{routes, EnsureReply, GetArgs};
pub use store::UsersStore;

use shared::routes::Surface;
use shared::{Routes, SharedClock};

/// The group, for its Lambda bootstrap and the dev server.
pub const GROUP: shared::Group = shared::Group {
    name: "users",
    tables: &[attr::TABLE],
    embedded: |db, clock| Ok(routes(EmbeddedUsersStore::new(db.clone())?, clock)),
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
        DynamoUsersStore::new(client.clone(), attr::TABLE.name(prefix)),
        clock,
    )
}
