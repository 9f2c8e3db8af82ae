//! A route group as the transports see it: its tables and how to build its routes on each store.

use crate::config::TableRef;
use crate::embedded::EmbeddedDb;
use crate::{Routes, SharedClock, StoreError};

/// One route group (users, session, ...). Each group crate exports one as `GROUP`; the Lambda
/// bootstrap serves it and the dev server mounts every group's.
#[derive(Clone, Copy)]
pub struct Group {
    /// The group's name, the first segment of its paths.
    pub name: &'static str,
    /// The DynamoDB tables it uses.
    pub tables: &'static [TableRef],
    /// Its routes on the embedded store.
    pub embedded: fn(&EmbeddedDb, SharedClock) -> Result<Routes, StoreError>,
    /// Its routes on DynamoDB, with table names prefixed by the `&str` (empty in production).
    pub dynamo: fn(&crate::dynamo::Client, &str, SharedClock) -> Routes,
}
