//! The Convex function protocol, served over the same route tables as the HTTP routes, so that an
//! app using Convex's client library (`ConvexHttpClient`, `fetchQuery`, `fetchMutation`) switches
//! to this service by changing only its base URL.
//!
//! What the client library (npm `convex`, read in its `browser/http_client.js`) sends and reads:
//!
//! - `POST <base>/api/query` or `POST <base>/api/mutation`, `Content-Type: application/json`,
//!   `Authorization: Convex <admin key>` (after `setAdminAuth`) or `Bearer <token>` (after
//!   `setAuth`), body `{ "path": "<module>:<function>", "format": "convex_encoded_json",
//!   "args": [ { ...arguments... } ] }`.
//! - Arguments are JSON, except numbers JSON cannot carry (`NaN`, `±Infinity`, `-0`), sent as
//!   `{ "$float": "<base64 of the little-endian float64>" }`; `BigInt`s (`$integer`) and
//!   `ArrayBuffer`s (`$bytes`) are refused here, as no function of this service takes them.
//! - It throws the response's text as the error unless the status is `200` or `560`; on those it
//!   reads `{ "status": "success", "value": ... }` or `{ "status": "error", "errorMessage": ... }`.
//!
//! How this service answers:
//!
//! | case | status | body | log line |
//! |---|---|---|---|
//! | success | `200` | `{"status":"success","value":<the route's return value>,"logLines":[]}` | success |
//! | bad arguments, an item over 400 KB | `560` | `{"status":"error","errorMessage":"<message naming the field>"}` | invalid request |
//! | unknown function | `560` | errorMessage `Could not find public function for '<path>'` | invalid request |
//! | a query sent to `/api/mutation` or the reverse | `560` | errorMessage `Trying to execute <name> as <Kind>, but it is defined as <Kind>.` | invalid request |
//! | store outage, a bug | `560` | errorMessage as the HTTP route's error message | failure |
//! | envelope not as above (not JSON, unknown field, other format, not one argument object) | `400` | CONTRACT.md §3 body | invalid request |
//! | body over 1 MiB (over the function's route's own limit, if it has one: [`crate::Routes::max_body`]) | `413` | CONTRACT.md §3 body | invalid request |
//! | not POST | `405` (`Allow: POST`) | CONTRACT.md §3 body | invalid request |
//! | auth failed | `401` | CONTRACT.md §3 body (the client shows it as the error) | unauthorized |
//! | no admin token configured | `500` | CONTRACT.md §3 body | missing admin token |
//!
//! So a function's own errors are `560`s, which the client raises as `Error(errorMessage)`, and
//! everything the function never ran for keeps its HTTP status, which the client raises with the
//! body's text. Log lines are those of CONTRACT.md §4 with `path` the HTTP path (`/api/query`),
//! `status` the status answered, and a `function` field with the function name; whether a `560`
//! is an invalid request or a failure follows its cause, so the failure alarms of the two paths
//! count store outages and bugs only.

use crate::args::Arg;
use crate::error::ApiError;
use crate::parse::{parse_args, MAX_KEY_BYTES};
use crate::service::{body_too_large, Request, Response, Service, MAX_BODY_BYTES};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Instant;

/// The status of a function's own error.
pub const STATUS_FUNCTION_ERROR: u16 = 560;

/// The `format` every request names.
pub const FORMAT: &str = "convex_encoded_json";

/// Whether a function reads (a query) or may write (a mutation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Called through `/api/query`.
    Query,
    /// Called through `/api/mutation`.
    Mutation,
}

impl Kind {
    /// Both kinds.
    pub const ALL: [Kind; 2] = [Kind::Query, Kind::Mutation];

    /// The HTTP path functions of this kind are called through.
    pub fn endpoint(self) -> &'static str {
        match self {
            Kind::Query => "/api/query",
            Kind::Mutation => "/api/mutation",
        }
    }

    /// The kind whose endpoint is `path`.
    pub fn of_endpoint(path: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.endpoint() == path)
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Query => "Query",
            Kind::Mutation => "Mutation",
        }
    }
}

/// One public function: its name, its kind and the HTTP route whose handler serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Function {
    /// `module:function`, as the client sends it.
    pub name: &'static str,
    /// Query or mutation.
    pub kind: Kind,
    /// The HTTP path of the route that runs it (its handler, arguments and return value).
    pub path: &'static str,
}

const fn query(name: &'static str, path: &'static str) -> Function {
    Function {
        name,
        kind: Kind::Query,
        path,
    }
}

const fn mutation(name: &'static str, path: &'static str) -> Function {
    Function {
        name,
        kind: Kind::Mutation,
        path,
    }
}

/// Every public function, mapped to the route that serves it. This table is the whole dispatch:
/// the handlers are the route tables' own.
pub const FUNCTIONS: [Function; 43] = [
    mutation("account:getOrCreate", "/account/getOrCreate"),
    mutation("account:updateAccount", "/account/updateAccount"),
    mutation("account:recordUsage", "/account/recordUsage"),
    mutation("account:reserveUsage", "/account/reserveUsage"),
    mutation("account:releaseUsage", "/account/releaseUsage"),
    query("history:list", "/history/list"),
    mutation("history:record", "/history/record"),
    mutation("history:remove", "/history/remove"),
    mutation("history:clear", "/history/clear"),
    mutation("provisioning:saveCredential", "/provisioning/save"),
    query(
        "provisioning:findActiveCredential",
        "/provisioning/findActive",
    ),
    mutation(
        "provisioning:markCredentialRevoked",
        "/provisioning/markRevoked",
    ),
    query("provisioning:listCredentials", "/provisioning/list"),
    mutation("provisioning:recordUsage", "/provisioning/recordUsage"),
    query("provisioning:listUsage", "/provisioning/listUsage"),
    mutation("session:save", "/session/save"),
    query("session:get", "/session/get"),
    mutation("session:deleteSession", "/session/delete"),
    mutation("session:prune", "/session/prune"),
    mutation("users:ensureUser", "/users/ensure"),
    query("users:getUser", "/users/get"),
    query("pipelines:list", "/pipelines/list"),
    query("pipelines:get", "/pipelines/get"),
    query(
        "pipelines:findByWebhookSecret",
        "/pipelines/findByWebhookSecret",
    ),
    mutation("pipelines:create", "/pipelines/create"),
    mutation("pipelines:update", "/pipelines/update"),
    mutation("pipelines:remove", "/pipelines/delete"),
    mutation("pipelines:recordRun", "/pipelines/recordRun"),
    query(
        "workspaceLayouts:getWorkspaceLayout",
        "/workspaceLayouts/get",
    ),
    mutation(
        "workspaceLayouts:saveWorkspaceLayout",
        "/workspaceLayouts/save",
    ),
    mutation(
        "workspaceLayouts:clearWorkspaceLayout",
        "/workspaceLayouts/clear",
    ),
    query("transit:listTranscripts", "/transit/listTranscripts"),
    mutation("transit:saveTranscript", "/transit/saveTranscript"),
    mutation("transit:clearTranscripts", "/transit/clearTranscripts"),
    mutation("transit:removeTranscript", "/transit/removeTranscript"),
    query("transit:getCalendarToken", "/transit/getCalendarToken"),
    mutation("transit:setCalendarToken", "/transit/setCalendarToken"),
    mutation("transit:clearCalendarToken", "/transit/clearCalendarToken"),
    query("translations:list", "/translations/list"),
    mutation("translations:create", "/translations/create"),
    mutation("translations:promote", "/translations/promote"),
    mutation("translations:clear", "/translations/clear"),
    mutation("translations:markAdopted", "/translations/markAdopted"),
];

/// The function a client's `path` names. Convex accepts the module with or without its `.js`
/// extension (`history.js:list` is `history:list`), and so does this.
pub fn function(path: &str) -> Option<&'static Function> {
    let (module, name) = path.split_once(':')?;
    let module = module.strip_suffix(".js").unwrap_or(module);
    FUNCTIONS.iter().find(|f| {
        f.name
            .split_once(':')
            .is_some_and(|(m, n)| m == module && n == name)
    })
}

/// The answer to a path no function has, word for word as Convex gives it (the app recognises it).
pub fn not_found_message(path: &str) -> String {
    format!("Could not find public function for '{path}'")
}

/// The request body of both endpoints.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    path: String,
    format: String,
    args: Vec<serde_json::Value>,
}

/// Why a call was not a success.
enum Failure {
    /// The function never ran: answered with the error's own status and contract body.
    Http(ApiError),
    /// The function failed: `560` with the error's message.
    Function(ApiError),
}

/// The function protocol in front of a [`Service`]: `/api/query` and `/api/mutation` dispatch by
/// function name to the service's route table, behind its auth guard, logging to its sink; every
/// other path goes to the service itself. So one server serves both surfaces when its table is
/// built for both (the dev server); the `api` Lambda function's table has the function protocol only
/// ([`crate::routes::Functions`]: API Gateway sends it `/api/query` and `/api/mutation` alone), so
/// other paths find no route there.
pub struct ConvexService {
    service: Arc<Service>,
}

impl ConvexService {
    /// The protocol over `service`'s routes, guard and log sink.
    pub fn new(service: Arc<Service>) -> Self {
        Self { service }
    }

    /// The service behind it.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// Answers one request (of either surface) and writes its log line.
    pub async fn handle(&self, mut req: Request) -> Response {
        let Some(kind) = Kind::of_endpoint(&req.path) else {
            return self.service.handle(req).await;
        };
        let started = Instant::now();
        let body = std::mem::take(&mut req.body);
        let mut called = None;
        let outcome = self.answer(kind, &req, body, &mut called).await;
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let function = called.as_deref();
        match outcome {
            Ok(value) => {
                self.service.log(&req, function, 200, None, latency_ms);
                Response {
                    status: 200,
                    body: success_body(&value),
                    allow: None,
                }
            }
            Err(Failure::Http(err)) => {
                self.service
                    .log(&req, function, err.status(), Some(&err), latency_ms);
                Response::error(&err)
            }
            Err(Failure::Function(err)) => {
                self.service.log(
                    &req,
                    function,
                    STATUS_FUNCTION_ERROR,
                    Some(&err),
                    latency_ms,
                );
                Response {
                    status: STATUS_FUNCTION_ERROR,
                    body: error_body(&err.to_string()),
                    allow: None,
                }
            }
        }
    }

    async fn answer(
        &self,
        kind: Kind,
        req: &Request,
        body: Vec<u8>,
        called: &mut Option<String>,
    ) -> Result<Vec<u8>, Failure> {
        self.service.authorize(req).map_err(Failure::Http)?;
        if req.method != "POST" {
            return Err(Failure::Http(ApiError::MethodNotAllowed(req.path.clone())));
        }
        // A body over 1 MiB is read only when a route takes more, and then kept only if its
        // function is such a route (checked once the function is known).
        let size = body.len();
        let routes = self.service.routes();
        let largest = routes.largest_body().unwrap_or(0).max(MAX_BODY_BYTES);
        if size > largest {
            return Err(Failure::Http(body_too_large(size, MAX_BODY_BYTES)));
        }
        let envelope: Envelope = match parse_args(&body) {
            Ok(envelope) => envelope,
            Err(_) if size > MAX_BODY_BYTES => {
                return Err(Failure::Http(body_too_large(size, MAX_BODY_BYTES)))
            }
            Err(err) => return Err(Failure::Http(err)),
        };
        drop(body);
        let invalid = |message: &str| Failure::Http(ApiError::InvalidArgument(message.into()));
        if envelope.path.is_empty() || envelope.path.len() > MAX_KEY_BYTES {
            return Err(invalid("path: must be a function name of 1 to 1024 bytes"));
        }
        if envelope.format != FORMAT {
            return Err(invalid(&format!("format: must be \"{FORMAT}\"")));
        }
        let [args] = <[serde_json::Value; 1]>::try_from(envelope.args)
            .map_err(|_| invalid("args: must hold exactly one argument object"))?;
        if !args.is_object() {
            return Err(invalid("args[0]: must be an object"));
        }

        let Some(found) = function(&envelope.path) else {
            *called = Some(envelope.path.clone());
            return Err(Failure::Function(ApiError::InvalidArgument(
                not_found_message(&envelope.path),
            )));
        };
        *called = Some(found.name.to_owned());
        if found.kind != kind {
            return Err(Failure::Function(ApiError::InvalidArgument(format!(
                "Trying to execute {} as {}, but it is defined as {}.",
                found.name,
                kind.name(),
                found.kind.name()
            ))));
        }
        let Some(handler) = routes.get_args(found.path) else {
            return Err(Failure::Function(ApiError::InvalidArgument(
                not_found_message(&envelope.path),
            )));
        };
        let limit = routes.max_body(found.path).unwrap_or(MAX_BODY_BYTES);
        if size > limit {
            return Err(Failure::Http(body_too_large(size, limit)));
        }
        let args = Arg::decode(args).map_err(Failure::Function)?;
        handler(args).await.map_err(Failure::Function)
    }
}

/// `{"status":"success","value":<value>,"logLines":[]}`, around the route's own JSON body.
fn success_body(value: &[u8]) -> Vec<u8> {
    const HEAD: &[u8] = br#"{"status":"success","value":"#;
    const TAIL: &[u8] = br#","logLines":[]}"#;
    let mut body = Vec::with_capacity(HEAD.len() + value.len() + TAIL.len());
    body.extend_from_slice(HEAD);
    body.extend_from_slice(value);
    body.extend_from_slice(TAIL);
    body
}

/// `{"status":"error","errorMessage":<message>}`.
fn error_body(message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "status": "error", "errorMessage": message }))
        .expect("an error body always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeSet;

    #[test]
    fn the_table_has_43_unique_names_thirteen_of_them_queries() {
        let names: BTreeSet<&str> = FUNCTIONS.iter().map(|f| f.name).collect();
        assert_eq!(names.len(), 43);
        let paths: BTreeSet<&str> = FUNCTIONS.iter().map(|f| f.path).collect();
        assert_eq!(paths.len(), 43, "one route per function");
        let queries: BTreeSet<&str> = FUNCTIONS
            .iter()
            .filter(|f| f.kind == Kind::Query)
            .map(|f| f.name)
            .collect();
        assert_eq!(
            queries,
            BTreeSet::from([
                "history:list",
                "provisioning:findActiveCredential",
                "provisioning:listCredentials",
                "provisioning:listUsage",
                "session:get",
                "users:getUser",
                "pipelines:list",
                "pipelines:get",
                "pipelines:findByWebhookSecret",
                "workspaceLayouts:getWorkspaceLayout",
                "transit:listTranscripts",
                "transit:getCalendarToken",
                "translations:list",
            ])
        );
        for f in FUNCTIONS {
            let module = f.name.split(':').next().unwrap();
            assert!(f.path.starts_with(&format!("/{module}/")), "{f:?}");
        }
    }

    #[test]
    fn names_are_found_with_or_without_the_js_extension_and_nothing_else_is() {
        assert_eq!(function("users:getUser").unwrap().path, "/users/get");
        assert_eq!(function("users.js:getUser").unwrap().path, "/users/get");
        for unknown in [
            "translations:listAll",
            "users",
            "users:get",
            "users/getUser",
            ":getUser",
            "users:getUser:x",
        ] {
            assert_eq!(function(unknown), None, "{unknown}");
        }
        assert_eq!(
            not_found_message("translations:listAll"),
            "Could not find public function for 'translations:listAll'"
        );
    }

    #[test]
    fn the_bodies_are_the_clients_envelopes() {
        let body: serde_json::Value = serde_json::from_slice(&success_body(br#"{"a":1}"#)).unwrap();
        assert_eq!(
            body,
            json!({ "status": "success", "value": { "a": 1 }, "logLines": [] })
        );
        let body: serde_json::Value = serde_json::from_slice(&success_body(b"null")).unwrap();
        assert_eq!(
            body,
            json!({ "status": "success", "value": null, "logLines": [] })
        );
        let body: serde_json::Value = serde_json::from_slice(&error_body("bad \"x\"")).unwrap();
        assert_eq!(
            body,
            json!({ "status": "error", "errorMessage": "bad \"x\"" })
        );
        assert_eq!(Kind::of_endpoint("/api/query"), Some(Kind::Query));
        assert_eq!(Kind::of_endpoint("/api/mutation"), Some(Kind::Mutation));
        assert_eq!(Kind::of_endpoint("/api/action"), None);
    }
}
