//! The request path shared by every transport: auth guard, route table, body limit, handler, one
//! log line.

use crate::auth::{AuthConfig, Decision, LEGACY_HEADER};
use crate::clock::now_iso8601;
use crate::error::ApiError;
use crate::log::{event, LogLine, LogSink};
use crate::routes::{RouteTable, Routes, Surface};
use std::sync::Arc;
use std::time::Instant;

/// The largest request body accepted (1 MiB), unless a route has a limit of its own
/// ([`crate::Routes::max_body`]). Larger bodies get a `413` before any parsing; the stores also
/// refuse single items over DynamoDB's 400 KB limit.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The `413` of a request body of `size` bytes over `limit`.
pub(crate) fn body_too_large(size: usize, limit: usize) -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "request body is {size} bytes, over the {limit} byte limit"
    ))
}

/// A request as every transport hands it over.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The HTTP method, upper case.
    pub method: String,
    /// The path as called, without query string.
    pub path: String,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The legacy `x-convex-admin-key` header.
    pub legacy_admin_key: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The caller's IP address.
    pub source_ip: Option<String>,
    /// The transport's request id.
    pub request_id: String,
    /// The body (an empty body counts as `{}`).
    pub body: Vec<u8>,
}

impl Request {
    /// Reads the headers this service uses from an `http` header map.
    pub fn with_headers(mut self, headers: &lambda_http::http::HeaderMap) -> Self {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        self.authorization = text("authorization");
        self.legacy_admin_key = text(LEGACY_HEADER);
        self.user_agent = text("user-agent");
        self
    }
}

/// A response as every transport sends it: always a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: Vec<u8>,
    /// Set on `405`: the `Allow` header's value.
    pub allow: Option<&'static str>,
}

impl Response {
    /// The answer of `err`: its status and contract body (with `Allow: POST` on a `405`).
    pub fn error(err: &ApiError) -> Self {
        Response {
            status: err.status(),
            body: err.body(),
            allow: matches!(err, ApiError::MethodNotAllowed(_)).then_some("POST"),
        }
    }
}

/// Routes behind the auth guard, with a log sink.
pub struct Service {
    auth: AuthConfig,
    routes: RouteTable,
    sink: Arc<dyn LogSink>,
}

impl Service {
    /// A service answering `routes`.
    pub fn new<T: Surface>(auth: AuthConfig, routes: Routes<T>, sink: Arc<dyn LogSink>) -> Self {
        Self {
            auth,
            routes: routes.into_table(),
            sink,
        }
    }

    /// The route table.
    pub fn routes(&self) -> &RouteTable {
        &self.routes
    }

    /// Answers one request and writes its log line.
    pub async fn handle(&self, mut req: Request) -> Response {
        let started = Instant::now();
        let body = std::mem::take(&mut req.body);
        let outcome = self.answer(&req, body).await;
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        match outcome {
            Ok(body) => {
                self.log(&req, None, 200, None, latency_ms);
                Response {
                    status: 200,
                    body,
                    allow: None,
                }
            }
            Err(err) => {
                self.log(&req, None, err.status(), Some(&err), latency_ms);
                Response::error(&err)
            }
        }
    }

    /// The auth guard (CONTRACT.md §2): `Ok` when the request may go on; logs the use of the
    /// legacy header.
    pub(crate) fn authorize(&self, req: &Request) -> Result<(), ApiError> {
        match self.auth.check(
            req.authorization.as_deref(),
            req.legacy_admin_key.as_deref(),
        ) {
            Decision::NotConfigured => Err(ApiError::MissingAdminToken),
            Decision::Denied => Err(ApiError::Unauthorized),
            Decision::AllowedByLegacyHeader => {
                LogLine {
                    level: "warn",
                    event: event::ADMIN_HEADER_FALLBACK,
                    source_ip: req.source_ip.as_deref(),
                    ..self.line(req)
                }
                .emit(&*self.sink);
                Ok(())
            }
            Decision::Allowed => Ok(()),
        }
    }

    async fn answer(&self, req: &Request, body: Vec<u8>) -> Result<Vec<u8>, ApiError> {
        self.authorize(req)?;
        let handler = self
            .routes
            .get(&req.path)
            .ok_or_else(|| ApiError::RouteNotFound(req.path.clone()))?;
        if req.method != "POST" {
            return Err(ApiError::MethodNotAllowed(req.path.clone()));
        }
        let limit = self.routes.max_body(&req.path).unwrap_or(MAX_BODY_BYTES);
        if body.len() > limit {
            return Err(body_too_large(body.len(), limit));
        }
        handler(body).await
    }

    fn line<'r>(&self, req: &'r Request) -> LogLine<'r> {
        LogLine {
            timestamp: now_iso8601(),
            path: &req.path,
            request_id: &req.request_id,
            ..LogLine::default()
        }
    }

    /// Writes the one line of a request answered with `status`: a success when `error` is `None`,
    /// else the line of `error`'s kind (an invalid request or a failure as its own status says,
    /// whatever `status` was answered). `function` is the Convex function name, if any.
    pub(crate) fn log(
        &self,
        req: &Request,
        function: Option<&str>,
        status: u16,
        error: Option<&ApiError>,
        latency_ms: f64,
    ) {
        let base = LogLine {
            function,
            method: Some(&req.method),
            request_id: &req.request_id,
            source_ip: req.source_ip.as_deref(),
            user_agent: req.user_agent.as_deref(),
            ..self.line(req)
        };
        let message;
        let line = match error {
            Some(ApiError::MissingAdminToken) => LogLine {
                level: "error",
                event: event::MISSING_ADMIN_TOKEN,
                ..self.line(req)
            },
            Some(ApiError::Unauthorized) => LogLine {
                level: "warn",
                event: event::UNAUTHORIZED,
                ..base
            },
            None => LogLine {
                level: "info",
                event: event::SUCCESS,
                status: Some(status),
                latency_ms: Some(latency_ms),
                ..base
            },
            Some(err) => {
                message = err.to_string();
                let (level, event) = if err.status() >= 500 {
                    ("error", event::FAILURE)
                } else {
                    ("warn", event::INVALID_REQUEST)
                };
                LogLine {
                    level,
                    event,
                    status: Some(status),
                    latency_ms: Some(latency_ms),
                    error: Some(&message),
                    ..base
                }
            }
        };
        line.emit(&*self.sink);
    }
}
