//! Lambda bootstrap of the history group.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(history::dynamo_routes).await
}
