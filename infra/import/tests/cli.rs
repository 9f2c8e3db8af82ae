//! The `convex-import` command as people run it: an export directory into a data directory.

use shared::embedded::EmbeddedDb;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use users::UsersStore;

fn scratch(what: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join(format!("{what}-{}", std::process::id()))
        .join(format!(
            "{:x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An export with two users (one invalid) and a table the service does not hold.
fn export() -> PathBuf {
    let dir = scratch("cli-export");
    let write = |path: &str, text: &str| {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "_tables/documents.jsonl",
        "{\"name\":\"users\",\"id\":10001}\n{\"name\":\"feature_flags\",\"id\":10002}\n",
    );
    write(
        "users/documents.jsonl",
        concat!(
            "{\"_id\":\"k1\",\"_creationTime\":1700000000000.25,\"clerkId\":\"user_1\",\"email\":\"a@example.com\",\"createdAt\":1,\"updatedAt\":2}\n",
            "{\"_id\":\"k2\",\"_creationTime\":1700000000001,\"clerkId\":\"user_2\",\"createdAt\":\"yesterday\",\"updatedAt\":2}\n",
        ),
    );
    write(
        "feature_flags/documents.jsonl",
        "{\"_id\":\"f1\",\"_creationTime\":1,\"flag\":\"beta\"}\n",
    );
    dir
}

fn run(snapshot: &Path, data_dir: &Path, flags: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_convex-import"))
        .arg(snapshot)
        .arg("--data-dir")
        .arg(data_dir)
        .args(flags)
        .env_remove("DATA_DIR")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The summary without its last line (which holds the time taken).
fn table_lines(output: &Output) -> String {
    let stdout = text(&output.stdout);
    let mut lines: Vec<&str> = stdout.lines().collect();
    lines.pop();
    lines.join("\n")
}

async fn user(data_dir: &Path, clerk_id: &str) -> Option<users::User> {
    let db = EmbeddedDb::open(&data_dir.join("embedded.redb")).unwrap();
    let store = users::EmbeddedUsersStore::new(db).unwrap();
    store
        .get(&shared::Key::parse(clerk_id).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn an_export_imports_into_the_data_dir_and_a_second_run_writes_the_same() {
    let (export, data_dir) = (export(), scratch("cli-data"));
    let first = run(&export, &data_dir, &[]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let summary = text(&first.stdout);
    assert!(
        summary.contains("users                              2           1        1"),
        "{summary}"
    );
    assert!(summary.contains("feature_flags"), "{summary}");
    assert!(
        summary.contains("line 2: createdAt: expected a number, got a string"),
        "{summary}"
    );
    assert!(
        summary
            .contains("wrote 1 document(s), skipped 1 invalid or left out and 1 of other tables"),
        "{summary}"
    );
    assert!(text(&first.stderr).contains("users: 1 of 1 documents written"));

    let second = run(&export, &data_dir, &[]);
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert_eq!(table_lines(&first), table_lines(&second));
    let stored = user(&data_dir, "user_1").await.expect("user_1 is imported");
    assert_eq!(stored.email.as_deref(), Some("a@example.com"));
    assert_eq!(user(&data_dir, "user_2").await, None);
}

#[tokio::test]
async fn a_dry_run_prints_what_it_would_write_and_writes_nothing() {
    let (export, data_dir) = (export(), scratch("cli-data"));
    let output = run(&export, &data_dir, &["--dry-run"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let summary = text(&output.stdout);
    assert!(summary.contains("would write"), "{summary}");
    assert!(summary.contains("1 into the embedded users"), "{summary}");
    assert_eq!(user(&data_dir, "user_1").await, None);
}

#[test]
fn strict_fails_and_names_the_bad_line() {
    let (export, data_dir) = (export(), scratch("cli-data"));
    let output = run(&export, &data_dir, &["--strict"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("1 invalid document(s) and --strict is set: nothing was written"),
        "{stderr}"
    );
    assert!(stderr.contains("line 2: createdAt"), "{stderr}");
}

#[test]
fn a_missing_export_is_a_clear_error() {
    let data_dir = scratch("cli-data");
    let output = run(&data_dir.join("nope.zip"), &data_dir, &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("nope.zip"), "{stderr}");
    assert!(stderr.contains("No such file"), "{stderr}");
}
