//! A user's transcript index: one small record per user that lists every transcript in
//! `listTranscripts` order, with what the list, the cap and the stores need (id, `createdAt`,
//! insertion sequence, where the body is, its sizes). Both stores keep it as one record (a single
//! DynamoDB item), written by every mutation, so that its order, its count and the cap are decided
//! from one atomic read; the rules here are shared by both.
//!
//! # Order
//!
//! `createdAt` descending as UTF-8 bytes (code point order, CONTRACT.md §7.5), then insertion
//! sequence descending (the later inserted first; an update keeps its sequence, §7.11 decision 2).
//!
//! `createdAt` is a caller string of any length. On DynamoDB the index holds its first
//! [`CREATED_AT_PREFIX_BYTES`] bytes only (so that 200 entries always fit one item), marked `cut`
//! when longer; the full value is in the transcript's body. Two entries whose kept prefixes cannot
//! decide their order ([`compare`] answers `None`: one cut prefix is a prefix of, or equal to, the
//! other's) are ordered after reading the full values from their bodies ([`undecided`] names them).
//! Only callers writing ISO timestamps of over 256 bytes, all equal in their first 256, ever pay it.

use crate::model::{LIST_BUDGET_BYTES, LIST_WIRE_BUDGET_BYTES, MAX_TRANSCRIPTS};
use serde::{Deserialize, Serialize};
use shared::Key;
use std::cmp::Ordering;

/// How much of `createdAt` the DynamoDB index keeps (the rest is read from the body when needed).
pub const CREATED_AT_PREFIX_BYTES: usize = 256;

/// One transcript in the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The `transcriptId`.
    #[serde(rename = "i")]
    pub id: Key,
    /// Its `createdAt`, or the first bytes of it when `cut`.
    #[serde(rename = "c")]
    pub created_at: String,
    /// Whether `created_at` is only a prefix.
    #[serde(rename = "x", default, skip_serializing_if = "std::ops::Not::not")]
    pub cut: bool,
    /// Insertion sequence: greater is inserted later; unique per user.
    #[serde(rename = "q")]
    pub seq: u64,
    /// The version of its body (bodies are written once under a new version and never changed).
    #[serde(rename = "b")]
    pub body: u64,
    /// How many items the body takes (DynamoDB; 1 on the embedded store).
    #[serde(rename = "n")]
    pub chunks: u32,
    /// Bytes of its JSON.
    #[serde(rename = "s")]
    pub size: u64,
    /// Bytes of its JSON written inside a JSON string (see [`crate::model::wire_len`]).
    #[serde(rename = "w")]
    pub wire: u64,
}

impl Entry {
    /// This entry as the DynamoDB index keeps it: `createdAt` cut to its first
    /// [`CREATED_AT_PREFIX_BYTES`] bytes (at a character boundary).
    pub fn cut_for_storage(&self) -> Entry {
        if self.created_at.len() <= CREATED_AT_PREFIX_BYTES {
            return self.clone();
        }
        let mut end = CREATED_AT_PREFIX_BYTES;
        while !self.created_at.is_char_boundary(end) {
            end -= 1;
        }
        Entry {
            created_at: self.created_at[..end].to_owned(),
            cut: true,
            ..self.clone()
        }
    }

    /// The body this entry points at.
    pub fn body_ref(&self) -> Body {
        Body {
            body: self.body,
            chunks: self.chunks,
        }
    }
}

/// Where a body is: its version and how many items it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    /// The body version.
    #[serde(rename = "b")]
    pub body: u64,
    /// Its items.
    #[serde(rename = "n")]
    pub chunks: u32,
}

/// The order of `createdAt` values as UTF-8 bytes, from what two entries know of them; `None` when
/// their kept prefixes cannot tell.
fn created_cmp(a: &Entry, b: &Entry) -> Option<Ordering> {
    let (x, y) = (a.created_at.as_bytes(), b.created_at.as_bytes());
    let common = x.len().min(y.len());
    match x[..common].cmp(&y[..common]) {
        Ordering::Equal => {}
        decided => return Some(decided),
    }
    // One known part is a prefix of the other; a cut value is longer than its known part.
    match x.len().cmp(&y.len()) {
        Ordering::Equal => match (a.cut, b.cut) {
            (false, false) => Some(Ordering::Equal),
            (false, true) => Some(Ordering::Less),
            (true, false) => Some(Ordering::Greater),
            (true, true) => None,
        },
        Ordering::Less => (!a.cut).then_some(Ordering::Less),
        Ordering::Greater => (!b.cut).then_some(Ordering::Greater),
    }
}

/// The list order: `Less` when `a` comes first (newer `createdAt`, then inserted later); `None`
/// when cut prefixes cannot tell (see [`undecided`]).
pub fn compare(a: &Entry, b: &Entry) -> Option<Ordering> {
    match created_cmp(b, a)? {
        Ordering::Equal => Some(b.seq.cmp(&a.seq)),
        decided => Some(decided),
    }
}

/// [`compare`], total: where it cannot tell (only when [`undecided`] entries were not completed),
/// by the known prefixes, then the sequence.
fn compare_total(a: &Entry, b: &Entry) -> Ordering {
    compare(a, b).unwrap_or_else(|| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| b.seq.cmp(&a.seq))
    })
}

/// The positions of the entries whose full `createdAt` is needed to order `entries`: those with a
/// cut prefix that [`compare`] cannot order against another entry.
pub fn undecided(entries: &[&Entry]) -> Vec<usize> {
    let mut needed = vec![false; entries.len()];
    for (i, a) in entries.iter().enumerate().filter(|(_, a)| a.cut) {
        for (j, b) in entries.iter().enumerate() {
            if i != j && created_cmp(a, b).is_none() {
                needed[i] = true;
                needed[j] |= b.cut;
            }
        }
    }
    needed
        .iter()
        .enumerate()
        .filter_map(|(i, n)| n.then_some(i))
        .collect()
}

/// A transcript to save, as the index sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The `transcriptId`.
    pub id: Key,
    /// Its full `createdAt`.
    pub created_at: String,
    /// How many items its body takes.
    pub chunks: u32,
    /// Bytes of its JSON.
    pub size: u64,
    /// Bytes of its JSON inside a JSON string.
    pub wire: u64,
}

/// What a save does.
#[derive(Debug, Clone, PartialEq)]
pub enum SavePlan {
    /// A new transcript sorting after the 200 kept: nothing to write.
    Trimmed,
    /// Write `index`, and the body of `entry`; delete the bodies of `dropped` (the replaced body of
    /// an update, the entries trimmed past the 200th).
    Write {
        /// The index after the save.
        index: Index,
        /// The saved transcript's entry (its body version is the new index version).
        entry: Entry,
        /// Whether it replaced an entry with the same id.
        updated: bool,
        /// Entries whose bodies go.
        dropped: Vec<Entry>,
    },
}

/// A user's index. A user without one has the default: no entries, version 0.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// Bumped by every write of the index; writes are conditioned on the version they read. A new
    /// transcript's sequence and every new body's version is the index's new version.
    #[serde(rename = "v")]
    pub ver: u64,
    /// Every transcript, in list order.
    #[serde(rename = "e", default)]
    pub entries: Vec<Entry>,
    /// Bodies no entry points at any more that are still stored (left by a `clear` of more
    /// than one transaction holds), deleted by the next writes.
    #[serde(rename = "g", default, skip_serializing_if = "Vec::is_empty")]
    pub garbage: Vec<Body>,
}

impl Index {
    /// The position of `id`.
    pub fn position(&self, id: &Key) -> Option<usize> {
        self.entries.iter().position(|e| e.id == *id)
    }

    /// The entry `candidate` becomes (without its sequence and body, set by [`Index::plan_save`]).
    fn entry(&self, candidate: &Candidate, seq: u64) -> Entry {
        Entry {
            id: candidate.id.clone(),
            created_at: candidate.created_at.clone(),
            cut: false,
            seq,
            body: self.ver + 1,
            chunks: candidate.chunks,
            size: candidate.size,
            wire: candidate.wire,
        }
    }

    /// The entries whose full `createdAt` must be known before [`Index::plan_save`] of
    /// `candidate` (positions in `entries`): those whose kept prefix cannot be ordered against it.
    /// (The entries' order among themselves is the stored order, decided when they were saved.)
    pub fn undecided_with(&self, candidate: &Candidate) -> Vec<usize> {
        let new = self.entry(candidate, u64::MAX);
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.cut && created_cmp(e, &new).is_none())
            .map(|(i, _)| i)
            .collect()
    }

    /// Saving `candidate`: an update replaces the entry with its id (keeping its sequence); an
    /// insert takes sequence = the new version. The entry goes to its place in the stored order;
    /// then, for an insert, everything past the 200th is dropped, the new one included (then
    /// [`SavePlan::Trimmed`]: nothing is written).
    pub fn plan_save(&self, candidate: &Candidate) -> SavePlan {
        let mut next = self.clone();
        next.ver = self.ver + 1;
        let mut dropped = Vec::new();
        let (seq, updated) = match self.position(&candidate.id) {
            Some(at) => {
                let old = next.entries.remove(at);
                let seq = old.seq;
                dropped.push(old);
                (seq, true)
            }
            None => (next.ver, false),
        };
        let entry = self.entry(candidate, seq);
        let at = next
            .entries
            .partition_point(|e| compare_total(e, &entry) == Ordering::Less);
        next.entries.insert(at, entry.clone());
        if !updated && next.entries.len() > MAX_TRANSCRIPTS {
            if at >= MAX_TRANSCRIPTS {
                return SavePlan::Trimmed;
            }
            dropped.extend(next.entries.split_off(MAX_TRANSCRIPTS));
        }
        SavePlan::Write {
            index: next,
            entry,
            updated,
            dropped,
        }
    }

    /// Removing `id`: the index after, and the removed entry; `None` when absent.
    pub fn plan_remove(&self, id: &Key) -> Option<(Index, Entry)> {
        let at = self.position(id)?;
        let mut next = self.clone();
        next.ver += 1;
        let removed = next.entries.remove(at);
        Some((next, removed))
    }

    /// Clearing: the index after (no entries), and the entries removed.
    pub fn plan_clear(&self) -> (Index, Vec<Entry>) {
        let mut next = self.clone();
        next.ver += 1;
        let removed = std::mem::take(&mut next.entries);
        (next, removed)
    }

    /// The entries `listTranscripts` returns for `limit` (see [`crate::model::list_limit`]): the
    /// first `limit`, then as many of those as fit, in order, in [`LIST_BUDGET_BYTES`] of JSON
    /// and [`LIST_WIRE_BUDGET_BYTES`] once escaped into a response body.
    pub fn select(&self, limit: usize) -> &[Entry] {
        let mut size = 2; // `[]`
        let mut wire = 2;
        let mut taken = 0;
        for entry in self.entries.iter().take(limit) {
            let comma = usize::from(taken > 0);
            let (next_size, next_wire) = (
                size + comma + entry.size as usize,
                wire + comma + entry.wire as usize,
            );
            if next_size > LIST_BUDGET_BYTES || next_wire > LIST_WIRE_BUDGET_BYTES {
                break;
            }
            (size, wire, taken) = (next_size, next_wire, taken + 1);
        }
        &self.entries[..taken]
    }
}

/// The compact binary form of entries and bodies in the DynamoDB index item: one binary attribute
/// instead of a list of maps (some 1,600 nested attributes for 200 entries), so that reading,
/// writing and conditioning on the index stays cheap. A format byte (1), then per entry: the id
/// and `createdAt` (each a little-endian `u16` length and the bytes), a flags byte (1 = cut), then
/// sequence, body version, body items, size and escaped size (`u64`, `u64`, `u32`, `u64`, `u64`,
/// little-endian).
pub mod codec {
    use super::{Body, Entry};
    use shared::Key;

    const FORMAT: u8 = 1;

    fn put_str(out: &mut Vec<u8>, text: &str) {
        let len = u16::try_from(text.len()).expect("ids and kept createdAt prefixes are short");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(text.as_bytes());
    }

    /// `entries` (their `createdAt` already cut for storage), encoded.
    pub fn encode_entries(entries: &[Entry]) -> Vec<u8> {
        let mut out = vec![FORMAT];
        for e in entries {
            put_str(&mut out, e.id.as_str());
            put_str(&mut out, &e.created_at);
            out.push(u8::from(e.cut));
            out.extend_from_slice(&e.seq.to_le_bytes());
            out.extend_from_slice(&e.body.to_le_bytes());
            out.extend_from_slice(&e.chunks.to_le_bytes());
            out.extend_from_slice(&e.size.to_le_bytes());
            out.extend_from_slice(&e.wire.to_le_bytes());
        }
        out
    }

    /// `bodies`, encoded: the format byte, then per body its version (`u64`) and items (`u32`).
    pub fn encode_bodies(bodies: &[Body]) -> Vec<u8> {
        let mut out = vec![FORMAT];
        for b in bodies {
            out.extend_from_slice(&b.body.to_le_bytes());
            out.extend_from_slice(&b.chunks.to_le_bytes());
        }
        out
    }

    struct Reader<'a>(&'a [u8]);

    impl Reader<'_> {
        fn take(&mut self, n: usize) -> Option<&[u8]> {
            let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
            self.0 = rest;
            Some(head)
        }
        fn u16(&mut self) -> Option<u16> {
            Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
        }
        fn u32(&mut self) -> Option<u32> {
            Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
        }
        fn u64(&mut self) -> Option<u64> {
            Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
        }
        fn string(&mut self) -> Option<String> {
            let len = usize::from(self.u16()?);
            String::from_utf8(self.take(len)?.to_vec()).ok()
        }
        fn format(&mut self) -> Option<()> {
            (self.take(1)? == [FORMAT]).then_some(())
        }
    }

    /// The entries `bytes` encode; `None` when they are not [`encode_entries`]' output.
    pub fn decode_entries(bytes: &[u8]) -> Option<Vec<Entry>> {
        let mut r = Reader(bytes);
        r.format()?;
        let mut out = Vec::new();
        while !r.0.is_empty() {
            out.push(Entry {
                id: Key::parse(r.string()?).ok()?,
                created_at: r.string()?,
                cut: r.take(1)? == [1],
                seq: r.u64()?,
                body: r.u64()?,
                chunks: r.u32()?,
                size: r.u64()?,
                wire: r.u64()?,
            });
        }
        Some(out)
    }

    /// The bodies `bytes` encode.
    pub fn decode_bodies(bytes: &[u8]) -> Option<Vec<Body>> {
        let mut r = Reader(bytes);
        r.format()?;
        let mut out = Vec::new();
        while !r.0.is_empty() {
            out.push(Body {
                body: r.u64()?,
                chunks: r.u32()?,
            });
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, created_at: &str, seq: u64) -> Entry {
        Entry {
            id: Key::parse(id).unwrap(),
            created_at: created_at.into(),
            cut: false,
            seq,
            body: seq,
            chunks: 1,
            size: 10,
            wire: 12,
        }
    }

    fn candidate(id: &str, created_at: &str) -> Candidate {
        Candidate {
            id: Key::parse(id).unwrap(),
            created_at: created_at.into(),
            chunks: 1,
            size: 10,
            wire: 12,
        }
    }

    fn ids(index: &Index) -> Vec<&str> {
        index.entries.iter().map(|e| e.id.as_str()).collect()
    }

    fn saved(plan: SavePlan) -> (Index, Entry, bool, Vec<Entry>) {
        match plan {
            SavePlan::Write {
                index,
                entry,
                updated,
                dropped,
            } => (index, entry, updated, dropped),
            SavePlan::Trimmed => panic!("trimmed"),
        }
    }

    #[test]
    fn entries_order_by_created_at_bytes_descending_then_later_inserted_first() {
        let mut index = Index::default();
        for (id, at) in [
            ("a", "2024-01-02"),
            ("b", "2024-01-01"),
            ("c", "2024-01-02"),
            ("d", ""),
        ] {
            index = saved(index.plan_save(&candidate(id, at))).0;
        }
        assert_eq!(ids(&index), ["c", "a", "b", "d"]);
        // An update keeps the insertion position among ties, and can move by createdAt.
        let (updated, entry, was_update, dropped) =
            saved(index.plan_save(&candidate("a", "2024-01-02")));
        assert!(was_update);
        assert_eq!(entry.seq, 1);
        assert_eq!(entry.body, 5);
        assert_eq!(dropped.len(), 1);
        assert_eq!(ids(&updated), ["c", "a", "b", "d"]);
        let moved = saved(updated.plan_save(&candidate("d", "2025"))).0;
        assert_eq!(ids(&moved), ["d", "c", "a", "b"]);
        // Code point order: U+FFFD (EF BF BD) sorts before U+10000 (F0 90 80 80).
        let wide = saved(Index::default().plan_save(&candidate("x", "\u{FFFD}"))).0;
        let wide = saved(wide.plan_save(&candidate("y", "\u{10000}"))).0;
        assert_eq!(ids(&wide), ["y", "x"]);
    }

    #[test]
    fn an_insert_past_200_drops_the_last_or_is_itself_trimmed_and_an_update_trims_nothing() {
        let mut index = Index::default();
        for i in 0..200 {
            index =
                saved(index.plan_save(&candidate(&format!("t{i}"), &format!("{:04}", 100 + i)))).0;
        }
        let (newer, _, _, dropped) = saved(index.plan_save(&candidate("new", "9999")));
        assert_eq!(newer.entries.len(), 200);
        assert_eq!(
            dropped.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["t0"]
        );
        assert_eq!(
            index.plan_save(&candidate("old", "0000")),
            SavePlan::Trimmed
        );
        // Tied with the oldest: inserted later, so it comes first and the old one goes.
        let (_, _, _, dropped) = saved(index.plan_save(&candidate("tie", "0100")));
        assert_eq!(dropped[0].id.as_str(), "t0");
        let (same, _, updated, dropped) = saved(index.plan_save(&candidate("t5", "0000")));
        assert!(updated);
        assert_eq!(same.entries.len(), 200);
        assert_eq!(dropped.len(), 1, "only the replaced body");
        assert_eq!(same.entries.last().unwrap().id.as_str(), "t5");
    }

    #[test]
    fn cut_prefixes_decide_what_they_can_and_name_the_entries_they_cannot() {
        let long = |tail: &str| format!("{}{tail}", "2".repeat(CREATED_AT_PREFIX_BYTES));
        let a = entry("a", &long("b"), 1).cut_for_storage();
        let b = entry("b", &long("a"), 2).cut_for_storage();
        let c = entry("c", "3", 3);
        let d = entry("d", &"2".repeat(10), 4);
        assert!(a.cut && a.created_at.len() == CREATED_AT_PREFIX_BYTES);
        assert_eq!(compare(&c, &a), Some(Ordering::Less), "\"3\" > \"22…\"");
        assert_eq!(
            compare(&a, &d),
            Some(Ordering::Less),
            "a longer value after a common prefix"
        );
        assert_eq!(compare(&a, &b), None);
        assert_eq!(undecided(&[&a, &b, &c, &d]), [0, 1]);
        let full_a = entry("a", &long("b"), 1);
        assert_eq!(undecided(&[&full_a, &b, &c, &d]), [1]);
        let full_b = entry("b", &long("a"), 2);
        assert_eq!(undecided(&[&full_a, &full_b, &c, &d]), Vec::<usize>::new());
        assert_eq!(compare(&full_a, &full_b), Some(Ordering::Less));
        // A character is never split.
        let multibyte = entry("m", &"é".repeat(200), 5).cut_for_storage();
        assert_eq!(multibyte.created_at.len(), 256);
        let multibyte = entry("m", &format!("x{}", "é".repeat(200)), 5).cut_for_storage();
        assert_eq!(multibyte.created_at.len(), 255);
    }

    #[test]
    fn entries_and_bodies_encode_and_decode_exactly() {
        let entries = vec![
            entry("a", "2024", 1),
            Entry {
                size: u64::MAX,
                chunks: 3,
                ..entry(&"é".repeat(512), "", 2)
            },
            entry("z", &"x".repeat(400), 3).cut_for_storage(),
        ];
        let bytes = codec::encode_entries(&entries);
        assert_eq!(codec::decode_entries(&bytes), Some(entries));
        assert_eq!(codec::decode_entries(&[1]), Some(Vec::new()));
        assert_eq!(
            codec::decode_entries(&bytes[..bytes.len() - 1]),
            None,
            "truncated"
        );
        assert_eq!(codec::decode_entries(&[2]), None, "another format");
        let bodies = vec![
            Body { body: 7, chunks: 2 },
            Body {
                body: 1 << 40,
                chunks: 1,
            },
        ];
        assert_eq!(
            codec::decode_bodies(&codec::encode_bodies(&bodies)),
            Some(bodies)
        );
    }

    #[test]
    fn the_list_takes_the_limit_then_what_fits_the_budgets() {
        let mut index = Index::default();
        for i in 0..6 {
            index = saved(index.plan_save(&Candidate {
                size: 1024 * 1024,
                wire: 1024 * 1024 + 10,
                ..candidate(&format!("t{i}"), &format!("{i}"))
            }))
            .0;
        }
        assert_eq!(
            index.select(200).len(),
            4,
            "5 MiB of JSON hold 4 of 1 MiB and the commas"
        );
        assert_eq!(index.select(2).len(), 2);
        assert_eq!(index.select(0).len(), 0);
        index.entries[1].wire = 4 * 1024 * 1024;
        assert_eq!(index.select(200).len(), 2, "the escaped budget counts too");
    }
}
