//! The baseline of the cold-start bar: `lambda_http` plus `aws-config` and a DynamoDB client built at
//! init, as in the Lambda runtime's `examples/http-dynamodb`.

use lambda_http::{run, service_fn, Body, Error, Request, Response};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    run(service_fn(move |_request: Request| {
        let _client = &client;
        async {
            Ok::<_, Error>(
                Response::builder()
                    .status(200)
                    .body(Body::from("hello"))
                    .expect("a response"),
            )
        }
    }))
    .await
}
