//! The reads of the DynamoDB store: a translation with its document's meta (one `BatchGetItem`,
//! or two `GetItem` one after the other), the meta alone, and the pages of `list`, each checked to be
//! one consistent view (see the crate documentation, "Reads: one consistent view").

use super::{attr, build_error, number, DynamoTranslationsStore, Meta, Stored};
use crate::model::Document;
use crate::store::Page;
use aws_sdk_dynamodb::types::{KeysAndAttributes, Select};
use shared::dynamo::{s, store_error, Item};
use shared::{Key, StoreError};

/// `BatchGetItem` calls of one read while keys come back unprocessed.
const BATCH_GET_ATTEMPTS: u32 = 5;

fn is_meta(item: &Item) -> bool {
    item.get(attr::SK)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        == Some(attr::META)
}

/// The first items of a document's index, from the top.
pub(super) struct Head {
    pub(super) meta: Meta,
    /// The current generation's first translations, highest index first.
    pub(super) items: Vec<Stored>,
    /// Whether the read passed the current generation's last translation.
    pub(super) complete: bool,
    /// Whether an item of an older generation (garbage) was seen.
    pub(super) garbage: bool,
}

impl DynamoTranslationsStore {
    /// The meta and the translation `id` of `document`, in one strongly consistent `BatchGetItem`
    /// (each read committed, the two possibly from different moments: see [`classify`]).
    pub(super) async fn read(
        &self,
        op: &str,
        document: &Document,
        id: &Key,
    ) -> Result<(Meta, Option<Stored>), StoreError> {
        let dk = attr::document_key(document);
        let mut request = Some(
            KeysAndAttributes::builder()
                .keys(Self::key(&dk, attr::META))
                .keys(Self::key(&dk, &attr::translation_key(id.as_str())))
                .consistent_read(true)
                .build()
                .map_err(build_error)?,
        );
        let (mut meta, mut item) = (None, None);
        for attempt in 0..BATCH_GET_ATTEMPTS {
            let Some(keys) = request.take() else { break };
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(10 << attempt)).await;
            }
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, keys)
                .send()
                .await
                .map_err(|e| store_error(op, e))?;
            for found in output
                .responses
                .into_iter()
                .flat_map(|mut r| r.remove(&self.table))
            {
                for found in found {
                    if is_meta(&found) {
                        meta = Some(found);
                    } else {
                        item = Some(found);
                    }
                }
            }
            request = output
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .filter(|k| !k.keys().is_empty());
        }
        if request.is_some() {
            return Err(StoreError::Unavailable(format!(
                "{op}: reads still unprocessed after {BATCH_GET_ATTEMPTS} attempts"
            )));
        }
        Ok((
            Meta::from_item(meta.as_ref())?,
            Stored::of(item.as_ref(), id)?,
        ))
    }

    /// The same two items read one after the other, the meta first. A translation only ever moves
    /// to a newer generation, so one read after the meta that is of an older generation than the
    /// meta was garbage when the meta was read: absent then (see [`super::classify`]).
    pub(super) async fn confirm(
        &self,
        op: &str,
        document: &Document,
        id: &Key,
    ) -> Result<(Meta, Option<Stored>), StoreError> {
        let dk = attr::document_key(document);
        let meta = self.meta(op, &dk, false).await?;
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&dk, &attr::translation_key(id.as_str()))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(op, e))?;
        Ok((meta, Stored::of(output.item.as_ref(), id)?))
    }

    /// The document's meta, strongly consistent; only its version with `version_only`.
    pub(super) async fn meta(
        &self,
        op: &str,
        dk: &str,
        version_only: bool,
    ) -> Result<Meta, StoreError> {
        let mut request = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(dk, attr::META)))
            .consistent_read(true);
        if version_only {
            request = request
                .projection_expression("#ver")
                .expression_attribute_names("#ver", attr::VER);
        }
        let output = request.send().await.map_err(|e| store_error(op, e))?;
        match output.item {
            Some(item) if version_only => Ok(Meta {
                exists: true,
                ver: number(&item, attr::VER)?,
                ..Meta::default()
            }),
            item => Meta::from_item(item.as_ref()),
        }
    }

    /// A strongly consistent query of the document's index, highest first, items fetched whole.
    fn query(&self, dk: &str) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(attr::BY_SEQ)
            .consistent_read(true)
            .scan_index_forward(false)
            .select(Select::AllAttributes)
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_values(":pk", s(dk))
    }

    /// The meta and up to `want` translations of the current generation from the top of the
    /// index; `None` when what was read shows a write landing meanwhile.
    pub(super) async fn head(
        &self,
        op: &str,
        dk: &str,
        want: usize,
    ) -> Result<Option<Head>, StoreError> {
        let mut meta: Option<Meta> = None;
        let mut items: Vec<Stored> = Vec::new();
        let (mut complete, mut garbage) = (false, false);
        let mut start = None;
        'pages: loop {
            let output = self
                .query(dk)
                .key_condition_expression("#pk = :pk")
                .limit((want + 2).min(1000) as i32)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_error(op, e))?;
            for raw in output.items.unwrap_or_default() {
                let Some(m) = meta else {
                    // Items above the meta are of a newer generation than it (an import's
                    // clock behind an earlier one's): never shown.
                    if is_meta(&raw) {
                        meta = Some(Meta::from_item(Some(&raw))?);
                    }
                    continue;
                };
                let gen = number(&raw, attr::GEN)?;
                if gen < m.gen {
                    (complete, garbage) = (true, true);
                    break 'pages;
                }
                let stored = Stored::from_item(raw)?;
                let index = stored.translation.sequence_index;
                let below_last = items
                    .last()
                    .is_none_or(|last| index < last.translation.sequence_index);
                if gen > m.gen || stored.ver > m.ver || index > m.highest || !below_last {
                    return Ok(None);
                }
                items.push(stored);
                if items.len() == want {
                    break 'pages;
                }
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                complete = true;
                break;
            }
        }
        Ok(Some(Head {
            meta: meta.unwrap_or_default(),
            items,
            complete,
            garbage,
        }))
    }

    /// The first page: one query from the top. It is a consistent view when it holds every
    /// translation the meta counts (each read after the meta, none written since: any write in
    /// between moved or removed one, or left a version above the meta's); a partial page is
    /// confirmed by reading the meta's version again. `None`: changed meanwhile.
    pub(super) async fn first_page(
        &self,
        dk: &str,
        limit: usize,
    ) -> Result<Option<Page>, StoreError> {
        const OP: &str = "translations.list";
        let Some(head) = self.head(OP, dk, limit + 1).await? else {
            return Ok(None);
        };
        let seen = head.items.len() as u64;
        let consistent = if seen == head.meta.count {
            true
        } else if head.complete || seen > head.meta.count {
            false
        } else {
            self.meta(OP, dk, true).await?.ver == head.meta.ver
        };
        Ok(consistent.then(|| page(head.items, limit)))
    }

    /// A page below `below`: the meta, then the range of its generation, then the meta's version
    /// again (unchanged: no write came between, so the range was read as it stood).
    pub(super) async fn page_below(
        &self,
        dk: &str,
        limit: usize,
        below: u64,
    ) -> Result<Option<Page>, StoreError> {
        const OP: &str = "translations.list";
        let meta = self.meta(OP, dk, false).await?;
        let top = below.saturating_sub(1).min(meta.highest);
        if !meta.exists || top == 0 {
            return Ok(Some(page(Vec::new(), limit)));
        }
        let mut items: Vec<Stored> = Vec::new();
        let mut start = None;
        'pages: loop {
            let output = self
                .query(dk)
                .key_condition_expression("#pk = :pk AND #seq BETWEEN :low AND :high")
                .expression_attribute_names("#seq", attr::SEQ_KEY)
                .expression_attribute_values(":low", s(attr::seq_key(meta.gen, 1)))
                .expression_attribute_values(":high", s(attr::seq_key(meta.gen, top)))
                .limit((limit + 1).min(1000) as i32)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_error(OP, e))?;
            for raw in output.items.unwrap_or_default() {
                let stored = Stored::from_item(raw)?;
                let index = stored.translation.sequence_index;
                let below_last = items
                    .last()
                    .is_none_or(|last| index < last.translation.sequence_index);
                if stored.gen != meta.gen || stored.ver > meta.ver || index > top || !below_last {
                    return Ok(None);
                }
                items.push(stored);
                if items.len() > limit {
                    break 'pages;
                }
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        let unchanged = self.meta(OP, dk, true).await?.ver == meta.ver;
        Ok(unchanged.then(|| page(items, limit)))
    }
}

/// A page of `limit` from the first `limit + 1` translations read.
fn page(mut items: Vec<Stored>, limit: usize) -> Page {
    let more = items.len() > limit;
    items.truncate(limit);
    Page {
        items: items.into_iter().map(|s| s.translation).collect(),
        more,
    }
}
