//! The users route group: Clerk profiles mirrored by `/api/auth/sync`.
//!
//! | route | store call | DynamoDB calls |
//! |---|---|---|
//! | `/users/ensure` | [`UsersStore::ensure`] | 1 `UpdateItem` |
//! | `/users/get` | [`UsersStore::get`] | 1 `GetItem` (strongly consistent) |

use serde::{Deserialize, Serialize};
use shared::embedded::{self, EmbeddedDb, Table};
use shared::import::Doc;
use shared::parse::not_null;
use shared::routes::Surface;
use shared::{ApiError, Key, Num, Routes, SharedClock, StoreError};
use std::future::Future;
use std::sync::Arc;

/// A stored user (CONTRACT.md §5, `User`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The Clerk user id; the key.
    pub clerk_id: Key,
    /// Email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// First name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Avatar URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// Last `ensure`, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login_at: Option<Num>,
    /// First `ensure`, ms.
    pub created_at: Num,
    /// Last change, ms.
    pub updated_at: Num,
}

/// The profile `/users/ensure` receives: given fields overwrite, missing ones are kept.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Profile {
    /// The Clerk user id.
    pub clerk_id: Key,
    /// Email address.
    #[serde(default, deserialize_with = "not_null")]
    pub email: Option<String>,
    /// First name.
    #[serde(default, deserialize_with = "not_null")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default, deserialize_with = "not_null")]
    pub last_name: Option<String>,
    /// Avatar URL.
    #[serde(default, deserialize_with = "not_null")]
    pub image_url: Option<String>,
}

impl Profile {
    /// A profile with only its id.
    pub fn new(clerk_id: &str) -> Self {
        Self {
            clerk_id: Key::parse(clerk_id).expect("a valid clerk id"),
            email: None,
            first_name: None,
            last_name: None,
            image_url: None,
        }
    }

    /// The optional fields with their attribute names, those given only.
    fn given_fields(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            (attr::EMAIL, &self.email),
            (attr::FIRST_NAME, &self.first_name),
            (attr::LAST_NAME, &self.last_name),
            (attr::IMAGE_URL, &self.image_url),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_deref().map(|v| (name, v)))
    }
}

/// Arguments of `/users/get`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GetArgs {
    /// The Clerk user id.
    pub clerk_id: Key,
}

/// Reply of `/users/ensure`.
#[derive(Debug, Serialize)]
pub struct EnsureReply {
    /// The user as stored.
    pub user: User,
}

/// What the users group needs from storage.
pub trait UsersStore: Send + Sync + 'static {
    /// Upserts by clerk id: given fields overwrite, `lastLoginAt` = `updatedAt` = `now`, `createdAt`
    /// is set on the first call only. Returns the stored user.
    fn ensure(
        &self,
        profile: Profile,
        now: Num,
    ) -> impl Future<Output = Result<User, StoreError>> + Send;

    /// The user, if any.
    fn get(&self, clerk_id: &Key) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;
}

/// The group, for its Lambda bootstrap and the dev server.
pub const GROUP: shared::Group = shared::Group {
    name: "users",
    tables: &[attr::TABLE],
    embedded: |db, clock| Ok(routes(EmbeddedUsersStore::new(db.clone())?, clock)),
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
        DynamoUsersStore::new(client.clone(), attr::TABLE.name(prefix)),
        clock,
    )
}

/// The route table, over any store.
pub fn routes<S: UsersStore, T: Surface>(store: S, clock: SharedClock) -> Routes<T> {
    let state = Arc::new(State { store, clock });
    Routes::new()
        .post("/users/ensure", &state, ensure)
        .post("/users/get", &state, get)
}

struct State<S> {
    store: S,
    clock: SharedClock,
}

async fn ensure<S: UsersStore>(
    state: Arc<State<S>>,
    profile: Profile,
) -> Result<EnsureReply, ApiError> {
    let now = Num(state.clock.now_ms());
    Ok(EnsureReply {
        user: state.store.ensure(profile, now).await?,
    })
}

async fn get<S: UsersStore>(state: Arc<State<S>>, args: GetArgs) -> Result<Option<User>, ApiError> {
    Ok(state.store.get(&args.clerk_id).await?)
}

/// Attribute names of the users table (key: `clerkId`), also the JSON field names.
pub mod attr {
    /// The table: `UsersTable` in `template.yaml`, named by `USERS_TABLE`.
    pub const TABLE: shared::config::TableRef = shared::config::TableRef {
        resource: "UsersTable",
        env: "USERS_TABLE",
        default: "users",
    };
    /// Partition key.
    pub const CLERK_ID: &str = "clerkId";
    /// See [`super::User`].
    pub const EMAIL: &str = "email";
    /// See [`super::User`].
    pub const FIRST_NAME: &str = "firstName";
    /// See [`super::User`].
    pub const LAST_NAME: &str = "lastName";
    /// See [`super::User`].
    pub const IMAGE_URL: &str = "imageUrl";
    /// See [`super::User`].
    pub const LAST_LOGIN_AT: &str = "lastLoginAt";
    /// See [`super::User`].
    pub const CREATED_AT: &str = "createdAt";
    /// See [`super::User`].
    pub const UPDATED_AT: &str = "updatedAt";
}

/// The DynamoDB store.
#[derive(Clone)]
pub struct DynamoUsersStore {
    client: shared::dynamo::Client,
    table: String,
}

impl DynamoUsersStore {
    /// A store on `table`.
    pub fn new(client: shared::dynamo::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

impl UsersStore for DynamoUsersStore {
    async fn ensure(&self, profile: Profile, now: Num) -> Result<User, StoreError> {
        use shared::dynamo::{n, s};
        let mut update = format!(
            "SET #{l} = :now, #{u} = :now, #{c} = if_not_exists(#{c}, :now)",
            l = attr::LAST_LOGIN_AT,
            u = attr::UPDATED_AT,
            c = attr::CREATED_AT
        );
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(attr::CLERK_ID, s(profile.clerk_id.as_str()))
            .expression_attribute_names(format!("#{}", attr::LAST_LOGIN_AT), attr::LAST_LOGIN_AT)
            .expression_attribute_names(format!("#{}", attr::UPDATED_AT), attr::UPDATED_AT)
            .expression_attribute_names(format!("#{}", attr::CREATED_AT), attr::CREATED_AT)
            .expression_attribute_values(":now", n(now));
        for (name, value) in profile.given_fields() {
            update.push_str(&format!(", #{name} = :{name}"));
            request = request
                .expression_attribute_names(format!("#{name}"), name)
                .expression_attribute_values(format!(":{name}"), s(value));
        }
        let output = request
            .update_expression(update)
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| shared::dynamo::store_error("users.ensure", e))?;
        shared::dynamo::from_item(output.attributes.unwrap_or_default())
    }

    async fn get(&self, clerk_id: &Key) -> Result<Option<User>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(attr::CLERK_ID, shared::dynamo::s(clerk_id.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| shared::dynamo::store_error("users.get", e))?;
        output.item.map(shared::dynamo::from_item).transpose()
    }
}

/// The Convex `users` table, for the `convex-import` command.
pub struct Import;

impl shared::import::ImportTable for Import {
    const CONVEX_TABLE: &'static str = "users";
    const TABLES: &'static [shared::config::TableRef] = &[attr::TABLE];
    type Record = User;

    fn key(user: &User) -> String {
        format!("{} {}", attr::CLERK_ID, user.clerk_id.as_str())
    }

    fn items(doc: &Doc<User>) -> Result<Vec<(usize, shared::dynamo::Item)>, StoreError> {
        Ok(vec![(0, shared::dynamo::to_item(&doc.record)?)])
    }

    fn put_embedded(txn: &embedded::WriteTransaction, doc: &Doc<User>) -> Result<(), StoreError> {
        embedded::put(txn, USERS, doc.record.clerk_id.as_str(), &doc.record)
    }
}

/// The embedded store's table: clerk id → user.
const USERS: Table = Table::new("users");

/// The embedded store.
#[derive(Clone)]
pub struct EmbeddedUsersStore {
    db: EmbeddedDb,
}

impl EmbeddedUsersStore {
    /// A store in `db`.
    pub fn new(db: EmbeddedDb) -> Result<Self, StoreError> {
        db.ensure_tables(&[USERS])?;
        Ok(Self { db })
    }
}

impl UsersStore for EmbeddedUsersStore {
    async fn ensure(&self, profile: Profile, now: Num) -> Result<User, StoreError> {
        self.db
            .write(move |txn| {
                let key = profile.clerk_id.clone();
                let mut user =
                    embedded::get_for_update(txn, USERS, key.as_str())?.unwrap_or(User {
                        clerk_id: profile.clerk_id,
                        email: None,
                        first_name: None,
                        last_name: None,
                        image_url: None,
                        last_login_at: None,
                        created_at: now,
                        updated_at: now,
                    });
                for (given, stored) in [
                    (profile.email, &mut user.email),
                    (profile.first_name, &mut user.first_name),
                    (profile.last_name, &mut user.last_name),
                    (profile.image_url, &mut user.image_url),
                ] {
                    if given.is_some() {
                        *stored = given;
                    }
                }
                user.last_login_at = Some(now);
                user.updated_at = now;
                embedded::put(txn, USERS, key.as_str(), &user)?;
                Ok(user)
            })
            .await
    }

    async fn get(&self, clerk_id: &Key) -> Result<Option<User>, StoreError> {
        let key = clerk_id.clone();
        self.db
            .read(move |txn| embedded::get(txn, USERS, key.as_str()))
            .await
    }
}
