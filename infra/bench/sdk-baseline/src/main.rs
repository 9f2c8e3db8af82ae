//! The baseline of the cold-start bar: `lambda_http` plus `aws-config` and a DynamoDB client built at
//! init, as in the Lambda runtime's `examples/http-dynamodb`, making one call per request: the
//! `GetItem` that the users function's `/users/get` makes (table `USERS_TABLE`, key `clerkId`,
//! strongly consistent). The endpoint comes from the SDK's own configuration
//! (`AWS_ENDPOINT_URL_DYNAMODB`, which `make bench` points at its TLS endpoint), and the root
//! certificates from the platform store, as the SDK's default HTTPS client loads them.

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{run, service_fn, Body, Error, Request, Response};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = std::env::var("USERS_TABLE").unwrap_or_else(|_| "users".to_owned());
    run(service_fn(move |_request: Request| {
        let client = client.clone();
        let table = table.clone();
        async move {
            let item = client
                .get_item()
                .table_name(table)
                .key("clerkId", AttributeValue::S("user_sample".to_owned()))
                .consistent_read(true)
                .send()
                .await?;
            Ok::<_, Error>(
                Response::builder()
                    .status(200)
                    .body(Body::from(if item.item.is_some() {
                        "found"
                    } else {
                        "none"
                    }))
                    .expect("a response"),
            )
        }
    }))
    .await
}
