//! The DynamoDB store. The design (keys, the index item, exactly-once and consistency) is in the
//! crate docs; the key formats and attribute names are in [`attr`].

use crate::index::{Candidate, Entry, Index, SavePlan};
use crate::model::{CalendarToken, NewTranscript, Saved, TranscriptJson};
use crate::store::TransitStore;
use shared::dynamo::transact::Cancel;
use shared::dynamo::{s, store_error, transact, Client, Item, Transacted};
use shared::{Key, StoreError};
use std::time::{Duration, Instant};

mod items;
mod tokens;

use items::index_from_item;
pub(crate) use items::index_to_item;

/// Table references, key formats and attribute names.
pub mod attr {
    /// The transcripts table: `TransitTranscriptsTable` in `template.yaml`, key (`userId`, `sk`).
    pub const TRANSCRIPTS: shared::config::TableRef = shared::config::TableRef {
        resource: "TransitTranscriptsTable",
        env: "TRANSIT_TRANSCRIPTS_TABLE",
        default: "transit-transcripts",
    };
    /// The calendar tokens table: `TransitCalendarTokensTable` in `template.yaml`, key `userId`.
    pub const CALENDAR_TOKENS: shared::config::TableRef = shared::config::TableRef {
        resource: "TransitCalendarTokensTable",
        env: "TRANSIT_CALENDAR_TOKENS_TABLE",
        default: "transit-calendar-tokens",
    };
    /// Partition key of both tables.
    pub const USER_ID: &str = "userId";
    /// Sort key of the transcripts table: [`INDEX`] or a [`body_sk`].
    pub const SK: &str = "sk";
    /// The sort key of a user's index item.
    pub const INDEX: &str = "index";
    /// Index item: its version (a number), bumped by every write.
    pub const VER: &str = "ver";
    /// Index item: the entries in list order (binary, see [`crate::index::codec`]).
    pub const ENTRIES: &str = "entries";
    /// Index item: bodies left to delete (binary, see [`crate::index::codec`]).
    pub const GARBAGE: &str = "garbage";
    /// Body item: its part of the transcript's JSON (binary).
    pub const DATA: &str = "data";

    /// The sort key of part `part` of body version `body`.
    pub fn body_sk(body: u64, part: u32) -> String {
        format!("body#{body}#{part}")
    }

    /// Calendar token: the ciphertext (secret).
    pub const ENCRYPTED_PAYLOAD: &str = "encryptedPayload";
    /// Calendar token: expiry, ms.
    pub const EXPIRES_AT: &str = "expiresAt";
    /// Calendar token: scopes (a list of strings).
    pub const SCOPE: &str = "scope";
    /// Calendar token: last set, ms.
    pub const UPDATED_AT: &str = "updatedAt";
    /// Calendar token: the write token of the call that created it, or [`IMPORTED`] (see
    /// `setCalendarToken` in the crate docs); never returned.
    pub const CREATED_BY: &str = "createdBy";
    /// [`CREATED_BY`] of a token written by `convex-import` (no write token is ever this).
    pub const IMPORTED: &str = "convex-import";
}

/// Bytes of a transcript's JSON per body item: with the keys and attribute names, an item stays
/// well under DynamoDB's 400 KB (a 1 MiB transcript takes 3 items).
pub const CHUNK_BYTES: usize = 384 * 1024;
/// How many body items a transcript's JSON of `len` bytes takes.
pub fn chunks(len: usize) -> u32 {
    len.div_ceil(CHUNK_BYTES).max(1) as u32
}

/// Items per `TransactWriteItems` (DynamoDB's limit).
pub const MAX_TRANSACT_ITEMS: usize = 100;
/// Keys per `BatchGetItem` (DynamoDB's limit).
pub const BATCH_GET_KEYS: usize = 100;
/// `BatchGetItem` calls per batch at most, the first included, while keys come back unprocessed.
pub const BATCH_ATTEMPTS: u32 = 5;
/// Read-and-write rounds of one mutation at most, while concurrent writes of the same user win the
/// race for the index (each lost round re-reads and tries again after a jittered backoff).
pub const MAX_ROUNDS: u32 = 64;
/// No new round starts after this long: the call answers `503` well inside the functions' timeout.
pub const ROUNDS_DEADLINE: Duration = Duration::from_secs(7);
/// Rounds of `listTranscripts` at most, when a body it read the index for was replaced before it
/// was read.
pub const LIST_ROUNDS: u32 = 8;

/// Stripes of the process-local queue of index writes (see [`DynamoTransitStore`]).
const WRITE_QUEUES: u32 = 64;

/// The DynamoDB store.
///
/// Writes of one user's index from one process queue behind each other (a striped lock by
/// userId) before they race with other processes' on the index version. Conditional transactions
/// alone keep every outcome exact across processes (each Lambda instance serves one request at a
/// time); the queue only saves the calls a lost race costs where one process serves many requests
/// at once (the dev server, tests): every concurrent writer of a user loses once per write that
/// wins, so N racing writers cost about N²/2 failed transactions, which also consume write
/// capacity.
#[derive(Clone)]
pub struct DynamoTransitStore {
    client: Client,
    transcripts: String,
    tokens: String,
    queues: std::sync::Arc<[tokio::sync::Mutex<()>]>,
}

/// A user's index as read, with the version a write must find to replace it.
struct ReadIndex {
    index: Index,
    /// The version read, `None` when there was no index item.
    found: Option<u64>,
}

impl DynamoTransitStore {
    /// A store on the two tables.
    pub fn new(client: Client, transcripts: impl Into<String>, tokens: impl Into<String>) -> Self {
        Self {
            client,
            transcripts: transcripts.into(),
            tokens: tokens.into(),
            queues: (0..WRITE_QUEUES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        }
    }

    fn key(&self, user_id: &Key, sk: impl Into<String>) -> Item {
        Item::from([
            (attr::USER_ID.to_owned(), s(user_id.as_str())),
            (attr::SK.to_owned(), s(sk)),
        ])
    }

    /// The user's index: one strongly consistent `GetItem`.
    async fn read_index(&self, user_id: &Key, op: &str) -> Result<ReadIndex, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.transcripts)
            .set_key(Some(self.key(user_id, attr::INDEX)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(op, e))?;
        let Some(item) = output.item else {
            return Ok(ReadIndex {
                index: Index::default(),
                found: None,
            });
        };
        let index = index_from_item(&item)?;
        Ok(ReadIndex {
            found: Some(index.ver),
            index,
        })
    }

    /// Runs `attempt` (one read-and-write round, given the index it acts on) until it is not a
    /// lost race, with jittered backoff, at most [`MAX_ROUNDS`] times and not past
    /// [`ROUNDS_DEADLINE`]. A round lost on the index's condition hands back the index as the
    /// winner left it (`ALL_OLD` of the failed condition), so the next round starts from it
    /// without reading it again; a conflict reads it again.
    async fn rounds<T, F, Fut>(
        &self,
        user_id: &Key,
        op: &str,
        mut attempt: F,
    ) -> Result<T, StoreError>
    where
        F: FnMut(ReadIndex) -> Fut,
        Fut: std::future::Future<Output = Result<Round<T>, StoreError>>,
    {
        let queue = shared::dynamo::shard_of(user_id.as_str(), WRITE_QUEUES) as usize;
        let _turn = self.queues[queue].lock().await;
        let started = Instant::now();
        let mut fresh = None;
        for round in 0..MAX_ROUNDS {
            let read = match fresh.take() {
                Some(read) => read,
                None => self.read_index(user_id, op).await?,
            };
            match attempt(read).await? {
                Round::Done(done) => return Ok(done),
                Round::Lost(next) => fresh = next,
            }
            if started.elapsed() > ROUNDS_DEADLINE {
                break;
            }
            backoff(round).await;
        }
        Err(StoreError::Unavailable(format!(
            "{op}: concurrent writes of the same user kept winning; try again"
        )))
    }
}

/// What one round of a mutation came to.
enum Round<T> {
    /// Written (or nothing to write): the answer.
    Done(T),
    /// Another write of the user's index won: try again, from this index when the failed
    /// condition returned it.
    Lost(Option<ReadIndex>),
}

/// The round after `transact` answered `outcome` for `items` (the index put last): `Done(done)`,
/// or `Lost` with the index the failed condition returned; a cancellation for any other reason
/// is an error.
fn after<T>(op: &str, outcome: Transacted, done: T) -> Result<Round<T>, StoreError> {
    match outcome {
        Transacted::Done => Ok(Round::Done(done)),
        Transacted::Cancelled(reasons) if lost_race(&reasons) => {
            let index = reasons
                .last()
                .filter(|reason| reason.condition_failed())
                .and_then(|reason| reason.item.as_ref())
                .map(index_from_item)
                .transpose()?
                .map(|index| ReadIndex {
                    found: Some(index.ver),
                    index,
                });
            Ok(Round::Lost(index))
        }
        Transacted::Cancelled(reasons) => Err(cancelled(op, &reasons)),
    }
}

/// Sleeps a random time up to 10 ms × 2^round, at most 500 ms ("full jitter": concurrent losers
/// spread out instead of racing again together).
async fn backoff(round: u32) {
    let cap = (10u64 << round.min(6)).min(500);
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    tokio::time::sleep(Duration::from_millis(random % (cap + 1))).await;
}

/// True when a cancelled transaction only lost a race (a condition on the index version, or a
/// conflict with a concurrent transaction): read again and retry.
fn lost_race(reasons: &[Cancel]) -> bool {
    reasons.iter().all(|reason| {
        reason.condition_failed()
            || reason.conflicted()
            || matches!(reason.code.as_deref(), None | Some("None"))
    })
}

impl TransitStore for DynamoTransitStore {
    async fn list_transcripts(
        &self,
        user_id: &Key,
        limit: usize,
    ) -> Result<Vec<TranscriptJson>, StoreError> {
        const OP: &str = "transit.listTranscripts";
        for _ in 0..LIST_ROUNDS {
            let read = self.read_index(user_id, OP).await?;
            let selected: Vec<&Entry> = read.index.select(limit).iter().collect();
            if selected.is_empty() {
                return Ok(Vec::new());
            }
            if let Some(bodies) = self.read_bodies(user_id, &selected, OP).await? {
                return Ok(bodies);
            }
        }
        Err(StoreError::Unavailable(format!(
            "{OP}: the user's transcripts changed under every read; try again"
        )))
    }

    async fn save_transcript(&self, transcript: &NewTranscript) -> Result<Saved, StoreError> {
        const OP: &str = "transit.saveTranscript";
        let user_id = &transcript.user_id;
        let chunks = chunks(transcript.json.len());
        let candidate = Candidate {
            id: transcript.id.clone(),
            created_at: transcript.created_at.clone(),
            chunks,
            size: transcript.json.len() as u64,
            wire: transcript.json.wire_len() as u64,
        };
        let candidate = &candidate;
        self.rounds(user_id, OP, move |mut read| async move {
            let undecided = read.index.undecided_with(candidate);
            if !undecided.is_empty()
                && !self
                    .complete_created_at(user_id, &mut read.index, &undecided, OP)
                    .await?
            {
                return Ok(Round::Lost(None));
            }
            let SavePlan::Write {
                index: mut next,
                entry,
                updated,
                dropped,
            } = read.index.plan_save(candidate)
            else {
                return Ok(Round::Done(Saved::Trimmed));
            };
            let delete = dropped.iter().map(Entry::body_ref).collect();
            let items = self.write_items(
                user_id,
                read.found,
                &mut next,
                Some((&entry, &transcript.json)),
                delete,
            )?;
            let saved = if updated {
                Saved::Updated
            } else {
                Saved::Inserted
            };
            after(OP, transact(&self.client, OP, items).await?, saved)
        })
        .await
    }

    async fn clear_transcripts(&self, user_id: &Key) -> Result<usize, StoreError> {
        const OP: &str = "transit.clearTranscripts";
        let (cleared, left) = self
            .rounds(user_id, OP, move |read| async move {
                if read.index.entries.is_empty() {
                    return Ok(Round::Done((0, read)));
                }
                let (mut next, removed) = read.index.plan_clear();
                let delete = removed.iter().map(Entry::body_ref).collect();
                let items = self.write_items(user_id, read.found, &mut next, None, delete)?;
                let left = ReadIndex {
                    found: Some(next.ver),
                    index: next,
                };
                after(
                    OP,
                    transact(&self.client, OP, items).await?,
                    (removed.len(), left),
                )
            })
            .await?;
        self.collect_garbage(user_id, left).await;
        Ok(cleared)
    }

    async fn remove_transcript(
        &self,
        user_id: &Key,
        transcript_id: &Key,
    ) -> Result<bool, StoreError> {
        const OP: &str = "transit.removeTranscript";
        self.rounds(user_id, OP, move |read| async move {
            let Some((mut next, removed)) = read.index.plan_remove(transcript_id) else {
                return Ok(Round::Done(false));
            };
            let items = self.write_items(
                user_id,
                read.found,
                &mut next,
                None,
                vec![removed.body_ref()],
            )?;
            after(OP, transact(&self.client, OP, items).await?, true)
        })
        .await
    }

    async fn get_calendar_token(&self, user_id: &Key) -> Result<Option<CalendarToken>, StoreError> {
        self.get_token(user_id).await
    }

    async fn set_calendar_token(
        &self,
        user_id: &Key,
        token: &CalendarToken,
    ) -> Result<bool, StoreError> {
        self.set_token(user_id, token).await
    }

    async fn clear_calendar_token(&self, user_id: &Key) -> Result<bool, StoreError> {
        self.clear_token(user_id).await
    }
}

/// A transaction cancelled for a reason other than a lost race: a bug.
fn cancelled(op: &str, reasons: &[Cancel]) -> StoreError {
    StoreError::Internal(format!(
        "{op}: the transaction was cancelled ({})",
        reasons
            .iter()
            .filter_map(|r| r.code.as_deref())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}
