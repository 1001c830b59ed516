//! Sign-in through an OpenID Connect / OAuth2 provider: a real provider process
//! (oauth2-mock-server) on loopback, driven through the whole redirect chain by a
//! cookie-keeping HTTP client.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use castellan::auth::providers::ProviderSettings;
use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::both_backends;
use crate::peers::{OAuthProvider, ProviderBehaviour};
use crate::support::{Backend, TestServer, error_code, user_id};

const FRONT_END: &str = "https://app.example.com/connect/mock/redirect";
const SECRET: &str = "mock-client-secret-0123456789";

fn oidc(provider: &OAuthProvider) -> ProviderSettings {
    ProviderSettings {
        enabled: true,
        kind: "oidc".into(),
        client_id: "castellan-test".into(),
        client_secret: SECRET.into(),
        redirect_url: FRONT_END.into(),
        issuer: Some(provider.issuer()),
        ..Default::default()
    }
}

async fn start(
    backend: Backend,
    provider: &OAuthProvider,
    adjust: impl FnOnce(&mut castellan::Config),
) -> TestServer {
    let settings = oidc(provider);
    TestServer::start_with(backend, move |config| {
        config.providers.insert("mock".into(), settings);
        config.allowed_callback_prefixes = vec!["https://app.example.com/".into()];
        config.provider_timeout = Duration::from_secs(2);
        adjust(config);
    })
    .await
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// connect → provider → callback; the front-end URL the browser ends on (or the error answer).
async fn run_flow(
    server: &TestServer,
    client: &reqwest::Client,
    connect_query: &str,
) -> reqwest::Response {
    let response = client
        .get(format!("{}/api/connect/mock{connect_query}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::FOUND,
        "{:?}",
        response.text().await
    );
    let at_provider = client.get(location(&response)).send().await.unwrap();
    assert_eq!(at_provider.status(), StatusCode::FOUND);
    let callback = location(&at_provider);
    assert!(
        callback.starts_with(&format!("{}/api/connect/mock/callback?", server.url)),
        "{callback}"
    );
    let done = client.get(callback).send().await.unwrap();
    // The front end's URL carries the JWT, and nothing private.
    server.assert_no_secrets(&location(&done)).await;
    done
}

fn query_value(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.to_string())
}

async fn sign_in(server: &TestServer, access_token: &str) -> (StatusCode, Value) {
    let response = server
        .client
        .get(format!("{}/api/auth/mock/callback", server.url))
        .query(&[("access_token", access_token)])
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    server.assert_no_secrets(&text).await;
    (status, serde_json::from_str(&text).unwrap())
}

fn verified(email: &str) -> ProviderBehaviour {
    ProviderBehaviour {
        profile: Some(
            json!({ "sub": "mock-1", "email": email, "email_verified": true, "preferred_username": "mocky" }),
        ),
        ..Default::default()
    }
}

both_backends! {
    async fn the_whole_redirect_chain_signs_in(backend: Backend) {
        let provider = OAuthProvider::start(verified("Mocky@Example.com")).await;
        let server = start(backend, &provider, |_| {}).await;
        let client = browser();
        let done = run_flow(&server, &client, "").await;
        assert_eq!(done.status(), StatusCode::FOUND, "{:?}", done.text().await);
        let front = location(&done);
        assert!(front.starts_with(&format!("{FRONT_END}?")), "{front}");
        let access_token = query_value(&front, "access_token").expect("access_token");
        assert!(query_value(&front, "id_token").is_some(), "OpenID Connect hands the id_token on too");

        let (status, body) = sign_in(&server, &access_token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["user"]["email"], "mocky@example.com");
        assert_eq!(body["user"]["provider"], "mock");
        assert_eq!(body["user"]["confirmed"], true);
        assert_eq!(body["user"]["role"]["type"], "authenticated");
        let jwt = body["jwt"].as_str().unwrap();
        let me = server.gql_as(jwt, "{ me { username email } }", json!({})).await;
        assert_eq!(me["data"]["me"]["email"], "mocky@example.com", "{me}");

        // The same over GraphQL, for GraphQL-only front ends: the same account.
        let body = server
            .gql("mutation($t: String!) { loginWithProvider(provider: \"mock\", accessToken: $t) { jwt user { id email } } }", json!({ "t": access_token }))
            .await;
        assert_eq!(body["data"]["loginWithProvider"]["user"]["email"], "mocky@example.com", "{body}");
    }

    async fn bad_missing_and_reused_states_are_refused(backend: Backend) {
        let provider = OAuthProvider::start(verified("state@example.com")).await;
        let server = start(backend, &provider, |_| {}).await;
        // Missing: a callback without the cookie of the first leg.
        let response = server.client.get(format!("{}/api/connect/mock/callback?code=abc&state=def", server.url)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["message"], "Invalid or expired sign-in state: start again from /api/connect/mock");

        // Bad: the right cookie, another state.
        let client = browser();
        let response = client.get(format!("{}/api/connect/mock", server.url)).send().await.unwrap();
        let cookie = response.headers().get(SET_COOKIE).unwrap().to_str().unwrap().split(';').next().unwrap().to_string();
        let at_provider = client.get(location(&response)).send().await.unwrap();
        let callback = location(&at_provider);
        let forged = callback.replace("state=", "state=0");
        let response = client.get(forged).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.headers().get(LOCATION).is_none());

        // Reused: the genuine callback works once.
        let first = server.client.get(&callback).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(first.status(), StatusCode::FOUND);
        let again = server.client.get(&callback).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::BAD_REQUEST, "a state works once");
    }

    async fn a_used_state_is_refused_by_every_instance_of_the_database(backend: Backend) {
        let provider = OAuthProvider::start(verified("twice@example.com")).await;
        let a = start(backend, &provider, |_| {}).await;
        let database_url = a.app.config.database_url.clone();
        let b = start(backend, &provider, move |config| config.database_url = database_url).await;

        let client = browser();
        let response = client.get(format!("{}/api/connect/mock", a.url)).send().await.unwrap();
        let cookie = response.headers().get(SET_COOKIE).unwrap().to_str().unwrap().split(';').next().unwrap().to_string();
        let at_provider = client.get(location(&response)).send().await.unwrap();
        let callback = location(&at_provider);
        let done = a.client.get(&callback).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(done.status(), StatusCode::FOUND, "{:?}", done.text().await);

        // The same callback URL and cookie, on the other instance, then on the first again.
        let on_b = callback.replacen(&a.url, &b.url, 1);
        assert_ne!(on_b, callback);
        for (server, url) in [(&b, &on_b), (&a, &callback)] {
            let replay = server.client.get(url).header("cookie", &cookie).send().await.unwrap();
            assert_eq!(replay.status(), StatusCode::BAD_REQUEST, "a state works once, on any instance");
            assert!(replay.headers().get(LOCATION).is_none());
            let body: Value = replay.json().await.unwrap();
            assert_eq!(body["error"]["message"], "Invalid or expired sign-in state: start again from /api/connect/mock", "{body}");
        }
    }

    async fn a_refused_consent_comes_back_as_an_error(backend: Backend) {
        let provider = OAuthProvider::start(ProviderBehaviour { deny: true, ..verified("deny@example.com") }).await;
        let server = start(backend, &provider, |_| {}).await;
        let done = run_flow(&server, &browser(), "").await;
        assert_eq!(done.status(), StatusCode::FOUND);
        let front = location(&done);
        assert!(front.starts_with(FRONT_END), "{front}");
        assert_eq!(query_value(&front, "error").as_deref(), Some("access_denied"));
        assert_eq!(query_value(&front, "access_token"), None);
    }

    async fn a_failing_provider_gives_a_clear_error(backend: Backend) {
        let provider = OAuthProvider::start(ProviderBehaviour { token_status: Some(500), ..verified("fail@example.com") }).await;
        let server = start(backend, &provider, |_| {}).await;
        let done = run_flow(&server, &browser(), "").await;
        assert_eq!(done.status(), StatusCode::BAD_REQUEST);
        let body: Value = done.json().await.unwrap();
        assert_eq!(body["error"]["message"], "The provider mock refused the code (HTTP 500)");
    }

    async fn a_provider_that_never_answers_times_out(backend: Backend) {
        let provider = OAuthProvider::start(verified("slow@example.com")).await;
        // Accepts connections and never answers.
        let hanging = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hanging_url = format!("http://{}/token", hanging.local_addr().unwrap());
        let held = Arc::new(Mutex::new(Vec::new()));
        let keep = held.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = hanging.accept().await {
                keep.lock().unwrap().push(socket);
            }
        });
        let authorize = format!("{}/authorize", provider.issuer());
        let userinfo = format!("{}/userinfo", provider.issuer());
        let server = start(backend, &provider, move |config| {
            config.providers.insert("mock".into(), ProviderSettings {
                enabled: true,
                kind: "oauth2".into(),
                client_id: "castellan-test".into(),
                redirect_url: FRONT_END.into(),
                authorize_url: Some(authorize),
                token_url: Some(hanging_url),
                profile_url: Some(userinfo),
                ..Default::default()
            });
            config.provider_timeout = Duration::from_secs(1);
        })
        .await;
        let started = std::time::Instant::now();
        let done = run_flow(&server, &browser(), "").await;
        assert_eq!(done.status(), StatusCode::BAD_REQUEST);
        let body: Value = done.json().await.unwrap();
        assert_eq!(body["error"]["message"], "The provider mock did not answer in time; try again later");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    async fn emails_collide_safely_under_both_settings(backend: Backend) {
        let unverified = ProviderBehaviour {
            profile: Some(json!({ "sub": "x", "email": "alice@example.com", "email_verified": false })),
            ..Default::default()
        };
        let provider = OAuthProvider::start(unverified).await;
        let server = start(backend, &provider, |_| {}).await;
        let (_, local) = server.register("alice", "alice@example.com", "password1").await;
        let (status, body) = sign_in(&server, "any-token").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["message"], "An account with this email already exists. Sign in to it, or use a provider that has verified the email");

        let verified_provider = OAuthProvider::start(verified("alice@example.com")).await;
        let server2 = start(backend, &verified_provider, |_| {}).await;
        let (_, local2) = server2.register("alice", "alice@example.com", "password1").await;
        let (status, body) = sign_in(&server2, "any-token").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["user"]["id"], user_id(&local2), "a verified email signs in to the existing account");
        let _ = local;

        // One account per email off: a separate account for the provider.
        let admin = server.user_with_grants("settings-admin", &["plugin::users-permissions.advanced-settings.update"]).await;
        let body = server
            .gql_as(&admin, "mutation { updateUsersPermissionsAdvancedSettings(data: { uniqueEmail: false }) { uniqueEmail } }", json!({}))
            .await;
        assert_eq!(body["data"]["updateUsersPermissionsAdvancedSettings"]["uniqueEmail"], false, "{body}");
        let (status, body) = sign_in(&server, "any-token").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["user"]["provider"], "mock");
        assert_ne!(body["user"]["id"], user_id(&local), "a new account, not the local one");
    }

    async fn blocked_users_and_providers_without_email_are_refused(backend: Backend) {
        let provider = OAuthProvider::start(verified("blocked@example.com")).await;
        let server = start(backend, &provider, |_| {}).await;
        let (status, body) = sign_in(&server, "t").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut conn = server.conn().await;
        castellan::db::models::User::set_blocked(&mut conn, body["user"]["id"].as_i64().unwrap() as i32, true).await.unwrap();
        let (status, body) = sign_in(&server, "t").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["message"], "Your account has been blocked by an administrator");

        let no_email = OAuthProvider::start(ProviderBehaviour { profile: Some(json!({ "sub": "anonymous" })), ..Default::default() }).await;
        let server = start(backend, &no_email, |_| {}).await;
        let (status, body) = sign_in(&server, "t").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["message"], "The provider mock did not share an email address, and Castellan needs one to sign you in");
    }

    async fn callbacks_outside_the_allowed_list_are_refused_without_redirect(backend: Backend) {
        let provider = OAuthProvider::start(verified("cb@example.com")).await;
        let server = start(backend, &provider, |_| {}).await;
        for callback in ["https://evil.example.com/steal", "https://app.example.com.evil.com/x", "javascript:alert(1)", "//evil.example.com"] {
            let response = server.client.get(format!("{}/api/connect/mock", server.url)).query(&[("callback", callback)]).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{callback}");
            assert!(response.headers().get(LOCATION).is_none(), "{callback}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["message"], "callback is not an allowed redirect URL");
        }
        let done = run_flow(&server, &browser(), "?callback=https%3A%2F%2Fapp.example.com%2Fother%2Fpage").await;
        assert!(location(&done).starts_with("https://app.example.com/other/page?access_token="), "{}", location(&done));
    }

    async fn disabled_and_unknown_providers_are_refused(backend: Backend) {
        let provider = OAuthProvider::start(verified("off@example.com")).await;
        let server = start(backend, &provider, |config| {
            config.providers.insert("github".into(), ProviderSettings { enabled: false, client_id: "x".into(), ..Default::default() });
        })
        .await;
        for path in ["/api/connect/github", "/api/connect/nothing", "/api/auth/nothing/callback?access_token=x", "/api/connect/email"] {
            let response = server.client.get(format!("{}{path}", server.url)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["message"], "This provider is disabled", "{path}");
            assert_eq!(body["error"]["name"], "ApplicationError");
        }
        let body = server.gql("mutation { loginWithProvider(provider: \"github\", accessToken: \"x\") { jwt } }", json!({})).await;
        assert_eq!(body["errors"][0]["message"], "This provider is disabled");
        // The email provider switched off closes local login the same way.
        let admin = server.user_with_grants("provider-admin", &["plugin::users-permissions.providers.update"]).await;
        let body = server.gql_as(&admin, "mutation { updateUsersPermissionsProvider(name: \"email\", data: { enabled: false }) { enabled } }", json!({})).await;
        assert_eq!(body["data"]["updateUsersPermissionsProvider"]["enabled"], false, "{body}");
        assert_eq!(server.login("provider-admin", "admin-password").await["errors"][0]["message"], "This provider is disabled");
    }

    async fn the_client_secret_never_shows(backend: Backend) {
        capture_logs();
        let provider = OAuthProvider::start(verified("secret@example.com")).await;
        let server = start(backend, &provider, |_| {}).await;
        let admin = server.user_with_grants("provider-admin", &["plugin::users-permissions.providers.read", "plugin::users-permissions.providers.update"]).await;
        let body = server
            .gql_as(&admin, "mutation($s: String!) { updateUsersPermissionsProvider(name: \"mock\", data: { clientSecret: $s }) { name hasClientSecret } }", json!({ "s": "rotated-secret-9876543210" }))
            .await;
        assert_eq!(body["data"]["updateUsersPermissionsProvider"]["hasClientSecret"], true, "{body}");
        let body = server.gql_as(&admin, "{ usersPermissionsProviders { name enabled kind clientId hasClientSecret callbackUrl redirectUrl issuer } }", json!({})).await;
        let text = body.to_string();
        assert!(!text.contains("rotated-secret") && !text.contains(SECRET), "{text}");
        let mock = body["data"]["usersPermissionsProviders"].as_array().unwrap().iter().find(|p| p["name"] == "mock").unwrap().clone();
        assert_eq!(mock["callbackUrl"], format!("{}/api/connect/mock/callback", server.url));
        // The secret is used for real in a full flow, and appears in no log line.
        let done = run_flow(&server, &browser(), "").await;
        assert_eq!(done.status(), StatusCode::FOUND);
        let logs = LOGS.get().unwrap().lock().unwrap().clone();
        let logs = String::from_utf8_lossy(&logs);
        assert!(!logs.is_empty(), "logs were captured");
        assert!(!logs.contains("rotated-secret"), "the client secret is in a log line");

        let body = server.gql_as(&admin, "mutation { updateUsersPermissionsProvider(name: \"corp\", data: { enabled: true, kind: \"oauth2\" }) { name } }", json!({})).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT");
    }
}

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

/// Sends every log line of this test process, at debug level, into [`LOGS`].
fn capture_logs() {
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = LOGS.get_or_init(Default::default).clone();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
        .with_writer(move || Sink(buffer.clone()))
        .try_init();
}
