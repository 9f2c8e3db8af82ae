//! What every route group shares.
//!
//! The request path is: transport (API Gateway through [`lambda`], or the local dev server) →
//! [`service::Service`] (auth guard, route table, body limit) → the group's handler, which parses its
//! arguments with [`parse`] into domain types and calls its store → one [`log`] line per request.
//! Errors are values of [`error::ApiError`], mapped to the statuses and bodies of the contract.
//! [`convex::ConvexService`] serves the same route tables through Convex's function protocol.
//!
//! The modules of the request path depend in one direction: [`parse`] and [`args`] (arguments from
//! a body, decoded arguments of the function protocol) → [`routes`] (the route tables, entered
//! from either) → [`service`] (guard, dispatch, log line) → [`convex`] (the function protocol, on
//! top of the route tables and the service) → [`lambda`] (the transports). None imports a later
//! one.
#![warn(missing_docs)]

pub mod args;
pub mod auth;
pub mod clock;
pub mod config;
pub mod convex;
pub mod dynamo;
pub mod embedded;
pub mod error;
pub mod group;
pub mod import;
pub mod lambda;
pub mod log;
pub mod num;
pub mod parse;
pub mod routes;
pub mod service;

pub use clock::{Clock, SharedClock, SystemClock};
pub use config::Config;
pub use error::{ApiError, StoreError};
pub use group::Group;
pub use num::Num;
pub use parse::Key;
pub use routes::Routes;
pub use service::Service;

/// DynamoDB's item size limit (400 KB). Larger items are refused with a `413` on both stores.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
