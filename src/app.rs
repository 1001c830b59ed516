//! The application: one value holding everything a request may need.

use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use anyhow::Context as _;

use crate::auth::{JwtKeys, PasswordHasher};
use crate::config::{Config, DevelopmentSecret, Environment, Secret};
use crate::db::Db;
use crate::db::models::NewDevelopmentSecret;
use crate::mail::Mailer;
use crate::policy::{self, Catalogue, Policy};
use crate::service::settings::{EmailTemplates, SettingsStore};

pub struct App {
    pub config: Config,
    pub db: Db,
    pub jwt: JwtKeys,
    pub passwords: PasswordHasher,
    pub policy: Policy,
    /// The users' declared attributes (`[[user.attributes]]`).
    pub attributes: Arc<crate::db::fields::UserAttributes>,
    pub settings: SettingsStore,
    /// Signed-in users, briefly, so requests need no database round trip.
    pub users: crate::auth::UserCache,
    /// Sessions ended while their access JWTs may still be unexpired (refresh mode).
    pub revoked: crate::auth::RevokedSessions,
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
    /// The principal behind a request's `Authorization` header (see [`crate::auth::authenticate`]).
    pub async fn authenticate(
        &self,
        authorization: Option<&axum::http::HeaderValue>,
    ) -> crate::error::AppResult<crate::auth::Principal> {
        Ok(self.authenticate_session(authorization, None).await?.0)
    }

    /// [`Self::authenticate`], with the session id of a session-bound JWT; the access cookie
    /// of cookie mode stands for a missing `Authorization` header.
    pub async fn authenticate_session(
        &self,
        authorization: Option<&axum::http::HeaderValue>,
        access_cookie: Option<&str>,
    ) -> crate::error::AppResult<(crate::auth::Principal, Option<String>)> {
        let keys = crate::auth::principal::Keys {
            db: &self.db,
            jwt: &self.jwt,
            users: &self.users,
            api_token_salt: &self.config.api_token_salt,
            revoked: &self.revoked,
        };
        crate::auth::authenticate_session(&keys, authorization, access_cookie).await
    }

    /// Until when an ended session's JWTs must be refused: its last one expires by then.
    pub(crate) fn revoked_until(&self, revoked_at: i64) -> i64 {
        revoked_at + self.config.sessions.access_lifetime.as_secs() as i64 + 1
    }

    /// Reads the sessions that ended recently (on any instance) into [`App::revoked`].
    pub async fn read_revoked_sessions(&self) -> crate::error::AppResult<()> {
        let now = chrono::Utc::now().timestamp();
        let since = now - self.config.sessions.access_lifetime.as_secs() as i64 - 1;
        let mut conn = self.db.conn().await?;
        for (sid, revoked_at) in crate::db::models::SessionRow::revoked_since(&mut conn, since).await? {
            self.revoked.insert(&sid, self.revoked_until(revoked_at));
        }
        Ok(())
    }

    /// Opens the database, applies migrations, seeds the default roles and loads the policy.
    /// `code_conditions` are the conditions a library user registers from Rust.
    pub async fn start(config: Config, code_conditions: Vec<policy::Condition>) -> anyhow::Result<AppState> {
        let db = Db::connect(&config.database_url, config.database_pool_size)?;
        db.migrate().await?;
        let attributes = Arc::new(crate::db::fields::UserAttributes::new(&config.user));
        db.migrate_attributes(&attributes).await?;
        let config = read_development_secrets(&db, config).await?;
        policy::seed_default_roles(&db).await.map_err(into_anyhow)?;
        let mut conditions = policy::conditions::built_in()?;
        conditions.extend(policy::conditions::from_config(&config.conditions)?);
        conditions.extend(code_conditions);
        let policy = Policy::load(&db, conditions, attributes.clone())
            .await
            .map_err(into_anyhow)?;
        let templates = EmailTemplates::defaults(&config.shipper);
        let settings = SettingsStore::load(&db, &config.advanced, &templates, &config.providers)
            .await
            .map_err(into_anyhow)?;
        for line in crate::service::settings::drift(
            &config.declared,
            &config.advanced,
            &config.shipper,
            &config.providers,
            &settings,
        ) {
            tracing::warn!("{line}");
        }
        if settings.advanced().email_reset_password.is_none() {
            crate::service::account::warn_reset_link_unset(config.environment);
        }
        let mailer = Mailer::new(&config.mail, config.environment == Environment::Development)?;
        // One process-wide TLS provider for reqwest and lettre (a second install is a no-op).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let limiter = crate::ratelimit::RateLimiter::new(config.rate_limit.clone()).await?;
        let app = AppState(Arc::new(App {
            revoked: Default::default(),
            limiter,
            metrics: Default::default(),
            users: crate::auth::UserCache::new(std::time::Duration::from_secs(30)),
            http: OnceLock::new(),
            discovered: Default::default(),
            settings,
            mailer: Arc::new(mailer),
            jwt: JwtKeys::new(&config.jwt_secret, config.jwt_expires_in),
            passwords: PasswordHasher::new(config.bcrypt_cost, config.max_concurrent_hashes),
            db,
            policy,
            attributes,
            config,
            catalogue: OnceLock::new(),
        }));
        app.read_revoked_sessions().await.map_err(into_anyhow)?;
        Ok(app)
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

/// Sets the secrets the environment left unset in development (`config.development_secrets`)
/// to the ones kept in the database, creating each on first use: the server and the CLI of one
/// database then agree whatever directory they run in. A new one is taken from the file where
/// earlier versions kept it (`data_dir`), when there, so their tokens stay valid.
async fn read_development_secrets(db: &Db, mut config: Config) -> anyhow::Result<Config> {
    for secret in config.development_secrets.clone() {
        let variable = secret.variable();
        let legacy = config.data_dir.join(secret.legacy_file());
        let initial = match std::fs::read_to_string(&legacy) {
            Ok(text) if !text.trim().is_empty() => text.trim().to_string(),
            Ok(_) => crate::util::hex(&crate::util::random_bytes::<32>()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                crate::util::hex(&crate::util::random_bytes::<32>())
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "reading the development {variable} of an earlier version in {}",
                    legacy.display()
                )));
            }
        };
        let mut conn = db.conn().await.map_err(into_anyhow)?;
        let value = NewDevelopmentSecret {
            name: variable,
            value: &initial,
            created_at: crate::db::models::now(),
        }
        .insert_or_read(&mut conn)
        .await
        .with_context(|| format!("keeping the development {variable} in the database"))?;
        match secret {
            DevelopmentSecret::JwtSecret => config.jwt_secret = Secret::new(value),
            DevelopmentSecret::ApiTokenSalt => config.api_token_salt = Secret::new(value),
        }
        tracing::warn!(
            "{variable} is not set: using a development secret kept in the database (table \
             up_development_secrets), which the server and the CLI share; set {variable} in production"
        );
    }
    Ok(config)
}

fn into_anyhow(error: crate::error::AppError) -> anyhow::Error {
    match error {
        crate::error::AppError::Internal(inner) => inner,
        other => anyhow::anyhow!("{other}"),
    }
}

/// Changes of what every instance keeps in memory: applied here, and announced to the others
/// (PostgreSQL `NOTIFY`; `crate::changes` listens for theirs).
impl App {
    /// Applies `change` here and announces it to the other instances.
    pub async fn changed(&self, change: crate::changes::Change) -> crate::error::AppResult<()> {
        self.apply(&change).await?;
        self.db
            .notify(crate::changes::CHANNEL, &change.payload())
            .await
    }

    pub(crate) async fn apply(&self, change: &crate::changes::Change) -> crate::error::AppResult<()> {
        match change {
            crate::changes::Change::Policy => {
                self.policy.reload(&self.db).await?;
                self.users.clear();
            }
            crate::changes::Change::Settings => self.settings.reload(&self.db).await?,
            crate::changes::Change::User(id) => self.users.forget(*id),
            crate::changes::Change::Session(sid) => {
                let now = chrono::Utc::now().timestamp();
                self.revoked.insert(sid, self.revoked_until(now));
            }
        }
        Ok(())
    }
}

