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

use super::{auth_routes, rest};
use super::envelope::rest_error;
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::AppError;
use crate::policy::{Access, Requirement, actions};

/// Castellan's own REST routes, each behind the action it needs, as a library user's are.
pub fn builtin_routes() -> Vec<ProtectedRoute> {
    let route = |path: &str, needed: &str| (path.to_string(), Requirement::Action(needed.into()));
    vec![
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
        // Strapi's REST routes of Users & Permissions (`rest/`).
        {
            let (path, needed) = route("/api/auth/local", actions::AUTH_CALLBACK);
            ProtectedRoute::new(Method::POST, &path, needed, rest::auth::login)
        },
        {
            let (path, needed) = route("/api/auth/local/register", actions::AUTH_REGISTER);
            ProtectedRoute::new(Method::POST, &path, needed, rest::auth::register)
        },
        {
            let (path, needed) = route("/api/auth/forgot-password", actions::AUTH_FORGOT_PASSWORD);
            ProtectedRoute::new(Method::POST, &path, needed, rest::auth::forgot_password)
        },
        {
            let (path, needed) = route("/api/auth/reset-password", actions::AUTH_RESET_PASSWORD);
            ProtectedRoute::new(Method::POST, &path, needed, rest::auth::reset_password)
        },
        {
            let (path, needed) = route("/api/auth/change-password", actions::AUTH_CHANGE_PASSWORD);
            ProtectedRoute::new(Method::POST, &path, needed, rest::auth::change_password)
        },
        {
            let (path, needed) = route("/api/auth/send-email-confirmation", actions::AUTH_SEND_EMAIL_CONFIRMATION);
            ProtectedRoute::new(Method::POST, &path, needed, rest::auth::send_email_confirmation)
        },
        {
            let (path, needed) = route("/api/users/me", actions::USER_ME);
            ProtectedRoute::new(Method::GET, &path, needed, rest::users::me)
        },
        {
            let (path, needed) = route("/api/users/count", actions::USER_COUNT);
            ProtectedRoute::new(Method::GET, &path, needed, rest::users::count)
        },
        {
            let (path, needed) = route("/api/users", actions::USER_FIND);
            ProtectedRoute::new(Method::GET, &path, needed, rest::users::find)
        },
        {
            let (path, needed) = route("/api/users/{id}", actions::USER_FIND_ONE);
            ProtectedRoute::new(Method::GET, &path, needed, rest::users::find_one)
        },
        {
            let (path, needed) = route("/api/users", actions::USER_CREATE);
            ProtectedRoute::new(Method::POST, &path, needed, rest::users::create)
        },
        {
            let (path, needed) = route("/api/users/{id}", actions::USER_UPDATE);
            ProtectedRoute::new(Method::PUT, &path, needed, rest::users::update)
        },
        {
            let (path, needed) = route("/api/users/{id}", actions::USER_DESTROY);
            ProtectedRoute::new(Method::DELETE, &path, needed, rest::users::destroy)
        },
        {
            let (path, needed) = route("/api/users-permissions/roles", actions::ROLE_FIND);
            ProtectedRoute::new(Method::GET, &path, needed, rest::roles::find)
        },
        {
            let (path, needed) = route("/api/users-permissions/roles/{id}", actions::ROLE_FIND_ONE);
            ProtectedRoute::new(Method::GET, &path, needed, rest::roles::find_one)
        },
        {
            let (path, needed) = route("/api/users-permissions/roles", actions::ROLE_CREATE);
            ProtectedRoute::new(Method::POST, &path, needed, rest::roles::create)
        },
        {
            let (path, needed) = route("/api/users-permissions/roles/{id}", actions::ROLE_UPDATE);
            ProtectedRoute::new(Method::PUT, &path, needed, rest::roles::update)
        },
        {
            let (path, needed) = route("/api/users-permissions/roles/{id}", actions::ROLE_DELETE);
            ProtectedRoute::new(Method::DELETE, &path, needed, rest::roles::destroy)
        },
        {
            let (path, needed) = route("/api/users-permissions/permissions", actions::PERMISSIONS_GET);
            ProtectedRoute::new(Method::GET, &path, needed, rest::roles::permissions)
        },
    ]
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

