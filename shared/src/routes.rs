//! Route tables: a group declares `path → handler` once, and the same table serves its Lambda and
//! the local dev server, over both surfaces: the HTTP routes (a JSON body in) and the Convex
//! function protocol (decoded arguments in, [`crate::args`]). Each binary builds the table for
//! the surfaces it serves ([`Surface`]), so that it links only their argument decoding.

use crate::args::Arg;
use crate::convex::Kind;
use crate::error::ApiError;
use crate::parse::{parse_args, parse_with};
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

/// A type-erased handler: request body in, JSON response body out.
pub type Handler =
    Arc<dyn Fn(Vec<u8>) -> BoxFuture<'static, Result<Vec<u8>, ApiError>> + Send + Sync>;

/// The same handler with its arguments already decoded by the function protocol (which can carry
/// numbers JSON cannot, such as `NaN`): arguments in, JSON response body out.
pub type ArgsHandler =
    Arc<dyn Fn(Arg) -> BoxFuture<'static, Result<Vec<u8>, ApiError>> + Send + Sync>;

/// The surfaces a route table is built for: which entries the table makes of each route
/// ([`Routes::query`], [`Routes::mutation`], [`Routes::http`]).
///
/// Each entry links its own argument decoder for every route (serde code for each argument type), so
/// a binary that serves one surface builds only that one: a group's Lambda function serves the HTTP
/// routes ([`Http`]), the `api` function the function protocol ([`Functions`]: its queries and
/// mutations; an HTTP-only route is not linked there), the dev server and the tests both ([`Both`]).
pub trait Surface: 'static {
    /// Whether routes are entered from a JSON body (the HTTP routes, [`Routes::get`]).
    const BODY: bool;
    /// Whether routes are entered from decoded arguments (the function protocol,
    /// [`Routes::get_args`]).
    const ARGS: bool;
}

/// Both surfaces: the dev server and the tests.
#[derive(Debug, Clone, Copy)]
pub enum Both {}

impl Surface for Both {
    const BODY: bool = true;
    const ARGS: bool = true;
}

/// The HTTP routes only: a group's Lambda function.
#[derive(Debug, Clone, Copy)]
pub enum Http {}

impl Surface for Http {
    const BODY: bool = true;
    const ARGS: bool = false;
}

/// The function protocol only: the `api` Lambda function.
#[derive(Debug, Clone, Copy)]
pub enum Functions {}

impl Surface for Functions {
    const BODY: bool = false;
    const ARGS: bool = true;
}

/// How a route is declared: the kind of function it also is, if any.
trait Entry {
    const KIND: Option<Kind>;
}

/// [`Routes::query`].
enum QueryEntry {}

impl Entry for QueryEntry {
    const KIND: Option<Kind> = Some(Kind::Query);
}

/// [`Routes::mutation`].
enum MutationEntry {}

impl Entry for MutationEntry {
    const KIND: Option<Kind> = Some(Kind::Mutation);
}

/// [`Routes::http`].
enum HttpEntry {}

impl Entry for HttpEntry {
    const KIND: Option<Kind> = None;
}

/// One route: its handler, entered from a body or from decoded arguments (each when the table's
/// [`Surface`] has it), and its own request body limit, if it has one.
#[derive(Clone)]
struct Route {
    body: Option<Handler>,
    args: Option<ArgsHandler>,
    max_body: Option<usize>,
}

/// The routes of a table by path, as a service looks them up (see [`Routes::into_table`]).
#[derive(Clone, Default)]
pub struct RouteTable(BTreeMap<&'static str, Route>);

impl RouteTable {
    /// The handler of `path`, taking a JSON body.
    pub fn get(&self, path: &str) -> Option<&Handler> {
        self.0.get(path).and_then(|route| route.body.as_ref())
    }

    /// The handler of `path`, taking decoded arguments (see [`crate::args`]).
    pub fn get_args(&self, path: &str) -> Option<&ArgsHandler> {
        self.0.get(path).and_then(|route| route.args.as_ref())
    }

    /// Every path, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.keys().copied()
    }

    /// The body limit of `path` when the route has its own (see [`Routes::max_body`]); else the
    /// service's.
    pub fn max_body(&self, path: &str) -> Option<usize> {
        self.0.get(path).and_then(|route| route.max_body)
    }

    /// The largest body limit a route of the table has of its own, if any.
    pub fn largest_body(&self) -> Option<usize> {
        self.0.values().filter_map(|route| route.max_body).max()
    }
}

/// A table of POST routes, built for the surfaces `T` (see [`Surface`]).
pub struct Routes<T: Surface = Both> {
    table: RouteTable,
    surface: PhantomData<fn() -> T>,
}

impl<T: Surface> Clone for Routes<T> {
    fn clone(&self) -> Self {
        Self {
            table: self.table.clone(),
            surface: PhantomData,
        }
    }
}

impl<T: Surface> Default for Routes<T> {
    fn default() -> Self {
        Self {
            table: RouteTable::default(),
            surface: PhantomData,
        }
    }
}

impl<T: Surface> Routes<T> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `POST path`, a route that is also the query function [`crate::convex::FUNCTIONS`]
    /// names for it: the body (or the decoded arguments) is parsed strictly into `A`, `handler` is
    /// called with the shared `state` and the arguments, and its `R` is the response body.
    ///
    /// # Panics
    /// When `path` is already in the table, or is not a query function's route: a bug in a route
    /// table.
    pub fn query<S, A, R, F, Fut>(self, path: &'static str, state: &Arc<S>, handler: F) -> Self
    where
        S: Send + Sync + 'static,
        A: DeserializeOwned + Send + 'static,
        R: Serialize + 'static,
        F: Fn(Arc<S>, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, ApiError>> + Send + 'static,
    {
        // A constant per surface: a table without either entry never names the handler, so a
        // binary that does not serve the route does not link it.
        if !(T::BODY || T::ARGS) {
            return self;
        }
        self.add::<QueryEntry, _, _, _, _, _>(path, state, handler)
    }

    /// Adds `POST path`, a route that is also the mutation function [`crate::convex::FUNCTIONS`]
    /// names for it (see [`Routes::query`]).
    ///
    /// # Panics
    /// When `path` is already in the table, or is not a mutation function's route.
    pub fn mutation<S, A, R, F, Fut>(self, path: &'static str, state: &Arc<S>, handler: F) -> Self
    where
        S: Send + Sync + 'static,
        A: DeserializeOwned + Send + 'static,
        R: Serialize + 'static,
        F: Fn(Arc<S>, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, ApiError>> + Send + 'static,
    {
        if !(T::BODY || T::ARGS) {
            return self;
        }
        self.add::<MutationEntry, _, _, _, _, _>(path, state, handler)
    }

    /// Adds `POST path`, an HTTP route that is no function of the protocol (see [`Routes::query`]).
    ///
    /// # Panics
    /// When `path` is already in the table, or is a function's route.
    pub fn http<S, A, R, F, Fut>(self, path: &'static str, state: &Arc<S>, handler: F) -> Self
    where
        S: Send + Sync + 'static,
        A: DeserializeOwned + Send + 'static,
        R: Serialize + 'static,
        F: Fn(Arc<S>, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, ApiError>> + Send + 'static,
    {
        if !T::BODY {
            return self;
        }
        self.add::<HttpEntry, _, _, _, _, _>(path, state, handler)
    }

    /// Enters `path` with its body entry when `T` has one, and its arguments entry when `T` has the
    /// function protocol and the route is a function (constants of each monomorph: the entry a
    /// table lacks is not linked).
    fn add<E: Entry, S, A, R, F, Fut>(
        mut self,
        path: &'static str,
        state: &Arc<S>,
        handler: F,
    ) -> Self
    where
        S: Send + Sync + 'static,
        A: DeserializeOwned + Send + 'static,
        R: Serialize + 'static,
        F: Fn(Arc<S>, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, ApiError>> + Send + 'static,
    {
        let kind = E::KIND;
        let args = T::ARGS && kind.is_some();
        let declared = crate::convex::FUNCTIONS
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.kind);
        assert!(
            declared == kind,
            "route {path} is declared as {kind:?}, the function table says {declared:?}"
        );
        let state = Arc::clone(state);
        let call = Arc::new(move |args: A| {
            let reply = handler(Arc::clone(&state), args);
            async move {
                serde_json::to_vec(&reply.await?)
                    .map_err(|e| ApiError::Internal(format!("response did not serialize: {e}")))
            }
        });
        let body = T::BODY.then(|| {
            let call = Arc::clone(&call);
            Arc::new(move |body: Vec<u8>| {
                let call = Arc::clone(&call);
                Box::pin(async move { call(parse_args(&body)?).await }) as BoxFuture<'static, _>
            }) as Handler
        });
        let args = args.then(|| {
            Arc::new(move |args: Arg| {
                let call = Arc::clone(&call);
                Box::pin(async move { call(parse_with(args)?).await }) as BoxFuture<'static, _>
            }) as ArgsHandler
        });
        let route = Route {
            body,
            args,
            max_body: None,
        };
        assert!(
            self.table.0.insert(path, route).is_none(),
            "route {path} declared twice"
        );
        self
    }

    /// Gives the route `path` a request body limit of its own, `bytes`, instead of the service's
    /// ([`crate::service::MAX_BODY_BYTES`]), on both surfaces (a route that takes a large record,
    /// checked again after parsing).
    ///
    /// # Panics
    /// When `path` is not in the table.
    pub fn max_body(mut self, path: &'static str, bytes: usize) -> Self {
        match self.table.0.get_mut(path) {
            Some(route) => route.max_body = Some(bytes),
            None => panic!("max_body for {path}, which is not a route of the table"),
        }
        self
    }

    /// This table with every route of `other` added.
    ///
    /// # Panics
    /// When both declare a path.
    pub fn merge(mut self, other: Routes<T>) -> Self {
        for (path, handler) in other.table.0 {
            assert!(
                self.table.0.insert(path, handler).is_none(),
                "route {path} declared twice"
            );
        }
        self
    }

    /// The handler of `path`, taking a JSON body (`None` too when `T` has no HTTP routes).
    pub fn get(&self, path: &str) -> Option<&Handler> {
        self.table.get(path)
    }

    /// The handler of `path`, taking decoded arguments (see [`crate::args`]; `None` too when `T`
    /// has no function protocol).
    pub fn get_args(&self, path: &str) -> Option<&ArgsHandler> {
        self.table.get_args(path)
    }

    /// Every path, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.table.paths()
    }

    /// The table a service looks routes up in.
    pub fn into_table(self) -> RouteTable {
        self.table
    }
}

/// The `{ "result": ... }` reply several routes give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WithResult<T> {
    /// The value.
    pub result: T,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query (`/users/get`), a mutation (`/users/ensure`) and an HTTP-only route
    /// (`/account/update`), each echoing its arguments.
    fn echo<T: Surface>() -> Routes<T> {
        let state = Arc::new(());
        let echo = |_: Arc<()>, args: serde_json::Value| async move { Ok(args) };
        Routes::new()
            .query("/users/get", &state, echo)
            .mutation("/users/ensure", &state, echo)
            .http("/account/update", &state, echo)
    }

    #[test]
    fn a_route_may_have_a_body_limit_of_its_own() {
        let table = echo::<Both>().into_table();
        assert_eq!(table.max_body("/users/get"), None);
        assert_eq!(table.largest_body(), None);
        let table = echo::<Both>().max_body("/users/get", 5).into_table();
        assert_eq!(table.max_body("/users/get"), Some(5));
        assert_eq!(table.max_body("/users/ensure"), None);
        assert_eq!(table.largest_body(), Some(5));
    }

    /// The entries a table of `T` has: (path, from a body, from arguments).
    fn entries<T: Surface>() -> Vec<(&'static str, bool, bool)> {
        let table = echo::<T>();
        table
            .paths()
            .map(|p| (p, table.get(p).is_some(), table.get_args(p).is_some()))
            .collect()
    }

    #[tokio::test]
    async fn a_table_has_the_entries_of_its_surfaces_only() {
        let (get, ensure, update) = ("/users/get", "/users/ensure", "/account/update");
        assert_eq!(
            entries::<Both>(),
            [
                (update, true, false),
                (ensure, true, true),
                (get, true, true)
            ]
        );
        assert_eq!(
            entries::<Http>(),
            [
                (update, true, false),
                (ensure, true, false),
                (get, true, false)
            ]
        );
        assert_eq!(
            entries::<Functions>(),
            [(ensure, false, true), (get, false, true)]
        );

        let http = echo::<Http>();
        let from_body = http.get(get).unwrap()(br#"{"a":1}"#.to_vec());
        assert_eq!(from_body.await.unwrap(), br#"{"a":1}"#);
        let args = Arg::decode(serde_json::json!({ "a": 1 })).unwrap();
        let from_args = echo::<Functions>().get_args(get).unwrap()(args);
        assert_eq!(from_args.await.unwrap(), br#"{"a":1}"#);
    }

    #[test]
    #[should_panic(expected = "route /users/get is declared as Some(Mutation)")]
    fn a_route_declared_as_the_other_kind_is_a_bug() {
        let state = Arc::new(());
        let _ =
            Routes::<Http>::new().mutation("/users/get", &state, |_: Arc<()>, a: u8| async move {
                Ok(a)
            });
    }

    #[test]
    #[should_panic(expected = "route /test/echo is declared as Some(Query)")]
    fn a_query_that_is_no_function_is_a_bug() {
        let state = Arc::new(());
        let _ =
            Routes::<Both>::new().query(
                "/test/echo",
                &state,
                |_: Arc<()>, a: u8| async move { Ok(a) },
            );
    }
}
