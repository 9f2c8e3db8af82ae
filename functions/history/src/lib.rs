//! The history route group: a user's text-to-speech history, at most [`MAX_ENTRIES`] entries per
//! user, newest first.
//!
//! | route | store call | DynamoDB calls |
//! |---|---|---|
//! | `/history/list` | [`HistoryStore::list`] | 1 `Query` on [`attr::BY_CREATED_AT`] (strongly consistent, newest first, `Limit` = the requested limit, at most 200); none when the limit is 0; one more page only if the entries read pass 1 MB |
//! | `/history/record` | [`HistoryStore::record`] | existing entry: 1 `PutItem` (`ReturnValues=ALL_OLD`). New entry: 1 `PutItem` + 1 keys-only `Query` on [`attr::BY_CREATED_AT`], + 1 conditional `DeleteItem` per entry past the 200th (so 2 calls under the cap, 3 at the cap) |
//! | `/history/remove` | [`HistoryStore::remove`] | 1 `TransactWriteItems` of one conditional delete ([`shared::dynamo::delete_existing`]) |
//! | `/history/clear` | [`HistoryStore::clear`] | 1 keys-only `Query` on [`attr::BY_CREATED_AT`] + ⌈n / 25⌉ `BatchWriteItem` (in parallel; unprocessed items retried, at most [`BATCH_ATTEMPTS`] times) |
//!
//! # Table design
//!
//! `HistoryTable` (env `HISTORY_TABLE`) has the key (`userId`, `id`): the upsert of `record` and
//! the delete of `remove` address one item, and a user's entries are one item collection. Items
//! carry exactly the wire's attributes, under the wire's names, and nothing else.
//!
//! The local secondary index [`attr::BY_CREATED_AT`] (`userId`, `createdAt`) keeps each user's
//! entries in `createdAt` order, so `list` is one `Query` read newest first
//! (`ScanIndexForward=false`) that stops after `Limit` items instead of fetching all 200. A local
//! index (not a global one) because it allows strongly consistent reads: an entry just recorded or
//! removed is seen at once. Its price, an item collection limit of 10 GB per user, is far above
//! 200 entries of at most 400 KB.
//!
//! The index projects keys only. The trim after every new entry reads the user's whole index
//! (≤ 200 keys of ~100 bytes: a few read units, always one page), and it is the most frequent read;
//! with an `ALL` projection the same query would read every full entry (texts and transcripts),
//! could pass the 1 MB page limit, and every write would store each entry twice. `list` asks for
//! all attributes, which DynamoDB fetches from the table within the same `Query` call; that costs a
//! read unit per returned entry, paid only for the entries the caller asked for.
//!
//! `createdAt` is an index key, so it must be a non-empty string of at most 1024 bytes (checked at
//! the edge, a `400` otherwise). Any such string is accepted, as the Convex validator accepted any
//! string; order is plain string (UTF-8 byte) order, which for ISO-8601 UTC timestamps is time
//! order.
//!
//! The embedded store keeps entries under `len(userId):userId` + `id` (so a user's keys are a
//! prefix no other user's share) and runs each call in one transaction: there, insert and trim are
//! one atomic step.
//!
//! # Exactly once
//!
//! - `record` puts the whole entry, so a repeat writes the same item again. Its `ALL_OLD` answer
//!   decides whether to trim; a repeat of an insert whose answer was lost finds the entry it wrote
//!   itself, so an old item equal to the new one still trims (one keys-only `Query`, rare): the cap
//!   holds even then.
//! - `remove` answers whether the entry existed, so a plain conditional `DeleteItem` repeated after
//!   its answer was lost would answer `false` for the entry it deleted. It is a one-item transaction
//!   with a `ClientRequestToken` instead ([`shared::dynamo::delete_existing`]): a repeat is answered
//!   as the first attempt was. Same single call; a transactional delete costs two write units.
//! - `clear` counts from its `Query` and deletes by key; deleting again is a no-op, so a repeated
//!   `BatchWriteItem` changes neither what is stored nor the count answered.
//!
//! # The cap of 200 under concurrency
//!
//! `record` writes the entry with one `PutItem` and `ReturnValues=ALL_OLD`: no old item means the
//! entry is new. Only then does it trim: one strongly consistent keys-only `Query` of the user's
//! index, a total order of the keys by (`createdAt`, `id`) descending computed from that read,
//! and a `DeleteItem` of every entry past the 200th, each conditional on `createdAt` still being
//! the value read (so an entry re-recorded with a newer `createdAt` meanwhile is not lost, and a
//! second trimmer deleting the same entry is a no-op).
//!
//! Concurrent recorders may both trim; the result is still exactly the 200 newest. An entry is
//! deleted only when a consistent read showed at least 200 newer entries, which an entry among the
//! 200 newest of all never has, so none of them is deleted; and the trim of the last recorder to
//! query runs after every insert, sees every entry, and deletes everything past the 200th. (With
//! concurrent `remove` calls the user may end up with fewer than 200, never more.)
//!
//! Knowing whether a trim is needed without the `Query` would take a per-user counter. It cannot
//! share the table safely (ids are opaque caller strings, so no reserved id is free), and keeping
//! it exact would put every insert in a `TransactWriteItems` (twice the write units on the most
//! frequent write, and no `ReturnValues` to read the count back) and make `clear`, which spans up
//! to 200 items, transactional as well. One keys-only `Query` of a few read units is cheaper and
//! cannot drift, so every new entry pays exactly one.
//!
//! If the trim fails after the insert succeeded, the entry stays recorded and `record` still
//! answers it (the write is acknowledged, not half done): the user holds more than 200 entries
//! until the next new entry trims them all, and `list` never shows more than 200 meanwhile.
//!
//! # Limits
//!
//! Entries with equal `createdAt` are listed by `id`, descending. DynamoDB does not order equal
//! index sort keys, so where a `limit` cuts through such a tie, which of the tied entries are
//! returned is the index's choice (the embedded store takes the greatest ids); the trim never
//! depends on it, as it orders the complete set of keys it reads.
//!
//! `list`'s `limit` is floored (`2.9` → 2), a negative one counts as 0, and it is capped at 200;
//! no limit means 200. Items over DynamoDB's 400 KB limit are refused with a `413` by both stores,
//! and nothing is written. `clear` is not atomic across its batches: if it fails midway, calling
//! it again deletes the rest. Its count is the number of entries its query found.
//!
//! # Modules
//!
//! `model` ([`HistoryEntry`], [`Transcript`], the order and limit rules), `routes` (arguments,
//! replies, handlers and [`routes()`]), `store` ([`HistoryStore`]), `dynamo`
//! ([`DynamoHistoryStore`], [`attr`], the trim and the batched clear), `embedded`
//! ([`EmbeddedHistoryStore`]), `import` ([`Import`]), `main.rs` (the Lambda bootstrap). Every
//! public item is re-exported here.

mod dynamo;
mod embedded;
mod import;
mod model;
mod routes;
mod store;

pub use dynamo::{
    attr, DynamoHistoryStore, BATCH_ATTEMPTS, BATCH_CONCURRENCY, BATCH_SIZE, DELETE_CONCURRENCY,
};
pub use embedded::EmbeddedHistoryStore;
pub use import::Import;
pub use model::{list_limit, newest_first, HistoryEntry, Recorded, Transcript, MAX_ENTRIES};
pub use routes::{
    routes, ClearArgs, ClearReply, ListArgs, RecordArgs, RecordReply, RemoveArgs, RemoveReply,
};
pub use store::HistoryStore;

use shared::routes::Surface;
use shared::{Routes, SharedClock};

/// The group, for its Lambda bootstrap and the dev server.
pub const GROUP: shared::Group = shared::Group {
    name: "history",
    tables: &[attr::TABLE],
    embedded: |db, _clock| Ok(routes(EmbeddedHistoryStore::new(db.clone())?)),
    dynamo: dynamo_routes,
};

/// The group's routes on DynamoDB, with table names prefixed by `prefix` (empty in production), for
/// the surfaces `T` (its Lambda function: the HTTP routes only).
pub fn dynamo_routes<T: Surface>(
    client: &shared::dynamo::Client,
    prefix: &str,
    _clock: SharedClock,
) -> Routes<T> {
    routes(DynamoHistoryStore::new(
        client.clone(),
        attr::TABLE.name(prefix),
    ))
}
