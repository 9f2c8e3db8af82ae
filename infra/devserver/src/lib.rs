//! The local dev server: every route group on one port, through the same [`Service`] and route
//! tables the Lambda functions use, on the embedded store or a DynamoDB endpoint. The same port
//! serves Convex's function protocol (`/api/query`, `/api/mutation`, see [`ConvexService`]) over
//! those routes, as the `api` Lambda function does.
#![warn(missing_docs)]

pub mod tables;

use axum::extract::{ConnectInfo, State};
use axum::response::IntoResponse;
use shared::config::TableRef;
use shared::convex::ConvexService;
use shared::embedded::EmbeddedDb;
use shared::service::{Request, Service, MAX_BODY_BYTES};
use shared::{Group, Routes, SharedClock, StoreError};
use std::net::SocketAddr;
use std::sync::Arc;

/// Where the route groups keep their data.
#[derive(Clone)]
pub enum Store {
    /// The embedded store (a file, or memory).
    Embedded(EmbeddedDb),
    /// DynamoDB tables named `prefix` + the group's table name.
    Dynamo {
        /// The client.
        client: shared::dynamo::Client,
        /// Prepended to every table name (empty for the plain names).
        prefix: String,
    },
}

/// Every route group, mounted by the dev server. Adding a group is one line here.
pub const GROUPS: [Group; 9] = [
    account::GROUP,
    history::GROUP,
    provisioning::GROUP,
    session::GROUP,
    users::GROUP,
    pipelines::GROUP,
    workspace_layouts::GROUP,
    transit::GROUP,
    translations::GROUP,
];

/// Every route group's routes, on `store`.
pub fn routes(store: &Store, clock: SharedClock) -> Result<Routes, StoreError> {
    GROUPS.iter().try_fold(Routes::new(), |routes, group| {
        Ok(routes.merge(match store {
            Store::Embedded(db) => (group.embedded)(db, clock.clone())?,
            Store::Dynamo { client, prefix } => (group.dynamo)(client, prefix, clock.clone()),
        }))
    })
}

/// Every table of every group, as `template.yaml` defines it.
pub fn tables() -> impl Iterator<Item = TableRef> {
    GROUPS
        .into_iter()
        .flat_map(|group| group.tables.iter().copied())
}

/// Creates every group's table on `client`, named `prefix` + its name (see [`TableRef::name`]),
/// from its definition in `template.yaml`; tables that exist are left alone.
pub async fn create_tables(
    client: &shared::dynamo::Client,
    prefix: &str,
) -> Result<(), aws_sdk_dynamodb::Error> {
    for table in tables() {
        tables::table(table.resource)
            .create(client, &table.name(prefix))
            .await?;
    }
    Ok(())
}

/// Serves `service` on `listener` until the task is dropped: its HTTP routes, and the function
/// protocol over the same routes, guard and log sink.
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: Arc<Service>,
) -> std::io::Result<()> {
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(Arc::new(ConvexService::new(service)));
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

/// Bodies up to this size are read and handed to the service, which answers `413` past
/// [`MAX_BODY_BYTES`]; larger ones are cut off.
const READ_LIMIT: usize = 16 * MAX_BODY_BYTES;

async fn handle(
    State(service): State<Arc<ConvexService>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, READ_LIMIT).await else {
        return (
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large",
        )
            .into_response();
    };
    let request = Request {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        source_ip: Some(peer.ip().to_string()),
        request_id: uuid::Uuid::new_v4().to_string(),
        body: body.to_vec(),
        ..Request::default()
    }
    .with_headers(&parts.headers);
    let response = service.handle(request).await;
    let mut builder = axum::http::Response::builder()
        .status(response.status)
        .header("content-type", "application/json");
    if let Some(allow) = response.allow {
        builder = builder.header("allow", allow);
    }
    builder
        .body(axum::body::Body::from(response.body))
        .expect("status and headers are valid")
}
