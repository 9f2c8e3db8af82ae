//! Lambda bootstrap of the provisioning group.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(provisioning::dynamo_routes).await
}
