//! Several instances on one PostgreSQL: a change made through one is enforced by the others
//! within a second, without restart.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{Backend, TestServer, user_id};

/// Polls `check` until it holds, for at most a second; how long it took.
async fn within_a_second(mut check: impl AsyncFnMut() -> bool) -> Duration {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        if check().await {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("not enforced within a second");
}

/// Two servers on one new PostgreSQL database.
async fn two_instances() -> (TestServer, TestServer) {
    let a = TestServer::start(Backend::Postgres).await;
    let url = a.app.config.database_url.clone();
    let b =
        TestServer::start_with(Backend::Postgres, move |config| config.database_url = url).await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_and_a_grant_change_through_one_instance_are_enforced_by_the_other() {
    let (a, b) = two_instances().await;

    let admin = a
        .user_with_grants(
            "admin",
            &[
                "plugin::users-permissions.user.update",
                "plugin::users-permissions.role.updateRole",
            ],
        )
        .await;
    let (jwt, user) = a
        .register("roamer", "roamer@example.com", "password1")
        .await;
    // B knows the user (and caches them) before the change.
    assert_eq!(
        b.gql_as(&jwt, "{ me { username } }", json!({})).await["data"]["me"]["username"],
        "roamer"
    );

    let body = a
        .gql_as(&admin, "mutation($id: ID!) { updateUsersPermissionsUser(id: $id, data: { blocked: true }) { data { id } } }", json!({ "id": user["id"] }))
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let took = within_a_second(async || {
        b.post(Some(&jwt), &json!({ "query": "{ me { id } }" }))
            .await
            .0
            == StatusCode::UNAUTHORIZED
    })
    .await;
    eprintln!("block seen by the other instance after {took:?}");

    let (other_jwt, _) = a
        .register("stayer", "stayer@example.com", "password1")
        .await;
    assert_eq!(
        b.gql_as(&other_jwt, "{ me { username } }", json!({})).await["data"]["me"]["username"],
        "stayer"
    );
    let authenticated = a.conn_role("authenticated").await;
    let body = a
        .gql_as(&admin, "mutation($id: ID!) { updateUsersPermissionsRole(id: $id, data: { grants: [{ action: \"plugin::users-permissions.auth.callback\" }] }) { ok } }", json!({ "id": authenticated.id.to_string() }))
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let took = within_a_second(async || {
        let body = b.gql_as(&other_jwt, "{ me { username } }", json!({})).await;
        body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    })
    .await;
    eprintln!("grant change seen by the other instance after {took:?}");
    let _ = user_id(&user);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_a_condition_and_a_setting_changed_through_one_instance_are_enforced_by_the_other() {
    let (a, b) = two_instances().await;
    let admin = a
        .user_with_grants(
            "admin",
            &[
                "plugin::users-permissions.user.update",
                "plugin::users-permissions.role.createRole",
                "plugin::users-permissions.condition.create",
                "plugin::users-permissions.advanced-settings.update",
            ],
        )
        .await;
    let ok = |body: serde_json::Value| assert!(body.get("errors").is_none(), "{body}");
    let mut users = Vec::new();
    for name in ["mover", "mate", "stranger"] {
        users.push(
            a.register(name, &format!("{name}@example.com"), "password1")
                .await,
        );
    }
    let list = "{ usersPermissionsUsers(sort: [\"username:asc\"]) { username } }";
    // B knows the mover (and caches them) in the authenticated role, which may not list users.
    let body = b.gql_as(&users[0].0, list, json!({})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );

    // Through A: a new condition, a new role that lists users under it, and the mover and
    // the mate moved into that role, on one team.
    ok(a.gql_as(&admin, "mutation($q: JSON!) { createUsersPermissionsCondition(data: { name: \"one-team\", displayName: \"One team\", query: $q }) { name } }", json!({ "q": { "attributes.team": "$user.attributes.team" } })).await);
    ok(a.gql_as(&admin, "mutation { createUsersPermissionsRole(data: { name: \"Team\", type: \"team\", grants: [{ action: \"plugin::users-permissions.user.me\" }, { action: \"plugin::users-permissions.user.find\", conditions: [\"one-team\"] }] }) { ok } }", json!({})).await);
    let team = a.conn_role("team").await;
    for ((_, user), (role, colour)) in users.iter().zip([
        (team.id.to_string(), "red"),
        (team.id.to_string(), "red"),
        (a.conn_role("authenticated").await.id.to_string(), "blue"),
    ]) {
        ok(a.gql_as(&admin, "mutation($id: ID!, $role: ID!, $team: String!) { updateUsersPermissionsUser(id: $id, data: { role: $role, attributes: { team: $team } }) { data { id } } }", json!({ "id": user["id"], "role": role, "team": colour })).await);
    }
    let took = within_a_second(async || {
        let body = b.gql_as(&users[0].0, list, json!({})).await;
        body["data"]["usersPermissionsUsers"]
            == json!([{ "username": "mate" }, { "username": "mover" }])
    })
    .await;
    eprintln!(
        "role, condition and role change of a user seen by the other instance after {took:?}"
    );

    // A setting: registration switched off through A is refused by B.
    ok(a.gql_as(&admin, "mutation { updateUsersPermissionsAdvancedSettings(data: { allowRegister: false }) { allowRegister } }", json!({})).await);
    let took = within_a_second(async || {
        let body = b.gql("mutation { register(input: { username: \"late\", email: \"late@example.com\", password: \"password1\" }) { jwt } }", json!({})).await;
        body["errors"][0]["message"] == "Register action is currently disabled"
    })
    .await;
    eprintln!("setting change seen by the other instance after {took:?}");
}

/// Two servers in refresh mode on one new PostgreSQL database.
async fn two_refresh_instances() -> (TestServer, TestServer) {
    let a = crate::sessions::refresh_server(Backend::Postgres).await;
    let url = a.app.config.database_url.clone();
    let b = TestServer::start_with(Backend::Postgres, move |config| {
        config.database_url = url;
        config.sessions.management = castellan::config::JwtManagement::Refresh;
    })
    .await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_through_one_instance_is_refused_by_the_other_within_a_second() {
    use crate::sessions::{me, rest_login};
    let (a, b) = two_refresh_instances().await;
    a.register("nomad", "nomad@example.com", "password1").await;
    let first = rest_login(&a, "nomad", None, "curl/8").await;
    let second = rest_login(&a, "nomad", None, "curl/8").await;
    // B knows the user (and caches them) before the logout.
    assert_eq!(me(&b, &first.jwt).await, StatusCode::OK);
    assert_eq!(me(&b, &second.jwt).await, StatusCode::OK);

    let (status, _, _) = a
        .rest(reqwest::Method::POST, "/api/auth/logout", Some(&first.jwt), Some(&json!({})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let took = within_a_second(async || me(&b, &first.jwt).await == StatusCode::UNAUTHORIZED).await;
    eprintln!("logout seen by the other instance after {took:?}");
    assert_eq!(me(&b, &second.jwt).await, StatusCode::OK, "the other session lives");

    // A refresh through B of the ended session fails; a third instance started now refuses
    // the ended session's JWT from its first request (it reads the ended sessions at start).
    assert_eq!(
        crate::sessions::rest_refresh(&b, &first.refresh).await.0,
        StatusCode::UNAUTHORIZED
    );
    let url = a.app.config.database_url.clone();
    let c = TestServer::start_with(Backend::Postgres, move |config| {
        config.database_url = url;
        config.sessions.management = castellan::config::JwtManagement::Refresh;
    })
    .await;
    assert_eq!(me(&c, &first.jwt).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&c, &second.jwt).await, StatusCode::OK);
}
