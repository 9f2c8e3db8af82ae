//! Lambda bootstrap of the pipelines group.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(pipelines::dynamo_routes).await
}
