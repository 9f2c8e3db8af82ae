//! The Convex `pipelines` table, for the `convex-import` command.

use crate::dynamo::attr;
use crate::model::Pipeline;
use crate::time::Timestamp;
use crate::{dynamo, embedded};
use shared::StoreError;

/// The Convex `pipelines` table, for the `convex-import` command. Each pipeline's webhook-secret
/// lookup is rebuilt beside it; `createdAt` and `updatedAt` must be ISO-8601 date-times; two
/// pipelines cannot share a webhook secret (the one Convex created later is skipped).
pub struct Import;

impl shared::import::ImportTable for Import {
    const CONVEX_TABLE: &'static str = "pipelines";
    const TABLES: &'static [shared::config::TableRef] = &[attr::TABLE];
    type Record = Pipeline;

    fn complete(pipeline: Pipeline, _convex_id: &str) -> Result<Pipeline, String> {
        for (field, value) in [
            ("createdAt", &pipeline.created_at),
            ("updatedAt", &pipeline.updated_at),
        ] {
            Timestamp::parse(value.as_str()).map_err(|e| format!("{field}: {e}"))?;
        }
        if pipeline.webhook_secret.is_empty() {
            return Err("webhookSecret: must not be empty".into());
        }
        Ok(pipeline)
    }

    fn key(pipeline: &Pipeline) -> String {
        format!("id {}", pipeline.id.as_str())
    }

    fn select(
        mut docs: Vec<shared::import::Doc<Pipeline>>,
    ) -> (
        Vec<shared::import::Doc<Pipeline>>,
        Vec<shared::import::Skipped>,
    ) {
        docs.sort_by(|a, b| a.created_ms.total_cmp(&b.created_ms));
        let mut owners = std::collections::HashMap::new();
        let mut skipped = Vec::new();
        docs.retain(
            |doc| match owners.entry(attr::secret_key(&doc.record.webhook_secret)) {
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(doc.line);
                    true
                }
                std::collections::hash_map::Entry::Occupied(first) => {
                    skipped.push(shared::import::Skipped {
                        line: doc.line,
                        reason: format!(
                            "its webhookSecret is already the secret of the pipeline on line {}",
                            first.get()
                        ),
                    });
                    false
                }
            },
        );
        (docs, skipped)
    }

    fn items(
        doc: &shared::import::Doc<Pipeline>,
    ) -> Result<Vec<(usize, shared::dynamo::Item)>, StoreError> {
        dynamo::import_items(&doc.record)
    }

    fn put_embedded(
        txn: &shared::embedded::WriteTransaction,
        doc: &shared::import::Doc<Pipeline>,
    ) -> Result<(), StoreError> {
        embedded::import_put(txn, &doc.record)
    }
}
