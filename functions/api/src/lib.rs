//! The Convex function protocol as one Lambda function: `POST /api/query` and `POST /api/mutation`
//! (API Gateway cannot route on the body's `path`), dispatching by function name
//! ([`shared::convex::FUNCTIONS`]) to every route group's own handlers, on DynamoDB.
//!
//! The protocol, its statuses and log lines: [`shared::convex`]. This crate only gathers the
//! groups, so the function's routes are exactly the group functions' routes, and each call costs
//! the DynamoDB calls of the route it maps to (the budgets in each group crate's docs), no more:
//! the dispatch is a table lookup. Its IAM policy in `template.yaml` is the union of the group
//! functions' statements.
#![warn(missing_docs)]

use shared::config::TableRef;
use shared::embedded::EmbeddedDb;
use shared::routes::Functions;
use shared::{Group, Routes, SharedClock, StoreError};

/// Every route group whose functions this function serves.
pub const GROUPS: [Group; 9] = [
    account::GROUP,
    history::GROUP,
    provisioning::GROUP,
    session::GROUP,
    users::GROUP,
    pipelines::GROUP,
    workspace_layouts::GROUP,
    transit::GROUP,
    translations::GROUP,
];

/// How each group builds its DynamoDB routes (its `dynamo_routes`), in the order of [`GROUPS`], for
/// the function protocol only. Kept apart from [`GROUPS`] so that the Lambda binary, which uses only
/// these, links no embedded store (taking the whole `Group` values would keep their `embedded`
/// functions, and redb, alive) and no HTTP body parsing (see [`shared::routes::Surface`]).
type DynamoRoutes = fn(&shared::dynamo::Client, &str, SharedClock) -> Routes<Functions>;
const DYNAMO: [DynamoRoutes; 9] = [
    account::dynamo_routes,
    history::dynamo_routes,
    provisioning::dynamo_routes,
    session::dynamo_routes,
    users::dynamo_routes,
    pipelines::dynamo_routes,
    workspace_layouts::dynamo_routes,
    transit::dynamo_routes,
    translations::dynamo_routes,
];

/// Every group's routes on DynamoDB, table names prefixed by `prefix` (empty in production), for the
/// function protocol only: the function's table answers [`Routes::get_args`], not [`Routes::get`].
pub fn dynamo_routes(
    client: &shared::dynamo::Client,
    prefix: &str,
    clock: SharedClock,
) -> Routes<Functions> {
    DYNAMO.iter().fold(Routes::new(), |routes, dynamo| {
        routes.merge(dynamo(client, prefix, clock.clone()))
    })
}

/// Every group's routes on the embedded store.
pub fn embedded_routes(db: &EmbeddedDb, clock: SharedClock) -> Result<Routes, StoreError> {
    GROUPS.iter().try_fold(Routes::new(), |routes, group| {
        Ok(routes.merge((group.embedded)(db, clock.clone())?))
    })
}

/// Every table the function reaches: each group's.
pub fn tables() -> impl Iterator<Item = TableRef> {
    GROUPS
        .into_iter()
        .flat_map(|group| group.tables.iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::convex::FUNCTIONS;
    use std::sync::Arc;

    #[tokio::test]
    async fn the_dynamodb_routes_are_the_functions_of_every_group() {
        let client = shared::dynamo::client(&shared::Config::default()).await;
        let clock: SharedClock = Arc::new(shared::SystemClock);
        let routes = dynamo_routes(&client, "", clock.clone());
        let mut functions: Vec<&str> = FUNCTIONS.iter().map(|f| f.path).collect();
        functions.sort();
        assert_eq!(routes.paths().collect::<Vec<_>>(), functions);
        // The groups' other routes are HTTP only (no function to call them by): not linked here.
        let groups = GROUPS.iter().fold(Routes::new(), |routes, group| {
            routes.merge((group.dynamo)(&client, "", clock.clone()))
        });
        let http_only: Vec<&str> = groups
            .paths()
            .filter(|p| routes.get_args(p).is_none())
            .collect();
        assert_eq!(http_only, ["/account/update", "/pipelines/listRuns"]);
        let embedded = embedded_routes(&EmbeddedDb::in_memory(), clock).unwrap();
        assert_eq!(
            groups.paths().collect::<Vec<_>>(),
            embedded.paths().collect::<Vec<_>>()
        );
    }

    #[test]
    fn every_function_maps_to_a_route_of_the_groups() {
        let routes = embedded_routes(&EmbeddedDb::in_memory(), Arc::new(shared::SystemClock))
            .expect("routes build");
        for function in FUNCTIONS {
            assert!(
                routes.get_args(function.path).is_some(),
                "{} maps to {}, which no group serves",
                function.name,
                function.path
            );
        }
    }
}
