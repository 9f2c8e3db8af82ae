//! The local dev server: every route group on one port, through the same [`Service`] and route
//! tables the Lambda functions use, on the embedded store or a DynamoDB endpoint.
#![warn(missing_docs)]

pub mod tables;

use axum::extract::{ConnectInfo, State};
use axum::response::IntoResponse;
use shared::embedded::EmbeddedDb;
use shared::service::{Request, Service, MAX_BODY_BYTES};
use shared::{Routes, SharedClock, StoreError};
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

/// A group's table name on a DynamoDB store: `prefix` + (`$env` or `default`).
fn table(prefix: &str, env: &str, default: &str) -> String {
    format!("{prefix}{}", shared::config::table_name(env, default))
}

/// Every route group's routes, on `store`. Adding a group is one line here.
pub fn routes(store: &Store, clock: SharedClock) -> Result<Routes, StoreError> {
    Ok(match store {
        Store::Embedded(db) => Routes::new()
            .merge(users::routes(
                users::EmbeddedUsersStore::new(db.clone())?,
                clock.clone(),
            ))
            .merge(session::routes(session::EmbeddedSessionStore::new(
                db.clone(),
            )?)),
        Store::Dynamo { client, prefix } => Routes::new()
            .merge(users::routes(
                users::DynamoUsersStore::new(
                    client.clone(),
                    table(prefix, users::attr::TABLE_ENV, "users"),
                ),
                clock.clone(),
            ))
            .merge(session::routes(session::DynamoSessionStore::new(
                client.clone(),
                table(prefix, session::attr::TABLE_ENV, "sessions"),
            ))),
    })
}

/// Creates every table of `template.yaml` on `client` as `prefix` + its name (see [`routes`]),
/// skipping those that exist.
pub async fn create_tables(
    client: &shared::dynamo::Client,
    prefix: &str,
) -> Result<(), aws_sdk_dynamodb::Error> {
    for (resource, env, default) in TABLES {
        tables::table(resource)
            .create(client, &table(prefix, env, default))
            .await?;
    }
    Ok(())
}

/// Each table: its logical id in the template, its environment variable, its local name.
pub const TABLES: [(&str, &str, &str); 2] = [
    (users::attr::TABLE_RESOURCE, users::attr::TABLE_ENV, "users"),
    (
        session::attr::TABLE_RESOURCE,
        session::attr::TABLE_ENV,
        "sessions",
    ),
];

/// Serves `service` on `listener` until the task is dropped.
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: Arc<Service>,
) -> std::io::Result<()> {
    let app = axum::Router::new().fallback(handle).with_state(service);
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
    State(service): State<Arc<Service>>,
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
