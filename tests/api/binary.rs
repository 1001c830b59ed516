//! The `castellan` binary itself.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_castellan");

/// `schema.graphql` at the root is the SDL the binary prints.
#[test]
fn schema_graphql_equals_castellan_schema() {
    let output = Command::new(BINARY)
        .arg("schema")
        .output()
        .expect("castellan schema runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).expect("UTF-8");
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql exists at the repository root");
    assert!(
        printed == committed,
        "schema.graphql differs from the running schema: run `cargo run -- schema > schema.graphql` and commit it"
    );
}

/// `castellan serve` in an empty directory: SQLite under ./data, GraphiQL answered within a second.
#[test]
fn serve_in_an_empty_directory_answers_graphiql_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = Command::new(BINARY)
        .args(["serve", "--host", "127.0.0.1", "--port", "0"])
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("JWT_SECRET")
        .env_remove("CASTELLAN_ENV")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("castellan serve starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let address = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            line.strip_prefix("Castellan is listening on ")
                .map(str::to_string)
        })
        .expect("the listening address is printed");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let page = runtime.block_on(async {
        let client = reqwest::Client::new();
        loop {
            match client.get(format!("http://{address}/graphql")).send().await {
                Ok(response) => break response.text().await.unwrap(),
                Err(_) if started.elapsed() < Duration::from_secs(5) => {
                    tokio::time::sleep(Duration::from_millis(10)).await
                }
                Err(e) => panic!("no answer: {e}"),
            }
        }
    });
    let elapsed = started.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        page.to_lowercase().contains("graphiql"),
        "not GraphiQL: {page}"
    );
    assert!(
        elapsed < Duration::from_secs(1),
        "first answer after {elapsed:?}"
    );
    assert!(
        dir.path().join("data/castellan.db").exists(),
        "the SQLite file lives under ./data"
    );
    assert!(
        dir.path().join("data/jwt-secret").exists(),
        "the development secret is kept under ./data"
    );
}

/// Production refuses to start without `JWT_SECRET`, and says so.
#[test]
fn production_without_jwt_secret_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BINARY)
        .args(["serve", "--port", "0"])
        .current_dir(dir.path())
        .env("CASTELLAN_ENV", "production")
        .env_remove("JWT_SECRET")
        .env_remove("DATABASE_URL")
        .output()
        .expect("castellan runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("JWT_SECRET"), "{stderr}");
}
