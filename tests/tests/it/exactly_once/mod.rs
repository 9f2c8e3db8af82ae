//! Exactly once under faults (CONTRACT.md §3): every write route, on both surfaces (its HTTP route
//! and `/api/mutation`), with a fault injected by a [`FaultProxy`] between the service and DynamoDB
//! Local into the first call of the operation the route writes with. What the client was told is
//! checked against what was stored:
//!
//! - answered `200`: applied exactly once, and not answered as a refusal (`null`, `false`);
//! - answered with an error: applied at most once.
//!
//! Each group's cases are a [`WriteCase`] in this folder; [`under_every_fault`] runs one case under
//! every [`FAULTS`] entry on both surfaces, each run with its own proxy, app and keys, all at once.
#![cfg(feature = "dynamodb-local")]

mod account;
mod history;
mod pipelines;
mod provisioning;
mod session;
mod soak;
mod translations;
mod users;

use devserver::Store;
use serde_json::{json, Value};
use service_tests::fault_proxy::{Fault, FaultProxy};
use service_tests::{dynamodb_endpoint, spawn_app, DynamoTables, TestApp, ADMIN_KEY};
use std::future::Future;
use std::time::Duration;

/// How long the proxy holds every attempt in the "DynamoDB is slow" case: past the SDK's whole
/// operation timeout (4 s), so the client is answered `503` while its attempts are still on the way.
pub const HOLD: Duration = Duration::from_secs(5);

/// Every fault a write is tried under.
pub const FAULTS: [Injected; 6] = [
    Injected::First(Fault::DropResponse),
    Injected::First(Fault::DelayResponse(Duration::from_millis(2_500))),
    Injected::First(Fault::ResetBeforeForward),
    Injected::First(Fault::Throttle),
    Injected::First(Fault::InternalError),
    Injected::Every(Fault::DelayRequest(HOLD)),
];

/// Where a fault goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    /// Into the first call of the route's write operation (the SDK's retry goes through).
    First(Fault),
    /// Into every call of it, retries included.
    Every(Fault),
}

/// The two ways a write is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `POST /<group>/<route>`.
    Http,
    /// `POST /api/mutation` with the function's name.
    Function,
}

/// What the client was told: the status, and on a success the route's value.
#[derive(Debug, Clone)]
pub struct Told {
    /// The HTTP status (a function error is `560`).
    pub status: u16,
    /// The return value, on a `200`.
    pub value: Option<Value>,
}

impl Surface {
    /// Calls `function` (route `path`) with `args` through this surface.
    pub async fn call(self, app: &TestApp, path: &str, function: &str, args: &Value) -> Told {
        match self {
            Surface::Http => {
                let answer = app.call(path, args.clone()).await;
                Told {
                    status: answer.status,
                    value: (answer.status == 200).then_some(answer.body),
                }
            }
            Surface::Function => {
                let envelope =
                    json!({ "path": function, "format": "convex_encoded_json", "args": [args] });
                let answer = app
                    .send(
                        "POST",
                        "/api/mutation",
                        Some(&format!("Convex {ADMIN_KEY}")),
                        envelope.to_string().into_bytes(),
                    )
                    .await;
                Told {
                    status: answer.status,
                    value: (answer.status == 200).then(|| answer.body["value"].clone()),
                }
            }
        }
    }
}

/// One write route under test. `key` is unique to each run (use it in the ids the run writes).
pub trait WriteCase: Sync {
    /// The HTTP route.
    const PATH: &'static str;
    /// The function name.
    const FUNCTION: &'static str;
    /// The DynamoDB operation the fault goes into (`UpdateItem`, `TransactWriteItems`, ...).
    const OP: &'static str;
    /// Which call of [`WriteCase::OP`] a [`Injected::First`] fault goes into (1: the route's first;
    /// 2 for a write on a route's second call of the operation, e.g. after a cancelled transaction).
    const NTH: usize = 1;
    /// Whether each run needs tables of its own (a write that reaches beyond its keys, such as
    /// `/session/prune`); otherwise the runs share one set and use their own keys.
    const OWN_TABLES: bool = false;

    /// Writes state straight into the tables before [`WriteCase::setup`] (for bulk data that
    /// would take too many calls through the routes). No fault is active yet.
    fn seed(&self, tables: &DynamoTables, key: &str) -> impl Future<Output = ()> {
        let _ = (tables, key);
        async {}
    }

    /// Prepares the state before the call (no fault is active yet).
    fn setup(&self, app: &TestApp, key: &str) -> impl Future<Output = ()> {
        let _ = (app, key);
        async {}
    }

    /// The call's arguments.
    fn args(&self, key: &str) -> Value;

    /// How many times the write is applied in what is stored now (read through the routes).
    fn applied(&self, app: &TestApp, key: &str) -> impl Future<Output = u32>;

    /// Whether a success value says the write was refused or found nothing (`null`, `false`, ...).
    fn refused(&self, value: &Value) -> bool {
        let _ = value;
        false
    }

    /// What is wrong with a success value (not a refusal) next to what is stored now, if anything:
    /// e.g. a secret the client was told that is not the stored one, because the write was applied
    /// a second time with a value of its own.
    fn disagrees(
        &self,
        app: &TestApp,
        key: &str,
        value: &Value,
    ) -> impl Future<Output = Option<String>> {
        let _ = (app, key, value);
        async { None }
    }
}

/// The outcome of one run: what was injected, told and stored.
#[derive(Debug)]
struct Run {
    surface: Surface,
    injected: Injected,
    told: Told,
    applied: u32,
    refused: bool,
    faulted: bool,
    disagrees: Option<String>,
}

impl Run {
    fn problem(&self, case: &str) -> Option<String> {
        let Run {
            surface,
            injected,
            told,
            applied,
            refused,
            faulted,
            disagrees,
        } = self;
        let what = format!(
            "{case} over {surface:?} with {injected:?}: answered {told:?}, applied {applied} times"
        );
        if !faulted {
            return Some(format!("{what}: the fault was never injected"));
        }
        if (told.status == 200) != told.value.is_some() {
            return Some(format!(
                "{what}: a 200 without a value, or a value without a 200"
            ));
        }
        if let Some(why) = disagrees {
            return Some(format!(
                "{what}: the answer disagrees with what is stored: {why}"
            ));
        }
        match &told.value {
            Some(value) if *refused && *applied > 0 => Some(format!(
                "{what}: applied, but answered as a refusal ({value})"
            )),
            Some(value) if *applied != 1 && !*refused => Some(format!(
                "{what}: a success must be applied exactly once ({value})"
            )),
            _ if *applied > 1 => Some(format!("{what}: applied more than once")),
            _ => None,
        }
    }
}

/// Runs `case` under every fault of [`FAULTS`], on both surfaces, each run with its own proxy, app
/// and keys, all at once; panics listing every run that broke the guarantee.
pub async fn under_every_fault<C: WriteCase>(case: C) {
    let tables = DynamoTables::create().await;
    let runs = FAULTS.iter().flat_map(|&injected| {
        [Surface::Http, Surface::Function].map(|surface| (surface, injected))
    });
    let results = futures::future::join_all(
        runs.map(|(surface, injected)| one_run(&case, &tables, surface, injected)),
    )
    .await;
    let problems: Vec<String> = results
        .iter()
        .filter_map(|run| run.problem(C::PATH))
        .collect();
    for run in &results {
        eprintln!("{}: {run:?}", C::PATH);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

async fn one_run<C: WriteCase>(
    case: &C,
    tables: &DynamoTables,
    surface: Surface,
    injected: Injected,
) -> Run {
    let own;
    let tables = if C::OWN_TABLES {
        own = DynamoTables::create().await;
        &own
    } else {
        tables
    };
    let proxy = FaultProxy::start(&dynamodb_endpoint()).await;
    let store: Store = tables.store_via(&proxy.endpoint).await;
    let app = spawn_app(store).await;
    let key = format!("{}-{surface:?}-{injected:?}", C::FUNCTION)
        .replace([' ', '(', ')', ':', '{', '}', ','], "-");
    case.seed(tables, &key).await;
    case.setup(&app, &key).await;
    proxy.take_calls();
    match injected {
        Injected::First(fault) => proxy.nth(C::OP, C::NTH, fault),
        Injected::Every(fault) => proxy.always(Some(C::OP), fault),
    }
    let told = surface
        .call(&app, C::PATH, C::FUNCTION, &case.args(&key))
        .await;
    proxy.clear();
    if matches!(injected, Injected::Every(_)) {
        // Let the held attempts reach DynamoDB before looking.
        tokio::time::sleep(HOLD + Duration::from_secs(1)).await;
    }
    let faulted = proxy.take_calls().iter().any(|call| call.fault.is_some());
    let applied = case.applied(&app, &key).await;
    let refused = told.value.as_ref().is_some_and(|value| case.refused(value));
    let disagrees = match &told.value {
        Some(value) if !refused => case.disagrees(&app, &key, value).await,
        _ => None,
    };
    Run {
        surface,
        injected,
        told,
        applied,
        refused,
        faulted,
        disagrees,
    }
}
