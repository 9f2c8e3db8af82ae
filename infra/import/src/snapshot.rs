//! Reading a Convex snapshot export: a ZIP file, or the same layout unpacked in a directory.
//!
//! The layout (`npx convex export --path snapshot.zip`): `README.md`, `_tables/documents.jsonl` (one
//! `{ "name": <table>, "id": <number> }` per table), `_storage/…`, and per table
//! `<table>/documents.jsonl` (one document per line, with `_id` and `_creationTime`) and
//! `<table>/generated_schema.jsonl`.

use std::io::Read;
use std::path::{Path, PathBuf};

/// An export, opened.
pub enum Snapshot {
    /// A ZIP file.
    Zip(zip::ZipArchive<std::fs::File>),
    /// A directory.
    Dir(PathBuf),
}

/// A snapshot that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SnapshotError {
    /// The file or entry.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

fn error(path: impl Into<String>, message: impl ToString) -> SnapshotError {
    SnapshotError {
        path: path.into(),
        message: message.to_string(),
    }
}

impl Snapshot {
    /// Opens `path`: a directory, or else a ZIP file.
    pub fn open(path: &Path) -> Result<Self, SnapshotError> {
        let shown = path.display().to_string();
        if path.is_dir() {
            return Ok(Snapshot::Dir(path.to_owned()));
        }
        let file = std::fs::File::open(path).map_err(|e| error(&shown, e))?;
        let archive = zip::ZipArchive::new(file).map_err(|e| {
            error(
                &shown,
                format!("not a ZIP file or an export directory ({e})"),
            )
        })?;
        Ok(Snapshot::Zip(archive))
    }

    /// The text of the entry `name` (`accounts/documents.jsonl`), or `None` when there is none.
    pub fn read(&mut self, name: &str) -> Result<Option<String>, SnapshotError> {
        let mut text = String::new();
        match self {
            Snapshot::Dir(dir) => {
                let path = dir.join(name);
                if !path.is_file() {
                    return Ok(None);
                }
                std::fs::File::open(&path)
                    .and_then(|mut f| f.read_to_string(&mut text))
                    .map_err(|e| error(path.display().to_string(), e))?;
            }
            Snapshot::Zip(archive) => {
                let mut entry = match archive.by_name(name) {
                    Ok(entry) => entry,
                    Err(zip::result::ZipError::FileNotFound) => return Ok(None),
                    Err(e) => return Err(error(name, e)),
                };
                entry
                    .read_to_string(&mut text)
                    .map_err(|e| error(name, e))?;
            }
        }
        Ok(Some(text))
    }

    /// The tables of the export: the names in `_tables/documents.jsonl`, or when it is missing,
    /// every top-level folder holding a `documents.jsonl` (system folders, `_…`, excluded).
    pub fn tables(&mut self) -> Result<Vec<String>, SnapshotError> {
        const LIST: &str = "_tables/documents.jsonl";
        if let Some(text) = self.read(LIST)? {
            let mut names = Vec::new();
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let entry: serde_json::Value = serde_json::from_str(line)
                    .map_err(|e| error(LIST, format!("line {}: {e}", i + 1)))?;
                let name = entry
                    .get("name")
                    .and_then(|n| n.as_str())
                    .ok_or_else(|| error(LIST, format!("line {}: no \"name\" string", i + 1)))?;
                names.push(name.to_owned());
            }
            return Ok(names);
        }
        let entries: Vec<String> = match self {
            Snapshot::Dir(dir) => std::fs::read_dir(&*dir)
                .map_err(|e| error(dir.display().to_string(), e))?
                .filter_map(|entry| entry.ok())
                .filter(|entry| entry.path().join("documents.jsonl").is_file())
                .map(|entry| format!("{}/documents.jsonl", entry.file_name().to_string_lossy()))
                .collect(),
            Snapshot::Zip(archive) => archive
                .file_names()
                .map(|name| name.map(|n| n.into_owned()))
                .collect::<Result<_, _>>()
                .map_err(|e| error("the ZIP's entries", e))?,
        };
        let mut names: Vec<String> = entries
            .iter()
            .filter_map(|entry| entry.strip_suffix("/documents.jsonl"))
            .filter(|name| !name.contains('/') && !name.starts_with('_'))
            .map(str::to_owned)
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }
}
