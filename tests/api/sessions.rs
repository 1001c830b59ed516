//! Refresh mode (`jwt.management = "refresh"`): sessions with short access JWTs and rotating
//! refresh tokens, over REST and GraphQL, on both databases; and legacy mode left as it was.

use castellan::config::JwtManagement;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{Backend, TestServer, user_id};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

pub(crate) async fn refresh_server(backend: Backend) -> TestServer {
    TestServer::start_with(backend, |config| {
        config.sessions.management = JwtManagement::Refresh;
    })
    .await
}

/// An access JWT and its refresh token.
#[derive(Debug, Clone)]
pub(crate) struct Pair {
    pub jwt: String,
    pub refresh: String,
}

impl Pair {
    fn of(body: &Value) -> Self {
        Self {
            jwt: body["jwt"]
                .as_str()
                .unwrap_or_else(|| panic!("no jwt in {body}"))
                .into(),
            refresh: body["refreshToken"]
                .as_str()
                .unwrap_or_else(|| panic!("no refreshToken in {body}"))
                .into(),
        }
    }
}

/// `POST /api/auth/local` from a browser of `user_agent`, naming `device_id`.
pub(crate) async fn rest_login(
    server: &TestServer,
    identifier: &str,
    device_id: Option<&str>,
    user_agent: &str,
) -> Pair {
    let mut body = json!({ "identifier": identifier, "password": "password1" });
    if let Some(device) = device_id {
        body["deviceId"] = json!(device);
    }
    let response = server
        .client
        .post(format!("{}/api/auth/local", server.url))
        .header("user-agent", user_agent)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    server.assert_no_secrets(&text).await;
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["user"]["username"], identifier, "{body}");
    Pair::of(&body)
}

pub(crate) async fn rest_refresh(server: &TestServer, refresh: &str) -> (StatusCode, Value) {
    let (status, _, body) = server
        .rest(
            Method::POST,
            "/api/auth/refresh",
            None,
            Some(&json!({ "refreshToken": refresh })),
        )
        .await;
    (status, body)
}

pub(crate) async fn me(server: &TestServer, jwt: &str) -> StatusCode {
    server
        .rest(Method::GET, "/api/users/me", Some(jwt), None)
        .await
        .0
}

async fn gql_me(server: &TestServer, jwt: &str) -> StatusCode {
    server
        .post(Some(jwt), &json!({ "query": "{ me { username } }" }))
        .await
        .0
}

async fn signed_up(server: &TestServer, name: &str) -> Value {
    server
        .register(name, &format!("{name}@example.com"), "password1")
        .await
        .1
}

both_backends! {
    async fn the_full_cycle_over_rest_login_refresh_refresh_logout(backend: Backend) {
        let server = refresh_server(backend).await;
        signed_up(&server, "cycler").await;
        let first = rest_login(&server, "cycler", None, FIREFOX).await;
        // A short access JWT bound to its session.
        let claims = server.app.jwt.verify(&first.jwt).unwrap();
        assert_eq!(claims.exp - claims.iat, 15 * 60);
        assert!(claims.sid.is_some());
        assert_eq!(me(&server, &first.jwt).await, StatusCode::OK);

        let (status, body) = rest_refresh(&server, &first.refresh).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let second = Pair::of(&body);
        assert_ne!(second.refresh, first.refresh);
        assert_eq!(server.app.jwt.verify(&second.jwt).unwrap().sid, claims.sid, "the same session");
        let (status, body) = rest_refresh(&server, &second.refresh).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let third = Pair::of(&body);
        assert_eq!(me(&server, &third.jwt).await, StatusCode::OK);

        // Refresh tokens are kept only hashed.
        let mut conn = server.conn().await;
        let stored: Vec<String> = castellan::on_conn!(&mut conn, |c| {
            use castellan::db::schema::up_sessions::dsl::*;
            use diesel::QueryDsl;
            diesel_async::RunQueryDsl::load(up_sessions.select(refresh_hash), c).await
        })
        .unwrap();
        // The registration's session and the login's, the latter holding the third token.
        assert_eq!(stored.len(), 2);
        assert!(stored.contains(&castellan::auth::codes::hash_code(&third.refresh)), "{stored:?}");
        for pair in [&first, &second, &third] {
            assert!(!stored.contains(&pair.refresh));
        }

        let (status, _, body) = server
            .rest(Method::POST, "/api/auth/logout", Some(&third.jwt), Some(&json!({})))
            .await;
        assert_eq!((status, body), (StatusCode::OK, json!({ "ok": true })));
        for jwt in [&first.jwt, &second.jwt, &third.jwt] {
            assert_eq!(me(&server, jwt).await, StatusCode::UNAUTHORIZED, "a JWT of the ended session");
        }
        let (status, body) = rest_refresh(&server, &third.refresh).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"]["message"], "Invalid refresh token");
    }

    async fn the_full_cycle_over_graphql_login_refresh_refresh_logout(backend: Backend) {
        let server = refresh_server(backend).await;
        let (registered, _) = server.register("grapher", "grapher@example.com", "password1").await;
        assert!(server.app.jwt.verify(&registered).unwrap().sid.is_some(), "register opens a session");
        let body = server
            .gql(
                "mutation { login(input: { identifier: \"grapher\", password: \"password1\", deviceId: \"phone\" }) { jwt refreshToken user { username } } }",
                json!({}),
            )
            .await;
        let mut pair = Pair::of(&body["data"]["login"]);
        for _ in 0..2 {
            let body = server
                .gql(
                    "mutation($t: String) { refreshToken(refreshToken: $t) { jwt refreshToken } }",
                    json!({ "t": pair.refresh }),
                )
                .await;
            assert!(body.get("errors").is_none(), "{body}");
            let next = Pair::of(&body["data"]["refreshToken"]);
            assert_ne!(next.refresh, pair.refresh);
            pair = next;
        }
        assert_eq!(gql_me(&server, &pair.jwt).await, StatusCode::OK);
        let body = server
            .gql_as(&pair.jwt, "{ usersPermissionsSessions { id deviceId deviceName current } }", json!({}))
            .await;
        let sessions = body["data"]["usersPermissionsSessions"].as_array().unwrap_or_else(|| panic!("{body}"));
        assert_eq!(sessions.len(), 2, "the registration's and the login's: {body}");
        assert_eq!(sessions[0]["deviceId"], "phone", "most recently used first: {body}");
        assert_eq!(sessions[0]["current"], true);
        assert_eq!(sessions[1]["current"], false);

        let body = server.gql_as(&pair.jwt, "mutation { logout { ok } }", json!({})).await;
        assert_eq!(body["data"]["logout"]["ok"], true, "{body}");
        assert_eq!(gql_me(&server, &pair.jwt).await, StatusCode::UNAUTHORIZED);
        assert_eq!(gql_me(&server, &registered).await, StatusCode::OK, "the other session lives");
        let body = server
            .gql("mutation($t: String) { refreshToken(refreshToken: $t) { jwt } }", json!({ "t": pair.refresh }))
            .await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{body}");
    }

    async fn a_spent_refresh_token_presented_again_ends_its_whole_session(backend: Backend) {
        let server = refresh_server(backend).await;
        signed_up(&server, "victim").await;
        let stolen = rest_login(&server, "victim", None, FIREFOX).await;
        let other = rest_login(&server, "victim", None, FIREFOX).await;
        let (status, body) = rest_refresh(&server, &stolen.refresh).await;
        assert_eq!(status, StatusCode::OK);
        let newer = Pair::of(&body);
        assert_eq!(me(&server, &newer.jwt).await, StatusCode::OK);

        // The thief (or the victim) presents the spent token: refused, and the family ends.
        let (status, body) = rest_refresh(&server, &stolen.refresh).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        let (status, _) = rest_refresh(&server, &newer.refresh).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "the newer token stops working");
        assert_eq!(me(&server, &newer.jwt).await, StatusCode::UNAUTHORIZED, "and its access JWT");
        assert_eq!(me(&server, &stolen.jwt).await, StatusCode::UNAUTHORIZED);
        // Another session of the same user is not touched.
        assert_eq!(me(&server, &other.jwt).await, StatusCode::OK);
        assert_eq!(rest_refresh(&server, &other.refresh).await.0, StatusCode::OK);
        // An unknown token is refused without ending anything.
        assert_eq!(rest_refresh(&server, "not-a-token").await.0, StatusCode::UNAUTHORIZED);
    }

    async fn idle_and_absolute_expiry_end_a_session(backend: Backend) {
        let server = refresh_server(backend).await;
        signed_up(&server, "sleeper").await;
        let idle = rest_login(&server, "sleeper", Some("idle"), FIREFOX).await;
        let old = rest_login(&server, "sleeper", Some("old"), FIREFOX).await;
        let fresh = rest_login(&server, "sleeper", Some("fresh"), FIREFOX).await;
        let now = chrono::Utc::now().timestamp();
        // Each lifetime set from the configuration (14 and 90 days by default).
        let mut conn = server.conn().await;
        let rows: Vec<(Option<String>, i64, i64)> = castellan::on_conn!(&mut conn, |c| {
            use castellan::db::schema::up_sessions::dsl::*;
            use diesel::QueryDsl;
            diesel_async::RunQueryDsl::load(up_sessions.select((device_id, idle_expires_at, absolute_expires_at)), c).await
        })
        .unwrap();
        for (_, idle_at, absolute_at) in &rows {
            assert!((idle_at - now - 14 * 86_400).abs() < 60, "{rows:?}");
            assert!((absolute_at - now - 90 * 86_400).abs() < 60, "{rows:?}");
        }
        // Unused past the idle lifetime; signed in longer ago than the absolute lifetime.
        server
            .sql(&format!(
                "UPDATE up_sessions SET idle_expires_at = {} WHERE device_id = 'idle'; \
                 UPDATE up_sessions SET absolute_expires_at = {} WHERE device_id = 'old';",
                now - 1,
                now - 1
            ))
            .await;
        assert_eq!(rest_refresh(&server, &idle.refresh).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(rest_refresh(&server, &old.refresh).await.0, StatusCode::UNAUTHORIZED);
        let (status, body) = rest_refresh(&server, &fresh.refresh).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // Expired sessions are not listed: the fresh one and the registration's are.
        let (_, _, body) = server
            .rest(Method::GET, "/api/auth/sessions", Some(&Pair::of(&body).jwt), None)
            .await;
        let devices: Vec<&Value> = body["data"].as_array().unwrap().iter().map(|s| &s["deviceId"]).collect();
        assert_eq!(devices, [&json!("fresh"), &Value::Null], "{body}");
    }

    async fn revoking_one_session_leaves_the_others(backend: Backend) {
        let server = refresh_server(backend).await;
        signed_up(&server, "juggler").await;
        let laptop = rest_login(&server, "juggler", Some("laptop"), FIREFOX).await;
        let phone = rest_login(&server, "juggler", Some("phone"), "curl/8.5.0").await;
        let tablet = rest_login(&server, "juggler", Some("tablet"), FIREFOX).await;

        let (status, _, body) = server.rest(Method::GET, "/api/auth/sessions", Some(&laptop.jwt), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let sessions = body["data"].as_array().unwrap();
        // Three from the logins, one from the registration.
        assert_eq!(sessions.len(), 4, "{body}");
        let laptop_row = sessions.iter().find(|s| s["deviceId"] == "laptop").unwrap();
        assert_eq!(laptop_row["current"], true);
        assert_eq!(laptop_row["deviceName"], "Firefox on Linux");
        let phone_row = sessions.iter().find(|s| s["deviceId"] == "phone").unwrap();
        assert_eq!(phone_row["current"], false);
        assert_eq!(phone_row["deviceName"], "curl");
        for session in sessions {
            let mut keys: Vec<&str> = session.as_object().unwrap().keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(keys, ["createdAt", "current", "deviceId", "deviceName", "id", "lastUsedAt"]);
        }

        let path = format!("/api/auth/sessions/{}", phone_row["id"].as_str().unwrap());
        let (status, _, body) = server.rest(Method::DELETE, &path, Some(&laptop.jwt), None).await;
        assert_eq!((status, body), (StatusCode::OK, json!({ "data": {} })));
        assert_eq!(me(&server, &phone.jwt).await, StatusCode::UNAUTHORIZED);
        assert_eq!(rest_refresh(&server, &phone.refresh).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(me(&server, &laptop.jwt).await, StatusCode::OK);
        assert_eq!(me(&server, &tablet.jwt).await, StatusCode::OK);
        // Again, or another user's session: not found.
        let (status, _, _) = server.rest(Method::DELETE, &path, Some(&laptop.jwt), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        signed_up(&server, "stranger").await;
        let stranger = rest_login(&server, "stranger", None, FIREFOX).await;
        let laptop_path = format!("/api/auth/sessions/{}", laptop_row["id"].as_str().unwrap());
        let (status, _, _) = server.rest(Method::DELETE, &laptop_path, Some(&stranger.jwt), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(me(&server, &laptop.jwt).await, StatusCode::OK);

        // Logout of one device by its deviceId.
        let (status, _, _) = server
            .rest(Method::POST, "/api/auth/logout", Some(&laptop.jwt), Some(&json!({ "deviceId": "tablet" })))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(me(&server, &tablet.jwt).await, StatusCode::UNAUTHORIZED);
        assert_eq!(me(&server, &laptop.jwt).await, StatusCode::OK);
    }

    async fn logout_all_ends_every_session_of_the_user(backend: Backend) {
        let server = refresh_server(backend).await;
        signed_up(&server, "leaver").await;
        signed_up(&server, "keeper").await;
        let pairs = [
            rest_login(&server, "leaver", None, FIREFOX).await,
            rest_login(&server, "leaver", None, FIREFOX).await,
            rest_login(&server, "leaver", None, FIREFOX).await,
        ];
        let keeper = rest_login(&server, "keeper", None, FIREFOX).await;
        let (status, _, body) = server
            .rest(Method::POST, "/api/auth/logout", Some(&pairs[0].jwt), Some(&json!({ "scope": "all" })))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for pair in &pairs {
            assert_eq!(me(&server, &pair.jwt).await, StatusCode::UNAUTHORIZED);
            assert_eq!(rest_refresh(&server, &pair.refresh).await.0, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(me(&server, &keeper.jwt).await, StatusCode::OK, "another user is not touched");
        let (status, _, _) = server
            .rest(Method::POST, "/api/auth/logout", Some(&keeper.jwt), Some(&json!({ "scope": "everything" })))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    async fn a_password_change_and_a_block_end_every_session(backend: Backend) {
        let server = refresh_server(backend).await;
        let user = signed_up(&server, "changer").await;
        let one = rest_login(&server, "changer", None, FIREFOX).await;
        let two = rest_login(&server, "changer", None, FIREFOX).await;
        let (status, _, body) = server
            .rest(
                Method::POST,
                "/api/auth/change-password",
                Some(&one.jwt),
                Some(&json!({ "currentPassword": "password1", "password": "password2", "passwordConfirmation": "password2" })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let changed = Pair::of(&body);
        for pair in [&one, &two] {
            assert_eq!(me(&server, &pair.jwt).await, StatusCode::UNAUTHORIZED);
            assert_eq!(rest_refresh(&server, &pair.refresh).await.0, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(me(&server, &changed.jwt).await, StatusCode::OK, "the new session works");

        // A block by an administrator (user.update) ends the rest at once.
        let admin = server.user_with_grants("admin", &["plugin::users-permissions.user.update"]).await;
        let (status, _, body) = server
            .rest(Method::PUT, &format!("/api/users/{}", user_id(&user)), Some(&admin), Some(&json!({ "blocked": true })))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(me(&server, &changed.jwt).await, StatusCode::UNAUTHORIZED);
        assert_eq!(rest_refresh(&server, &changed.refresh).await.0, StatusCode::UNAUTHORIZED);
        let mut conn = server.conn().await;
        let live: i64 = castellan::on_conn!(&mut conn, |c| {
            use castellan::db::schema::up_sessions::dsl::*;
            use diesel::{ExpressionMethods, QueryDsl};
            diesel_async::RunQueryDsl::get_result(up_sessions.filter(revoked_at.is_null()).count(), c).await
        })
        .unwrap();
        assert_eq!(live, 1, "only the administrator's own session is live");
    }

    async fn an_administrator_ends_the_sessions_of_a_user(backend: Backend) {
        let server = refresh_server(backend).await;
        let user = signed_up(&server, "member").await;
        let pair = rest_login(&server, "member", None, FIREFOX).await;
        let path = format!("/api/users/{}/sessions", user_id(&user));
        // A plain user may not.
        let (status, _, _) = server.rest(Method::DELETE, &path, Some(&pair.jwt), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let admin = server.user_with_grants("admin", &["plugin::users-permissions.user.update"]).await;
        let body = server
            .gql_as(&admin, "mutation($id: ID!) { revokeUsersPermissionsUserSessions(id: $id) }", json!({ "id": user["id"] }))
            .await;
        assert_eq!(body["data"]["revokeUsersPermissionsUserSessions"], 2, "registration and login: {body}");
        assert_eq!(me(&server, &pair.jwt).await, StatusCode::UNAUTHORIZED);
        let (status, _, body) = server.rest(Method::DELETE, &path, Some(&admin), None).await;
        assert_eq!((status, body), (StatusCode::OK, json!({ "ok": true, "revoked": 0 })));
    }

    async fn legacy_mode_keeps_one_long_jwt_and_has_no_session_routes(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (jwt, _) = server.register("classic", "classic@example.com", "password1").await;
        let claims = server.app.jwt.verify(&jwt).unwrap();
        assert_eq!((claims.sid, claims.exp - claims.iat), (None, 30 * 86_400));
        let (status, _, body) = server
            .rest(Method::POST, "/api/auth/local", None, Some(&json!({ "identifier": "classic", "password": "password1" })))
            .await;
        assert_eq!(status, StatusCode::OK);
        let mut keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["jwt", "user"]);
        for (method, path) in [
            (Method::POST, "/api/auth/refresh"),
            (Method::POST, "/api/auth/logout"),
            (Method::GET, "/api/auth/sessions"),
            (Method::DELETE, "/api/auth/sessions/abc"),
        ] {
            let body = (method == Method::POST).then(|| json!({}));
            let (status, _, answer) = server.rest(method.clone(), path, Some(&jwt), body.as_ref()).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
        }
        let body = server
            .gql("mutation { login(input: { identifier: \"classic\", password: \"password1\" }) { jwt refreshToken } }", json!({}))
            .await;
        assert_eq!(body["data"]["login"]["refreshToken"], Value::Null, "{body}");
        assert_eq!(me(&server, &jwt).await, StatusCode::OK);
    }
}

/// A refresh-mode server in cookie mode over plain HTTP (`Secure` off, as for local
/// development), allowing credentials from its own origin only, with a page of its own at
/// `/spa` (the front end).
async fn cookie_server(backend: Backend) -> TestServer {
    use axum::response::Html;
    use axum::routing::get;
    TestServer::start_built(
        backend,
        |config| {
            config.sessions.management = JwtManagement::Refresh;
            config.sessions.http_only = true;
            config.sessions.cookie_secure = false;
            config.cors.origins = vec![config.server_url.clone().unwrap()];
            config.cors.credentials = true;
        },
        |config| {
            castellan::Castellan::builder(config).routes(axum::Router::new().route(
                "/spa",
                get(|| async { Html("<!doctype html><title>front end</title>") }),
            ))
        },
    )
    .await
}

/// A page of another origin, on its own port.
async fn other_origin() -> u16 {
    use axum::response::Html;
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().route(
        "/evil",
        get(|| async { Html("<!doctype html><title>another origin</title>") }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

/// Runs `node tests/peers/SCRIPT ARGS…` off the runtime; the JSON line it prints.
async fn node(script: &str, args: Vec<String>) -> Value {
    let script = script.to_string();
    tokio::task::spawn_blocking(move || {
        crate::peers::ensure_npm_peers();
        let dir = crate::peers::peers_dir();
        let output = std::process::Command::new("node")
            .arg(dir.join(&script))
            .args(&args)
            .current_dir(&dir)
            .output()
            .expect("node runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{script} failed: {stderr}\n{stdout}"
        );
        serde_json::from_str(stdout.lines().last().unwrap_or_default())
            .unwrap_or_else(|_| panic!("{script} printed no JSON: {stdout}\n{stderr}"))
    })
    .await
    .unwrap()
}

async fn used_tokens(server: &TestServer) -> i64 {
    let mut conn = server.conn().await;
    castellan::on_conn!(&mut conn, |c| {
        use castellan::db::schema::up_session_used_tokens::dsl::*;
        use diesel::QueryDsl;
        diesel_async::RunQueryDsl::get_result(up_session_used_tokens.count(), c).await
    })
    .unwrap()
}

both_backends! {
    async fn cookie_mode_keeps_the_refresh_token_out_of_every_body(backend: Backend) {
        let server = cookie_server(backend).await;
        signed_up(&server, "baker").await;
        let response = server
            .client
            .post(format!("{}/api/auth/local", server.url))
            .json(&json!({ "identifier": "baker", "password": "password1" }))
            .send()
            .await
            .unwrap();
        let cookie = response.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
        let body: Value = response.json().await.unwrap();
        assert!(body["jwt"].is_string() && body.get("refreshToken").is_none(), "{body}");
        assert!(cookie.starts_with("strapi_up_refresh="), "{cookie}");
        for attribute in ["Path=/api/auth", "HttpOnly", "SameSite=Lax"] {
            assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
        }
        let token = cookie["strapi_up_refresh=".len()..].split(';').next().unwrap().to_string();
        assert!(!body.to_string().contains(&token));

        let refresh = |content_type: Option<&'static str>, body: &'static str| {
            let mut request = server
                .client
                .post(format!("{}/api/auth/refresh", server.url))
                .header("cookie", format!("strapi_up_refresh={token}"))
                .body(body);
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            request.send()
        };
        // What a form of another site could send: refused, nothing spent.
        for (content_type, body) in [(None, ""), (Some("text/plain"), "{}")] {
            let response = refresh(content_type, body).await.unwrap();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{content_type:?}");
        }
        assert_eq!(used_tokens(&server).await, 0);
        let response = refresh(Some("application/json"), "{}").await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let next = response.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
        let text = response.text().await.unwrap();
        server.assert_no_secrets(&text).await;
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body.as_object().unwrap().keys().collect::<Vec<_>>(), ["jwt"]);
        assert!(!next.contains(&token) && next.starts_with("strapi_up_refresh="));
        // GraphQL alike: the token never in the body.
        let body = server.gql("mutation { login(input: { identifier: \"baker\", password: \"password1\" }) { jwt refreshToken } }", json!({})).await;
        assert_eq!(body["data"]["login"]["refreshToken"], Value::Null, "{body}");
    }

    async fn cookie_mode_in_chromium_serves_its_own_origin_and_no_other(backend: Backend) {
        crate::graphql_http::chromium_installed();
        let server = cookie_server(backend).await;
        signed_up(&server, "surfer").await;
        let port = other_origin().await;
        let report = node(
            "session-browser.mjs",
            vec![
                server.url.clone(),
                format!("http://127.0.0.1:{port}"),
                format!("http://localhost:{port}"),
                "surfer".into(),
                "password1".into(),
            ],
        )
        .await;
        assert_eq!(report["blocked"], json!([]), "{report}");
        let own = &report["own"];
        assert_eq!(own["loginStatus"], 200, "{report}");
        assert_eq!(own["loginKeys"], json!(["jwt", "user"]), "no refreshToken in the body");
        assert_eq!(own["refreshes"], json!([{ "status": 200, "keys": ["jwt"] }, { "status": 200, "keys": ["jwt"] }]));
        assert_eq!(own["meStatus"], 200);
        assert_eq!(own["scriptCookies"], "", "a script cannot read the refresh cookie");
        let cookie = report["cookies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "strapi_up_refresh")
            .unwrap_or_else(|| panic!("{report}"));
        assert_eq!((&cookie["httpOnly"], &cookie["sameSite"], &cookie["path"]), (&json!(true), &json!("Lax"), &json!("/api/auth")));
        // Three refreshes of the front end's own page, none by the other pages.
        assert_eq!(used_tokens(&server).await, 3, "{report}");
        for attacker in ["sameSite", "crossSite"] {
            let outcome = &report[attacker];
            assert!(outcome["cors"].as_str().unwrap().starts_with("refused"), "{attacker}: {outcome}");
            assert!(outcome["read"].as_str().unwrap().starts_with("refused"), "{attacker}: {outcome}");
        }
        assert_eq!(report["after"], 200, "{report}");
        let final_token = report["finalCookies"].as_array().unwrap().iter().find(|c| c["name"] == "strapi_up_refresh").unwrap()["value"].as_str().unwrap().to_string();
        for token in [cookie["value"].as_str().unwrap(), &final_token] {
            assert!(token.len() >= 32);
            for url in report["urls"].as_array().unwrap() {
                assert!(!url.as_str().unwrap().contains(token), "a URL shows the refresh token: {url}");
            }
            for body in report["bodies"].as_array().unwrap() {
                let body = body.as_str().unwrap();
                assert!(!body.contains(token), "a response body shows the refresh token: {body}");
                server.assert_no_secrets(body).await;
            }
        }
    }
}

both_backends! {
    async fn the_access_cookie_signs_in_reads_and_needs_the_csrf_header_to_change(backend: Backend) {
        let server = TestServer::start_with(backend, |config| {
            config.sessions.management = JwtManagement::Refresh;
            config.sessions.http_only = true;
            config.sessions.access_cookie = true;
        })
        .await;
        signed_up(&server, "crumb").await;
        let response = server
            .client
            .post(format!("{}/api/auth/local", server.url))
            .json(&json!({ "identifier": "crumb", "password": "password1" }))
            .send()
            .await
            .unwrap();
        let cookies: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        let value = |name: &str| {
            let cookie = cookies.iter().find(|c| c.starts_with(&format!("{name}="))).unwrap_or_else(|| panic!("{cookies:?}"));
            (cookie[name.len() + 1..].split(';').next().unwrap().to_string(), cookie.clone())
        };
        let (refresh, _) = value("strapi_up_refresh");
        let (access, access_cookie) = value("castellan_access");
        let (csrf, csrf_cookie) = value("castellan_csrf");
        assert!(access_cookie.contains("HttpOnly") && access_cookie.contains("Path=/;"), "{access_cookie}");
        assert!(!csrf_cookie.contains("HttpOnly"), "the page's script reads it: {csrf_cookie}");
        let jar = format!("strapi_up_refresh={refresh}; castellan_access={access}; castellan_csrf={csrf}");

        // A read needs no more than the cookie.
        let response = server.client.get(format!("{}/api/users/me", server.url)).header("cookie", &jar).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        // A change (any POST to /graphql) needs the CSRF header, with the cookie's value.
        let mutation = json!({ "query": "mutation { logout { ok } }" });
        for header in [None, Some("wrong-value")] {
            let mut request = server.client.post(format!("{}/graphql", server.url)).header("cookie", &jar).json(&mutation);
            if let Some(header) = header {
                request = request.header("x-csrf-token", header);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{header:?}");
            assert!(response.text().await.unwrap().contains("X-CSRF-Token"));
        }
        let response = server
            .client
            .post(format!("{}/graphql", server.url))
            .header("cookie", &jar)
            .header("x-csrf-token", &csrf)
            .json(&mutation)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let cleared: Vec<String> = response.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["data"]["logout"]["ok"], true, "{body}");
        assert!(cleared.iter().any(|c| c.starts_with("castellan_access=;") && c.contains("Max-Age=0")), "{cleared:?}");
        // The session ended: the cookie no longer signs in.
        let response = server.client.get(format!("{}/api/users/me", server.url)).header("cookie", &jar).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
}

both_backends! {
    // The real binary, logging at `debug`: through sign-up, two refreshes and a logout, no
    // log line shows a refresh token or its stored hash.
    async fn refresh_tokens_never_reach_a_log_line(backend: Backend) {
        use std::io::BufRead as _;
        let (_db, url) = crate::support::TestDb::create(backend).await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("castellan.toml"),
            "[jwt]\nmanagement = \"refresh\"\n[rateLimit]\nenabled = false\n",
        )
        .unwrap();
        let mut served = crate::binary::Serve::start(
            dir.path(),
            &[("RUST_LOG", "debug"), ("DATABASE_URL", url.as_str())],
            std::process::Stdio::piped(),
        );
        let stderr = served.child.stderr.take().unwrap();
        let lines = std::thread::spawn(move || {
            std::io::BufReader::new(stderr).lines().map_while(Result::ok).collect::<Vec<_>>()
        });
        let base = format!("http://{}", served.address);
        let client = crate::support::http_client(std::time::Duration::from_secs(30));
        let body: Value = client
            .post(format!("{base}/api/auth/local/register"))
            .json(&json!({ "username": "logger", "email": "logger@example.com", "password": "password1" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut tokens = vec![Pair::of(&body).refresh];
        for _ in 0..2 {
            let body: Value = client
                .post(format!("{base}/api/auth/refresh"))
                .json(&json!({ "refreshToken": tokens.last().unwrap() }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            tokens.push(Pair::of(&body).refresh);
        }
        let jwt = body["jwt"].as_str().unwrap().to_string();
        let response = client
            .post(format!("{base}/api/auth/logout"))
            .bearer_auth(&jwt)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        drop(served);
        let lines = lines.join().unwrap();
        assert!(lines.iter().any(|l| l.contains("session opened")), "debug logs were written: {lines:#?}");
        for token in &tokens {
            let hash = castellan::auth::codes::hash_code(token);
            for line in &lines {
                assert!(!line.contains(token.as_str()) && !line.contains(&hash), "a log line shows a refresh token: {line}");
            }
        }
    }
}
