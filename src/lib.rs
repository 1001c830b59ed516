//! Castellan: a GraphQL users-and-permissions server — register, login with JWT, roles,
//! per-action permissions with conditions, API tokens — usable as a binary or as a library
//! whose own GraphQL fields and REST routes are protected by the same policy.
//!
//! # Where things live
//!
//! A request enters at [`http`] (middleware, then `/graphql` or a REST route), is authenticated
//! by [`auth`] (`Authorization` → [`auth::Principal`]), is authorized by [`policy`] (the guard
//! asks it whether the principal meets the field's or route's action, and hands the grant on as
//! [`policy::Access`]), runs a resolver in [`graphql`] or a handler in [`http`], whose rules live
//! in [`service`], whose data lives in [`db`] (models own their queries; each field of a user
//! or a role once, in [`db::fields`]; SQL text only under `db/` and [`filter`], which also
//! evaluates conditions). Side effects: [`mail`], [`ratelimit`],
//! [`changes`] (announcements to other instances). [`config`], [`error`] and [`util`] are leaves.
//! The layers are enforced by `tests/api/layers.rs`; speed tricks live in
//! [`graphql::fast_path`] (see `docs/performance.md`).

pub mod app;
pub mod auth;
pub mod changes;
pub mod cli;
pub mod commands;
pub mod config;
pub mod db;
pub mod error;
pub mod filter;
pub mod graphql;
pub mod http;
pub mod mail;
pub mod metrics;
pub mod policy;
pub mod ratelimit;
pub mod service;
pub mod util;

use std::future::Future;

use anyhow::Context as _;
use async_graphql::ObjectType;
use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use tokio::net::TcpListener;

pub use app::{App, AppState};
pub use config::Config;
pub use error::{AppError, AppResult};
pub use graphql::NoExtension;
pub use graphql::directives::{action, authenticated};
pub use policy::{Access, Condition, ConditionOutcome, Requirement, Scope};
pub use http::Authorized;

/// The configuration from its sources ([`Config::load`]), with the conditions it declares
/// checked by the policy now, so that a bad one stops a command before it opens the database.
pub fn load_config(sources: config::Sources) -> anyhow::Result<Config> {
    let config = Config::load(sources)?;
    policy::conditions::from_config(&config.conditions)?;
    Ok(config)
}

/// A started Castellan: database migrated, default roles seeded, policy loaded, schema built.
pub struct Castellan {
    pub app: AppState,
    pub schema: graphql::CastellanSchema,
    routes: Router<AppState>,
}

/// Assembles a Castellan with a library user's own GraphQL objects, routes and conditions.
pub struct Builder<Q, M> {
    config: Config,
    query: Q,
    mutation: M,
    protected: Vec<http::ProtectedRoute>,
    routes: Router<AppState>,
    /// Conditions registered from Rust ([`Builder::condition`]).
    conditions: Vec<Condition>,
}

impl Castellan {
    /// Castellan on its own.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        Self::builder(config).start().await
    }

    /// Castellan with additions of your own.
    pub fn builder(config: Config) -> Builder<NoExtension, NoExtension> {
        Builder {
            config,
            query: NoExtension,
            mutation: NoExtension,
            protected: Vec::new(),
            routes: Router::new(),
            conditions: Vec::new(),
        }
    }

    /// The axum router of the whole server.
    pub fn router(&self) -> Router {
        http::router(self.app.clone(), self.schema.clone(), self.routes.clone())
    }

    /// Serves on `listener` until `shutdown` completes; in-flight requests finish first.
    /// Connections live within `[server]`'s timeouts and cap (see [`serve`]).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let limits = self.app.config.connections.clone();
        http::serve::serve(
            listener,
            http::service(self.app, self.schema, self.routes),
            limits,
            shutdown,
        )
        .await
    }
}

impl<Q: ObjectType + 'static, M: ObjectType + 'static> Builder<Q, M> {
    /// Your query fields, merged into `Query`. Protect each with
    /// `#[graphql(directive = castellan::action::apply("api::….….".into()))]` (or
    /// `castellan::authenticated::apply()`): the action then appears in the catalogue by itself.
    pub fn query<Q2: ObjectType + 'static>(self, query: Q2) -> Builder<Q2, M> {
        Builder {
            config: self.config,
            query,
            mutation: self.mutation,
            protected: self.protected,
            routes: self.routes,
            conditions: self.conditions,
        }
    }

    /// Your mutation fields, merged into `Mutation`.
    pub fn mutation<M2: ObjectType + 'static>(self, mutation: M2) -> Builder<Q, M2> {
        Builder {
            config: self.config,
            query: self.query,
            mutation,
            protected: self.protected,
            routes: self.routes,
            conditions: self.conditions,
        }
    }

    /// A condition of your own (a Rust closure or a query object), grantable like any other.
    pub fn condition(mut self, condition: Condition) -> Self {
        self.conditions.push(condition);
        self
    }

    /// A REST route that needs `action`. Requests without it are refused (401 for bad
    /// credentials, 403 naming the action, in Strapi's envelope) before the handler runs; the
    /// handler reads the principal and the grant's conditions with the [`Authorized`]
    /// extractor. The route appears in the catalogue, bound to the action.
    pub fn route<H, T>(mut self, method: Method, path: &str, needed: &str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.protected.push(http::ProtectedRoute::new(
            method,
            path,
            Requirement::Action(needed.to_string()),
            handler,
        ));
        self
    }

    /// A REST route for any signed-in user, whatever their role.
    pub fn signed_in_route<H, T>(mut self, method: Method, path: &str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.protected.push(http::ProtectedRoute::new(
            method,
            path,
            Requirement::SignedIn,
            handler,
        ));
        self
    }

    /// Routes that need no protection (health checks of your own, static files, …).
    pub fn routes(mut self, routes: Router<AppState>) -> Self {
        self.routes = self.routes.merge(routes);
        self
    }

    /// Opens the database, migrates, seeds, loads the policy and builds the schema.
    pub async fn start(self) -> anyhow::Result<Castellan> {
        let app = App::start(self.config, self.conditions).await?;
        let schema = graphql::build_schema(app.clone(), self.query, self.mutation);
        let mut catalogue =
            policy::Catalogue::from_sdl(&schema.sdl()).context("reading the action catalogue")?;
        let mut routes = self.routes;
        for route in http::builtin_routes().into_iter().chain(self.protected) {
            if let Requirement::Action(needed) = &route.requirement {
                catalogue.bind_route(needed, route.display())?;
            }
            routes = route.install(routes, app.clone());
        }
        app.catalogue
            .set(catalogue)
            .map_err(|_| anyhow::anyhow!("the catalogue was already set"))?;
        if app.db.backend() == db::Backend::Postgres {
            changes::listen(app.clone(), app.config.database_url.clone());
        }
        Ok(Castellan {
            app,
            schema,
            routes,
        })
    }
}
