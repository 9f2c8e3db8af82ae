//! Route tables: a group declares `path → handler` once, and the same table serves its Lambda and
//! the local dev server.

use crate::error::ApiError;
use crate::parse::parse_args;
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

/// A type-erased handler: request body in, JSON response body out.
pub type Handler =
    Arc<dyn Fn(Vec<u8>) -> BoxFuture<'static, Result<Vec<u8>, ApiError>> + Send + Sync>;

/// A table of POST routes.
#[derive(Clone, Default)]
pub struct Routes {
    table: BTreeMap<&'static str, Handler>,
}

impl Routes {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `POST path`: the body is parsed strictly into `A`, `handler` is called with the shared
    /// `state` and the arguments, and its `R` is the response body.
    ///
    /// # Panics
    /// When `path` is already in the table: two handlers for one path is a bug in a route table.
    pub fn post<S, A, R, F, Fut>(mut self, path: &'static str, state: &Arc<S>, handler: F) -> Self
    where
        S: Send + Sync + 'static,
        A: DeserializeOwned + Send + 'static,
        R: Serialize + 'static,
        F: Fn(Arc<S>, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, ApiError>> + Send + 'static,
    {
        let state = Arc::clone(state);
        let handler = Arc::new(handler);
        let erased: Handler = Arc::new(move |body: Vec<u8>| {
            let state = Arc::clone(&state);
            let handler = Arc::clone(&handler);
            Box::pin(async move {
                let args: A = parse_args(&body)?;
                let reply = handler(state, args).await?;
                serde_json::to_vec(&reply)
                    .map_err(|e| ApiError::Internal(format!("response did not serialize: {e}")))
            })
        });
        assert!(
            self.table.insert(path, erased).is_none(),
            "route {path} declared twice"
        );
        self
    }

    /// This table with every route of `other` added.
    ///
    /// # Panics
    /// When both declare a path.
    pub fn merge(mut self, other: Routes) -> Self {
        for (path, handler) in other.table {
            assert!(
                self.table.insert(path, handler).is_none(),
                "route {path} declared twice"
            );
        }
        self
    }

    /// The handler of `path`.
    pub fn get(&self, path: &str) -> Option<&Handler> {
        self.table.get(path)
    }

    /// Every path, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.table.keys().copied()
    }
}

/// The `{ "result": ... }` reply several routes give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WithResult<T> {
    /// The value.
    pub result: T,
}
