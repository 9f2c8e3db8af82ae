//! The calendar tokens table: one item per user.

use super::{attr, DynamoTransitStore};
use crate::model::{CalendarToken, Secret};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Deserialize;
use shared::dynamo::transact::key1;
use shared::dynamo::{delete_existing, from_item, n, s, store_error, UpdateExpression, WriteToken};
use shared::{Key, Num, StoreError};

/// A calendar token item's returned fields (the key, the creator and the token sets are left out).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredToken {
    encrypted_payload: Secret,
    expires_at: Num,
    scope: Vec<String>,
    updated_at: Num,
}

impl DynamoTransitStore {
    pub(super) async fn get_token(
        &self,
        user_id: &Key,
    ) -> Result<Option<CalendarToken>, StoreError> {
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

    pub(super) async fn set_token(
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
            .update_expression(
                UpdateExpression::new()
                    .set("#payload = :payload")
                    .set("#expires = :expires")
                    .set("#scope = :scope")
                    .set("#updated = :updated")
                    .set("#createdBy = if_not_exists(#createdBy, :createdBy)")
                    .once(&once)
                    .render(),
            )
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

    pub(super) async fn clear_token(&self, user_id: &Key) -> Result<bool, StoreError> {
        delete_existing(
            &self.client,
            "transit.clearCalendarToken",
            &self.tokens,
            key1(attr::USER_ID, user_id.as_str()),
        )
        .await
    }
}
