//! The DynamoDB store of the users group, and [`attr`]: its table, key formats and attribute
//! names.

use crate::model::Profile;
use crate::model::User;
use crate::store::UsersStore;
use shared::{Key, Num, StoreError};

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

impl Profile {
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
