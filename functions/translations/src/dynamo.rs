//! The DynamoDB store (the design, and why, are in the crate documentation).

use crate::model::{Document, Translation, MAX_INDEX};
use crate::rounds::Rounds;
use crate::store::{Page, TranslationsStore};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use shared::dynamo::{from_item, s, to_item, transact, Client, Item, Transacted};
use shared::{Key, StoreError};
use std::collections::HashMap;

/// Key formats, index and attribute names of the translations table.
pub mod attr {
    use crate::model::Document;
    use sha2::Digest;

    /// The table: `TranslationsTable` in `template.yaml`, named by `TRANSLATIONS_TABLE`.
    pub const TABLE: shared::config::TableRef = shared::config::TableRef {
        resource: "TranslationsTable",
        env: "TRANSLATIONS_TABLE",
        default: "translations",
    };
    /// Partition key: the document ([`document_key`]).
    pub const PK: &str = "pk";
    /// Sort key: [`META`] or a translation ([`translation_key`]).
    pub const SK: &str = "sk";
    /// Sort key of [`BY_SEQ`]: [`meta_seq_key`] or [`seq_key`].
    pub const SEQ_KEY: &str = "seqKey";
    /// The local secondary index (`pk`, `seqKey`), keys only: a document's generations in order,
    /// each one's meta item above its translations, by `sequenceIndex`.
    pub const BY_SEQ: &str = "bySeq";
    /// The sort key of a document's meta item.
    pub const META: &str = "meta";
    /// Generation of an item: the meta's is the current one; a translation of another is garbage.
    pub const GEN: &str = "gen";
    /// Version: the meta's counts the document's writes; a translation's is the version that
    /// wrote it last.
    pub const VER: &str = "ver";
    /// Meta: the highest `sequenceIndex` handed out in the current generation (0: none).
    pub const HIGHEST: &str = "highest";
    /// Meta: how many translations the current generation holds.
    pub const COUNT: &str = "count";
    /// The translation id, kept on its item (its key holds only a hash of it).
    pub const ID: &str = "id";
    /// On meta and translation items alike.
    pub const ACCOUNT_ID: &str = "accountId";
    /// On meta and translation items alike.
    pub const DOCUMENT_ID: &str = "documentId";

    /// Lowercase hex of the SHA-256 of `bytes`.
    fn sha256_hex(bytes: &[u8]) -> String {
        sha2::Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The partition of a document: the SHA-256 of `len:accountId len:documentId` (both ids can be
    /// 1024 bytes, more together than a partition key holds; the lengths keep pairs apart).
    pub fn document_key(document: &Document) -> String {
        sha256_hex(crate::embedded::document_prefix(document).as_bytes())
    }

    /// The sort key of a translation: `t#` and the SHA-256 of its id (ids can be 1024 bytes, a
    /// sort key's limit, and any string, `meta` included).
    pub fn translation_key(id: &str) -> String {
        format!("t#{}", sha256_hex(id.as_bytes()))
    }

    /// `g<gen, 16 digits>`: every index key of generation `gen` starts with it.
    pub fn generation(gen: u64) -> String {
        format!("g{gen:016}")
    }

    /// The index key of the meta item of generation `gen`: above its translations (`~` > `s`).
    pub fn meta_seq_key(gen: u64) -> String {
        format!("{}#~", generation(gen))
    }

    /// The index key of the translation with `index` in generation `gen`.
    pub fn seq_key(gen: u64, index: u64) -> String {
        format!("{}#s#{index:016}", generation(gen))
    }
}

mod read;
mod sweep;

/// Deletes in one transaction (DynamoDB's limit).
const SWEEP_CHUNK: usize = 100;
/// Attempts of one sweep transaction (conditions that fail drop their items; conflicts wait).
const SWEEP_ATTEMPTS: u32 = 6;
fn build_error(err: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("request does not build: {err}"))
}

fn num(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn number(item: &Item, name: &str) -> Result<u64, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Internal(format!("translations item without a valid {name}")))
}

/// The next index after `highest`, refused past [`MAX_INDEX`].
fn next_index(highest: u64) -> Result<u64, StoreError> {
    if highest >= MAX_INDEX {
        return Err(StoreError::Internal(format!(
            "the document's history reached the largest index ({MAX_INDEX}); clear it"
        )));
    }
    Ok(highest + 1)
}

/// A document's meta item: its current generation and version, and what the generation holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Meta {
    /// False for a document never written (every field 0).
    pub(crate) exists: bool,
    pub(crate) gen: u64,
    pub(crate) highest: u64,
    pub(crate) count: u64,
    pub(crate) ver: u64,
}

impl Meta {
    fn from_item(item: Option<&Item>) -> Result<Self, StoreError> {
        let Some(item) = item else {
            return Ok(Self::default());
        };
        Ok(Self {
            exists: true,
            gen: number(item, attr::GEN)?,
            highest: number(item, attr::HIGHEST)?,
            count: number(item, attr::COUNT)?,
            ver: number(item, attr::VER)?,
        })
    }

    /// The item of this meta for `document`.
    pub(crate) fn item(&self, document: &Document) -> Item {
        Item::from([
            (attr::PK.to_owned(), s(attr::document_key(document))),
            (attr::SK.to_owned(), s(attr::META)),
            (attr::SEQ_KEY.to_owned(), s(attr::meta_seq_key(self.gen))),
            (attr::GEN.to_owned(), num(self.gen)),
            (attr::HIGHEST.to_owned(), num(self.highest)),
            (attr::COUNT.to_owned(), num(self.count)),
            (attr::VER.to_owned(), num(self.ver)),
            (attr::ACCOUNT_ID.to_owned(), s(document.account_id.as_str())),
            (
                attr::DOCUMENT_ID.to_owned(),
                s(document.document_id.as_str()),
            ),
        ])
    }

    /// The condition that this meta is still the stored one.
    fn unchanged(&self) -> Condition {
        if self.exists {
            Condition::Ver(self.ver)
        } else {
            Condition::Absent
        }
    }
}

/// A translation as stored: the record, its generation and the version that wrote it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stored {
    pub(crate) translation: Translation,
    pub(crate) gen: u64,
    pub(crate) ver: u64,
}

impl Stored {
    fn from_item(item: Item) -> Result<Self, StoreError> {
        let (gen, ver) = (number(&item, attr::GEN)?, number(&item, attr::VER)?);
        Ok(Self {
            translation: from_item(item)?,
            gen,
            ver,
        })
    }

    /// The stored translation under the key of `id`, checking it is `id`'s (not a hash twin's).
    fn of(item: Option<&Item>, id: &Key) -> Result<Option<Self>, StoreError> {
        let Some(item) = item else { return Ok(None) };
        let stored = Self::from_item(item.clone())?;
        if stored.translation.id != *id {
            return Err(StoreError::Internal(
                "two translation ids share a key hash".into(),
            ));
        }
        Ok(Some(stored))
    }
}

/// The item of `translation` in generation `gen`, written by version `ver`.
pub(crate) fn translation_item(
    translation: &Translation,
    gen: u64,
    ver: u64,
) -> Result<Item, StoreError> {
    let mut item = to_item(translation)?;
    item.insert(
        attr::PK.into(),
        s(attr::document_key(&translation.document())),
    );
    item.insert(
        attr::SK.into(),
        s(attr::translation_key(translation.id.as_str())),
    );
    item.insert(
        attr::SEQ_KEY.into(),
        s(attr::seq_key(gen, translation.sequence_index)),
    );
    item.insert(attr::GEN.into(), num(gen));
    item.insert(attr::VER.into(), num(ver));
    Ok(item)
}

/// What an item must be for a write to go through.
#[derive(Debug, Clone, Copy)]
enum Condition {
    /// Not there.
    Absent,
    /// Written last by this version.
    Ver(u64),
}

/// A `Put` of `item` on `condition`.
fn put(table: &str, item: Item, condition: Condition) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder().table_name(table).set_item(Some(item));
    let put = match condition {
        Condition::Absent => put
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", attr::PK),
        Condition::Ver(ver) => put
            .condition_expression("#ver = :ver")
            .expression_attribute_names("#ver", attr::VER)
            .expression_attribute_values(":ver", num(ver)),
    };
    Ok(TransactWriteItem::builder()
        .put(put.build().map_err(build_error)?)
        .build())
}

/// How a read of one translation and its document's meta stands.
enum Found {
    /// The translation is in the current generation, and the two reads agree.
    Current(Box<Stored>),
    /// No translation under the id.
    Absent,
    /// An item of a generation older than the meta's (garbage), or a meta that does not exist.
    Older,
    /// An item written after the meta was read.
    Newer,
}

/// Where `item` stands against `meta`. From a `BatchGetItem` (two reads, possibly of different
/// moments), `Older` and `Newer` are confirmed by reading the meta, then the item: read that
/// way, `Older` is absent (a translation's generation only grows, so it was garbage when the meta
/// was read, or there was no meta: no translation) and `Newer` means a write came between.
fn classify(meta: &Meta, item: Option<Stored>) -> Found {
    match item {
        None => Found::Absent,
        Some(_) if !meta.exists => Found::Older,
        Some(stored) if stored.gen == meta.gen && stored.ver <= meta.ver => {
            Found::Current(Box::new(stored))
        }
        Some(stored) if stored.gen < meta.gen => Found::Older,
        Some(_) => Found::Newer,
    }
}

/// The DynamoDB store.
#[derive(Clone)]
pub struct DynamoTranslationsStore {
    client: Client,
    table: String,
}

impl DynamoTranslationsStore {
    /// A store on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn key(document_key: &str, sort_key: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (attr::PK.to_owned(), s(document_key)),
            (attr::SK.to_owned(), s(sort_key)),
        ])
    }

    /// Writes `meta` (on the condition that `read` is still stored) and `translation` (in
    /// generation `gen`, on `condition`) in one transaction; whether it was applied (else it was
    /// cancelled: a condition failed, or another transaction was writing the same items).
    async fn commit(
        &self,
        op: &str,
        read: &Meta,
        meta: Meta,
        translation: &Translation,
        gen: u64,
        condition: Condition,
    ) -> Result<bool, StoreError> {
        let document = translation.document();
        let items = vec![
            put(&self.table, meta.item(&document), read.unchanged())?,
            put(
                &self.table,
                translation_item(translation, gen, meta.ver)?,
                condition,
            )?,
        ];
        Ok(matches!(
            transact(&self.client, op, items).await?,
            Transacted::Done
        ))
    }

    /// Changes the current translation `id` of `document` as `change` says (from the meta and the
    /// translation as read: the new meta, the new translation and its generation), in one
    /// transaction conditioned on both being unchanged; a round lost to another writer starts
    /// over with a new read, after a pause. `None` (nothing written) when there is no such translation.
    async fn modify<F>(
        &self,
        op: &str,
        document: &Document,
        id: &Key,
        change: F,
    ) -> Result<Option<(Translation, Meta)>, StoreError>
    where
        F: Fn(&Meta, &Stored) -> Result<(Meta, Translation, u64), StoreError>,
    {
        let (mut meta, mut item) = self.read(op, document, id).await?;
        let mut confirmed = false;
        let mut rounds = Rounds::new();
        loop {
            let stored = match classify(&meta, item.take()) {
                Found::Current(stored) => *stored,
                Found::Absent => return Ok(None),
                Found::Older if confirmed => return Ok(None),
                found => {
                    if matches!(found, Found::Newer) && confirmed {
                        rounds.next(op).await?;
                    }
                    (meta, item) = self.confirm(op, document, id).await?;
                    confirmed = true;
                    continue;
                }
            };
            let (new_meta, translation, gen) = change(&meta, &stored)?;
            let condition = Condition::Ver(stored.ver);
            if self
                .commit(op, &meta, new_meta, &translation, gen, condition)
                .await?
            {
                return Ok(Some((translation, new_meta)));
            }
            rounds.next(op).await?;
            (meta, item) = self.read(op, document, id).await?;
            confirmed = false;
        }
    }
}

impl TranslationsStore for DynamoTranslationsStore {
    async fn list(
        &self,
        document: &Document,
        limit: usize,
        below: Option<u64>,
    ) -> Result<Page, StoreError> {
        let dk = attr::document_key(document);
        let mut rounds = Rounds::new();
        loop {
            let read = match below {
                None => self.first_page(&dk, limit).await?,
                Some(below) => self.page_below(&dk, limit, below).await?,
            };
            match read {
                Some(page) => return Ok(page),
                None => rounds.next("translations.list").await?,
            }
        }
    }

    async fn create(&self, mut translation: Translation) -> Result<Translation, StoreError> {
        const OP: &str = "translations.create";
        let document = translation.document();
        let id = translation.id.clone();
        let (mut meta, mut item) = self.read(OP, &document, &id).await?;
        let mut rounds = Rounds::new();
        loop {
            // A translation of the current generation under this id is replaced (the count
            // stays); anything else under it is garbage of a cleared generation, overwritten.
            let replaces = meta.exists && item.as_ref().is_some_and(|s| s.gen == meta.gen);
            let index = next_index(meta.highest)?;
            let new_meta = Meta {
                exists: true,
                gen: meta.gen,
                highest: index,
                count: meta.count + u64::from(!replaces),
                ver: meta.ver + 1,
            };
            translation.sequence_index = index;
            let condition = match &item {
                Some(stored) => Condition::Ver(stored.ver),
                None => Condition::Absent,
            };
            if self
                .commit(OP, &meta, new_meta, &translation, meta.gen, condition)
                .await?
            {
                return Ok(translation);
            }
            rounds.next(OP).await?;
            (meta, item) = self.read(OP, &document, &id).await?;
        }
    }

    async fn promote(
        &self,
        document: &Document,
        id: &Key,
        now: &str,
    ) -> Result<Option<Translation>, StoreError> {
        let promoted = self
            .modify("translations.promote", document, id, |meta, stored| {
                let index = next_index(meta.highest)?;
                let mut translation = stored.translation.clone();
                translation.sequence_index = index;
                translation.updated_at = now.to_owned();
                let meta = Meta {
                    highest: index,
                    ver: meta.ver + 1,
                    ..*meta
                };
                Ok((meta, translation, meta.gen))
            })
            .await?;
        Ok(promoted.map(|(translation, _)| translation))
    }

    async fn clear(
        &self,
        document: &Document,
        keep_latest: bool,
        now: &str,
    ) -> Result<usize, StoreError> {
        const OP: &str = "translations.clear";
        let dk = attr::document_key(document);
        let mut rounds = Rounds::new();
        loop {
            let Some(head) = self.head(OP, &dk, 1).await? else {
                rounds.next(OP).await?;
                continue;
            };
            let meta = head.meta;
            if meta.count == 0 {
                if head.garbage {
                    self.sweep(&dk, meta.gen).await;
                }
                return Ok(0);
            }
            let top = head.items.first();
            if keep_latest && top.is_none_or(|t| t.translation.sequence_index != meta.highest) {
                // The highest index's translation must be the one read: it was not, read again.
                rounds.next(OP).await?;
                continue;
            }
            let gen = meta.gen + 1;
            let kept = u64::from(keep_latest);
            let new_meta = Meta {
                exists: true,
                gen,
                highest: kept,
                count: kept,
                ver: meta.ver + 1,
            };
            let mut items = vec![put(&self.table, new_meta.item(document), meta.unchanged())?];
            if let Some(survivor) = top.filter(|_| keep_latest) {
                let mut translation = survivor.translation.clone();
                translation.sequence_index = 1;
                translation.updated_at = now.to_owned();
                items.push(put(
                    &self.table,
                    translation_item(&translation, gen, new_meta.ver)?,
                    Condition::Ver(survivor.ver),
                )?);
            }
            match transact(&self.client, OP, items).await? {
                Transacted::Done => {
                    self.sweep(&dk, gen).await;
                    return Ok((meta.count - kept) as usize);
                }
                Transacted::Cancelled(_) => rounds.next(OP).await?,
            }
        }
    }

    async fn mark_adopted(
        &self,
        document: &Document,
        id: &Key,
        collapse: bool,
        now: &str,
    ) -> Result<Option<Translation>, StoreError> {
        let adopted = self
            .modify("translations.markAdopted", document, id, |meta, stored| {
                let mut translation = stored.translation.clone();
                translation.adopt(now);
                let meta = if collapse {
                    translation.sequence_index = 1;
                    Meta {
                        exists: true,
                        gen: meta.gen + 1,
                        highest: 1,
                        count: 1,
                        ver: meta.ver + 1,
                    }
                } else {
                    Meta {
                        ver: meta.ver + 1,
                        ..*meta
                    }
                };
                Ok((meta, translation, meta.gen))
            })
            .await?;
        let Some((translation, meta)) = adopted else {
            return Ok(None);
        };
        if collapse {
            self.sweep(&attr::document_key(document), meta.gen).await;
        }
        Ok(Some(translation))
    }
}
