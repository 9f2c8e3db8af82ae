//! The `devserver` binary as a developer runs it: first run with no setup, data kept across restarts.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Server {
    child: Child,
    base: String,
    key: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on a free port and reads the key and address it prints.
fn start(data_dir: &std::path::Path) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_devserver"))
        .env("DATA_DIR", data_dir)
        .env("PORT", port.to_string())
        .env_remove("CONVEX_ADMIN_KEY")
        .env_remove("CONVEX_DEPLOYMENT_KEY")
        .env_remove("DYNAMODB_ENDPOINT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut key = None;
    let stderr = BufReader::new(child.stderr.take().unwrap());
    for line in stderr.lines() {
        let line = line.unwrap();
        if let Some(k) = line.split("Authorization: Bearer ").nth(1) {
            key = Some(k.trim().to_owned());
        }
        if line.contains("listening on") {
            break;
        }
    }
    let key = key.expect("the server prints the generated key");
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        key,
    }
}

async fn post(server: &Server, path: &str, body: &str) -> serde_json::Value {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", server.base))
        .header("authorization", format!("Bearer {}", server.key))
        .body(body.to_owned())
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn first_run_generates_a_key_and_data_and_key_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("devserver-{}", uuid::Uuid::new_v4().simple()));
    let first = start(&dir);
    assert!(first.key.starts_with("local-"));
    post(&first, "/users/ensure", r#"{"clerkId":"kept"}"#).await;
    let key = first.key.clone();
    drop(first);

    let second = start(&dir);
    assert_eq!(second.key, key, "the saved key is reused");
    let user = post(&second, "/users/get", r#"{"clerkId":"kept"}"#).await;
    assert_eq!(user["clerkId"], "kept");
    drop(second);
    std::fs::remove_dir_all(&dir).unwrap();
}
