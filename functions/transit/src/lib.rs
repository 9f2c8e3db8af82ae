//! The transit route group (CONTRACT.md §7.3): a user's Transit transcripts, at most
//! [`MAX_TRANSCRIPTS`] in list order, and the user's Google Calendar token. The routes keep the
//! function names (`/transit/listTranscripts` serves `transit:listTranscripts`, ...).
//!
//! | route | store call | DynamoDB calls |
//! |---|---|---|
//! | `/transit/listTranscripts` (query) | [`TransitStore::list_transcripts`] | 1 `GetItem` of the index + ⌈body items / 100⌉ `BatchGetItem` (in parallel), all strongly consistent: 2 calls for up to 100 transcripts of under 384 KiB; the `GetItem` alone when nothing is returned; none for `limit` ≤ 0. If a body was replaced between the two reads, both again (at most [`LIST_ROUNDS`] times) |
//! | `/transit/saveTranscript` | [`TransitStore::save_transcript`] | 1 `GetItem` + 1 `TransactWriteItems` (the body items, the index, deletes of the replaced body and of a trimmed transcript's), inserts and updates alike, at the cap too. A new transcript trimmed at once: the `GetItem` only. + 1 `BatchGetItem` only when the new `createdAt` and a stored one agree in their first 256 bytes. A round lost to a concurrent write of the same user: + 1 `TransactWriteItems` (its failed condition returns the index) |
//! | `/transit/clearTranscripts` | [`TransitStore::clear_transcripts`] | 1 `GetItem` + 1 `TransactWriteItems`, + 1 `TransactWriteItems` per further 99 body items (more than 99 only with transcripts of over 384 KiB); the `GetItem` alone when there are none |
//! | `/transit/removeTranscript` | [`TransitStore::remove_transcript`] | 1 `GetItem` + 1 `TransactWriteItems`; the `GetItem` alone when absent |
//! | `/transit/getCalendarToken` (query) | [`TransitStore::get_calendar_token`] | 1 `GetItem` (strongly consistent) |
//! | `/transit/setCalendarToken` | [`TransitStore::set_calendar_token`] | 1 `UpdateItem` |
//! | `/transit/clearCalendarToken` | [`TransitStore::clear_calendar_token`] | 1 `TransactWriteItems` ([`shared::dynamo::delete_existing`]) |
//!
//! # Transcripts: one index item and immutable body items
//!
//! `TransitTranscriptsTable` (env `TRANSIT_TRANSCRIPTS_TABLE`) has the key (`userId`, `sk`). Per
//! user it holds:
//!
//! - the **index** item (`sk` = `index`): the version `ver`, and every transcript's
//!   [`index::Entry`] in list order (id, `createdAt` or its first 256 bytes, insertion sequence,
//!   body version and item count, JSON size and escaped size), in a compact binary attribute
//!   ([`index::codec`]); 200 entries take about 20 KB with UUID ids, at most about 260 KB with
//!   1024-byte ids. Every transcript mutation writes it, conditioned on the version it read.
//! - **body** items (`sk` = `body#<version>#<part>`): a transcript's JSON exactly as returned,
//!   in parts of up to [`CHUNK_BYTES`] (384 KiB), so that a transcript of up to 1 MiB
//!   (CONTRACT.md §7.11 decision 5) takes 1 to 3 items under DynamoDB's 400 KB. A body is written
//!   once under a new version (the index version of its write) and never changed: an update writes
//!   a new body and deletes the old one in the same transaction.
//!
//! Why not one item per transcript, ordered by an index: `createdAt` is a caller string of any
//! length and cannot always be a key; a transcript can pass 400 KB; the list must know sizes
//! before reading bodies (the 5 MiB budget), and the cap, the tie order and the count need one
//! atomic read of every transcript's place. The index item gives all of that in one strongly
//! consistent `GetItem`, and it makes `clearTranscripts` one write. Its cost: every save rewrites
//! it (about 20 write units, twice in a transaction, for a user holding 200 transcripts).
//! Bodies are stored as they are returned, so `listTranscripts` answers with the stored bytes,
//! never parsing and writing up to 5 MiB again. They are not compressed: the 1 MiB case needs
//! parts anyway, and most transcripts take one item; compressing would save write units on long
//! ones at the cost of CPU and binary size (a flag on the entry could add it later).
//!
//! **Order**: `createdAt` descending as UTF-8 bytes, then insertion sequence descending (the
//! later inserted first; an update keeps its sequence). The index keeps at most 256 bytes of a
//! `createdAt`; when a new value and a stored one agree on what the index keeps, the save reads
//! the stored one's full value from its body ([`index`]). The stored order is the list order, so a
//! list never sorts.
//!
//! **Read-your-writes**: every read is a strongly consistent `GetItem` or `BatchGetItem` of the
//! base table. A list reads the index, then the bodies it names; bodies never change, so the list
//! is the index's state at its read, unless a body was replaced or deleted in between (then it is
//! missing, and the list reads again).
//!
//! # The cap, atomically, under concurrency
//!
//! A save reads the index, computes the new one ([`index::Index::plan_save`]: the entry at its
//! place; for a new transcript everything past the 200th dropped, or [`Saved::Trimmed`] when that
//! is the new one, writing nothing) and writes it in one `TransactWriteItems`: the body items, the
//! index (condition: the version read, or no index item), and deletes of the bodies the new index
//! no longer names. So insert and trim are one atomic step, and no two writes of a user's index
//! both succeed from the same read. A write that loses (its condition fails, or DynamoDB reports a
//! conflicting transaction) applied nothing; it starts again from the index the failed condition
//! returned (`ReturnValuesOnConditionCheckFailure = ALL_OLD`: no extra read), after a jittered
//! backoff, for at most [`MAX_ROUNDS`] rounds and [`ROUNDS_DEADLINE`], then
//! answers `503`. Concurrent saves of one id: one inserts, the others update.
//!
//! Every concurrent writer of a user loses one round per write that wins, so N writers racing
//! cost about N²/2 failed transactions (which consume write capacity). Each Lambda instance serves
//! one request at a time; where one process serves many at once (the dev server, the tests), its
//! writes of one user queue behind each other first (a striped lock by userId), and only writes
//! of different processes race. DynamoDB serves racing requests in parallel, so there a round costs
//! one round trip; DynamoDB Local serves one request at a time, which makes the N² visible: the
//! tests race 10 stores at the cap (and 50 saves through one store).
//!
//! # Exactly once
//!
//! Every transcript write is a `TransactWriteItems` with its own `ClientRequestToken`
//! ([`shared::dynamo::transact()`]): the SDK's retries of a lost or late answer repeat the token and
//! are answered as the first, so a save, removal or clear answered `2xx` was applied once, and is
//! answered from what that write did (`removed: true`, the count cleared). A new round follows
//! only a cancelled transaction, which applied nothing. `removeTranscript` and
//! `clearTranscripts` answer `false` and `0` from the index read, writing nothing.
//!
//! `clearTranscripts` is all or nothing for every reader: one transaction writes the empty index
//! and deletes as many body items as it holds (99); bodies left over are listed in the index as
//! garbage (no entry points at them any more), deleted by further transactions of the same call,
//! and, should one of those fail, by the user's next writes. Its count is the number of entries of
//! the index it replaced.
//!
//! # The list's size budget
//!
//! `listTranscripts` returns the first `limit` transcripts, then cuts that list where their JSON
//! array would pass [`LIST_BUDGET_BYTES`] (5 MiB, CONTRACT.md §7.11 decision 4), reading only the
//! bodies it returns. Lambda's 6 MiB limit counts the response as the runtime sends it, the body
//! inside a JSON string where every `"` and `\` doubles: the list is also cut where the escaped
//! size would pass [`LIST_WIRE_BUDGET_BYTES`] (6 MiB less 64 KiB). Both sizes are kept in the
//! index. A transcript (at most 1 MiB, 2 MiB escaped) always fits alone.
//!
//! A request body carrying a 1 MiB transcript passes the service's 1 MiB body limit, so
//! `/transit/saveTranscript` (and its function) has a limit of its own, [`MAX_SAVE_BODY_BYTES`]
//! (2 MiB, [`shared::Routes::max_body`]); the transcript's JSON as returned must then be at most
//! [`MAX_TRANSCRIPT_BYTES`] (1 MiB), else `413` and nothing is written.
//!
//! # The calendar token
//!
//! `TransitCalendarTokensTable` (env `TRANSIT_CALENDAR_TOKENS_TABLE`), key `userId`: the
//! token's four fields, and `createdBy`. `setCalendarToken` is one `UpdateItem` that sets the
//! fields, `createdBy = if_not_exists(createdBy, <this call's write token>)` and the call's
//! [`shared::dynamo::WriteToken`], with `ReturnValues = ALL_OLD`: `updated` is whether an old item
//! came back, so two concurrent first sets leave one token and exactly one answers `false`. A
//! repeat of an applied call (a lost answer) fails the token's condition and gets the item back:
//! it answers `updated: false` exactly when the item's creator is this call. `createdBy` is never
//! returned; imported tokens carry [`attr::IMPORTED`]. `clearCalendarToken` is
//! [`shared::dynamo::delete_existing`]: `cleared` is exact, even after a lost answer.
//!
//! `encryptedPayload` is secret (CONTRACT.md §7.7): it is a [`Secret`], whose `Debug` and
//! `Display` print `<redacted>`; request log lines carry no body; argument errors name the field
//! and the expected type, never a value; store errors are built from DynamoDB's codes and
//! messages, which carry no attribute values, and a token that does not read back says only that.
//!
//! # Embedded store
//!
//! The same index ([`index::Index`], as JSON, with full `createdAt` values) per user and a body
//! per transcript, in redb tables; every call is one redb transaction, so each mutation is atomic
//! and serialized. The 1 MiB limit is the handler's, the same on both stores.
//!
//! # Import
//!
//! `convex-import` loads `transit_transcripts` by replaying each user's documents in Convex's
//! insertion order (`_creationTime`) through [`index::Index::plan_save`], so the sequence numbers,
//! the tie order and the cap are those `saveTranscript` gives; and `transit_calendar_tokens` as
//! they are ([`import`]).

mod dynamo;
mod embedded;
pub mod import;
pub mod index;
pub mod model;
mod routes;
mod store;

pub use dynamo::{
    attr, chunks, DynamoTransitStore, CHUNK_BYTES, LIST_ROUNDS, MAX_ROUNDS, ROUNDS_DEADLINE,
};
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
