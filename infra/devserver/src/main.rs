//! `devserver`: runs every route group on one local port.
//!
//! Settings (environment): `PORT` (3000), `HOST` (127.0.0.1), `DATA_DIR` (`.data`), and
//! `DYNAMODB_ENDPOINT` to use DynamoDB (e.g. DynamoDB Local, whose tables are created from
//! `template.yaml` when missing) instead of the embedded store. With no admin key configured, one is
//! generated, saved in `DATA_DIR/admin-key` and printed, so the first run needs no setup.

use shared::auth::AuthConfig;
use shared::log::Stdout;
use shared::{Config, Service, SystemClock};
use std::path::PathBuf;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shared::log::init_tracing();
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let data_dir = PathBuf::from(var("DATA_DIR").unwrap_or_else(|| ".data".into()));
    let mut config = Config::from_env();
    if !config.auth.is_configured() {
        let key = local_admin_key(&data_dir)?;
        config.auth = AuthConfig::from_vars(|name| match name {
            "CONVEX_ADMIN_KEY" => Some(key.clone()),
            other => std::env::var(other).ok(),
        });
        eprintln!(
            "devserver: no admin key configured; using the one in {}:",
            data_dir.join("admin-key").display()
        );
        eprintln!("devserver:   Authorization: Bearer {key}");
    }

    let (store, described) = match &config.dynamodb_endpoint {
        Some(endpoint) => {
            let client = shared::dynamo::client(&config).await;
            devserver::create_tables(&client, "").await?;
            (
                devserver::Store::Dynamo {
                    client,
                    prefix: String::new(),
                },
                format!("DynamoDB at {endpoint}"),
            )
        }
        None => {
            let file = data_dir.join("embedded.redb");
            let db = shared::embedded::EmbeddedDb::open(&file)?;
            (
                devserver::Store::Embedded(db),
                format!("embedded store in {}", file.display()),
            )
        }
    };
    let routes = devserver::routes(&store, Arc::new(SystemClock))?;
    let service = Arc::new(Service::new(config.auth, routes, Arc::new(Stdout)));

    let host = var("HOST").unwrap_or_else(|| "127.0.0.1".into());
    let port = var("PORT").unwrap_or_else(|| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("{host}:{port}")).await?;
    eprintln!(
        "devserver: listening on http://{} ({described})",
        listener.local_addr()?
    );
    devserver::serve(listener, service).await?;
    Ok(())
}

/// The admin key saved in `data_dir`, generated on first use.
fn local_admin_key(data_dir: &std::path::Path) -> std::io::Result<String> {
    let file = data_dir.join("admin-key");
    if let Ok(key) = std::fs::read_to_string(&file) {
        if !key.trim().is_empty() {
            return Ok(key.trim().to_owned());
        }
    }
    std::fs::create_dir_all(data_dir)?;
    let key = format!("local-{}", uuid::Uuid::new_v4().simple());
    std::fs::write(&file, &key)?;
    Ok(key)
}
