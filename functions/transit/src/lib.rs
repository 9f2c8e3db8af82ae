//! The transit route group: a user's Transit transcripts (at most 200, newest first) and their
//! Google Calendar token (CONTRACT.md §7.3).
//!
//! (Crate docs: see the end of this file's history; written once the design settles.)

mod dynamo;
mod embedded;
pub mod import;
pub mod index;
pub mod model;
mod routes;
mod store;

pub use dynamo::{attr, DynamoTransitStore};
pub use embedded::EmbeddedTransitStore;
pub use model::*;
pub use routes::*;
pub use store::TransitStore;

use shared::routes::Surface;
use shared::{Routes, SharedClock};

/// The group, for its Lambda bootstrap and the dev server.
pub const GROUP: shared::Group = shared::Group {
    name: "transit",
    tables: &[attr::TRANSCRIPTS, attr::CALENDAR_TOKENS],
    embedded: |db, clock| Ok(routes(EmbeddedTransitStore::new(db.clone())?, clock)),
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
        DynamoTransitStore::new(
            client.clone(),
            attr::TRANSCRIPTS.name(prefix),
            attr::CALENDAR_TOKENS.name(prefix),
        ),
        clock,
    )
}
