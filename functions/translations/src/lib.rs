//! The translations route group: one translation history per (accountId, documentId), numbered by
//! `sequenceIndex`, with no cap (CONTRACT.md §7.2, §7.6, §7.8, §7.11).
//!
//! | route | store call | DynamoDB calls |
//! |---|---|---|
//! | `/translations/list` | [`TranslationsStore::list`] | first page: 1 `Query` on [`attr::BY_SEQ`] when it holds the whole document, + 1 `GetItem` of the meta when more follow; with a cursor: `GetItem` + `Query` + `GetItem` (1 `GetItem` when nothing lies below the cursor; none for a cursor ≤ 1) |
//! | `/translations/create` | [`TranslationsStore::create`] | 1 `BatchGetItem` + 1 `TransactWriteItems` |
//! | `/translations/promote` | [`TranslationsStore::promote`] | 1 `BatchGetItem` + 1 `TransactWriteItems`; absent: 1 `BatchGetItem` (+ 2 `GetItem`, the meta then the translation, when the id is only left over from a cleared generation) |
//! | `/translations/markAdopted` | [`TranslationsStore::mark_adopted`] | as promote; with `collapseHistory`, + the sweep: 1 keys-only `Query` + 1 `TransactWriteItems` per 100 translations deleted |
//! | `/translations/clear` | [`TranslationsStore::clear`] | 1 `Query` (the meta and the highest) + 1 `TransactWriteItems` + the sweep; an empty document: 1 `Query` |
//!
//! Every read is strongly consistent (the base table, or the local index with `ConsistentRead`).
//! A round lost to a concurrent writer of the same document (a condition failed, or a transaction
//! conflict) waits a jittered, growing pause, then costs its read and its transaction again; after
//! [`ROUNDS_BUDGET`] it gives up with a `503`. `list` starts over the same way when it caught a
//! write landing during its read. A `Query` reads 1 MB at most: a longer page takes one more per MB.
//!
//! The read is repeated rather than taken from the cancellation (`ReturnValuesOnConditionCheckFailure`
//! would return the meta as it stood): measured with 50 parallel creates on one document against
//! DynamoDB Local, writers that retried with the returned meta collided again and again (about 13
//! transactions per create, over 4 s), while a pause followed by a fresh read took under 4 reads
//! and 4 transactions per create: what a writer learns before its pause is stale after it. The
//! pauses scale with the time the round's own calls took (`rounds.rs`, `Rounds`).
//!
//! # Table design
//!
//! One table, [`attr::TABLE`]. A document is one partition, [`attr::PK`] = the SHA-256 of the
//! length-prefixed pair (the two ids can be 1024 bytes each, more than a partition key holds); its
//! items, by [`attr::SK`]:
//!
//! - the meta, `meta`: the current generation [`attr::GEN`], the highest index handed out in it
//!   [`attr::HIGHEST`], how many translations it holds [`attr::COUNT`], and the document's version
//!   [`attr::VER`], which every write of the document bumps;
//! - one item per translation, `t#<SHA-256 of its id>` (ids are any string up to 1024 bytes, a sort
//!   key's limit): the [`Translation`] fields, plus its generation and the version that wrote it.
//!
//! The local index [`attr::BY_SEQ`] sorts a document by [`attr::SEQ_KEY`]: `g<gen>#s#<index>` for
//! a translation, `g<gen>#~` for the meta, both numbers in 16 digits. Read from the top it gives
//! the meta, then the current generation's translations by index, highest first, then older
//! generations. It projects keys only: a list fetches the items it returns from the table within
//! the same `Query`, and the index stays small (translation texts are not stored twice).
//!
//! # One writer at a time per document
//!
//! Every write is one `TransactWriteItems` that puts the meta with its version bumped, on the
//! condition that the version is still the one read (or that there is no meta yet), together with
//! the translation it changes, on the condition that its version is the one read. So writes of one
//! document are serialized by its version: `create` and `promote` read the highest index and take
//! the next one, and two of them never take the same (a concurrent one fails its condition and
//! goes again with the meta its cancellation returned). `create` with an existing id puts the same
//! key, replacing it in the same step; `historySize` is the index taken.
//!
//! # `clear` and collapse, for any number of translations
//!
//! One transaction holds at most 100 items, so the translations of a document cannot be deleted in
//! one. Instead, clear and collapse (`markAdopted` with `collapseHistory`) switch generations: one
//! transaction moves the meta to generation + 1 (`highest` and `count` 0, or 1 with a survivor) and
//! the survivor into it with index 1. From that moment every reader sees the new state: `list`
//! reads only the meta's generation, and a point read of a translation takes it as absent unless
//! its generation is the meta's. Then the sweep deletes every item of the older generations, in
//! transactions of 100 conditional deletes (`gen` still older, so an item a `create` wrote under a
//! reused id since the switch is never removed). `deletedCount` is the count the meta held.
//!
//! If the sweep fails, or the function stops between the switch and the sweep, the older items
//! stay as garbage: never read by any route (a list may read a few of them past the current
//! generation and drops them), and removed by the next clear or collapse of the document (its
//! sweep takes every older generation), or by a `clear` of the now empty document, which sweeps
//! when it sees garbage and writes nothing else. The request still answers its result: the switch
//! is the change, and it was applied.
//!
//! # Reads: one consistent view
//!
//! A `Query` is read-committed item by item, not a snapshot: while it runs, a promote can move a
//! translation from below its position to above it (so that it sees neither), and a clear's sweep
//! can delete what it has not reached yet. So `list` checks what it read against the meta, which
//! every write changes. The first page's query reads the meta first, then the translations: when
//! it reads as many as the meta counts, none with an index above the meta's highest or a version
//! above the meta's, every translation it read stood as it was when the meta was read, and none is
//! missing (a move or a delete would leave one out, an addition would show a higher index or
//! version). When the page holds only part of the document, or it starts below a cursor (a
//! `GetItem` of the meta for its generation, then a range query), a `GetItem` of the meta's version
//! after the query confirms that no write landed in between. Otherwise it reads again.
//!
//! `promote` and `markAdopted` read the meta and the translation in one `BatchGetItem` (also
//! read-committed); the transaction's conditions on both versions make the pair exact when it is
//! written. When the pair says "absent" because the item is of an older generation, which nothing
//! would validate, the meta and then the translation are read again, one after the other: a
//! translation's generation only grows, so one still older than the meta read before it was
//! garbage at that moment.
//!
//! # Exactly once
//!
//! Every write is a transaction with a `ClientRequestToken` ([`shared::dynamo::transact`]): a
//! transaction the SDK repeats after a lost or late answer is answered as the first and not
//! applied again, and one that was cancelled applied nothing, so a round sent again after it cannot
//! apply twice. The sweep's deletes are idempotent. A write answered with an error other than a
//! cancellation may have been applied, and is never sent again under another token.
//!
//! The embedded store ([`EmbeddedTranslationsStore`]) runs each call in one redb transaction:
//! atomic and serialized, with read transactions as snapshots, so it needs none of the above.
//!
//! # Choices where the contract is silent
//!
//! - Items over DynamoDB's 400 KB are refused with `413` by both stores, nothing written.
//! - `sequenceIndex` stops at 2^53 − 1 ([`MAX_INDEX`], the largest integer a JSON number holds
//!   exactly); a write past it is a `500` asking for a clear.
#![warn(missing_docs)]

mod dynamo;
mod embedded;
mod import;
pub mod model;
mod rounds;
pub mod routes;
pub mod store;

pub use dynamo::{attr, DynamoTranslationsStore};
pub use embedded::EmbeddedTranslationsStore;
pub use import::{Import, ImportedTranslation};
pub use model::{
    cursor_bound, page_size, parse_int, Document, Translation, TranslationInput,
    TranslationMetadata, DEFAULT_PAGE, MAX_INDEX, MAX_PAGE,
};
pub use rounds::ROUNDS_BUDGET;
pub use routes::routes;
pub use store::{Page, TranslationsStore};

use shared::routes::Surface;
use shared::{Routes, SharedClock};

/// The group, for its Lambda bootstrap and the dev server.
pub const GROUP: shared::Group = shared::Group {
    name: "translations",
    tables: &[attr::TABLE],
    embedded: |db, clock| Ok(routes(EmbeddedTranslationsStore::new(db.clone())?, clock)),
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
        DynamoTranslationsStore::new(client.clone(), attr::TABLE.name(prefix)),
        clock,
    )
}
