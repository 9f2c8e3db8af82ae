//! The workspaceLayouts route group: each user's saved workspace layout (tabs of panels), so it
//! follows the user across devices (CONTRACT.md §7.4).
//!
//! | route | function | store call | DynamoDB calls |
//! |---|---|---|---|
//! | `/workspaceLayouts/get` | `workspaceLayouts:getWorkspaceLayout` (query) | [`WorkspaceLayoutsStore::get`] | 1 `GetItem` (strongly consistent) |
//! | `/workspaceLayouts/save` | `workspaceLayouts:saveWorkspaceLayout` | [`WorkspaceLayoutsStore::save`] | 1 `PutItem` (another after a transaction conflict, [`CONFLICT_ATTEMPTS`] in all) |
//! | `/workspaceLayouts/clear` | `workspaceLayouts:clearWorkspaceLayout` | [`WorkspaceLayoutsStore::clear`] | 1 `TransactWriteItems` (`shared::dynamo::delete_existing`: one conditional `Delete`, with a `ClientRequestToken`) |
//!
//! # Table design
//!
//! `WorkspaceLayoutsTable` (env `WORKSPACE_LAYOUTS_TABLE`) has the key `userId`: the three routes
//! address one item by its full key, so each is one call and no index is needed. An item is the
//! [`LayoutRecord`] under the wire's names (`userId`, `layout` as a nested map, `version`,
//! `updatedAt`), nothing else; `tabs: []` and `panels: []` are stored as empty lists, absent keys
//! are absent attributes, so a layout reads back exactly as saved.
//!
//! The embedded store keeps the same record as JSON under the user id, one redb transaction per
//! call.
//!
//! # Writes: exactly once, read-your-writes
//!
//! - `save` replaces the layout as a whole (keys absent from the new layout are gone): it builds
//!   the whole record from the request and one reading of the clock, and puts it with one
//!   `PutItem`. A retry of that call (the SDK's, after a lost or late answer) puts the same item
//!   again, so nothing is applied twice, and the answer is the record built before the write, never
//!   `null`. Concurrent first saves write one item (the last one wins, as upstream).
//! - A `save` that meets a `clear`'s transaction on the same item is refused by DynamoDB with
//!   nothing applied (`TransactionConflictException`), which the SDK does not retry: the store puts
//!   the same item again, up to [`CONFLICT_ATTEMPTS`] rounds, then answers `503`. A `clear` that
//!   meets a write in progress is cancelled with nothing applied and answers `503`
//!   (`delete_existing`).
//! - `clear` must say whether a layout existed, which a plain `DeleteItem` repeated after a lost
//!   answer would get wrong (the retry finds nothing and answers `false` for a delete it made). It
//!   is `shared::dynamo::delete_existing`: a one-item `TransactWriteItems` with
//!   `attribute_exists(userId)` and a `ClientRequestToken`. DynamoDB answers a repeat within 10
//!   minutes as the first attempt, so the call answers `true` exactly when it deleted the layout,
//!   and `false` (condition failed, nothing written) when there was none. It costs twice the write
//!   capacity of a `DeleteItem`.
//! - `get` is a `GetItem` with `ConsistentRead`: it sees every save and clear acknowledged before.
//!
//! # Limits
//!
//! Numbers are finite and within DynamoDB's range (`NaN`, `Infinity` and magnitudes of 1e38 or more
//! sent over the function protocol are a `400`); `-0` may come back as `0`. A layout whose record
//! passes DynamoDB's 400 KB item limit is a `413` with nothing written, on both stores (the embedded
//! store measures the record's JSON, DynamoDB its item size); a body over 1 MiB is a `413` before
//! it is parsed.
//!
//! # Modules
//!
//! The shape of every group crate: `model` ([`Pane`], [`Layout`], [`LayoutRecord`]), `routes`
//! (arguments, replies, handlers and [`routes()`]), `store` ([`WorkspaceLayoutsStore`]), `dynamo`
//! ([`DynamoWorkspaceLayoutsStore`] and [`attr`]), `embedded` ([`EmbeddedWorkspaceLayoutsStore`]),
//! `import` ([`Import`]), `main.rs` (the Lambda bootstrap, a binary named `workspaceLayouts` after
//! the group). Every public item is re-exported here.
#![warn(missing_docs)]

mod dynamo;
mod embedded;
mod import;
mod model;
mod routes;
mod store;

pub use dynamo::{attr, DynamoWorkspaceLayoutsStore, CONFLICT_ATTEMPTS};
pub use embedded::EmbeddedWorkspaceLayoutsStore;
pub use import::Import;
pub use model::{Layout, LayoutRecord, Pane};
pub use routes::{routes, ClearReply, SaveArgs, SavePayload, SaveReply, UserArgs};
pub use store::WorkspaceLayoutsStore;

use shared::routes::Surface;
use shared::{Routes, SharedClock};

/// The group, for its Lambda bootstrap, the dev server and the api function.
pub const GROUP: shared::Group = shared::Group {
    name: "workspaceLayouts",
    tables: &[attr::TABLE],
    embedded: |db, clock| {
        Ok(routes(
            EmbeddedWorkspaceLayoutsStore::new(db.clone())?,
            clock,
        ))
    },
    dynamo: dynamo_routes,
};

/// The group's routes on DynamoDB, with table names prefixed by `prefix` (empty in production), for
/// the surfaces `T` (its Lambda function: the HTTP routes only; the api function: the function
/// protocol only).
pub fn dynamo_routes<T: Surface>(
    client: &shared::dynamo::Client,
    prefix: &str,
    clock: SharedClock,
) -> Routes<T> {
    routes(
        DynamoWorkspaceLayoutsStore::new(client.clone(), attr::TABLE.name(prefix)),
        clock,
    )
}
