//! Integration tests, in one binary. `cargo test` runs them on the embedded store; `make test` also
//! runs them on DynamoDB Local (feature `dynamodb-local`).

mod faults;
mod http;
mod session;
mod template;
mod users;
