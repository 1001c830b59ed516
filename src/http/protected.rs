//! Castellan's REST routes and a library user's, each declared with the action it needs and
//! refused before its handler runs when the caller lacks it.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::handler::Handler;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter, on};

use super::auth_routes;
use super::envelope::rest_error;
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::AppError;
use crate::policy::{Access, Requirement, actions};

/// Castellan's own REST routes, each behind the action it needs, as a library user's are.
pub fn builtin_routes() -> Vec<ProtectedRoute> {
    let route = |path: &str, needed: &str| (path.to_string(), Requirement::Action(needed.into()));
    let mut routes = vec![
        {
            let (path, needed) = route("/api/auth/email-confirmation", actions::AUTH_EMAIL_CONFIRMATION);
            ProtectedRoute::new(Method::GET, &path, needed, auth_routes::email_confirmation)
        },
        {
            let (path, needed) = route("/api/connect/{provider}", actions::AUTH_CONNECT);
            ProtectedRoute::new(Method::GET, &path, needed, auth_routes::connect)
        },
        {
            let (path, needed) = route("/api/connect/{provider}/callback", actions::AUTH_CONNECT);
            ProtectedRoute::new(Method::GET, &path, needed, auth_routes::connect_callback)
        },
        {
            let (path, needed) = route("/api/auth/{provider}/callback", actions::AUTH_CALLBACK);
            ProtectedRoute::new(Method::GET, &path, needed, auth_routes::provider_sign_in)
        },
    ];
    routes.extend(super::rest::routes());
    routes
}

/// A library user's REST route and what it needs.
pub struct ProtectedRoute {
    pub method: Method,
    /// In axum's syntax, `/api/things/{id}`.
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

    /// How the catalogue shows the route: `GET /api/things/:id`, as Strapi writes its routes.
    pub fn display(&self) -> String {
        format!("{} {}", self.method, self.path.replace('{', ":").replace('}', ""))
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
    let principal = match guard.app.authenticate(request.headers().get(AUTHORIZATION)).await {
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


/// The principal of a REST request, if it may perform `action`; otherwise the error response
/// (401 for unusable credentials, 403 naming the missing action).
pub async fn authorize_rest(
    app: &AppState,
    headers: &HeaderMap,
    action: &str,
) -> Result<Principal, Response> {
    let principal = app.authenticate(headers.get(AUTHORIZATION))
        .await
        .map_err(|e| rest_error(&e))?;
    app.policy
        .authorize(&principal, &Requirement::Action(action.to_string()))
        .map_err(|e| rest_error(&e))?;
    Ok(principal)
}

