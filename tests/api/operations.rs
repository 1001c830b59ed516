//! What operators rely on: readiness, metrics, and the limits of a GraphQL request.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{TestServer, error_code, error_message};

both_backends! {
    async fn readiness_checks_the_database_and_metrics_count(backend: Backend) {
        let server = TestServer::start(backend).await;
        let response = server.client.get(format!("{}/readyz", server.url)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.json::<Value>().await.unwrap(), json!({ "status": "ready" }));

        server.gql("{ me { id } }", json!({})).await;
        let (status, _) = server.post(Some("garbage"), &json!({ "query": "{ me { id } }" })).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let metrics = server.client.get(format!("{}/metrics", server.url)).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("castellan_graphql_errors_total{code=\"FORBIDDEN\"} 1"), "{metrics}");
        assert!(metrics.contains("castellan_unauthorized_total 1"), "{metrics}");
        assert!(metrics.contains("# TYPE castellan_graphql_requests_total counter"), "{metrics}");
        // A database that stops answering: `faults::postgres_restart_under_load` and
        // `faults::unresponsive_postgres_gets_clean_errors_in_bounded_time`.
    }

    async fn deep_complex_and_oversized_requests_are_refused_clearly(backend: Backend) {
        let server = TestServer::start_with(backend, |config| {
            config.graphql.max_depth = 4;
            config.graphql.max_complexity = 20;
            config.graphql.max_body_bytes = 2_000;
        })
        .await;
        let deep = "{ __schema { types { fields { type { ofType { name } } } } } }";
        let body = server.gql(deep, json!({})).await;
        assert_eq!(error_message(&body), "Query is nested too deep.");
        assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED");
        let wide: String = (0..30).map(|i| format!("a{i}: me {{ id }} ")).collect();
        let body = server.gql(&format!("{{ {wide} }}"), json!({})).await;
        assert_eq!(error_message(&body), "Query is too complex.");
        let huge = format!("{{ me {{ id }} }} # {}", "x".repeat(5_000));
        let response = server.client.post(format!("{}/graphql", server.url)).json(&json!({ "query": huge })).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["name"], "PayloadTooLargeError", "{body}");
        assert_eq!(body["error"]["message"], "The request body is larger than 2000 bytes");
        assert_eq!(body["error"]["details"]["limit"], 2000);
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_REQUEST", "{body}");
        // The same body without a length, in chunks: refused once it runs over.
        let (status, text) = chunked_post(&server, &json!({ "query": huge }).to_string()).await;
        assert_eq!(status, 413, "{text}");
        assert!(text.contains(r#""name":"PayloadTooLargeError""#), "{text}");
        // A body that is no GraphQL request says why, in the same envelope.
        let response = server.client.post(format!("{}/graphql", server.url)).header("content-type", "application/json").body(r#"{"query": 12"#).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
        assert!(error_message(&body).starts_with("The body is not a GraphQL request: Invalid request: EOF"), "{body}");
    }

    async fn a_query_text_seen_before_is_checked_and_answered_anew(backend: Backend) {
        // Parsed documents are kept by query text: the variables, the operation chosen, the
        // caller and the limits must still be those of each request.
        let server = TestServer::start_with(backend, |config| config.graphql.max_depth = 4).await;
        let (ann, _) = server.register("ann", "ann@example.com", "Secret123").await;
        let (bob, _) = server.register("bob", "bob@example.com", "Secret123").await;
        let mut syntax_error = None;
        let me = "query Me($named: Boolean!) { me { username @include(if: $named) email } } query Id { me { id } }";
        for _ in 0..2 {
            let body = server.post(Some(&ann), &json!({ "query": me, "operationName": "Me", "variables": { "named": true } })).await.1;
            assert_eq!(body["data"]["me"], json!({ "username": "ann", "email": "ann@example.com" }), "{body}");
            let body = server.post(Some(&bob), &json!({ "query": me, "operationName": "Me", "variables": { "named": false } })).await.1;
            assert_eq!(body["data"]["me"], json!({ "email": "bob@example.com" }), "{body}");
            let body = server.post(Some(&bob), &json!({ "query": me, "operationName": "Id" })).await.1;
            assert!(body["data"]["me"]["id"].is_string(), "{body}");
            let body = server.post(None, &json!({ "query": me, "operationName": "Id" })).await.1;
            assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
            let body = server.gql("{ __schema { types { fields { type { ofType { name } } } } } }", json!({})).await;
            assert_eq!(error_message(&body), "Query is nested too deep.", "{body}");
            // A text that does not parse is refused each time, with the same message.
            let body = server.gql("{ me { id } ", json!({})).await;
            assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
            let message = error_message(&body).to_string();
            assert_eq!(syntax_error.get_or_insert_with(|| message.clone()), &message);
        }
    }

    async fn a_validation_is_remembered_only_for_its_schema_and_operation(backend: Backend) {
        // A variable-free text that validated is not validated again by the same schema for
        // the same operation. Another server's limits are still checked: the server that
        // answers first must not lend the second its validation.
        let open = TestServer::start(backend).await;
        let strict = TestServer::start_with(backend, |config| config.graphql.max_complexity = 20).await;
        let wide: String = (0..30).map(|i| format!("a{i}: me {{ id }} ")).collect();
        let wide = format!("{{ {wide} }}");
        for _ in 0..2 {
            let body = open.gql(&wide, json!({})).await;
            assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
            let body = strict.gql(&wide, json!({})).await;
            assert_eq!(error_message(&body), "Query is too complex.", "{body}");
        }
        // Signed in, the same text clears the guard and selects no list: the schema without
        // the guard that remembers validations runs it, with what the guarded one remembered.
        let (ann, _) = open.register("ann", "ann@example.com", "Secret123").await;
        let (bob, _) = strict.register("bob", "bob@example.com", "Secret123").await;
        for _ in 0..2 {
            let body = open.post(Some(&ann), &json!({ "query": wide })).await.1;
            assert_eq!(body["data"]["a29"]["id"], body["data"]["a0"]["id"], "{body}");
            assert!(body["data"]["a0"]["id"].is_string(), "{body}");
            let body = strict.post(Some(&bob), &json!({ "query": wide })).await.1;
            assert_eq!(error_message(&body), "Query is too complex.", "{body}");
        }
        // Each operation of one text gets its own answer.
        let two = "query A { me { id } } query B { __typename }";
        for _ in 0..2 {
            let body = open.post(None, &json!({ "query": two, "operationName": "A" })).await.1;
            assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
            let body = open.post(None, &json!({ "query": two, "operationName": "B" })).await.1;
            assert_eq!(body, json!({ "data": { "__typename": "Query" } }), "{body}");
        }
    }

    async fn introspection_can_be_switched_off(backend: Backend) {
        let open = TestServer::start(backend).await;
        let body = open.gql("{ __schema { queryType { name } } }", json!({})).await;
        assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
        let closed = TestServer::start_with(backend, |config| config.graphql.introspection = false).await;
        let body = closed.gql("{ __schema { queryType { name } } }", json!({})).await;
        assert_eq!(body["data"]["__schema"], Value::Null, "{body}");
    }

    async fn batches_run_each_operation_and_are_limited(backend: Backend) {
        let server = TestServer::start_with(backend, |config| {
            config.graphql.max_batch = 3;
            config.rate_limit.enabled = true;
            config.rate_limit.max_per_identifier = 2;
        })
        .await;
        server.register("batcher", "batcher@example.com", "Secret123").await;
        let login = json!({
            "query": "mutation($i: String!) { login(input: {identifier: $i, password: \"Secret123\"}) { jwt } }",
            "variables": { "i": "batcher" },
        });
        let me = json!({ "query": "{ me { id } }" });

        // Each operation of a batch answers in order, with its own errors.
        let (status, body) = server.post(None, &json!([login, me])).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body[0]["data"]["login"]["jwt"].is_string(), "{body}");
        assert_eq!(body[1]["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");

        // Each operation counts against the rate limits: a batch is no way around them.
        let (_, body) = server.post(None, &json!([login, login])).await;
        assert!(body[0]["data"]["login"]["jwt"].is_string(), "{body}");
        assert_eq!(body[1]["errors"][0]["extensions"]["code"], "STRAPI_RATE_LIMIT_ERROR", "{body}");

        // Over the limit: refused before anything runs.
        let (status, body) = server.post(None, &json!([me, me, me, me])).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error_message(&body), "A batch holds from 1 to 3 operations; this one holds 4");
        assert_eq!(error_code(&body), "BAD_USER_INPUT");
        // An empty array holds no operation: a request error.
        let (status, body) = server.post(None, &json!([])).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error_code(&body), "BAD_REQUEST", "{body}");
        assert!(body.get("data").is_none(), "{body}");
    }

    async fn every_response_carries_a_request_id(backend: Backend) {
        let server = TestServer::start(backend).await;
        let id_of = |response: &reqwest::Response| {
            response.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_string())
        };
        let first = server.client.get(format!("{}/healthz", server.url)).send().await.unwrap();
        let second = server.client.get(format!("{}/healthz", server.url)).send().await.unwrap();
        let (first, second) = (id_of(&first).unwrap(), id_of(&second).unwrap());
        assert_eq!(first.len(), 24, "{first}");
        assert_ne!(first, second);

        // A proxy's id is kept; anything else is replaced, never echoed.
        let kept = server.client.post(format!("{}/graphql", server.url))
            .header("x-request-id", "edge-4f2a.77").json(&json!({ "query": "{ me { id } }" }))
            .send().await.unwrap();
        assert_eq!(id_of(&kept).as_deref(), Some("edge-4f2a.77"));
        for hostile in ["<script>", "a b", &"x".repeat(65)] {
            let replaced = server.client.get(format!("{}/healthz", server.url))
                .header("x-request-id", hostile).send().await.unwrap();
            let id = id_of(&replaced).unwrap();
            assert_ne!(id, hostile);
            assert_eq!(id.len(), 24);
        }
    }

    async fn cors_follows_the_configured_origins(backend: Backend) {
        let open = TestServer::start(backend).await;
        let preflight = |server: &TestServer, origin: &str| {
            server.client.request(reqwest::Method::OPTIONS, format!("{}/graphql", server.url))
                .header("origin", origin.to_string())
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "authorization,content-type")
                .send()
        };
        let response = preflight(&open, "https://anywhere.example").await.unwrap();
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
        assert!(response.headers().get("access-control-allow-credentials").is_none());

        let strict = TestServer::start_with(backend, |config| {
            config.cors.origins = vec!["https://app.example".into()];
            config.cors.credentials = true;
        })
        .await;
        let allowed = preflight(&strict, "https://app.example").await.unwrap();
        assert_eq!(allowed.headers()["access-control-allow-origin"], "https://app.example");
        assert_eq!(allowed.headers()["access-control-allow-credentials"], "true");
        let allowed_headers = allowed.headers()["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
        assert!(allowed_headers.contains("authorization"), "{allowed_headers}");
        let refused = preflight(&strict, "https://evil.example").await.unwrap();
        assert!(refused.headers().get("access-control-allow-origin").is_none());
        // A simple request from another origin gets no CORS grant either.
        let response = strict.client.post(format!("{}/graphql", strict.url))
            .header("origin", "https://evil.example").json(&json!({ "query": "{ me { id } }" }))
            .send().await.unwrap();
        assert!(response.headers().get("access-control-allow-origin").is_none());
    }
}

/// Migrations run in one transaction: one that fails leaves the database as it was, with a
/// message that names what to fix, and the next start applies them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_migration_leaves_the_database_as_it_was() {
    use castellan::db::{Conn, Db, POSTGRES_MIGRATIONS};
    use diesel::migration::MigrationSource;
    use diesel_async::SimpleAsyncConnection;
    use diesel_migrations::MigrationHarness;

    let (_db, url) = crate::support::TestDb::create(crate::support::Backend::Postgres).await;
    let db = Db::connect(&url, Some(1)).expect("pool");
    let tables = async |db: &Db| -> Vec<String> {
        let Conn::Postgres(mut c) = db.conn().await.expect("connection") else {
            unreachable!("a PostgreSQL pool")
        };
        let rows: Vec<String> = diesel_async::RunQueryDsl::load(
            diesel::dsl::sql::<diesel::sql_types::Text>(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' \
                 UNION ALL SELECT 'version ' || version FROM __diesel_schema_migrations \
                 UNION ALL SELECT 'column ' || column_name::text FROM information_schema.columns WHERE column_name = 'attributes_jsonb' \
                 ORDER BY 1",
            ),
            &mut *c,
        )
        .await
        .expect("catalogue");
        rows
    };
    // The first three migrations, as an earlier Castellan left them (no `attributes_jsonb`
    // yet), and a user whose attributes PostgreSQL's jsonb refuses (U+0000 was accepted then).
    {
        let Conn::Postgres(c) = db.conn().await.expect("connection") else {
            unreachable!("a PostgreSQL pool")
        };
        let mut harness = diesel_async::AsyncMigrationHarness::new(c);
        let migrations =
            MigrationSource::<diesel::pg::Pg>::migrations(&POSTGRES_MIGRATIONS).unwrap();
        harness
            .applied_migrations()
            .expect("the table of applied migrations");
        for migration in &migrations[..3] {
            harness
                .run_migration(&**migration)
                .expect("an early migration");
        }
        let mut c = harness.into_inner();
        c.batch_execute(
            r#"INSERT INTO up_roles (document_id, name, description, type, created_at, updated_at)
                   VALUES ('r', 'R', '', 'r', now(), now());
               INSERT INTO up_users (document_id, username, email, role_id, attributes, created_at, updated_at)
                   SELECT 'u', 'nul', 'nul@example.com', id, '{"a": "\u0000"}', now(), now() FROM up_roles;"#,
        )
        .await
        .expect("an old row");
    }
    let before = tables(&db).await;
    assert_eq!(
        before.iter().filter(|t| t.starts_with("version ")).count(),
        3,
        "{before:?}"
    );

    let error = db
        .migrate()
        .await
        .expect_err("the attributes cannot be parsed")
        .to_string();
    assert!(
        error.contains("unsupported Unicode escape sequence"),
        "{error}"
    );
    assert!(error.contains("hold the character U+0000"), "{error}");
    assert!(error.contains("strpos(attributes, '\\u0000')"), "{error}");
    assert_eq!(
        tables(&db).await,
        before,
        "the API tokens migration, which succeeded, was undone too"
    );

    {
        let mut conn = db.conn().await.expect("connection");
        castellan::on_conn!(&mut conn, |c| c
            .batch_execute("UPDATE up_users SET attributes = '{\"a\": \"\"}'")
            .await
            .expect("fix the row"));
    }
    db.migrate()
        .await
        .expect("the migrations apply once the row is fixed");
    let after = tables(&db).await;
    assert!(after.contains(&"up_api_tokens".to_string()), "{after:?}");
    assert!(
        after.contains(&"column attributes_jsonb".to_string()),
        "{after:?}"
    );
    assert_eq!(
        after.iter().filter(|t| t.starts_with("version ")).count(),
        migrations_count(),
        "{after:?}"
    );
}

fn migrations_count() -> usize {
    diesel::migration::MigrationSource::<diesel::pg::Pg>::migrations(
        &castellan::db::POSTGRES_MIGRATIONS,
    )
    .unwrap()
    .len()
}

/// POST /graphql with `body` sent in 1 KB chunks and no length; the status and the response.
async fn chunked_post(server: &TestServer, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(server.url.trim_start_matches("http://"))
        .await
        .unwrap();
    let mut request = String::from(
        "POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    );
    for chunk in body.as_bytes().chunks(1024) {
        request.push_str(&format!(
            "{:x}\r\n{}\r\n",
            chunk.len(),
            std::str::from_utf8(chunk).unwrap()
        ));
    }
    request.push_str("0\r\n\r\n");
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response).to_string();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, response)
}

/// `[metrics] access`: `loopback` answers a loopback client (a non-loopback one is refused in
/// `binary::production_metrics_answer_loopback_clients_only`); `token` answers 401 without the
/// right bearer token, with `WWW-Authenticate`; `off` answers 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_answer_only_whom_their_access_allows() {
    use castellan::config::{MetricsAccess, Secret};
    let read = async |server: &TestServer, bearer: Option<&str>| {
        let mut request = server.client.get(format!("{}/metrics", server.url));
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = request.send().await.unwrap();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string());
        let status = response.status();
        (status, challenge, response.text().await.unwrap())
    };
    let backend = crate::support::Backend::Sqlite;

    let server = TestServer::start_with(backend, |c| c.metrics = MetricsAccess::Loopback).await;
    let (status, _, body) = read(&server, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("# TYPE castellan_graphql_requests_total counter"),
        "{body}"
    );

    let token = "metrics-token-0123456789abcdef";
    let server = TestServer::start_with(backend, |c| {
        c.metrics = MetricsAccess::Token(Secret::new(token))
    })
    .await;
    for bearer in [
        None,
        Some("metrics-token-0123456789abcdeX"),
        Some("metrics-token"),
        Some(""),
    ] {
        let (status, challenge, body) = read(&server, bearer).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bearer:?}: {body}");
        assert_eq!(challenge.as_deref(), Some("Bearer realm=\"metrics\""));
        assert!(!body.contains("castellan_"), "{body}");
    }
    let (status, _, body) = read(&server, Some(token)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("castellan_graphql_requests_total"), "{body}");

    let server = TestServer::start_with(backend, |c| c.metrics = MetricsAccess::Off).await;
    let (status, _, body) = read(&server, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(!body.contains("castellan_"), "{body}");
}
