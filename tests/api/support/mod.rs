//! The test harness: a real Castellan on 127.0.0.1:0 per test, over a fresh database
//! (a SQLite file in a temporary directory, or a new PostgreSQL database), spoken to over HTTP.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use castellan::config::Secret;
use castellan::db::models::{NewPermission, NewRole, Permission, Role, User, now};
use castellan::mail::{Mail, MailTransport, Outbox};
use castellan::{AppState, Castellan, Config};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use reqwest::StatusCode;
use serde_json::{Value, json};

pub const TEST_JWT_SECRET: &str = "castellan-test-secret-0123456789abcdef";

/// Fields of a user no response may carry, under either spelling. (An API token's
/// `accessKey` is shown once, at creation; what is stored of it is checked by value.)
const PRIVATE_FIELDS: &[&str] = &[
    "password",
    "resetPasswordToken",
    "reset_password_token",
    "confirmationToken",
    "confirmation_token",
    "tokensValidAfter",
    "tokens_valid_after",
    "tokenGeneration",
    "token_generation",
    "refreshHash",
    "refresh_hash",
];

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("local address")
        .port()
}

/// An HTTP client that gives up after `timeout`. reqwest is built without a TLS provider of
/// its own; a test that starts no in-process server must install the one Castellan uses (a
/// second install is a no-op).
pub fn http_client(timeout: Duration) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("client")
}

/// Where the PostgreSQL tests create their databases; override with `CASTELLAN_TEST_POSTGRES`.
pub fn postgres_admin_url() -> String {
    std::env::var("CASTELLAN_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Emits one test per backend: `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($(async fn $name:ident($backend:ident: Backend) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::support::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run($crate::support::Backend::Postgres).await
            }
            async fn run($backend: $crate::support::Backend) $body
        }
    )*};
}

/// A fresh database that disappears with the value.
pub enum TestDb {
    /// Holds the directory of the SQLite file until the test ends.
    Sqlite(#[expect(dead_code, reason = "kept for its Drop")] tempfile::TempDir),
    Postgres {
        name: String,
    },
}

impl TestDb {
    pub async fn create(backend: Backend) -> (Self, String) {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}", dir.path().join("castellan.db").display());
                (Self::Sqlite(dir), url)
            }
            Backend::Postgres => {
                static COUNTER: AtomicU32 = AtomicU32::new(0);
                let name = format!(
                    "castellan_test_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed),
                    castellan::util::random_alphanumeric(6)
                );
                let admin = postgres_admin_url();
                let mut conn = AsyncPgConnection::establish(&admin).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL is not reachable at {admin} ({e}). The PostgreSQL tests need it: start it with \
                         `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, or point \
                         CASTELLAN_TEST_POSTGRES at a server where this user may create databases."
                    )
                });
                diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut conn)
                    .await
                    .expect("CREATE DATABASE");
                let url = match admin.rsplit_once('/') {
                    Some((server, _)) => format!("{server}/{name}"),
                    None => panic!("CASTELLAN_TEST_POSTGRES must end with /DATABASE"),
                };
                (Self::Postgres { name }, url)
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Self::Postgres { name } = self else {
            return;
        };
        let name = name.clone();
        // Drop runs inside the test's runtime: clean up on a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                if let Ok(mut conn) = AsyncPgConnection::establish(&postgres_admin_url()).await {
                    let _ = conn
                        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// A running server and an HTTP client for it.
pub struct TestServer {
    pub url: String,
    pub app: AppState,
    pub client: reqwest::Client,
    /// The mails the server sent (unless a test chose another transport).
    pub outbox: Outbox,
    /// One-time codes seen by a test (in mails of a real SMTP server): no response may show them.
    known_codes: std::sync::Mutex<Vec<String>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _data_dir: tempfile::TempDir,
    _db: Option<TestDb>,
}

impl TestServer {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts a server whose configuration `adjust` may change first. bcrypt runs at its
    /// lowest cost to keep the suite fast; tests of timing raise it.
    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Self {
        Self::start_built(backend, adjust, Castellan::builder).await
    }

    /// Starts a server assembled by `build` (a library user's [`castellan::Builder`]).
    pub async fn start_built<Q, M>(
        backend: Backend,
        adjust: impl FnOnce(&mut Config),
        build: impl FnOnce(Config) -> castellan::Builder<Q, M>,
    ) -> Self
    where
        Q: async_graphql::ObjectType + 'static,
        M: async_graphql::ObjectType + 'static,
    {
        let (db, url) = TestDb::create(backend).await;
        Self::start_at(Some(db), url, adjust, build).await
    }

    /// Starts a server on the existing database at `url` (which outlives the server: another
    /// one may start on it next).
    pub async fn start_on(url: String, adjust: impl FnOnce(&mut Config)) -> Self {
        Self::start_at(None, url, adjust, Castellan::builder).await
    }

    async fn start_at<Q, M>(
        db: Option<TestDb>,
        url: String,
        adjust: impl FnOnce(&mut Config),
        build: impl FnOnce(Config) -> castellan::Builder<Q, M>,
    ) -> Self
    where
        Q: async_graphql::ObjectType + 'static,
        M: async_graphql::ObjectType + 'static,
    {
        let data_dir = tempfile::tempdir().expect("temporary directory");
        let mut config = Config::new(url, Secret::new(TEST_JWT_SECRET));
        config.bcrypt_cost = 4;
        config.data_dir = data_dir.path().to_path_buf();
        config.mail = MailTransport::Memory;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let address = listener.local_addr().expect("local address");
        config.server_url = Some(format!("http://{address}"));
        // Tests of other things sign in and up many times from one address.
        config.rate_limit.enabled = false;
        // Every query the fast path answers is answered again by the guarded schema; the two
        // must agree (checked after every response, see `post`).
        config.graphql.verify_fast_path = true;
        adjust(&mut config);
        let castellan = build(config).start().await.expect("Castellan starts");
        let app = castellan.app.clone();
        // Tests that send to a real SMTP server have no outbox: an empty one stands in.
        let outbox = app.mailer.outbox().cloned().unwrap_or_default();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(castellan.serve(listener, async {
            let _ = rx.await;
        }));
        Self {
            url: format!("http://{address}"),
            app,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(90))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            outbox,
            known_codes: Default::default(),
            shutdown: Some(tx),
            _data_dir: data_dir,
            _db: db,
        }
    }

    /// POST /graphql with an optional bearer token; the status and the JSON body.
    pub async fn post(&self, bearer: Option<&str>, body: &Value) -> (StatusCode, Value) {
        let mut request = self.client.post(format!("{}/graphql", self.url)).json(body);
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        self.assert_no_secrets(&text).await;
        assert_eq!(
            self.app.metrics.fast_path_mismatches(),
            0,
            "the fast path answered otherwise than the guarded schema (see the log) for {body}"
        );
        let json =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
        (status, json)
    }

    /// Fails the test if `response` shows a password hash, a stored token, or a one-time code
    /// that went out by email. Every response of every test passes through here.
    pub async fn assert_no_secrets(&self, response: &str) {
        let mut secrets: Vec<String> = self.known_codes.lock().unwrap().clone();
        for mail in self.outbox.mails() {
            secrets.extend(hex_codes(&mail.html));
        }
        let mut conn = self.conn().await;
        type Secrets = Vec<(Option<String>, Option<String>, Option<String>)>;
        let stored: Result<Secrets, _> = castellan::on_conn!(&mut conn, |c| {
            use castellan::db::schema::up_users::dsl::*;
            use diesel::QueryDsl;
            diesel_async::RunQueryDsl::load(
                up_users.select((password, reset_password_token, confirmation_token)),
                c,
            )
            .await
        });
        // A test that broke the table on purpose has nothing to compare with.
        for (hash, reset, confirmation) in stored.unwrap_or_default() {
            secrets.extend([hash, reset, confirmation].into_iter().flatten());
        }
        let keys: Result<Vec<String>, _> = castellan::on_conn!(&mut conn, |c| {
            use castellan::db::schema::up_api_tokens::dsl::*;
            use diesel::QueryDsl;
            diesel_async::RunQueryDsl::load(up_api_tokens.select(access_key), c).await
        });
        secrets.extend(keys.unwrap_or_default());
        // Refresh tokens are stored hashed; not even the hash may leave.
        let hashes: Result<Vec<String>, _> = castellan::on_conn!(&mut conn, |c| {
            use castellan::db::schema::up_sessions::dsl::*;
            use diesel::QueryDsl;
            diesel_async::RunQueryDsl::load(up_sessions.select(refresh_hash), c).await
        });
        secrets.extend(hashes.unwrap_or_default());
        secrets.push(TEST_JWT_SECRET.to_string());
        // The private fields by name, whatever their value, and the private declared
        // attributes (`[[user.attributes]]` with `private = true`).
        let private_attributes: Vec<&str> = self
            .app
            .attributes
            .declared()
            .iter()
            .filter(|a| a.private)
            .map(|a| a.name.as_str())
            .collect();
        if let Ok(json) = serde_json::from_str::<Value>(response) {
            let mut stack = vec![&json];
            while let Some(value) = stack.pop() {
                match value {
                    Value::Object(map) => {
                        for (key, value) in map {
                            assert!(
                                !PRIVATE_FIELDS.contains(&key.as_str()),
                                "a response names the private field `{key}`: {response}"
                            );
                            assert!(
                                !private_attributes.contains(&key.as_str()),
                                "a response shows the private attribute `{key}`: {response}"
                            );
                            stack.push(value);
                        }
                    }
                    Value::Array(items) => stack.extend(items),
                    _ => {}
                }
            }
        }
        for secret in secrets.iter().filter(|s| s.len() >= 16) {
            assert!(
                !response.contains(secret.as_str()),
                "a response shows a secret ({secret}): {response}"
            );
        }
    }

    /// Registers one-time codes a test read from a real SMTP server.
    pub fn remember_codes_in(&self, text: &str) {
        self.known_codes.lock().unwrap().extend(hex_codes(text));
    }

    /// The `n`-th mail (from 0) sent to `to`, waiting up to five seconds for it.
    pub async fn mail_to(&self, to: &str, n: usize) -> Mail {
        for _ in 0..500 {
            if let Some(mail) = self
                .outbox
                .mails()
                .into_iter()
                .filter(|m| m.to == to)
                .nth(n)
            {
                return mail;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no mail #{n} to {to}; sent: {:?}", self.outbox.mails());
    }

    /// How many mails went to `to`, after letting background work finish.
    pub async fn mails_to(&self, to: &str) -> usize {
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.outbox.mails().iter().filter(|m| m.to == to).count()
    }

    /// A GET on a REST route; status, headers and body text.
    pub async fn get(&self, path: &str) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("request");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        self.assert_no_secrets(&text).await;
        (status, headers, text)
    }

    /// A REST request with an optional bearer token and JSON body; the status, the headers and
    /// the JSON body (`Null` when empty). The response passes the secret scan.
    pub async fn rest(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        self.assert_no_secrets(&text).await;
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
        };
        (status, headers, json)
    }

    /// A GraphQL request as the public; fails the test unless the status is 200.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.gql_with(None, query, variables).await
    }

    /// A GraphQL request with a bearer token; fails the test unless the status is 200 (or 400
    /// for a request error, refused before execution: no `data`).
    pub async fn gql_as(&self, token: &str, query: &str, variables: Value) -> Value {
        self.gql_with(Some(token), query, variables).await
    }

    async fn gql_with(&self, bearer: Option<&str>, query: &str, variables: Value) -> Value {
        let (status, body) = self
            .post(bearer, &json!({ "query": query, "variables": variables }))
            .await;
        let expected = if body.get("data").is_some() {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        };
        assert_eq!(status, expected, "{body}");
        body
    }

    /// Registers a user; their JWT and user object.
    pub async fn register(&self, username: &str, email: &str, password: &str) -> (String, Value) {
        let body = self
            .gql(
                "mutation($input: UsersPermissionsRegisterInput!) { register(input: $input) { jwt user { id documentId username email confirmed blocked role { id name type } } } }",
                json!({ "input": { "username": username, "email": email, "password": password } }),
            )
            .await;
        assert!(body.get("errors").is_none(), "register failed: {body}");
        let payload = &body["data"]["register"];
        (
            payload["jwt"].as_str().expect("jwt").to_string(),
            payload["user"].clone(),
        )
    }

    pub async fn login(&self, identifier: &str, password: &str) -> Value {
        self.gql(
            "mutation($input: UsersPermissionsLoginInput!) { login(input: $input) { jwt user { id username email role { type } } } }",
            json!({ "input": { "identifier": identifier, "password": password } }),
        )
        .await
    }

    pub async fn conn(&self) -> castellan::db::Conn {
        self.app.db.conn().await.expect("database connection")
    }

    /// Runs SQL directly against the test database.
    pub async fn sql(&self, statements: &str) {
        let mut conn = self.conn().await;
        castellan::on_conn!(&mut conn, |c| c.batch_execute(statements).await).expect("SQL");
    }

    /// Creates a role without any grant.
    pub async fn create_role(&self, role_type: &str) -> Role {
        let mut conn = self.conn().await;
        let document_id = castellan::util::new_document_id();
        let role = NewRole {
            document_id: &document_id,
            name: role_type,
            description: "",
            role_type,
            created_at: now(),
            updated_at: now(),
        }
        .insert(&mut conn)
        .await
        .expect("insert role");
        self.app
            .changed(castellan::changes::Change::Policy)
            .await
            .expect("reload policy");
        role
    }

    pub async fn set_role(&self, user_id: i32, role_id: i32) {
        let mut conn = self.conn().await;
        assert!(
            User::set_role(&mut conn, user_id, role_id)
                .await
                .expect("set role")
        );
        self.app
            .changed(castellan::changes::Change::User(user_id))
            .await
            .expect("announce");
    }

    /// Gives the role of type `role_type` unconditional grants of `actions`.
    pub async fn grant(&self, role_type: &str, actions: &[&str]) {
        let mut conn = self.conn().await;
        let role = Role::find_by_type(&mut conn, role_type)
            .await
            .expect("query")
            .expect("role exists");
        let rows: Vec<NewPermission<'_>> = actions
            .iter()
            .map(|action| NewPermission::unconditional(role.id, action, now()))
            .collect();
        NewPermission::insert_many(&rows, &mut conn)
            .await
            .expect("grant");
        self.app
            .changed(castellan::changes::Change::Policy)
            .await
            .expect("reload policy");
    }

    /// A signed-in user in a new role `role_type` holding `actions`; their JWT.
    pub async fn user_with_grants(&self, role_type: &str, actions: &[&str]) -> String {
        let (jwt, user) = self
            .register(
                role_type,
                &format!("{role_type}@example.com"),
                "admin-password",
            )
            .await;
        let role = self.create_role(role_type).await;
        self.grant(role_type, actions).await;
        self.set_role(user_id(&user), role.id).await;
        jwt
    }

    /// The role of type `role_type`.
    pub async fn conn_role(&self, role_type: &str) -> Role {
        let mut conn = self.conn().await;
        Role::find_by_type(&mut conn, role_type)
            .await
            .expect("query")
            .expect("role exists")
    }

    /// Takes `action` away from the role of type `role_type`.
    pub async fn revoke(&self, role_type: &str, action: &str) {
        let mut conn = self.conn().await;
        let role = Role::find_by_type(&mut conn, role_type)
            .await
            .expect("query")
            .expect("role exists");
        assert!(
            Permission::revoke(&mut conn, role.id, action)
                .await
                .expect("revoke"),
            "{role_type} had no {action}"
        );
        self.app
            .changed(castellan::changes::Change::Policy)
            .await
            .expect("reload policy");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Base64url without padding, to forge JWT segments by hand.
pub fn base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Runs of 64 hexadecimal characters: the one-time codes Castellan sends.
pub fn hex_codes(text: &str) -> Vec<String> {
    let mut codes = Vec::new();
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_hexdigit() {
            run.push(c);
        } else {
            if run.len() == 64 {
                codes.push(run.clone());
            }
            run.clear();
        }
    }
    codes
}

/// The value of `name` in the query of the first link in `html` that has it.
pub fn query_param(html: &str, name: &str) -> String {
    let needle = format!("{name}=");
    let start = html
        .find(&needle)
        .unwrap_or_else(|| panic!("no {name}= in {html}"))
        + needle.len();
    html[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect()
}

/// The `extensions.code` of the first error of a response.
pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

/// The message of the first error of a response.
pub fn error_message(body: &Value) -> &str {
    body["errors"][0]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {body}"))
}

/// The numeric id of a user object from a response.
pub fn user_id(user: &Value) -> i32 {
    user["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no id in {user}"))
}

/// How long a fuzzer runs (`CASTELLAN_FUZZ_SECONDS`, 2 s in the suite) and its seed
/// (`CASTELLAN_FUZZ_SEED` repeats a run; otherwise a fresh one, printed by the caller).
pub fn fuzz_budget() -> (u64, u64) {
    let seconds = std::env::var("CASTELLAN_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let seed = std::env::var("CASTELLAN_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| u64::from_le_bytes(castellan::util::random_bytes::<8>()));
    (seconds, seed)
}
