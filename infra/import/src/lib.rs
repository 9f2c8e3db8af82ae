//! `convex-import`: loads a Convex snapshot export (`npx convex export --path snapshot.zip`) into
//! the service's tables, on DynamoDB or on the embedded store.
//!
//! A run has two phases. First every table of the export is read and each document validated
//! against the contract's types ([`shared::import::ImportTable`], implemented by each route group
//! next to its stores): a bad document is reported with its table, line and reason and left out,
//! and with [`Options::strict`] the run stops there, before anything is written. Then the valid
//! documents are written: on DynamoDB with `BatchWriteItem` (25 items a call, [`CONCURRENCY`] calls
//! in flight, unprocessed items retried with backoff), on the embedded store in transactions of
//! [`EMBEDDED_CHUNK`] documents. A document's items (a pipeline, its webhook-secret lookup and its
//! list item) go in the same call. Every write replaces what the same key held, so running an
//! import again writes the same items: it is idempotent, and re-running it finishes an interrupted
//! one.
//!
//! What is carried over or rebuilt:
//! - `_creationTime` orders credentials (`findActive`, `list`) and usage records (`listUsage`), as
//!   it did in Convex; it is stored in their creation keys.
//! - Derived data: webhook-secret lookups and list items of pipelines, the expiry index shard and
//!   TTL attribute of sessions, the index attributes and pointers of credentials; the history cap (the newest
//!   [`history::MAX_ENTRIES`] entries per user are kept, the others reported); transit
//!   transcripts replayed per user in `_creationTime` order into the user's index (the tie order
//!   of equal `createdAt`, and the 200 cap, as `saveTranscript` would have applied them), bodies
//!   of up to 1 MiB split over items as the service writes them.
//! - Duplicates (two documents with the same key, e.g. two accounts of one user): the one Convex
//!   created first is imported, the others reported.
//! - Tables the service does not hold (`feature_flags`, ...) are reported and skipped.

pub mod snapshot;

use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;
use shared::config::TableRef;
use shared::dynamo::Item;
use shared::embedded::EmbeddedDb;
use shared::import::{Doc, ImportTable, Skipped};
use shared::{ApiError, StoreError};
use snapshot::{Snapshot, SnapshotError};
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Items per `BatchWriteItem` call (DynamoDB's limit).
pub const BATCH_ITEMS: usize = 25;
/// `BatchWriteItem` calls in flight at once.
pub const CONCURRENCY: usize = 16;
/// Attempts of one batch while DynamoDB leaves items unprocessed (throttling), with backoff.
pub const BATCH_ATTEMPTS: u32 = 10;
/// Documents per embedded-store transaction.
pub const EMBEDDED_CHUNK: usize = 2000;

/// How to run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Validate and report, write nothing.
    pub dry_run: bool,
    /// Stop before writing anything when a document is invalid.
    pub strict: bool,
}

/// The DynamoDB table names to write to: each table's name from `overrides` (by its logical id in
/// `template.yaml`, e.g. `UsersTable`), else its environment variable or default name as the
/// functions resolve it ([`TableRef::name`]) after `prefix`.
#[derive(Debug, Clone, Default)]
pub struct TableNames {
    /// Put before every name that is not overridden (tests use one per run).
    pub prefix: String,
    /// Logical id → table name, e.g. from the stack's outputs.
    pub overrides: HashMap<String, String>,
}

impl TableNames {
    /// The name of `table`.
    pub fn name(&self, table: TableRef) -> String {
        self.overrides
            .get(table.resource)
            .cloned()
            .unwrap_or_else(|| table.name(&self.prefix))
    }

    /// Names from a stack's outputs, as printed by `aws cloudformation describe-stacks --query
    /// 'Stacks[0].Outputs'` or `sam list stack-outputs --output json`: the output `<LogicalId>Name`
    /// names the table `<LogicalId>` (`UsersTableName` → `UsersTable`).
    pub fn from_stack_outputs(json: &str) -> Result<Self, String> {
        let outputs: Vec<Value> =
            serde_json::from_str(json).map_err(|e| format!("not a JSON array of outputs: {e}"))?;
        let mut overrides = HashMap::new();
        for output in &outputs {
            let key = output.get("OutputKey").and_then(Value::as_str);
            let value = output.get("OutputValue").and_then(Value::as_str);
            match (key, value) {
                (Some(key), Some(value)) => {
                    if let Some(resource) = key.strip_suffix("Name") {
                        overrides.insert(resource.to_owned(), value.to_owned());
                    }
                }
                _ => return Err("an output without OutputKey and OutputValue".into()),
            }
        }
        Ok(Self {
            prefix: String::new(),
            overrides,
        })
    }
}

/// Where the documents go.
#[derive(Clone)]
pub enum Target {
    /// DynamoDB tables.
    Dynamo {
        /// The client (its endpoint: AWS, or DynamoDB Local).
        client: shared::dynamo::Client,
        /// The table names.
        names: TableNames,
    },
    /// The embedded store (the dev server's default).
    Embedded(EmbeddedDb),
}

/// What happened to one table of the export.
#[derive(Debug, Clone, PartialEq)]
pub struct TableReport {
    /// The Convex table.
    pub table: String,
    /// What the service does with it.
    pub kind: TableKind,
    /// Documents (non-empty lines) read.
    pub read: usize,
    /// Documents written (in a dry run: that would be written).
    pub written: usize,
    /// Items (DynamoDB) or records (embedded) those documents make, by destination table.
    pub items: Vec<(String, usize)>,
    /// Documents left out, by line.
    pub skipped: Vec<Skipped>,
}

/// What the service does with a table of the export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// One of the service's tables: imported.
    Imported,
    /// One of the service's tables, absent from the export: nothing to do.
    Absent,
    /// Not a table of the service: skipped.
    Unknown,
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Per table: the service's in a fixed order, then the unknown ones.
    pub tables: Vec<TableReport>,
    /// Whether this was a dry run.
    pub dry_run: bool,
}

impl Report {
    /// The report of `table`.
    pub fn table(&self, table: &str) -> Option<&TableReport> {
        self.tables.iter().find(|t| t.table == table)
    }

    /// Documents written, all tables.
    pub fn written(&self) -> usize {
        self.tables.iter().map(|t| t.written).sum()
    }

    /// Documents skipped, all tables (unknown tables' documents not counted).
    pub fn skipped(&self) -> usize {
        self.tables.iter().map(|t| t.skipped.len()).sum()
    }
}

/// How many skipped lines the summary lists per table.
const LISTED_SKIPS: usize = 20;

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let written = if self.dry_run {
            "would write"
        } else {
            "written"
        };
        writeln!(
            f,
            "{:<26} {:>9} {:>11} {:>8}",
            "table", "read", written, "skipped"
        )?;
        for t in &self.tables {
            match t.kind {
                TableKind::Imported => {
                    let items = t
                        .items
                        .iter()
                        .map(|(table, n)| format!("{n} into {table}"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    writeln!(
                        f,
                        "{:<26} {:>9} {:>11} {:>8}   {items}",
                        t.table,
                        t.read,
                        t.written,
                        t.skipped.len()
                    )?;
                }
                TableKind::Absent => writeln!(f, "{:<26} not in the export", t.table)?,
                TableKind::Unknown => writeln!(
                    f,
                    "{:<26} {:>9} {:>11} {:>8}   not a table of this service: skipped",
                    t.table, t.read, 0, t.read
                )?,
            }
        }
        for t in self.tables.iter().filter(|t| !t.skipped.is_empty()) {
            writeln!(f, "skipped in {}:", t.table)?;
            for skip in t.skipped.iter().take(LISTED_SKIPS) {
                writeln!(f, "  line {}: {}", skip.line, skip.reason)?;
            }
            if t.skipped.len() > LISTED_SKIPS {
                writeln!(f, "  … and {} more", t.skipped.len() - LISTED_SKIPS)?;
            }
        }
        Ok(())
    }
}

/// A run that could not complete.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The export cannot be read.
    #[error("cannot read the export: {0}")]
    Snapshot(#[from] SnapshotError),
    /// `--strict` and invalid documents: nothing was written.
    #[error("{count} invalid document(s) and --strict is set: nothing was written\n{report}")]
    Strict {
        /// How many.
        count: usize,
        /// The report (listing them).
        report: Report,
    },
    /// A write failed.
    #[error(
        "writing {table} failed after {written} of its {total} documents: {source}\n\
         Every write of an import replaces what its key held: run the same import again to finish."
    )]
    Write {
        /// The Convex table.
        table: String,
        /// Documents of it written before the failure.
        written: usize,
        /// Documents of it to write.
        total: usize,
        /// The store's error.
        source: StoreError,
    },
}

/// Prints a progress line at most once a second while a table is written.
pub struct Progress {
    out: Mutex<Box<dyn std::io::Write + Send>>,
    /// When the last line was printed, and its table and count.
    last: Mutex<(Instant, Option<(String, usize)>)>,
}

impl Progress {
    /// Progress lines to `out` (the command uses standard error).
    pub fn new(out: Box<dyn std::io::Write + Send>) -> Self {
        Self {
            out: Mutex::new(out),
            last: Mutex::new((Instant::now(), None)),
        }
    }

    /// No progress lines.
    pub fn silent() -> Self {
        Self::new(Box::new(std::io::sink()))
    }

    fn line(&self, text: &str) {
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "convex-import: {text}");
        }
    }

    fn tick(&self, table: &str, done: usize, total: usize, started: Instant, last: bool) {
        let mut printed = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let same = printed.1.as_ref() == Some(&(table.to_owned(), done));
        if same || (!last && printed.0.elapsed() < Duration::from_secs(1)) {
            return;
        }
        *printed = (Instant::now(), Some((table.to_owned(), done)));
        let seconds = started.elapsed().as_secs_f64().max(1e-3);
        self.line(&format!(
            "{table}: {done} of {total} documents written ({:.0}/s)",
            done as f64 / seconds
        ));
    }
}

/// The service's tables, in the order they are imported.
const KNOWN: [&str; 11] = [
    account::Import::CONVEX_TABLE,
    users::Import::CONVEX_TABLE,
    history::Import::CONVEX_TABLE,
    session::Import::CONVEX_TABLE,
    provisioning::CredentialImport::CONVEX_TABLE,
    provisioning::UsageImport::CONVEX_TABLE,
    pipelines::Import::CONVEX_TABLE,
    workspace_layouts::Import::CONVEX_TABLE,
    transit::import::TranscriptImport::CONVEX_TABLE,
    transit::import::CalendarTokenImport::CONVEX_TABLE,
    translations::Import::CONVEX_TABLE,
];

/// Imports `snapshot` into `target`.
pub async fn run(
    snapshot: &mut Snapshot,
    target: &Target,
    options: Options,
    progress: &Progress,
) -> Result<Report, ImportError> {
    let exported = snapshot.tables()?;
    let mut loaded: Vec<Box<dyn Loaded>> = vec![
        read::<account::Import>(snapshot, &exported)?,
        read::<users::Import>(snapshot, &exported)?,
        read::<history::Import>(snapshot, &exported)?,
        read::<session::Import>(snapshot, &exported)?,
        read::<provisioning::CredentialImport>(snapshot, &exported)?,
        read::<provisioning::UsageImport>(snapshot, &exported)?,
        read::<pipelines::Import>(snapshot, &exported)?,
        read::<workspace_layouts::Import>(snapshot, &exported)?,
        read::<transit::import::TranscriptImport>(snapshot, &exported)?,
        read::<transit::import::CalendarTokenImport>(snapshot, &exported)?,
        read::<translations::Import>(snapshot, &exported)?,
    ];
    let mut unknown = Vec::new();
    for table in exported.iter().filter(|t| !KNOWN.contains(&t.as_str())) {
        let text = snapshot
            .read(&format!("{table}/documents.jsonl"))?
            .unwrap_or_default();
        unknown.push(TableReport {
            table: table.clone(),
            kind: TableKind::Unknown,
            read: text.lines().filter(|l| !l.trim().is_empty()).count(),
            written: 0,
            items: Vec::new(),
            skipped: Vec::new(),
        });
    }
    for table in &mut loaded {
        table.build_items(target)?;
    }
    let report = |loaded: &[Box<dyn Loaded>]| Report {
        tables: loaded
            .iter()
            .map(|t| t.report().clone())
            .chain(unknown.iter().cloned())
            .collect(),
        dry_run: options.dry_run,
    };
    let invalid: usize = loaded.iter().map(|t| t.report().skipped.len()).sum();
    if options.strict && invalid > 0 {
        let mut report = report(&loaded);
        for t in &mut report.tables {
            t.written = 0;
        }
        return Err(ImportError::Strict {
            count: invalid,
            report,
        });
    }
    if !options.dry_run {
        for table in &mut loaded {
            table.write(target, progress).await?;
        }
    }
    Ok(report(&loaded))
}

/// One table of the export, read and validated, ready to write.
trait Loaded: Send {
    fn report(&self) -> &TableReport;
    /// Converts every document into its DynamoDB items, batched for writing on a DynamoDB
    /// target, and fills the report's per-destination item counts.
    fn build_items(&mut self, target: &Target) -> Result<(), ImportError>;
    fn write<'a>(
        &'a mut self,
        target: &'a Target,
        progress: &'a Progress,
    ) -> BoxFuture<'a, Result<(), ImportError>>;
}

struct Prepared<T: ImportTable> {
    docs: Vec<Doc<T::Record>>,
    report: TableReport,
    /// On a DynamoDB target, the documents' items in batches of at most [`BATCH_ITEMS`], a
    /// document's items never split between two (the documents are dropped once converted).
    batches: Vec<Batch>,
}

/// The number of documents in a batch, and their items: (index into the table's `TABLES`, item).
type Batch = (usize, Vec<(usize, Item)>);

/// Reads and validates table `T` of the export.
fn read<T: ImportTable + 'static>(
    snapshot: &mut Snapshot,
    exported: &[String],
) -> Result<Box<dyn Loaded>, ImportError> {
    let mut report = TableReport {
        table: T::CONVEX_TABLE.to_owned(),
        kind: TableKind::Imported,
        read: 0,
        written: 0,
        items: Vec::new(),
        skipped: Vec::new(),
    };
    let text = snapshot.read(&format!("{}/documents.jsonl", T::CONVEX_TABLE))?;
    if text.is_none() && !exported.iter().any(|t| t == T::CONVEX_TABLE) {
        report.kind = TableKind::Absent;
    }
    let mut docs = Vec::new();
    for (i, line) in text.as_deref().unwrap_or_default().lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        report.read += 1;
        match parse::<T>(i + 1, line) {
            Ok(doc) => docs.push(doc),
            Err(reason) => report.skipped.push(Skipped {
                line: i + 1,
                reason,
            }),
        }
    }
    let (docs, duplicates) = without_duplicates::<T>(docs);
    let (docs, left_out) = T::select(docs);
    report.skipped.extend(duplicates);
    report.skipped.extend(left_out);
    report.skipped.sort_by_key(|skip| skip.line);
    report.written = docs.len();
    Ok(Box::new(Prepared::<T> {
        docs,
        report,
        batches: Vec::new(),
    }))
}

/// One line of `<table>/documents.jsonl` as a document of `T`, or why it is refused.
fn parse<T: ImportTable>(line: usize, text: &str) -> Result<Doc<T::Record>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let message = e.to_string();
        let message = message.split(" at line ").next().unwrap_or_default();
        format!("not valid JSON: {message}")
    })?;
    let Value::Object(mut fields) = value else {
        return Err("not a JSON object".into());
    };
    let convex_id = match fields.remove("_id") {
        Some(Value::String(id)) if !id.is_empty() => id,
        Some(_) => return Err("_id: expected a non-empty string".into()),
        None => return Err("_id: missing".into()),
    };
    let created_ms = match fields.remove("_creationTime") {
        Some(Value::Number(n)) => n.as_f64().filter(|ms| ms.is_finite() && *ms >= 0.0),
        Some(_) => None,
        None => return Err("_creationTime: missing".into()),
    }
    .ok_or("_creationTime: expected a number of milliseconds")?;
    let record: T::Record =
        shared::parse::parse_with(Value::Object(fields.clone())).map_err(|e| match e {
            ApiError::InvalidArgument(message) | ApiError::InvalidJson(message) => message,
            other => other.to_string(),
        })?;
    // Types that keep unknown fields out already refused them; this catches the others, and a
    // `null` where the contract has an optional field (Convex never stores one there).
    let read_back = serde_json::to_value(&record).map_err(|e| e.to_string())?;
    for (name, value) in &fields {
        if read_back.get(name).is_none() {
            return Err(if value.is_null() {
                format!("{name}: null where the contract allows a value or no field")
            } else {
                format!("unknown field `{name}`")
            });
        }
    }
    let record = T::complete(record, &convex_id)?;
    let size = serde_json::to_vec(&record).map_or(0, |bytes| bytes.len());
    if size > T::MAX_RECORD_BYTES {
        return Err(if T::MAX_RECORD_BYTES == shared::MAX_ITEM_BYTES {
            format!("{size} bytes: larger than DynamoDB's 400 KB item limit")
        } else {
            format!(
                "{size} bytes: larger than the {} byte limit",
                T::MAX_RECORD_BYTES
            )
        });
    }
    Ok(Doc {
        line,
        convex_id,
        created_ms,
        record,
    })
}

/// `docs` with one document per key: the one Convex created first (then the first line).
fn without_duplicates<T: ImportTable>(
    docs: Vec<Doc<T::Record>>,
) -> (Vec<Doc<T::Record>>, Vec<Skipped>) {
    let mut first: HashMap<String, usize> = HashMap::new();
    let mut kept: Vec<Option<Doc<T::Record>>> = Vec::with_capacity(docs.len());
    let mut skipped = Vec::new();
    let duplicate = |dropped: &Doc<T::Record>, kept: &Doc<T::Record>, key: &str| Skipped {
        line: dropped.line,
        reason: format!(
            "duplicate of line {} ({key}); the document created first is imported",
            kept.line
        ),
    };
    for doc in docs {
        let key = T::key(&doc.record);
        match first.get(&key) {
            Some(&at) => {
                let held = kept[at]
                    .as_ref()
                    .expect("kept documents stay until the end");
                if (doc.created_ms, doc.line) < (held.created_ms, held.line) {
                    skipped.push(duplicate(held, &doc, &key));
                    kept[at] = Some(doc);
                } else {
                    skipped.push(duplicate(&doc, held, &key));
                }
            }
            None => {
                first.insert(key, kept.len());
                kept.push(Some(doc));
            }
        }
    }
    (kept.into_iter().flatten().collect(), skipped)
}

impl<T: ImportTable + 'static> Loaded for Prepared<T> {
    fn report(&self) -> &TableReport {
        &self.report
    }

    fn build_items(&mut self, target: &Target) -> Result<(), ImportError> {
        let mut counts: Vec<usize> = vec![0; T::TABLES.len()];
        let mut batches: Vec<Batch> = Vec::new();
        for doc in &self.docs {
            let items = T::items(doc).map_err(|source| self.failed(0, source))?;
            for (table, _) in &items {
                counts[*table] += 1;
            }
            if let Target::Dynamo { .. } = target {
                match batches.last_mut() {
                    Some((docs, batch)) if batch.len() + items.len() <= BATCH_ITEMS => {
                        *docs += 1;
                        batch.extend(items);
                    }
                    _ => batches.push((1, items)),
                }
            }
        }
        if !batches.is_empty() {
            // The items hold everything the documents did: keep one copy.
            self.docs = Vec::new();
        }
        self.batches = batches;
        self.report.items = T::TABLES
            .iter()
            .zip(counts)
            .map(|(table, n)| {
                let name = match target {
                    Target::Dynamo { names, .. } => names.name(*table),
                    Target::Embedded(_) => format!("the embedded {}", table.default),
                };
                (name, n)
            })
            .collect();
        Ok(())
    }

    fn write<'a>(
        &'a mut self,
        target: &'a Target,
        progress: &'a Progress,
    ) -> BoxFuture<'a, Result<(), ImportError>> {
        Box::pin(async move {
            if self.report.written == 0 {
                return Ok(());
            }
            let done = AtomicUsize::new(0);
            let started = Instant::now();
            let result = match target {
                Target::Dynamo { client, names } => {
                    self.write_dynamo(client, names, &done, progress, started)
                        .await
                }
                Target::Embedded(db) => self.write_embedded(db, &done, progress, started).await,
            };
            let written = done.load(Ordering::Relaxed);
            progress.tick(T::CONVEX_TABLE, written, self.report.written, started, true);
            result.map_err(|source| self.failed(written, source))
        })
    }
}

impl<T: ImportTable + 'static> Prepared<T> {
    fn failed(&self, written: usize, source: StoreError) -> ImportError {
        ImportError::Write {
            table: T::CONVEX_TABLE.to_owned(),
            written,
            total: self.report.written,
            source,
        }
    }

    async fn write_dynamo(
        &mut self,
        client: &shared::dynamo::Client,
        names: &TableNames,
        done: &AtomicUsize,
        progress: &Progress,
        started: Instant,
    ) -> Result<(), StoreError> {
        let tables: Vec<String> = T::TABLES.iter().map(|t| names.name(*t)).collect();
        let total = self.report.written;
        futures::stream::iter(std::mem::take(&mut self.batches))
            .map(|(docs, items)| {
                let tables = &tables;
                async move {
                    write_batch(client, tables, items).await?;
                    let written = done.fetch_add(docs, Ordering::Relaxed) + docs;
                    progress.tick(T::CONVEX_TABLE, written, total, started, false);
                    Ok::<(), StoreError>(())
                }
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect::<()>()
            .await
    }

    async fn write_embedded(
        &mut self,
        db: &EmbeddedDb,
        done: &AtomicUsize,
        progress: &Progress,
        started: Instant,
    ) -> Result<(), StoreError> {
        let total = self.docs.len();
        let mut docs = std::mem::take(&mut self.docs).into_iter();
        loop {
            let chunk: Vec<Doc<T::Record>> = docs.by_ref().take(EMBEDDED_CHUNK).collect();
            if chunk.is_empty() {
                return Ok(());
            }
            let count = chunk.len();
            db.write(move |txn| chunk.iter().try_for_each(|doc| T::put_embedded(txn, doc)))
                .await?;
            let written = done.fetch_add(count, Ordering::Relaxed) + count;
            progress.tick(T::CONVEX_TABLE, written, total, started, false);
        }
    }
}

/// Writes one batch, retrying what DynamoDB leaves unprocessed with exponential backoff.
async fn write_batch(
    client: &shared::dynamo::Client,
    tables: &[String],
    items: Vec<(usize, Item)>,
) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    let mut requests: HashMap<String, Vec<WriteRequest>> = HashMap::new();
    for (table, item) in items {
        let put = PutRequest::builder()
            .set_item(Some(item))
            .build()
            .map_err(|e| StoreError::Internal(format!("request does not build: {e}")))?;
        requests
            .entry(tables[table].clone())
            .or_default()
            .push(WriteRequest::builder().put_request(put).build());
    }
    for attempt in 0..BATCH_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(25 << attempt.min(6))).await;
        }
        let output = client
            .batch_write_item()
            .set_request_items(Some(requests))
            .send()
            .await
            .map_err(|e| shared::dynamo::store_error("import.batchWriteItem", e))?;
        requests = output.unprocessed_items.unwrap_or_default();
        requests.retain(|_, r| !r.is_empty());
        if requests.is_empty() {
            return Ok(());
        }
    }
    let left: usize = requests.values().map(Vec::len).sum();
    Err(StoreError::Unavailable(format!(
        "DynamoDB left {left} item(s) unprocessed after {BATCH_ATTEMPTS} attempts (throttled)"
    )))
}

/// The summary as the command prints it, with the time taken.
pub fn summary(report: &Report, seconds: f64) -> String {
    let mut text = report.to_string();
    let verb = if report.dry_run {
        "would write"
    } else {
        "wrote"
    };
    let unknown: usize = report
        .tables
        .iter()
        .filter(|t| t.kind == TableKind::Unknown)
        .map(|t| t.read)
        .sum();
    let _ = write!(
        text,
        "{verb} {} document(s), skipped {} invalid or left out and {unknown} of other tables, in {seconds:.1} s",
        report.written(),
        report.skipped()
    );
    if !report.dry_run && seconds > 0.0 {
        let _ = write!(
            text,
            " ({:.0} documents/s)",
            report.written() as f64 / seconds
        );
    }
    text
}
