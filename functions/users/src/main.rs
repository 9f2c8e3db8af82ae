//! Lambda bootstrap of the users group.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(users::dynamo_routes).await
}
