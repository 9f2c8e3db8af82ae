//! Helpers for the integration tests: an in-process dev server on a free port (`spawn_app`),
//! stores on the embedded database or on fresh DynamoDB Local tables, and a private DynamoDB Local
//! that a test can stop and restart.

use devserver::Store;
use serde_json::Value;
use shared::auth::AuthConfig;
use shared::embedded::EmbeddedDb;
use shared::log::Memory;
use shared::{Config, Service, SharedClock};
use std::sync::Arc;
use std::time::Duration;

/// The admin key the test apps accept.
pub const ADMIN_KEY: &str = "test-admin-key-0123456789";

/// A dev server running in this process.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Every log line the server printed.
    pub logs: Arc<Memory>,
    /// An HTTP client.
    pub http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A JSON answer.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: u16,
    /// The `Allow` header.
    pub allow: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The body, parsed.
    pub body: Value,
}

impl TestApp {
    /// POSTs `body` to `path` with the admin key.
    pub async fn call(&self, path: &str, body: Value) -> Answer {
        self.send(
            "POST",
            path,
            Some(&format!("Bearer {ADMIN_KEY}")),
            body.to_string().into_bytes(),
        )
        .await
    }

    /// POSTs `body` to `path`, expects a `200` and returns the body.
    pub async fn ok(&self, path: &str, body: Value) -> Value {
        let answer = self.call(path, body.clone()).await;
        assert_eq!(answer.status, 200, "{path} {body} answered {answer:?}");
        answer.body
    }

    /// Sends any request.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: Vec<u8>,
    ) -> Answer {
        self.send_with(method, path, &[("authorization", authorization)], body)
            .await
    }

    /// Sends any request with the given headers (`None` values are left out).
    pub async fn send_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, Option<&str>)],
        body: Vec<u8>,
    ) -> Answer {
        let mut request = self
            .http
            .request(
                method.parse().expect("a method"),
                format!("{}{path}", self.base),
            )
            .header("user-agent", "service-tests")
            .body(body);
        for (name, value) in headers {
            if let Some(value) = value {
                request = request.header(*name, *value);
            }
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (allow, content_type) = (header("allow"), header("content-type"));
        let bytes = response.bytes().await.expect("a body");
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "{path} answered a body that is not JSON: {:?}",
                String::from_utf8_lossy(&bytes)
            )
        });
        Answer {
            status,
            allow,
            content_type,
            body,
        }
    }

    /// The log lines printed so far, parsed.
    pub fn log_lines(&self) -> Vec<Value> {
        self.logs.json()
    }
}

/// Starts a dev server on `store`, accepting [`ADMIN_KEY`].
pub async fn spawn_app(store: Store) -> TestApp {
    spawn_app_at(store, Arc::new(shared::SystemClock)).await
}

/// Starts a dev server on `store` guarded by [`ADMIN_KEY`], reading the time from `clock` (a
/// `ManualClock` for tests that set it).
pub async fn spawn_app_at(store: Store, clock: SharedClock) -> TestApp {
    spawn_app_with(auth(&[("CONVEX_ADMIN_KEY", ADMIN_KEY)]), store, clock).await
}

/// Starts a dev server with the given guard, store and clock.
pub async fn spawn_app_with(auth: AuthConfig, store: Store, clock: SharedClock) -> TestApp {
    let logs = Arc::new(Memory::default());
    let routes = devserver::routes(&store, clock).expect("routes build");
    let service = Arc::new(Service::new(auth, routes, logs.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    let server = tokio::spawn(async move {
        devserver::serve(listener, service)
            .await
            .expect("the server runs");
    });
    TestApp {
        base,
        logs,
        http: reqwest::Client::new(),
        server,
    }
}

/// An auth guard from environment-style settings.
pub fn auth(vars: &[(&str, &str)]) -> AuthConfig {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    AuthConfig::from_vars(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
}

/// A fresh in-memory embedded database.
pub fn embedded_db() -> EmbeddedDb {
    EmbeddedDb::in_memory()
}

/// The embedded store for [`spawn_app`].
pub fn embedded() -> Store {
    Store::Embedded(embedded_db())
}

/// The DynamoDB Local endpoint of the test run (`DYNAMODB_ENDPOINT`, set by `make test`).
pub fn dynamodb_endpoint() -> String {
    std::env::var("DYNAMODB_ENDPOINT").expect(
        "DYNAMODB_ENDPOINT is not set: the dynamodb-local tests need a running DynamoDB Local (run `make test`)",
    )
}

/// How many test runs create their tables at once (see [`DynamoTables::create_on`]).
static CREATING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// The actions of each statement of `function`'s IAM policy in the SAM `template`, in order.
pub fn policy_actions(template: &serde_norway::Value, function: &str) -> Vec<Vec<String>> {
    let statements = &template["Resources"][function]["Properties"]["Policies"][0]["Statement"];
    statements
        .as_sequence()
        .unwrap_or_else(|| panic!("{function} has a policy"))
        .iter()
        .map(|statement| {
            statement["Action"]
                .as_sequence()
                .expect("a list of actions")
                .iter()
                .map(|action| action.as_str().expect("an action").to_owned())
                .collect()
        })
        .collect()
}

/// Fresh DynamoDB tables for one test: every table of the template, under a unique prefix.
pub struct DynamoTables {
    /// A client counting its calls.
    pub client: shared::dynamo::Client,
    /// The calls made through `client`.
    pub calls: shared::dynamo::CallCounter,
    /// The prefix of this test's table names.
    pub prefix: String,
}

impl DynamoTables {
    /// A test client for `endpoint`, and the calls it makes. It refuses every eventually
    /// consistent read ([`consistency::ConsistentReadsOnly`]), so every suite run on DynamoDB
    /// Local checks that no route reads a global index or without `ConsistentRead`.
    pub async fn client_for(
        endpoint: &str,
    ) -> (shared::dynamo::Client, shared::dynamo::CallCounter) {
        let config = Config {
            dynamodb_endpoint: Some(endpoint.to_owned()),
            ..Config::default()
        };
        let calls = shared::dynamo::CallCounter::default();
        let dynamo_config =
            aws_sdk_dynamodb::config::Builder::from(&shared::dynamo::sdk_config(&config).await)
                .interceptor(calls.clone())
                .interceptor(consistency::ConsistentReadsOnly::from_template())
                .build();
        (shared::dynamo::Client::from_conf(dynamo_config), calls)
    }

    /// Creates the tables on `endpoint`.
    ///
    /// Creating tables is test setup, not a request path: it gets a minute per call instead of the
    /// service's 4 s (DynamoDB Local takes longer than that to create a table when a suite creates
    /// dozens at once on a loaded machine), and at most [`CREATING`] test runs create at a time.
    pub async fn create_on(endpoint: &str) -> Self {
        let (client, calls) = Self::client_for(endpoint).await;
        let prefix = format!("t{}-", uuid::Uuid::new_v4().simple());
        let setup = shared::dynamo::Client::from_conf(
            client
                .config()
                .to_builder()
                .timeout_config(
                    aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                        .operation_timeout(Duration::from_secs(60))
                        .operation_attempt_timeout(Duration::from_secs(60))
                        .build(),
                )
                .build(),
        );
        {
            let _turn = CREATING.acquire().await.expect("never closed");
            devserver::create_tables(&setup, &prefix)
                .await
                .expect("tables are created");
        }
        calls.take();
        Self {
            client,
            calls,
            prefix,
        }
    }

    /// Creates the tables on the test run's DynamoDB Local.
    pub async fn create() -> Self {
        Self::create_on(&dynamodb_endpoint()).await
    }

    /// Writes whole `items` straight into this test's `table` (seed data too large to write
    /// through the routes), 25 to a `BatchWriteItem`, sending again what DynamoDB Local leaves
    /// unprocessed or a loaded machine times out: puts of whole items are safe to repeat.
    pub async fn put_all(&self, table: &str, items: Vec<shared::dynamo::Item>) {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        let requests: Vec<WriteRequest> = items
            .into_iter()
            .map(|item| {
                let put = PutRequest::builder().set_item(Some(item)).build();
                WriteRequest::builder()
                    .put_request(put.expect("an item"))
                    .build()
            })
            .collect();
        for batch in requests.chunks(25) {
            let mut pending = batch.to_vec();
            for _ in 0..5 {
                match self
                    .client
                    .batch_write_item()
                    .request_items(self.table(table), pending.clone())
                    .send()
                    .await
                {
                    Ok(output) => {
                        pending = output
                            .unprocessed_items
                            .unwrap_or_default()
                            .into_values()
                            .flatten()
                            .collect();
                        if pending.is_empty() {
                            break;
                        }
                    }
                    Err(err) => eprintln!("seeding {table} again after {err:?}"),
                }
            }
            assert!(pending.is_empty(), "the seed of {table} is written");
        }
    }

    /// This test's name for a table (`users`, `sessions`, ...).
    pub fn table(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// These tables as a store for [`spawn_app`].
    pub fn store(&self) -> Store {
        Store::Dynamo {
            client: self.client.clone(),
            prefix: self.prefix.clone(),
        }
    }

    /// These tables as a store for [`spawn_app`], reached through another endpoint (a
    /// [`fault_proxy::FaultProxy`] in front of the same DynamoDB Local), with a client of its own.
    pub async fn store_via(&self, endpoint: &str) -> Store {
        Store::Dynamo {
            client: Self::client_for(endpoint).await.0,
            prefix: self.prefix.clone(),
        }
    }
}

/// A DynamoDB Local of a test's own, which it can stop and start again (data kept on disk).
pub struct PrivateDynamoLocal {
    /// Its endpoint.
    pub endpoint: String,
    port: u16,
    data: std::path::PathBuf,
    child: Option<std::process::Child>,
}

impl PrivateDynamoLocal {
    /// Starts one on a free port (needs `DYNAMODB_LOCAL_DIR`, set by `make test`).
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let data =
            std::env::temp_dir().join(format!("ddb-local-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&data).unwrap();
        let mut me = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            data,
            child: None,
        };
        me.resume().await;
        me
    }

    /// Stops it (like a crash: the process is killed).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and data.
    pub async fn resume(&mut self) {
        let dir = std::env::var("DYNAMODB_LOCAL_DIR")
            .expect("DYNAMODB_LOCAL_DIR is not set: run the DynamoDB tests through `make test`");
        let child = std::process::Command::new("java")
            .current_dir(&dir)
            .args([
                "-Xmx256m",
                "-Djava.library.path=./DynamoDBLocal_lib",
                "-jar",
                "DynamoDBLocal.jar",
            ])
            .args(["-port", &self.port.to_string(), "-dbPath"])
            .arg(&self.data)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("java starts DynamoDB Local");
        self.child = Some(child);
        wait_for_port(self.port, Duration::from_secs(30)).await;
    }
}

impl Drop for PrivateDynamoLocal {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// Waits until something accepts connections on `port`.
pub async fn wait_for_port(port: u16, limit: Duration) {
    let started = std::time::Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < limit,
            "nothing listens on port {port} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Declares a conformance suite: each listed generic test runs on the embedded store and, with the
/// `dynamodb-local` feature, on fresh DynamoDB Local tables.
///
/// ```text
/// conformance!(embedded(), dynamo; test_a, test_b);
/// ```
/// `embedded()` is an expression giving a store; `dynamo` a function from `&DynamoTables` to a
/// store. Each test is an `async fn(store: impl TheStore)` in the calling module.
#[macro_export]
macro_rules! conformance {
    ($embedded:expr, $dynamo:expr; $($test:ident),+ $(,)?) => {
        mod embedded_store {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($embedded).await
                }
            )+
        }
        #[cfg(feature = "dynamodb-local")]
        mod dynamodb_store {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $test() {
                    let tables = $crate::DynamoTables::create().await;
                    super::$test($dynamo(&tables)).await
                }
            )+
        }
    };
}

pub mod cloudwatch;
pub mod consistency;
pub mod fault_proxy;
pub mod template;

/// A valid id for tests.
pub fn key(id: &str) -> shared::Key {
    shared::Key::parse(id).expect("a valid test id")
}
