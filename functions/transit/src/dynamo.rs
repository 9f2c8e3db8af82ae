//! The DynamoDB store. The design (keys, the index item, exactly-once and consistency) is in the
//! crate docs; the key formats and attribute names are in [`attr`].

use crate::index::{codec, Body, Candidate, Entry, Index, SavePlan};
use crate::model::{CalendarToken, NewTranscript, Saved, Secret, TranscriptJson};
use crate::store::TransitStore;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, KeysAndAttributes, Put, TransactWriteItem};
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use shared::dynamo::transact::{key1, Cancel};
use shared::dynamo::{
    delete_existing, from_item, n, s, store_error, transact, Client, Item, Transacted, WriteToken,
};
use shared::{Key, Num, StoreError};
use std::collections::HashMap;
use std::time::{Duration, Instant};

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
    /// Calendar token: the write token of the call that created it (see
    /// [`super::DynamoTransitStore`]'s `set_calendar_token`), never returned.
    pub const CREATED_BY: &str = "createdBy";
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

    /// The bodies of `entries`, in their order, or `None` when one is gone (a concurrent write
    /// replaced or deleted it after the index was read): strongly consistent `BatchGetItem`s of at
    /// most [`BATCH_GET_KEYS`] keys each.
    async fn read_bodies(
        &self,
        user_id: &Key,
        entries: &[&Entry],
        op: &str,
    ) -> Result<Option<Vec<TranscriptJson>>, StoreError> {
        let keys: Vec<Item> = entries
            .iter()
            .flat_map(|e| (0..e.chunks).map(|part| attr::body_sk(e.body, part)))
            .map(|sk| self.key(user_id, sk))
            .collect();
        let batches: Vec<Vec<Item>> = keys.chunks(BATCH_GET_KEYS).map(<[Item]>::to_vec).collect();
        let parts: Vec<HashMap<String, Vec<u8>>> = futures::stream::iter(batches)
            .map(|batch| self.batch_get(batch, op))
            .buffer_unordered(4)
            .try_collect()
            .await?;
        let mut parts: HashMap<String, Vec<u8>> = parts.into_iter().flatten().collect();
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            let mut json = Vec::with_capacity(entry.size as usize);
            for part in 0..entry.chunks {
                match parts.remove(&attr::body_sk(entry.body, part)) {
                    Some(bytes) => json.extend_from_slice(&bytes),
                    None => return Ok(None),
                }
            }
            out.push(TranscriptJson::from_stored(json)?);
        }
        Ok(Some(out))
    }

    /// One `BatchGetItem` of body items (retrying unprocessed keys): sort key → data.
    async fn batch_get(
        &self,
        keys: Vec<Item>,
        op: &str,
    ) -> Result<HashMap<String, Vec<u8>>, StoreError> {
        let mut found = HashMap::new();
        let mut request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .projection_expression("#sk, #data")
            .expression_attribute_names("#sk", attr::SK)
            .expression_attribute_names("#data", attr::DATA)
            .build()
            .map_err(|e| StoreError::Internal(format!("{op}: {e}")))?;
        for attempt in 0..BATCH_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
            }
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.transcripts, request)
                .send()
                .await
                .map_err(|e| store_error(op, e))?;
            for item in output
                .responses
                .and_then(|mut r| r.remove(&self.transcripts))
                .unwrap_or_default()
            {
                let sk = item.get(attr::SK).and_then(|v| v.as_s().ok()).cloned();
                let data = item.get(attr::DATA).and_then(|v| v.as_b().ok()).cloned();
                match (sk, data) {
                    (Some(sk), Some(data)) => {
                        found.insert(sk, data.into_inner());
                    }
                    _ => {
                        return Err(StoreError::Internal(format!(
                            "{op}: a body item without data"
                        )))
                    }
                }
            }
            match output
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.transcripts))
            {
                Some(left) if !left.keys().is_empty() => request = left,
                _ => return Ok(found),
            }
        }
        Err(StoreError::Unavailable(format!(
            "{op}: keys still unprocessed after {BATCH_ATTEMPTS} attempts"
        )))
    }

    /// The full `createdAt` of the entries at `positions` (their index keeps a prefix only), read
    /// from their bodies; false when a body is gone (the index changed: read it again).
    async fn complete_created_at(
        &self,
        user_id: &Key,
        index: &mut Index,
        positions: &[usize],
        op: &str,
    ) -> Result<bool, StoreError> {
        let entries: Vec<&Entry> = positions.iter().map(|&i| &index.entries[i]).collect();
        let Some(bodies) = self.read_bodies(user_id, &entries, op).await? else {
            return Ok(false);
        };
        for (&i, body) in positions.iter().zip(bodies) {
            index.entries[i].created_at = body.parse()?.created_at;
            index.entries[i].cut = false;
        }
        Ok(true)
    }

    /// The items of one write of the index: the new index `next` (conditioned on the version
    /// `read` found), the body `put` if any, and deletes of the bodies in `delete` and of the
    /// index's garbage, as many as the transaction holds; the rest become garbage of `next`.
    fn write_items(
        &self,
        user_id: &Key,
        read: Option<u64>,
        next: &mut Index,
        put: Option<(&Entry, &TranscriptJson)>,
        delete: Vec<Body>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut items = Vec::new();
        if let Some((entry, json)) = put {
            for (part, bytes) in json.as_str().as_bytes().chunks(CHUNK_BYTES).enumerate() {
                let mut item = self.key(user_id, attr::body_sk(entry.body, part as u32));
                item.insert(attr::DATA.to_owned(), AttributeValue::B(Blob::new(bytes)));
                items.push(put_item(&self.transcripts, item, None)?);
            }
        }
        let mut left = Vec::new();
        for body in delete.into_iter().chain(std::mem::take(&mut next.garbage)) {
            if items.len() + body.chunks as usize + 1 > MAX_TRANSACT_ITEMS {
                left.push(body);
                continue;
            }
            for part in 0..body.chunks {
                let key = self.key(user_id, attr::body_sk(body.body, part));
                let delete = Delete::builder()
                    .table_name(&self.transcripts)
                    .set_key(Some(key))
                    .build()
                    .map_err(|e| StoreError::Internal(format!("transit: {e}")))?;
                items.push(TransactWriteItem::builder().delete(delete).build());
            }
        }
        next.garbage = left;
        let mut item = index_to_item(next)?;
        item.extend(self.key(user_id, attr::INDEX));
        items.push(put_item(&self.transcripts, item, Some(read))?);
        Ok(items)
    }

    /// Deletes the index's garbage, a transaction at a time (best effort: what is left is deleted
    /// by the user's next writes).
    async fn collect_garbage(&self, user_id: &Key, mut read: ReadIndex) {
        let started = Instant::now();
        for round in 0..MAX_ROUNDS {
            if read.index.garbage.is_empty() {
                return;
            }
            let mut next = read.index.clone();
            next.ver += 1;
            let outcome = async {
                let items = self.write_items(user_id, read.found, &mut next, None, Vec::new())?;
                transact(&self.client, "transit.clearTranscripts.garbage", items).await
            }
            .await;
            match outcome {
                Ok(Transacted::Done) => {
                    read = ReadIndex {
                        found: Some(next.ver),
                        index: next,
                    };
                }
                Ok(Transacted::Cancelled(reasons)) if lost_race(&reasons) => {
                    if started.elapsed() > ROUNDS_DEADLINE {
                        return;
                    }
                    backoff(round).await;
                    match self
                        .read_index(user_id, "transit.clearTranscripts.garbage")
                        .await
                    {
                        Ok(again) => read = again,
                        Err(_) => return,
                    }
                }
                Ok(Transacted::Cancelled(_)) | Err(_) => {
                    tracing::warn!(
                        "transit.clearTranscripts: cleared; deleting the old bodies failed, the user's next writes delete them"
                    );
                    return;
                }
            }
        }
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

/// A transaction `Put` of `item`; with `Some(read)`, conditioned on the index version read
/// (`Some(ver)`) or on there being no index item (`None`).
fn put_item(
    table: &str,
    item: Item,
    condition: Option<Option<u64>>,
) -> Result<TransactWriteItem, StoreError> {
    let mut put = Put::builder().table_name(table).set_item(Some(item));
    match condition {
        None => {}
        Some(None) => {
            put = put
                .condition_expression("attribute_not_exists(#sk)")
                .expression_attribute_names("#sk", attr::SK);
        }
        Some(Some(ver)) => {
            put = put
                .condition_expression("#ver = :ver")
                .expression_attribute_names("#ver", attr::VER)
                .expression_attribute_values(":ver", n(ver as f64));
        }
    }
    if condition.is_some() {
        put = put.return_values_on_condition_check_failure(
            aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
        );
    }
    let put = put
        .build()
        .map_err(|e| StoreError::Internal(format!("transit: {e}")))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// The attributes of an index item (without its key): `createdAt` values cut for storage, the
/// entries and the garbage in their binary form ([`crate::index::codec`]).
pub(crate) fn index_to_item(index: &Index) -> Result<Item, StoreError> {
    let entries: Vec<Entry> = index.entries.iter().map(Entry::cut_for_storage).collect();
    let mut item = Item::from([
        (attr::VER.to_owned(), n(index.ver as f64)),
        (
            attr::ENTRIES.to_owned(),
            AttributeValue::B(Blob::new(codec::encode_entries(&entries))),
        ),
    ]);
    if !index.garbage.is_empty() {
        item.insert(
            attr::GARBAGE.to_owned(),
            AttributeValue::B(Blob::new(codec::encode_bodies(&index.garbage))),
        );
    }
    Ok(item)
}

/// The index an item holds.
fn index_from_item(item: &Item) -> Result<Index, StoreError> {
    let corrupt = |what: &str| StoreError::Internal(format!("transit index item: {what}"));
    let ver = item
        .get(attr::VER)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| corrupt("no version"))?;
    let binary = |name: &str| item.get(name).and_then(|v| v.as_b().ok()).map(Blob::as_ref);
    let entries = match binary(attr::ENTRIES) {
        Some(bytes) => codec::decode_entries(bytes).ok_or_else(|| corrupt("entries"))?,
        None => Vec::new(),
    };
    let garbage = match binary(attr::GARBAGE) {
        Some(bytes) => codec::decode_bodies(bytes).ok_or_else(|| corrupt("garbage"))?,
        None => Vec::new(),
    };
    Ok(Index {
        ver,
        entries,
        garbage,
    })
}

/// A calendar token item's returned fields (the key, the creator and the token sets are left out).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredToken {
    encrypted_payload: Secret,
    expires_at: Num,
    scope: Vec<String>,
    updated_at: Num,
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
        let output = self
            .client
            .get_item()
            .table_name(&self.tokens)
            .set_key(Some(key1(attr::USER_ID, user_id.as_str())))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error("transit.getCalendarToken", e))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        // The message names no value: the item holds a secret.
        let stored: StoredToken = from_item(item).map_err(|_| {
            StoreError::Internal("a stored calendar token does not read back".into())
        })?;
        Ok(Some(CalendarToken {
            encrypted_payload: stored.encrypted_payload,
            expires_at: stored.expires_at,
            scope: stored.scope,
            updated_at: stored.updated_at,
        }))
    }

    async fn set_calendar_token(
        &self,
        user_id: &Key,
        token: &CalendarToken,
    ) -> Result<bool, StoreError> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
        const OP: &str = "transit.setCalendarToken";
        let once = WriteToken::new(token.updated_at.get());
        let scope = token.scope.iter().map(|scope| s(scope.as_str())).collect();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.tokens)
            .set_key(Some(key1(attr::USER_ID, user_id.as_str())))
            .update_expression(format!(
                "SET #payload = :payload, #expires = :expires, #scope = :scope, #updated = :updated, \
                 #createdBy = if_not_exists(#createdBy, :createdBy) ADD {} REMOVE {}",
                once.add_clause(),
                once.remove_clause()
            ))
            .condition_expression(once.condition())
            .expression_attribute_names("#payload", attr::ENCRYPTED_PAYLOAD)
            .expression_attribute_names("#expires", attr::EXPIRES_AT)
            .expression_attribute_names("#scope", attr::SCOPE)
            .expression_attribute_names("#updated", attr::UPDATED_AT)
            .expression_attribute_names("#createdBy", attr::CREATED_BY)
            .expression_attribute_values(":payload", s(token.encrypted_payload.expose()))
            .expression_attribute_values(":expires", n(token.expires_at))
            .expression_attribute_values(":scope", AttributeValue::L(scope))
            .expression_attribute_values(":updated", n(token.updated_at))
            .expression_attribute_values(":createdBy", s(once.as_str()))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (name, value) in once.names() {
            update = update.expression_attribute_names(name, value);
        }
        for (name, value) in once.values() {
            update = update.expression_attribute_values(name, value);
        }
        match update.send().await {
            Ok(output) => Ok(output.attributes.is_some_and(|old| !old.is_empty())),
            Err(err) => {
                let old = match err.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                        failed.item().cloned()
                    }
                    _ => return Err(store_error(OP, err)),
                };
                // The only condition is "this call's token is not on the item": an earlier attempt
                // of this very call was applied. It created the token when the item's creator is
                // this call.
                match old {
                    Some(old) if once.applied_in(&old) => {
                        Ok(old.get(attr::CREATED_BY) != Some(&s(once.as_str())))
                    }
                    _ => Err(StoreError::Internal(format!(
                        "{OP}: the write's condition failed without its token on the item"
                    ))),
                }
            }
        }
    }

    async fn clear_calendar_token(&self, user_id: &Key) -> Result<bool, StoreError> {
        delete_existing(
            &self.client,
            "transit.clearCalendarToken",
            &self.tokens,
            key1(attr::USER_ID, user_id.as_str()),
        )
        .await
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
