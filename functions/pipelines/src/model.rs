//! The pipelines group's domain types and rules, parsed at the edge.

use crate::collate;
use crate::time::Timestamp;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use shared::parse::{not_null, Patch};
use shared::{Key, Num};

/// At most this many pipelines of one owner set (one owner's, or the unowned ones) are listed.
pub const LIST_LIMIT_PER_OWNER_SET: usize = 500;

/// `listRuns` without a `limit` returns this many runs.
pub const DEFAULT_RUNS_LIMIT: usize = 200;

/// `listRuns` returns at most this many runs.
pub const MAX_RUNS_LIMIT: usize = 1000;

/// The kind of a pipeline step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    /// Clean the text.
    Clean,
    /// Summarise it.
    Summarise,
    /// Translate it.
    Translate,
    /// Change its tone.
    Tone,
    /// Split it into chunks.
    Chunk,
    /// Queue it for speech.
    Queue,
}

/// `options.style`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Style {
    /// Bullet points.
    Bullets,
    /// Prose.
    Paragraph,
}

/// `options.tone`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tone {
    /// Neutral.
    Neutral,
    /// Friendly.
    Friendly,
    /// Formal.
    Formal,
    /// Dramatic.
    Dramatic,
}

/// `options.strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Split by paragraph.
    Paragraph,
    /// Split by sentence.
    Sentence,
}

/// `options.voicePreference`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VoicePreference {
    /// The voice used last.
    History,
    /// The default voice.
    Default,
    /// The step's `voiceId`.
    Custom,
}

/// A step's options: one flat, strict object, every key optional (CONTRACT.md §5, `Step`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StepOptions {
    /// Keep quotations intact.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub preserve_quotes: Option<bool>,
    /// Collapse runs of whitespace.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub normalise_whitespace: Option<bool>,
    /// Remove bullet characters.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub strip_bullets: Option<bool>,
    /// Add keywords to a summary.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub include_keywords: Option<bool>,
    /// Keep the original next to a translation.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub keep_original: Option<bool>,
    /// Merge short chunks.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub join_short_segments: Option<bool>,
    /// How many bullets a summary has.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub bullet_count: Option<Num>,
    /// Longest chunk.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_characters: Option<Num>,
    /// Pause between queued segments, ms.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub segment_delay_ms: Option<Num>,
    /// Language to translate into.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub target_language: Option<String>,
    /// Who the text is for.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub audience_hint: Option<String>,
    /// Speech provider.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub provider: Option<String>,
    /// Voice.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub voice_id: Option<String>,
    /// Summary style.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub style: Option<Style>,
    /// Target tone.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub tone: Option<Tone>,
    /// Chunking strategy.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub strategy: Option<Strategy>,
    /// Which voice to queue with.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub voice_preference: Option<VoicePreference>,
}

/// One step of a pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Step {
    /// The caller's id of the step.
    pub id: String,
    /// What the step does.
    pub kind: StepKind,
    /// A label for people.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub label: Option<String>,
    /// Its options.
    pub options: StepOptions,
}

/// When a pipeline runs by itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Schedule {
    /// A cron expression (not interpreted by this service).
    pub cron: String,
    /// A description for people.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
}

/// The only kind of default source: a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// `"url"`.
    Url,
}

/// Where a pipeline takes its input from by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DefaultSource {
    /// Always `"url"`.
    pub kind: SourceKind,
    /// The URL.
    pub value: String,
}

/// A pipeline name: trimmed, not empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Name(String);

impl Name {
    /// Trims `text`; refuses it when nothing is left.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            Err("must not be empty".into())
        } else {
            Ok(Name(trimmed.to_owned()))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Name::parse(&String::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

/// A stored pipeline (CONTRACT.md §5, `Pipeline`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pipeline {
    /// UUID v4, generated by the service.
    pub id: Key,
    /// The owner; absent for pipelines everyone sees. Never changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<Key>,
    /// Trimmed, not empty.
    pub name: Name,
    /// Trimmed, never empty (an empty one is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// When it runs by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// Its default input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_source: Option<DefaultSource>,
    /// UUID v4, generated by the service; what the inbound webhook presents.
    pub webhook_secret: String,
    /// ISO-8601, set by the service.
    pub created_at: String,
    /// ISO-8601, set by the service on every change.
    pub updated_at: String,
    /// The `completedAt` of the last recorded run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_at: Option<Timestamp>,
}

/// A pipeline as `/pipelines/list` shows it (CONTRACT.md §5, `PipelineListItem`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineListItem {
    /// The id.
    pub id: Key,
    /// The name.
    pub name: Name,
    /// The description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// The last run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_at: Option<Timestamp>,
}

impl From<&Pipeline> for PipelineListItem {
    fn from(p: &Pipeline) -> Self {
        Self {
            id: p.id.clone(),
            name: p.name.clone(),
            description: p.description.clone(),
            schedule: p.schedule.clone(),
            last_run_at: p.last_run_at.clone(),
        }
    }
}

/// What `/pipelines/create` receives.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateInput {
    /// The owner.
    #[serde(default, deserialize_with = "not_null")]
    pub owner_id: Option<Key>,
    /// The name (trimmed, not empty).
    pub name: Name,
    /// The description (trimmed; empty means none).
    #[serde(default, deserialize_with = "not_null")]
    pub description: Option<String>,
    /// The steps.
    pub steps: Vec<Step>,
    /// The schedule.
    #[serde(default, deserialize_with = "not_null")]
    pub schedule: Option<Schedule>,
    /// The default source.
    #[serde(default, deserialize_with = "not_null")]
    pub default_source: Option<DefaultSource>,
}

impl CreateInput {
    /// An input with only a name and steps.
    pub fn new(name: &str, steps: Vec<Step>) -> Self {
        Self {
            owner_id: None,
            name: Name::parse(name).expect("a non-empty name"),
            description: None,
            steps,
            schedule: None,
            default_source: None,
        }
    }

    /// The new pipeline: fresh UUID v4 id and webhook secret, `createdAt` = `updatedAt` = `now`,
    /// the description trimmed and left out when empty.
    pub fn into_pipeline(self, now: &str) -> Pipeline {
        Pipeline {
            id: Key::parse(uuid::Uuid::new_v4().to_string()).expect("a UUID is a valid key"),
            owner_id: self.owner_id,
            name: self.name,
            description: self.description.as_deref().and_then(trimmed_non_empty),
            steps: self.steps,
            schedule: self.schedule,
            default_source: self.default_source,
            webhook_secret: new_secret(),
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
            last_run_at: None,
        }
    }
}

fn trimmed_non_empty(text: &str) -> Option<String> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// A fresh webhook secret: a UUID v4.
pub fn new_secret() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// What `/pipelines/update` receives: each field omitted (keep), or given (change).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Changes {
    /// A new name (trimmed, not empty).
    #[serde(default, deserialize_with = "not_null")]
    pub name: Option<Name>,
    /// A new description: trimmed; an empty one removes it (`Patch::Remove`). `null` is refused.
    #[serde(default, deserialize_with = "description_patch")]
    pub description: Patch<String>,
    /// New steps, replacing the old ones.
    #[serde(default, deserialize_with = "not_null")]
    pub steps: Option<Vec<Step>>,
    /// A new schedule, or `null` to remove it.
    #[serde(default)]
    pub schedule: Patch<Schedule>,
    /// A new default source, or `null` to remove it.
    #[serde(default)]
    pub default_source: Patch<DefaultSource>,
    /// Issue a new webhook secret.
    #[serde(default)]
    pub rotate_secret: bool,
}

fn description_patch<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Patch<String>, D::Error> {
    let text = String::deserialize(deserializer)?;
    Ok(match trimmed_non_empty(&text) {
        Some(text) => Patch::Set(text),
        None => Patch::Remove,
    })
}

/// An update as the store applies it: the changes, the time, and the new secret when rotating.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// The field changes (`rotate_secret` is carried by `new_secret`).
    pub changes: Changes,
    /// The new `updatedAt`.
    pub now: String,
    /// The new webhook secret, when the secret is rotated.
    pub new_secret: Option<String>,
}

impl Update {
    /// The update `changes` asks for at `now`, with a fresh secret if it rotates.
    pub fn new(changes: Changes, now: &str) -> Self {
        let new_secret = changes.rotate_secret.then(new_secret);
        Self {
            changes,
            now: now.to_owned(),
            new_secret,
        }
    }

    /// Applies the update to `pipeline` (`ownerId`, `id`, `createdAt` and `lastRunAt` never change).
    pub fn apply(&self, pipeline: &mut Pipeline) {
        let c = &self.changes;
        if let Some(name) = &c.name {
            pipeline.name = name.clone();
        }
        patch(&mut pipeline.description, &c.description);
        if let Some(steps) = &c.steps {
            pipeline.steps = steps.clone();
        }
        patch(&mut pipeline.schedule, &c.schedule);
        patch(&mut pipeline.default_source, &c.default_source);
        if let Some(secret) = &self.new_secret {
            pipeline.webhook_secret = secret.clone();
        }
        pipeline.updated_at = self.now.clone();
    }
}

fn patch<T: Clone>(field: &mut Option<T>, change: &Patch<T>) {
    match change {
        Patch::Keep => {}
        Patch::Remove => *field = None,
        Patch::Set(value) => *field = Some(value.clone()),
    }
}

/// A run's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Waiting to run.
    Queued,
    /// Running.
    Running,
    /// Finished well (the default when `recordRun` gives no status).
    #[default]
    Success,
    /// Finished with an error.
    Failed,
}

/// One run of a pipeline, as `recordRun` appends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    /// The pipeline.
    pub pipeline_id: Key,
    /// UUID v4, generated by the service.
    pub run_id: String,
    /// Its outcome.
    pub status: RunStatus,
    /// When it started (defaults to `completedAt`).
    pub started_at: Timestamp,
    /// When it completed.
    pub completed_at: Timestamp,
    /// What went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Run {
    /// Its sort key among the pipeline's runs: `<completedAt in UTC>#<runId>`, ascending in time.
    pub fn sort_key(&self) -> String {
        format!("{}#{}", self.completed_at.utc(), self.run_id)
    }
}

/// The `limit` rule of `/pipelines/listRuns` (the one `/provisioning/list` uses).
pub fn runs_limit(limit: Option<Num>) -> usize {
    match limit.map(Num::get) {
        Some(l) if l.is_finite() => l.floor().clamp(1.0, MAX_RUNS_LIMIT as f64) as usize,
        _ => DEFAULT_RUNS_LIMIT,
    }
}

/// Keeps the first [`LIST_LIMIT_PER_OWNER_SET`] by name of each owner set, then sorts all by name.
/// `entries` are `(owner set, item)`.
pub(crate) fn limit_and_sort(
    mut entries: Vec<(String, PipelineListItem)>,
) -> Vec<PipelineListItem> {
    collate::sort_by_name(&mut entries, |(_, item)| {
        (item.name.as_str(), item.id.as_str())
    });
    let mut per_set = std::collections::HashMap::<String, usize>::new();
    entries
        .into_iter()
        .filter(|(set, _)| {
            let count = per_set.entry(set.clone()).or_default();
            *count += 1;
            *count <= LIST_LIMIT_PER_OWNER_SET
        })
        .map(|(_, item)| item)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_limit_floors_clamps_and_defaults() {
        assert_eq!(runs_limit(None), DEFAULT_RUNS_LIMIT);
        assert_eq!(runs_limit(Some(Num(2.9))), 2);
        assert_eq!(runs_limit(Some(Num(0.0))), 1);
        assert_eq!(runs_limit(Some(Num(-5.0))), 1);
        assert_eq!(runs_limit(Some(Num(1e9))), MAX_RUNS_LIMIT);
    }

    #[test]
    fn run_sort_keys_order_by_instant_whatever_the_offset() {
        let run = |completed: &str| Run {
            pipeline_id: Key::parse("p").unwrap(),
            run_id: "r".into(),
            status: RunStatus::Success,
            started_at: Timestamp::parse(completed).unwrap(),
            completed_at: Timestamp::parse(completed).unwrap(),
            error: None,
        };
        let earlier = run("2025-01-01T10:00:00.000+02:00");
        let later = run("2025-01-01T09:00:00.000Z");
        assert!(earlier.sort_key() < later.sort_key());
        assert_eq!(later.sort_key(), "2025-01-01T09:00:00.000Z#r");
    }
}
