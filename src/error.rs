//! The one error type of Castellan. Every code and name a client sees is decided here.

use axum::http::StatusCode;
use serde_json::{Value, json};

pub type AppResult<T> = Result<T, AppError>;

/// What went wrong, in the terms a client can act on. Each variant maps to one of Strapi's
/// GraphQL error codes and error names, so front ends that branch on them keep working.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad input: `BAD_USER_INPUT` / `ValidationError`.
    #[error("{message}")]
    Validation { message: String, details: Value },
    /// A rule of the application refused the request: `STRAPI_APPLICATION_ERROR` / `ApplicationError`.
    #[error("{message}")]
    Application { message: String, details: Value },
    /// The principal lacks a grant: `FORBIDDEN` / `ForbiddenError`. `details` names what was missing.
    #[error("Forbidden access")]
    Forbidden { details: Value },
    /// `STRAPI_NOT_FOUND_ERROR` / `NotFoundError`.
    #[error("{0}")]
    NotFound(String),
    /// `STRAPI_RATE_LIMIT_ERROR` / `RateLimitError`.
    #[error("Too many requests, please try again later.")]
    RateLimited { retry_after_secs: u64 },
    /// The credentials of the request (its bearer token) are unusable: HTTP 401, `UNAUTHENTICATED`.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A request body over the configured size (`limit`, in bytes): HTTP 413, `BAD_REQUEST` /
    /// `PayloadTooLargeError`.
    #[error("The request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// A request the transport refuses before reading it (one a browser could send across
    /// sites without asking, for instance): HTTP 400, `BAD_REQUEST` / `BadRequestError`.
    #[error("{0}")]
    BadRequest(String),
    /// Anything else. Its message never reaches a client; it is logged instead.
    #[error("Internal Server Error")]
    Internal(#[from] anyhow::Error),
}

/// One failed check of an input, as Strapi lists them in `details.errors`.
#[derive(Debug, Clone)]
pub struct FieldError {
    pub path: &'static str,
    pub message: String,
    /// The offending value, or `None` when echoing it would repeat a secret (a password).
    pub value: Option<Value>,
}

impl AppError {
    pub fn validation(message: impl Into<String>) -> Self {
        Self::Validation {
            message: message.into(),
            details: json!({}),
        }
    }

    /// Several failed checks of one input: one message for one failure, `N errors occurred`
    /// for more, and every failure in `details.errors`.
    pub fn invalid_fields(errors: Vec<FieldError>) -> Self {
        let message = match errors.as_slice() {
            [one] => one.message.clone(),
            many => format!("{} errors occurred", many.len()),
        };
        let errors: Vec<Value> = errors
            .into_iter()
            .map(|e| {
                let mut entry = json!({
                    "path": [e.path],
                    "message": e.message,
                    "name": "ValidationError",
                });
                // As Strapi: the value that failed, when there was one (a missing field has
                // none); never a secret (see `FieldError::value`).
                if let Some(value) = e.value.filter(|v| !v.is_null()) {
                    entry["value"] = value;
                }
                entry
            })
            .collect();
        Self::Validation {
            message,
            details: json!({ "errors": errors }),
        }
    }

    /// One failed check of the input field `path`, in Strapi's `details.errors` form.
    pub fn validation_at(path: &'static str, message: impl Into<String>) -> Self {
        Self::invalid_fields(vec![FieldError {
            path,
            message: message.into(),
            value: None,
        }])
    }

    pub fn application(message: impl Into<String>) -> Self {
        Self::Application {
            message: message.into(),
            details: json!({}),
        }
    }

    /// Refused because `action` is not granted to the principal's role.
    pub fn missing_action(action: &str, role: &str) -> Self {
        Self::Forbidden {
            details: json!({ "action": action, "role": role }),
        }
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
    }

    /// The GraphQL `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation { .. } => "BAD_USER_INPUT",
            Self::Application { .. } => "STRAPI_APPLICATION_ERROR",
            Self::Forbidden { .. } => "FORBIDDEN",
            Self::NotFound(_) => "STRAPI_NOT_FOUND_ERROR",
            Self::RateLimited { .. } => "STRAPI_RATE_LIMIT_ERROR",
            Self::PayloadTooLarge { .. } | Self::BadRequest(_) => "BAD_REQUEST",
            Self::Unauthorized(_) => "UNAUTHENTICATED",
            Self::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }

    /// Strapi's error class name, `extensions.error.name` (and `error.name` in REST bodies).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Validation { .. } => "ValidationError",
            Self::Application { .. } => "ApplicationError",
            Self::Forbidden { .. } => "ForbiddenError",
            Self::NotFound(_) => "NotFoundError",
            Self::RateLimited { .. } => "RateLimitError",
            Self::PayloadTooLarge { .. } => "PayloadTooLargeError",
            Self::BadRequest(_) => "BadRequestError",
            Self::Unauthorized(_) => "UnauthorizedError",
            Self::Internal(_) => "InternalServerError",
        }
    }

    /// The HTTP status of the same error on a REST route.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation { .. } | Self::Application { .. } | Self::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn details(&self) -> Value {
        match self {
            Self::Validation { details, .. }
            | Self::Application { details, .. }
            | Self::Forbidden { details } => details.clone(),
            Self::PayloadTooLarge { limit } => json!({ "limit": limit }),
            Self::RateLimited { retry_after_secs } => json!({ "retryAfter": retry_after_secs }),
            _ => json!({}),
        }
    }

    /// `{name, message, details}` as Strapi puts it under `extensions.error` and `error`.
    pub fn strapi_error(&self) -> Value {
        json!({ "name": self.name(), "message": self.to_string(), "details": self.details() })
    }

    /// Logs an internal error once, with its cause chain; clients only see the generic message.
    pub fn log_if_internal(&self) {
        if let Self::Internal(error) = self {
            tracing::error!(error = format!("{error:#}"), "internal error");
        }
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Internal(error.into())
    }
}

/// Turns a unique-constraint violation into the user error that explains it, at the call site:
/// `NewUser { .. }.insert(&mut conn).await.on_unique(|| AppError::application("…"))?`.
pub trait OnUnique<T> {
    fn on_unique(self, error: impl FnOnce() -> AppError) -> AppResult<T>;
}

impl<T> OnUnique<T> for diesel::QueryResult<T> {
    fn on_unique(self, error: impl FnOnce() -> AppError) -> AppResult<T> {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Err(error()),
            other => other.map_err(AppError::from),
        }
    }
}
