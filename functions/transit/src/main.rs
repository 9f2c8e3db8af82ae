//! Lambda bootstrap of the transit group.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(transit::dynamo_routes).await
}
