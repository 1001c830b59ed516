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

        // A database that does not answer is not ready.
        if server.app.config.database_url.starts_with("postgres") {
            let closed = castellan::db::Db::connect("postgres://postgres@127.0.0.1:1/none", None).unwrap();
            assert!(closed.ping().await.is_err());
        }
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
    }

    async fn introspection_can_be_switched_off(backend: Backend) {
        let open = TestServer::start(backend).await;
        let body = open.gql("{ __schema { queryType { name } } }", json!({})).await;
        assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
        let closed = TestServer::start_with(backend, |config| config.graphql.introspection = false).await;
        let body = closed.gql("{ __schema { queryType { name } } }", json!({})).await;
        assert_eq!(body["data"]["__schema"], Value::Null, "{body}");
    }
}
