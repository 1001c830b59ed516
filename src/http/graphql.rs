//! The GraphQL endpoint, GraphQL over HTTP: `POST /graphql` runs operations, `GET /graphql`
//! runs queries (never mutations) and, for a browser asking for a page, serves GraphiQL.

use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{BatchRequest, BatchResponse};
use async_graphql_axum::rejection::GraphQLRejection;
use async_graphql_axum::{GraphQLBatchRequest, GraphQLResponse};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, FromRequestParts, Path, Query, State};
use axum::http::header::{
    ACCEPT, ALLOW, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, VARY,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::envelope::error_response;
use super::sessions::RequestCredentials;
use crate::service::session::RequestSession;
use crate::app::AppState;
use crate::error::AppError;
use crate::graphql::{self, CastellanSchema};
use crate::util::request::ClientAddress;

/// Where the GraphQL API and GraphiQL live.
pub(super) const GRAPHQL_PATH: &str = "/graphql";

/// The credentials of a request (`Authorization`, `User-Agent`, the session cookies of cookie
/// mode): all a GraphQL request needs of its headers (the `HeaderMap` extractor copies every
/// header).
pub(super) struct Credentials(RequestCredentials);

impl FromRequestParts<AppState> for Credentials {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self(RequestCredentials::of(&parts.headers, app)))
    }
}

/// The principal of a GraphQL request, with its session and device in the request's data.
async fn authenticate(
    app: &AppState,
    credentials: &RequestCredentials,
    request: async_graphql::Request,
    state_changing: bool,
) -> Result<(crate::auth::Principal, RequestSession, async_graphql::Request), Response> {
    match credentials.resolve(app, state_changing).await {
        Ok((principal, session)) => Ok((principal, session, request.data(credentials.device()))),
        Err(error) => {
            if let AppError::Unauthorized(_) = error {
                app.metrics.unauthorized();
            }
            Err(error_response(&error))
        }
    }
}

/// The GraphQL API over POST: one operation, or a batch (a JSON array) of at most
/// `graphql.maxBatch`, run one after the other. The principal is resolved before execution;
/// unusable credentials end the request with 401 before any resolver runs.
pub(super) async fn graphql_api(
    State(app): State<AppState>,
    Extension(address): Extension<ClientAddress>,
    Credentials(credentials): Credentials,
    accept: Accept,
    request: Result<GraphQLBatchRequest, GraphQLRejection>,
    (schema, persisted): (CastellanSchema, Arc<PersistedQueries>),
) -> Response {
    let request = match request {
        Ok(request) => request,
        Err(rejection) => return error_response(&unreadable(&rejection.0, &app)),
    };
    let mut request = request.into_inner();
    let requests: Vec<&mut async_graphql::Request> = match &mut request {
        BatchRequest::Single(request) => vec![request],
        BatchRequest::Batch(requests) => requests.iter_mut().collect(),
    };
    for request in requests {
        if let Err(response) = persisted.resolve(request, accept) {
            return *response;
        }
    }
    let (principal, session) = match credentials.resolve(&app, true).await {
        Ok(resolved) => resolved,
        Err(error) => {
            if let AppError::Unauthorized(_) = error {
                app.metrics.unauthorized();
            }
            return error_response(&error);
        }
    };
    let device = credentials.device();
    let execute = |request: async_graphql::Request| {
        let (app, schema, principal) = (&app, &schema, principal.clone());
        let (request, session) = (request.data(device.clone()), session.clone());
        async move {
            let response =
                graphql::execute(schema, app, request.data(address), principal, session).await;
            app.metrics.graphql_request(&response);
            response
        }
    };
    match request {
        BatchRequest::Single(request) => respond(execute(request).await, accept),
        BatchRequest::Batch(requests) => {
            let limit = app.config.graphql.max_batch;
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
            let mut response = GraphQLResponse::from(BatchResponse::Batch(responses)).into_response();
            response
                .headers_mut()
                .insert(CONTENT_TYPE, accept.media_type());
            response
        }
    }
}

const NO_QUERY: &str =
    "GraphQL operations must contain a non-empty `query`: the body is a JSON object \
{\"query\": \"…\", \"variables\": {…}, \"operationName\": \"…\"}.";

/// The query texts of Apollo's automatic persisted queries, by their SHA-256: a client may
/// send the hash alone (`extensions.persistedQuery.sha256Hash`, e.g. in a short, cacheable
/// GET), and sends the text with it once when the server answers `PERSISTED_QUERY_NOT_FOUND`.
#[derive(Default)]
pub(super) struct PersistedQueries {
    texts: Mutex<HashMap<String, String>>,
}

impl PersistedQueries {
    /// How many texts are kept; the store starts again empty when it is full.
    const CAPACITY: usize = 1_000;
    /// The longest text kept (a longer one runs, but is not remembered), so that anyone's
    /// hashed queries hold at most `CAPACITY` × 16 KiB, not `CAPACITY` request bodies.
    const MAX_TEXT_BYTES: usize = 16 * 1024;

    /// Gives `request` its query text: its own (remembered under its hash when it names one,
    /// which must be the text's), or the remembered text of its hash. A request with neither
    /// is refused.
    fn resolve(
        &self,
        request: &mut async_graphql::Request,
        accept: Accept,
    ) -> Result<(), Box<Response>> {
        let hash = request
            .extensions
            .get("persistedQuery")
            .and_then(|p| match p {
                async_graphql::Value::Object(p) => p.get("sha256Hash").cloned(),
                _ => None,
            })
            .and_then(|h| match h {
                async_graphql::Value::String(h) => Some(h.to_ascii_lowercase()),
                _ => None,
            });
        let mut texts = self.texts.lock().unwrap_or_else(PoisonError::into_inner);
        match (request.query.trim().is_empty(), hash) {
            (true, None) => Err(Box::new(request_error(
                &AppError::BadRequest(NO_QUERY.into()),
                accept,
            ))),
            (true, Some(hash)) => match texts.get(&hash) {
                Some(text) => {
                    request.query = text.clone();
                    Ok(())
                }
                None => {
                    let body = serde_json::json!({ "errors": [{
                        "message": "PersistedQueryNotFound",
                        "extensions": { "code": "PERSISTED_QUERY_NOT_FOUND" },
                    }]});
                    let mut response = (StatusCode::OK, body.to_string()).into_response();
                    response.headers_mut().insert(CONTENT_TYPE, accept.media_type());
                    Err(Box::new(response))
                }
            },
            (false, Some(hash)) => {
                let actual = crate::util::hex(&Sha256::digest(request.query.as_bytes()));
                if actual != hash {
                    return Err(Box::new(request_error(
                        &AppError::BadRequest(
                            "provided sha does not match query: `extensions.persistedQuery.sha256Hash` \
must be the SHA-256 of `query`, in hex"
                                .into(),
                        ),
                        accept,
                    )));
                }
                if request.query.len() > Self::MAX_TEXT_BYTES {
                    return Ok(());
                }
                if texts.len() >= Self::CAPACITY {
                    texts.clear();
                }
                texts.insert(hash, request.query.clone());
                Ok(())
            }
            (false, None) => Ok(()),
        }
    }
}

/// The parameters of `GET /graphql?query=…&variables=…&operationName=…`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GetParams {
    query: Option<String>,
    /// JSON text.
    variables: Option<String>,
    operation_name: Option<String>,
    /// JSON text; accepted and passed on (a persisted-query hash travels here).
    extensions: Option<String>,
}

/// `GET /graphql`: a query in the URL's parameters (never a mutation: 405), or, for a browser
/// asking for HTML without a query, GraphiQL when `graphql.playground` is on.
pub(super) async fn graphql_get(
    State(app): State<AppState>,
    Extension(address): Extension<ClientAddress>,
    Credentials(credentials): Credentials,
    accept: Accept,
    params: Result<Query<GetParams>, QueryRejection>,
    (schema, persisted): (CastellanSchema, Arc<PersistedQueries>),
) -> Response {
    let params = match params {
        Ok(Query(params)) => params,
        Err(rejection) => {
            return request_error(
                &AppError::BadRequest(format!("The URL's parameters are unreadable: {rejection}")),
                accept,
            );
        }
    };
    let query = params.query.filter(|q| !q.trim().is_empty());
    if query.is_none() && params.extensions.is_none() {
        if accept.html {
            return graphiql(&app);
        }
        return request_error(
            &AppError::BadRequest(
                "A GET /graphql needs a `query` parameter (open this address in a browser for \
GraphiQL)"
                    .into(),
            ),
            accept,
        );
    }
    let mut request = async_graphql::Request::new(query.unwrap_or_default());
    if let Some(variables) = params.variables.filter(|v| !v.is_empty()) {
        match serde_json::from_str::<serde_json::Value>(&variables) {
            Ok(value @ (serde_json::Value::Object(_) | serde_json::Value::Null)) => {
                request = request.variables(async_graphql::Variables::from_json(value));
            }
            _ => {
                return request_error(
                    &AppError::BadRequest("`variables` must be a JSON object".into()),
                    accept,
                );
            }
        }
    }
    if let Some(extensions) = params.extensions.filter(|e| !e.is_empty()) {
        match serde_json::from_str(&extensions) {
            Ok(extensions) => request.extensions = extensions,
            Err(_) => {
                return request_error(
                    &AppError::BadRequest("`extensions` must be a JSON object".into()),
                    accept,
                );
            }
        }
    }
    request.operation_name = params.operation_name.filter(|n| !n.is_empty());
    if let Err(response) = persisted.resolve(&mut request, accept) {
        return *response;
    }
    // A GET must not change anything: only a query runs (a syntax error is left to execution,
    // which reports it).
    let operation_name = request.operation_name.clone();
    if let Ok(document) = request.parsed_query()
        && selected_operation(document, operation_name.as_deref())
            .is_some_and(|ty| ty != OperationType::Query)
    {
        let mut response = request_error(
            &AppError::BadRequest(
                "Mutations are sent with POST: a GET /graphql runs only queries".into(),
            ),
            accept,
        );
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let (principal, session, request) =
        match authenticate(&app, &credentials, request, false).await {
            Ok(resolved) => resolved,
            Err(response) => return response,
        };
    let response =
        graphql::execute(&schema, &app, request.data(address), principal, session).await;
    app.metrics.graphql_request(&response);
    respond(response, accept)
}

/// The type of the operation a request runs, when the document names it unambiguously.
fn selected_operation(document: &ExecutableDocument, name: Option<&str>) -> Option<OperationType> {
    let mut operations = document.operations.iter();
    let found = match name {
        Some(wanted) => operations.find(|(n, _)| n.map(|n| n.as_str()) == Some(wanted)),
        None => match (operations.next(), operations.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        },
    };
    found.map(|(_, operation)| operation.node.ty)
}

/// What the client accepts: the GraphQL-over-HTTP media type or the older `application/json`
/// (the default), and whether it is a browser asking for a page.
#[derive(Debug, Clone, Copy)]
pub(super) struct Accept {
    graphql_response: bool,
    html: bool,
}

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

impl Accept {
    fn media_type(self) -> HeaderValue {
        HeaderValue::from_static(if self.graphql_response {
            GRAPHQL_RESPONSE_JSON
        } else {
            "application/json"
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Accept {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let mut accept = Accept {
            graphql_response: false,
            html: false,
        };
        for value in parts.headers.get_all(ACCEPT) {
            let Ok(value) = value.to_str() else { continue };
            for item in value.split(',') {
                let mut parts = item.split(';');
                let essence = parts.next().unwrap_or_default().trim();
                // `q=0` means "not this one".
                let refused = parts.any(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.trim().parse::<f32>().ok())
                        .is_some_and(|q| q <= 0.0)
                });
                if refused {
                    continue;
                }
                if essence.eq_ignore_ascii_case(GRAPHQL_RESPONSE_JSON) {
                    accept.graphql_response = true;
                } else if essence.eq_ignore_ascii_case("text/html") {
                    accept.html = true;
                }
            }
        }
        Ok(accept)
    }
}

/// A GraphQL response as JSON. An error before execution (a syntax error, a failed validation,
/// a variable of the wrong type, a limit) leaves no `data` key, as the GraphQL spec says, and
/// answers 400, as Strapi (Apollo Server) does; anything that executed answers 200.
fn respond(response: async_graphql::Response, accept: Accept) -> Response {
    let request_failed = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|error| error.path.is_empty());
    // Written straight to text: going through a `serde_json::Value` first cost a quarter of
    // the instructions of a refused query (see docs/performance.md).
    let (status, body) = if request_failed {
        let failed = WithoutData {
            errors: &response.errors,
            extensions: (!response.extensions.is_empty()).then_some(&response.extensions),
        };
        (StatusCode::BAD_REQUEST, serde_json::to_string(&failed))
    } else {
        (StatusCode::OK, serde_json::to_string(&response))
    };
    let body = match body {
        Ok(body) => body,
        Err(error) => return error_response(&AppError::internal(error)),
    };
    let mut http = (status, body).into_response();
    http.headers_mut().insert(CONTENT_TYPE, accept.media_type());
    if response.is_ok()
        && let Some(value) = response.cache_control.value()
        && let Ok(value) = HeaderValue::from_str(&value)
    {
        http.headers_mut().insert(CACHE_CONTROL, value);
    }
    http.headers_mut().extend(response.http_headers);
    http
}

/// A response whose request failed before execution: its errors, without `data` (GraphQL over
/// HTTP).
#[derive(serde::Serialize)]
struct WithoutData<'a> {
    errors: &'a [async_graphql::ServerError],
    #[serde(skip_serializing_if = "Option::is_none")]
    extensions: Option<&'a std::collections::BTreeMap<String, async_graphql::Value>>,
}

/// An error of the request itself, before any operation ran, in GraphQL's shape without
/// `data`: `{"errors":[{message, extensions:{code, error:{name, message, details}}}]}`.
fn request_error(error: &AppError, accept: Accept) -> Response {
    let message = error.to_string();
    let body = serde_json::json!({
        "errors": [{
            "message": message,
            "extensions": { "code": error.code(), "error": error.strapi_error() },
        }],
    });
    let mut response = (error.status(), body.to_string()).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, accept.media_type());
    response
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


/// The Content-Security-Policy of the GraphiQL page: its scripts, styles and fonts come from
/// Castellan only (fonts and icons are `data:` URIs inside the stylesheet), and it may talk to
/// this server only.
const GRAPHIQL_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

/// GraphiQL, for exploring the API in a browser: everything it loads is served by Castellan
/// itself (`assets/graphiql/`, embedded in the binary), so it works offline and behind a strict
/// CSP. Off (404) unless `graphql.playground` is on (the default in development only).
fn graphiql(app: &AppState) -> Response {
    if !app.config.graphql.playground {
        return (
            StatusCode::NOT_FOUND,
            [(CONTENT_TYPE, "text/plain; charset=utf-8")],
            "GraphiQL is off on this server (set graphql.playground = true to serve it). \
The API answers POST /graphql, and GET /graphql?query=… for queries.\n",
        )
            .into_response();
    }
    let page = format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Castellan GraphiQL</title>
<link rel="stylesheet" href="{ASSETS}/graphiql.min.css">
<style>html, body, #graphiql {{ height: 100%; margin: 0; }}</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script src="{ASSETS}/react.production.min.js"></script>
<script src="{ASSETS}/react-dom.production.min.js"></script>
<script src="{ASSETS}/graphiql.min.js"></script>
<script src="{ASSETS}/castellan-graphiql.js"></script>
</body>
</html>
"#
    );
    let mut response = Html(page).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(GRAPHIQL_CSP));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(VARY, HeaderValue::from_static("Accept"));
    response
}

/// Where GraphiQL's files are served.
pub(super) const ASSETS: &str = "/graphql/assets";

/// The files of GraphiQL, from the binary; 404 when `graphql.playground` is off.
pub(super) async fn graphiql_asset(State(app): State<AppState>, Path(name): Path<String>) -> Response {
    let found = match name.as_str() {
        "graphiql.min.js" => Some((&include_bytes!("../../assets/graphiql/graphiql.min.js")[..], "text/javascript")),
        "graphiql.min.css" => Some((&include_bytes!("../../assets/graphiql/graphiql.min.css")[..], "text/css")),
        "react.production.min.js" => Some((&include_bytes!("../../assets/graphiql/react.production.min.js")[..], "text/javascript")),
        "react-dom.production.min.js" => Some((&include_bytes!("../../assets/graphiql/react-dom.production.min.js")[..], "text/javascript")),
        "castellan-graphiql.js" => Some((&include_bytes!("../../assets/graphiql/castellan-graphiql.js")[..], "text/javascript")),
        _ => None,
    };
    match found {
        Some((bytes, media_type)) if app.config.graphql.playground => (
            [
                (CONTENT_TYPE, HeaderValue::from_static(media_type)),
                (CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400")),
                (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            ],
            bytes,
        )
            .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Accept {
        let request = axum::http::Request::builder()
            .header(ACCEPT, value)
            .body(())
            .unwrap();
        let (mut parts, ()) = request.into_parts();
        let Ok(accept) = futures_executor(Accept::from_request_parts(&mut parts, &()));
        accept
    }

    /// Runs a future that never waits.
    fn futures_executor<F: std::future::Future>(future: F) -> F::Output {
        let waker = std::task::Waker::noop();
        let mut context = std::task::Context::from_waker(waker);
        let mut future = std::pin::pin!(future);
        match future.as_mut().poll(&mut context) {
            std::task::Poll::Ready(output) => output,
            std::task::Poll::Pending => panic!("the extractor waited"),
        }
    }

    #[test]
    fn accept_chooses_the_media_type_and_tells_a_browser() {
        let browser = accept("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8");
        assert!(browser.html && !browser.graphql_response);
        let modern = accept("application/graphql-response+json, application/json;q=0.9");
        assert!(modern.graphql_response && !modern.html);
        assert_eq!(modern.media_type(), GRAPHQL_RESPONSE_JSON);
        let legacy = accept("application/json");
        assert_eq!(legacy.media_type(), "application/json");
        let refused = accept("application/graphql-response+json;q=0, text/html; q=0");
        assert!(!refused.graphql_response && !refused.html);
    }

    #[test]
    fn the_selected_operation_is_the_named_or_the_only_one() {
        let document = async_graphql::parser::parse_query(
            "query A { me { id } } mutation B { forgotPassword(email: \"x\") { ok } }",
        )
        .unwrap();
        assert_eq!(selected_operation(&document, Some("A")), Some(OperationType::Query));
        assert_eq!(selected_operation(&document, Some("B")), Some(OperationType::Mutation));
        assert_eq!(selected_operation(&document, None), None);
        assert_eq!(selected_operation(&document, Some("C")), None);
        let only = async_graphql::parser::parse_query("mutation { x }").unwrap();
        assert_eq!(selected_operation(&only, None), Some(OperationType::Mutation));
    }
}
