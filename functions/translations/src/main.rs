//! Lambda bootstrap of the translations group.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(translations::dynamo_routes).await
}
