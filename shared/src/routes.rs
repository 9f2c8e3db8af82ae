//! Route tables: a group declares `path → handler` once, and the same table serves its Lambda and
//! the local dev server, over both surfaces: the HTTP routes (a JSON body in) and the Convex
//! function protocol ([`crate::convex`]: decoded arguments in).

use crate::convex::Arg;
use crate::error::ApiError;
use crate::parse::{parse_args, parse_with};
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

/// A type-erased handler: request body in, JSON response body out.
pub type Handler =
    Arc<dyn Fn(Vec<u8>) -> BoxFuture<'static, Result<Vec<u8>, ApiError>> + Send + Sync>;

/// The same handler with its arguments already decoded by the function protocol (which can carry
/// numbers JSON cannot, such as `NaN`): arguments in, JSON response body out.
pub type ArgsHandler =
    Arc<dyn Fn(Arg) -> BoxFuture<'static, Result<Vec<u8>, ApiError>> + Send + Sync>;

/// One route: its handler, entered from a body or from decoded arguments.
#[derive(Clone)]
struct Route {
    body: Handler,
    args: ArgsHandler,
}

/// A table of POST routes.
#[derive(Clone, Default)]
pub struct Routes {
    table: BTreeMap<&'static str, Route>,
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
        let call = Arc::new(move |args: A| {
            let reply = handler(Arc::clone(&state), args);
            async move {
                serde_json::to_vec(&reply.await?)
                    .map_err(|e| ApiError::Internal(format!("response did not serialize: {e}")))
            }
        });
        let from_body = Arc::clone(&call);
        let body: Handler = Arc::new(move |body: Vec<u8>| {
            let call = Arc::clone(&from_body);
            Box::pin(async move { call(parse_args(&body)?).await })
        });
        let args: ArgsHandler = Arc::new(move |args: Arg| {
            let call = Arc::clone(&call);
            Box::pin(async move { call(parse_with(args)?).await })
        });
        assert!(
            self.table.insert(path, Route { body, args }).is_none(),
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
        self.table.get(path).map(|route| &route.body)
    }

    /// The handler of `path`, taking decoded arguments (see [`crate::convex`]).
    pub fn get_args(&self, path: &str) -> Option<&ArgsHandler> {
        self.table.get(path).map(|route| &route.args)
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
