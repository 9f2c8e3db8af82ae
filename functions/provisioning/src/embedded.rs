//! The embedded (redb) store of the provisioning group, for the dev server and the tests.

use crate::dynamo::{created_key, owner_key};
use crate::model::{Credential, Limit, Provider, RecordId, Status, Usage, UsageEntry};
use crate::store::ProvisioningStore;
use serde::{Deserialize, Serialize};
use shared::embedded::{self, EmbeddedDb, ReadTransaction, Table};
use shared::{Key, Num, StoreError};

/// The embedded store's tables. Keys that group records under a user (or a user and provider)
/// start with [`group_prefix`], so a range over that prefix holds that group only.
pub(crate) mod tables {
    use super::Table;
    /// Credential id → [`super::StoredCredential`].
    pub const CREDENTIALS: Table = Table::new("provisioning_credentials");
    /// Creation key → credential id: every credential, in creation order.
    pub const BY_CREATION: Table = Table::new("provisioning_credentials_by_creation");
    /// Group prefix of the owner key, then creation key → credential id: active credentials only.
    pub const ACTIVE: Table = Table::new("provisioning_credentials_active");
    /// Group prefix of the user id, then creation key → usage record.
    pub const USAGE: Table = Table::new("provisioning_usage");
}

/// The prefix of the keys of group `part` in an embedded table: its byte length, `:`, the text,
/// `/`. No prefix of one group is a prefix of another's keys.
fn group_prefix(part: &str) -> String {
    format!("{}:{part}/", part.len())
}

/// Bounds covering every key that starts with `prefix` (which ends with `/`).
fn prefix_bounds(prefix: &str) -> (String, String) {
    let upper = format!("{}0", &prefix[..prefix.len() - 1]);
    (prefix.to_owned(), upper)
}

/// A credential as the embedded store keeps it, with its creation key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoredCredential {
    pub(crate) created_key: String,
    pub(crate) record: Credential,
}

impl StoredCredential {
    fn active_entry(&self) -> Option<String> {
        (self.record.status == Status::Active).then(|| {
            let owner = owner_key(&self.record.user_id, &self.record.provider);
            format!("{}{}", group_prefix(&owner), self.created_key)
        })
    }
}

/// Stores `stored` in place of `old` (what its id held, if anything), moving its entries in both
/// index tables along.
pub(crate) fn put_stored(
    txn: &embedded::WriteTransaction,
    old: Option<&StoredCredential>,
    stored: &StoredCredential,
) -> Result<(), StoreError> {
    let id = stored.record.id.as_str();
    let old_created = old.map(|old| old.created_key.as_str());
    if old_created != Some(stored.created_key.as_str()) {
        if let Some(old_created) = old_created {
            embedded::delete(txn, tables::BY_CREATION, old_created)?;
        }
        embedded::put(txn, tables::BY_CREATION, &stored.created_key, &id)?;
    }
    if let Some(entry) = old.and_then(StoredCredential::active_entry) {
        embedded::delete(txn, tables::ACTIVE, &entry)?;
    }
    if let Some(entry) = stored.active_entry() {
        embedded::put(txn, tables::ACTIVE, &entry, &id)?;
    }
    embedded::put(txn, tables::CREDENTIALS, id, stored)
}

/// The embedded key of a usage record: the user's group prefix, then its creation key.
pub(crate) fn usage_key(usage: &Usage, created_key: &str) -> String {
    format!("{}{created_key}", group_prefix(usage.user_id.as_str()))
}

/// The embedded store.
#[derive(Clone)]
pub struct EmbeddedProvisioningStore {
    db: EmbeddedDb,
}

impl EmbeddedProvisioningStore {
    /// A store in `db`.
    pub fn new(db: EmbeddedDb) -> Result<Self, StoreError> {
        db.ensure_tables(&[
            tables::CREDENTIALS,
            tables::BY_CREATION,
            tables::ACTIVE,
            tables::USAGE,
        ])?;
        Ok(Self { db })
    }
}

fn credentials_by_id(
    txn: &ReadTransaction,
    ids: Vec<String>,
) -> Result<Vec<Credential>, StoreError> {
    ids.into_iter()
        .map(|id| {
            embedded::get::<StoredCredential>(txn, tables::CREDENTIALS, &id)?
                .map(|stored| stored.record)
                .ok_or_else(|| {
                    StoreError::Internal(format!("index names a missing credential {id}"))
                })
        })
        .collect()
}

impl ProvisioningStore for EmbeddedProvisioningStore {
    async fn save(&self, credential: Credential, now: Num) -> Result<(), StoreError> {
        self.db
            .write(move |txn| {
                let id = credential.id.as_str().to_owned();
                let old: Option<StoredCredential> =
                    embedded::get_for_update(txn, tables::CREDENTIALS, &id)?;
                let stored = match &old {
                    Some(old) => StoredCredential {
                        created_key: old.created_key.clone(),
                        record: credential.kept_over(&old.record),
                    },
                    None => StoredCredential {
                        created_key: created_key(now.get(), &id),
                        record: credential,
                    },
                };
                put_stored(txn, old.as_ref(), &stored)
            })
            .await
    }

    async fn find_active(
        &self,
        user_id: &Key,
        provider: &Provider,
    ) -> Result<Option<Credential>, StoreError> {
        let prefix = group_prefix(&owner_key(user_id, provider));
        self.db
            .read(move |txn| {
                let (lower, upper) = prefix_bounds(&prefix);
                let ids: Vec<String> = shared::embedded::read_range(
                    txn,
                    tables::ACTIVE,
                    Some((&lower, &upper)),
                    true,
                    1,
                )?;
                Ok(credentials_by_id(txn, ids)?.pop())
            })
            .await
    }

    async fn mark_revoked(&self, id: &RecordId) -> Result<bool, StoreError> {
        let id = id.as_str().to_owned();
        self.db
            .write(move |txn| {
                let Some(mut stored) =
                    embedded::get_for_update::<StoredCredential>(txn, tables::CREDENTIALS, &id)?
                else {
                    return Ok(false);
                };
                if let Some(entry) = stored.active_entry() {
                    embedded::delete(txn, tables::ACTIVE, &entry)?;
                }
                stored.record.status = Status::Revoked;
                embedded::put(txn, tables::CREDENTIALS, &id, &stored)?;
                Ok(true)
            })
            .await
    }

    async fn list(&self, limit: Limit) -> Result<Vec<Credential>, StoreError> {
        self.db
            .read(move |txn| {
                let ids: Vec<String> = shared::embedded::read_range(
                    txn,
                    tables::BY_CREATION,
                    None,
                    false,
                    limit.get(),
                )?;
                credentials_by_id(txn, ids)
            })
            .await
    }

    async fn record_usage(&self, entry: UsageEntry, now: Num) -> Result<Usage, StoreError> {
        let usage = entry.into_usage();
        self.db
            .write(move |txn| {
                let key = usage_key(&usage, &created_key(now.get(), usage.id.as_str()));
                if let Some(stored) = embedded::get_for_update(txn, tables::USAGE, &key)? {
                    return Ok(stored);
                }
                embedded::put(txn, tables::USAGE, &key, &usage)?;
                Ok(usage)
            })
            .await
    }

    async fn list_usage(&self, user_id: &Key, limit: Limit) -> Result<Vec<Usage>, StoreError> {
        let prefix = group_prefix(user_id.as_str());
        self.db
            .read(move |txn| {
                let (lower, upper) = prefix_bounds(&prefix);
                shared::embedded::read_range(
                    txn,
                    tables::USAGE,
                    Some((&lower, &upper)),
                    true,
                    limit.get(),
                )
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_prefixes_never_prefix_another_group() {
        let groups = ["a", "a/", "a/b", "ab", "", "1:a", "10:aaaaaaaaaa"];
        for x in groups {
            for y in groups {
                if x != y {
                    let key_of_y = format!("{}0001#id", group_prefix(y));
                    assert!(!key_of_y.starts_with(&group_prefix(x)), "{x:?} {y:?}");
                }
            }
            let (lower, upper) = prefix_bounds(&group_prefix(x));
            let inside = format!("{}\u{10FFFF}", group_prefix(x));
            assert!(lower.as_str() <= inside.as_str() && inside.as_str() < upper.as_str());
        }
    }
}
