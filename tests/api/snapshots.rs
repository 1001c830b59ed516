//! Snapshots of the public payloads front ends and client generators read: a change to any of
//! them shows as a diff in review (`tests/api/snapshots/`). Ids, tokens and times are redacted.

use insta::assert_json_snapshot;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::TestServer;

/// The answer of a raw POST to `/graphql` with `content_type`.
async fn raw(server: &TestServer, content_type: Option<&str>, body: &str) -> (StatusCode, Value) {
    let mut request = server
        .client
        .post(format!("{}/graphql", server.url))
        .body(body.to_string());
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.expect("answer");
    let status = response.status();
    (status, response.json().await.expect("JSON"))
}

both_backends! {
    async fn public_payloads_keep_their_shape(backend: Backend) {
        let server = TestServer::start(backend).await;
        let register = server
            .post(None, &json!({ "query": "mutation { register(input: {username: \"snap\", email: \"snap@example.com\", password: \"a-password-1\"}) { jwt user { id documentId username email confirmed blocked role { id name description type } } } }" }))
            .await;
        let login = server.login("snap", "a-password-1").await;
        let wrong = server.login("snap", "wrong-password").await;
        let (status, unauthorized) = server.post(Some("not-a-token"), &json!({ "query": "{ me { id } }" })).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let forbidden = server.gql("{ usersPermissionsUsers { documentId } }", json!({})).await;
        let (status, csrf) = raw(&server, Some("text/plain"), r#"{"query":"{ me { id } }"}"#).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (_, nested) = raw(
            &server,
            Some("application/json"),
            &json!({ "query": format!("{{ me(x: {}1{}) {{ id }} }}", "[".repeat(50), "]".repeat(50)) }).to_string(),
        )
        .await;
        let payloads = json!({
            "register": register.1,
            "login": login,
            "wrongPassword": wrong,
            "badToken": unauthorized,
            "forbidden": forbidden,
            "crossSiteForm": csrf,
            "tooDeep": nested,
        });
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path("snapshots");
        settings.set_prepend_module_to_snapshot(false);
        // One snapshot for both databases: they must answer alike.
        settings.set_snapshot_suffix("");
        settings.bind(|| {
            assert_json_snapshot!("public_payloads", payloads, {
                ".**.jwt" => "[jwt]",
                ".**.id" => "[id]",
                ".**.documentId" => "[documentId]",
            });
        });
    }
}
