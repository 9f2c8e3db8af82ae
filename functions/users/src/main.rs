//! Lambda bootstrap of the users group.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::log::init_tracing();
    let config = shared::Config::from_env();
    let client = shared::dynamo::client(&config).await;
    let table = shared::config::table_name(users::attr::TABLE_ENV, "users");
    let routes = users::routes(
        users::DynamoUsersStore::new(client, table),
        std::sync::Arc::new(shared::SystemClock),
    );
    shared::lambda::run(config, routes).await
}
