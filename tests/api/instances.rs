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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_and_a_grant_change_through_one_instance_are_enforced_by_the_other() {
    let a = TestServer::start(Backend::Postgres).await;
    let url = a.app.config.database_url.clone();
    let b =
        TestServer::start_with(Backend::Postgres, move |config| config.database_url = url).await;

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
