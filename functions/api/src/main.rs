//! Lambda bootstrap of the Convex function protocol.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve_functions(api::dynamo_routes).await
}
