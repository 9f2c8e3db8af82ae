//! Every function's release `bootstrap` under the official Lambda Runtime Interface Emulator,
//! against DynamoDB Local, invoked with the SAM-generated events of `infra/events/`; and the
//! template's metric filters applied to the lines those runs printed.
//!
//! Needs `LAMBDA_DIR` (the `target/lambda` folder of `cargo lambda build --release`),
//! `AWS_LAMBDA_RIE` (the emulator) and `DYNAMODB_ENDPOINT`; `make test` sets all three.
#![cfg(feature = "lambda-emulator")]

use serde_json::{json, Value};
use service_tests::template::{expanded, resources_of};
use service_tests::{cloudwatch, DynamoTables, ADMIN_KEY};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The emulator running one bootstrap; its runtime API port (9001) is fixed, so one at a time.
struct Emulator {
    child: Child,
    port: u16,
    output: Arc<Mutex<Vec<String>>>,
    invocations: std::sync::atomic::AtomicUsize,
}

impl Emulator {
    async fn start(group: &str, env: &[(String, String)]) -> Self {
        let lambda_dir =
            PathBuf::from(std::env::var("LAMBDA_DIR").expect("LAMBDA_DIR (run `make test`)"));
        let bootstrap = lambda_dir.join(group).join("bootstrap");
        assert!(
            bootstrap.exists(),
            "{} is missing: build with `cargo lambda build --release`",
            bootstrap.display()
        );
        let rie = std::env::var("AWS_LAMBDA_RIE").expect("AWS_LAMBDA_RIE (run `make test`)");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(rie)
            .arg("--runtime-interface-emulator-address")
            .arg(format!("127.0.0.1:{port}"))
            .arg(&bootstrap)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .env("AWS_REGION", "us-east-1")
            .env("LOG_LEVEL", "error")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the emulator starts");
        let output = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let output = Arc::clone(&output);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    output.lock().unwrap().push(line);
                }
            });
        }
        service_tests::wait_for_port(port, Duration::from_secs(10)).await;
        Self {
            child,
            port,
            output,
            invocations: Default::default(),
        }
    }

    async fn invoke(&self, event: &Value) -> Value {
        self.invocations
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let url = format!(
            "http://127.0.0.1:{}/2015-03-31/functions/function/invocations",
            self.port
        );
        let response = reqwest::Client::new()
            .post(url)
            .json(event)
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "the invocation itself succeeds");
        response.json().await.unwrap()
    }

    /// The JSON log lines the function printed, once the emulator has reported the end of every
    /// invocation (its output is read by another thread).
    fn log_lines(&self) -> Vec<Value> {
        let expected = self.invocations.load(std::sync::atomic::Ordering::SeqCst);
        let started = std::time::Instant::now();
        let ended = || {
            self.output
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.starts_with("END RequestId"))
                .count()
        };
        while ended() < expected {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the emulator reported {} of {expected} invocations",
                ended()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let lines = self.output.lock().unwrap().clone();
        lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("event").is_some())
            .collect()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/events")
}

/// The SAM-generated event of `path`, with `authorization` as its Authorization header.
fn event(path: &str, authorization: Option<&str>) -> Value {
    let file = events_dir().join(format!("{}.json", path.trim_start_matches('/')));
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let headers = event["headers"].as_object_mut().unwrap();
    headers.remove("authorization");
    if let Some(value) = authorization {
        headers.insert("authorization".into(), json!(value));
    }
    event
}

fn body(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().unwrap()).unwrap()
}

fn env_for(
    group: &shared::Group,
    tables: &DynamoTables,
    endpoint: &str,
    key: Option<&str>,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = group
        .tables
        .iter()
        .map(|t| (t.env.to_owned(), tables.table(t.default)))
        .collect();
    env.push(("DYNAMODB_ENDPOINT".into(), endpoint.into()));
    if let Some(key) = key {
        env.push(("CONVEX_ADMIN_KEY".into(), key.into()));
    }
    env
}

#[tokio::test]
async fn every_function_answers_its_routes_under_the_emulator_and_the_metric_filters_match_its_lines(
) {
    let endpoint = service_tests::dynamodb_endpoint();
    let tables = DynamoTables::create().await;
    let requests: BTreeMap<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(events_dir().join("requests.json")).unwrap())
            .unwrap();
    let bearer = format!("Bearer {ADMIN_KEY}");
    let mut lines = Vec::new();

    for group in devserver::GROUPS {
        let emulator = Emulator::start(
            group.name,
            &env_for(&group, &tables, &endpoint, Some(ADMIN_KEY)),
        )
        .await;
        let paths: Vec<&String> = requests
            .keys()
            .filter(|p| p.starts_with(&format!("/{}/", group.name)))
            .collect();
        assert!(!paths.is_empty(), "{} has sample events", group.name);
        for path in paths {
            let response = emulator.invoke(&event(path, Some(&bearer))).await;
            assert_eq!(response["statusCode"], 200, "{path}: {response}");
            assert_eq!(
                response["headers"]["content-type"], "application/json",
                "{path}"
            );
            body(&response);
        }
        if group.name == "users" {
            let user = body(&emulator.invoke(&event("/users/get", Some(&bearer))).await);
            assert_eq!(user["clerkId"], "user_sample");
            assert_eq!(user["email"], "ada@example.com");
            let denied = emulator
                .invoke(&event("/users/get", Some("Bearer wrong")))
                .await;
            assert_eq!(denied["statusCode"], 401);
            let mut bad = event("/users/get", Some(&bearer));
            bad["body"] = json!("not json");
            bad["isBase64Encoded"] = json!(false);
            let invalid = emulator.invoke(&bad).await;
            assert_eq!(invalid["statusCode"], 400);

            // An event that is not an API Gateway event: the runtime reports an error for this
            // invocation, and the same process goes on answering.
            let malformed = emulator
                .invoke(&json!({ "not": "an API Gateway event" }))
                .await;
            assert!(malformed.get("statusCode").is_none(), "{malformed}");
            assert!(
                malformed["errorMessage"].is_string() || malformed["errorType"].is_string(),
                "{malformed}"
            );
            let again = emulator.invoke(&event("/users/get", Some(&bearer))).await;
            assert_eq!(
                again["statusCode"], 200,
                "the process survived the malformed event"
            );
        }
        let printed = emulator.log_lines();
        assert!(
            printed.iter().all(|l| l["requestId"] == "id"),
            "API Gateway's request id is logged"
        );
        lines.extend(printed);
    }

    // The api function: the function protocol over every group's routes, and nothing else.
    let api_env: Vec<(String, String)> = devserver::GROUPS
        .iter()
        .flat_map(|group| env_for(group, &tables, &endpoint, Some(ADMIN_KEY)))
        .collect();
    let api = Emulator::start("api", &api_env).await;
    let mutation = api.invoke(&event("/api/mutation", Some(&bearer))).await;
    assert_eq!(mutation["statusCode"], 200, "{mutation}");
    assert_eq!(body(&mutation)["status"], "success", "{mutation}");
    let query = api.invoke(&event("/api/query", Some(&bearer))).await;
    assert_eq!(query["statusCode"], 200, "{query}");
    assert_eq!(body(&query)["value"]["clerkId"], "user_sample", "{query}");
    let denied = api.invoke(&event("/api/query", Some("Bearer wrong"))).await;
    assert_eq!(denied["statusCode"], 401);
    let http_route = api.invoke(&event("/users/get", Some(&bearer))).await;
    assert_eq!(
        http_route["statusCode"], 404,
        "the api function serves the function protocol only: {http_route}"
    );
    lines.extend(api.log_lines());
    drop(api);

    let users = devserver::GROUPS
        .iter()
        .find(|g| g.name == "users")
        .unwrap();
    let unconfigured = Emulator::start("users", &env_for(users, &tables, &endpoint, None)).await;
    let response = unconfigured
        .invoke(&event("/users/get", Some(&bearer)))
        .await;
    assert_eq!(response["statusCode"], 500);
    assert_eq!(body(&response)["error"]["code"], "missing_admin_token");
    lines.extend(unconfigured.log_lines());
    drop(unconfigured);

    let unreachable = Emulator::start(
        "users",
        &env_for(users, &tables, "http://127.0.0.1:1", Some(ADMIN_KEY)),
    )
    .await;
    let response = unreachable
        .invoke(&event("/users/get", Some(&bearer)))
        .await;
    assert_eq!(response["statusCode"], 503);
    lines.extend(unreachable.log_lines());
    drop(unreachable);

    // Secrets the runs sent: the admin key, the sample session secret, token hash and salt.
    let sample = |path: &str| requests[path].to_string();
    assert!(sample("/session/save").contains("encrypted-blob"));
    assert!(sample("/provisioning/save").contains("sample-token-hash-3f9a"));
    let everything: String = lines.iter().map(|l| format!("{l}\n")).collect();
    for secret in [
        ADMIN_KEY,
        "encrypted-blob",
        "sample-token-hash-3f9a",
        "sample-salt-77c1",
    ] {
        assert!(!everything.contains(secret), "{secret} reached a log line");
    }

    let template = expanded();
    let filters: BTreeMap<String, String> = resources_of(&template, "AWS::Logs::MetricFilter")
        .into_iter()
        .map(|(_, f)| {
            let props = &f["Properties"];
            (
                props["MetricTransformations"][0]["MetricName"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                props["FilterPattern"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let count = |metric: &str, event: &str| {
        lines
            .iter()
            .filter(|l| l["event"] == event && cloudwatch::matches(&filters[metric], l))
            .count()
    };
    let total = |event: &str| lines.iter().filter(|l| l["event"] == event).count();
    for (metric, event) in [
        ("Successes", "convex_http_success"),
        ("Failures", "convex_http_failure"),
        ("Unauthorized", "convex_http_unauthorized"),
        ("MissingAdminToken", "convex_http_missing_admin_token"),
    ] {
        assert!(total(event) > 0, "the runs printed a {event} line");
        assert_eq!(
            count(metric, event),
            total(event),
            "{metric} counts every {event} line"
        );
        let others = lines
            .iter()
            .filter(|l| l["event"] != event && cloudwatch::matches(&filters[metric], l))
            .count();
        assert_eq!(others, 0, "{metric} counts only {event} lines");
    }
    let requests = lines
        .iter()
        .filter(|l| cloudwatch::matches(&filters["Requests"], l))
        .count();
    let answered = [
        "convex_http_success",
        "convex_http_invalid_request",
        "convex_http_failure",
    ]
    .map(total)
    .iter()
    .sum::<usize>();
    assert_eq!(requests, answered);
}
