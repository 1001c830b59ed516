//! HTTP: `/graphql` (POST = the API, GET = GraphiQL), health, and the error envelope shared by
//! every route.

use std::sync::Arc;

use async_graphql::http::GraphiQLSource;
use async_graphql::{BatchRequest, BatchResponse};
use async_graphql_axum::rejection::GraphQLRejection;
use async_graphql_axum::{GraphQLBatchRequest, GraphQLResponse};
use axum::Router;
use axum::extract::{ConnectInfo, Extension, Path, Query, State};
use axum::extract::{FromRequestParts, Request};
use axum::handler::Handler;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, LOCATION, RETRY_AFTER, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::{MethodFilter, MethodRouter, get, on};
use serde_json::json;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::app::AppState;
use crate::auth::{Principal, authenticate};
use crate::config::CorsConfig;
use crate::error::AppError;
use crate::graphql::{self, CastellanSchema};
use crate::policy::{Access, Requirement, actions};
use crate::service::{account, providers};

/// The REST routes and the action each needs; the catalogue lists them.
pub const REST_ROUTES: &[(&str, &str)] = &[
    (
        "GET /api/auth/email-confirmation",
        actions::AUTH_EMAIL_CONFIRMATION,
    ),
    ("GET /api/connect/:provider", actions::AUTH_CONNECT),
    ("GET /api/connect/:provider/callback", actions::AUTH_CONNECT),
    ("GET /api/auth/:provider/callback", actions::AUTH_CALLBACK),
];

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct HttpState {
    pub app: AppState,
    pub schema: CastellanSchema,
}

/// The whole server as a router: Castellan's routes and `extra` (a library user's, already
/// protected), under the layers every request passes ([`service`]).
pub fn router(app: AppState, schema: CastellanSchema, extra: Router<AppState>) -> Router {
    Router::new().fallback_service(service(app, schema, extra))
}

/// The whole server as one service: the request id and client address, the trace span and
/// CORS, around the routes. Built around the router rather than with `Router::layer`, which
/// wraps every route in each layer and clones the layers of the matched route on every request.
pub fn service(
    app: AppState,
    schema: CastellanSchema,
    extra: Router<AppState>,
) -> impl tower::Service<
    Request,
    Response = Response,
    Error = std::convert::Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    let routes = Router::new()
        .route(
            GRAPHQL_PATH,
            get(graphiql)
                .post(graphql_api)
                .layer(RequestBodyLimitLayer::new(
                    app.config.graphql.max_body_bytes,
                )),
        )
        .route("/healthz", get(health))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route("/api/auth/email-confirmation", get(email_confirmation))
        .route("/api/connect/{provider}", get(connect))
        .route("/api/connect/{provider}/callback", get(connect_callback))
        .route("/api/auth/{provider}/callback", get(provider_sign_in))
        .with_state(HttpState {
            app: app.clone(),
            schema,
        })
        .merge(extra.with_state(app.clone()));
    tower::ServiceBuilder::new()
        .layer(middleware::from_fn_with_state(
            app.clone(),
            request_id_and_client,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(cors_layer(&app.config.cors))
        .service(routes)
}

/// The CORS rules of `[cors]`.
fn cors_layer(cors: &CorsConfig) -> CorsLayer {
    let mut headers = vec![AUTHORIZATION, CONTENT_TYPE, X_REQUEST_ID];
    headers.extend(
        cors.headers
            .iter()
            .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok()),
    );
    let origins = if cors.any_origin() {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            cors.origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok()),
        )
    };
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers(headers)
        .expose_headers([X_REQUEST_ID, RETRY_AFTER])
        .allow_credentials(cors.credentials)
        .max_age(cors.max_age)
}

/// Where the GraphQL API and GraphiQL live.
const GRAPHQL_PATH: &str = "/graphql";

/// The header that carries a request's id, both ways.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of a request, in its log lines and in the `X-Request-Id` of its response: the
/// caller's `X-Request-Id` when it is a short plain token (a proxy's id), else a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    fn of(headers: &HeaderMap) -> Self {
        let given = headers
            .get(&X_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| {
                (1..=64).contains(&v.len())
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
            });
        match given {
            Some(id) => Self(id.to_string()),
            None => Self::new(),
        }
    }

    /// A new id: this process's random prefix and a count, unique across instances without
    /// a system call per request.
    fn new() -> Self {
        static PREFIX: std::sync::LazyLock<u32> =
            std::sync::LazyLock::new(|| u32::from_le_bytes(crate::util::random_bytes::<4>()));
        static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // The digits by hand: 670 instructions fewer per request than `format!` (callgrind,
        // workload (c) of bench/run.sh).
        let digits = (u128::from(*PREFIX) << 64) | u128::from(n);
        let id = (0..24)
            .rev()
            .map(|i| char::from(b"0123456789abcdef"[((digits >> (4 * i)) & 0xf) as usize]))
            .collect();
        Self(id)
    }
}

/// Gives each request its [`RequestId`] (also in the response's `X-Request-Id`) and its
/// [`ClientAddress`], and the bare 413 of the limit of `/graphql` bodies Strapi's envelope and
/// a GraphQL error. One middleware for all three: each layer of `from_fn` boxes and clones the
/// rest of the stack on every request (a layer of its own on `/graphql` cost (a) 3,000
/// instructions a request, callgrind).
async fn request_id_and_client(
    State(app): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let id = RequestId::of(request.headers());
    let value = HeaderValue::from_str(&id.0).ok();
    request.extensions_mut().insert(id);
    let address = client_address(&app, &request);
    request.extensions_mut().insert(address);
    let graphql = request.uri().path() == GRAPHQL_PATH;
    if graphql && request.method() == Method::POST && !preflighted(request.headers()) {
        return error_response(&AppError::BadRequest(CSRF_REFUSAL.into()));
    }
    let mut response = next.run(request).await;
    if graphql && response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        response = error_response(&AppError::PayloadTooLarge {
            limit: app.config.graphql.max_body_bytes,
        });
    }
    if let Some(value) = value {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    response
}

const CSRF_REFUSAL: &str = "This request has been blocked as a potential Cross-Site Request Forgery \
(CSRF): a POST to /graphql needs `Content-Type: application/json`. Bodies a browser may send \
across sites without asking first (text/plain, application/x-www-form-urlencoded, \
multipart/form-data, or none at all) are refused.";

/// Whether a browser would have asked before sending this POST across sites (a CORS
/// preflight), which the CORS rules then decide: only a request whose content type is one an
/// HTML form can send, or none, is sent without asking. Such requests are refused, as Apollo
/// Server refuses them, so a cookie or other ambient credential can never run an operation
/// from another site's form.
fn preflighted(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers.get(CONTENT_TYPE) else {
        return false;
    };
    let Ok(content_type) = content_type.to_str() else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    !matches!(
        essence.as_str(),
        "" | "text/plain" | "application/x-www-form-urlencoded" | "multipart/form-data"
    )
}

fn request_span(request: &Request) -> tracing::Span {
    let id = request
        .extensions()
        .get::<RequestId>()
        .map_or("", |id| id.0.as_str());
    tracing::info_span!(
        "request",
        id,
        method = %request.method(),
        path = request.uri().path(),
    )
}

/// The address of the client of a request (behind trusted proxies, from the header they write:
/// `rateLimit.proxyHeader`).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<std::net::IpAddr>);

fn client_address(app: &AppState, request: &Request) -> ClientAddress {
    let peer = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let lines = request
        .headers()
        .get_all(app.limiter.proxy_header())
        .iter()
        .map(HeaderValue::as_bytes);
    ClientAddress(app.limiter.client_address(peer, lines))
}

/// Counts a REST attempt of `operation` against the rate limits.
async fn limit_rest(
    app: &AppState,
    address: ClientAddress,
    operation: &str,
) -> Result<(), Response> {
    app.limiter
        .check(operation, address.0, None)
        .await
        .map_err(|e| rest_error(&e))
}

/// A library user's REST route and what it needs.
pub struct ProtectedRoute {
    pub method: Method,
    pub path: String,
    pub requirement: Requirement,
    handler: MethodRouter<AppState>,
}

impl ProtectedRoute {
    pub fn new<H, T>(method: Method, path: &str, requirement: Requirement, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).unwrap_or(MethodFilter::GET);
        Self {
            method,
            path: path.to_string(),
            requirement,
            handler: on(filter, handler),
        }
    }

    /// Adds the route to `routes`, behind a check of its requirement.
    pub fn install(self, routes: Router<AppState>, app: AppState) -> Router<AppState> {
        let guard = RouteGuard {
            app,
            requirement: Arc::new(self.requirement),
        };
        routes.route(
            &self.path,
            self.handler
                .route_layer(middleware::from_fn_with_state(guard, check_route)),
        )
    }
}

#[derive(Clone)]
struct RouteGuard {
    app: AppState,
    requirement: Arc<Requirement>,
}

/// Who called a protected route, and through which grant: extract it in the handler.
/// `access` is `None` on a route for any signed-in user.
#[derive(Debug, Clone)]
pub struct Authorized {
    pub principal: Principal,
    pub access: Option<Access>,
}

async fn check_route(
    State(guard): State<RouteGuard>,
    mut request: Request,
    next: Next,
) -> Response {
    let principal = match authenticate(&guard.app, request.headers().get(AUTHORIZATION)).await {
        Ok(principal) => principal,
        Err(error) => return rest_error(&error),
    };
    let access = match guard.requirement.as_ref() {
        Requirement::Action(action) => match guard.app.policy.access(&principal, action) {
            Ok(access) => Some(access),
            Err(error) => return rest_error(&error),
        },
        requirement => match guard.app.policy.authorize(&principal, requirement) {
            Ok(_) => None,
            Err(error) => return rest_error(&error),
        },
    };
    request
        .extensions_mut()
        .insert(Authorized { principal, access });
    next.run(request).await
}

impl<S: Send + Sync> FromRequestParts<S> for Authorized {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Authorized>().cloned().ok_or_else(|| {
            rest_error(&AppError::internal(anyhow::anyhow!(
                "Authorized is only available on routes added with Builder::route or Builder::signed_in_route"
            )))
        })
    }
}

/// The `Authorization` header of a request, if any: all a GraphQL request needs of its
/// headers (the `HeaderMap` extractor copies every header).
struct Credentials(Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for Credentials {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.headers.get(AUTHORIZATION).cloned()))
    }
}

/// The GraphQL API: one operation, or a batch (a JSON array) of at most `graphql.maxBatch`,
/// run one after the other. The principal is resolved before execution; unusable credentials
/// end the request with 401 before any resolver runs.
async fn graphql_api(
    State(http): State<HttpState>,
    Extension(address): Extension<ClientAddress>,
    Credentials(credentials): Credentials,
    request: Result<GraphQLBatchRequest, GraphQLRejection>,
) -> Response {
    let request = match request {
        Ok(request) => request,
        Err(rejection) => return error_response(&unreadable(&rejection.0, &http.app)),
    };
    let principal = match authenticate(&http.app, credentials.as_ref()).await {
        Ok(principal) => principal,
        Err(error) => {
            if let AppError::Unauthorized(_) = error {
                http.app.metrics.unauthorized();
            }
            return error_response(&error);
        }
    };
    let execute = |request: async_graphql::Request| {
        let (http, principal) = (&http, principal.clone());
        async move {
            let response =
                graphql::execute(&http.schema, &http.app, request.data(address), principal).await;
            http.app.metrics.graphql_request(&response);
            response
        }
    };
    match request.into_inner() {
        BatchRequest::Single(request) => {
            GraphQLResponse::from(execute(request).await).into_response()
        }
        BatchRequest::Batch(requests) => {
            let limit = http.app.config.graphql.max_batch;
            if requests.is_empty() || requests.len() > limit {
                return error_response(&AppError::validation(format!(
                    "A batch holds from 1 to {limit} operations; this one holds {}",
                    requests.len()
                )));
            }
            let mut responses = Vec::with_capacity(requests.len());
            for request in requests {
                responses.push(execute(request).await);
            }
            GraphQLResponse::from(BatchResponse::Batch(responses)).into_response()
        }
    }
}

/// Why the body of a `POST /graphql` is no GraphQL request, said plainly rather than in
/// async-graphql's debug form. A body without a length (chunked) that runs over
/// `graphql.maxBodyBytes` ends here, as an error of the body stream.
fn unreadable(error: &async_graphql::ParseRequestError, app: &AppState) -> AppError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = match error {
        async_graphql::ParseRequestError::Io(io) => Some(io),
        _ => None,
    };
    while let Some(error) = cause {
        // tower-http's limit of the body stream, whose type is private to the body crate.
        if error.to_string() == "length limit exceeded" {
            return AppError::PayloadTooLarge {
                limit: app.config.graphql.max_body_bytes,
            };
        }
        cause = error.source().or_else(|| {
            error
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .map(|inner| inner as _)
        });
    }
    AppError::validation(format!("The body is not a GraphQL request: {error}"))
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
        .map_err(|e| rest_error(&e))?;
    app.policy
        .authorize(&principal, &Requirement::Action(action.to_string()))
        .map_err(|e| rest_error(&e))?;
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
        Err(error) => rest_error(&error),
    }
}

#[derive(serde::Deserialize)]
struct ConnectQuery {
    callback: Option<String>,
}

fn state_cookie(app: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let secure = if app.config.public_url().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{}={value}; Path=/api/connect; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        crate::auth::oauth::STATE_COOKIE
    );
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn redirect(location: &str, cookie: HeaderValue) -> Response {
    match HeaderValue::from_str(location) {
        Ok(location) => (
            StatusCode::FOUND,
            [(LOCATION, location), (SET_COOKIE, cookie)],
        )
            .into_response(),
        Err(_) => rest_error(&AppError::internal(anyhow::anyhow!(
            "a redirect URL is not a header value"
        ))),
    }
}

/// `GET /api/connect/:provider`: to the provider's sign-in page, with the flow's state in a
/// signed cookie.
async fn connect(
    State(http): State<HttpState>,
    Extension(address): Extension<ClientAddress>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    Query(query): Query<ConnectQuery>,
) -> Response {
    if let Err(response) = authorize_rest(&http.app, &headers, actions::AUTH_CONNECT).await {
        return response;
    }
    if let Err(response) = limit_rest(&http.app, address, "connect").await {
        return response;
    }
    match providers::connect(&http.app, &provider, query.callback.as_deref()).await {
        Ok((location, sealed)) => redirect(
            &location,
            state_cookie(&http.app, &sealed, crate::auth::oauth::STATE_LIFETIME_SECS),
        ),
        Err(error) => rest_error(&error),
    }
}

/// `GET /api/connect/:provider/callback`: the provider comes back here with a code; the
/// browser goes on to the front end with `access_token`.
async fn connect_callback(
    State(http): State<HttpState>,
    Extension(address): Extension<ClientAddress>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    Query(params): Query<providers::CallbackParams>,
) -> Response {
    if let Err(response) = authorize_rest(&http.app, &headers, actions::AUTH_CONNECT).await {
        return response;
    }
    if let Err(response) = limit_rest(&http.app, address, "connect-callback").await {
        return response;
    }
    let cookie = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == crate::auth::oauth::STATE_COOKIE)
        .map(|(_, value)| value.to_string());
    match providers::finish_connect(&http.app, &provider, params, cookie.as_deref()).await {
        Ok(location) => redirect(&location, state_cookie(&http.app, "", 0)),
        Err(error) => rest_error(&error),
    }
}

#[derive(serde::Deserialize)]
struct AccessTokenQuery {
    #[serde(default)]
    access_token: String,
}

/// `GET /api/auth/:provider/callback?access_token=…`: `{jwt, user}`, Strapi's REST answer.
async fn provider_sign_in(
    State(http): State<HttpState>,
    Extension(address): Extension<ClientAddress>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    Query(query): Query<AccessTokenQuery>,
) -> Response {
    if let Err(response) = authorize_rest(&http.app, &headers, actions::AUTH_CALLBACK).await {
        return response;
    }
    if let Err(response) = limit_rest(&http.app, address, "provider-login").await {
        return response;
    }
    match providers::sign_in(&http.app, &provider, &query.access_token).await {
        Ok(session) => Json(json!({
            "jwt": session.jwt,
            "user": {
                "id": session.user.id,
                "documentId": session.user.document_id,
                "username": session.user.username,
                "email": session.user.email,
                "provider": session.user.provider,
                "confirmed": session.user.confirmed,
                "blocked": session.user.blocked,
                "createdAt": session.user.created_at.and_utc(),
                "updatedAt": session.user.updated_at.and_utc(),
                "role": { "id": session.role.id, "name": session.role.name, "type": session.role.role_type },
            },
        }))
        .into_response(),
        Err(error) => rest_error(&error),
    }
}

/// GraphiQL, for exploring the API in a browser.
async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint(GRAPHQL_PATH)
            .title("Castellan GraphiQL")
            .finish(),
    )
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when the database answers.
async fn ready(State(http): State<HttpState>) -> Response {
    match http.app.db.ping().await {
        Ok(()) => Json(json!({ "status": "ready" })).into_response(),
        Err(error) => {
            tracing::warn!(
                error = format!("{error:#}"),
                "not ready: the database does not answer"
            );
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "reason": "database" })),
            )
                .into_response()
        }
    }
}

/// Counters in Prometheus' text format, for whom `[metrics] access` allows (see
/// [`metrics_refusal`]).
async fn metrics(State(http): State<HttpState>, request: axum::extract::Request) -> Response {
    if let Some(refusal) = metrics_refusal(&http.app.config.metrics, &request) {
        return refusal;
    }
    let body = http
        .app
        .metrics
        .render(http.app.users.len(), http.app.db.checkouts());
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// Why `request` may not read `/metrics`, as the answer: `off` → 404 (as if there were no
/// such route); `loopback` and a TCP peer that is not a loopback address (`X-Forwarded-For`
/// is not believed) → 403; `token` without `Authorization: Bearer <METRICS_TOKEN>` → 401 with
/// `WWW-Authenticate`, the token compared in constant time.
fn metrics_refusal(
    access: &crate::config::MetricsAccess,
    request: &axum::extract::Request,
) -> Option<Response> {
    use crate::config::MetricsAccess;
    use sha2::{Digest, Sha256};
    match access {
        MetricsAccess::Open => None,
        MetricsAccess::Off => Some(StatusCode::NOT_FOUND.into_response()),
        MetricsAccess::Loopback => {
            let peer = request
                .extensions()
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .map(|ConnectInfo(peer)| peer.ip().to_canonical());
            (!peer.is_some_and(|ip| ip.is_loopback())).then(|| {
                (
                    StatusCode::FORBIDDEN,
                    "/metrics answers loopback clients only\n",
                )
                    .into_response()
            })
        }
        MetricsAccess::Token(token) => {
            let sent = request
                .headers()
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, sent)| sent.trim());
            // Digests of equal length, compared without an early exit.
            let matches = sent.is_some_and(|sent| {
                let (a, b) = (Sha256::digest(sent), Sha256::digest(token.expose()));
                a.iter()
                    .zip(b.iter())
                    .fold(0u8, |acc, (x, y)| acc | (x ^ y))
                    == 0
            });
            (!matches).then(|| {
                (
                    StatusCode::UNAUTHORIZED,
                    [(
                        axum::http::header::WWW_AUTHENTICATE,
                        "Bearer realm=\"metrics\"",
                    )],
                    "/metrics needs Authorization: Bearer <METRICS_TOKEN>\n",
                )
                    .into_response()
            })
        }
    }
}

/// An error of a REST route, in Strapi's envelope: `{"data":null,"error":{status,name,message,details}}`.
pub fn rest_error(error: &AppError) -> Response {
    envelope(error, false)
}

/// An error of `/graphql` before execution (bad credentials), in Strapi's REST envelope and,
/// so that GraphQL clients understand it too, with a GraphQL error list:
/// `{"data":null,"error":{status,name,message,details},"errors":[{message,extensions:{code}}]}`.
pub fn error_response(error: &AppError) -> Response {
    envelope(error, true)
}

fn envelope(error: &AppError, graphql_errors: bool) -> Response {
    error.log_if_internal();
    let status = error.status();
    let message = error.to_string();
    let mut body = json!({
        "data": null,
        "error": {
            "status": status.as_u16(),
            "name": error.name(),
            "message": message,
            "details": error.details(),
        },
    });
    if graphql_errors {
        body["errors"] = json!([{ "message": message, "extensions": { "code": error.code() } }]);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_request_ids_are_the_prefix_and_a_count_in_hex() {
        let (a, b) = (RequestId::new().0, RequestId::new().0);
        for id in [&a, &b] {
            assert_eq!(id.len(), 24, "{id}");
            assert!(
                id.bytes()
                    .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)),
                "{id}"
            );
        }
        assert_eq!(a[..8], b[..8], "one prefix per process");
        let count = |id: &str| u64::from_str_radix(&id[8..], 16).unwrap();
        assert!(count(&b) > count(&a), "{a} then {b}");
    }
}
