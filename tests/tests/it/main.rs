//! Integration tests, in one binary. `cargo test` runs them on the embedded store; `make test` also
//! runs them on DynamoDB Local (feature `dynamodb-local`).

mod account;
mod convex;
mod emulator;
mod exactly_once;
mod faults;
mod history;
mod http;
mod import;
mod openapi;
mod pipelines;
mod provisioning;
mod session;
mod template;
mod transit;
mod translations;
mod translations_wire;
mod users;
mod workspace_layouts;
