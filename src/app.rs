//! The application: one value holding everything a request may need.

use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use crate::auth::{JwtKeys, PasswordHasher};
use crate::config::{Config, Environment};
use crate::db::Db;
use crate::mail::Mailer;
use crate::policy::{self, Catalogue, Policy};
use crate::service::settings::{EmailTemplates, SettingsStore};

pub struct App {
    pub config: Config,
    pub db: Db,
    pub jwt: JwtKeys,
    pub passwords: PasswordHasher,
    pub policy: Policy,
    pub settings: SettingsStore,
    /// Signed-in users, briefly, so requests need no database round trip.
    pub users: crate::changes::UserCache,
    pub mailer: Arc<Mailer>,
    pub limiter: crate::ratelimit::RateLimiter,
    pub metrics: crate::metrics::Metrics,
    /// Calls to sign-in providers: built on the first one (see [`App::http`]).
    http: OnceLock<reqwest::Client>,
    /// Endpoints read from OpenID Connect discovery documents, by issuer.
    pub(crate) discovered:
        std::sync::Mutex<std::collections::HashMap<String, crate::auth::providers::Endpoints>>,
    /// Read from the schema once it is built (see [`crate::Castellan::start`]).
    pub(crate) catalogue: OnceLock<Catalogue>,
}

/// The one handle that handlers, resolvers and services receive.
#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

impl App {
    /// Opens the database, applies migrations, seeds the default roles and loads the policy.
    pub async fn start(config: Config) -> anyhow::Result<AppState> {
        let db = Db::connect(&config.database_url, config.database_pool_size)?;
        db.migrate().await?;
        policy::seed_default_roles(&db).await.map_err(into_anyhow)?;
        let mut conditions = policy::conditions::built_in()?;
        conditions.extend(config.conditions.iter().cloned());
        let policy = Policy::load(&db, conditions).await.map_err(into_anyhow)?;
        let templates = EmailTemplates::defaults(&config.shipper);
        let settings = SettingsStore::load(&db, &config.advanced, &templates, &config.providers)
            .await
            .map_err(into_anyhow)?;
        let mailer = Mailer::new(&config.mail, config.environment == Environment::Development)?;
        // One process-wide TLS provider for reqwest and lettre (a second install is a no-op).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let limiter = crate::ratelimit::RateLimiter::new(config.rate_limit.clone()).await?;
        Ok(AppState(Arc::new(App {
            limiter,
            metrics: Default::default(),
            users: crate::changes::UserCache::new(std::time::Duration::from_secs(30)),
            http: OnceLock::new(),
            discovered: Default::default(),
            settings,
            mailer: Arc::new(mailer),
            jwt: JwtKeys::new(&config.jwt_secret, config.jwt_expires_in),
            passwords: PasswordHasher::new(config.bcrypt_cost, config.max_concurrent_hashes),
            db,
            policy,
            config,
            catalogue: OnceLock::new(),
        })))
    }

    /// The client for calls to sign-in providers. It is built on first use, not at start-up:
    /// reading the system's root certificates took 5–8 ms of a ~90 ms start.
    pub fn http(&self) -> anyhow::Result<&reqwest::Client> {
        if let Some(client) = self.http.get() {
            return Ok(client);
        }
        let client = crate::auth::oauth::http_client(self.config.provider_timeout)?;
        Ok(self.http.get_or_init(|| client))
    }

    /// The action catalogue of the running schema.
    pub fn catalogue(&self) -> Option<&Catalogue> {
        self.catalogue.get()
    }
}

fn into_anyhow(error: crate::error::AppError) -> anyhow::Error {
    match error {
        crate::error::AppError::Internal(inner) => inner,
        other => anyhow::anyhow!("{other}"),
    }
}
