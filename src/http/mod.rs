//! The HTTP edge of both transports: the routes, the middleware every request passes, the
//! GraphQL endpoint, Castellan's own REST routes and a library user's protected ones, the
//! operations endpoints, the error envelopes, and the connection loop.
//!
//! | file | what |
//! |---|---|
//! | `middleware.rs` | request id, client address, CSRF refusal, trace span, CORS |
//! | `graphql.rs` | `/graphql`: GraphQL over HTTP (POST, GET for queries) and GraphiQL |
//! | `protected.rs` | the REST route list, each route behind its action: built-in and library |
//! | `auth_routes.rs` | the confirmation link and the OAuth provider routes |
//! | `rest/` | Strapi's REST routes of Users & Permissions (auth, users, roles, permissions) |
//! | `operations.rs` | `/healthz`, `/readyz`, `/metrics` |
//! | `envelope.rs` | Strapi's error envelope |
//! | `serve.rs` | connections: timeouts and the cap |

mod auth_routes;
mod envelope;
mod graphql;
mod middleware;
mod operations;
mod protected;
mod rest;
pub mod serve;

use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use axum::routing::get;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::app::AppState;
use crate::graphql::CastellanSchema;

pub use crate::util::request::{ClientAddress, RequestId, X_REQUEST_ID};
pub use envelope::{error_response, rest_error};
pub use protected::{Authorized, ProtectedRoute, authorize_rest, builtin_routes};

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
    let persisted = std::sync::Arc::new(graphql::PersistedQueries::default());
    let routes = Router::new()
        .route(
            graphql::GRAPHQL_PATH,
            get({
                let shared = (schema.clone(), persisted.clone());
                move |state, address, credentials, accept, params| {
                    graphql::graphql_get(state, address, credentials, accept, params, shared)
                }
            })
            .post(move |state, address, credentials, accept, request| {
                let shared = (schema.clone(), persisted.clone());
                graphql::graphql_api(state, address, credentials, accept, request, shared)
            })
                .layer(RequestBodyLimitLayer::new(
                    app.config.graphql.max_body_bytes,
                )),
        )
        .route(
            &format!("{}/{{name}}", graphql::ASSETS),
            get(graphql::graphiql_asset),
        )
        .route("/healthz", get(operations::health))
        .route("/readyz", get(operations::ready))
        .route("/metrics", get(operations::metrics))
        .merge(extra)
        .fallback(rest::unmatched)
        .method_not_allowed_fallback(rest::method_not_allowed)
        .with_state(app.clone());
    tower::ServiceBuilder::new()
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            middleware::request_id_and_client,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(middleware::request_span)
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(middleware::cors_layer(&app.config.cors))
        .service(routes)
}
