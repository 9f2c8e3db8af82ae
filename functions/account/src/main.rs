//! Lambda bootstrap of the account group.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(account::dynamo_routes).await
}
