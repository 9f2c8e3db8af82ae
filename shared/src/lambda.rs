//! The Lambda transport: API Gateway HTTP API events in, responses out, through [`Service`].

use crate::config::Config;
use crate::convex::ConvexService;
use crate::log::Stdout;
use crate::routes::{Functions, Http, Routes};
use crate::service::{Request, Response, Service};
use lambda_http::request::RequestContext;
use lambda_http::{Body, IntoResponse, RequestExt};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The whole `main` of a group's Lambda function: tracing, configuration and the DynamoDB client
/// once at start, then [`run`] on the group's DynamoDB routes (its `dynamo_routes`: only the DynamoDB
/// store and the HTTP routes are linked into the function).
pub async fn serve(
    dynamo_routes: fn(&crate::dynamo::Client, &str, crate::SharedClock) -> Routes<Http>,
) -> Result<(), lambda_http::Error> {
    crate::log::init_tracing();
    let config = Config::from_env();
    let client = crate::dynamo::lambda_client(&config).await;
    let routes = dynamo_routes(&client, "", Arc::new(crate::SystemClock));
    run(config, routes).await
}

/// Serves `routes` as a Lambda function until the runtime stops it.
pub async fn run(config: Config, routes: Routes<Http>) -> Result<(), lambda_http::Error> {
    let service = Arc::new(Service::new(config.auth, routes, Arc::new(Stdout)));
    lambda_http::run(lambda_http::service_fn(
        move |event: lambda_http::Request| {
            let service = Arc::clone(&service);
            async move {
                Ok::<_, Infallible>(Ready(into_lambda(service.handle(from_lambda(event)).await)))
            }
        },
    ))
    .await
}

/// The whole `main` of the function serving the Convex function protocol (`/api/query`,
/// `/api/mutation`): as [`serve`], with `dynamo_routes` every group's DynamoDB routes, built for
/// the function protocol only.
pub async fn serve_functions(
    dynamo_routes: fn(&crate::dynamo::Client, &str, crate::SharedClock) -> Routes<Functions>,
) -> Result<(), lambda_http::Error> {
    crate::log::init_tracing();
    let config = Config::from_env();
    let client = crate::dynamo::lambda_client(&config).await;
    let routes = dynamo_routes(&client, "", Arc::new(crate::SystemClock));
    run_functions(config, routes).await
}

/// Serves `routes` through [`ConvexService`] as a Lambda function until the runtime stops it.
pub async fn run_functions(
    config: Config,
    routes: Routes<Functions>,
) -> Result<(), lambda_http::Error> {
    let service = Service::new(config.auth, routes, Arc::new(Stdout));
    let convex = Arc::new(ConvexService::new(Arc::new(service)));
    lambda_http::run(lambda_http::service_fn(
        move |event: lambda_http::Request| {
            let convex = Arc::clone(&convex);
            async move {
                Ok::<_, Infallible>(Ready(into_lambda(convex.handle(from_lambda(event)).await)))
            }
        },
    ))
    .await
}

/// A response handed to the runtime as it is. `lambda_http`'s own [`IntoResponse`] for a
/// `Response<B>` collects the body again and decodes it by the charset of its `content-type` (through
/// `encoding_rs`, some 150 KB of tables in the binary); [`into_lambda`] already makes the UTF-8 text
/// that decoding would.
struct Ready(lambda_http::Response<Body>);

impl IntoResponse for Ready {
    fn into_response(self) -> Pin<Box<dyn Future<Output = lambda_http::Response<Body>> + Send>> {
        Box::pin(std::future::ready(self.0))
    }
}

/// Turns an API Gateway event into a [`Request`].
pub fn from_lambda(event: lambda_http::Request) -> Request {
    let (request_id, source_ip) = match event.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            (ctx.request_id.clone(), ctx.http.source_ip.clone())
        }
        #[allow(unreachable_patterns)]
        _ => (None, None),
    };
    let request_id = request_id
        .or_else(|| event.lambda_context_ref().map(|ctx| ctx.request_id.clone()))
        .unwrap_or_default();
    let req = Request {
        method: event.method().as_str().to_owned(),
        path: event.uri().path().to_owned(),
        source_ip,
        request_id,
        ..Request::default()
    }
    .with_headers(event.headers());
    let body = match event.into_body() {
        Body::Empty => Vec::new(),
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        #[allow(unreachable_patterns)]
        _ => Vec::new(),
    };
    Request { body, ..req }
}

/// Turns a [`Response`] into the Lambda response.
pub fn into_lambda(response: Response) -> lambda_http::Response<Body> {
    let mut builder = lambda_http::Response::builder()
        .status(response.status)
        .header("content-type", "application/json");
    if let Some(allow) = response.allow {
        builder = builder.header("allow", allow);
    }
    // Bodies are JSON, so UTF-8; were one not, its invalid bytes become U+FFFD, as `lambda_http`'s
    // charset decoding of an `application/json` body did before [`Ready`].
    let body = String::from_utf8(response.body)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    builder
        .body(Body::Text(body))
        .expect("status and headers are valid")
}
