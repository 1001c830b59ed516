//! What operators poll: liveness, readiness and counters.

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Json, Response};
use serde_json::json;

use crate::app::AppState;

pub(super) async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when the database answers.
pub(super) async fn ready(State(app): State<AppState>) -> Response {
    match app.db.ping().await {
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
pub(super) async fn metrics(State(app): State<AppState>, request: axum::extract::Request) -> Response {
    if let Some(refusal) = metrics_refusal(&app.config.metrics, &request) {
        return refusal;
    }
    let body = app.metrics.render(app.users.len(), app.db.checkouts());
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

