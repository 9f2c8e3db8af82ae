//! The DynamoDB store's credential writes: `save` (one transaction; a move to another owner is a
//! second one) and `markRevoked` (the pointer, then the credential). See the crate docs.

use super::{
    attr, created_key, credential_item, credential_key, owner_key, pointer_key, text, visible,
    DynamoProvisioningStore, Pointer,
};
use crate::model::{Credential, Status};
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use shared::dynamo::transact::Cancel;
use shared::dynamo::{s, transact, Transacted, UpdateExpression};
use shared::{Num, StoreError};
use std::collections::HashMap;
use std::time::Duration;

/// Rounds of a `save` or `markRevoked` (and of `list` re-reading a credential that moved) that
/// lost a race with another write of the same credential; past them the call answers `503`.
pub const MAX_WRITE_ROUNDS: u32 = 8;

/// The optional fields a save keeps from the stored credential when its record lacks them.
const KEPT: [&str; 3] = ["providerReference", "metadata", "lastRotatedAt"];

pub(super) fn build_error(err: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("request does not build: {err}"))
}

/// The error after [`MAX_WRITE_ROUNDS`] lost races: the caller may try again (`503`).
pub(super) fn contention(op: &str) -> StoreError {
    StoreError::Unavailable(format!(
        "{op}: the credential kept changing during {MAX_WRITE_ROUNDS} attempts; try again"
    ))
}

/// Waits before round `round` (from 1): exponential, jittered, at most ~320 ms.
pub(super) async fn pause(round: u32) {
    let base = 10u64 << round.min(5);
    let jitter = (uuid::Uuid::new_v4().as_u128() % u128::from(base)) as u64;
    tokio::time::sleep(Duration::from_millis(base / 2 + jitter / 2)).await;
}

/// True when only conflicts with concurrent writes cancelled a transaction: it may run again.
fn conflicted(reasons: &[Cancel]) -> bool {
    reasons.iter().any(Cancel::conflicted) && !reasons.iter().any(Cancel::condition_failed)
}

/// A cancelled transaction whose cancellation is neither a failed condition nor a conflict.
fn cancelled(op: &str, reasons: &[Cancel]) -> StoreError {
    let codes: Vec<&str> = reasons.iter().filter_map(|r| r.code.as_deref()).collect();
    StoreError::Unavailable(format!("{op}: cancelled ({})", codes.join(", ")))
}

/// Expression attribute names and values, built along with an expression.
#[derive(Default)]
struct Placeholders {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Placeholders {
    fn name(&mut self, placeholder: &str, name: &str) -> &mut Self {
        self.names.insert(placeholder.into(), name.into());
        self
    }

    fn value(&mut self, placeholder: &str, value: AttributeValue) -> &mut Self {
        self.values.insert(placeholder.into(), value);
        self
    }

    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

impl DynamoProvisioningStore {
    /// `save`: the credential's upsert under its owner and its pointer's claim, in one transaction;
    /// when the pointer names another owner, [`Self::move_credential`].
    pub(super) async fn save_credential(
        &self,
        credential: Credential,
        now: Num,
    ) -> Result<(), StoreError> {
        const OP: &str = "provisioning.save";
        let created = created_key(now.get(), credential.id.as_str());
        for round in 0..MAX_WRITE_ROUNDS {
            if round > 0 {
                pause(round).await;
            }
            let items = vec![
                self.upsert(&credential, &created)?,
                self.claim_pointer(&credential, &created)?,
            ];
            let reasons = match transact(&self.client, OP, items).await? {
                Transacted::Done => return Ok(()),
                Transacted::Cancelled(reasons) => reasons,
            };
            match reasons.get(1) {
                Some(pointer) if pointer.condition_failed() => {
                    let old = pointer.item.as_ref().ok_or_else(|| {
                        StoreError::Internal(format!("{OP}: the pointer did not come back"))
                    })?;
                    if self.move_credential(&credential, Pointer::of(old)?).await? {
                        return Ok(());
                    }
                }
                _ if conflicted(&reasons) => {}
                _ => return Err(cancelled(OP, &reasons)),
            }
        }
        Err(contention(OP))
    }

    /// The update of a credential under its owner: every field the record carries, the creation
    /// key if it has none yet, the active creation key set (from the stored creation key) or
    /// removed. Fields the record lacks keep their stored values.
    fn upsert(
        &self,
        credential: &Credential,
        created: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let id = credential.id.as_str();
        let owner = owner_key(&credential.user_id, &credential.provider);
        let mut fields = shared::dynamo::to_item(credential)?;
        fields.remove(attr::ID);
        let mut expression = UpdateExpression::new();
        let mut p = Placeholders::default();
        for (name, value) in fields {
            expression = expression.set(format!("#{name} = :{name}"));
            p.name(&format!("#{name}"), &name)
                .value(&format!(":{name}"), value);
        }
        expression = expression.set("#ck = if_not_exists(#ck, :ck)");
        p.name("#ck", attr::CREATED_KEY)
            .name("#ack", attr::ACTIVE_CREATED_KEY)
            .value(":ck", s(created));
        expression = match credential.status {
            Status::Active => expression.set("#ack = if_not_exists(#ck, :ck)"),
            Status::Revoked => expression.remove("#ack"),
        };
        let update = Update::builder()
            .table_name(&self.credentials)
            .set_key(Some(credential_key(&owner, id)))
            .update_expression(expression.render())
            .set_expression_attribute_names(Some(p.names))
            .set_expression_attribute_values(Some(p.values))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The update of a credential's pointer to its owner, on the condition that it names no other
    /// owner (the old pointer comes back when it does); the creation key if it has none yet.
    fn claim_pointer(
        &self,
        credential: &Credential,
        created: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let owner = owner_key(&credential.user_id, &credential.provider);
        let update = Update::builder()
            .table_name(&self.credentials)
            .set_key(Some(pointer_key(credential.id.as_str())))
            .update_expression("SET #owner = :owner, #list = if_not_exists(#list, :ck)")
            .condition_expression("attribute_not_exists(#owner) OR #owner = :owner")
            .expression_attribute_names("#owner", attr::OWNER)
            .expression_attribute_names("#list", attr::LIST_KEY)
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":ck", s(created))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// `save` of a credential stored under another owner (`old`): its stored copy is read, then
    /// one transaction deletes it (if it still holds the fields the record keeps from it), puts
    /// the merged credential under its new owner with its creation key, and points the pointer
    /// there (if it still points at `old`). False when a condition failed or the transaction
    /// conflicted: the caller starts over.
    async fn move_credential(
        &self,
        credential: &Credential,
        old: Pointer,
    ) -> Result<bool, StoreError> {
        const OP: &str = "provisioning.save";
        let id = credential.id.as_str();
        let stored = self.get(OP, credential_key(&old.owner, id)).await?;
        let given = shared::dynamo::to_item(credential)?;
        let mut p = Placeholders::default();
        p.name("#id", attr::ID);
        let mut unchanged = Vec::new();
        let (merged, created) = match &stored {
            None => {
                unchanged.push("attribute_not_exists(#id)".to_owned());
                (credential.clone(), old.list_key.clone())
            }
            Some(item) => {
                unchanged.push("attribute_exists(#id)".to_owned());
                for (i, field) in KEPT
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| !given.contains_key(**f))
                {
                    p.name(&format!("#k{i}"), field);
                    match item.get(*field) {
                        Some(value) => {
                            unchanged.push(format!("#k{i} = :k{i}"));
                            p.value(&format!(":k{i}"), value.clone());
                        }
                        None => unchanged.push(format!("attribute_not_exists(#k{i})")),
                    }
                }
                let record: Credential = visible(item.clone())?;
                (
                    credential.clone().kept_over(&record),
                    text(item, attr::CREATED_KEY)?,
                )
            }
        };
        let delete = Delete::builder()
            .table_name(&self.credentials)
            .set_key(Some(credential_key(&old.owner, id)))
            .condition_expression(unchanged.join(" AND "))
            .set_expression_attribute_names(Some(p.names.clone()))
            .set_expression_attribute_values(p.values())
            .build()
            .map_err(build_error)?;
        let put = Put::builder()
            .table_name(&self.credentials)
            .set_item(Some(credential_item(&merged, &created)?))
            .build()
            .map_err(build_error)?;
        let repoint = Update::builder()
            .table_name(&self.credentials)
            .set_key(Some(pointer_key(id)))
            .update_expression("SET #owner = :owner")
            .condition_expression("#owner = :old")
            .expression_attribute_names("#owner", attr::OWNER)
            .expression_attribute_values(
                ":owner",
                s(owner_key(&credential.user_id, &credential.provider)),
            )
            .expression_attribute_values(":old", s(old.owner))
            .build()
            .map_err(build_error)?;
        let items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().update(repoint).build(),
        ];
        match transact(&self.client, OP, items).await? {
            Transacted::Done => Ok(true),
            Transacted::Cancelled(reasons)
                if reasons.iter().any(Cancel::condition_failed) || conflicted(&reasons) =>
            {
                Ok(false)
            }
            Transacted::Cancelled(reasons) => Err(cancelled(OP, &reasons)),
        }
    }

    /// `markRevoked`: the pointer names the owner, then one update sets the status (and drops the
    /// active creation key) on the condition that the credential is there. Both are safe to
    /// repeat: a repeat of an applied revoke finds the credential and answers `true` again.
    pub(super) async fn revoke(&self, id: &str) -> Result<bool, StoreError> {
        const OP: &str = "provisioning.markRevoked";
        let mut missing_at = None;
        for _ in 0..MAX_WRITE_ROUNDS {
            let Some(pointer) = self.pointer(OP, id).await? else {
                return Ok(false);
            };
            if missing_at.as_ref() == Some(&pointer.owner) {
                // Not moved, and not where its pointer says (an interrupted import): none to revoke.
                return Ok(false);
            }
            let result = self
                .client
                .update_item()
                .table_name(&self.credentials)
                .set_key(Some(credential_key(&pointer.owner, id)))
                .update_expression("SET #status = :revoked REMOVE #ack")
                .condition_expression("attribute_exists(#id)")
                .expression_attribute_names("#status", attr::STATUS)
                .expression_attribute_names("#ack", attr::ACTIVE_CREATED_KEY)
                .expression_attribute_names("#id", attr::ID)
                .expression_attribute_values(":revoked", s("revoked"))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(true),
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                {
                    // Moved to another owner since the pointer was read: read it again.
                    missing_at = Some(pointer.owner);
                }
                Err(err) => return Err(shared::dynamo::store_error(OP, err)),
            }
        }
        Err(contention(OP))
    }
}
