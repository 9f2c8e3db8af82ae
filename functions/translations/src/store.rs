//! What the translations group needs from storage. Every call is one atomic step on one document:
//! calls on a document behave as if they ran one at a time (CONTRACT.md §7.2, "Concurrency").

use crate::model::{Document, Translation};
use shared::{Key, StoreError};
use std::future::Future;

/// One page of a document's history.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// Highest `sequenceIndex` first.
    pub items: Vec<Translation>,
    /// Whether at least one more translation follows the last of `items`.
    pub more: bool,
}

/// The store of the translations group.
pub trait TranslationsStore: Send + Sync + 'static {
    /// Up to `limit` translations of `document`, highest `sequenceIndex` first, only those below
    /// `below` when given: one consistent view of the document, never a partly changed one.
    fn list(
        &self,
        document: &Document,
        limit: usize,
        below: Option<u64>,
    ) -> impl Future<Output = Result<Page, StoreError>> + Send;

    /// Stores `translation` with `sequenceIndex` = the document's highest + 1 (1 when empty; its
    /// own value is ignored), replacing a translation with the same id; returns it as stored.
    fn create(
        &self,
        translation: Translation,
    ) -> impl Future<Output = Result<Translation, StoreError>> + Send;

    /// Gives the translation `sequenceIndex` = highest + 1 and `updatedAt` = `now`; `None` (and no
    /// write) when the document has no such translation.
    fn promote(
        &self,
        document: &Document,
        id: &Key,
        now: &str,
    ) -> impl Future<Output = Result<Option<Translation>, StoreError>> + Send;

    /// Deletes the document's translations, or all but the highest (renumbered to 1, updated
    /// `now`) with `keep_latest`; returns how many were deleted. Nothing is written when there are
    /// none.
    fn clear(
        &self,
        document: &Document,
        keep_latest: bool,
        now: &str,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Adopts the translation ([`Translation::adopt`] at `now`); with `collapse`, also deletes
    /// every other translation of the document and renumbers it to 1. `None` (and no write) when
    /// the document has no such translation.
    fn mark_adopted(
        &self,
        document: &Document,
        id: &Key,
        collapse: bool,
        now: &str,
    ) -> impl Future<Output = Result<Option<Translation>, StoreError>> + Send;
}
