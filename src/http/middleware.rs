//! The middleware every request passes, and the CORS rules.

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::envelope::error_response;
use super::graphql::GRAPHQL_PATH;
use crate::app::AppState;
use crate::config::CorsConfig;
use crate::error::AppError;
use crate::util::request::{ClientAddress, RequestId, X_REQUEST_ID};

/// The CORS rules of `[cors]`.
pub(super) fn cors_layer(cors: &CorsConfig) -> CorsLayer {
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


/// Gives each request its [`RequestId`] (also in the response's `X-Request-Id`) and its
/// [`ClientAddress`], and the bare 413 of the limit of `/graphql` bodies Strapi's envelope and
/// a GraphQL error. One middleware for all three: each layer of `from_fn` boxes and clones the
/// rest of the stack on every request (a layer of its own on `/graphql` cost (a) 3,000
/// instructions a request, callgrind).
pub(super) async fn request_id_and_client(
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

pub(super) fn request_span(request: &Request) -> tracing::Span {
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

