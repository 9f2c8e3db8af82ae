//! The DynamoDB store of the provisioning group, and [`attr`]: its tables, key formats and
//! attribute names. The reads are here; `write` holds `save` and `markRevoked`.

mod write;

pub use write::MAX_WRITE_ROUNDS;

use crate::model::{Credential, Limit, Provider, RecordId, Status, Usage, UsageEntry};
use crate::store::ProvisioningStore;
use futures::future::try_join_all;
use shared::dynamo::{s, Item};
use shared::{Key, Num, StoreError};
use std::collections::HashMap;

/// Table, attribute and index names. The credential and usage attributes are also the JSON
/// field names; [`HIDDEN`](attr::HIDDEN) lists the attributes that are never returned.
pub mod attr {
    /// The credentials table: `CredentialsTable` in `template.yaml`, named by `CREDENTIALS_TABLE`.
    pub const CREDENTIALS: shared::config::TableRef = shared::config::TableRef {
        resource: "CredentialsTable",
        env: "CREDENTIALS_TABLE",
        default: "credentials",
    };
    /// The usage table: `UsageTable` in `template.yaml`, named by `PROVISIONING_USAGE_TABLE`.
    pub const USAGE: shared::config::TableRef = shared::config::TableRef {
        resource: "UsageTable",
        env: "PROVISIONING_USAGE_TABLE",
        default: "provisioning-usage",
    };
    /// Hidden: the credentials table's partition key: a credential's [`super::owner_key`], or a
    /// pointer's [`super::list_part`].
    pub const PART: &str = "part";
    /// The credentials table's sort key (a credential's or a pointer's credential id).
    pub const ID: &str = "id";
    /// The owner; the usage table's partition key.
    pub const USER_ID: &str = "userId";
    /// A credential's status.
    pub const STATUS: &str = "status";
    /// Hidden: the creation time and id ([`super::created_key`]), set once; the usage table's sort
    /// key. A credential keeps it to restore [`ACTIVE_CREATED_KEY`] when it is saved active again.
    pub const CREATED_KEY: &str = "createdKey";
    /// Hidden: an *active* credential's [`CREATED_KEY`], absent otherwise; the sort key of
    /// [`ACTIVE_BY_CREATION`].
    pub const ACTIVE_CREATED_KEY: &str = "activeCreatedKey";
    /// A pointer's: the [`PART`] (owner key) its credential is stored under.
    pub const OWNER: &str = "owner";
    /// A pointer's: its credential's [`CREATED_KEY`]; the sort key of [`BY_CREATION`].
    pub const LIST_KEY: &str = "listKey";
    /// The sparse local index (`part`, `activeCreatedKey`) of active credentials, all attributes.
    pub const ACTIVE_BY_CREATION: &str = "activeByCreation";
    /// The local index (`part`, `listKey`) of the pointers, all attributes.
    pub const BY_CREATION: &str = "byCreation";
    /// How many partitions the pointers are spread over ([`super::list_shard`]).
    pub const LIST_SHARDS: u32 = 4;
    /// Attributes of a credential item the service keeps for itself and never returns.
    pub const HIDDEN: [&str; 3] = [PART, CREATED_KEY, ACTIVE_CREATED_KEY];
}

/// Keys of one `BatchGetItem` (DynamoDB's limit).
const BATCH_GET_KEYS: usize = 100;
/// Attempts of one `BatchGetItem` while DynamoDB leaves keys unprocessed (an answer past 16 MB,
/// throttling), with backoff.
const BATCH_GET_ATTEMPTS: u32 = 8;

/// The creation key of record `id` created at `now_ms`: the milliseconds zero-padded to 16 digits,
/// `#`, the id. Byte order of these keys is creation order, ties broken by id.
pub fn created_key(now_ms: f64, id: &str) -> String {
    let ms = if now_ms.is_finite() && now_ms > 0.0 {
        now_ms.floor() as u64
    } else {
        0
    };
    format!("{ms:016}#{id}")
}

/// The partition of a user's credentials for a provider: the user id's byte length, `:`, the user
/// id, `#`, the provider. The length makes it unambiguous whatever the ids contain, and it starts
/// with a digit, so it is never a [`list_part`].
pub fn owner_key(user_id: &Key, provider: &Provider) -> String {
    let user = user_id.as_str();
    format!("{}:{user}#{}", user.len(), provider.as_str())
}

/// The pointer shard of a credential id: FNV-1a of its bytes, modulo [`attr::LIST_SHARDS`].
pub fn list_shard(id: &str) -> u32 {
    shared::dynamo::shard_of(id, attr::LIST_SHARDS)
}

/// The partition of the pointers of shard `shard`: `list#<shard>`.
pub fn list_part(shard: u32) -> String {
    format!("list#{shard}")
}

/// The key of a credential item.
fn credential_key(owner: &str, id: &str) -> Item {
    HashMap::from([(attr::PART.into(), s(owner)), (attr::ID.into(), s(id))])
}

/// The key of the pointer of credential `id`.
fn pointer_key(id: &str) -> Item {
    credential_key(&list_part(list_shard(id)), id)
}

/// `item` without its hidden attributes, read as `T`.
fn visible<T: serde::de::DeserializeOwned>(mut item: Item) -> Result<T, StoreError> {
    for hidden in attr::HIDDEN {
        item.remove(hidden);
    }
    shared::dynamo::from_item(item)
}

/// The text of attribute `name` of `item`.
fn text(item: &Item, name: &str) -> Result<String, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .ok_or_else(|| StoreError::Internal(format!("provisioning: an item without {name}")))
}

/// The item of a usage record created with `created_key`.
pub(crate) fn usage_item(usage: &Usage, created_key: String) -> Result<Item, StoreError> {
    let mut item = shared::dynamo::to_item(usage)?;
    item.insert(attr::CREATED_KEY.into(), s(created_key));
    Ok(item)
}

/// The whole item of a credential created with `created_key`, hidden attributes included (the
/// active creation key only while it is active: the index is sparse).
pub(crate) fn credential_item(
    credential: &Credential,
    created_key: &str,
) -> Result<Item, StoreError> {
    let mut item = shared::dynamo::to_item(credential)?;
    item.insert(
        attr::PART.into(),
        s(owner_key(&credential.user_id, &credential.provider)),
    );
    item.insert(attr::CREATED_KEY.into(), s(created_key));
    if credential.status == Status::Active {
        item.insert(attr::ACTIVE_CREATED_KEY.into(), s(created_key));
    }
    Ok(item)
}

/// The pointer item of `credential` created with `created_key`: where it is stored, and its place
/// in creation order.
pub(crate) fn pointer_item(credential: &Credential, created_key: &str) -> Item {
    let mut item = pointer_key(credential.id.as_str());
    item.insert(
        attr::OWNER.into(),
        s(owner_key(&credential.user_id, &credential.provider)),
    );
    item.insert(attr::LIST_KEY.into(), s(created_key));
    item
}

/// The items a credential's import writes: the credential under its owner and its pointer, with
/// the creation key of `created_ms`.
pub(crate) fn credential_import_items(
    credential: &Credential,
    created_ms: f64,
) -> Result<Vec<Item>, StoreError> {
    let created = created_key(created_ms, credential.id.as_str());
    Ok(vec![
        credential_item(credential, &created)?,
        pointer_item(credential, &created),
    ])
}

/// A credential's pointer, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pointer {
    /// The owner key the credential is stored under.
    owner: String,
    /// The credential's creation key.
    list_key: String,
}

impl Pointer {
    fn of(item: &Item) -> Result<Self, StoreError> {
        Ok(Self {
            owner: text(item, attr::OWNER)?,
            list_key: text(item, attr::LIST_KEY)?,
        })
    }
}

/// The DynamoDB store.
#[derive(Clone)]
pub struct DynamoProvisioningStore {
    client: shared::dynamo::Client,
    credentials: String,
    usage: String,
}

impl DynamoProvisioningStore {
    /// A store on the tables named `credentials` and `usage`.
    pub fn new(
        client: shared::dynamo::Client,
        credentials: impl Into<String>,
        usage: impl Into<String>,
    ) -> Self {
        Self {
            client,
            credentials: credentials.into(),
            usage: usage.into(),
        }
    }

    /// Runs `query` (strongly consistent) page after page until it has `want` items or none are
    /// left.
    async fn query_up_to(
        op: &str,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
        want: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let remaining = i32::try_from(want - items.len()).unwrap_or(i32::MAX);
            let output = query
                .clone()
                .consistent_read(true)
                .limit(remaining)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| shared::dynamo::store_error(op, e))?;
            items.extend(output.items.unwrap_or_default());
            start = output.last_evaluated_key;
            if start.is_none() || items.len() >= want {
                return Ok(items);
            }
        }
    }

    /// The item at `key` of the credentials table (a strongly consistent `GetItem`).
    async fn get(&self, op: &str, key: Item) -> Result<Option<Item>, StoreError> {
        self.client
            .get_item()
            .table_name(&self.credentials)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map(|output| output.item)
            .map_err(|e| shared::dynamo::store_error(op, e))
    }

    /// The pointer of credential `id`, if it was ever saved.
    async fn pointer(&self, op: &str, id: &str) -> Result<Option<Pointer>, StoreError> {
        self.get(op, pointer_key(id))
            .await?
            .as_ref()
            .map(Pointer::of)
            .transpose()
    }

    /// The oldest `want` pointers of one shard: (creation key, credential id, owner key).
    async fn oldest_in_shard(
        &self,
        shard: u32,
        want: usize,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.credentials)
            .index_name(attr::BY_CREATION)
            .key_condition_expression("#part = :part")
            .expression_attribute_names("#part", attr::PART)
            .expression_attribute_values(":part", s(list_part(shard)))
            .scan_index_forward(true);
        Self::query_up_to("provisioning.list", query, want)
            .await?
            .iter()
            .map(|item| {
                let pointer = Pointer::of(item)?;
                Ok((pointer.list_key, text(item, attr::ID)?, pointer.owner))
            })
            .collect()
    }

    /// The credential items at `keys` (at most [`BATCH_GET_KEYS`]), by a strongly consistent
    /// `BatchGetItem`, again for the keys DynamoDB leaves unprocessed.
    async fn batch_get(&self, mut keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut items = Vec::new();
        for attempt in 0..BATCH_GET_ATTEMPTS {
            if keys.is_empty() {
                return Ok(items);
            }
            if attempt > 0 {
                write::pause(attempt).await;
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut keys)))
                .consistent_read(true)
                .build()
                .map_err(write::build_error)?;
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.credentials, request)
                .send()
                .await
                .map_err(|e| shared::dynamo::store_error("provisioning.list", e))?;
            if let Some(mut found) = output.responses {
                items.extend(found.remove(&self.credentials).unwrap_or_default());
            }
            if let Some(mut left) = output.unprocessed_keys {
                keys = left
                    .remove(&self.credentials)
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
        }
        if keys.is_empty() {
            Ok(items)
        } else {
            Err(StoreError::Unavailable(format!(
                "provisioning.list: {} credentials left unprocessed after {BATCH_GET_ATTEMPTS} attempts",
                keys.len()
            )))
        }
    }

    /// Credential `id` wherever its pointer says it is now (for a credential that moved to another
    /// owner while `list` read it); `None` when there is none.
    async fn credential_by_id(&self, id: &str) -> Result<Option<Credential>, StoreError> {
        for _ in 0..write::MAX_WRITE_ROUNDS {
            let Some(pointer) = self.pointer("provisioning.list", id).await? else {
                return Ok(None);
            };
            match self
                .get("provisioning.list", credential_key(&pointer.owner, id))
                .await?
            {
                Some(item) => return visible(item).map(Some),
                None if self.pointer("provisioning.list", id).await? == Some(pointer) => {
                    return Ok(None)
                }
                None => continue,
            }
        }
        Err(write::contention("provisioning.list"))
    }
}

impl ProvisioningStore for DynamoProvisioningStore {
    async fn save(&self, credential: Credential, now: Num) -> Result<(), StoreError> {
        self.save_credential(credential, now).await
    }

    async fn find_active(
        &self,
        user_id: &Key,
        provider: &Provider,
    ) -> Result<Option<Credential>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.credentials)
            .index_name(attr::ACTIVE_BY_CREATION)
            .key_condition_expression("#part = :part")
            .expression_attribute_names("#part", attr::PART)
            .expression_attribute_values(":part", s(owner_key(user_id, provider)))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(1)
            .send()
            .await
            .map_err(|e| shared::dynamo::store_error("provisioning.findActive", e))?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(visible)
            .transpose()
    }

    async fn mark_revoked(&self, id: &RecordId) -> Result<bool, StoreError> {
        self.revoke(id.as_str()).await
    }

    async fn list(&self, limit: Limit) -> Result<Vec<Credential>, StoreError> {
        let want = limit.get();
        let shards = (0..attr::LIST_SHARDS).map(|shard| self.oldest_in_shard(shard, want));
        let mut pointers = try_join_all(shards).await?.concat();
        pointers.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        pointers.truncate(want);
        let keys: Vec<Item> = pointers
            .iter()
            .map(|(_, id, owner)| credential_key(owner, id))
            .collect();
        let batches = keys
            .chunks(BATCH_GET_KEYS)
            .map(|chunk| self.batch_get(chunk.to_vec()));
        let mut found: HashMap<(String, String), Item> = HashMap::new();
        for item in try_join_all(batches).await?.into_iter().flatten() {
            found.insert((text(&item, attr::PART)?, text(&item, attr::ID)?), item);
        }
        let mut credentials = Vec::with_capacity(pointers.len());
        for (_, id, owner) in pointers {
            match found.remove(&(owner, id.clone())) {
                Some(item) => credentials.push(visible(item)?),
                None => credentials.extend(self.credential_by_id(&id).await?),
            }
        }
        Ok(credentials)
    }

    async fn record_usage(&self, entry: UsageEntry, now: Num) -> Result<Usage, StoreError> {
        use aws_sdk_dynamodb::operation::put_item::PutItemError;
        use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
        let usage = entry.into_usage();
        let item = usage_item(&usage, created_key(now.get(), usage.id.as_str()))?;
        let result = self
            .client
            .put_item()
            .table_name(&self.usage)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#created)")
            .expression_attribute_names("#created", attr::CREATED_KEY)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(usage),
            Err(err) => {
                let stored = err.as_service_error().and_then(|e| match e {
                    PutItemError::ConditionalCheckFailedException(failed) => {
                        Some(failed.item.clone())
                    }
                    _ => None,
                });
                match stored {
                    Some(Some(item)) => visible(item),
                    Some(None) => Err(StoreError::Internal(
                        "provisioning.recordUsage: the key is taken but no item came back".into(),
                    )),
                    None => Err(shared::dynamo::store_error("provisioning.recordUsage", err)),
                }
            }
        }
    }

    async fn list_usage(&self, user_id: &Key, limit: Limit) -> Result<Vec<Usage>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.usage)
            .key_condition_expression("#user = :user")
            .expression_attribute_names("#user", attr::USER_ID)
            .expression_attribute_values(":user", s(user_id.as_str()))
            .scan_index_forward(false);
        Self::query_up_to("provisioning.listUsage", query, limit.get())
            .await?
            .into_iter()
            .map(visible)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MAX_PROVIDER_BYTES, MAX_RECORD_ID_BYTES};

    #[test]
    fn created_keys_sort_by_time_then_id() {
        assert_eq!(created_key(1_700_000_000_000.0, "a"), "0001700000000000#a");
        assert_eq!(created_key(-5.0, "a"), "0000000000000000#a");
        assert_eq!(created_key(f64::NAN, "a"), "0000000000000000#a");
        let mut keys = vec![
            created_key(20.0, "a"),
            created_key(3.0, "z"),
            created_key(20.0, "b"),
            created_key(100.0, "a"),
        ];
        keys.sort();
        assert_eq!(
            keys,
            [
                created_key(3.0, "z"),
                created_key(20.0, "a"),
                created_key(20.0, "b"),
                created_key(100.0, "a"),
            ]
        );
    }

    #[test]
    fn owner_keys_cannot_be_confused_whatever_the_ids_hold_and_fit_their_key_limits() {
        let key =
            |u: &str, p: &str| owner_key(&Key::parse(u).unwrap(), &Provider::parse(p).unwrap());
        assert_ne!(key("a#b", "c"), key("a", "b#c"));
        assert_eq!(key("alice", "openai"), "5:alice#openai");
        let longest = key(
            &"u".repeat(shared::parse::MAX_KEY_BYTES),
            &"p".repeat(MAX_PROVIDER_BYTES),
        );
        assert!(longest.len() <= 2048, "a partition key: {}", longest.len());
        let longest_created = created_key(9e15, &"i".repeat(MAX_RECORD_ID_BYTES));
        assert!(
            longest_created.len() <= 1024,
            "a sort key: {}",
            longest_created.len()
        );
        for shard in 0..attr::LIST_SHARDS {
            assert!(!list_part(shard).starts_with(|c: char| c.is_ascii_digit()));
        }
    }

    #[test]
    fn list_shards_spread_ids_over_every_shard() {
        let mut seen = [0u32; attr::LIST_SHARDS as usize];
        for i in 0..400 {
            seen[list_shard(&format!("credential-{i}")) as usize] += 1;
        }
        assert!(seen.iter().all(|&count| count > 50), "{seen:?}");
    }
}
