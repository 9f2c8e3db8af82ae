//! The provisioning group: provider credentials (the client hashes tokens; the service stores
//! `tokenHash` and `salt` as given) and the usage records charged against them.
//!
//! | route | store call | DynamoDB calls |
//! |---|---|---|
//! | `/provisioning/save` | [`ProvisioningStore::save`] | 1 `UpdateItem` |
//! | `/provisioning/findActive` | [`ProvisioningStore::find_active`] | 1 `Query` (`Limit 1`) on the sparse [`attr::ACTIVE_BY_OWNER`] index |
//! | `/provisioning/markRevoked` | [`ProvisioningStore::mark_revoked`] | 1 conditional `UpdateItem` |
//! | `/provisioning/list` | [`ProvisioningStore::list`] | [`attr::LIST_SHARDS`] `Query` in parallel on the [`attr::BY_CREATION`] index (a shard whose page DynamoDB cuts at 1 MB before `limit` items costs one more `Query` per extra page) |
//! | `/provisioning/recordUsage` | [`ProvisioningStore::record_usage`] | 1 conditional `PutItem` |
//! | `/provisioning/listUsage` | [`ProvisioningStore::list_usage`] | 1 `Query` (strongly consistent, `Limit`; again one more per 1 MB page) |
//!
//! # Creation time
//!
//! "Most recently created" and "oldest created first" mean when the service first stored a record,
//! as Convex's `_creationTime` did, not the caller's `issuedAt` or `recordedAt`. Each record carries
//! a hidden [`attr::CREATED_KEY`], [`created_key`]: the service clock's milliseconds, zero-padded
//! to 16 digits, then `#` and the record id. It is set once (`if_not_exists` on a credential, on
//! insert for a usage record), so saving a credential again never makes it newer, and it is never
//! returned. Two records created in the same millisecond are ordered by id (byte order): the
//! greater id counts as the more recent. So every ordering is total and the same on both stores.
//!
//! Because the id is part of a key of at most 1024 bytes, credential and usage ids are
//! [`RecordId`]s: non-empty and at most [`MAX_RECORD_ID_BYTES`] bytes (longer ones are a `400`).
//! For the same reason a credential's `provider` is at most [`MAX_PROVIDER_BYTES`] bytes: with the
//! user id it forms the active index's partition key (at most 2048 bytes).
//!
//! # Credentials table
//!
//! Keyed by `id`. `save` is one `UpdateItem` that `SET`s every field the record carries, so an
//! optional field absent from an update (`providerReference`, `metadata`, `lastRotatedAt`) keeps its
//! stored value; required fields are always present, because the record is validated strictly.
//! `metadata` is one field: when given it replaces the stored object as a whole (Convex's `patch`
//! is shallow too). Two global secondary indexes serve the reads:
//!
//! - [`attr::ACTIVE_BY_OWNER`] (`activeKey`, `createdKey`), projecting every attribute, is *sparse*:
//!   only a credential whose status is `active` has an [`attr::ACTIVE_KEY`] (see [`active_key`]);
//!   `save` with status `revoked` and `markRevoked` remove it. So `findActive` is one `Query`,
//!   newest first, `Limit 1`, and exact: no filter expression that could read a revoked credential
//!   and come back empty.
//! - [`attr::BY_CREATION`] (`listShard`, `createdKey`), projecting every attribute: every credential
//!   is in one of [`attr::LIST_SHARDS`] partitions (by a hash of its id, [`list_shard`]), so `list`
//!   queries each shard for its oldest `limit`, in parallel, and merges them: no Scan, no sort of
//!   the whole table, and no single index partition taking every write. The price is reading up
//!   to `LIST_SHARDS × limit` index items to return `limit` (at most 4000 for a limit of 1000);
//!   four shards keep that small, as credentials are written rarely (not on every request).
//!
//! **Consistency.** Global secondary indexes are eventually consistent (DynamoDB propagates a write
//! to them usually within a fraction of a second), and a `Query` on them cannot ask for a strongly consistent
//! read. So `findActive` and `list` may, for that moment, miss a credential just saved or still
//! return one just revoked. This is accepted: the contract asks for no read-your-writes here, and
//! the alternative (a second, strongly consistent read per candidate, or index items kept in
//! transactions) would double the cost of every call for a window of well under a second. A caller
//! that must act on its own write at once has the record it just wrote.
//!
//! # Usage table
//!
//! Keyed by `userId` and [`attr::CREATED_KEY`], so `listUsage` is one strongly consistent `Query`,
//! newest first, with `Limit`. `recordUsage` is append-only: a `PutItem` conditional on the key
//! being free, so nothing is ever overwritten. The service gives a record without an id a UUID v4.
//! A caller's id is not a unique key (the contract says `recordUsage` always inserts): recording
//! the same id again later stores another record. The one case where two records would share a key, the same user,
//! id and millisecond, is taken as a duplicate delivery of one request: nothing is written and the
//! stored record is returned (from the failed condition, in the same call).
//!
//! # Embedded store
//!
//! The same design in redb tables, each write one transaction: credentials by id, plus two index
//! tables (creation key → id for `list`; active key then creation key → id for `findActive`)
//! kept in the same transaction, and usage records keyed by user then creation key. Reads there
//! are always current.
//!
//! # Limits
//!
//! `list` and `listUsage` take `limit?: number`: absent or not finite → 200, else floored and
//! clamped to [1, 1000] ([`Limit`]).

use futures::future::try_join_all;
use serde::{Deserialize, Deserializer, Serialize};
use shared::dynamo::Item;
use shared::embedded::{self, EmbeddedDb, ReadTransaction, Table};
use shared::import::Doc;
use shared::parse::not_null;
use shared::routes::Surface;
use shared::routes::WithResult;
use shared::{ApiError, Key, Num, Routes, SharedClock, StoreError};
use std::future::Future;
use std::sync::Arc;

/// Longest credential or usage id: the id is part of a sort key (at most 1024 bytes) after the
/// 17 bytes of the creation time.
pub const MAX_RECORD_ID_BYTES: usize = 1000;
/// Longest credential provider: with the user id it forms a partition key (at most 2048 bytes).
pub const MAX_PROVIDER_BYTES: usize = 1000;

/// The id of a credential or a usage record: non-empty, at most [`MAX_RECORD_ID_BYTES`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RecordId(String);

impl RecordId {
    /// Checks `value`.
    pub fn parse(value: impl Into<String>) -> Result<Self, String> {
        let value = value.into();
        if value.is_empty() {
            Err("must not be empty".into())
        } else if value.len() > MAX_RECORD_ID_BYTES {
            Err(format!("must be at most {MAX_RECORD_ID_BYTES} bytes"))
        } else {
            Ok(Self(value))
        }
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for RecordId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Self::parse(value).map_err(serde::de::Error::custom)
    }
}

/// A credential's provider: at most [`MAX_PROVIDER_BYTES`] bytes (it may be empty).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Provider(String);

impl Provider {
    /// Checks `value`.
    pub fn parse(value: impl Into<String>) -> Result<Self, String> {
        let value = value.into();
        if value.len() > MAX_PROVIDER_BYTES {
            Err(format!("must be at most {MAX_PROVIDER_BYTES} bytes"))
        } else {
            Ok(Self(value))
        }
    }

    /// The provider's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Provider {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Self::parse(value).map_err(serde::de::Error::custom)
    }
}

/// A credential's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// In use: `findActive` can return it.
    Active,
    /// Revoked: `findActive` never returns it.
    Revoked,
}

/// Free-form details of a credential.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metadata {
    /// A description.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    /// Where the credential came from.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub source: Option<String>,
    /// A plan tier.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub plan_tier: Option<String>,
    /// Scopes.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub scopes: Option<Vec<String>>,
}

/// A provider credential (CONTRACT.md §5, `Credential`), as the caller sends it and as it is
/// returned (the hidden attributes of the table never are).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Credential {
    /// Opaque id chosen by the caller; the key.
    pub id: RecordId,
    /// The owner.
    pub user_id: Key,
    /// The provider (e.g. `elevenlabs`).
    pub provider: Provider,
    /// The token's hash, computed by the client.
    pub token_hash: String,
    /// The hash's salt.
    pub salt: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The plan tier it was issued for.
    pub plan_tier: String,
    /// Issued, ms.
    pub issued_at: Num,
    /// Expires, ms (the caller checks expiry).
    pub expires_at: Num,
    /// Active or revoked.
    pub status: Status,
    /// The provider's own reference.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub provider_reference: Option<String>,
    /// Free-form details.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub metadata: Option<Metadata>,
    /// Last rotation, ms.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_rotated_at: Option<Num>,
}

impl Credential {
    /// This record saved over `stored`: the optional fields it lacks are taken from `stored`.
    pub fn kept_over(mut self, stored: &Credential) -> Self {
        if self.provider_reference.is_none() {
            self.provider_reference = stored.provider_reference.clone();
        }
        if self.metadata.is_none() {
            self.metadata = stored.metadata.clone();
        }
        if self.last_rotated_at.is_none() {
            self.last_rotated_at = stored.last_rotated_at;
        }
        self
    }
}

/// A usage record (CONTRACT.md §5, `Usage`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Usage {
    /// The caller's id, or a UUID v4 from the service.
    pub id: RecordId,
    /// The user charged.
    pub user_id: Key,
    /// The provider used.
    pub provider: String,
    /// Tokens used.
    pub tokens_used: Num,
    /// Cost, in minor units of a currency.
    pub cost_minor_units: Num,
    /// When it was used, ms (the caller's time).
    pub recorded_at: Num,
}

/// The usage `/provisioning/recordUsage` receives: a [`Usage`] whose id may be omitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UsageEntry {
    /// The caller's id; the service generates a UUID v4 when it is omitted.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<RecordId>,
    /// The user charged.
    pub user_id: Key,
    /// The provider used.
    pub provider: String,
    /// Tokens used.
    pub tokens_used: Num,
    /// Cost, in minor units of a currency.
    pub cost_minor_units: Num,
    /// When it was used, ms.
    pub recorded_at: Num,
}

impl UsageEntry {
    /// The record to store: the entry with its id, or a fresh UUID v4.
    pub fn into_usage(self) -> Usage {
        let id = self
            .id
            .unwrap_or_else(|| RecordId(uuid::Uuid::new_v4().to_string()));
        Usage {
            id,
            user_id: self.user_id,
            provider: self.provider,
            tokens_used: self.tokens_used,
            cost_minor_units: self.cost_minor_units,
            recorded_at: self.recorded_at,
        }
    }
}

/// How many records `list` and `listUsage` return: absent or not finite → [`Limit::DEFAULT`],
/// otherwise floored and clamped to [1, [`Limit::MAX`]].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(usize);

impl Limit {
    /// When no limit is given (or it is not finite).
    pub const DEFAULT: usize = 200;
    /// The largest limit.
    pub const MAX: usize = 1000;

    /// The limit a caller's number stands for.
    pub fn from_number(value: f64) -> Self {
        if value.is_finite() {
            Self(value.floor().clamp(1.0, Self::MAX as f64) as usize)
        } else {
            Self(Self::DEFAULT)
        }
    }

    /// The limit of an optional argument.
    pub fn from_arg(value: Option<f64>) -> Self {
        value.map_or_else(Self::default, Self::from_number)
    }

    /// How many records.
    pub fn get(self) -> usize {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self(Self::DEFAULT)
    }
}

/// A limit is any JSON number (it cannot be `null`); omitted, it is the default (`#[serde(default)]`).
impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        f64::deserialize(deserializer).map(Self::from_number)
    }
}

/// Arguments of `/provisioning/save`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaveArgs {
    /// The credential to upsert.
    pub record: Credential,
}

/// Arguments of `/provisioning/findActive`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FindActiveArgs {
    /// The owner.
    pub user_id: Key,
    /// The provider.
    pub provider: Provider,
}

/// Arguments of `/provisioning/markRevoked`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MarkRevokedArgs {
    /// The credential to revoke.
    pub credential_id: RecordId,
}

/// Arguments of `/provisioning/list`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// How many credentials.
    #[serde(default)]
    pub limit: Limit,
}

/// Arguments of `/provisioning/recordUsage`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordUsageArgs {
    /// The usage to record.
    pub entry: UsageEntry,
}

/// Arguments of `/provisioning/listUsage`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListUsageArgs {
    /// The user.
    pub user_id: Key,
    /// How many records.
    #[serde(default)]
    pub limit: Limit,
}

/// Reply of `/provisioning/findActive`.
#[derive(Debug, Serialize)]
pub struct FindActiveReply {
    /// The credential, or `null`.
    pub credential: Option<Credential>,
}

/// Reply of `/provisioning/list`.
#[derive(Debug, Serialize)]
pub struct ListReply {
    /// Oldest created first.
    pub credentials: Vec<Credential>,
}

/// Reply of `/provisioning/recordUsage`.
#[derive(Debug, Serialize)]
pub struct RecordUsageReply {
    /// The record as stored.
    pub usage: Usage,
}

/// Reply of `/provisioning/listUsage`.
#[derive(Debug, Serialize)]
pub struct ListUsageReply {
    /// Newest created first.
    pub usage: Vec<Usage>,
}

/// What the provisioning group needs from storage. `now` is the service's time, ms: it becomes
/// the record's creation time when the record is new.
pub trait ProvisioningStore: Send + Sync + 'static {
    /// Upserts by id; optional fields absent from `credential` keep their stored values.
    fn save(
        &self,
        credential: Credential,
        now: Num,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The most recently created active credential of `user_id` and `provider`.
    fn find_active(
        &self,
        user_id: &Key,
        provider: &Provider,
    ) -> impl Future<Output = Result<Option<Credential>, StoreError>> + Send;

    /// Sets the status to revoked; false when there is no such credential.
    fn mark_revoked(&self, id: &RecordId) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Every user's credentials, oldest created first, at most `limit`.
    fn list(
        &self,
        limit: Limit,
    ) -> impl Future<Output = Result<Vec<Credential>, StoreError>> + Send;

    /// Appends a usage record (see the crate docs for a repeated id); returns it as stored.
    fn record_usage(
        &self,
        entry: UsageEntry,
        now: Num,
    ) -> impl Future<Output = Result<Usage, StoreError>> + Send;

    /// The user's usage records, newest created first, at most `limit`.
    fn list_usage(
        &self,
        user_id: &Key,
        limit: Limit,
    ) -> impl Future<Output = Result<Vec<Usage>, StoreError>> + Send;
}

/// The group, for its Lambda bootstrap and the dev server.
pub const GROUP: shared::Group = shared::Group {
    name: "provisioning",
    tables: &[attr::CREDENTIALS, attr::USAGE],
    embedded: |db, clock| Ok(routes(EmbeddedProvisioningStore::new(db.clone())?, clock)),
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
        DynamoProvisioningStore::new(
            client.clone(),
            attr::CREDENTIALS.name(prefix),
            attr::USAGE.name(prefix),
        ),
        clock,
    )
}

/// The route table, over any store.
pub fn routes<S: ProvisioningStore, T: Surface>(store: S, clock: SharedClock) -> Routes<T> {
    let state = Arc::new(State { store, clock });
    Routes::new()
        .post("/provisioning/save", &state, save)
        .post("/provisioning/findActive", &state, find_active)
        .post("/provisioning/markRevoked", &state, mark_revoked)
        .post("/provisioning/list", &state, list)
        .post("/provisioning/recordUsage", &state, record_usage)
        .post("/provisioning/listUsage", &state, list_usage)
}

struct State<S> {
    store: S,
    clock: SharedClock,
}

async fn save<S: ProvisioningStore>(
    state: Arc<State<S>>,
    args: SaveArgs,
) -> Result<WithResult<bool>, ApiError> {
    let now = Num(state.clock.now_ms());
    state.store.save(args.record, now).await?;
    Ok(WithResult { result: true })
}

async fn find_active<S: ProvisioningStore>(
    state: Arc<State<S>>,
    args: FindActiveArgs,
) -> Result<FindActiveReply, ApiError> {
    Ok(FindActiveReply {
        credential: state
            .store
            .find_active(&args.user_id, &args.provider)
            .await?,
    })
}

async fn mark_revoked<S: ProvisioningStore>(
    state: Arc<State<S>>,
    args: MarkRevokedArgs,
) -> Result<WithResult<bool>, ApiError> {
    Ok(WithResult {
        result: state.store.mark_revoked(&args.credential_id).await?,
    })
}

async fn list<S: ProvisioningStore>(
    state: Arc<State<S>>,
    args: ListArgs,
) -> Result<ListReply, ApiError> {
    Ok(ListReply {
        credentials: state.store.list(args.limit).await?,
    })
}

async fn record_usage<S: ProvisioningStore>(
    state: Arc<State<S>>,
    args: RecordUsageArgs,
) -> Result<RecordUsageReply, ApiError> {
    let now = Num(state.clock.now_ms());
    Ok(RecordUsageReply {
        usage: state.store.record_usage(args.entry, now).await?,
    })
}

async fn list_usage<S: ProvisioningStore>(
    state: Arc<State<S>>,
    args: ListUsageArgs,
) -> Result<ListUsageReply, ApiError> {
    Ok(ListUsageReply {
        usage: state.store.list_usage(&args.user_id, args.limit).await?,
    })
}

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
fn usage_item(usage: &Usage, created_key: String) -> Result<Item, StoreError> {
    let mut item = shared::dynamo::to_item(usage)?;
    item.insert(attr::CREATED_KEY.into(), shared::dynamo::s(created_key));
    Ok(item)
}

/// The whole item of a credential created with `created_key`, hidden index attributes included
/// (the active key only while it is active: the index is sparse).
fn credential_item(credential: &Credential, created_key: String) -> Result<Item, StoreError> {
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

/// The Convex `provisioning_credentials` table, for the `convex-import` command. Its creation
/// order (`findActive`, `list`) is Convex's `_creationTime`.
pub struct CredentialImport;

impl shared::import::ImportTable for CredentialImport {
    const CONVEX_TABLE: &'static str = "provisioning_credentials";
    const TABLES: &'static [shared::config::TableRef] = &[attr::CREDENTIALS];
    type Record = Credential;

    fn key(credential: &Credential) -> String {
        format!("{} {}", attr::ID, credential.id.as_str())
    }

    fn items(doc: &Doc<Credential>) -> Result<Vec<(usize, Item)>, StoreError> {
        let key = created_key(doc.created_ms, doc.record.id.as_str());
        Ok(vec![(0, credential_item(&doc.record, key)?)])
    }

    fn put_embedded(
        txn: &embedded::WriteTransaction,
        doc: &Doc<Credential>,
    ) -> Result<(), StoreError> {
        let id = doc.record.id.as_str();
        let old: Option<StoredCredential> = embedded::get_for_update(txn, tables::CREDENTIALS, id)?;
        let stored = StoredCredential {
            created_key: created_key(doc.created_ms, id),
            record: doc.record.clone(),
        };
        put_stored(txn, old.as_ref(), &stored)
    }
}

/// The Convex `provisioning_usage` table, for the `convex-import` command. Its order
/// (`listUsage`) is Convex's `_creationTime`; a record without an `id` gets its Convex `_id`, so
/// that an import run twice writes the same records.
pub struct UsageImport;

impl shared::import::ImportTable for UsageImport {
    const CONVEX_TABLE: &'static str = "provisioning_usage";
    const TABLES: &'static [shared::config::TableRef] = &[attr::USAGE];
    type Record = UsageEntry;

    fn complete(mut entry: UsageEntry, convex_id: &str) -> Result<UsageEntry, String> {
        if entry.id.is_none() {
            entry.id = Some(RecordId::parse(convex_id)?);
        }
        Ok(entry)
    }

    fn key(entry: &UsageEntry) -> String {
        let id = entry.id.as_ref().map_or("", RecordId::as_str);
        format!("{} {}", attr::ID, id)
    }

    fn items(doc: &Doc<UsageEntry>) -> Result<Vec<(usize, Item)>, StoreError> {
        let usage = doc.record.clone().into_usage();
        let key = created_key(doc.created_ms, usage.id.as_str());
        Ok(vec![(0, usage_item(&usage, key)?)])
    }

    fn put_embedded(
        txn: &embedded::WriteTransaction,
        doc: &Doc<UsageEntry>,
    ) -> Result<(), StoreError> {
        let usage = doc.record.clone().into_usage();
        let key = usage_key(&usage, &created_key(doc.created_ms, usage.id.as_str()));
        embedded::put(txn, tables::USAGE, &key, &usage)
    }
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

/// The embedded store's tables. Keys that group records under a user (or a user and provider)
/// start with [`group_prefix`], so a range over that prefix holds that group only.
mod tables {
    use super::Table;
    /// Credential id → [`super::StoredCredential`].
    pub const CREDENTIALS: Table = Table::new("provisioning_credentials");
    /// Creation key → credential id: every credential, in creation order.
    pub const BY_CREATION: Table = Table::new("provisioning_credentials_by_creation");
    /// Group prefix of the active key, then creation key → credential id: active credentials only.
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
struct StoredCredential {
    created_key: String,
    record: Credential,
}

impl StoredCredential {
    fn active_entry(&self) -> Option<String> {
        (self.record.status == Status::Active).then(|| {
            let owner = active_key(&self.record.user_id, &self.record.provider);
            format!("{}{}", group_prefix(&owner), self.created_key)
        })
    }
}

/// Stores `stored` in place of `old` (what its id held, if anything), moving its entries in both
/// index tables along.
fn put_stored(
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
fn usage_key(usage: &Usage, created_key: &str) -> String {
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
        let prefix = group_prefix(&active_key(user_id, provider));
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
    fn the_limit_rule_defaults_floors_and_clamps() {
        assert_eq!(Limit::from_arg(None).get(), 200);
        for (given, expected) in [
            (0.0, 1),
            (2.7, 2),
            (1.0, 1),
            (1000.0, 1000),
            (1000.9, 1000),
            (5000.0, 1000),
            (-3.0, 1),
            (-0.5, 1),
            (0.99, 1),
        ] {
            assert_eq!(Limit::from_number(given).get(), expected, "{given}");
        }
    }

    #[test]
    fn a_limit_that_is_not_finite_is_the_default() {
        for given in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(Limit::from_arg(Some(given)).get(), 200, "{given}");
        }
    }

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

    #[test]
    fn list_shards_spread_ids_over_every_shard() {
        let mut seen = [0u32; attr::LIST_SHARDS as usize];
        for i in 0..400 {
            seen[list_shard(&format!("credential-{i}")) as usize] += 1;
        }
        assert!(seen.iter().all(|&count| count > 50), "{seen:?}");
    }

    #[test]
    fn ids_and_providers_past_their_key_room_are_refused() {
        assert!(RecordId::parse("").is_err());
        assert!(RecordId::parse("x".repeat(MAX_RECORD_ID_BYTES)).is_ok());
        assert!(RecordId::parse("x".repeat(MAX_RECORD_ID_BYTES + 1)).is_err());
        assert!(Provider::parse("").is_ok());
        assert!(Provider::parse("p".repeat(MAX_PROVIDER_BYTES + 1)).is_err());
    }

    #[test]
    fn an_entry_without_id_gets_a_uuid_v4_and_one_with_id_keeps_it() {
        let entry = UsageEntry {
            id: None,
            user_id: Key::parse("u").unwrap(),
            provider: "p".into(),
            tokens_used: Num(1.0),
            cost_minor_units: Num(2.0),
            recorded_at: Num(3.0),
        };
        let generated = entry.clone().into_usage().id;
        let parsed = uuid::Uuid::parse_str(generated.as_str()).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(generated.as_str(), parsed.hyphenated().to_string());
        let given = UsageEntry {
            id: Some(RecordId::parse("mine").unwrap()),
            ..entry
        };
        assert_eq!(given.into_usage().id.as_str(), "mine");
    }
}
