//! Removing what a generation switch left behind: after `clear` or a collapse moved the meta (and
//! the survivor) into a new generation, every item of the older generations is garbage, never read
//! again; the sweep deletes it. Each delete is conditioned on the item still being of an older
//! generation, so a translation written under the same id since the switch (a `create` reusing the
//! id puts the same key) is never removed.

use super::{attr, build_error, DynamoTranslationsStore, SWEEP_ATTEMPTS, SWEEP_CHUNK};
use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem};
use futures::{StreamExt, TryStreamExt};
use shared::dynamo::{s, store_error, transact, Transacted};
use shared::StoreError;
use std::collections::HashMap;
use std::time::Duration;

const OP: &str = "translations.sweep";
/// Sweep transactions in flight at once.
const CONCURRENCY: usize = 4;

type Key = HashMap<String, AttributeValue>;

impl DynamoTranslationsStore {
    /// Deletes every item of the document `dk` older than generation `gen`. A failure is logged,
    /// not answered: the switch already happened, so the caller's change is complete and its
    /// readers never see the garbage, which the next switch sweeps again.
    pub(super) async fn sweep(&self, dk: &str, gen: u64) {
        if let Err(err) = self.try_sweep(dk, gen).await {
            tracing::warn!(
                error = %err,
                "translations: items of an older generation stay behind (never read); the next clear or collapse of the document removes them"
            );
        }
    }

    async fn try_sweep(&self, dk: &str, gen: u64) -> Result<(), StoreError> {
        let mut keys: Vec<Key> = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(attr::BY_SEQ)
                .consistent_read(true)
                .key_condition_expression("#pk = :pk AND #seq < :gen")
                .projection_expression("#pk, #sk")
                .expression_attribute_names("#pk", attr::PK)
                .expression_attribute_names("#sk", attr::SK)
                .expression_attribute_names("#seq", attr::SEQ_KEY)
                .expression_attribute_values(":pk", s(dk))
                .expression_attribute_values(":gen", s(attr::generation(gen)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_error(OP, e))?;
            keys.extend(output.items.unwrap_or_default());
            start = output.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        let chunks: Vec<Vec<Key>> = keys.chunks(SWEEP_CHUNK).map(<[Key]>::to_vec).collect();
        futures::stream::iter(chunks)
            .map(|chunk| self.delete_chunk(gen, chunk))
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Deletes `keys` in one transaction, each if still older than `gen`; an item whose condition
    /// fails (gone, or written anew since) is dropped and the rest sent again.
    async fn delete_chunk(&self, gen: u64, mut keys: Vec<Key>) -> Result<(), StoreError> {
        for attempt in 0..SWEEP_ATTEMPTS {
            if keys.is_empty() {
                return Ok(());
            }
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
            }
            let items = keys
                .iter()
                .map(|key| {
                    let delete = Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(key.clone()))
                        .condition_expression("#gen < :gen")
                        .expression_attribute_names("#gen", attr::GEN)
                        .expression_attribute_values(":gen", AttributeValue::N(gen.to_string()))
                        .build()
                        .map_err(build_error)?;
                    Ok(TransactWriteItem::builder().delete(delete).build())
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            match transact(&self.client, OP, items).await? {
                Transacted::Done => return Ok(()),
                Transacted::Cancelled(reasons) => {
                    keys = keys
                        .into_iter()
                        .zip(
                            reasons
                                .iter()
                                .map(|r| r.condition_failed())
                                .chain(std::iter::repeat(false)),
                        )
                        .filter(|(_, failed)| !failed)
                        .map(|(key, _)| key)
                        .collect();
                }
            }
        }
        Err(StoreError::Unavailable(format!(
            "{OP}: {} deletes still conflicting after {SWEEP_ATTEMPTS} attempts",
            keys.len()
        )))
    }
}
