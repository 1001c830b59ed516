//! Settings: built-in defaults, then `castellan.toml`, then the environment and the command line.
//! Each setting is read and checked here, once; a bad value stops start-up with a message that
//! names the setting and the form it expects.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::str::FromStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};


/// `development` (the default) or `production`, from `CASTELLAN_ENV`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

impl std::str::FromStr for Environment {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s {
            "development" => Ok(Self::Development),
            "production" => Ok(Self::Production),
            other => bail!("CASTELLAN_ENV must be `development` or `production`, got `{other}`"),
        }
    }
}

pub use crate::util::secret::Secret;

/// Everything Castellan needs to run. Tests build one directly; the binary loads it with
/// [`Config::load`]. Nothing reads settings from globals.
#[derive(Debug, Clone)]
pub struct Config {
    pub environment: Environment,
    /// Interface to listen on (`--host`, `HOST`, `server.host`). Default `0.0.0.0`.
    pub host: String,
    /// Port to listen on (`--port`, `PORT`, `server.port`). Default `1337`.
    pub port: u16,
    /// `sqlite://PATH` (the embedded default, `sqlite://./data/castellan.db`) or
    /// `postgres://USER@HOST:PORT/DB` (`--database-url`, `DATABASE_URL`, `database.url`).
    pub database_url: String,
    /// Largest number of pooled database connections (`database.poolSize`).
    /// Default 4 on SQLite, 16 on PostgreSQL.
    pub database_pool_size: Option<usize>,
    /// Where earlier versions kept the generated development secrets (`server.dataDir`); read
    /// once, to carry them into the database.
    pub data_dir: PathBuf,
    /// The HS256 key of the JWTs (`JWT_SECRET`).
    pub jwt_secret: Secret,
    /// The key of the HMAC that API-token keys are stored under (`API_TOKEN_SALT`).
    pub api_token_salt: Secret,
    /// The secrets the environment leaves unset in development: generated once and kept in the
    /// database, where [`crate::app::App::start`] reads them, so the server and the CLI of one
    /// database always agree.
    pub development_secrets: Vec<DevelopmentSecret>,
    /// Who may read `/metrics` (`[metrics] access`, `METRICS_TOKEN`).
    pub metrics: MetricsAccess,
    /// Lifetime of an issued JWT (`jwt.expiresIn`). Default 30 days.
    pub jwt_expires_in: Duration,
    /// bcrypt cost of new password hashes (`password.bcryptCost`, 4–31). Default 10.
    pub bcrypt_cost: u32,
    /// How many password hashes may be computed at once (`password.maxConcurrentHashes`).
    /// Default: the number of CPU cores.
    pub max_concurrent_hashes: usize,
    /// How long a reset-password code stays usable (`password.resetCodeExpiresIn`). Default 1 hour.
    pub reset_code_lifetime: Duration,
    /// The public URL of this server (`SERVER_URL`, `server.url`), used in emails.
    /// Default `http://localhost:PORT`.
    pub server_url: Option<String>,
    /// How email leaves (`SMTP_URL`); without it, the log.
    pub mail: MailTransport,
    /// Initial advanced settings (`[advanced]`), used when the database has none yet.
    pub advanced: AdvancedSettings,
    /// Initial sender of both email templates (`[email]`).
    pub shipper: Shipper,
    /// Extra user fields `register` accepts in `attributes` (`register.allowedFields`).
    pub register_allowed_fields: Vec<String>,
    /// Conditions declared in `castellan.toml` (`[[conditions]]`), as written: the policy
    /// checks their names and queries at start-up (`castellan::load_config` at once).
    pub conditions: Vec<DeclaredCondition>,
    /// The users' declared attributes (`[user]`, `[[user.attributes]]`).
    pub user: UserSection,
    /// Initial sign-in providers (`[providers.NAME]`), joined with `email`.
    pub providers: Providers,
    /// The settings `castellan.toml` itself wrote (not defaults): start-up compares them with
    /// what the database holds and says where they differ.
    pub declared: Declared,
    /// Front-end URL prefixes a `?callback=` of `/api/connect/:provider` may start with, beyond
    /// each provider's own redirect URL (`oauth.allowedCallbackPrefixes`).
    pub allowed_callback_prefixes: Vec<String>,
    /// Timeout of every call to a provider (`oauth.timeoutSecs`). Default 10 s.
    pub provider_timeout: Duration,
    /// Rate limits of sign-in and sign-up operations (`[rateLimit]`, `REDIS_URL`).
    pub rate_limit: RateLimitConfig,
    /// Limits of GraphQL requests (`[graphql]`).
    pub graphql: GraphqlLimits,
    /// Which browser origins may call the API (`[cors]`).
    pub cors: CorsConfig,
    /// `[server]`: timeouts and the cap on open connections.
    pub connections: ConnectionLimits,
    /// How sign-ins are kept (`jwt.management`, `[sessions]`): one long JWT (legacy), or
    /// short access JWTs and rotating refresh tokens of sessions kept in the database.
    pub sessions: SessionsConfig,
}

/// `jwt.management`: how a sign-in is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtManagement {
    /// One JWT of `jwt.expiresIn` (Strapi's `legacy-support`, the default).
    Legacy,
    /// A short access JWT bound to a session, and a refresh token that rotates.
    Refresh,
}

/// `SameSite` of the session cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Lax,
    Strict,
}

impl SameSite {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lax => "Lax",
            Self::Strict => "Strict",
        }
    }
}

/// `jwt.management` and `[sessions]`.
#[derive(Debug, Clone)]
pub struct SessionsConfig {
    pub management: JwtManagement,
    /// Lifetime of an access JWT in refresh mode (`sessions.accessExpiresIn`, default 15 min).
    pub access_lifetime: Duration,
    /// A session unused this long ends (`sessions.idleExpiresIn`, default 14 days).
    pub idle_lifetime: Duration,
    /// A session ends this long after its sign-in, however used (`sessions.absoluteExpiresIn`,
    /// default 90 days).
    pub absolute_lifetime: Duration,
    /// The refresh token travels only in an `HttpOnly` cookie, never in a body
    /// (`sessions.httpOnly`, default off).
    pub http_only: bool,
    /// The access JWT travels in an `HttpOnly` cookie too (`sessions.accessCookie`, default
    /// off); state-changing requests authenticated by it must then carry the CSRF header.
    pub access_cookie: bool,
    /// Name of the refresh cookie (`sessions.cookieName`, default `strapi_up_refresh`, Strapi's).
    pub cookie_name: String,
    /// Path of the refresh cookie (`sessions.cookiePath`, default `/api/auth`: only the
    /// refresh, logout and session routes see it).
    pub cookie_path: String,
    /// `Secure` on the cookies (`sessions.cookieSecure`, default on; off only for local
    /// development over plain HTTP).
    pub cookie_secure: bool,
    /// `SameSite` of the cookies (`sessions.cookieSameSite`, `lax` (default) or `strict`).
    pub same_site: SameSite,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        Self {
            management: JwtManagement::Legacy,
            access_lifetime: Duration::from_secs(15 * 60),
            idle_lifetime: Duration::from_secs(14 * 86_400),
            absolute_lifetime: Duration::from_secs(90 * 86_400),
            http_only: false,
            access_cookie: false,
            cookie_name: "strapi_up_refresh".into(),
            cookie_path: "/api/auth".into(),
            cookie_secure: true,
            same_site: SameSite::Lax,
        }
    }
}

impl SessionsConfig {
    pub fn refresh(&self) -> bool {
        self.management == JwtManagement::Refresh
    }
}

/// The cookie of the access JWT in cookie mode (`sessions.accessCookie`).
pub const ACCESS_COOKIE: &str = "castellan_access";
/// The cookie a script reads and sends back in [`CSRF_HEADER`] (double submit).
pub const CSRF_COOKIE: &str = "castellan_csrf";
/// The header that proves a cookie-authenticated request comes from the front end's own page.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A secret that development generates when its variable is unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevelopmentSecret {
    JwtSecret,
    ApiTokenSalt,
}

impl DevelopmentSecret {
    /// The variable that sets it.
    pub fn variable(self) -> &'static str {
        match self {
            Self::JwtSecret => "JWT_SECRET",
            Self::ApiTokenSalt => "API_TOKEN_SALT",
        }
    }
    /// The file under `data_dir` where earlier versions kept it.
    pub fn legacy_file(self) -> &'static str {
        match self {
            Self::JwtSecret => "jwt-secret",
            Self::ApiTokenSalt => "api-token-salt",
        }
    }
}

/// `[metrics] access`: who may read `/metrics`. Default `loopback` in production, `open` in
/// development.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsAccess {
    /// Anyone.
    Open,
    /// Clients connected from a loopback address (the TCP peer; `X-Forwarded-For` is ignored).
    Loopback,
    /// Clients sending `Authorization: Bearer <METRICS_TOKEN>`.
    Token(Secret),
    /// Nobody: `/metrics` answers 404.
    Off,
}

/// `[cors]`: the cross-origin rules browsers apply to the API.
#[derive(Debug, Clone)]
pub struct CorsConfig {
    /// Origins allowed to call (`origins`), or every origin when it holds `*` (the default).
    pub origins: Vec<String>,
    /// Whether browsers may send cookies and credentials (`credentials`, default off; needs
    /// explicit origins).
    pub credentials: bool,
    /// Request headers allowed beyond `Authorization` and `Content-Type` (`headers`).
    pub headers: Vec<String>,
    /// How long a browser may cache a preflight answer (`maxAge`, seconds; default 1 day).
    pub max_age: Duration,
}

impl Default for CorsConfig {
    fn default() -> Self {
        Self {
            origins: vec!["*".into()],
            credentials: false,
            headers: Vec::new(),
            max_age: Duration::from_secs(86_400),
        }
    }
}

impl CorsConfig {
    /// Whether every origin is allowed.
    pub fn any_origin(&self) -> bool {
        self.origins.iter().any(|o| o == "*")
    }
}

/// `[graphql]`: what one request may ask.
#[derive(Debug, Clone)]
pub struct GraphqlLimits {
    /// Whether the schema can be introspected (GraphiQL, code generators). Default on.
    pub introspection: bool,
    /// Deepest nesting of a query (`maxDepth`, default 32; the standard introspection query needs 15).
    pub max_depth: usize,
    /// Largest complexity of a query (`maxComplexity`, default 2000).
    pub max_complexity: usize,
    /// Largest request body in bytes (`maxBodyBytes`, default 1 MiB).
    pub max_body_bytes: usize,
    /// Most operations in one batched request (a JSON array; `maxBatch`, default 10).
    pub max_batch: usize,
    /// Deepest nesting of a value — lists and objects in arguments, variables and JSON
    /// (`maxNesting`, default 40: a condition's query object, at most 32 levels, fits inside a
    /// request with room to spare): deeper values are refused before anything recurses over them.
    pub max_nesting: usize,
    /// Whether queries the guard would clear run on the schema without it, and repeated query
    /// texts skip parsing and validation (`fastPath`, default on; see `graphql::fast_path`).
    pub fast_path: bool,
    /// Whether every request the fast path runs also runs on the guarded schema, and a
    /// difference is counted and logged (`verifyFastPath`, default off: it doubles their cost;
    /// the test suite turns it on).
    pub verify_fast_path: bool,
    /// Whether `GET /graphql` serves GraphiQL to a browser (`playground`; default on in
    /// development, off in production).
    pub playground: bool,
}

impl Default for GraphqlLimits {
    fn default() -> Self {
        Self {
            introspection: true,
            max_depth: 32,
            max_complexity: 2_000,
            max_body_bytes: 1024 * 1024,
            max_batch: 10,
            max_nesting: 40,
            fast_path: true,
            verify_fast_path: false,
            playground: true,
        }
    }
}

/// `[server]` limits on connections: see `crate::serve`.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: default_max_connections(),
        }
    }
}

/// Descriptors kept free of connections for the database, files and the listener.
const RESERVED_DESCRIPTORS: usize = 128;

/// 4,096 connections, or fewer when the process may open fewer files than that (the usual
/// limit is 1,024): a cap above the limit would let stalled clients exhaust the descriptors
/// before the cap could make room.
pub fn default_max_connections() -> usize {
    let limit = open_file_limit().unwrap_or(1024);
    limit.saturating_sub(RESERVED_DESCRIPTORS).clamp(16, 4096)
}

/// The soft limit on open files of this process, where the system says (Linux's
/// `/proc/self/limits`).
pub fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The header in which the trusted proxies name the client: `rateLimit.proxyHeader`.
///
/// Only one is read. A proxy passes on the header it does not write as the client sent it, so
/// reading both — or preferring one whenever it is present — would let a client forge its
/// address in the header the proxy leaves alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProxyHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (the default: nginx, HAProxy, most load
    /// balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client;proto=https, for=proxy1`.
    Forwarded,
}

impl ProxyHeader {
    /// The header's name, lower case.
    pub fn name(self) -> &'static str {
        match self {
            Self::XForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
        }
    }
}

impl FromStr for ProxyHeader {
    type Err = anyhow::Error;

    fn from_str(value: &str) -> anyhow::Result<Self> {
        if value.eq_ignore_ascii_case("x-forwarded-for") {
            Ok(Self::XForwardedFor)
        } else if value.eq_ignore_ascii_case("forwarded") {
            Ok(Self::Forwarded)
        } else {
            anyhow::bail!(
                "rateLimit.proxyHeader must be \"X-Forwarded-For\" or \"Forwarded\", not `{value}`"
            )
        }
    }
}

/// `[rateLimit]` in `castellan.toml`.
#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    /// Off for benchmarks and tests of other things.
    pub enabled: bool,
    pub window: Duration,
    /// Attempts of one operation from one client address per window.
    pub max_per_address: u64,
    /// Attempts of one operation on one identifier (email, username) — for sign-in, on one
    /// account, whichever identifier names it — per window.
    pub max_per_identifier: u64,
    /// Proxies whose forwarding header (`proxy_header`) is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// The header the trusted proxies write.
    pub proxy_header: ProxyHeader,
    /// Most counters held in memory (without Redis): about 100 bytes each.
    pub max_entries: usize,
    /// `REDIS_URL`: shared counters.
    pub redis_url: Option<String>,
    /// Prefix of the Redis keys.
    pub key_prefix: String,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            window: Duration::from_secs(60),
            max_per_address: 30,
            max_per_identifier: 10,
            trusted_proxies: Vec::new(),
            proxy_header: ProxyHeader::default(),
            max_entries: 100_000,
            redis_url: None,
            key_prefix: "castellan:rl".into(),
        }
    }
}

/// The six advanced settings of Strapi's Users & Permissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AdvancedSettings {
    /// The role type new users receive.
    pub default_role: String,
    /// One account per email address (across providers).
    pub unique_email: bool,
    /// Whether `register` is open.
    pub allow_register: bool,
    /// Whether new accounts must confirm their email before they can log in.
    pub email_confirmation: bool,
    /// The front end's reset-password page: the `URL` of the reset email.
    pub email_reset_password: Option<String>,
    /// Where the confirmation link redirects once the email is confirmed.
    pub email_confirmation_redirection: Option<String>,
}

impl Default for AdvancedSettings {
    fn default() -> Self {
        Self {
            default_role: "authenticated".into(),
            unique_email: true,
            allow_register: true,
            email_confirmation: false,
            email_reset_password: None,
            email_confirmation_redirection: None,
        }
    }
}

/// The keys `castellan.toml` wrote in `[advanced]`, `[email]` and each `[providers.NAME]` (as
/// written: camelCase).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declared {
    pub advanced: Vec<String>,
    pub email: Vec<String>,
    pub providers: BTreeMap<String, Vec<String>>,
}

/// The default sender of both templates, from `castellan.toml` (`[email]`).
#[derive(Debug, Clone)]
pub struct Shipper {
    pub name: String,
    pub email: String,
    pub response_email: Option<String>,
}

impl Default for Shipper {
    fn default() -> Self {
        Self {
            name: "Castellan".into(),
            email: "no-reply@castellan.local".into(),
            response_email: None,
        }
    }
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://./data/castellan.db";
/// bcrypt cost of new hashes unless configured (the bcrypt crate's own default is 12).
pub const DEFAULT_BCRYPT_COST: u32 = 10;
const THIRTY_DAYS: Duration = Duration::from_secs(30 * 24 * 3600);

impl Config {
    /// A configuration with every default, for the given database and JWT secret.
    pub fn new(database_url: impl Into<String>, jwt_secret: Secret) -> Self {
        Self {
            environment: Environment::Development,
            host: "0.0.0.0".into(),
            port: 1337,
            database_url: database_url.into(),
            database_pool_size: None,
            data_dir: PathBuf::from("./data"),
            // Derived from the JWT secret until set on its own (`Config::load` always sets it).
            api_token_salt: Secret::new(format!("api-token-salt:{}", jwt_secret.expose())),
            jwt_secret,
            development_secrets: Vec::new(),
            metrics: MetricsAccess::Open,
            jwt_expires_in: THIRTY_DAYS,
            bcrypt_cost: DEFAULT_BCRYPT_COST,
            max_concurrent_hashes: std::thread::available_parallelism().map_or(2, |n| n.get()),
            reset_code_lifetime: Duration::from_secs(3600),
            server_url: None,
            mail: MailTransport::Log,
            advanced: AdvancedSettings::default(),
            shipper: Shipper::default(),
            register_allowed_fields: Vec::new(),
            conditions: Vec::new(),
            user: UserSection::default(),
            providers: default_providers(),
            declared: Declared::default(),
            allowed_callback_prefixes: Vec::new(),
            provider_timeout: Duration::from_secs(10),
            rate_limit: RateLimitConfig::default(),
            graphql: GraphqlLimits::default(),
            cors: CorsConfig::default(),
            connections: ConnectionLimits::default(),
            sessions: SessionsConfig::default(),
        }
    }

    /// The public URL of the server, without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.server_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://localhost:{}", self.port),
        }
    }

    /// Loads the configuration: defaults < `castellan.toml` (or `sources.config_file`) <
    /// environment and command line (`sources`).
    pub fn load(sources: Sources) -> anyhow::Result<Self> {
        let file = match &sources.config_file {
            Some(path) => FileConfig::read(path)?,
            None if Path::new("castellan.toml").exists() => {
                FileConfig::read(Path::new("castellan.toml"))?
            }
            None => FileConfig::default(),
        };
        let environment = match sources.environment.as_deref() {
            Some(value) => value.parse()?,
            None => Environment::Development,
        };
        let data_dir = file
            .server
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("./data"));
        let jwt_expires_in = match &file.jwt.expires_in {
            Some(value) => value.to_duration().context("jwt.expiresIn")?,
            None => THIRTY_DAYS,
        };
        if jwt_expires_in > THIRTY_DAYS {
            tracing::warn!(
                "jwt.expiresIn is longer than 30 days: a stolen token stays usable that long"
            );
        }
        let bcrypt_cost = file.password.bcrypt_cost.unwrap_or(DEFAULT_BCRYPT_COST);
        if !(4..=31).contains(&bcrypt_cost) {
            bail!("password.bcryptCost must be between 4 and 31, got {bcrypt_cost}");
        }
        let jwt_secret = resolve_secret(environment, "JWT_SECRET", sources.jwt_secret)?;
        let api_token_salt = resolve_secret(environment, "API_TOKEN_SALT", sources.api_token_salt)?;
        // Unset in development: kept in the database, read at start (a stand-in until then).
        let stand_in = || Secret::new(crate::util::hex(&crate::util::random_bytes::<32>()));
        let mut development_secrets = Vec::new();
        let jwt_secret = jwt_secret.unwrap_or_else(|| {
            development_secrets.push(DevelopmentSecret::JwtSecret);
            stand_in()
        });
        let api_token_salt = api_token_salt.unwrap_or_else(|| {
            development_secrets.push(DevelopmentSecret::ApiTokenSalt);
            stand_in()
        });

        let mut config = Self::new(
            sources
                .database_url
                .or(file.database.url)
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
            jwt_secret,
        );
        config.environment = environment;
        config.api_token_salt = api_token_salt;
        config.development_secrets = development_secrets;
        config.metrics = metrics_access(environment, file.metrics, sources.metrics_token)?;
        config.host = sources.host.or(file.server.host).unwrap_or(config.host);
        config.port = sources.port.or(file.server.port).unwrap_or(config.port);
        config.database_pool_size = file.database.pool_size;
        config.data_dir = data_dir;
        config.jwt_expires_in = jwt_expires_in;
        config.bcrypt_cost = bcrypt_cost;
        if let Some(n) = file.password.max_concurrent_hashes {
            if n == 0 {
                bail!("password.maxConcurrentHashes must be at least 1");
            }
            config.max_concurrent_hashes = n;
        }
        if let Some(value) = &file.password.reset_code_expires_in {
            config.reset_code_lifetime =
                value.to_duration().context("password.resetCodeExpiresIn")?;
        }
        for (value, target, name) in [
            (
                &file.server.header_timeout,
                &mut config.connections.header_timeout,
                "server.headerTimeout",
            ),
            (
                &file.server.body_timeout,
                &mut config.connections.body_timeout,
                "server.bodyTimeout",
            ),
            (
                &file.server.idle_timeout,
                &mut config.connections.idle_timeout,
                "server.idleTimeout",
            ),
        ] {
            if let Some(value) = value {
                *target = match value {
                    ExpiresIn::Seconds(seconds) => Duration::from_secs(*seconds),
                    ExpiresIn::Text(text) => parse_ms_duration(text).context(name)?,
                };
                if target.is_zero() {
                    bail!("{name} must be longer than zero");
                }
            }
        }
        if let Some(n) = file.server.max_connections {
            if n == 0 {
                bail!("server.maxConnections must be at least 1");
            }
            if let Some(files) = open_file_limit()
                && n + RESERVED_DESCRIPTORS > files
            {
                tracing::warn!(
                    "server.maxConnections = {n} leaves fewer than {RESERVED_DESCRIPTORS} of the \
                     {files} files this process may open for the database: raise the limit \
                     (ulimit -n) or lower the cap"
                );
            }
            config.connections.max_connections = n;
        }
        config.server_url = sources.server_url.or(file.server.url);
        if let Some(url) = &config.server_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            bail!("SERVER_URL (server.url) must be an absolute http(s) URL, got `{url}`");
        }
        if config.server_url.is_none() && environment == Environment::Production {
            tracing::warn!(
                "SERVER_URL is not set: the links of every email (password reset, confirmation) \
                 point at {}; set SERVER_URL (server.url) to the public URL of this server",
                config.public_url()
            );
        }
        config.mail = match sources.smtp_url.filter(|u| !u.is_empty()) {
            Some(url) => MailTransport::Smtp(url),
            None => MailTransport::Log,
        };
        config.declared = file.declared.clone();
        config.advanced = file.advanced;
        let default_shipper = Shipper::default();
        config.shipper = Shipper {
            name: file.email.shipper_name.unwrap_or(default_shipper.name),
            email: file.email.shipper_email.unwrap_or(default_shipper.email),
            response_email: file.email.response_email,
        };
        check_allowed_fields(&file.register.allowed_fields)?;
        config.register_allowed_fields = file.register.allowed_fields;
        for (name, settings) in file.providers {
            config.providers.insert(name, settings);
        }
        for prefix in &file.oauth.allowed_callback_prefixes {
            if !(prefix.starts_with("https://") || prefix.starts_with("http://")) {
                bail!("oauth.allowedCallbackPrefixes: `{prefix}` must be an absolute http(s) URL");
            }
        }
        config.allowed_callback_prefixes = file.oauth.allowed_callback_prefixes;
        if let Some(secs) = file.oauth.timeout_secs {
            if secs == 0 {
                bail!("oauth.timeoutSecs must be at least 1");
            }
            config.provider_timeout = Duration::from_secs(secs);
        }
        let limits = file.rate_limit;
        config.rate_limit.enabled = limits.enabled.unwrap_or(true);
        if let Some(window) = &limits.window {
            config.rate_limit.window = window.to_duration().context("rateLimit.window")?;
        }
        for (value, target, name) in [
            (
                limits.max_per_address,
                &mut config.rate_limit.max_per_address,
                "rateLimit.maxPerAddress",
            ),
            (
                limits.max_per_identifier,
                &mut config.rate_limit.max_per_identifier,
                "rateLimit.maxPerIdentifier",
            ),
        ] {
            if let Some(n) = value {
                if n == 0 {
                    bail!(
                        "{name} must be at least 1 (set rateLimit.enabled = false to switch limits off)"
                    );
                }
                *target = n;
            }
        }
        for proxy in &limits.trusted_proxies {
            config
                .rate_limit
                .trusted_proxies
                .push(proxy.parse().with_context(|| {
                    format!("rateLimit.trustedProxies: `{proxy}` is not an IP address")
                })?);
        }
        if let Some(header) = &limits.proxy_header {
            config.rate_limit.proxy_header = header.parse()?;
        }
        if let Some(n) = limits.max_entries {
            if n < 1_000 {
                bail!(
                    "rateLimit.maxEntries must be at least 1000 (each counter takes about 100 bytes)"
                );
            }
            config.rate_limit.max_entries = n;
        }
        config.rate_limit.redis_url = sources.redis_url.filter(|u| !u.is_empty());
        let limits = file.graphql;
        config.graphql.introspection = limits.introspection.unwrap_or(true);
        config.graphql.fast_path = limits.fast_path.unwrap_or(true);
        config.graphql.verify_fast_path = limits.verify_fast_path.unwrap_or(false);
        config.graphql.playground = limits
            .playground
            .unwrap_or(environment == Environment::Development);
        for (value, target, name) in [
            (
                limits.max_depth,
                &mut config.graphql.max_depth,
                "graphql.maxDepth",
            ),
            (
                limits.max_complexity,
                &mut config.graphql.max_complexity,
                "graphql.maxComplexity",
            ),
            (
                limits.max_body_bytes,
                &mut config.graphql.max_body_bytes,
                "graphql.maxBodyBytes",
            ),
            (
                limits.max_batch,
                &mut config.graphql.max_batch,
                "graphql.maxBatch",
            ),
            (
                limits.max_nesting,
                &mut config.graphql.max_nesting,
                "graphql.maxNesting",
            ),
        ] {
            if let Some(n) = value {
                if n == 0 {
                    bail!("{name} must be at least 1");
                }
                *target = n;
            }
        }
        config.cors = cors(file.cors)?;
        config.sessions = sessions(&file.jwt, file.sessions)?;
        check_attributes(&file.user.attributes)?;
        config.user = file.user;
        for declared in file.conditions {
            if config.conditions.iter().any(|c| c.name == declared.name) {
                bail!("conditions: `{}` is declared twice", declared.name);
            }
            config.conditions.push(DeclaredCondition {
                name: declared.name,
                display_name: declared.display_name,
                category: declared.category,
                query: declared.query,
            });
        }
        Ok(config)
    }
}

/// Values that come from the command line or the environment (clap reads both).
#[derive(Debug, Default, Clone)]
pub struct Sources {
    pub config_file: Option<PathBuf>,
    pub environment: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub database_url: Option<String>,
    pub jwt_secret: Option<String>,
    pub api_token_salt: Option<String>,
    pub smtp_url: Option<String>,
    pub redis_url: Option<String>,
    pub server_url: Option<String>,
    pub metrics_token: Option<String>,
}

/// Fields of the user that registration must never set, whatever `register.allowedFields` says.
const PROTECTED_FIELDS: &[&str] = &[
    "id",
    "documentId",
    "username",
    "email",
    "password",
    "provider",
    "role",
    "confirmed",
    "blocked",
    "resetPasswordToken",
    "confirmationToken",
    "attributes",
    "createdAt",
    "updatedAt",
];

fn check_allowed_fields(fields: &[String]) -> anyhow::Result<()> {
    for field in fields {
        let valid_name = field
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            bail!("register.allowedFields: `{field}` is not a field name");
        }
        if PROTECTED_FIELDS
            .iter()
            .any(|p| p.eq_ignore_ascii_case(field))
        {
            bail!("register.allowedFields: `{field}` can never be set by registration");
        }
    }
    Ok(())
}

/// `[user]`: the attributes users may carry (`[[user.attributes]]`), and whether their
/// `attributes` may hold keys not declared there (`allowUndeclaredAttributes`, default true).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct UserSection {
    pub attributes: Vec<AttributeDeclaration>,
    pub allow_undeclared_attributes: bool,
}

impl Default for UserSection {
    fn default() -> Self {
        Self {
            attributes: Vec::new(),
            allow_undeclared_attributes: true,
        }
    }
}

/// One declared attribute of users (`[[user.attributes]]`): a key of their `attributes`, with
/// its type and flags. Checked on every write; see [`crate::db::fields::UserAttributes`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AttributeDeclaration {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: AttributeType,
    /// The allowed values of an `enumeration`.
    #[serde(default)]
    pub values: Vec<String>,
    /// Every user has it (not `null`).
    #[serde(default)]
    pub required: bool,
    /// No two users share a value (a unique index on both databases).
    #[serde(default)]
    pub unique: bool,
    /// Never shown in answers, never named by a condition.
    #[serde(default)]
    pub private: bool,
    /// Conditions and sorts on it use an index.
    #[serde(default)]
    pub indexed: bool,
}

/// The type of a declared attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttributeType {
    String,
    Integer,
    Number,
    Boolean,
    /// An ISO 8601 date and time, stored as `YYYY-MM-DDTHH:MM:SS.sssZ` (UTC).
    Datetime,
    Json,
    Enumeration,
}

impl AttributeType {
    pub fn name(self) -> &'static str {
        match self {
            AttributeType::String => "string",
            AttributeType::Integer => "integer",
            AttributeType::Number => "number",
            AttributeType::Boolean => "boolean",
            AttributeType::Datetime => "datetime",
            AttributeType::Json => "json",
            AttributeType::Enumeration => "enumeration",
        }
    }
}

/// Names a user's own fields take in answers (REST shows attributes beside them).
const USER_FIELD_NAMES: &[&str] = &[
    "id",
    "documentId",
    "username",
    "email",
    "provider",
    "password",
    "confirmed",
    "blocked",
    "role",
    "attributes",
    "createdAt",
    "updatedAt",
    "publishedAt",
    "resetPasswordToken",
    "confirmationToken",
];

/// Checks `[[user.attributes]]`: names that are identifiers (they become index names and
/// JSON paths), declared once, and flags that fit the type.
fn check_attributes(attributes: &[AttributeDeclaration]) -> anyhow::Result<()> {
    for (i, a) in attributes.iter().enumerate() {
        let name = &a.name;
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && name.len() <= 48;
        if !valid {
            bail!(
                "user.attributes: `{name}` is not an attribute name (a letter, then letters, digits or _, at most 48)"
            );
        }
        if USER_FIELD_NAMES
            .iter()
            .any(|f| f.eq_ignore_ascii_case(name))
        {
            bail!("user.attributes: `{name}` is a field of every user, not an attribute");
        }
        if attributes[..i]
            .iter()
            .any(|b| b.name.eq_ignore_ascii_case(name))
        {
            bail!("user.attributes: `{name}` is declared twice");
        }
        let kind = a.kind.name();
        match a.kind {
            AttributeType::Enumeration if a.values.is_empty() => {
                bail!("user.attributes: `{name}` is an enumeration: list its `values`")
            }
            AttributeType::Enumeration => {}
            _ if !a.values.is_empty() => {
                bail!("user.attributes: `{name}` is a {kind}: only an enumeration has `values`")
            }
            _ => {}
        }
        if a.kind == AttributeType::Json && (a.indexed || a.unique) {
            bail!("user.attributes: `{name}` is json: it can be neither indexed nor unique");
        }
        if a.private && a.indexed {
            bail!(
                "user.attributes: `{name}` is private: conditions and sorts may not read it, so it cannot be indexed"
            );
        }
    }
    Ok(())
}

/// The shortest `JWT_SECRET` and `API_TOKEN_SALT` production accepts, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// A secret from its environment variable when set; production refuses it unset or shorter
/// than [`MIN_SECRET_BYTES`], naming the variable. `None`: development with the variable unset
/// (the secret is then generated once and kept in the database).
fn resolve_secret(
    environment: Environment,
    variable: &str,
    explicit: Option<String>,
) -> anyhow::Result<Option<Secret>> {
    let make_one = "make one with `openssl rand -base64 48`";
    match explicit.filter(|s| !s.is_empty()) {
        Some(secret) if secret.len() < MIN_SECRET_BYTES => {
            if environment == Environment::Production {
                bail!(
                    "{variable} is {} bytes long; production needs at least {MIN_SECRET_BYTES} \
                     random bytes: {make_one}",
                    secret.len()
                );
            }
            tracing::warn!(
                "{variable} is {} bytes long: production refuses fewer than {MIN_SECRET_BYTES}",
                secret.len()
            );
            Ok(Some(Secret::new(secret)))
        }
        Some(secret) => Ok(Some(Secret::new(secret))),
        None if environment == Environment::Production => bail!(
            "{variable} is not set. In production Castellan needs a random {variable} of at least \
             {MIN_SECRET_BYTES} bytes: {make_one}"
        ),
        None => Ok(None),
    }
}

/// Checks `[metrics]` and `METRICS_TOKEN`: `token` needs the variable (16 bytes at least), and
/// the variable is refused with another access, which would ignore it.
fn metrics_access(
    environment: Environment,
    section: MetricsSection,
    token: Option<String>,
) -> anyhow::Result<MetricsAccess> {
    let token = token.filter(|t| !t.is_empty());
    let access = match section.access.as_deref() {
        Some(access) => access,
        None if token.is_some() => "token",
        None if environment == Environment::Production => "loopback",
        None => "open",
    };
    if !matches!(access, "open" | "loopback" | "token" | "off") {
        bail!("metrics.access must be `open`, `loopback`, `token` or `off`, got `{access}`");
    }
    match (access, token) {
        ("token", Some(token)) if token.len() >= 16 => Ok(MetricsAccess::Token(Secret::new(token))),
        ("token", Some(token)) => bail!(
            "METRICS_TOKEN is {} bytes long; use at least 16 random bytes \
             (for example `openssl rand -base64 32`)",
            token.len()
        ),
        ("token", None) => bail!(
            "metrics.access is `token` but METRICS_TOKEN is not set: set it to a random value \
             (for example `openssl rand -base64 32`)"
        ),
        (other, Some(_)) => bail!(
            "METRICS_TOKEN is set but metrics.access is `{other}`, which ignores it: set \
             metrics.access = \"token\" or unset METRICS_TOKEN"
        ),
        ("open", None) => Ok(MetricsAccess::Open),
        ("loopback", None) => Ok(MetricsAccess::Loopback),
        (_, None) => Ok(MetricsAccess::Off),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct FileConfig {
    server: ServerSection,
    database: DatabaseSection,
    jwt: JwtSection,
    password: PasswordSection,
    advanced: AdvancedSettings,
    email: EmailSection,
    register: RegisterSection,
    conditions: Vec<ConditionSection>,
    user: UserSection,
    providers: Providers,
    oauth: OAuthSection,
    rate_limit: RateLimitSection,
    graphql: GraphqlSection,
    cors: CorsSection,
    metrics: MetricsSection,
    sessions: SessionsSection,
    #[serde(skip)]
    declared: Declared,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct MetricsSection {
    access: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct GraphqlSection {
    introspection: Option<bool>,
    max_depth: Option<usize>,
    max_complexity: Option<usize>,
    max_body_bytes: Option<usize>,
    max_batch: Option<usize>,
    max_nesting: Option<usize>,
    fast_path: Option<bool>,
    verify_fast_path: Option<bool>,
    playground: Option<bool>,
}

/// Checks `[cors]`: origins are `*` or `scheme://host[:port]`, and credentials need origins.
fn cors(section: CorsSection) -> anyhow::Result<CorsConfig> {
    let mut cors = CorsConfig::default();
    if let Some(origins) = section.origins {
        for origin in &origins {
            let valid = origin == "*"
                || url::Url::parse(origin).is_ok_and(|url| {
                    matches!(url.scheme(), "http" | "https")
                        && url.origin().ascii_serialization() == origin.trim_end_matches('/')
                        && !origin.ends_with('/')
                });
            if !valid {
                bail!(
                    "cors.origins: `{origin}` is not an origin (`*` or scheme://host[:port], without a path)"
                );
            }
        }
        if origins.is_empty() {
            bail!("cors.origins: list at least one origin, or `*` for every origin");
        }
        cors.origins = origins;
    }
    cors.credentials = section.credentials.unwrap_or(false);
    if cors.credentials && cors.any_origin() {
        bail!(
            "cors.credentials needs the allowed origins listed: browsers refuse credentials with `*`"
        );
    }
    for header in &section.headers {
        if axum::http::HeaderName::from_bytes(header.as_bytes()).is_err() {
            bail!("cors.headers: `{header}` is not a header name");
        }
    }
    cors.headers = section.headers;
    if let Some(seconds) = section.max_age {
        cors.max_age = Duration::from_secs(seconds);
    }
    Ok(cors)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct CorsSection {
    origins: Option<Vec<String>>,
    credentials: Option<bool>,
    headers: Vec<String>,
    max_age: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct RateLimitSection {
    enabled: Option<bool>,
    window: Option<ExpiresIn>,
    max_per_address: Option<u64>,
    max_per_identifier: Option<u64>,
    trusted_proxies: Vec<String>,
    proxy_header: Option<String>,
    max_entries: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct OAuthSection {
    allowed_callback_prefixes: Vec<String>,
    timeout_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ConditionSection {
    name: String,
    display_name: String,
    category: Option<String>,
    query: serde_json::Value,
}

/// A condition of `castellan.toml` (`[[conditions]]`): a name and a query object.
#[derive(Debug, Clone, PartialEq)]
pub struct DeclaredCondition {
    pub name: String,
    pub display_name: String,
    pub category: Option<String>,
    pub query: serde_json::Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct EmailSection {
    shipper_name: Option<String>,
    shipper_email: Option<String>,
    response_email: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct RegisterSection {
    allowed_fields: Vec<String>,
}

impl FileConfig {
    fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the configuration file {}", path.display()))?;
        let mut file: Self = toml::from_str(&text)
            .with_context(|| format!("in the configuration file {}", path.display()))?;
        let table: toml::Table = toml::from_str(&text)
            .with_context(|| format!("in the configuration file {}", path.display()))?;
        let keys = |section: &str| -> Vec<String> {
            table
                .get(section)
                .and_then(toml::Value::as_table)
                .map(|t| t.keys().cloned().collect())
                .unwrap_or_default()
        };
        let providers = table
            .get("providers")
            .and_then(toml::Value::as_table)
            .map(|t| {
                t.iter()
                    .map(|(name, v)| {
                        let keys = v.as_table().map(|t| t.keys().cloned().collect());
                        (name.clone(), keys.unwrap_or_default())
                    })
                    .collect()
            })
            .unwrap_or_default();
        file.declared = Declared {
            advanced: keys("advanced"),
            email: keys("email"),
            providers,
        };
        Ok(file)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct ServerSection {
    url: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    data_dir: Option<PathBuf>,
    header_timeout: Option<ExpiresIn>,
    body_timeout: Option<ExpiresIn>,
    idle_timeout: Option<ExpiresIn>,
    max_connections: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct DatabaseSection {
    url: Option<String>,
    pool_size: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct JwtSection {
    expires_in: Option<ExpiresIn>,
    management: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct SessionsSection {
    access_expires_in: Option<ExpiresIn>,
    idle_expires_in: Option<ExpiresIn>,
    absolute_expires_in: Option<ExpiresIn>,
    http_only: Option<bool>,
    access_cookie: Option<bool>,
    cookie_name: Option<String>,
    cookie_path: Option<String>,
    cookie_secure: Option<bool>,
    cookie_same_site: Option<String>,
}

/// Checks `jwt.management` and `[sessions]`.
fn sessions(jwt: &JwtSection, section: SessionsSection) -> anyhow::Result<SessionsConfig> {
    let management = match jwt.management.as_deref() {
        None | Some("legacy") | Some("legacy-support") => JwtManagement::Legacy,
        Some("refresh") => JwtManagement::Refresh,
        Some(other) => bail!("jwt.management: expected \"legacy\" or \"refresh\", got {other:?}"),
    };
    let mut sessions = SessionsConfig {
        management,
        ..SessionsConfig::default()
    };
    for (value, target, name) in [
        (&section.access_expires_in, &mut sessions.access_lifetime, "sessions.accessExpiresIn"),
        (&section.idle_expires_in, &mut sessions.idle_lifetime, "sessions.idleExpiresIn"),
        (&section.absolute_expires_in, &mut sessions.absolute_lifetime, "sessions.absoluteExpiresIn"),
    ] {
        if let Some(value) = value {
            *target = value.to_duration().context(name)?;
        }
    }
    if sessions.idle_lifetime > sessions.absolute_lifetime {
        bail!("sessions.idleExpiresIn is longer than sessions.absoluteExpiresIn");
    }
    sessions.http_only = section.http_only.unwrap_or(false);
    sessions.access_cookie = section.access_cookie.unwrap_or(false);
    if (sessions.http_only || sessions.access_cookie) && !sessions.refresh() {
        bail!("sessions.httpOnly and sessions.accessCookie need jwt.management = \"refresh\"");
    }
    if sessions.access_cookie && !sessions.http_only {
        bail!("sessions.accessCookie needs sessions.httpOnly = true");
    }
    if let Some(name) = section.cookie_name {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            bail!("sessions.cookieName: `{name}` is not a cookie name (letters, digits, `_`, `-`)");
        }
        sessions.cookie_name = name;
    }
    if let Some(path) = section.cookie_path {
        if !path.starts_with('/') || path.bytes().any(|b| b == b';' || b.is_ascii_control() || b == b' ') {
            bail!("sessions.cookiePath: `{path}` is not a path (starts with `/`, no `;` or spaces)");
        }
        sessions.cookie_path = path;
    }
    sessions.cookie_secure = section.cookie_secure.unwrap_or(true);
    sessions.same_site = match section.cookie_same_site.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("lax") => SameSite::Lax,
        Some("strict") => SameSite::Strict,
        Some(other) => bail!("sessions.cookieSameSite: expected \"lax\" or \"strict\", got {other:?}"),
    };
    Ok(sessions)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct PasswordSection {
    bcrypt_cost: Option<u32>,
    max_concurrent_hashes: Option<usize>,
    reset_code_expires_in: Option<ExpiresIn>,
}

/// `jwt.expiresIn` as Strapi documents it: a number is seconds, a string is a duration in the
/// `ms` package's words (`"7d"`, `"10h"`, `"2 days"`), and a string without unit is milliseconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ExpiresIn {
    Seconds(u64),
    Text(String),
}

impl ExpiresIn {
    pub fn to_duration(&self) -> anyhow::Result<Duration> {
        let duration = match self {
            Self::Seconds(seconds) => Duration::from_secs(*seconds),
            Self::Text(text) => parse_ms_duration(text)?,
        };
        if duration < Duration::from_secs(1) {
            bail!("a token must live at least one second");
        }
        Ok(duration)
    }
}

/// Parses a duration the way the `ms` package does: a number, optional spaces, an optional unit.
pub fn parse_ms_duration(text: &str) -> anyhow::Result<Duration> {
    let expected = || {
        anyhow::anyhow!(
            "expected a number of seconds or a duration such as \"7d\", \"10h\", \"45m\" or \"2 days\", got {text:?}"
        )
    };
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| expected())?;
    let millis_per_unit = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" | "msec" | "msecs" | "millisecond" | "milliseconds" => 1.0,
        "s" | "sec" | "secs" | "second" | "seconds" => 1e3,
        "m" | "min" | "mins" | "minute" | "minutes" => 60e3,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600e3,
        "d" | "day" | "days" => 86_400e3,
        "w" | "week" | "weeks" => 604_800e3,
        "y" | "yr" | "yrs" | "year" | "years" => 31_557_600e3,
        _ => return Err(expected()),
    };
    let millis = number * millis_per_unit;
    if !millis.is_finite() || millis > 1e15 {
        return Err(expected());
    }
    Ok(Duration::from_millis(millis.round() as u64))
}

// ---- Sign-in providers (their settings; auth runs their flows) ----

/// The built-in provider: email and password.
pub const EMAIL: &str = "email";

/// The settings of one provider, as stored. `client_secret` is write-only over GraphQL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ProviderSettings {
    pub enabled: bool,
    /// A preset name (`github`, `google`, …), `oidc` or `oauth2`; empty: the provider's name.
    pub kind: String,
    pub client_id: String,
    pub client_secret: String,
    /// Scopes to ask for; empty: the preset's.
    pub scopes: Vec<String>,
    /// The front-end page the browser comes back to with `access_token` (Strapi's "redirect URL").
    pub redirect_url: String,
    /// The host of tenant-specific providers (Auth0, Cognito, GitLab self-hosted): `tenant.auth0.com`.
    pub subdomain: Option<String>,
    /// The issuer of an OpenID Connect provider (`oidc`, `keycloak`): its discovery document
    /// is at `ISSUER/.well-known/openid-configuration`.
    pub issuer: Option<String>,
    /// A generic OAuth2 provider's endpoints.
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub profile_url: Option<String>,
    /// Where a generic OAuth2 provider's profile keeps the email, its verification and the
    /// username (dotted paths); defaults: `email`, `email_verified`, `preferred_username`.
    pub email_field: Option<String>,
    pub email_verified_field: Option<String>,
    pub username_field: Option<String>,
}

/// All providers by name.
pub type Providers = BTreeMap<String, ProviderSettings>;

/// The providers of a new installation: only `email`, enabled.
pub fn default_providers() -> Providers {
    BTreeMap::from([(
        EMAIL.to_string(),
        ProviderSettings {
            enabled: true,
            kind: EMAIL.into(),
            ..Default::default()
        },
    )])
}

/// How mail leaves Castellan (`SMTP_URL`; without it, the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailTransport {
    /// `smtp://[user:password@]host[:port][?tls=required|opportunistic]` or `smtps://…`.
    Smtp(String),
    /// Written to the log: development without an SMTP server.
    Log,
    /// Kept in memory, in the mailer's outbox (tests).
    Memory,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_in_follows_the_documented_semantics() {
        let secs = |e: ExpiresIn| e.to_duration().unwrap().as_secs();
        assert_eq!(secs(ExpiresIn::Seconds(3600)), 3600);
        assert_eq!(secs(ExpiresIn::Text("7d".into())), 7 * 86_400);
        assert_eq!(secs(ExpiresIn::Text("10h".into())), 36_000);
        assert_eq!(secs(ExpiresIn::Text("45m".into())), 2_700);
        assert_eq!(secs(ExpiresIn::Text("2 days".into())), 2 * 86_400);
        assert_eq!(secs(ExpiresIn::Text("1.5h".into())), 5_400);
        // A string without unit is milliseconds.
        assert_eq!(secs(ExpiresIn::Text("120000".into())), 120);
    }

    #[test]
    fn the_default_bcrypt_cost_is_ten() {
        assert_eq!(
            Config::new("sqlite::memory:", Secret::new("x")).bcrypt_cost,
            10
        );
    }

    #[test]
    fn expires_in_refuses_nonsense() {
        for bad in ["", "soon", "7 fortnights", "-5d", "d7", "1e400"] {
            assert!(
                ExpiresIn::Text(bad.into()).to_duration().is_err(),
                "{bad:?} was accepted"
            );
        }
        assert!(
            ExpiresIn::Text("500".into()).to_duration().is_err(),
            "half a second is too short"
        );
    }

    #[test]
    fn production_without_jwt_secret_names_the_variable() {
        let error = resolve_secret(Environment::Production, "JWT_SECRET", None).unwrap_err();
        assert!(error.to_string().contains("JWT_SECRET"), "{error}");
    }

    #[test]
    fn production_refuses_short_secrets_and_development_keeps_unset_ones_for_the_database() {
        let short = "x".repeat(MIN_SECRET_BYTES - 1);
        let error = resolve_secret(
            Environment::Production,
            "API_TOKEN_SALT",
            Some(short.clone()),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("API_TOKEN_SALT is 31 bytes long") && error.contains("openssl rand"),
            "{error}"
        );
        let long = "x".repeat(MIN_SECRET_BYTES);
        let kept = resolve_secret(Environment::Production, "JWT_SECRET", Some(long.clone()));
        assert_eq!(kept.unwrap(), Some(Secret::new(long)));
        let development = resolve_secret(Environment::Development, "JWT_SECRET", Some(short));
        assert!(development.unwrap().is_some(), "development only warns");
        assert_eq!(
            resolve_secret(Environment::Development, "JWT_SECRET", None).unwrap(),
            None
        );
    }

    #[test]
    fn metrics_access_defaults_by_environment_and_checks_the_token() {
        let section = |access: Option<&str>| MetricsSection {
            access: access.map(str::to_string),
        };
        let token = || Some("0123456789abcdef".to_string());
        let dev = Environment::Development;
        let prod = Environment::Production;
        assert_eq!(
            metrics_access(dev, section(None), None).unwrap(),
            MetricsAccess::Open
        );
        assert_eq!(
            metrics_access(prod, section(None), None).unwrap(),
            MetricsAccess::Loopback
        );
        assert_eq!(
            metrics_access(prod, section(None), token()).unwrap(),
            MetricsAccess::Token(Secret::new("0123456789abcdef"))
        );
        assert_eq!(
            metrics_access(prod, section(Some("off")), None).unwrap(),
            MetricsAccess::Off
        );
        for (access, token, says) in [
            (Some("token"), None, "METRICS_TOKEN is not set"),
            (
                Some("token"),
                Some("short".to_string()),
                "METRICS_TOKEN is 5 bytes long",
            ),
            (Some("open"), token(), "ignores it"),
            (
                Some("public"),
                None,
                "must be `open`, `loopback`, `token` or `off`",
            ),
        ] {
            let error = metrics_access(prod, section(access), token)
                .unwrap_err()
                .to_string();
            assert!(error.contains(says), "{access:?}: {error}");
        }
        let file: FileConfig = toml::from_str("[metrics]\naccess = \"off\"\n").unwrap();
        assert_eq!(file.metrics.access.as_deref(), Some("off"));
    }

    #[test]
    fn unknown_settings_in_the_file_are_refused() {
        let error = toml::from_str::<FileConfig>("[jwt]\nexpiresin = 3\n").unwrap_err();
        assert!(error.to_string().contains("expiresin"), "{error}");
    }

    #[test]
    fn registration_can_never_be_allowed_protected_fields() {
        assert!(check_allowed_fields(&["nickname".into(), "team".into()]).is_ok());
        for bad in ["role", "Confirmed", "password", "nick name", ""] {
            assert!(
                check_allowed_fields(&[bad.into()]).is_err(),
                "{bad} allowed"
            );
        }
    }

    #[test]
    fn the_file_sets_initial_advanced_settings() {
        let file: FileConfig = toml::from_str("[advanced]\nemailConfirmation = true\nemailResetPassword = \"https://app.example.com/reset\"\n").unwrap();
        assert!(file.advanced.email_confirmation);
        assert!(file.advanced.unique_email, "unset keys keep their defaults");
        assert_eq!(
            file.advanced.email_reset_password.as_deref(),
            Some("https://app.example.com/reset")
        );
    }

    #[test]
    fn conditions_are_declared_in_the_file() {
        let file: FileConfig = toml::from_str(
            "[[conditions]]\nname = \"same-team\"\ndisplayName = \"Same team\"\nquery = { \"attributes.team\" = \"$user.attributes.team\" }\n",
        )
        .unwrap();
        assert_eq!(
            file.conditions[0].query,
            serde_json::json!({ "attributes.team": "$user.attributes.team" })
        );
    }

    #[test]
    fn sessions_are_read_and_checked() {
        let read = |text: &str| {
            let file: FileConfig = toml::from_str(text).unwrap();
            sessions(&file.jwt, file.sessions)
        };
        let legacy = read("").unwrap();
        assert!(!legacy.refresh() && !legacy.http_only);
        assert_eq!(legacy.access_lifetime, Duration::from_secs(900));
        let refresh = read(
            "[jwt]\nmanagement = \"refresh\"\n[sessions]\naccessExpiresIn = \"5m\"\nidleExpiresIn = \"1d\"\nabsoluteExpiresIn = 604800\nhttpOnly = true\naccessCookie = true\ncookieSecure = false\ncookieSameSite = \"Strict\"\ncookiePath = \"/\"\ncookieName = \"session\"\n",
        )
        .unwrap();
        assert!(refresh.refresh() && refresh.http_only && refresh.access_cookie);
        assert_eq!(
            (refresh.access_lifetime, refresh.idle_lifetime, refresh.absolute_lifetime),
            (Duration::from_secs(300), Duration::from_secs(86_400), Duration::from_secs(604_800))
        );
        assert_eq!((refresh.same_site, refresh.cookie_secure), (SameSite::Strict, false));
        assert_eq!((refresh.cookie_path.as_str(), refresh.cookie_name.as_str()), ("/", "session"));
        for (text, expected) in [
            ("[jwt]\nmanagement = \"sessions\"\n", "jwt.management"),
            ("[sessions]\nhttpOnly = true\n", "need jwt.management"),
            ("[jwt]\nmanagement = \"refresh\"\n[sessions]\naccessCookie = true\n", "needs sessions.httpOnly"),
            ("[jwt]\nmanagement = \"refresh\"\n[sessions]\nidleExpiresIn = \"100d\"\n", "longer than"),
            ("[sessions]\ncookieName = \"a b\"\n", "sessions.cookieName"),
            ("[sessions]\ncookiePath = \"api\"\n", "sessions.cookiePath"),
            ("[sessions]\ncookieSameSite = \"none\"\n", "sessions.cookieSameSite"),
        ] {
            let error = read(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn declared_attributes_are_read_and_checked() {
        let file: FileConfig = toml::from_str(
            "[user]\nallowUndeclaredAttributes = false\n[[user.attributes]]\nname = \"team\"\ntype = \"string\"\nindexed = true\n[[user.attributes]]\nname = \"plan\"\ntype = \"enumeration\"\nvalues = [\"free\", \"pro\"]\nrequired = true\n",
        )
        .unwrap();
        assert!(!file.user.allow_undeclared_attributes);
        assert_eq!(file.user.attributes[1].kind, AttributeType::Enumeration);
        check_attributes(&file.user.attributes).unwrap();
        assert!(UserSection::default().allow_undeclared_attributes);
        let declare = |text: &str| -> String {
            let file: FileConfig = toml::from_str(text).unwrap();
            check_attributes(&file.user.attributes)
                .unwrap_err()
                .to_string()
        };
        for (text, expected) in [
            (
                "[[user.attributes]]\nname = \"a b\"\ntype = \"string\"",
                "not an attribute name",
            ),
            (
                "[[user.attributes]]\nname = \"email\"\ntype = \"string\"",
                "a field of every user",
            ),
            (
                "[[user.attributes]]\nname = \"e\"\ntype = \"enumeration\"",
                "list its `values`",
            ),
            (
                "[[user.attributes]]\nname = \"e\"\ntype = \"string\"\nvalues = [\"x\"]",
                "only an enumeration",
            ),
            (
                "[[user.attributes]]\nname = \"j\"\ntype = \"json\"\nindexed = true",
                "neither indexed nor unique",
            ),
            (
                "[[user.attributes]]\nname = \"s\"\ntype = \"string\"\nprivate = true\nindexed = true",
                "cannot be indexed",
            ),
            (
                "[[user.attributes]]\nname = \"t\"\ntype = \"string\"\n[[user.attributes]]\nname = \"T\"\ntype = \"integer\"",
                "declared twice",
            ),
        ] {
            assert!(
                declare(text).contains(expected),
                "{text}: {}",
                declare(text)
            );
        }
        assert!(
            toml::from_str::<FileConfig>("[[user.attributes]]\nname = \"t\"\ntype = \"text\"")
                .is_err()
        );
    }

    #[test]
    fn cors_origins_are_checked() {
        let read = |text: &str| {
            let file: FileConfig = toml::from_str(text).unwrap();
            cors(file.cors)
        };
        let cors = read("[cors]\norigins = [\"https://app.example\", \"http://localhost:5173\"]\ncredentials = true\nheaders = [\"X-Client\"]\nmaxAge = 60\n").unwrap();
        assert_eq!(
            cors.origins,
            ["https://app.example", "http://localhost:5173"]
        );
        assert!(cors.credentials && !cors.any_origin());
        assert_eq!(cors.max_age, Duration::from_secs(60));
        assert!(read("").unwrap().any_origin());
        for (text, says) in [
            ("[cors]\ncredentials = true\n", "needs the allowed origins"),
            (
                "[cors]\norigins = [\"https://app.example/path\"]\n",
                "is not an origin",
            ),
            ("[cors]\norigins = [\"app.example\"]\n", "is not an origin"),
            (
                "[cors]\norigins = [\"ftp://app.example\"]\n",
                "is not an origin",
            ),
            ("[cors]\norigins = []\n", "at least one origin"),
            (
                "[cors]\nheaders = [\"bad header\"]\n",
                "is not a header name",
            ),
        ] {
            let error = read(text).unwrap_err().to_string();
            assert!(error.contains(says), "{text}: {error}");
        }
    }

    #[test]
    fn rate_limits_and_graphql_limits_are_read_from_the_file() {
        let file: FileConfig = toml::from_str(
            "[rateLimit]\nenabled = false\nmaxPerAddress = 5\ntrustedProxies = [\"10.0.0.1\"]\n[graphql]\nintrospection = false\nmaxDepth = 12\n",
        )
        .unwrap();
        assert_eq!(file.rate_limit.enabled, Some(false));
        assert_eq!(file.rate_limit.max_per_address, Some(5));
        assert_eq!(file.graphql.max_depth, Some(12));
        let file: FileConfig = toml::from_str("[graphql]\nmaxBatch = 3\n").unwrap();
        assert_eq!(file.graphql.max_batch, Some(3));
    }

    #[test]
    fn the_proxy_header_and_the_table_size_of_rate_limits_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let load = |text: &str| {
            let path = dir.path().join("castellan.toml");
            std::fs::write(&path, text).unwrap();
            Config::load(Sources {
                config_file: Some(path),
                ..Sources::default()
            })
        };
        let limits = load("").unwrap().rate_limit;
        assert_eq!(
            limits.proxy_header,
            ProxyHeader::XForwardedFor
        );
        assert_eq!(limits.max_entries, 100_000);
        let limits = load("[rateLimit]\nproxyHeader = \"Forwarded\"\nmaxEntries = 5000\n")
            .unwrap()
            .rate_limit;
        assert_eq!(
            limits.proxy_header,
            ProxyHeader::Forwarded
        );
        assert_eq!(limits.max_entries, 5_000);
        for (text, says) in [
            (
                "[rateLimit]\nproxyHeader = \"X-Real-IP\"\n",
                "rateLimit.proxyHeader",
            ),
            ("[rateLimit]\nmaxEntries = 10\n", "rateLimit.maxEntries"),
        ] {
            let error = format!("{:#}", load(text).unwrap_err());
            assert!(error.contains(says), "{text}: {error}");
        }
    }

    #[test]
    fn environment_names_the_variable_on_bad_values() {
        let error = "staging".parse::<Environment>().unwrap_err();
        assert!(error.to_string().contains("CASTELLAN_ENV"));
    }
}
