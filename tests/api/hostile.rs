//! Hostile input: forged tokens, injection through filters, random query objects and
//! templates, a hanging SMTP server.

use std::time::{Duration, Instant};

use castellan::mail::MailTransport;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{TEST_JWT_SECRET, TestServer, base64url, user_id};

both_backends! {
    async fn a_token_claiming_rs256_but_signed_with_the_secret_is_refused(backend: Backend) {
        use hmac::Mac as _;
        let server = TestServer::start(backend).await;
        let (_, user) = server.register("victim", "victim@example.com", "password1").await;
        let now = chrono::Utc::now().timestamp();
        let signing_input = format!(
            "{}.{}",
            base64url(br#"{"alg":"RS256","typ":"JWT"}"#),
            base64url(json!({ "id": user_id(&user), "iat": now, "exp": now + 3600 }).to_string().as_bytes())
        );
        // The classic confusion: an HMAC over the token with the key a verifier might misuse.
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(TEST_JWT_SECRET.as_bytes()).unwrap();
        mac.update(signing_input.as_bytes());
        let forged = format!("{signing_input}.{}", base64url(&mac.finalize().into_bytes()));
        let (status, body) = server.post(Some(&forged), &json!({ "query": "{ me { id } }" })).await;
        assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED, "{body}");
    }

    async fn filter_inputs_do_not_inject_sql(backend: Backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_with_grants("admin", &["plugin::users-permissions.user.find", "plugin::users-permissions.role.find"]).await;
        let attacks = ["' OR '1'='1", "'; DROP TABLE up_users; --", "\" OR 1=1 --", "%' OR 1=1 --", "x') UNION SELECT password FROM up_users --", "\\'; --"];
        let operators = ["eq", "eqi", "ne", "nei", "startsWith", "endsWith", "contains", "notContains", "containsi", "notContainsi", "gt", "gte", "lt", "lte"];
        for attack in attacks {
            for op in operators {
                for field in ["username", "email", "provider"] {
                    let filters = json!({ field: { op: attack } });
                    let body = server.gql_as(&admin, "query($f: UsersPermissionsUserFiltersInput) { usersPermissionsUsers(filters: $f) { username } }", json!({ "f": filters })).await;
                    assert!(body.get("errors").is_none(), "{filters}: {body}");
                    let rows = body["data"]["usersPermissionsUsers"].as_array().unwrap().len();
                    // Only the honest meaning of the operator may match: never every row by injection
                    // for the operators that can only match a literal attack string.
                    if matches!(op, "eq" | "eqi" | "startsWith" | "endsWith" | "contains" | "containsi") {
                        assert_eq!(rows, 0, "{filters} matched rows");
                    }
                }
            }
            let body = server.gql_as(&admin, "query($f: UsersPermissionsUserFiltersInput) { usersPermissionsUsers(filters: $f) { username } }", json!({ "f": { "id": { "in": [attack] }, "role": { "name": { "eq": attack } } } })).await;
            assert!(body.get("errors").is_none(), "{body}");
            // The list operators, the nested ones, documentId and every string of a role.
            for filters in [
                json!({ "username": { "in": [attack, "x"] } }),
                json!({ "username": { "between": [attack, attack] } }),
                json!({ "username": { "eq": attack, "notIn": [attack] } }),
                json!({ "documentId": { "eq": attack } }),
                json!({ "or": [{ "email": { "eq": attack } }, { "not": { "username": { "ne": attack } } }] }),
                json!({ "username": { "or": [attack], "and": [attack] } }),
                json!({ "role": { "description": { "contains": attack }, "type": { "in": [attack] } } }),
            ] {
                let body = server.gql_as(&admin, "query($f: UsersPermissionsUserFiltersInput) { usersPermissionsUsers(filters: $f) { username } }", json!({ "f": filters })).await;
                assert_eq!(body["data"]["usersPermissionsUsers"], json!([]), "{filters}: {body}");
            }
            for filters in [
                json!({ "name": { "eq": attack } }),
                json!({ "description": { "containsi": attack } }),
                json!({ "type": { "in": [attack], "notIn": ["public"] } }),
                json!({ "or": [{ "name": { "between": [attack, attack] } }, { "documentId": { "eq": attack } }] }),
            ] {
                let body = server.gql_as(&admin, "query($f: UsersPermissionsRoleFiltersInput) { usersPermissionsRoles(filters: $f) { name } }", json!({ "f": filters })).await;
                assert_eq!(body["data"]["usersPermissionsRoles"], json!([]), "{filters}: {body}");
            }
            let body = server.gql_as(&admin, "{ usersPermissionsUsers(sort: [\"username; DROP TABLE up_users\"]) { id } }", json!({})).await;
            assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
        }
        let body = server.gql_as(&admin, "{ usersPermissionsUsers { username } }", json!({})).await;
        assert_eq!(body["data"]["usersPermissionsUsers"].as_array().unwrap().len(), 1, "the table is intact: {body}");
        let body = server.gql_as(&admin, "{ usersPermissionsRoles { type } }", json!({})).await;
        assert_eq!(body["data"]["usersPermissionsRoles"].as_array().unwrap().len(), 3, "the roles are intact: {body}");
    }

    async fn a_hanging_smtp_server_does_not_stall_registration_or_login(backend: Backend) {
        let hanging = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = hanging.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = hanging.accept().await {
                held.push(socket);
            }
        });
        let server = TestServer::start_with(backend, move |config| config.mail = MailTransport::Smtp(format!("smtp://{address}"))).await;
        let admin = server.user_with_grants("settings-admin", &["plugin::users-permissions.advanced-settings.update"]).await;
        server.gql_as(&admin, "mutation { updateUsersPermissionsAdvancedSettings(data: { emailConfirmation: true }) { emailConfirmation } }", json!({})).await;
        let started = Instant::now();
        let body = server
            .gql("mutation { register(input: { username: \"patient\", email: \"patient@example.com\", password: \"password1\" }) { user { id } } }", json!({}))
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        let body = server.gql("mutation { forgotPassword(email: \"settings-admin@example.com\") { ok } }", json!({})).await;
        assert_eq!(body["data"]["forgotPassword"]["ok"], true);
        let login = server.login("settings-admin", "admin-password").await;
        assert!(login["data"]["login"]["jwt"].is_string(), "{login}");
        assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    }
}

/// Where the fuzzer writes an input that crashed, and where [`the_fuzz_corpus_never_crashes`]
/// replays every input from: each file one JSON object of [`FuzzCase`].
const FUZZ_CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fuzz-corpus");

/// One input of the fuzzer: a query object, a document to match it against, and a template.
#[derive(serde::Serialize, serde::Deserialize, Debug)]
struct FuzzCase {
    query: Value,
    document: Value,
    template: String,
}

/// Runs one input through the filter parser, evaluator and SQL compiler, and the template
/// parser and renderer; whether the filter parsed.
fn exercise(case: &FuzzCase) -> bool {
    use castellan::filter::{Dialect, Filter};
    use castellan::mail::template::Template;
    struct AnyField;
    impl castellan::filter::FieldMap for AnyField {
        fn locate(&self, path: &[&str]) -> Option<castellan::filter::Location> {
            Some(castellan::filter::Location::Json {
                column_sql: "doc".into(),
                path: path.iter().map(|s| s.to_string()).collect(),
                jsonb: None,
            })
        }
    }
    let parsed = Filter::parse(&case.query).ok();
    if let Some(filter) = &parsed {
        let bound = filter.bind(&json!({ "id": 1, "attributes": { "team": ["x", 1] } }));
        let _ = bound.matches(&case.document);
        let _ = bound.matches(&json!({ "a": [{ "b": null }, 1], "id": "1" }));
        let _ = bound.to_sql(Dialect::Sqlite, &AnyField);
        let _ = bound.to_sql(Dialect::Postgres, &AnyField);
    }
    if let Ok(template) = Template::parse(&case.template, &["URL", "USER.username", "CODE"]) {
        let _ = template.render(
            &std::collections::HashMap::from([("URL", "<x>".to_string())]),
            true,
        );
    }
    parsed.is_some()
}

/// Every input of the corpus (edge cases written by hand, and any crash the fuzzer found)
/// goes through [`exercise`] without a panic.
#[test]
fn the_fuzz_corpus_never_crashes() {
    let mut files: Vec<_> = std::fs::read_dir(FUZZ_CORPUS)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        // Whole GraphQL requests, replayed against a server by `hardening`.
        .filter(|path| {
            !path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("graphql-"))
        })
        .collect();
    files.sort();
    assert!(files.len() >= 10, "the corpus lost its cases: {files:?}");
    let mut parsed = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let case: FuzzCase = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not a fuzz case: {e}", path.display()));
        let outcome = std::panic::catch_unwind(|| exercise(&case));
        parsed +=
            usize::from(outcome.unwrap_or_else(|_| panic!("{} crashes: {text}", path.display())));
    }
    // Both kinds: query objects the parser accepts, and ones it refuses.
    assert!(
        0 < parsed && parsed < files.len(),
        "{parsed} of {} parsed",
        files.len()
    );
}

/// Random query objects and templates never crash the parser, the evaluator, the SQL
/// compiler or the renderer. Seeded; `CASTELLAN_FUZZ_SECONDS` runs it longer
/// (`bench/fuzz.sh`). An input that crashes is written to `tests/fuzz-corpus/`, which
/// [`the_fuzz_corpus_never_crashes`] replays from then on.
#[test]
fn random_query_objects_and_templates_never_crash() {
    let (seconds, seed) = crate::support::fuzz_budget();
    eprintln!("fuzzing for {seconds}s with CASTELLAN_FUZZ_SEED={seed}");
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let keys = [
        "a",
        "b",
        "a.b",
        "id",
        "$and",
        "$or",
        "$eq",
        "$eqi",
        "$ne",
        "$in",
        "$nin",
        "$lt",
        "$gt",
        "$exists",
        "$elemMatch",
        "$not",
        "",
        "$user.id",
        "attributes.team",
        "role.type",
        "a.0",
        "b.1.a",
        "$lte",
        "$gte",
    ];
    fn value(next: &mut impl FnMut() -> u64, keys: &[&str], depth: u32) -> Value {
        match next() % if depth > 3 { 6 } else { 9 } {
            0 => Value::Null,
            1 => json!(next().is_multiple_of(2)),
            2 => json!((next() % 200) as i64 - 100),
            3 => json!(((next() % 1000) as f64) / 7.0),
            4 => json!(keys[(next() % keys.len() as u64) as usize]),
            5 => json!("$user.attributes.team"),
            6 | 7 => {
                let mut map = serde_json::Map::new();
                for _ in 0..next() % 4 {
                    map.insert(
                        keys[(next() % keys.len() as u64) as usize].to_string(),
                        value(next, keys, depth + 1),
                    );
                }
                Value::Object(map)
            }
            _ => Value::Array(
                (0..next() % 4)
                    .map(|_| value(next, keys, depth + 1))
                    .collect(),
            ),
        }
    }
    let pieces = [
        "<%= URL %>",
        "<%=",
        "%>",
        "<%",
        "<%- USER.username %>",
        "<% if %>",
        "plain ",
        "<%= CODE",
        "\n",
        "<p>",
        "%",
        "<%#",
    ];
    let started = Instant::now();
    let (mut queries, mut parsed) = (0u64, 0u64);
    let mut judged: Vec<(Value, Value)> = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        let case = FuzzCase {
            query: value(&mut next, &keys, 0),
            document: value(&mut next, &keys, 0),
            template: (0..next() % 8)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect(),
        };
        queries += 1;
        match std::panic::catch_unwind(|| exercise(&case)) {
            Ok(accepted) => {
                parsed += u64::from(accepted);
                if accepted && judged.len() < JUDGED {
                    judged.push((case.query.clone(), case.document.clone()));
                }
            }
            Err(_) => {
                let path = format!("{FUZZ_CORPUS}/crash-{seed}-{queries}.json");
                std::fs::write(&path, serde_json::to_string_pretty(&case).unwrap()).unwrap();
                panic!("crashed on {case:?}: written to {path}, fix it and commit the file");
            }
        }
    }
    eprintln!("{queries} inputs ({parsed} query objects accepted), no crash");
    assert!(queries > 100);
    // The accepted query objects, on their documents, judged by sift 17.1.4 (one node process):
    // sift accepts them too and reaches the same verdict.
    let verdicts = crate::peers::sift_pairs(&judged);
    let mut disagreements = Vec::new();
    for ((query, document), sift) in judged.iter().zip(verdicts) {
        let ours = castellan::filter::Filter::parse(query).map(|f| f.matches(document));
        match (ours, sift) {
            (Ok(ours), Ok(sift)) if ours == sift => {}
            (ours, sift) => disagreements.push(format!(
                "  query {query}\n  doc   {document}\n  sift {sift:?}, Castellan {ours:?}"
            )),
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} fuzzed pairs disagree with sift (CASTELLAN_FUZZ_SEED={seed}):\n{}",
        disagreements.len(),
        judged.len(),
        disagreements[..disagreements.len().min(5)].join("\n\n")
    );
    eprintln!(
        "{} accepted (query, document) pairs agree with sift",
        judged.len()
    );
}

/// How many accepted fuzzed pairs are judged by sift at the end of a fuzz run.
const JUDGED: usize = 20_000;
