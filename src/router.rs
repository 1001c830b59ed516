//! HTTP: `/graphql` (POST = the API, GET = GraphiQL), health, and the error envelope shared by
//! every route.

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::json;
use tower_http::cors::{Any, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::app::AppState;
use crate::auth::{Principal, authenticate};
use crate::error::AppError;
use crate::graphql::{self, CastellanSchema};
use crate::policy::{Requirement, actions};
use crate::service::account;

/// The REST routes and the action each needs; the catalogue lists them.
pub const REST_ROUTES: &[(&str, &str)] = &[(
    "GET /api/auth/email-confirmation",
    actions::AUTH_EMAIL_CONFIRMATION,
)];

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
        .route("/api/auth/email-confirmation", get(email_confirmation))
        .with_state(HttpState { app, schema })
        .layer(cors)
        .layer(TraceLayer::new_for_http())
}

/// The GraphQL API. The principal is resolved before execution; unusable credentials end the
/// request with 401 before any resolver runs.
async fn graphql_api(
    State(http): State<HttpState>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
    let principal = match authenticate(&http.app, headers.get(AUTHORIZATION)).await {
        Ok(principal) => principal,
        Err(error) => return error_response(&error),
    };
    let response = graphql::execute(&http.schema, &http.app, request.into_inner(), principal).await;
    GraphQLResponse::from(response).into_response()
}

/// The principal of a REST request, if it may perform `action`; otherwise the error response
/// (401 for unusable credentials, 403 naming the missing action).
pub async fn authorize_rest(
    app: &AppState,
    headers: &HeaderMap,
    action: &str,
) -> Result<Principal, Response> {
    let principal = authenticate(app, headers.get(AUTHORIZATION))
        .await
        .map_err(|e| error_response(&e))?;
    app.policy
        .authorize(&principal, &Requirement::Action(action.to_string()))
        .map_err(|e| error_response(&e))?;
    Ok(principal)
}

#[derive(serde::Deserialize)]
struct ConfirmationQuery {
    #[serde(default)]
    confirmation: String,
}

/// The link of the confirmation email: confirms, then redirects to the
/// `emailConfirmationRedirection` setting.
async fn email_confirmation(
    State(http): State<HttpState>,
    headers: HeaderMap,
    Query(query): Query<ConfirmationQuery>,
) -> Response {
    if let Err(response) =
        authorize_rest(&http.app, &headers, actions::AUTH_EMAIL_CONFIRMATION).await
    {
        return response;
    }
    match account::confirm_email(&http.app, &query.confirmation).await {
        Ok(_) => match http
            .app
            .settings
            .advanced()
            .email_confirmation_redirection
            .as_deref()
        {
            Some(url) => (StatusCode::FOUND, [(LOCATION, url.to_string())]).into_response(),
            None => Json(json!({ "confirmed": true })).into_response(),
        },
        Err(error) => error_response(&error),
    }
}

/// GraphiQL, for exploring the API in a browser.
async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .title("Castellan GraphiQL")
            .finish(),
    )
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
    if let AppError::RateLimited { retry_after_secs } = error
        && let Ok(value) = retry_after_secs.to_string().parse()
    {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, value);
    }
    response
}
