//! What an attacker tried against the release binary: no request may stop the server, hold its
//! connections, or slip past the transport's rules.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::binary::{BINARY, Serve};
use crate::support::{Backend, TestDb, TestServer, error_code, error_message, http_client};
use crate::both_backends;

const SECRET: &str = "a-test-secret-of-more-than-thirty-two-bytes";

/// The release-like binary on a fresh database of `backend`, and a full-access API token.
async fn serve_binary(backend: Backend) -> (Serve, TestDb, tempfile::TempDir, String) {
    let (db, url) = TestDb::create(backend).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("JWT_SECRET", SECRET),
        ("API_TOKEN_SALT", SECRET),
        ("RUST_LOG", "warn"),
    ];
    let server = Serve::start(dir.path(), &env, Stdio::null());
    let output = Command::new(BINARY)
        .args(["token", "create", "--name", "nesting", "--type", "full-access"])
        .current_dir(dir.path())
        .envs(env)
        .stderr(Stdio::null())
        .output()
        .expect("castellan token create runs");
    assert!(output.status.success(), "token create failed");
    let key = String::from_utf8(output.stdout).expect("UTF-8").trim().to_string();
    (server, db, dir, key)
}

/// `levels` of `open` around `inner`, closed again.
fn nest(open: &str, inner: &str, close: &str, levels: usize) -> String {
    let mut text = String::with_capacity((open.len() + close.len()) * levels + inner.len());
    for _ in 0..levels {
        text.push_str(open);
    }
    text.push_str(inner);
    for _ in 0..levels {
        text.push_str(close);
    }
    text
}

/// The text of a JSON value nested `levels` deep: objects `{"and": …}` alternating with lists
/// around `leaf`. Text, not a `Value`: serde_json writes and drops values recursively.
fn nested_json(levels: usize, leaf: &str) -> String {
    let (mut open, mut close) = (String::new(), String::new());
    for level in 0..levels {
        if level % 2 == 0 {
            open.push('[');
            close.push(']');
        } else {
            open.push_str("{\"and\":");
            close.push('}');
        }
    }
    let close: String = close.chars().rev().collect();
    format!("{open}{leaf}{close}")
}

/// A request body of `query` and one variable `name` whose JSON text is `value`.
fn with_variable(query: &str, name: &str, value: &str) -> String {
    format!(
        "{{\"query\":{},\"variables\":{{\"{name}\":{value}}}}}",
        Value::from(query)
    )
}

/// Every shape of nested value an attacker sent, as (name, bearer needed, request body).
fn shapes(levels: usize) -> Vec<(&'static str, bool, String)> {
    let list = nest("[", "1", "]", levels);
    let filter = nest("{not: ", "{id: {eq: \"1\"}}", "}", levels);
    let object = nest("{a: ", "1", "}", levels);
    let selections = nest("{ a ", "", "}", levels);
    let list_type = nest("[", "Int", "]", levels);
    let user = |n: usize| format!("deep{levels}x{n}");
    vec![
        (
            "a list in an argument of an unknown field",
            false,
            json!({ "query": format!("{{ x(a: {list}) }}") }).to_string(),
        ),
        (
            "an input object in the filters of a forbidden field",
            false,
            json!({ "query": format!("{{ usersPermissionsUsers(filters: {filter}) {{ documentId }} }}") }).to_string(),
        ),
        (
            "a JSON literal in register's attributes",
            false,
            json!({ "query": format!(
                "mutation {{ register(input: {{username: \"{}\", email: \"{}@example.com\", password: \"a-password-1\", attributes: {object}}}) {{ jwt }} }}",
                user(1), user(1)
            ) }).to_string(),
        ),
        (
            "a directive's argument",
            false,
            json!({ "query": format!("{{ me @include(if: {list}) {{ id }} }}") }).to_string(),
        ),
        (
            "selection sets",
            false,
            json!({ "query": format!("{{ me {selections} }}") }).to_string(),
        ),
        (
            "a list type of a variable",
            false,
            json!({ "query": format!("query ($v: {list_type}) {{ me {{ id }} }}") }).to_string(),
        ),
        (
            "a filter variable of nested and",
            true,
            with_variable(
                "query ($f: UsersPermissionsUserFiltersInput) { usersPermissionsUsers(filters: $f) { documentId } }",
                "f",
                &nested_json(levels, r#"{"id":{"eq":"1"}}"#),
            ),
        ),
        (
            "a JSON variable in a user's attributes",
            true,
            with_variable(
                "mutation ($a: JSON) { createUsersPermissionsUser(data: {username: \"u\", email: \"u@example.com\", password: \"a-password-1\", role: \"1\", attributes: $a}) { data { documentId } } }",
                "a",
                &nested_json(levels, "1"),
            ),
        ),
        (
            "a condition's query",
            true,
            with_variable(
                "mutation ($q: JSON!) { createUsersPermissionsCondition(data: {name: \"deep\", displayName: \"Deep\", query: $q}) { name } }",
                "q",
                &nested_json(levels, r#"{"id":{"$eq":1}}"#),
            ),
        ),
    ]
}

both_backends! {
    async fn no_nesting_of_any_value_stops_the_server(backend: Backend) {
        let (server, _db, _dir, key) = serve_binary(backend).await;
        let base = format!("http://{}", server.address);
        let client = http_client(Duration::from_secs(60));
        // At the limit, the deepest filter and JSON a request may hold are answered.
        let max = castellan::config::GraphqlLimits::default().max_nesting;
        for (query, variable) in [
            (
                "query ($f: UsersPermissionsUserFiltersInput) { usersPermissionsUsers(filters: $f) { documentId } }",
                nested_json(max - 2, r#"{"id":{"eq":"1"}}"#),
            ),
            (
                "mutation ($a: JSON) { createUsersPermissionsUser(data: {username: \"m\", email: \"m@example.com\", password: \"a-password-1\", role: \"1\", attributes: $a}) { data { documentId } } }",
                nested_json(max, "1"),
            ),
        ] {
            let name = if query.contains("$f") { "f" } else { "a" };
            let text = client
                .post(format!("{base}/graphql"))
                .header("content-type", "application/json")
                .bearer_auth(&key)
                .body(with_variable(query, name, &variable))
                .send()
                .await
                .expect("an answer at the limit")
                .text()
                .await
                .expect("a body");
            assert!(!text.contains("nest"), "refused at the limit: {text}");
            assert!(!text.contains("INTERNAL"), "{text}");
            assert!(alive(&base).await, "the server stopped at the limit");
        }
        for levels in [10, 100, 1_000, 100_000] {
            for (shape, privileged, body) in shapes(levels) {
                let mut request = client
                    .post(format!("{base}/graphql"))
                    .header("content-type", "application/json")
                    .body(body);
                if privileged {
                    request = request.bearer_auth(&key);
                }
                let answer = request.send().await;
                let (status, text) = match answer {
                    Ok(response) => (response.status(), response.text().await.unwrap_or_default()),
                    Err(error) => panic!("{shape} at {levels} levels: no answer ({error})"),
                };
                assert!(alive(&base).await, "{shape} at {levels} levels stopped the server");
                let refused_for_nesting = text.contains("nest");
                if levels <= 10 {
                    assert!(!refused_for_nesting, "{shape} at {levels} levels: {text}");
                } else {
                    // Refused before anything recursed over it: by the nesting bound, or, in a
                    // JSON body, by the JSON parser's own bound (a 400).
                    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    let bounded = refused_for_nesting && error_code(&body) == "BAD_USER_INPUT";
                    assert!(
                        bounded || (status == StatusCode::BAD_REQUEST && text.contains("recursion limit")),
                        "{shape} at {levels} levels: {status} {}",
                        &text[..text.len().min(400)]
                    );
                }
            }
        }
    }

    async fn text_with_nul_is_refused_the_same_on_both_databases(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (admin, _) = server.register("admin", "admin@example.com", "a-password-1").await;
        server.grant("authenticated", &["plugin::users-permissions.user.find"]).await;
        let attempts: [(Option<&str>, Value); 5] = [
            (None, json!({
                "query": "mutation ($i: String!) { login(input: {identifier: $i, password: \"x\"}) { jwt } }",
                "variables": { "i": "ad\u{0}min" },
            })),
            (None, json!({
                "query": "mutation { register(input: {username: \"nul\\u0000name\", email: \"n@example.com\", password: \"a-password-1\"}) { jwt } }",
            })),
            (Some(admin.as_str()), json!({
                "query": "query ($f: UsersPermissionsUserFiltersInput) { usersPermissionsUsers(filters: $f) { documentId } }",
                "variables": { "f": { "username": { "contains": "a\u{0}" } } },
            })),
            (Some(admin.as_str()), json!({
                "query": "{ usersPermissionsUsers(filters: {email: {eq: \"\\u0000\"}}) { documentId } }",
            })),
            (Some(admin.as_str()), json!({
                "query": "mutation { createUsersPermissionsRole(data: {name: \"r\\u0000\", type: \"r\"}) { data { id } } }",
            })),
        ];
        for (bearer, body) in attempts {
            let (status, answer) = server.post(bearer, &body).await;
            // Refused before execution (in a variable): a request error, 400 without `data`.
            let expected = if answer.get("data").is_some() {
                StatusCode::OK
            } else {
                StatusCode::BAD_REQUEST
            };
            assert_eq!(status, expected, "{answer}");
            assert_eq!(error_code(&answer), "BAD_USER_INPUT", "{body}: {answer}");
            assert!(error_message(&answer).contains("NUL"), "{answer}");
        }
    }

    async fn posts_a_browser_form_could_send_are_refused(backend: Backend) {
        let server = TestServer::start(backend).await;
        let register = r#"{"query":"mutation { register(input: {username: \"csrf\", email: \"csrf@example.com\", password: \"a-password-1\"}) { jwt } }"}"#;
        for content_type in [
            Some("text/plain"),
            Some("text/plain;charset=UTF-8"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            Some(" Text/Plain "),
            None,
        ] {
            let mut request = server
                .client
                .post(format!("{}/graphql", server.url))
                .body(register);
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            let response = request.send().await.expect("answer");
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{content_type:?}");
            let body: Value = response.json().await.expect("JSON");
            assert_eq!(error_code(&body), "BAD_REQUEST", "{body}");
            assert!(error_message(&body).contains("Cross-Site Request Forgery"), "{body}");
        }
        // Nor does a GET run a mutation (a link or an image can send one).
        let mutation = "mutation { register(input: {username: \"csrf\", email: \"csrf@example.com\", password: \"a-password-1\"}) { jwt } }";
        let _ = server
            .client
            .get(format!("{}/graphql", server.url))
            .query(&[("query", mutation)])
            .header("accept", "application/json")
            .send()
            .await
            .expect("answer");
        let (status, body) = server
            .post(None, &json!({ "query": "mutation { register(input: {username: \"csrf\", email: \"csrf@example.com\", password: \"a-password-1\"}) { jwt } }" }))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            body["data"]["register"]["jwt"].is_string(),
            "JSON posts run, and no form registered `csrf` before: {body}"
        );
    }
}

/// Opens a connection that sends half a request header and then nothing.
fn stalled(address: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .expect("half a header");
    stream
}

/// Whether the server closed `stream` (a read gives end of file or a reset).
fn closed(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let mut buffer = [0u8; 256];
    match stream.read(&mut buffer) {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) => !matches!(
            error.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

both_backends! {
    async fn stalled_connections_cannot_lock_new_clients_out(backend: Backend) {
        // Timeouts long enough that neither the flood nor a loaded machine reaches them while
        // the test checks that new clients get in: a server that waited for stalled
        // connections to time out would keep a new client waiting about six seconds.
        let timeout = Duration::from_secs(6);
        let server = TestServer::start_with(backend, |config| {
            config.connections.max_connections = 64;
            config.connections.header_timeout = timeout;
            config.connections.idle_timeout = timeout;
        })
        .await;
        let address = server.url.trim_start_matches("http://").to_string();
        // A real client's connection, opened and used before the flood.
        let (status, _) = server.post(None, &json!({ "query": "{ __typename }" })).await;
        assert_eq!(status, StatusCode::OK);
        // Twice the cap of slowloris connections, and as many that send nothing at all.
        let mut stalled_ones: Vec<TcpStream> = (0..128).map(|_| stalled(&address)).collect();
        stalled_ones.extend((0..128).map(|_| TcpStream::connect(&address).expect("connect")));
        // The client kept alive across the flood keeps its connection.
        let (status, _) = server.post(None, &json!({ "query": "{ __typename }" })).await;
        assert_eq!(status, StatusCode::OK);
        for _ in 0..5 {
            stalled_ones.extend((0..16).map(|_| stalled(&address)));
            // A new client: a connection of its own.
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .pool_max_idle_per_host(0)
                .build()
                .expect("client");
            let started = Instant::now();
            let health = client
                .get(format!("{}/healthz", server.url))
                .send()
                .await
                .expect("a new client is answered");
            assert_eq!(health.status(), StatusCode::OK);
            assert!(
                started.elapsed() < timeout / 2,
                "a new client waited {:?}, as if for the stalled connections' timeout",
                started.elapsed()
            );
        }
        // The kept-alive connection of a real client outlived the stalled ones.
        let (status, _) = server.post(None, &json!({ "query": "{ __typename }" })).await;
        assert_eq!(status, StatusCode::OK);
        // After the timeouts every stalled connection is closed.
        let deadline = Instant::now() + 3 * timeout;
        loop {
            let mut open = 0;
            for stream in &mut stalled_ones {
                open += usize::from(!closed(stream));
            }
            if open == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "{open} stalled connections still open");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn a_body_that_stops_arriving_is_cut_off(backend: Backend) {
        let server = TestServer::start_with(backend, |config| {
            config.connections.body_timeout = Duration::from_secs(1);
        })
        .await;
        let address = server.url.trim_start_matches("http://").to_string();
        let mut stream = TcpStream::connect(&address).expect("connect");
        stream
            .write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"query\":")
            .expect("a head and part of a body");
        let started = Instant::now();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let elapsed = started.elapsed();
        assert!(
            elapsed < Duration::from_secs(5),
            "the connection stayed open {elapsed:?}"
        );
        assert!(elapsed >= Duration::from_millis(900), "closed after {elapsed:?}");
    }
}

/// Whether `/healthz` answers a new client (a new connection: one the server closed after
/// refusing a body it did not read may still sit in a client's pool).
async fn alive(base: &str) -> bool {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let health = client.get(format!("{base}/healthz")).send().await;
    health.is_ok_and(|h| h.status() == StatusCode::OK)
}

/// Where a request that stopped the server, or that it answered with an internal error, is
/// written; [`the_graphql_fuzz_corpus_never_stops_the_server`] replays every such file.
const FUZZ_CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fuzz-corpus");

/// One whole request of the fuzzer: its body, sent as is, and whether it carries the
/// full-access token (which reaches every resolver and filter).
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone)]
struct FuzzRequest {
    body: String,
    privileged: bool,
}

/// What the server did with a request: answered, answered with an internal error, or stopped.
async fn send_fuzzed(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    request: &FuzzRequest,
) -> Result<(), String> {
    let mut post = client
        .post(format!("{base}/graphql"))
        .header("content-type", "application/json")
        .body(request.body.clone());
    if request.privileged {
        post = post.bearer_auth(key);
    }
    let answer = match post.send().await {
        Ok(response) => response.text().await.map_err(|e| format!("no whole answer: {e}"))?,
        Err(error) => return Err(format!("no answer: {error}")),
    };
    if !alive(base).await {
        return Err("the server stopped".into());
    }
    if answer.contains("INTERNAL_SERVER_ERROR") {
        return Err(format!("an internal error: {}", &answer[..answer.len().min(300)]));
    }
    Ok(())
}

/// A small random generator (xorshift), seeded so that a failing run can be repeated.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    /// Mostly shallow, sometimes far past any limit.
    fn depth(&mut self) -> usize {
        match self.below(10) {
            0..=4 => self.below(8),
            5..=7 => self.below(80),
            8 => self.below(2_000),
            _ => self.below(120_000),
        }
    }
}

/// Operations a front end sends, with `@V@` where a value goes and `@S@` where a selection goes.
const OPERATIONS: &[&str] = &[
    "{ me { id username @S@ } }",
    "query ($f: UsersPermissionsUserFiltersInput) { usersPermissionsUsers(filters: $f) { documentId } }",
    "{ usersPermissionsUsers(filters: @V@, sort: @V@, pagination: @V@) { documentId } }",
    "{ usersPermissionsUsers_connection(filters: @V@) { pageInfo { total } } }",
    "mutation ($a: JSON) { register(input: {username: \"f@N@\", email: \"f@N@@example.com\", password: \"a-password-1\", attributes: $a}) { jwt } }",
    "mutation { register(input: {username: @V@, email: @V@, password: @V@, attributes: @V@}) { jwt } }",
    "mutation { login(input: {identifier: @V@, password: @V@}) { jwt } }",
    "mutation ($q: JSON!) { createUsersPermissionsCondition(data: {name: \"c@N@\", displayName: \"C\", query: $q}) { name } }",
    "{ usersPermissionsRoles(filters: @V@) { data { id } } }",
    "{ x(a: @V@) @include(if: @V@) { @S@ } }",
    "query ($v: @T@) { me { id } }",
    "{ usersPermissionsUser(id: @V@) { data { id attributes } } }",
];

/// A GraphQL value literal, nested at random.
fn value_literal(dice: &mut Dice, depth: usize) -> String {
    let leaves = [
        "1", "-0.5", "true", "null", "ENUM", "\"text\"", "\"\\u0000\"", "\"\\u{0}\"",
        "\"\"\"block\"\"\"", "\"#not a comment\"", "\"[[[{{{\"", "$f", "{}", "[]",
        "{eq: \"1\"}", "{id: {in: [1, 2]}}", "{username: {containsi: \"a\"}}",
    ];
    let mut open = String::new();
    let mut close = Vec::new();
    for _ in 0..depth {
        match dice.below(4) {
            0 => {
                open.push('[');
                close.push("]");
            }
            1 => {
                open.push_str("{not: ");
                close.push("}");
            }
            2 => {
                open.push_str("{and: [");
                close.push("]}");
            }
            _ => {
                open.push_str("{a: ");
                close.push("}");
            }
        }
    }
    let leaf = dice.pick(&leaves);
    close.reverse();
    format!("{open}{leaf}{}", close.concat())
}

/// A JSON text, nested at random, with strings that hold what a query text must not.
fn json_text(dice: &mut Dice, depth: usize) -> String {
    let leaves = [
        "1", "null", "true", "\"x\"", "\"\\u0000\"", r#"{"id":{"eq":"1"}}"#,
        r#"{"$or":[{"id":{"$eq":1}}]}"#, r#"{"username":{"$in":["a","b"]}}"#, "[]", "{}",
        r#""$user.attributes.team""#, "1e308", "-1e400",
    ];
    let mut open = String::new();
    let mut close = Vec::new();
    for _ in 0..depth {
        let key = dice.pick(&["and", "or", "not", "$and", "$or", "$elemMatch", "a", "id"]);
        if dice.below(2) == 0 {
            open.push('[');
            close.push("]".to_string());
        } else {
            open.push_str(&format!("{{\"{key}\":"));
            close.push("}".to_string());
        }
    }
    close.reverse();
    format!("{open}{}{}", dice.pick(&leaves), close.concat())
}

/// One random request: a real operation whose values, selections and variables are nested,
/// enlarged, cut short or garbled.
fn fuzzed_request(dice: &mut Dice, n: u64) -> FuzzRequest {
    let mut query = dice.pick(OPERATIONS).replace("@N@", &n.to_string());
    while query.contains("@V@") {
        let depth = dice.depth();
        query = query.replacen("@V@", &value_literal(dice, depth), 1);
    }
    while query.contains("@S@") {
        let depth = dice.depth().min(200);
        query = query.replacen("@S@", &nest("a { ", "b", " }", depth), 1);
    }
    while query.contains("@T@") {
        let depth = dice.depth();
        query = query.replacen("@T@", &nest("[", "Int", "]", depth), 1);
    }
    match dice.below(8) {
        // Cut short somewhere.
        0 if !query.is_empty() => query.truncate(dice.below(query.len())),
        // A token dropped in at random.
        1 => {
            let at = dice.below(query.len() + 1);
            if query.is_char_boundary(at) {
                let token = dice.pick(&["\"", "\"\"\"", "#", "\\", "{", "[", "(", "$", "...", "\u{0}", "\u{fffd}"]);
                query.insert_str(at, token);
            }
        }
        // Large: many aliases of one field.
        2 => {
            let copies = dice.below(20_000);
            query = format!("{{ {} }}", (0..copies).map(|i| format!("a{i}: me {{ id }}")).collect::<Vec<_>>().join(" "));
        }
        _ => {}
    }
    let variables = ["f", "a", "q", "v"]
        .iter()
        .map(|name| {
            let depth = dice.depth();
            format!("\"{name}\":{}", json_text(dice, depth))
        })
        .collect::<Vec<_>>()
        .join(",");
    let body = match dice.below(10) {
        0 => format!("[{}]", (0..dice.below(12)).map(|_| format!("{{\"query\":{}}}", Value::from(query.as_str()))).collect::<Vec<_>>().join(",")),
        1 => format!("{{\"query\":{}}}", Value::from(query.as_str())),
        _ => format!("{{\"query\":{},\"variables\":{{{variables}}}}}", Value::from(query.as_str())),
    };
    FuzzRequest {
        body,
        privileged: dice.below(2) == 0,
    }
}

// Random whole requests never stop the server nor make it fail internally. Seeded;
// `CASTELLAN_FUZZ_SECONDS` runs it longer (`bench/fuzz.sh`). A request that fails is written to
// `tests/fuzz-corpus/graphql-*.json`, which the suite replays from then on (the second test).
both_backends! {
    async fn random_graphql_requests_never_stop_the_server(backend: Backend) {
        let (seconds, seed) = crate::support::fuzz_budget();
        eprintln!("fuzzing whole requests for {seconds}s with CASTELLAN_FUZZ_SEED={seed}");
        let (server, _db, _dir, key) = serve_binary(backend).await;
        let base = format!("http://{}", server.address);
        let client = http_client(Duration::from_secs(60));
        let mut dice = Dice(seed | 1);
        let started = Instant::now();
        let mut sent = 0u64;
        while started.elapsed() < Duration::from_secs(seconds) {
            sent += 1;
            // Within the body limit: a larger body is refused before it is read (a 413 the
            // client may not even see while it is still sending), which other tests cover.
            let request = loop {
                let request = fuzzed_request(&mut dice, sent);
                if request.body.len() < 1_000_000 {
                    break request;
                }
            };
            if let Err(failure) = send_fuzzed(&client, &base, &key, &request).await {
                let path = format!("{FUZZ_CORPUS}/graphql-{seed}-{sent}.json");
                std::fs::write(&path, serde_json::to_string_pretty(&request).unwrap()).unwrap();
                panic!("{failure}: the request is written to {path}; fix it and commit the file");
            }
        }
        eprintln!("{sent} requests, the server stayed up");
        assert!(sent > 5, "only {sent} requests in {seconds}s");
    }

    async fn the_graphql_fuzz_corpus_never_stops_the_server(backend: Backend) {
        let mut files: Vec<_> = std::fs::read_dir(FUZZ_CORPUS)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("graphql-") && n.ends_with(".json"))
            })
            .collect();
        files.sort();
        assert!(files.len() >= 3, "the corpus lost its requests: {files:?}");
        let (server, _db, _dir, key) = serve_binary(backend).await;
        let base = format!("http://{}", server.address);
        let client = http_client(Duration::from_secs(60));
        for path in &files {
            let request: FuzzRequest = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
                .unwrap_or_else(|e| panic!("{}: not a request: {e}", path.display()));
            if let Err(failure) = send_fuzzed(&client, &base, &key, &request).await {
                panic!("{}: {failure}", path.display());
            }
        }
    }
}
