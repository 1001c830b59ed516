//! Rate limits of sign-in operations: per client address, per identifier, behind trusted
//! proxies, over REST, and shared by two instances through Redis.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{Backend, TestServer, error_code, error_message};

const LOGIN: &str = "mutation($i: String!) { login(input: { identifier: $i, password: \"wrong-password\" }) { jwt } }";

async fn login_from(server: &TestServer, identifier: &str, forwarded_for: Option<&str>) -> Value {
    let mut request = server
        .client
        .post(format!("{}/graphql", server.url))
        .json(&json!({ "query": LOGIN, "variables": { "i": identifier } }));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.unwrap().json().await.unwrap()
}

fn limited(body: &Value) -> bool {
    body["errors"][0]["extensions"]["code"] == "STRAPI_RATE_LIMIT_ERROR"
}

both_backends! {
    async fn logins_are_limited_per_client_address(backend: Backend) {
        let server = TestServer::start_with(backend, |config| {
            config.rate_limit.enabled = true;
            config.rate_limit.max_per_address = 3;
            config.rate_limit.max_per_identifier = 100;
        })
        .await;
        for i in 0..3 {
            let body = login_from(&server, &format!("user{i}"), None).await;
            assert_eq!(error_message(&body), "Invalid identifier or password", "attempt {i}: {body}");
        }
        let body = login_from(&server, "user9", None).await;
        assert_eq!(error_code(&body), "STRAPI_RATE_LIMIT_ERROR", "{body}");
        assert_eq!(error_message(&body), "Too many requests, please try again later.");
        assert_eq!(body["errors"][0]["extensions"]["error"]["name"], "RateLimitError");
        // When to try again: the seconds left in the window.
        let retry = body["errors"][0]["extensions"]["error"]["details"]["retryAfter"].as_u64();
        assert!(retry.is_some_and(|s| (1..=60).contains(&s)), "{body}");
        // Other operations have their own count.
        let body = server.gql("mutation { forgotPassword(email: \"someone@example.com\") { ok } }", json!({})).await;
        assert_eq!(body["data"]["forgotPassword"]["ok"], true, "{body}");
    }

    async fn identifiers_are_limited_whatever_the_address_behind_trusted_proxies(backend: Backend) {
        let server = TestServer::start_with(backend, |config| {
            config.rate_limit.enabled = true;
            config.rate_limit.max_per_address = 2;
            config.rate_limit.max_per_identifier = 2;
            config.rate_limit.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        })
        .await;
        // Behind the trusted proxy each forwarded address counts on its own…
        assert!(!limited(&login_from(&server, "victim", Some("203.0.113.1")).await));
        assert!(!limited(&login_from(&server, "victim", Some("203.0.113.2")).await));
        // …but the identifier is limited across addresses.
        let body = login_from(&server, "victim", Some("203.0.113.3")).await;
        assert!(limited(&body), "{body}");
        assert!(!limited(&login_from(&server, "someone-else", Some("203.0.113.4")).await));
        // A client cannot escape its own limit by forging the header chain: the last untrusted hop counts.
        assert!(!limited(&login_from(&server, "a1", Some("198.51.100.1, 203.0.113.9")).await));
        assert!(!limited(&login_from(&server, "a2", Some("198.51.100.2, 203.0.113.9")).await));
        assert!(limited(&login_from(&server, "a3", Some("198.51.100.3, 203.0.113.9")).await));
    }

    async fn rest_routes_answer_429_with_retry_after(backend: Backend) {
        let server = TestServer::start_with(backend, |config| {
            config.rate_limit.enabled = true;
            config.rate_limit.max_per_address = 2;
        })
        .await;
        let mut last = None;
        for _ in 0..3 {
            last = Some(server.client.get(format!("{}/api/connect/github", server.url)).send().await.unwrap());
        }
        let response = last.unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["name"], "RateLimitError");
        assert_eq!(body["error"]["status"], 429);
        assert_eq!(body["error"]["details"]["retryAfter"], retry, "{body}");
    }
}

/// Two instances count together when they share Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sharing_redis_share_the_limits() {
    let redis =
        std::env::var("CASTELLAN_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!(
        "castellan-test:{}",
        castellan::util::random_alphanumeric(10)
    );
    let shared = |config: &mut castellan::Config| {
        config.rate_limit.enabled = true;
        config.rate_limit.max_per_address = 3;
        config.rate_limit.redis_url = Some(redis.clone());
        config.rate_limit.key_prefix = prefix.clone();
    };
    let a = TestServer::start_with(Backend::Sqlite, shared).await;
    let b = TestServer::start_with(Backend::Sqlite, shared).await;
    assert!(!limited(&login_from(&a, "x", None).await));
    assert!(!limited(&login_from(&a, "y", None).await));
    assert!(
        !limited(&login_from(&b, "z", None).await),
        "the third attempt, on the other instance"
    );
    let body = login_from(&b, "w", None).await;
    assert!(
        limited(&body),
        "the fourth attempt counts the other instance's: {body}"
    );
    assert!(limited(&login_from(&a, "v", None).await));
}

/// The GraphQL operations the issue names besides `login`, each with a body that reaches its
/// limit check: a fresh email each time, so only the address counts.
fn sign_in_operations(attempt: usize) -> Vec<(&'static str, Value)> {
    vec![
        (
            "register",
            json!({ "query": "mutation($e: String!) { register(input: { username: $e, email: $e, password: \"12\" }) { jwt } }",
                    "variables": { "e": format!("r{attempt}@example.com") } }),
        ),
        (
            "forgotPassword",
            json!({ "query": "mutation($e: String!) { forgotPassword(email: $e) { ok } }",
                    "variables": { "e": format!("f{attempt}@example.com") } }),
        ),
        (
            "resetPassword",
            json!({ "query": "mutation { resetPassword(password: \"new-password\", passwordConfirmation: \"new-password\", code: \"not-a-code\") { jwt } }" }),
        ),
        (
            "sendEmailConfirmation",
            json!({ "query": "mutation($e: String!) { sendEmailConfirmation(email: $e) { ok } }",
                    "variables": { "e": format!("s{attempt}@example.com") } }),
        ),
        (
            "changePassword",
            json!({ "query": "mutation { changePassword(currentPassword: \"wrong-password\", password: \"new-password\", passwordConfirmation: \"new-password\") { jwt } }" }),
        ),
        (
            "loginWithProvider",
            json!({ "query": "mutation { loginWithProvider(provider: \"github\", accessToken: \"not-a-token\") { jwt } }" }),
        ),
    ]
}

both_backends! {
    async fn every_sign_in_operation_has_its_own_limit_per_client_address(backend: Backend) {
        let server = TestServer::start_with(backend, |config| {
            config.rate_limit.enabled = true;
            config.rate_limit.max_per_address = 3;
            config.rate_limit.max_per_identifier = 100;
        })
        .await;
        // changePassword needs a signed-in caller: this is the first of 3 registrations.
        let (jwt, _) = server.register("limited", "limited@example.com", "password-1").await;
        for attempt in 0..4 {
            for (operation, body) in sign_in_operations(attempt) {
                let (_, body) = server.post(Some(&jwt), &body).await;
                let allowed = if operation == "register" { 2 } else { 3 };
                assert_eq!(limited(&body), attempt >= allowed, "{operation}, attempt {attempt}: {body}");
                if attempt < allowed {
                    assert!(body["errors"][0]["extensions"]["code"] != "FORBIDDEN", "{operation} never reached its limit: {body}");
                }
            }
        }
        // The OAuth routes over REST: the start, the provider's callback and the sign-in.
        // The REST sign-in with a provider's token counts with loginWithProvider, its GraphQL
        // form, which used the address's 3 attempts above.
        for (path, allowed) in [
            ("/api/connect/github", 3),
            ("/api/connect/github/callback?code=x&state=y", 3),
            ("/api/auth/github/callback?access_token=x", 0),
        ] {
            for attempt in 0..4 {
                let response = server.client.get(format!("{}{path}", server.url)).send().await.unwrap();
                assert_eq!(response.status() == StatusCode::TOO_MANY_REQUESTS, attempt >= allowed, "{path}, attempt {attempt}");
            }
        }
    }
}

/// A login with a wrong password, sent through the trusted proxy with `headers` (each pair
/// one header line, repeated names included).
async fn login_with_headers(
    server: &TestServer,
    identifier: &str,
    headers: &[(&str, String)],
) -> Value {
    let mut request = server
        .client
        .post(format!("{}/graphql", server.url))
        .json(&json!({ "query": LOGIN, "variables": { "i": identifier } }));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.unwrap().json().await.unwrap()
}

/// The header lines of an attacker's n-th attempt through the proxy.
type Attack = fn(usize) -> Vec<(&'static str, String)>;

both_backends! {
    async fn a_forged_forwarding_chain_does_not_escape_the_per_address_limit(backend: Backend) {
        let server = TestServer::start_with(backend, |config| {
            config.rate_limit.enabled = true;
            config.rate_limit.max_per_address = 30;
            config.rate_limit.max_per_identifier = 1_000;
            config.rate_limit.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        })
        .await;
        // The client forges an address in a header line of its own; the proxy adds the real
        // one, in a second line or with its port.
        let attacks: [(&str, Attack); 3] = [
            ("a second line", |i| vec![
                ("x-forwarded-for", format!("198.51.100.{i}")),
                ("x-forwarded-for", "203.0.113.7".into()),
            ]),
            ("a port", |i| vec![("x-forwarded-for", format!("198.51.100.{i}, 203.0.113.8:4711"))]),
            ("an IPv6 address with a port", |i| vec![
                ("x-forwarded-for", format!("198.51.100.{i}")),
                ("x-forwarded-for", "[2001:db8::7]:4711, 127.0.0.1".into()),
            ]),
        ];
        for (form, headers) in attacks {
            for i in 0..35 {
                let body = login_with_headers(&server, &format!("user{i}"), &headers(i)).await;
                assert_eq!(limited(&body), i >= 30, "{form}, attempt {}: {body}", i + 1);
            }
        }
    }

    async fn forwarded_is_read_where_the_proxies_write_it(backend: Backend) {
        let server = TestServer::start_with(backend, |config| {
            config.rate_limit.enabled = true;
            config.rate_limit.max_per_address = 3;
            config.rate_limit.max_per_identifier = 1_000;
            config.rate_limit.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
            config.rate_limit.proxy_header = castellan::ratelimit::ProxyHeader::Forwarded;
        })
        .await;
        for i in 0..5 {
            let headers = [
                ("forwarded", format!("for=198.51.100.{i};proto=https")),
                ("forwarded", "for=\"[2001:db8::7]:4711\";proto=https".into()),
                // Not the header the proxies write: the client's, and ignored.
                ("x-forwarded-for", format!("198.51.100.{i}")),
            ];
            let body = login_with_headers(&server, &format!("user{i}"), &headers).await;
            assert_eq!(limited(&body), i >= 3, "attempt {}: {body}", i + 1);
        }
        // Another client behind the proxy has its own count.
        let other = [("forwarded", "for=192.0.2.43:47011".to_string())];
        assert!(!limited(&login_with_headers(&server, "user9", &other).await));
    }

    async fn an_account_is_limited_across_its_email_and_username(backend: Backend) {
        let server = TestServer::start_with(backend, |config| {
            config.rate_limit.enabled = true;
            config.rate_limit.max_per_address = 1_000;
            config.rate_limit.max_per_identifier = 10;
            config.rate_limit.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        })
        .await;
        server.register("annabel", "annabel@example.com", "right-password").await;
        // Each attempt from its own address: only the account's count can stop them.
        let mut known = Value::Null;
        for i in 0..11 {
            let identifier = if i % 2 == 0 { "Annabel@Example.com" } else { "annabel" };
            known = login_from(&server, identifier, Some(&format!("203.0.113.{i}"))).await;
            if i < 10 {
                assert_eq!(error_message(&known), "Invalid identifier or password", "attempt {}: {known}", i + 1);
            }
        }
        assert!(limited(&known), "the 11th attempt on the account: {known}");
        // The right password waits for the window too.
        assert!(limited(&server.login("annabel", "right-password").await));
        // An identifier of no account is limited alike, and answers alike.
        let mut unknown = Value::Null;
        for i in 0..11 {
            let identifier = if i % 2 == 0 { "nobody@example.com" } else { "NOBODY@example.com " };
            unknown = login_from(&server, identifier, Some(&format!("198.51.100.{i}"))).await;
            if i < 10 {
                assert_eq!(error_message(&unknown), "Invalid identifier or password", "attempt {}: {unknown}", i + 1);
            }
        }
        assert!(limited(&unknown), "{unknown}");
        assert_eq!(unknown["errors"][0]["message"], known["errors"][0]["message"]);
        assert_eq!(unknown["errors"][0]["extensions"]["code"], known["errors"][0]["extensions"]["code"]);
        // Another account is not touched.
        server.register("bartholomew", "bart@example.com", "right-password").await;
        let body = server.login("bart@example.com", "right-password").await;
        assert!(body["data"]["login"]["jwt"].is_string(), "{body}");
    }
}

/// The Redis counters are named by digests: an identifier, whatever its size, is not stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_keys_name_digests_not_identifiers() {
    let redis =
        std::env::var("CASTELLAN_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!(
        "castellan-test:{}",
        castellan::util::random_alphanumeric(10)
    );
    let server = TestServer::start_with(Backend::Sqlite, |config| {
        config.rate_limit.enabled = true;
        config.rate_limit.redis_url = Some(redis.clone());
        config.rate_limit.key_prefix = prefix.clone();
    })
    .await;
    server
        .register("dora", "dora@example.com", "right-password")
        .await;
    let long = format!("LongIdentifier{}", "x".repeat(100_000));
    for identifier in ["dora@example.com", "dora", &long] {
        let body = login_from(&server, identifier, None).await;
        assert_eq!(
            error_message(&body),
            "Invalid identifier or password",
            "{body}"
        );
    }
    let mut conn = redis::Client::open(redis.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let login: Vec<&String> = keys
        .iter()
        .filter(|k| k.starts_with(&format!("{prefix}:login:")))
        .collect();
    // The address, the account, and three identifiers (`dora@example.com`, `dora`, the long one).
    let short: Vec<String> = keys.iter().map(|k| k.chars().take(120).collect()).collect();
    assert_eq!(login.len(), 5, "{short:?}");
    for key in &keys {
        let digest = key.rsplit(':').next().unwrap();
        assert_eq!(digest.len(), 64, "{key}");
        assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
        assert!(
            !key.to_lowercase().contains("dora") && !key.contains("xxxx"),
            "{key}"
        );
    }
    let mut counts: Vec<u64> = redis::cmd("MGET")
        .arg(login.iter().map(|k| k.as_str()).collect::<Vec<_>>())
        .query_async::<Vec<Option<u64>>>(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    counts.sort_unstable();
    // Three identifiers once each, the account twice (its email, its username), the address
    // three times.
    assert_eq!(counts, [1, 1, 1, 2, 3]);
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut conn)
        .await
        .unwrap();
}
