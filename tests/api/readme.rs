//! README.md, followed to the letter: every `sh` block runs, in order, in one shell, in a fresh
//! directory, against a fresh server started from the built binary with no configuration, and
//! every answer README shows (a `# {…}` line after a command) must be what the command printed.
//!
//! README's PostgreSQL block runs against the local server (the one the suite uses), where the
//! test makes sure the role and database it creates did not exist, and drops them afterwards.
//! The directory holds a Strapi project's SQLite database (`strapi/.tmp/data.db`, the fixture of
//! `import.rs`), which "Moving from Strapi" imports. In the blocks, `castellan …` is the built binary and `http://localhost:1337` the server the
//! test started (on a free port). Two blocks are not run: the set-up block (`cargo run
//! --release` is how the test's server was built and started) and `cargo test` (this suite).
//! In a shown answer, `…` inside a string stands for any text.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::binary::{BINARY, Serve};

struct Block {
    /// The line of README.md where the block's text starts.
    line: usize,
    text: String,
}

/// The `sh` blocks of `markdown`.
fn shell_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate() {
        match &mut current {
            None if line.trim_start() == "```sh" => {
                current = Some(Block {
                    line: i + 2,
                    text: String::new(),
                });
            }
            Some(_) if line.trim_start() == "```" => blocks.extend(current.take()),
            Some(block) => {
                block.text.push_str(line);
                block.text.push('\n');
            }
            None => {}
        }
    }
    blocks
}

/// Whether the block is one the test cannot run: it builds and starts the server, or runs
/// this suite.
fn skipped(block: &Block) -> bool {
    block.text.lines().any(|l| l.trim_start().starts_with("cargo test"))
}

/// The answers a block shows: its comment lines holding JSON.
fn shown_answers(block: &Block) -> Vec<Value> {
    block
        .text
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("# "))
        .filter(|l| l.starts_with('{') || l.starts_with('['))
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("README line `{l}` is not JSON: {e}"))
        })
        .collect()
}

/// The JSON documents in `output`, in order (other text between them is skipped).
fn printed_answers(output: &str) -> Vec<Value> {
    let mut found = Vec::new();
    let mut rest = output;
    while let Some(start) = rest.find(['{', '[']) {
        let mut stream = serde_json::Deserializer::from_str(&rest[start..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(value)) => {
                found.push(value);
                rest = &rest[start + stream.byte_offset()..];
            }
            _ => rest = &rest[start + 1..],
        }
    }
    found
}

/// Whether `actual` is what README shows as `shown`: the same shape and values, where a string
/// holding `…` matches any text in its place.
fn matches(shown: &Value, actual: &Value) -> bool {
    match (shown, actual) {
        (Value::String(s), Value::String(a)) => match s.split_once('…') {
            Some((prefix, suffix)) => {
                a.len() >= prefix.len() + suffix.len() && a.starts_with(prefix) && a.ends_with(suffix)
            }
            None => s == a,
        },
        (Value::Array(s), Value::Array(a)) => {
            s.len() == a.len() && s.iter().zip(a).all(|(s, a)| matches(s, a))
        }
        (Value::Object(s), Value::Object(a)) => {
            s.len() == a.len()
                && s.iter().all(|(k, v)| a.get(k).is_some_and(|a| matches(v, a)))
        }
        (s, a) => s == a,
    }
}

/// The block as the test's shell runs it: against the test's server and binary.
fn runnable(block: &Block, address: &str) -> String {
    block
        .text
        .replace("http://localhost:1337", &format!("http://{address}"))
        .replace("cargo run --release --", "castellan")
}

/// Runs the blocks in one shell; what each printed on stdout, by block.
fn run_blocks(dir: &Path, blocks: &[&Block], address: &str) -> Vec<String> {
    let mut script = String::from("set -euo pipefail\ncastellan() { \"$CASTELLAN\" \"$@\"; }\n");
    for (i, block) in blocks.iter().enumerate() {
        script.push_str(&format!("printf '\\n@@block {i}@@\\n'\n"));
        script.push_str(&runnable(block, address));
    }
    script.push_str("printf '\\n@@end@@\\n'\n");
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir)
        .env("CASTELLAN", BINARY)
        .env_remove("DATABASE_URL")
        .env_remove("JWT_SECRET")
        .env_remove("API_TOKEN_SALT")
        .env_remove("CASTELLAN_ENV")
        .stdin(Stdio::null())
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let reached = (0..blocks.len())
        .filter(|i| stdout.contains(&format!("@@block {i}@@")))
        .count();
    assert!(
        output.status.success() && stdout.contains("@@end@@"),
        "README's block at line {} failed ({}):\n{stderr}\nstdout:\n{stdout}",
        blocks[reached.saturating_sub(1)].line,
        output.status
    );
    let mut outputs = vec![String::new(); blocks.len()];
    let mut current = None;
    for line in stdout.lines() {
        if let Some(n) = line.strip_prefix("@@block ").and_then(|r| r.strip_suffix("@@")) {
            current = n.parse::<usize>().ok();
        } else if line == "@@end@@" {
            current = None;
        } else if let Some(i) = current {
            outputs[i].push_str(line);
            outputs[i].push('\n');
        }
    }
    outputs
}

/// The role and database `castellan` that README's PostgreSQL block creates on the local
/// server: the test refuses to run when they exist already (they would be someone's), and
/// drops them when it ends.
struct ReadmePostgres;

impl ReadmePostgres {
    fn psql(sql: &str) -> String {
        let output = Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-tA", "-c", sql])
            .output()
            .expect("psql runs");
        assert!(output.status.success(), "psql -c {sql}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    fn claim() -> Self {
        let taken = Self::psql(
            "SELECT (SELECT count(*) FROM pg_database WHERE datname = 'castellan') + \
             (SELECT count(*) FROM pg_roles WHERE rolname = 'castellan')",
        );
        assert_eq!(
            taken, "0",
            "the local PostgreSQL server already has a database or role named `castellan`, \
             which README's PostgreSQL block creates; drop them (or run this test elsewhere)"
        );
        Self
    }
}

impl Drop for ReadmePostgres {
    fn drop(&mut self) {
        // No assertion here: a drop during a failing test's unwinding must not panic again.
        for sql in ["DROP DATABASE IF EXISTS castellan WITH (FORCE)", "DROP ROLE IF EXISTS castellan"] {
            let _ = Command::new("psql")
                .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c", sql])
                .output();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shell_block_of_the_readme_runs_and_answers_as_shown() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let blocks = shell_blocks(&readme);
    assert!(blocks.len() >= 5, "README has shell blocks");
    let run: Vec<&Block> = blocks.iter().filter(|b| !skipped(b)).collect();
    let dir = tempfile::tempdir().expect("a fresh directory");
    // The Strapi project that "Moving from Strapi" imports, where Strapi keeps its SQLite file.
    let (_strapi, _) = crate::import::strapi_on_sqlite(dir.path(), false).await;
    std::fs::create_dir_all(dir.path().join("strapi/.tmp")).expect("strapi/.tmp");
    std::fs::rename(dir.path().join("strapi.db"), dir.path().join("strapi/.tmp/data.db"))
        .expect("the Strapi database in place");
    let _postgres = ReadmePostgres::claim();
    let server = Serve::start(dir.path(), &[], Stdio::null());
    let outputs = run_blocks(dir.path(), &run, &server.address);
    for (block, output) in run.iter().zip(&outputs) {
        let shown = shown_answers(block);
        let printed = printed_answers(output);
        assert_eq!(
            shown.len(),
            printed.len(),
            "README's block at line {} shows {} answers but printed {}:\n{output}",
            block.line,
            shown.len(),
            printed.len()
        );
        for (shown, printed) in shown.iter().zip(&printed) {
            assert!(
                matches(shown, printed),
                "README's block at line {} shows\n{shown}\nbut the command printed\n{printed}",
                block.line
            );
        }
    }
}

#[test]
fn the_readme_checker_tells_matches_from_differences() {
    let shown: Value = serde_json::json!({"jwt": "eyJ…", "user": {"id": "1"}});
    assert!(matches(&shown, &serde_json::json!({"jwt": "eyJabc", "user": {"id": "1"}})));
    assert!(!matches(&shown, &serde_json::json!({"jwt": "xyz", "user": {"id": "1"}})));
    assert!(!matches(&shown, &serde_json::json!({"jwt": "eyJabc", "user": {"id": "2"}})));
    assert!(!matches(&shown, &serde_json::json!({"jwt": "eyJabc", "user": {"id": "1", "x": 1}})));
    assert_eq!(
        printed_answers("Created user\n{\"a\":1}{\"b\":[2]}\ntext [ not json\n[3]"),
        vec![serde_json::json!({"a": 1}), serde_json::json!({"b": [2]}), serde_json::json!([3])]
    );
    let blocks = shell_blocks("x\n```sh\necho 1\n# {\"a\": 1}\n```\n```toml\nx = 1\n```\n");
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].line, 3);
    assert_eq!(shown_answers(&blocks[0]), vec![serde_json::json!({"a": 1})]);
}
