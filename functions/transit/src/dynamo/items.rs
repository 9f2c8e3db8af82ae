//! The transcripts table's items: the index item's attributes, body items (read in batches, written
//! in the index's transactions) and the deletion of bodies left over by a large clear.

use super::{
    attr, backoff, lost_race, DynamoTransitStore, ReadIndex, BATCH_ATTEMPTS, BATCH_GET_KEYS,
    CHUNK_BYTES, MAX_ROUNDS, MAX_TRANSACT_ITEMS, ROUNDS_DEADLINE,
};
use crate::index::{codec, Body, Entry, Index};
use crate::model::TranscriptJson;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, KeysAndAttributes, Put, TransactWriteItem};
use futures::{StreamExt, TryStreamExt};
use shared::dynamo::{n, store_error, transact, Item, Transacted};
use shared::{Key, StoreError};
use std::collections::HashMap;
use std::time::{Duration, Instant};

impl DynamoTransitStore {
    /// The bodies of `entries`, in their order, or `None` when one is gone (a concurrent write
    /// replaced or deleted it after the index was read): strongly consistent `BatchGetItem`s of at
    /// most [`BATCH_GET_KEYS`] keys each.
    pub(super) async fn read_bodies(
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
    pub(super) async fn batch_get(
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
    pub(super) async fn complete_created_at(
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
            index.entries[i].created_at = body.created_at()?;
            index.entries[i].cut = false;
        }
        Ok(true)
    }

    /// The items of one write of the index: the new index `next` (conditioned on the version
    /// `read` found), the body `put` if any, and deletes of the bodies in `delete` and of the
    /// index's garbage, as many as the transaction holds; the rest become garbage of `next`.
    pub(super) fn write_items(
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
    pub(super) async fn collect_garbage(&self, user_id: &Key, mut read: ReadIndex) {
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
pub(super) fn index_from_item(item: &Item) -> Result<Index, StoreError> {
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
