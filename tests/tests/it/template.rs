//! `template.yaml` and the code agree.

use devserver::tables::TEMPLATE;
use serde_norway::Value;
use std::collections::BTreeSet;

fn template() -> Value {
    serde_norway::from_str(TEMPLATE).unwrap()
}

/// Every `HttpApi` event path of every function.
fn api_paths(template: &Value) -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    for (_, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        for (_, event) in resource["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
        {
            if event["Type"].as_str() == Some("HttpApi") {
                paths.insert(event["Properties"]["Path"].as_str().unwrap().to_owned());
            }
        }
    }
    paths
}

#[test]
fn every_route_has_an_api_route_and_every_api_route_a_handler() {
    let routes = devserver::routes(
        &service_tests::embedded(),
        std::sync::Arc::new(shared::SystemClock),
    )
    .unwrap();
    let code: BTreeSet<String> = routes.paths().map(str::to_owned).collect();
    assert_eq!(api_paths(&template()), code);
}

#[test]
fn every_table_the_code_uses_is_in_the_template() {
    for table in devserver::tables() {
        let spec = devserver::tables::table(table.resource);
        assert!(!spec.key_schema.is_empty(), "{}", table.resource);
    }
    let sessions = devserver::tables::table(session::attr::TABLE.resource);
    let index = sessions
        .global_secondary_indexes
        .iter()
        .find(|i| i.index_name == session::attr::BY_EXPIRY)
        .unwrap();
    let keys: Vec<&str> = index
        .key_schema
        .iter()
        .map(|k| k.attribute_name.as_str())
        .collect();
    assert_eq!(
        keys,
        [session::attr::PRUNE_SHARD, session::attr::EXPIRES_AT]
    );
    assert_eq!(
        sessions.time_to_live_specification.unwrap().attribute_name,
        session::attr::TTL
    );
}
