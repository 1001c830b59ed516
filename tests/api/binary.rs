//! The `castellan` binary itself.

use std::io::{BufRead, BufReader, Lines};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Backend, TestDb, http_client};

pub(crate) const BINARY: &str = env!("CARGO_BIN_EXE_castellan");

/// `castellan serve` in an empty directory on a free loopback port, with the development
/// defaults (no DATABASE_URL, JWT_SECRET or CASTELLAN_ENV), killed when dropped, even by a
/// panic.
pub(crate) struct Serve {
    pub(crate) child: Child,
    /// Kept open to the end: the server writes to stdout after its address, and a closed
    /// pipe would end it.
    _stdout: Lines<BufReader<ChildStdout>>,
    pub(crate) address: String,
}

impl Serve {
    /// Starts the server with `env` added; its stderr goes to `stderr`.
    pub(crate) fn start(dir: &Path, env: &[(&str, &str)], stderr: Stdio) -> Self {
        Self::start_with_args("127.0.0.1", dir, &[], env, stderr)
    }

    /// [`Serve::start`] listening on `host`.
    fn start_on(host: &str, dir: &Path, env: &[(&str, &str)], stderr: Stdio) -> Self {
        Self::start_with_args(host, dir, &[], env, stderr)
    }

    /// As [`Serve::start`] on `host`, with more arguments of `serve` (`--config-sync FILE`).
    pub(crate) fn start_with_args(
        host: &str,
        dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        stderr: Stdio,
    ) -> Self {
        let mut child = castellan(dir)
            .args(["serve", "--host", host, "--port", "0"])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("castellan serve starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let address = stdout
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| {
                // Text: `Castellan is listening on ADDRESS`; JSON logs: one object with it.
                line.strip_prefix("Castellan is listening on ")
                    .map(str::to_string)
                    .or_else(|| {
                        let entry: serde_json::Value = serde_json::from_str(&line).ok()?;
                        entry["fields"]["address"].as_str().map(str::to_string)
                    })
            })
            .expect("the listening address is printed");
        Self {
            child,
            _stdout: stdout,
            address,
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary run in `dir` with none of the settings a developer's environment may hold.
pub(crate) fn castellan(dir: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("JWT_SECRET")
        .env_remove("API_TOKEN_SALT")
        .env_remove("METRICS_TOKEN")
        .env_remove("SERVER_URL")
        .env_remove("CASTELLAN_ENV");
    command
}

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
    let served = Serve::start(dir.path(), &[], Stdio::null());
    let address = served.address.clone();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let page = runtime.block_on(async {
        let client = http_client(Duration::from_secs(5));
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
    drop(served);
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
        !dir.path().join("data/jwt-secret").exists(),
        "the development secrets are kept in the database, not beside it"
    );
}

/// The API-token key `castellan token create` prints in one directory is accepted by the
/// server of the same database started in another, with development secrets (neither
/// `JWT_SECRET` nor `API_TOKEN_SALT` set): both read them from the database.
fn a_key_made_by_the_cli_works_on_the_server_of_its_database(backend: Backend) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (_db, database_url) = runtime.block_on(TestDb::create(backend));
    let (server_dir, cli_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let log = server_dir.path().join("stderr.log");
    let served = Serve::start(
        server_dir.path(),
        &[("DATABASE_URL", &database_url)],
        Stdio::from(std::fs::File::create(&log).unwrap()),
    );
    let created = castellan(cli_dir.path())
        .args(["token", "create", "--name", "ci", "--type", "full-access"])
        .env("DATABASE_URL", &database_url)
        .output()
        .unwrap();
    let cli_stderr = String::from_utf8_lossy(&created.stderr);
    assert!(created.status.success(), "{cli_stderr}");
    let key = String::from_utf8(created.stdout)
        .unwrap()
        .trim()
        .to_string();
    let (status, body) = runtime.block_on(async {
        let response = http_client(Duration::from_secs(5))
            .post(format!("http://{}/graphql", served.address))
            .bearer_auth(&key)
            .json(&serde_json::json!({ "query": "{ usersPermissionsRoles { type } }" }))
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    });
    drop(served);
    assert_eq!(
        status,
        reqwest::StatusCode::OK,
        "the CLI's key was refused: {body}"
    );
    assert!(body.contains("authenticated"), "{body}");
    for stderr in [
        std::fs::read_to_string(&log).unwrap(),
        cli_stderr.to_string(),
    ] {
        assert!(
            stderr.contains(
                "API_TOKEN_SALT is not set: using a development secret kept in the database"
            ),
            "{stderr}"
        );
    }
    assert!(
        !server_dir.path().join("data").exists() && !cli_dir.path().join("data").exists(),
        "no secret is left in a working directory"
    );
}

#[test]
fn a_key_made_by_the_cli_works_on_the_server_of_its_database_sqlite() {
    a_key_made_by_the_cli_works_on_the_server_of_its_database(Backend::Sqlite);
}

#[test]
fn a_key_made_by_the_cli_works_on_the_server_of_its_database_postgres() {
    a_key_made_by_the_cli_works_on_the_server_of_its_database(Backend::Postgres);
}

/// Waits for `child` to exit, at most 10 s (then kills it); its status and stderr.
fn exit_of(mut child: Child) -> (Option<std::process::ExitStatus>, String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status, stderr)
}

/// Production refuses a `JWT_SECRET` or `API_TOKEN_SALT` shorter than 32 bytes, naming the
/// variable, its length and how to make one; with 32 bytes it starts, and warns that
/// `SERVER_URL` is unset.
#[test]
fn production_refuses_short_secrets_and_starts_with_long_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (short, long) = ("s".repeat(31), "l".repeat(32));
    for (variable, jwt_secret, salt) in [
        ("JWT_SECRET", &short, &long),
        ("API_TOKEN_SALT", &long, &short),
    ] {
        let child = castellan(dir.path())
            .args(["serve", "--host", "127.0.0.1", "--port", "0"])
            .env("CASTELLAN_ENV", "production")
            .env("JWT_SECRET", jwt_secret)
            .env("API_TOKEN_SALT", salt)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (status, stderr) = exit_of(child);
        let status = status
            .unwrap_or_else(|| panic!("started in production with a 31-byte {variable}: {stderr}"));
        assert!(!status.success());
        assert!(
            stderr.contains(&format!(
                "{variable} is 31 bytes long; production needs at least 32"
            )) && stderr.contains("openssl rand -base64 48"),
            "{stderr}"
        );
    }

    let log = dir.path().join("stderr.log");
    let served = Serve::start(
        dir.path(),
        &[
            ("CASTELLAN_ENV", "production"),
            ("JWT_SECRET", &long),
            ("API_TOKEN_SALT", &long),
        ],
        Stdio::from(std::fs::File::create(&log).unwrap()),
    );
    drop(served);
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(stderr.contains("SERVER_URL is not set"), "{stderr}");
}

/// In production `/metrics` answers loopback clients only: a client reaching the server on
/// another address of this machine gets 403, whatever `X-Forwarded-For` says.
#[test]
fn production_metrics_answer_loopback_clients_only() {
    // An address of this machine that is not loopback (no packet is sent).
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    let outside = socket
        .connect("192.0.2.1:9")
        .and_then(|()| socket.local_addr())
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
        .expect("this machine has a non-loopback IPv4 address");
    let dir = tempfile::tempdir().unwrap();
    let secret = "p".repeat(48);
    let served = Serve::start_on(
        "0.0.0.0",
        dir.path(),
        &[
            ("CASTELLAN_ENV", "production"),
            ("JWT_SECRET", &secret),
            ("API_TOKEN_SALT", &secret),
            ("SERVER_URL", "https://auth.example.com"),
        ],
        Stdio::null(),
    );
    let port = served.address.rsplit_once(':').unwrap().1.to_string();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = |host: String| {
        runtime.block_on(async {
            http_client(Duration::from_secs(5))
                .get(format!("http://{host}:{port}/metrics"))
                .header("x-forwarded-for", "127.0.0.1")
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    assert_eq!(status("127.0.0.1".into()), reqwest::StatusCode::OK);
    assert_eq!(
        status(outside.to_string()),
        reqwest::StatusCode::FORBIDDEN,
        "from {outside}"
    );
    drop(served);
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

/// `LOG_FORMAT=json`: every log line is one JSON object, and a request's lines carry its id.
#[test]
fn json_logs_carry_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut served = Serve::start(
        dir.path(),
        &[("LOG_FORMAT", "json"), ("RUST_LOG", "info")],
        Stdio::piped(),
    );
    let address = served.address.clone();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let stderr = served.child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(async {
        http_client(Duration::from_secs(5))
            .get(format!("http://{address}/healthz"))
            .header("x-request-id", "json-log-check-1")
            .send()
            .await
            .unwrap()
            .status()
    });
    assert!(status.is_success());

    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    let found = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = lines_rx.recv_timeout(left) else {
            break None;
        };
        let entry: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {line}"));
        seen.push(line);
        if entry["span"]["id"] == "json-log-check-1" {
            break Some(entry);
        }
    };
    drop(served);
    let entry = found.unwrap_or_else(|| panic!("no log line of the request: {seen:#?}"));
    assert_eq!(entry["span"]["path"], "/healthz", "{entry}");
    assert_eq!(entry["level"], "INFO", "{entry}");
    assert!(entry["fields"]["status"].is_number(), "{entry}");

    let refused = Command::new(BINARY)
        .arg("schema")
        .env("LOG_FORMAT", "yaml")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("LOG_FORMAT must be"));
}

/// SIGTERM stops the server gracefully: the logins it is hashing passwords for when the signal
/// comes all get their answer, then the process exits with success and stops listening.
#[test]
fn sigterm_lets_the_requests_in_flight_finish() {
    const LOGINS: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    let mut served = Serve::start(dir.path(), &[], Stdio::null());
    let address = served.address.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = http_client(Duration::from_secs(20));
    let graphql = format!("http://{address}/graphql");
    let post = move |query: &'static str| {
        let (client, graphql) = (client.clone(), graphql.clone());
        async move {
            let response = client
                .post(graphql)
                .json(&serde_json::json!({ "query": query }))
                .send()
                .await?;
            Ok::<_, reqwest::Error>((
                response.status(),
                response.json::<serde_json::Value>().await?,
            ))
        }
    };
    let registered = runtime.block_on(post(
        r#"mutation { register(input: { username: "leaving", email: "leaving@example.com", password: "password-1" }) { jwt } }"#,
    ));
    assert!(
        registered
            .as_ref()
            .is_ok_and(|(_, body)| body["data"]["register"]["jwt"].is_string()),
        "{registered:?}"
    );

    // bcrypt at the default cost keeps each login busy for tens of milliseconds, and both
    // cores can hash only two at a time: when the first answer arrives, the others are in flight.
    let mut logins = tokio::task::JoinSet::new();
    for _ in 0..LOGINS {
        logins.spawn_on(
            post(r#"mutation { login(input: { identifier: "leaving", password: "password-1" }) { jwt } }"#),
            runtime.handle(),
        );
    }
    let mut answers = vec![runtime.block_on(logins.join_next()).unwrap().unwrap()];
    let terminated = Command::new("kill")
        .args(["-TERM", &served.child.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let in_flight = logins.len();
    assert!(
        in_flight > 0,
        "every login finished before SIGTERM: nothing was in flight"
    );
    answers.extend(runtime.block_on(logins.join_all()));
    for answer in &answers {
        assert!(
            answer
                .as_ref()
                .is_ok_and(|(status, body)| status.is_success()
                    && body["data"]["login"]["jwt"].is_string()),
            "a login in flight at SIGTERM got no answer: {answer:?}"
        );
    }

    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(status) = served.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "exit after SIGTERM: {exit}");
    assert!(
        std::net::TcpStream::connect(&address).is_err(),
        "still listening after exit"
    );
    println!(
        "sigterm_lets_the_requests_in_flight_finish: {in_flight} of {LOGINS} logins in flight at SIGTERM, all answered"
    );
}

/// The resident memory of a process, from `/proc/<pid>/status`, in bytes.
fn resident_bytes(pid: u32) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
        .expect("VmRSS in kB");
    kib * 1024
}

/// 1,000 sign-in attempts with 1 MiB identifiers, each a new one, leave the server's memory
/// where it was: the rate limiter keeps a 32-byte digest of an identifier, not the identifier.
/// The real binary in a process of its own, so no other test's allocations are measured.
#[test]
fn huge_identifiers_do_not_grow_the_rate_limiter() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("castellan.toml"),
        "[password]\nbcryptCost = 4\n[graphql]\nmaxBodyBytes = 4194304\n\
         [rateLimit]\nenabled = true\nmaxPerAddress = 1000000\n",
    )
    .unwrap();
    let served = Serve::start(dir.path(), &[], Stdio::null());
    let url = format!("http://{}/graphql", served.address);
    let pid = served.child.id();
    let filler = "x".repeat(1 << 20);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (before, after) = runtime.block_on(async {
        let client = http_client(Duration::from_secs(30));
        let attempt = |n: usize| {
            let body = serde_json::json!({
                "query": "mutation($i: String!) { login(input: { identifier: $i, password: \"wrong-password\" }) { jwt } }",
                "variables": { "i": format!("{n}-{filler}") },
            });
            let request = client.post(&url).json(&body).send();
            async move {
                let body: serde_json::Value = request.await.unwrap().json().await.unwrap();
                assert_eq!(
                    body["errors"][0]["message"], "Invalid identifier or password",
                    "attempt {n}: {body}"
                );
            }
        };
        for n in 0..50 {
            attempt(n).await;
        }
        let before = resident_bytes(pid);
        for n in 50..1_050 {
            attempt(n).await;
        }
        (before, resident_bytes(pid))
    });
    drop(served);
    let mib = |bytes: u64| bytes as f64 / f64::from(1 << 20);
    assert!(
        after <= before + 20 * (1 << 20),
        "resident memory grew from {:.1} MiB to {:.1} MiB",
        mib(before),
        mib(after)
    );
}
