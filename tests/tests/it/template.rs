//! `template.yaml` and the code agree: routes, functions, tables, IAM, alarms, and metric filters
//! that match the log lines the service really prints.

use serde_json::json;
use serde_norway::Value;
use service_tests::cloudwatch;
use service_tests::template::{expanded, resources_of};
use service_tests::{auth, embedded, spawn_app, spawn_app_with, ADMIN_KEY};
use shared::convex::Kind;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

fn routes() -> shared::Routes {
    devserver::routes(&embedded(), Arc::new(shared::SystemClock)).unwrap()
}

/// Every path the service answers: the groups' routes and the function protocol's two endpoints.
fn served_paths() -> BTreeSet<String> {
    routes()
        .paths()
        .map(str::to_owned)
        .chain(Kind::ALL.map(|kind| kind.endpoint().to_owned()))
        .collect()
}

/// The function of the function protocol (`/api/query`, `/api/mutation`).
const API_FUNCTION: &str = "ApiFunction";

/// Every (action, resource) an IAM policy list allows.
fn grants(policies: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for statement in policies[0]["Statement"].as_sequence().into_iter().flatten() {
        assert_eq!(statement["Effect"].as_str(), Some("Allow"));
        let resources: Vec<&Value> = match &statement["Resource"] {
            Value::Sequence(items) => items.iter().collect(),
            one => vec![one],
        };
        for action in statement["Action"].as_sequence().into_iter().flatten() {
            for resource in &resources {
                let resource = serde_norway::to_string(resource).unwrap();
                out.insert((action.as_str().unwrap().to_owned(), resource));
            }
        }
    }
    out
}

/// `users` → `UsersFunction`.
fn function_id(group: &str) -> String {
    let mut chars = group.chars();
    let first = chars.next().unwrap().to_ascii_uppercase();
    format!("{first}{}Function", chars.as_str())
}

fn tag_value<'a>(value: &'a Value, tag: &str) -> Option<&'a Value> {
    match value {
        Value::Tagged(t) if t.tag == tag => Some(&t.value),
        _ => None,
    }
}

/// Every logical id a value refers to through `!Ref`, `!GetAtt` or `${...}` in `!Sub`.
fn references(value: &Value, out: &mut BTreeSet<String>) {
    if let Some(Value::String(target)) = tag_value(value, "!Ref") {
        out.insert(target.clone());
    }
    if let Some(Value::String(target)) = tag_value(value, "!GetAtt") {
        out.insert(target.split('.').next().unwrap().to_owned());
    }
    if let Some(Value::String(text)) = tag_value(value, "!Sub") {
        for piece in text.split("${").skip(1) {
            let name = piece.split('}').next().unwrap();
            out.insert(name.split('.').next().unwrap().to_owned());
        }
    }
    match value {
        Value::Sequence(items) => items.iter().for_each(|v| references(v, out)),
        Value::Mapping(map) => map.values().for_each(|v| references(v, out)),
        Value::Tagged(t) => references(&t.value, out),
        _ => {}
    }
}

#[test]
fn every_route_has_an_api_route_to_its_own_group_function_and_nothing_else_does() {
    let template = expanded();
    let mut api: BTreeMap<String, String> = BTreeMap::new();
    for (id, function) in resources_of(&template, "AWS::Serverless::Function") {
        for (_, event) in function["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
        {
            if event["Type"].as_str() == Some("HttpApi") {
                let path = event["Properties"]["Path"].as_str().unwrap().to_owned();
                assert_eq!(
                    event["Properties"]["Method"].as_str(),
                    Some("ANY"),
                    "{path}: ANY, so the code answers 405"
                );
                assert!(
                    api.insert(path.clone(), id.clone()).is_none(),
                    "{path} routed twice"
                );
            }
        }
    }
    assert_eq!(
        api.keys().cloned().collect::<BTreeSet<_>>(),
        served_paths(),
        "template routes vs route tables and the function protocol"
    );
    for (path, function) in api {
        let group = path.split('/').nth(1).unwrap();
        assert_eq!(function, function_id(group), "{path}");
    }
}

#[test]
fn every_group_has_a_function_building_its_own_binary_and_nothing_else_is_a_function() {
    let template = expanded();
    let functions: BTreeMap<String, Value> = resources_of(&template, "AWS::Serverless::Function")
        .into_iter()
        .collect();
    let expected: BTreeSet<String> = devserver::GROUPS
        .iter()
        .map(|g| function_id(g.name))
        .chain([API_FUNCTION.to_owned()])
        .collect();
    assert_eq!(functions.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert_eq!(
        functions[API_FUNCTION]["Metadata"]["BuildProperties"]["Binary"].as_str(),
        Some("api")
    );
    for group in devserver::GROUPS {
        let function = &functions[&function_id(group.name)];
        assert_eq!(
            function["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda")
        );
        assert_eq!(
            function["Metadata"]["BuildProperties"]["Binary"].as_str(),
            Some(group.name),
            "{}",
            group.name
        );
    }
}

#[test]
fn every_table_of_the_code_is_in_the_template_and_each_function_reaches_only_its_own() {
    let template = expanded();
    let tables: BTreeSet<String> = resources_of(&template, "AWS::DynamoDB::Table")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let in_code: BTreeSet<String> = devserver::tables().map(|t| t.resource.to_owned()).collect();
    assert_eq!(
        tables, in_code,
        "tables of the template vs tables of the groups"
    );

    for group in devserver::GROUPS {
        let function = &template["Resources"][function_id(group.name).as_str()];
        let own: BTreeSet<String> = group.tables.iter().map(|t| t.resource.to_owned()).collect();
        let mut reached = BTreeSet::new();
        references(&function["Properties"]["Policies"], &mut reached);
        let reached_tables: BTreeSet<String> = reached.intersection(&tables).cloned().collect();
        assert_eq!(
            reached_tables, own,
            "{}: IAM must reach exactly its own tables",
            group.name
        );

        let env = &function["Properties"]["Environment"]["Variables"];
        for table in group.tables {
            let value = tag_value(&env[table.env], "!Ref").and_then(Value::as_str);
            assert_eq!(
                value,
                Some(table.resource),
                "{}: {} = !Ref {}",
                group.name,
                table.env,
                table.resource
            );
        }
        for statement in function["Properties"]["Policies"][0]["Statement"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            for action in statement["Action"].as_sequence().into_iter().flatten() {
                let action = action.as_str().unwrap();
                assert!(
                    action.starts_with("dynamodb:") && !action.contains('*'),
                    "{}: {action}",
                    group.name
                );
            }
        }
    }
}

#[test]
fn the_api_function_reaches_every_groups_tables_with_exactly_the_groups_permissions() {
    let template = expanded();
    let function = &template["Resources"][API_FUNCTION]["Properties"];
    let tables: BTreeSet<String> = resources_of(&template, "AWS::DynamoDB::Table")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let mut reached = BTreeSet::new();
    references(&function["Policies"], &mut reached);
    assert_eq!(
        reached
            .intersection(&tables)
            .cloned()
            .collect::<BTreeSet<_>>(),
        tables
    );
    let served: BTreeSet<String> = api::tables().map(|t| t.resource.to_owned()).collect();
    assert_eq!(served, tables, "the api crate serves every table's group");
    for table in api::tables() {
        let value = tag_value(&function["Environment"]["Variables"][table.env], "!Ref")
            .and_then(Value::as_str);
        assert_eq!(value, Some(table.resource), "{}", table.env);
    }

    let union: BTreeSet<(String, String)> = devserver::GROUPS
        .iter()
        .flat_map(|group| {
            grants(
                &template["Resources"][function_id(group.name).as_str()]["Properties"]["Policies"],
            )
        })
        .collect();
    let own = grants(&function["Policies"]);
    assert_eq!(
        own, union,
        "the api function may do exactly what the group functions may, no more"
    );
    assert!(own
        .iter()
        .all(|(action, _)| action.starts_with("dynamodb:") && !action.contains('*')));
}

#[test]
fn the_session_expiry_index_and_ttl_are_as_the_code_uses_them() {
    let sessions = devserver::tables::table(session::attr::TABLE.resource);
    let table_keys: Vec<&str> = sessions
        .key_schema
        .iter()
        .map(|k| k.attribute_name.as_str())
        .collect();
    assert_eq!(table_keys, [session::attr::PRUNE_SHARD, session::attr::ID]);
    assert!(sessions.global_secondary_indexes.is_empty());
    let index = sessions
        .local_secondary_indexes
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

#[test]
fn every_path_has_a_failure_alarm_and_the_three_thresholds_are_the_catalogues() {
    let template = expanded();
    let alarms: BTreeMap<String, Value> = resources_of(&template, "AWS::CloudWatch::Alarm")
        .into_iter()
        .collect();
    let topic = |alarm: &Value| {
        tag_value(&alarm["Properties"]["AlarmActions"][0], "!Ref")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut failure_paths = BTreeSet::new();
    for alarm in alarms
        .values()
        .filter(|a| a["Properties"]["MetricName"].as_str() == Some("Failures"))
    {
        let props = &alarm["Properties"];
        assert_eq!(props["Dimensions"][0]["Name"].as_str(), Some("path"));
        failure_paths.insert(props["Dimensions"][0]["Value"].as_str().unwrap().to_owned());
        assert_eq!(
            (props["Period"].as_u64(), props["Threshold"].as_u64()),
            (Some(60), Some(3))
        );
        assert_eq!(
            props["ComparisonOperator"].as_str(),
            Some("GreaterThanThreshold")
        );
        assert_eq!(topic(alarm).as_deref(), Some("OperationalAlertTopic"));
    }
    assert_eq!(failure_paths, served_paths(), "one failure alarm per path");

    let unauthorized = &alarms["UnauthorizedAlarm"];
    assert_eq!(unauthorized["Properties"]["Threshold"].as_u64(), Some(5));
    assert_eq!(
        unauthorized["Properties"]["ComparisonOperator"].as_str(),
        Some("GreaterThanThreshold")
    );
    assert_eq!(topic(unauthorized).as_deref(), Some("SecurityAlertTopic"));
    let missing = &alarms["MissingAdminTokenAlarm"];
    assert_eq!(missing["Properties"]["Threshold"].as_u64(), Some(1));
    assert_eq!(
        missing["Properties"]["ComparisonOperator"].as_str(),
        Some("GreaterThanOrEqualToThreshold")
    );
    assert_eq!(topic(missing).as_deref(), Some("PagingTopic"));
}

/// One real line of each kind, as the service prints them.
async fn real_lines() -> BTreeMap<&'static str, serde_json::Value> {
    let app = spawn_app(embedded()).await;
    app.ok("/users/get", json!({ "clerkId": "a" })).await;
    app.call("/users/get", json!({})).await;
    app.send("POST", "/users/get", Some("Bearer wrong"), Vec::new())
        .await;
    app.send_with(
        "POST",
        "/users/get",
        &[("x-convex-admin-key", Some(ADMIN_KEY))],
        b"{\"clerkId\":\"a\"}".to_vec(),
    )
    .await;
    let unconfigured = spawn_app_with(auth(&[]), embedded(), Arc::new(shared::SystemClock)).await;
    unconfigured
        .call("/users/get", json!({ "clerkId": "a" }))
        .await;
    let config = shared::Config {
        dynamodb_endpoint: Some("http://127.0.0.1:1".into()),
        ..Default::default()
    };
    let unreachable = devserver::Store::Dynamo {
        client: shared::dynamo::client(&config).await,
        prefix: String::new(),
    };
    let broken = spawn_app(unreachable).await;
    assert_eq!(
        broken
            .call("/users/get", json!({ "clerkId": "a" }))
            .await
            .status,
        503
    );

    let mut lines = BTreeMap::new();
    for line in [
        app.log_lines(),
        unconfigured.log_lines(),
        broken.log_lines(),
    ]
    .concat()
    {
        let event = match line["event"].as_str().unwrap() {
            "convex_http_success" => "success",
            "convex_http_invalid_request" => "invalid",
            "convex_http_unauthorized" => "unauthorized",
            "convex_http_admin_header_fallback" => "fallback",
            "convex_http_missing_admin_token" => "missing",
            "convex_http_failure" => "failure",
            other => panic!("unexpected event {other}"),
        };
        lines.entry(event).or_insert(line);
    }
    assert_eq!(lines.len(), 6, "{lines:?}");
    lines
}

#[tokio::test]
async fn metric_filters_match_exactly_the_lines_they_must() {
    let lines = real_lines().await;
    let template = expanded();
    let filters = resources_of(&template, "AWS::Logs::MetricFilter");
    let expected: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("Requests", &["success", "invalid", "failure"][..]),
        ("LatencyMs", &["success", "invalid", "failure"][..]),
        ("Successes", &["success"][..]),
        ("Failures", &["failure"][..]),
        ("Unauthorized", &["unauthorized"][..]),
        ("MissingAdminToken", &["missing"][..]),
    ]);
    let mut per_log_group: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (id, filter) in &filters {
        let props = &filter["Properties"];
        let pattern = props["FilterPattern"].as_str().unwrap();
        let metric = &props["MetricTransformations"][0];
        let name = metric["MetricName"].as_str().unwrap();
        let log_group = tag_value(&props["LogGroupName"], "!Ref")
            .and_then(Value::as_str)
            .unwrap()
            .to_owned();
        per_log_group
            .entry(log_group)
            .or_default()
            .insert(name.to_owned());

        let must: &[&str] = expected
            .get(name)
            .unwrap_or_else(|| panic!("{id}: unexpected metric {name}"));
        for (kind, line) in &lines {
            assert_eq!(
                cloudwatch::matches(pattern, line),
                must.contains(kind),
                "{id} ({pattern}) on a {kind} line: {line}"
            );
            if must.contains(kind) {
                for dimension in metric["Dimensions"].as_sequence().into_iter().flatten() {
                    let selector = dimension["Value"].as_str().unwrap();
                    assert!(
                        cloudwatch::select(selector, line).is_some_and(|v| v.is_string()),
                        "{id}: {selector} on {line}"
                    );
                }
                let value = metric["MetricValue"].as_str().unwrap();
                if value.starts_with("$.") {
                    assert!(
                        cloudwatch::select(value, line).is_some_and(|v| v.is_number()),
                        "{id}: {value} on {line}"
                    );
                }
            }
        }
    }
    assert_eq!(
        per_log_group.keys().collect::<Vec<_>>(),
        ["ApiLogGroup"],
        "every filter reads the one log group"
    );
    assert_eq!(per_log_group["ApiLogGroup"].len(), expected.len());
    let logging = &template["Globals"]["Function"]["LoggingConfig"];
    assert_eq!(
        tag_value(&logging["LogGroup"], "!Ref").and_then(Value::as_str),
        Some("ApiLogGroup")
    );
    for (id, function) in resources_of(&template, "AWS::Serverless::Function") {
        assert!(
            function["Properties"].get("LoggingConfig").is_none(),
            "{id} must log to ApiLogGroup"
        );
    }
}

#[test]
fn the_sam_local_env_file_names_every_table_as_the_dev_server_does() {
    let env: serde_json::Value =
        serde_json::from_str(include_str!("../../../infra/env.json")).unwrap();
    for table in devserver::tables() {
        assert_eq!(env["Parameters"][table.env], table.default, "{}", table.env);
    }
}

#[test]
fn every_route_has_a_sam_generated_sample_event_with_its_sample_body() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/events");
    let requests: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("requests.json")).unwrap()).unwrap();
    let code: BTreeSet<String> = routes().paths().map(str::to_owned).collect();
    assert_eq!(requests.keys().cloned().collect::<BTreeSet<_>>(), code);
    for (path, body) in requests {
        let file = dir.join(format!("{}.json", path.trim_start_matches('/')));
        let event: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(event["rawPath"], path.as_str());
        assert_eq!(event["version"], "2.0", "an HTTP API (payload 2.0) event");
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(event["body"].as_str().unwrap())
            .unwrap();
        let sent: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            sent,
            body,
            "{} is stale: run infra/scripts/sample-events.sh",
            file.display()
        );
    }
}

#[test]
fn no_table_has_a_global_secondary_index() {
    // Read-your-writes on every route (CONTRACT.md §3): a global index cannot be read strongly
    // consistently, so none may serve a route; the test clients refuse such reads as well.
    for table in devserver::tables() {
        let spec = devserver::tables::table(table.resource);
        assert!(
            spec.global_secondary_indexes.is_empty(),
            "{} has a global secondary index",
            table.resource
        );
    }
}
