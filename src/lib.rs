//! Castellan: a GraphQL users-and-permissions server — register, login with JWT, roles and
//! per-action permissions — usable as a binary or as a library.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod filter;
pub mod graphql;
pub mod mail;
pub mod policy;
pub mod router;
pub mod service;
pub mod util;

use std::future::Future;

use anyhow::Context as _;
use tokio::net::TcpListener;

pub use app::{App, AppState};
pub use config::Config;
pub use error::{AppError, AppResult};

/// A started Castellan: database migrated, default roles seeded, policy loaded, schema built.
pub struct Castellan {
    pub app: AppState,
    pub schema: graphql::CastellanSchema,
}

impl Castellan {
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        let app = App::start(config).await?;
        let schema = graphql::build_schema(app.clone());
        let mut catalogue =
            policy::Catalogue::from_sdl(&schema.sdl()).context("reading the action catalogue")?;
        for (route, action) in router::REST_ROUTES {
            catalogue.bind_route(action, (*route).to_string())?;
        }
        app.catalogue
            .set(catalogue)
            .map_err(|_| anyhow::anyhow!("the catalogue was already set"))?;
        Ok(Self { app, schema })
    }

    /// The axum router of the whole server.
    pub fn router(&self) -> axum::Router {
        router::router(self.app.clone(), self.schema.clone())
    }

    /// Serves on `listener` until `shutdown` completes; in-flight requests finish first.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }
}
