//! Wire arguments and replies of the translations routes, their handlers and the route table.

use crate::model::{cursor_bound, page_size, Document, Translation, TranslationInput};
use crate::store::TranslationsStore;
use serde::{Deserialize, Serialize};
use shared::parse::not_null;
use shared::routes::Surface;
use shared::{ApiError, Key, Routes, SharedClock};
use std::sync::Arc;

/// Arguments of `/translations/list`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListArgs {
    /// The owner.
    pub account_id: Key,
    /// The document.
    pub document_id: Key,
    /// Page size (see [`page_size`]); a plain float, so `NaN` and `±Infinity` from the function
    /// protocol reach the rule instead of being refused.
    #[serde(default, deserialize_with = "not_null")]
    pub limit: Option<f64>,
    /// Read as `parseInt(cursor, 10)` (see [`cursor_bound`]).
    #[serde(default, deserialize_with = "not_null")]
    pub cursor: Option<String>,
}

/// Arguments of `/translations/create`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateArgs {
    /// The owner.
    pub account_id: Key,
    /// The document.
    pub document_id: Key,
    /// The translation.
    pub payload: TranslationInput,
}

/// Arguments of `/translations/promote`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PromoteArgs {
    /// The owner.
    pub account_id: Key,
    /// The document.
    pub document_id: Key,
    /// The translation.
    pub translation_id: Key,
}

/// Arguments of `/translations/clear`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClearArgs {
    /// The owner.
    pub account_id: Key,
    /// The document.
    pub document_id: Key,
    /// Keep the translation with the highest index (renumbered to 1).
    #[serde(default, deserialize_with = "not_null")]
    pub keep_latest: Option<bool>,
}

/// Arguments of `/translations/markAdopted`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MarkAdoptedArgs {
    /// The owner.
    pub account_id: Key,
    /// The document.
    pub document_id: Key,
    /// The translation.
    pub translation_id: Key,
    /// Also delete every other translation of the document.
    #[serde(default, deserialize_with = "not_null")]
    pub collapse_history: Option<bool>,
}

/// Reply of `/translations/list`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListReply {
    /// Highest `sequenceIndex` first.
    pub items: Vec<Translation>,
    /// The last item's index, when more follow it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Reply of `/translations/create`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateReply {
    /// As stored.
    pub translation: Translation,
    /// The new `sequenceIndex` (not a count: CONTRACT.md §7.8 #3).
    pub history_size: u64,
}

/// Reply of `/translations/promote`.
#[derive(Debug, Serialize)]
pub struct PromoteReply {
    /// As stored, `null` when absent.
    pub translation: Option<Translation>,
    /// Whether it was promoted (`true` whenever it exists).
    pub reordered: bool,
}

/// Reply of `/translations/clear`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClearReply {
    /// How many translations were deleted.
    pub deleted_count: usize,
}

/// Reply of `/translations/markAdopted`.
#[derive(Debug, Serialize)]
pub struct MarkAdoptedReply {
    /// As stored, `null` when absent.
    pub translation: Option<Translation>,
    /// Whether the history was collapsed to it.
    pub collapsed: bool,
}

struct State<S> {
    store: S,
    clock: SharedClock,
}

impl<S> State<S> {
    /// One reading of the clock, ISO-8601: every timestamp a call writes.
    fn now(&self) -> String {
        shared::clock::iso8601(self.clock.now_ms())
    }
}

/// The route table, over any store.
pub fn routes<S: TranslationsStore, T: Surface>(store: S, clock: SharedClock) -> Routes<T> {
    let state = Arc::new(State { store, clock });
    Routes::new()
        .query("/translations/list", &state, list)
        .mutation("/translations/create", &state, create)
        .mutation("/translations/promote", &state, promote)
        .mutation("/translations/clear", &state, clear)
        .mutation("/translations/markAdopted", &state, mark_adopted)
}

async fn list<S: TranslationsStore>(
    state: Arc<State<S>>,
    args: ListArgs,
) -> Result<ListReply, ApiError> {
    let below = cursor_bound(args.cursor.as_deref());
    if below == Some(1) {
        // No index is below 1: nothing to read.
        return Ok(ListReply {
            items: Vec::new(),
            next_cursor: None,
        });
    }
    let document = Document::new(args.account_id, args.document_id);
    let page = state
        .store
        .list(&document, page_size(args.limit), below)
        .await?;
    let next_cursor = page
        .more
        .then(|| page.items.last().map(|t| t.sequence_index.to_string()))
        .flatten();
    Ok(ListReply {
        items: page.items,
        next_cursor,
    })
}

async fn create<S: TranslationsStore>(
    state: Arc<State<S>>,
    args: CreateArgs,
) -> Result<CreateReply, ApiError> {
    let document = Document::new(args.account_id, args.document_id);
    let translation = Translation::new(document, args.payload, &state.now());
    let translation = state.store.create(translation).await?;
    Ok(CreateReply {
        history_size: translation.sequence_index,
        translation,
    })
}

async fn promote<S: TranslationsStore>(
    state: Arc<State<S>>,
    args: PromoteArgs,
) -> Result<PromoteReply, ApiError> {
    let document = Document::new(args.account_id, args.document_id);
    let translation = state
        .store
        .promote(&document, &args.translation_id, &state.now())
        .await?;
    Ok(PromoteReply {
        reordered: translation.is_some(),
        translation,
    })
}

async fn clear<S: TranslationsStore>(
    state: Arc<State<S>>,
    args: ClearArgs,
) -> Result<ClearReply, ApiError> {
    let document = Document::new(args.account_id, args.document_id);
    let keep_latest = args.keep_latest.unwrap_or(false);
    Ok(ClearReply {
        deleted_count: state
            .store
            .clear(&document, keep_latest, &state.now())
            .await?,
    })
}

async fn mark_adopted<S: TranslationsStore>(
    state: Arc<State<S>>,
    args: MarkAdoptedArgs,
) -> Result<MarkAdoptedReply, ApiError> {
    let document = Document::new(args.account_id, args.document_id);
    let collapse = args.collapse_history.unwrap_or(false);
    let translation = state
        .store
        .mark_adopted(&document, &args.translation_id, collapse, &state.now())
        .await?;
    Ok(MarkAdoptedReply {
        collapsed: collapse && translation.is_some(),
        translation,
    })
}
