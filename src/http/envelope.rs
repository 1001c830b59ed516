//! Strapi's error envelope, for REST routes and for `/graphql` before execution.

use axum::response::{IntoResponse, Json, Response};
use serde_json::json;

use crate::error::AppError;

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

