//! HTTP: `/graphql` (POST = the API, GET = GraphiQL), health, and the error envelope shared by
//! every route.

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Router;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, Method};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::json;
use tower_http::cors::{Any, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::app::AppState;
use crate::auth::authenticate;
use crate::error::AppError;
use crate::graphql::{self, CastellanSchema};

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct HttpState {
    pub app: AppState,
    pub schema: CastellanSchema,
}

pub fn router(app: AppState, schema: CastellanSchema) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([AUTHORIZATION, CONTENT_TYPE]);
    Router::new()
        .route("/graphql", get(graphiql).post(graphql_api))
        .route("/healthz", get(health))
        .with_state(HttpState { app, schema })
        .layer(cors)
        .layer(TraceLayer::new_for_http())
}

/// The GraphQL API. The principal is resolved before execution; unusable credentials end the
/// request with 401 before any resolver runs.
async fn graphql_api(State(http): State<HttpState>, headers: HeaderMap, request: GraphQLRequest) -> Response {
    let principal = match authenticate(&http.app, headers.get(AUTHORIZATION)).await {
        Ok(principal) => principal,
        Err(error) => return error_response(&error),
    };
    let response = graphql::execute(&http.schema, &http.app, request.into_inner(), principal).await;
    GraphQLResponse::from(response).into_response()
}

/// GraphiQL, for exploring the API in a browser.
async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").title("Castellan GraphiQL").finish())
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// An error outside GraphQL execution, in Strapi's REST envelope and, so that GraphQL clients
/// understand it too, with a GraphQL error list:
/// `{"data":null,"error":{status,name,message,details},"errors":[{message,extensions:{code}}]}`.
pub fn error_response(error: &AppError) -> Response {
    error.log_if_internal();
    let status = error.status();
    let message = error.to_string();
    let body = json!({
        "data": null,
        "error": {
            "status": status.as_u16(),
            "name": error.name(),
            "message": message,
            "details": error.details(),
        },
        "errors": [{ "message": message, "extensions": { "code": error.code() } }],
    });
    let mut response = (status, Json(body)).into_response();
    if let AppError::RateLimited { retry_after_secs } = error {
        if let Ok(value) = retry_after_secs.to_string().parse() {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, value);
        }
    }
    response
}
