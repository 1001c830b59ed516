//! Faults of the world around Castellan: its PostgreSQL restarted under load, its process
//! killed with SIGKILL in the middle of SQLite writes. (A hanging SMTP server is in `hostile`.)

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Backend, TEST_JWT_SECRET, TestServer, free_port, http_client, user_id};

const BINARY: &str = env!("CARGO_BIN_EXE_castellan");

/// How long any single request of these tests may take before it counts as a hang.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

const REGISTER: &str = "mutation($input: UsersPermissionsRegisterInput!) { register(input: $input) { jwt user { id username } } }";
const LOGIN: &str = "mutation($input: UsersPermissionsLoginInput!) { login(input: $input) { jwt user { id username } } }";
const ME: &str = "{ me { id username } }";
const ROLES: &str = "{ usersPermissionsRoles { name } }";

fn client() -> reqwest::Client {
    http_client(REQUEST_TIMEOUT)
}

/// POST /graphql; the status and the body text, or the transport error.
async fn post(
    client: &reqwest::Client,
    base: &str,
    bearer: Option<&str>,
    query: &str,
    variables: Value,
) -> Result<(StatusCode, String), String> {
    let mut request = client
        .post(format!("{base}/graphql"))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = request.send().await.map_err(|e| format!("{e:?}"))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| format!("body: {e:?}"))?;
    Ok((status, text))
}

/// A GET; the status and the body text, or the transport error.
async fn get(
    client: &reqwest::Client,
    base: &str,
    path: &str,
) -> Result<(StatusCode, String), String> {
    let response = client
        .get(format!("{base}{path}"))
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| format!("body: {e:?}"))?;
    Ok((status, text))
}

/// What one answer of the GraphQL API was.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// 200, no errors, `data.<field>` present.
    Success,
    /// An error a client can act on: JSON, every error with a message and `extensions.code`
    /// (or Strapi's REST envelope on a 4xx/5xx), and an internal error that shows no detail.
    Clean(String),
    /// Anything else: no answer, a reset, a body that is not JSON, a 5xx without an envelope,
    /// an error without a code, an internal error that leaks its cause.
    Unclean(String),
}

fn judge(answer: &Result<(StatusCode, String), String>, field: &str) -> Verdict {
    let (status, text) = match answer {
        Ok(answer) => answer,
        Err(e) => return Verdict::Unclean(format!("no answer: {e}")),
    };
    let Ok(body) = serde_json::from_str::<Value>(text) else {
        return Verdict::Unclean(format!("{status} with a body that is not JSON: {text}"));
    };
    let errors = body["errors"].as_array().cloned().unwrap_or_default();
    if *status == StatusCode::OK && errors.is_empty() {
        return if body["data"][field].is_null() {
            Verdict::Unclean(format!(
                "200 without errors and without data.{field}: {text}"
            ))
        } else {
            Verdict::Success
        };
    }
    if errors.is_empty() {
        // Only Strapi's REST envelope is acceptable without a GraphQL error list.
        return match body["error"]["name"].as_str() {
            Some(name) if !status.is_success() => Verdict::Clean(name.to_string()),
            _ => Verdict::Unclean(format!("{status} without an error envelope: {text}")),
        };
    }
    let mut codes = Vec::new();
    for error in &errors {
        let (Some(message), Some(code)) = (
            error["message"].as_str(),
            error["extensions"]["code"].as_str(),
        ) else {
            return Verdict::Unclean(format!(
                "{status}, an error without message or code: {text}"
            ));
        };
        if code == "INTERNAL_SERVER_ERROR" && message != "Internal Server Error" {
            return Verdict::Unclean(format!(
                "{status}, an internal error shows its cause: {text}"
            ));
        }
        codes.push(code.to_string());
    }
    if status.is_server_error() && !codes.iter().all(|c| c == "INTERNAL_SERVER_ERROR") {
        return Verdict::Unclean(format!("{status} for a client error: {text}"));
    }
    Verdict::Clean(format!("{status} {}", codes.join(",")))
}

// ---------------------------------------------------------------------------------------------
// A private PostgreSQL cluster, to be stopped and started without disturbing the other tests.
// ---------------------------------------------------------------------------------------------

/// A PostgreSQL cluster of its own in a temporary directory, on a free port. Dropping it stops
/// the server (immediately) and removes the directory, also when the test failed.
struct PrivateCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// PostgreSQL refuses to run as root: then its tools run as the `postgres` user.
    as_postgres: bool,
}

impl PrivateCluster {
    /// `initdb` and `pg_ctl start` (blocking).
    fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("castellan-pg-")
            .tempdir()
            .expect("temporary directory");
        let cluster = Self {
            bin: postgres_bin_dir(),
            dir,
            port: free_port(),
            as_postgres: effective_uid_is_root(),
        };
        if cluster.as_postgres {
            let mut chown = Command::new("chown");
            chown
                .arg("-R")
                .arg("postgres:postgres")
                .arg(cluster.dir.path());
            cluster.run(chown, "chown");
        }
        let mut initdb = cluster.tool("initdb");
        initdb.arg("-D").arg(cluster.data()).args([
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "--encoding=UTF8",
            "--locale=C",
        ]);
        cluster.run(initdb, "initdb");
        cluster.up();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A PostgreSQL tool, run as `postgres` when we are root.
    fn tool(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        // The tools want a working directory they may read.
        command.current_dir(self.dir.path());
        command
    }

    fn run(&self, mut command: Command, what: &str) {
        let output = command
            .output()
            .unwrap_or_else(|e| panic!("{what} does not run: {e}"));
        assert!(
            output.status.success(),
            "{what} failed ({}):\n{}\n{}\nlog:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(self.log()).unwrap_or_default()
        );
    }

    /// `pg_ctl start`, waiting until it accepts connections.
    fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let mut pg_ctl = self.tool("pg_ctl");
        pg_ctl
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.log())
            .args(["-o", &options, "-w", "-t", "60", "start"]);
        self.run(pg_ctl, "pg_ctl start");
    }

    /// `pg_ctl stop -m fast`: sessions are ended, the server is gone when this returns.
    fn down(&self) {
        let mut pg_ctl = self.tool("pg_ctl");
        pg_ctl
            .arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "-t", "60", "stop"]);
        self.run(pg_ctl, "pg_ctl stop");
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let mut pg_ctl = self.tool("pg_ctl");
        pg_ctl
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = pg_ctl.status();
        // The TempDir removes the directory after this.
    }
}

/// The directory of `initdb` and `pg_ctl`: `pg_config --bindir`, else the newest
/// `/usr/lib/postgresql/*/bin`.
fn postgres_bin_dir() -> PathBuf {
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output()
        && output.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if dir.join("initdb").exists() {
            return dir;
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .expect("PostgreSQL's initdb and pg_ctl (pg_config --bindir, or /usr/lib/postgresql/*/bin)")
}

/// Whether this process runs with effective uid 0 (from `/proc/self/status`).
fn effective_uid_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?.to_string();
            line.split_whitespace().nth(2).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

/// Runs blocking `work` with the cluster off the runtime's workers.
async fn with_cluster(cluster: &Arc<PrivateCluster>, work: fn(&PrivateCluster)) {
    let cluster = cluster.clone();
    tokio::task::spawn_blocking(move || work(&cluster))
        .await
        .expect("pg_ctl");
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// One request of the load and how it went.
struct Sample {
    kind: &'static str,
    started: Instant,
    finished: Instant,
    verdict: Verdict,
}

/// Workers sending `me`, `usersPermissionsRoles`, `login` and `register` until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<Vec<Sample>>>,
}

impl Load {
    fn start(base: &str, member: &str, reader: &str, workers: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..workers)
            .map(|worker| {
                let (base, member, reader) =
                    (base.to_string(), member.to_string(), reader.to_string());
                let stop = stop.clone();
                tokio::spawn(async move {
                    let client = client();
                    let mut samples = Vec::new();
                    for n in 0.. {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let started = Instant::now();
                        let (kind, verdict) =
                            load_request(&client, &base, &member, &reader, worker + n).await;
                        samples.push(Sample {
                            kind,
                            started,
                            finished: Instant::now(),
                            verdict,
                        });
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    samples
                })
            })
            .collect();
        Self { stop, workers }
    }

    async fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        let mut samples = Vec::new();
        for worker in self.workers {
            samples.extend(worker.await.expect("a load worker panicked"));
        }
        samples
    }
}

/// The `turn`-th request of the load: `me`, the roles (a database read), a login or a
/// registration (a database write), in turn.
async fn load_request(
    client: &reqwest::Client,
    base: &str,
    member: &str,
    reader: &str,
    turn: usize,
) -> (&'static str, Verdict) {
    match turn % 4 {
        0 => {
            let answer = post(client, base, Some(member), ME, json!({})).await;
            ("me", judge(&answer, "me"))
        }
        1 => {
            let answer = post(client, base, Some(reader), ROLES, json!({})).await;
            ("roles", judge(&answer, "usersPermissionsRoles"))
        }
        2 => {
            let input = json!({ "identifier": "member", "password": "member-password" });
            let answer = post(client, base, None, LOGIN, json!({ "input": input })).await;
            ("login", judge(&answer, "login"))
        }
        _ => {
            let name = format!("load-{}", castellan::util::random_alphanumeric(12));
            let email = format!("{name}@example.com");
            let input = json!({ "username": name, "email": email, "password": "load-password" });
            let answer = post(client, base, None, REGISTER, json!({ "input": input })).await;
            ("register", judge(&answer, "register"))
        }
    }
}

/// Registers a fresh user and logs them in; whether both worked.
async fn sign_up_and_in(client: &reqwest::Client, base: &str, name: &str) -> bool {
    let answer = post(
        client,
        base,
        None,
        REGISTER,
        json!({ "input": {
            "username": name,
            "email": format!("{name}@example.com"),
            "password": "fresh-password",
        } }),
    )
    .await;
    if judge(&answer, "register") != Verdict::Success {
        return false;
    }
    let answer = post(
        client,
        base,
        None,
        LOGIN,
        json!({ "input": { "identifier": name, "password": "fresh-password" } }),
    )
    .await;
    judge(&answer, "login") == Verdict::Success
}

/// PostgreSQL stops and starts again under load: while it is away every request gets an answer
/// (a success or a clean error), `/readyz` says 503 and `/healthz` 200; once it is back the
/// same Castellan, never restarted, serves everything again, its change listener included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_under_load() {
    let began = Instant::now();
    let cluster = Arc::new(
        tokio::task::spawn_blocking(PrivateCluster::start)
            .await
            .expect("private PostgreSQL cluster"),
    );
    let url = cluster.url();
    let server = TestServer::start_with(Backend::Sqlite, {
        let url = url.clone();
        move |config| config.database_url = url
    })
    .await;
    assert_eq!(server.app.db.backend(), castellan::db::Backend::Postgres);
    let reader = server
        .user_with_grants("role-reader", &["plugin::users-permissions.role.find"])
        .await;
    let (member, member_user) = server
        .register("member", "member@example.com", "member-password")
        .await;
    let probe = client();
    let base = server.url.clone();
    let (status, _) = get(&probe, &base, "/readyz").await.expect("/readyz");
    assert_eq!(status, StatusCode::OK);

    let load = Load::start(&base, &member, &reader, 6);
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The outage.
    let stopping = Instant::now();
    with_cluster(&cluster, PrivateCluster::down).await;
    let stopped = Instant::now();
    let mut readiness_checks = 0;
    while stopped.elapsed() < Duration::from_secs(2) || readiness_checks < 3 {
        let (status, text) = get(&probe, &base, "/readyz")
            .await
            .expect("/readyz answers while PostgreSQL is down");
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "/readyz with PostgreSQL down: {text}"
        );
        let body: Value = serde_json::from_str(&text).expect("/readyz answers JSON");
        assert_eq!(
            body,
            json!({ "status": "unavailable", "reason": "database" })
        );
        let (status, text) = get(&probe, &base, "/healthz")
            .await
            .expect("/healthz answers while PostgreSQL is down");
        assert_eq!(
            status,
            StatusCode::OK,
            "/healthz with PostgreSQL down: {text}"
        );
        readiness_checks += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A request that needs the database fails, quickly and cleanly.
    let asked = Instant::now();
    let answer = post(
        &probe,
        &base,
        None,
        REGISTER,
        json!({ "input": {
            "username": "during-outage",
            "email": "during-outage@example.com",
            "password": "outage-password",
        } }),
    )
    .await;
    let took = asked.elapsed();
    assert_eq!(
        judge(&answer, "register"),
        Verdict::Clean("200 OK INTERNAL_SERVER_ERROR".into()),
        "register with PostgreSQL down: {answer:?}"
    );
    assert!(
        took < Duration::from_secs(5),
        "register with PostgreSQL down took {took:?}"
    );

    // PostgreSQL comes back; Castellan recovers by itself.
    with_cluster(&cluster, PrivateCluster::up).await;
    let restarted = Instant::now();
    let mut attempt = 0;
    let recovered = loop {
        attempt += 1;
        let ready = matches!(get(&probe, &base, "/readyz").await, Ok((StatusCode::OK, _)));
        if ready && sign_up_and_in(&probe, &base, &format!("after-restart-{attempt}")).await {
            break Instant::now();
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(15),
            "not recovered 15 s after PostgreSQL came back (attempt {attempt})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let samples = load.finish().await;

    // Every answer was a success or a clean error; none hung, none was cut.
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    let mut slowest = Duration::ZERO;
    let mut unclean = Vec::new();
    for sample in &samples {
        slowest = slowest.max(sample.finished - sample.started);
        let outcome = match &sample.verdict {
            Verdict::Success => "ok".to_string(),
            Verdict::Clean(code) => format!("clean error {code}"),
            Verdict::Unclean(what) => {
                unclean.push(format!("{}: {what}", sample.kind));
                "UNCLEAN".to_string()
            }
        };
        *tally
            .entry(format!("{} {outcome}", sample.kind))
            .or_default() += 1;
    }
    let before: Vec<&Sample> = samples.iter().filter(|s| s.finished < stopping).collect();
    let after: Vec<&Sample> = samples.iter().filter(|s| s.started > recovered).collect();
    let ok = samples
        .iter()
        .filter(|s| s.verdict == Verdict::Success)
        .count();
    println!(
        "postgres_restart_under_load: {} requests, {ok} ok, {} clean errors, {} unclean; \
         slowest {slowest:?}; outage {:?}, recovered {:?} after PostgreSQL was back ({attempt} probes); \
         {} requests before the outage, {} after recovery",
        samples.len(),
        samples
            .iter()
            .filter(|s| matches!(s.verdict, Verdict::Clean(_)))
            .count(),
        unclean.len(),
        restarted - stopped,
        recovered - restarted,
        before.len(),
        after.len(),
    );
    for (what, count) in &tally {
        println!("  {what}: {count}");
    }
    assert!(
        unclean.is_empty(),
        "answers that are not clean: {unclean:#?}"
    );
    assert!(
        !before.is_empty() && !after.is_empty(),
        "the load ran before and after the outage"
    );
    for sample in before.iter().chain(&after) {
        assert_eq!(
            sample.verdict,
            Verdict::Success,
            "{} with PostgreSQL up failed",
            sample.kind
        );
    }

    // The change listener reconnected: a change announced by another instance on this
    // PostgreSQL (blocking `member`) reaches this one long before its cache would expire.
    let other =
        TestServer::start_with(Backend::Sqlite, move |config| config.database_url = url).await;
    // (diesel's `RunQueryDsl::load` would shadow `AtomicBool::load` in the whole file.)
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let mut pg = AsyncPgConnection::establish(&cluster.url())
        .await
        .expect("connect to the private cluster");
    let listening = Instant::now();
    loop {
        let listeners = diesel::sql_query(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE query LIKE 'LISTEN castellan_changes%'",
        )
        .get_result::<Count>(&mut pg)
        .await
        .expect("count the listeners")
        .n;
        if listeners >= 2 {
            break;
        }
        assert!(
            listening.elapsed() < Duration::from_secs(15),
            "the change listeners are not both connected ({listeners})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, text) = post(&probe, &base, Some(&member), ME, json!({}))
        .await
        .expect("me");
    assert_eq!(
        judge(&Ok((status, text.clone())), "me"),
        Verdict::Success,
        "{text}"
    );
    let id = user_id(&member_user);
    other
        .sql(&format!(
            "UPDATE up_users SET blocked = true WHERE id = {id}"
        ))
        .await;
    other
        .app
        .changed(castellan::changes::Change::User(id))
        .await
        .expect("announce the block");
    let announced = Instant::now();
    loop {
        let (status, _) = post(&probe, &base, Some(&member), ME, json!({}))
            .await
            .expect("me");
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            announced.elapsed() < Duration::from_secs(5),
            "a block announced after the restart is not enforced by the restarted-on instance"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "postgres_restart_under_load: block seen through the reconnected listener after {:?}; test took {:?}",
        announced.elapsed(),
        began.elapsed()
    );
}

/// A PostgreSQL that accepts connections but never answers (hung, or behind a proxy whose
/// backend is gone): requests that need it still get a clean error in bounded time, `/readyz`
/// says 503, and all is well once the real server is back. Without the bounded waits of
/// `Db::conn` and the change listener, `/readyz` and every request that needs a new
/// connection would wait as long as the client does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unresponsive_postgres_gets_clean_errors_in_bounded_time() {
    let cluster = Arc::new(
        tokio::task::spawn_blocking(PrivateCluster::start)
            .await
            .expect("private PostgreSQL cluster"),
    );
    let url = cluster.url();
    let server =
        TestServer::start_with(Backend::Sqlite, move |config| config.database_url = url).await;
    server
        .register("member", "member@example.com", "member-password")
        .await;
    with_cluster(&cluster, PrivateCluster::down).await;
    // In its place, a server that accepts and never says a word.
    let silent = tokio::net::TcpListener::bind(("127.0.0.1", cluster.port))
        .await
        .expect("bind the port of the stopped cluster");
    let silence = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let probe = client();
    let base = server.url.clone();
    let login = json!({ "input": { "identifier": "member", "password": "member-password" } });
    let asked = Instant::now();
    let (ready, login_answer, health) = tokio::join!(
        get(&probe, &base, "/readyz"),
        post(&probe, &base, None, LOGIN, login.clone()),
        get(&probe, &base, "/healthz"),
    );
    let took = asked.elapsed();
    println!("unresponsive PostgreSQL: answers after {took:?}: {ready:?} {login_answer:?}");
    assert!(
        matches!(ready, Ok((StatusCode::SERVICE_UNAVAILABLE, _))),
        "/readyz with an unresponsive PostgreSQL: {ready:?}"
    );
    assert!(
        matches!(health, Ok((StatusCode::OK, _))),
        "/healthz: {health:?}"
    );
    assert!(
        matches!(judge(&login_answer, "login"), Verdict::Clean(_)),
        "login with an unresponsive PostgreSQL: {login_answer:?}"
    );

    // The real server comes back: the silent one goes, its connections close.
    silence.abort();
    let _ = silence.await;
    with_cluster(&cluster, PrivateCluster::up).await;
    let restarted = Instant::now();
    loop {
        let answer = post(&probe, &base, None, LOGIN, login.clone()).await;
        if judge(&answer, "login") == Verdict::Success {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(15),
            "not recovered 15 s after PostgreSQL came back: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// SIGKILL during SQLite writes.
// ---------------------------------------------------------------------------------------------

/// A `castellan serve` process in `dir` (its `castellan.toml` there); killed when dropped.
struct Served {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Served {
    async fn start(dir: &Path, name: &str) -> Self {
        let log = dir.join(format!("{name}.log"));
        let mut child = Command::new(BINARY)
            .args(["serve", "--host", "127.0.0.1", "--port", "0"])
            .current_dir(dir)
            .env("JWT_SECRET", TEST_JWT_SECRET)
            .env("API_TOKEN_SALT", "castellan-test-salt-0123456789abcdef")
            .env("RUST_LOG", "warn")
            .env_remove("DATABASE_URL")
            .env_remove("HOST")
            .env_remove("PORT")
            .env_remove("CASTELLAN_ENV")
            .env_remove("SMTP_URL")
            .env_remove("REDIS_URL")
            .env_remove("SERVER_URL")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("castellan serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = tokio::sync::oneshot::channel();
        // Reads the address, then keeps draining stdout: the server must never write to a
        // closed pipe.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(address) = line.strip_prefix("Castellan is listening on ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(address.to_string());
                }
            }
        });
        let mut served = Self {
            child,
            base: String::new(),
            log,
        };
        match tokio::time::timeout(Duration::from_secs(30), rx).await {
            Ok(Ok(address)) => served.base = format!("http://{address}"),
            _ => panic!("{name} printed no address; its log:\n{}", served.log_text()),
        }
        let client = client();
        let started = Instant::now();
        loop {
            if let Ok((StatusCode::OK, _)) = get(&client, &served.base, "/healthz").await {
                break served;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{name} does not answer /healthz; its log:\n{}",
                served.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Registers users one after another until `killed`; those answered with a JWT go to
/// `acknowledged`. Returns the failures seen before the kill (there should be none) and how
/// many requests the kill cut (0 or 1).
async fn register_until_killed(
    base: String,
    worker: usize,
    killed: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<Vec<(String, String)>>>,
) -> (Vec<String>, usize) {
    let client = client();
    let mut failures = Vec::new();
    for n in 0.. {
        if killed.load(Ordering::SeqCst) {
            break;
        }
        let (name, password) = (format!("w{worker}n{n}"), format!("password-{worker}-{n}"));
        let email = format!("{name}@example.com");
        let input = json!({ "username": name, "email": email, "password": password });
        let answer = post(&client, &base, None, REGISTER, json!({ "input": input })).await;
        let jwt = answer
            .as_ref()
            .ok()
            .and_then(|(_, text)| serde_json::from_str::<Value>(text).ok())
            .and_then(|body| body["data"]["register"]["jwt"].as_str().map(str::to_string));
        match (judge(&answer, "register"), jwt) {
            (Verdict::Success, Some(_)) => acknowledged.lock().unwrap().push((name, password)),
            // No answer: the server is gone.
            _ if killed.load(Ordering::SeqCst) => return (failures, 1),
            (verdict, _) => failures.push(format!("{name}: {verdict:?}")),
        }
    }
    (failures, 0)
}

/// `castellan serve` on SQLite is killed with SIGKILL while eight clients register: it starts
/// again on the same file, the file is intact, and every registration that was answered with a
/// JWT can log in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_concurrent_sqlite_registrations() {
    use std::os::unix::process::ExitStatusExt;

    let began = Instant::now();
    let dir = tempfile::tempdir().expect("temporary directory");
    let database = dir.path().join("castellan.db");
    std::fs::write(
        dir.path().join("castellan.toml"),
        format!(
            "[database]\nurl = \"sqlite://{}\"\n\n[password]\nbcryptCost = 4\n\n[rateLimit]\nenabled = false\n",
            database.display()
        ),
    )
    .expect("castellan.toml");
    let mut first = Served::start(dir.path(), "first").await;

    let killed = Arc::new(AtomicBool::new(false));
    let acknowledged: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let workers: Vec<_> = (0..8)
        .map(|worker| {
            let base = first.base.clone();
            tokio::spawn(register_until_killed(
                base,
                worker,
                killed.clone(),
                acknowledged.clone(),
            ))
        })
        .collect();

    // Let the registrations run for a second (and until some were answered), then SIGKILL.
    let load_started = Instant::now();
    let answered = || acknowledged.lock().unwrap().len();
    while load_started.elapsed() < Duration::from_secs(1) || answered() == 0 {
        assert!(
            load_started.elapsed() < Duration::from_secs(15),
            "no registration answered in 15 s; log:\n{}",
            first.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    killed.store(true, Ordering::SeqCst);
    first.child.kill().expect("SIGKILL");
    let status = first.child.wait().expect("wait for the killed server");
    assert_eq!(
        status.signal(),
        Some(9),
        "the server died of SIGKILL, not otherwise: {status}"
    );
    let mut cut = 0;
    for worker in workers {
        let (failures, cut_here) = worker.await.expect("a registering worker panicked");
        assert!(
            failures.is_empty(),
            "registrations failed before the kill: {failures:#?}"
        );
        cut += cut_here;
    }
    let acknowledged = std::mem::take(&mut *acknowledged.lock().unwrap());
    assert!(
        !acknowledged.is_empty(),
        "no registration was acknowledged before the kill"
    );

    // The same file, a new process.
    let second = Served::start(dir.path(), "second").await;
    let client = client();
    let base = second.base.clone();
    let refused: Vec<String> = futures_util::stream::iter(acknowledged.iter().cloned())
        .map(|(name, password)| {
            let (client, base) = (client.clone(), base.clone());
            async move {
                let answer = post(
                    &client,
                    &base,
                    None,
                    LOGIN,
                    json!({ "input": { "identifier": name, "password": password } }),
                )
                .await;
                let body = answer
                    .as_ref()
                    .ok()
                    .and_then(|(_, text)| serde_json::from_str::<Value>(text).ok())
                    .unwrap_or_default();
                let signed_in = judge(&answer, "login") == Verdict::Success
                    && body["data"]["login"]["jwt"].is_string()
                    && body["data"]["login"]["user"]["username"] == name.as_str();
                (!signed_in).then(|| format!("{name}: {answer:?}"))
            }
        })
        .buffer_unordered(8)
        .filter_map(|refused| async move { refused })
        .collect()
        .await;
    assert!(
        refused.is_empty(),
        "{} of {} acknowledged accounts cannot log in after the kill: {refused:#?}",
        refused.len(),
        acknowledged.len()
    );

    // The file itself, through SQLite's own checker, while the new server has it open.
    let (checks, users) = tokio::task::spawn_blocking(move || sqlite_integrity(&database))
        .await
        .unwrap();
    assert_eq!(checks, ["ok"], "PRAGMA integrity_check");
    assert!(
        users >= acknowledged.len(),
        "{users} users stored, {} acknowledged",
        acknowledged.len()
    );
    let integrity = format!("integrity_check ok, {users} users stored");
    println!(
        "kill_9_during_concurrent_sqlite_registrations: {} registrations acknowledged before SIGKILL, \
         {cut} cut by it; all acknowledged accounts log in after restart; {integrity}; test took {:?}",
        acknowledged.len(),
        began.elapsed()
    );
}

/// SQLite's own check of the file at `path` (its lines, `["ok"]` when sound) and the number of
/// users it stores, through a connection of its own.
fn sqlite_integrity(path: &std::path::Path) -> (Vec<String>, usize) {
    use diesel::{Connection, QueryableByName, RunQueryDsl, sql_types};
    #[derive(QueryableByName)]
    struct Check {
        #[diesel(sql_type = sql_types::Text)]
        integrity_check: String,
    }
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = sql_types::BigInt)]
        n: i64,
    }
    let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    let checks = diesel::sql_query("PRAGMA integrity_check")
        .load::<Check>(&mut conn)
        .unwrap();
    let count = diesel::sql_query("SELECT count(*) AS n FROM up_users")
        .get_result::<Count>(&mut conn)
        .unwrap();
    (
        checks.into_iter().map(|c| c.integrity_check).collect(),
        usize::try_from(count.n).unwrap(),
    )
}
