//! GraphQL over HTTP as its spec and Strapi's clients expect it: GET for queries (never
//! mutations), request errors without `data` and with 400, content negotiation between the API
//! and GraphiQL, persisted queries; and the clients themselves, from the npm registry: urql and
//! Apollo Client, @graphql-codegen with `tsc`, GraphiQL in a headless Chromium without the
//! internet.

use std::path::PathBuf;
use std::process::Command;

use castellan::config::{Config, Sources};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::both_backends;
use crate::peers::{ensure_npm_peers, peers_dir};
use crate::support::{TestServer, error_code};

/// `/graphql` with `method`, `Accept` and (for POST) a body of `content_type`: the status,
/// the content type and the JSON body.
async fn request(
    server: &TestServer,
    method: reqwest::Method,
    query: &[(&str, &str)],
    accept: Option<&str>,
    body: Option<&str>,
    bearer: Option<&str>,
) -> (StatusCode, String, reqwest::header::HeaderMap, Value) {
    let mut request = server
        .client
        .request(method, format!("{}/graphql", server.url))
        .query(query);
    if let Some(accept) = accept {
        request = request.header(ACCEPT, accept);
    }
    if let Some(body) = body {
        request = request
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
    }
    if let Some(token) = bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = response.text().await.unwrap();
    server.assert_no_secrets(&text).await;
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, content_type, headers, body)
}

/// A request error: no `data` key, one error with a code.
fn assert_request_error(body: &Value, code: &str) {
    assert!(
        body.get("data").is_none(),
        "a request error has no data: {body}"
    );
    assert_eq!(error_code(body), code, "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

async fn post(server: &TestServer, body: &str) -> (StatusCode, String, Value) {
    let (status, content_type, _, body) =
        request(server, reqwest::Method::POST, &[], None, Some(body), None).await;
    (status, content_type, body)
}

both_backends! {
    // Errors before execution answer 400 without `data`; errors during execution answer 200
    // with it, and a refused non-null root field nulls all of `data`, as in Strapi.
    async fn request_errors_answer_400_without_data(backend: Backend) {
        let server = TestServer::start(backend).await;
        for (body, code) in [
            ("{}", "BAD_REQUEST"),
            (r#"{"variables": {}}"#, "BAD_REQUEST"),
            (r#"{"query": ""}"#, "BAD_REQUEST"),
            (r#"{"query": "{ me { "}"#, "GRAPHQL_VALIDATION_FAILED"),
            (r#"{"query": "{ nope }"}"#, "GRAPHQL_VALIDATION_FAILED"),
            (
                r#"{"query": "query ($p: PaginationArg) { usersPermissionsRoles(pagination: $p) { name } }", "variables": {"p": {"page": "one"}}}"#,
                "GRAPHQL_VALIDATION_FAILED",
            ),
            (
                r#"{"query": "query ($n: ID!) { usersPermissionsRole(documentId: $n) { name } }"}"#,
                "BAD_USER_INPUT",
            ),
            (
                r#"{"query": "query ($n: ID!) { usersPermissionsRole(documentId: $n) { name } }", "variables": {"n": null}}"#,
                "BAD_USER_INPUT",
            ),
        ] {
            let (status, content_type, answer) = post(&server, body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
            assert_eq!(content_type, "application/json", "{body}");
            assert_request_error(&answer, code);
        }
        // A syntax error reads in one line, with its position.
        let (_, _, answer) = post(&server, r#"{"query": "{ me { id "}"#).await;
        assert_eq!(
            answer["errors"][0]["message"],
            "Syntax error at 1:11: expected selection_set, selection, directive, or arguments",
            "{answer}"
        );
        assert_eq!(answer["errors"][0]["extensions"]["error"]["message"], answer["errors"][0]["message"]);
        // A body that is no JSON at all.
        let (status, _, answer) = post(&server, "{not json").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");

        // A field refused during execution: 200, `data` present.
        let (status, _, answer) = post(&server, r#"{"query": "{ me { id } }"}"#).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["data"], json!({ "me": null }), "{answer}");
        assert_eq!(error_code(&answer), "FORBIDDEN");
        // A refused non-null root field nulls `data` itself (the null moves up, as in Strapi).
        let (status, _, answer) = post(
            &server,
            r#"{"query": "mutation { deleteUsersPermissionsUser(id: \"1\") { data { id } } }"}"#,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer.get("data"), Some(&Value::Null), "{answer}");
        assert_eq!(error_code(&answer), "FORBIDDEN");

        // The GraphQL-over-HTTP media type, when asked for.
        let (status, content_type, _, answer) = request(
            &server,
            reqwest::Method::POST,
            &[],
            Some("application/graphql-response+json, application/json;q=0.9"),
            Some(r#"{"query": "{ nope }"}"#),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(content_type, "application/graphql-response+json");
        assert_request_error(&answer, "GRAPHQL_VALIDATION_FAILED");

        // A form's POST stays refused (CSRF), whatever its body.
        let form = server
            .client
            .post(format!("{}/graphql", server.url))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("query=%7B%20me%20%7B%20id%20%7D%20%7D")
            .send()
            .await
            .unwrap();
        assert_eq!(form.status(), StatusCode::BAD_REQUEST);
    }

    // GET runs queries, with variables and an operation name, never a mutation (405); without
    // a query it is a request error, unless a browser asks for a page.
    async fn get_runs_queries_and_never_mutations(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (jwt, _) = server.register("getter", "getter@example.com", "a-password-1").await;
        let (status, content_type, _, answer) = request(
            &server,
            reqwest::Method::GET,
            &[
                ("query", "query Who($x: Boolean!) { me { username } other: me @include(if: $x) { email } }"),
                ("variables", r#"{"x": true}"#),
                ("operationName", "Who"),
            ],
            Some("application/json"),
            None,
            Some(&jwt),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(content_type, "application/json");
        assert_eq!(
            answer,
            json!({ "data": { "me": { "username": "getter" }, "other": { "email": "getter@example.com" } } })
        );
        // A mutation, even among queries: 405, Allow: POST, and it did not run.
        for (query, operation) in [
            ("mutation { forgotPassword(email: \"getter@example.com\") { ok } }", None),
            ("query A { me { id } } mutation B { forgotPassword(email: \"getter@example.com\") { ok } }", Some("B")),
        ] {
            let mut params = vec![("query", query)];
            if let Some(operation) = operation {
                params.push(("operationName", operation));
            }
            let (status, _, headers, answer) =
                request(&server, reqwest::Method::GET, &params, None, None, None).await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{answer}");
            assert_eq!(headers.get("allow").unwrap(), "POST");
            assert_request_error(&answer, "BAD_REQUEST");
        }
        assert!(server.outbox.mails().is_empty(), "a GET ran a mutation");
        // Errors of a GET are request errors too.
        for (params, code) in [
            (vec![], "BAD_REQUEST"),
            (vec![("query", "{ me { id ")], "GRAPHQL_VALIDATION_FAILED"),
            (vec![("query", "{ me { id } }"), ("variables", "[1]")], "BAD_REQUEST"),
            (vec![("query", "{ me { nope } }")], "GRAPHQL_VALIDATION_FAILED"),
        ] {
            let (status, _, _, answer) =
                request(&server, reqwest::Method::GET, &params, Some("application/json"), None, None).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{params:?}: {answer}");
            assert_request_error(&answer, code);
        }
    }

    // Apollo's automatic persisted queries: the hash alone (as a GET) is answered
    // `PERSISTED_QUERY_NOT_FOUND` until the text has been sent once with it; a hash that is
    // not the text's is refused.
    async fn persisted_queries_run_from_their_hash(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (jwt, _) = server.register("hasher", "hasher@example.com", "a-password-1").await;
        let query = "query Me { me { username } }";
        let hash: String = Sha256::digest(query.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } }).to_string();
        let by_hash = [("extensions", extensions.as_str()), ("operationName", "Me")];
        let (status, _, _, answer) =
            request(&server, reqwest::Method::GET, &by_hash, None, None, Some(&jwt)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_request_error(&answer, "PERSISTED_QUERY_NOT_FOUND");
        assert_eq!(answer["errors"][0]["message"], "PersistedQueryNotFound");
        let body = json!({ "query": query, "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } });
        let (status, answer) = server.post(Some(&jwt), &body).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(answer, json!({ "data": { "me": { "username": "hasher" } } }));
        let (status, _, _, answer) =
            request(&server, reqwest::Method::GET, &by_hash, None, None, Some(&jwt)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer, json!({ "data": { "me": { "username": "hasher" } } }));
        // A text over 16 KiB runs but is not remembered: hashed queries cannot fill memory with
        // whole request bodies.
        let long = format!("query Me {{ me {{ username }} }} # {}", "x".repeat(17 * 1024));
        let long_hash: String = Sha256::digest(long.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        let long_extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": long_hash } });
        let (status, answer) = server.post(Some(&jwt), &json!({ "query": long, "extensions": long_extensions })).await;
        assert_eq!((status, &answer), (StatusCode::OK, &json!({ "data": { "me": { "username": "hasher" } } })));
        let long_extensions = long_extensions.to_string();
        let long_by_hash = [("extensions", long_extensions.as_str()), ("operationName", "Me")];
        let (_, _, _, answer) =
            request(&server, reqwest::Method::GET, &long_by_hash, None, None, Some(&jwt)).await;
        assert_request_error(&answer, "PERSISTED_QUERY_NOT_FOUND");
        let wrong = json!({ "query": "{ me { email } }", "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } });
        let (status, answer) = server.post(Some(&jwt), &wrong).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_request_error(&answer, "BAD_REQUEST");
    }

    // GraphiQL: served to a browser asking for HTML without a query, from Castellan's own
    // files, under a CSP that allows nothing elsewhere; refused in production unless
    // `graphql.playground` switches it on.
    async fn graphiql_is_served_from_the_binary_and_off_in_production(backend: Backend) {
        let server = TestServer::start(backend).await;
        let page = server
            .client
            .get(format!("{}/graphql", server.url))
            .header(ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8")
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
        assert!(csp.starts_with("default-src 'none'; script-src 'self';"), "{csp}");
        assert!(!csp.contains("http"), "{csp}");
        let html = page.text().await.unwrap();
        assert!(!html.contains("unpkg") && !html.contains("https://"), "{html}");
        for asset in [
            "graphiql.min.js",
            "graphiql.min.css",
            "react.production.min.js",
            "react-dom.production.min.js",
            "castellan-graphiql.js",
        ] {
            assert!(html.contains(&format!("/graphql/assets/{asset}")), "{asset}");
            let (status, headers, body) = server.get(&format!("/graphql/assets/{asset}")).await;
            assert_eq!(status, StatusCode::OK, "{asset}");
            assert!(headers[CONTENT_TYPE].to_str().unwrap().starts_with("text/"), "{asset}");
            assert!(body.len() > 500, "{asset}");
        }
        let (status, _, script) = server.get("/graphql/assets/castellan-graphiql.js").await;
        assert_eq!(status, StatusCode::OK);
        assert!(script.contains(r#""Authorization": "Bearer ""#), "{script}");
        // A client asking for JSON (or for nothing) without a query gets a request error.
        let (status, _, _, answer) =
            request(&server, reqwest::Method::GET, &[], None, None, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_request_error(&answer, "BAD_REQUEST");

        // Production: off by default, on when switched on.
        for (switch, served) in [(None, false), (Some(false), false), (Some(true), true)] {
            let playground = production_config(switch).graphql.playground;
            assert_eq!(playground, served, "production with playground = {switch:?}");
            let server = TestServer::start_with(backend, |config| {
                config.environment = castellan::config::Environment::Production;
                config.graphql.playground = playground;
            })
            .await;
            let page = server
                .client
                .get(format!("{}/graphql", server.url))
                .header(ACCEPT, "text/html")
                .send()
                .await
                .unwrap();
            let expected = if served { StatusCode::OK } else { StatusCode::NOT_FOUND };
            assert_eq!(page.status(), expected, "playground = {switch:?}");
            let (asset, _, _) = server.get("/graphql/assets/graphiql.min.js").await;
            assert_eq!(asset, expected, "playground = {switch:?}");
            // The API answers either way.
            let (status, _) = server.post(None, &json!({ "query": "{ __typename }" })).await;
            assert_eq!(status, StatusCode::OK);
        }
    }
}

/// The configuration production loads, with `[graphql] playground` as given.
fn production_config(playground: Option<bool>) -> Config {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("castellan.toml");
    let toml = match playground {
        Some(on) => format!("[graphql]\nplayground = {on}\n"),
        None => String::new(),
    };
    std::fs::write(&path, toml).unwrap();
    let secret = "s".repeat(48);
    Config::load(Sources {
        config_file: Some(path),
        environment: Some("production".into()),
        jwt_secret: Some(secret.clone()),
        api_token_salt: Some(secret),
        server_url: Some("https://auth.example.com".into()),
        ..Sources::default()
    })
    .unwrap()
}

#[test]
fn the_playground_is_on_in_development_by_default() {
    let config = Config::load(Sources::default()).unwrap();
    assert!(config.graphql.playground);
}

/// Each file GraphiQL's page loads is, byte for byte, the one the pinned npm package ships.
#[test]
fn the_embedded_graphiql_assets_are_the_pinned_npm_files() {
    ensure_npm_peers();
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for (embedded, npm) in [
        ("graphiql.min.js", "graphiql/graphiql.min.js"),
        ("graphiql.min.css", "graphiql/graphiql.min.css"),
        (
            "react.production.min.js",
            "react/umd/react.production.min.js",
        ),
        (
            "react-dom.production.min.js",
            "react-dom/umd/react-dom.production.min.js",
        ),
        ("LICENSE-graphiql", "graphiql/LICENSE"),
        ("LICENSE-react", "react/LICENSE"),
        ("LICENSE-react-dom", "react-dom/LICENSE"),
    ] {
        let ours = std::fs::read(repo.join("assets/graphiql").join(embedded)).unwrap();
        let theirs = std::fs::read(peers_dir().join("node_modules").join(npm)).unwrap();
        assert!(
            ours == theirs,
            "assets/graphiql/{embedded} differs from npm's {npm}"
        );
    }
}

/// Runs `node tests/peers/SCRIPT ARGS…` off the runtime and parses the JSON line it prints.
async fn node(script: &str, args: Vec<String>) -> Value {
    let script = script.to_string();
    tokio::task::spawn_blocking(move || {
        ensure_npm_peers();
        let output = Command::new("node")
            .arg(peers_dir().join(&script))
            .args(&args)
            .current_dir(peers_dir())
            .output()
            .expect("node runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{script} failed: {stderr}\n{stdout}"
        );
        let line = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(line)
            .unwrap_or_else(|_| panic!("{script} printed no JSON: {stdout}\n{stderr}"))
    })
    .await
    .unwrap()
}

/// Where test artifacts (screenshots) are kept: `target/test-artifacts/`, ignored by git.
fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(crate) fn chromium_installed() {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "the GraphiQL test drives Debian's Chromium: apt-get install -y chromium (.ci/run does)"
    );
}

both_backends! {
    // A real browser, with every request off loopback refused: GraphiQL loads from Castellan,
    // the JWT typed into its headers editor after the prefilled `Bearer `, `me` runs and its
    // answer shows. The screenshot stays in target/test-artifacts/.
    async fn graphiql_runs_me_in_headless_chromium_without_the_internet(backend: Backend) {
        chromium_installed();
        let server = TestServer::start(backend).await;
        let (jwt, _) = server.register("browser", "browser@example.com", "a-password-1").await;
        let screenshot = artifacts().join(format!("graphiql-me-{backend:?}.png").to_lowercase());
        let _ = std::fs::remove_file(&screenshot);
        let report = node(
            "graphiql-browser.mjs",
            vec!["run".into(), server.url.clone(), jwt.clone(), screenshot.display().to_string()],
        )
        .await;
        assert_eq!(report["status"], 200, "{report}");
        assert_eq!(report["blocked"], json!([]), "the page reached beyond loopback: {report}");
        assert_eq!(report["cspViolations"], json!([]), "{report}");
        assert_eq!(report["consoleErrors"], json!([]), "{report}");
        assert_eq!(report["prefilledHeaders"], "{\n  \"Authorization\": \"Bearer \"\n}");
        assert_eq!(
            report["typedHeaders"],
            format!("{{\n  \"Authorization\": \"Bearer {jwt}\"\n}}")
        );
        let result: Value = serde_json::from_str(report["result"].as_str().unwrap()).unwrap();
        assert_eq!(result["data"]["me"]["username"], "browser", "{report}");
        assert_eq!(result["data"]["me"]["role"]["type"], "authenticated");
        assert!(report["resultShown"].as_str().unwrap().contains("browser@example.com"));
        let png = std::fs::read(&screenshot).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{}", screenshot.display());

        // Production: the browser is refused the page, unless it is switched on.
        for (switch, status) in [(None, 404), (Some(true), 200)] {
            let playground = production_config(switch).graphql.playground;
            let server = TestServer::start_with(backend, |config| {
                config.environment = castellan::config::Environment::Production;
                config.graphql.playground = playground;
            })
            .await;
            let report = node("graphiql-browser.mjs", vec!["open".into(), server.url.clone()]).await;
            assert_eq!(report["status"], status, "playground = {switch:?}: {report}");
            assert_eq!(report["blocked"], json!([]), "{report}");
            if status == 404 {
                assert!(report["text"].as_str().unwrap().contains("GraphiQL is off"), "{report}");
            }
        }
    }

    // urql with its defaults (queries as GET) and Apollo Client: register → login → me →
    // changePassword → me, the old token refused after; Apollo's persisted queries send `me`
    // as a GET of its hash.
    async fn urql_and_apollo_sign_up_in_and_change_password(backend: Backend) {
        let server = TestServer::start(backend).await;
        let report = node("graphql-clients.mjs", vec![server.url.clone()]).await;
        for (client, username, email) in [
            ("urql", "urql-user", "urql@example.com"),
            ("apollo", "apollo-user", "apollo@example.com"),
        ] {
            let steps = &report[client];
            for step in ["register", "login", "me", "changePassword", "meAfter"] {
                assert_eq!(steps[step]["error"], Value::Null, "{client} {step}: {steps}");
            }
            assert_eq!(steps["register"]["data"]["register"]["user"]["username"], username);
            assert!(steps["login"]["data"]["login"]["jwt"].is_string());
            for step in ["me", "meAfter"] {
                assert_eq!(steps[step]["data"]["me"]["email"], email, "{client} {step}");
            }
            assert!(steps["changePassword"]["data"]["changePassword"]["jwt"].is_string());
            assert!(steps["meWithOldToken"]["error"].is_string(), "{client}: {steps}");
        }
        let requests = report["requests"].as_array().unwrap();
        fn of<'a>(requests: &'a [Value], client: &'a str) -> impl Iterator<Item = &'a Value> {
            requests.iter().filter(move |r| r["client"] == client)
        }
        // urql: its queries went as GET, its mutations as POST.
        let urql_gets: Vec<_> = of(requests, "urql").filter(|r| r["method"] == "GET").collect();
        assert_eq!(urql_gets.len(), 3, "{requests:?}");
        assert!(urql_gets.iter().all(|r| r["url"].as_str().unwrap().contains("query=")));
        assert_eq!(of(requests, "urql").filter(|r| r["method"] == "POST").count(), 3);
        // Persisted: hash alone (not found), the text once, then the hash alone again, answered.
        let persisted: Vec<_> = of(requests, "persisted").collect();
        assert_eq!(persisted.len(), 3, "{persisted:?}");
        assert_eq!(persisted[0]["method"], "GET");
        assert_eq!(persisted[1]["method"], "POST");
        assert_eq!(persisted[2]["method"], "GET");
        let last = persisted[2]["url"].as_str().unwrap();
        assert!(last.contains("sha256Hash") && !last.contains("query="), "{last}");
        for step in ["persistedFirst", "persistedAgain"] {
            assert_eq!(report["apollo"][step]["data"]["me"]["username"], "apollo-user", "{report}");
        }
    }

    // @graphql-codegen's client preset generates from schema.graphql and from the live
    // schema, and a front end's file using the types for login, register, me, roles (with
    // users and permissions) and users passes `tsc --noEmit`.
    async fn codegen_types_from_the_schema_and_live_introspection_compile(backend: Backend) {
        let server = TestServer::start(backend).await;
        let out = peers_dir().join(".generated");
        let schema_file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
        let tag = format!("{backend:?}").to_lowercase();
        for (source, name) in [
            (schema_file.display().to_string(), format!("file-{tag}")),
            (format!("{}/graphql", server.url), format!("live-{tag}")),
        ] {
            let report = node(
                "codegen.mjs",
                vec![source.clone(), out.join(&name).display().to_string()],
            )
            .await;
            assert_eq!(report["tsc"]["status"], 0, "{source}: {report}");
            assert!(report["generated"].as_array().unwrap().contains(&json!("graphql.ts")));
            let generated = std::fs::read_to_string(out.join(&name).join("gql/graphql.ts")).unwrap();
            for expected in [
                "export type UsersPermissionsPermission = {",
                "export type RolesQuery = {",
                "users_connection",
                "PublicationStatus",
            ] {
                assert!(generated.contains(expected), "{source}: {expected}");
            }
        }
    }
}

both_backends! {
    // `DateTime` and `JSON` read the same in schema.graphql and to live introspection: a
    // description for people, and the specification they follow.
    async fn scalars_are_described_alike_in_the_sdl_and_live(backend: Backend) {
        use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
        let server = TestServer::start(backend).await;
        let sdl = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema.graphql"),
        )
        .unwrap();
        let document = async_graphql::parser::parse_schema(&sdl).unwrap();
        for name in ["DateTime", "JSON"] {
            let body = server
                .gql(
                    "query ($name: String!) { __type(name: $name) { kind description specifiedByURL } }",
                    json!({ "name": name }),
                )
                .await;
            let live = &body["data"]["__type"];
            assert_eq!(live["kind"], "SCALAR", "{body}");
            let definition = document
                .definitions
                .iter()
                .find_map(|d| match d {
                    TypeSystemDefinition::Type(t) if t.node.name.node == name => Some(&t.node),
                    _ => None,
                })
                .unwrap();
            assert!(matches!(definition.kind, TypeKind::Scalar));
            let description = definition.description.as_ref().unwrap().node.clone();
            assert_eq!(live["description"], description.as_str(), "{name}");
            assert!(!description.contains("Implement") && !description.contains("<Utc>"), "{description}");
            let specified = definition
                .directives
                .iter()
                .find(|d| d.node.name.node == "specifiedBy")
                .and_then(|d| d.node.get_argument("url"))
                .map(|url| url.node.to_string())
                .unwrap_or_else(|| panic!("{name} has @specifiedBy in schema.graphql"));
            assert_eq!(format!("\"{}\"", live["specifiedByURL"].as_str().unwrap()), specified, "{name}");
        }
    }
}
