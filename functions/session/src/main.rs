//! Lambda bootstrap of the session group.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::log::init_tracing();
    let config = shared::Config::from_env();
    let client = shared::dynamo::client(&config).await;
    let table = shared::config::table_name(session::attr::TABLE_ENV, "sessions");
    shared::lambda::run(
        config,
        session::routes(session::DynamoSessionStore::new(client, table)),
    )
    .await
}
