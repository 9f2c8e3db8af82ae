//! The floor of the cold-start comparison: `lambda_http` answering "hello", nothing else.

use lambda_http::{run, service_fn, Body, Error, Request, Response};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|_request: Request| async {
        Ok::<_, Error>(
            Response::builder()
                .status(200)
                .body(Body::from("hello"))
                .expect("a response"),
        )
    }))
    .await
}
