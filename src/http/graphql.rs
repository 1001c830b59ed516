//! The GraphQL endpoint: `POST /graphql` runs operations, `GET /graphql` serves GraphiQL.

use async_graphql::http::GraphiQLSource;
use async_graphql::{BatchRequest, BatchResponse};
use async_graphql_axum::rejection::GraphQLRejection;
use async_graphql_axum::{GraphQLBatchRequest, GraphQLResponse};
use axum::extract::{Extension, FromRequestParts, State};
use axum::http::HeaderValue;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Response};

use super::envelope::error_response;
use crate::app::AppState;
use crate::error::AppError;
use crate::graphql::{self, CastellanSchema};
use crate::util::request::ClientAddress;

/// Where the GraphQL API and GraphiQL live.
pub(super) const GRAPHQL_PATH: &str = "/graphql";

/// The `Authorization` header of a request, if any: all a GraphQL request needs of its
/// headers (the `HeaderMap` extractor copies every header).
pub(super) struct Credentials(Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for Credentials {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.headers.get(AUTHORIZATION).cloned()))
    }
}

/// The GraphQL API: one operation, or a batch (a JSON array) of at most `graphql.maxBatch`,
/// run one after the other. The principal is resolved before execution; unusable credentials
/// end the request with 401 before any resolver runs.
pub(super) async fn graphql_api(
    State(app): State<AppState>,
    Extension(address): Extension<ClientAddress>,
    Credentials(credentials): Credentials,
    request: Result<GraphQLBatchRequest, GraphQLRejection>,
    schema: CastellanSchema,
) -> Response {
    let request = match request {
        Ok(request) => request,
        Err(rejection) => return error_response(&unreadable(&rejection.0, &app)),
    };
    let principal = match app.authenticate(credentials.as_ref()).await {
        Ok(principal) => principal,
        Err(error) => {
            if let AppError::Unauthorized(_) = error {
                app.metrics.unauthorized();
            }
            return error_response(&error);
        }
    };
    let execute = |request: async_graphql::Request| {
        let (app, schema, principal) = (&app, &schema, principal.clone());
        async move {
            let response =
                graphql::execute(schema, app, request.data(address), principal).await;
            app.metrics.graphql_request(&response);
            response
        }
    };
    match request.into_inner() {
        BatchRequest::Single(request) => {
            GraphQLResponse::from(execute(request).await).into_response()
        }
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


/// GraphiQL, for exploring the API in a browser.
pub(super) async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint(GRAPHQL_PATH)
            .title("Castellan GraphiQL")
            .finish(),
    )
}

