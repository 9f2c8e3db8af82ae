//! The DynamoDB store of the provisioning group, and [`attr`]: its table, key formats and attribute
//! names.

use crate::model::{Credential, Limit, Provider, RecordId, Status, Usage, UsageEntry};
use crate::store::ProvisioningStore;
use futures::future::try_join_all;
use shared::dynamo::Item;
use shared::{Key, Num, StoreError};

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
    /// The credentials table's partition key.
    pub const ID: &str = "id";
    /// The owner; the usage table's partition key.
    pub const USER_ID: &str = "userId";
    /// A credential's status.
    pub const STATUS: &str = "status";
    /// Hidden: the creation time and id ([`super::created_key`]); the usage table's sort key and
    /// the sort key of both credential indexes.
    pub const CREATED_KEY: &str = "createdKey";
    /// Hidden: the user and provider of an *active* credential ([`super::active_key`]), absent
    /// otherwise; the partition key of [`ACTIVE_BY_OWNER`].
    pub const ACTIVE_KEY: &str = "activeKey";
    /// Hidden: the credential's shard of [`BY_CREATION`] ([`super::list_shard`]).
    pub const LIST_SHARD: &str = "listShard";
    /// The sparse index (`activeKey`, `createdKey`) of active credentials, all attributes.
    pub const ACTIVE_BY_OWNER: &str = "activeByOwner";
    /// The index (`listShard`, `createdKey`) of every credential, all attributes.
    pub const BY_CREATION: &str = "byCreation";
    /// How many shards [`BY_CREATION`] has.
    pub const LIST_SHARDS: u32 = 4;
    /// Attributes the service keeps for itself and never returns.
    pub const HIDDEN: [&str; 3] = [CREATED_KEY, ACTIVE_KEY, LIST_SHARD];
}

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

/// The active-index partition of a user's credentials for a provider: the user id's byte length,
/// `:`, the user id, `#`, the provider. The length makes it unambiguous whatever the ids contain.
pub fn active_key(user_id: &Key, provider: &Provider) -> String {
    let user = user_id.as_str();
    format!("{}:{user}#{}", user.len(), provider.as_str())
}

/// The [`attr::BY_CREATION`] shard of a credential id: FNV-1a of its bytes, modulo
/// [`attr::LIST_SHARDS`].
pub fn list_shard(id: &str) -> u32 {
    shared::dynamo::shard_of(id, attr::LIST_SHARDS)
}

/// The DynamoDB store.
#[derive(Clone)]
pub struct DynamoProvisioningStore {
    client: shared::dynamo::Client,
    credentials: String,
    usage: String,
}

/// `item` without its hidden attributes, read as `T`.
fn visible<T: serde::de::DeserializeOwned>(mut item: Item) -> Result<T, StoreError> {
    for hidden in attr::HIDDEN {
        item.remove(hidden);
    }
    shared::dynamo::from_item(item)
}

/// The item of a usage record created with `created_key`.
pub(crate) fn usage_item(usage: &Usage, created_key: String) -> Result<Item, StoreError> {
    let mut item = shared::dynamo::to_item(usage)?;
    item.insert(attr::CREATED_KEY.into(), shared::dynamo::s(created_key));
    Ok(item)
}

/// The whole item of a credential created with `created_key`, hidden index attributes included
/// (the active key only while it is active: the index is sparse).
pub(crate) fn credential_item(
    credential: &Credential,
    created_key: String,
) -> Result<Item, StoreError> {
    use shared::dynamo::{n, s};
    let id = credential.id.as_str();
    let mut item = shared::dynamo::to_item(credential)?;
    item.insert(attr::CREATED_KEY.into(), s(created_key));
    item.insert(attr::LIST_SHARD.into(), n(f64::from(list_shard(id))));
    if credential.status == Status::Active {
        item.insert(
            attr::ACTIVE_KEY.into(),
            s(active_key(&credential.user_id, &credential.provider)),
        );
    }
    Ok(item)
}

fn created_key_of(item: &Item) -> Result<String, StoreError> {
    item.get(attr::CREATED_KEY)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .ok_or_else(|| StoreError::Internal("credential without createdKey in the index".into()))
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

    /// Runs `query` page after page until it has `want` items or none are left.
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

    /// The oldest `want` credentials of one shard of the creation index, with their creation keys.
    async fn oldest_in_shard(
        &self,
        shard: u32,
        want: usize,
    ) -> Result<Vec<(String, Credential)>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.credentials)
            .index_name(attr::BY_CREATION)
            .key_condition_expression("#shard = :shard")
            .expression_attribute_names("#shard", attr::LIST_SHARD)
            .expression_attribute_values(":shard", shared::dynamo::n(f64::from(shard)))
            .scan_index_forward(true);
        Self::query_up_to("provisioning.list", query, want)
            .await?
            .into_iter()
            .map(|item| Ok((created_key_of(&item)?, visible(item)?)))
            .collect()
    }
}

impl ProvisioningStore for DynamoProvisioningStore {
    async fn save(&self, credential: Credential, now: Num) -> Result<(), StoreError> {
        use shared::dynamo::{n, s};
        let active = (credential.status == Status::Active)
            .then(|| active_key(&credential.user_id, &credential.provider));
        let id = credential.id.as_str().to_owned();
        let mut fields = shared::dynamo::to_item(&credential)?;
        fields.remove(attr::ID);
        let mut sets = vec![
            format!("#{c} = if_not_exists(#{c}, :{c})", c = attr::CREATED_KEY),
            format!("#{l} = :{l}", l = attr::LIST_SHARD),
        ];
        let mut request = self
            .client
            .update_item()
            .table_name(&self.credentials)
            .key(attr::ID, s(&id))
            .expression_attribute_names(format!("#{}", attr::CREATED_KEY), attr::CREATED_KEY)
            .expression_attribute_values(
                format!(":{}", attr::CREATED_KEY),
                s(created_key(now.get(), &id)),
            )
            .expression_attribute_names(format!("#{}", attr::LIST_SHARD), attr::LIST_SHARD)
            .expression_attribute_values(
                format!(":{}", attr::LIST_SHARD),
                n(f64::from(list_shard(&id))),
            )
            .expression_attribute_names(format!("#{}", attr::ACTIVE_KEY), attr::ACTIVE_KEY);
        for (name, value) in fields {
            sets.push(format!("#{name} = :{name}"));
            request = request
                .expression_attribute_names(format!("#{name}"), &name)
                .expression_attribute_values(format!(":{name}"), value);
        }
        let update = match active {
            Some(key) => {
                sets.push(format!("#{a} = :{a}", a = attr::ACTIVE_KEY));
                request =
                    request.expression_attribute_values(format!(":{}", attr::ACTIVE_KEY), s(key));
                format!("SET {}", sets.join(", "))
            }
            None => format!("SET {} REMOVE #{}", sets.join(", "), attr::ACTIVE_KEY),
        };
        request
            .update_expression(update)
            .send()
            .await
            .map_err(|e| shared::dynamo::store_error("provisioning.save", e))?;
        Ok(())
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
            .index_name(attr::ACTIVE_BY_OWNER)
            .key_condition_expression("#active = :active")
            .expression_attribute_names("#active", attr::ACTIVE_KEY)
            .expression_attribute_values(
                ":active",
                shared::dynamo::s(active_key(user_id, provider)),
            )
            .scan_index_forward(false)
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
        let result = self
            .client
            .update_item()
            .table_name(&self.credentials)
            .key(attr::ID, shared::dynamo::s(id.as_str()))
            .update_expression("SET #status = :revoked REMOVE #active")
            .condition_expression("attribute_exists(#id)")
            .expression_attribute_names("#status", attr::STATUS)
            .expression_attribute_names("#active", attr::ACTIVE_KEY)
            .expression_attribute_names("#id", attr::ID)
            .expression_attribute_values(":revoked", shared::dynamo::s("revoked"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(err) => Err(shared::dynamo::store_error("provisioning.markRevoked", err)),
        }
    }

    async fn list(&self, limit: Limit) -> Result<Vec<Credential>, StoreError> {
        let want = limit.get();
        let shards = (0..attr::LIST_SHARDS).map(|shard| self.oldest_in_shard(shard, want));
        let mut all: Vec<(String, Credential)> = try_join_all(shards).await?.concat();
        all.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        all.truncate(want);
        Ok(all.into_iter().map(|(_, credential)| credential).collect())
    }

    async fn record_usage(&self, entry: UsageEntry, now: Num) -> Result<Usage, StoreError> {
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
                let stored = err
                    .as_service_error()
                    .and_then(|e| match e {
                        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(
                            failed,
                        ) => Some(failed.item.clone()),
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
            .expression_attribute_values(":user", shared::dynamo::s(user_id.as_str()))
            .scan_index_forward(false)
            .consistent_read(true);
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
    fn active_keys_cannot_be_confused_whatever_the_ids_hold() {
        let key =
            |u: &str, p: &str| active_key(&Key::parse(u).unwrap(), &Provider::parse(p).unwrap());
        assert_ne!(key("a#b", "c"), key("a", "b#c"));
        assert_eq!(key("alice", "openai"), "5:alice#openai");
        let longest = key(&"u".repeat(1024), &"p".repeat(MAX_PROVIDER_BYTES));
        assert!(longest.len() <= 2048, "{}", longest.len());
        let longest_created = created_key(9e15, &"i".repeat(MAX_RECORD_ID_BYTES));
        assert!(longest_created.len() <= 1024, "{}", longest_created.len());
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
