//! Lambda bootstrap of the session group.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(session::dynamo_routes).await
}
