//! Sign-in through OAuth2 and OpenID Connect providers: the two legs of the browser flow,
//! the sign-in with a provider's access token, and the provider settings.

use sha2::{Digest, Sha256};
use tracing::instrument;

use crate::app::App;
use crate::policy::Access;
use crate::auth::oauth::{self, FlowState, STATE_LIFETIME_SECS};
use crate::auth::providers::{EMAIL, Endpoints, Profile, ProviderSettings};
use crate::db::models::{NewUser, Role, UsedOAuthState, User};
use crate::error::{AppError, AppResult, OnUnique};
use crate::service::session::Session;

fn disabled() -> AppError {
    AppError::application("This provider is disabled")
}

/// The settings of an enabled provider other than `email`.
fn enabled(app: &App, name: &str) -> AppResult<ProviderSettings> {
    let providers = app.settings.providers();
    match providers.get(name) {
        Some(settings) if settings.enabled && name != EMAIL => Ok(settings.clone()),
        _ => Err(disabled()),
    }
}

/// Whether local (email and password) sign-in is on.
pub fn email_enabled(app: &App) -> bool {
    app.settings
        .providers()
        .get(EMAIL)
        .is_some_and(|p| p.enabled)
}

/// The URL to register at the provider as its redirect (callback) URL.
pub fn callback_url(app: &App, name: &str) -> String {
    format!("{}/api/connect/{name}/callback", app.config.public_url())
}

async fn endpoints(app: &App, name: &str, settings: &ProviderSettings) -> AppResult<Endpoints> {
    let mut endpoints = match settings.static_endpoints(name)? {
        Some(endpoints) => endpoints,
        None => {
            let issuer = settings
                .issuer
                .clone()
                .filter(|i| !i.is_empty())
                .ok_or_else(|| {
                    AppError::validation(format!("The provider {name} needs its issuer"))
                })?;
            let cached = app
                .discovered
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&issuer)
                .cloned();
            match cached {
                Some(endpoints) => endpoints,
                None => {
                    let found = oauth::discover(app.http()?, name, &issuer).await?;
                    app.discovered
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(issuer, found.clone());
                    found
                }
            }
        }
    };
    if !settings.scopes.is_empty() {
        endpoints.scopes = settings.scopes.clone();
    }
    Ok(endpoints)
}

/// The front-end URL to come back to: the provider's redirect URL, or a `?callback=` that
/// equals it or starts with an allowed prefix at a path boundary. Anything else is refused,
/// so the flow can never redirect to a stranger.
fn check_callback(
    app: &App,
    settings: &ProviderSettings,
    callback: Option<&str>,
) -> AppResult<String> {
    let Some(callback) = callback.filter(|c| !c.is_empty()) else {
        if settings.redirect_url.is_empty() {
            return Err(AppError::application(
                "This provider has no redirect URL: set redirectUrl in its settings",
            ));
        }
        return Ok(settings.redirect_url.clone());
    };
    let at_boundary = |prefix: &str| {
        callback.strip_prefix(prefix).is_some_and(|rest| {
            rest.is_empty() || prefix.ends_with('/') || rest.starts_with(['/', '?', '#'])
        })
    };
    let allowed = callback == settings.redirect_url
        || app
            .config
            .allowed_callback_prefixes
            .iter()
            .any(|p| at_boundary(p));
    if allowed
        && !callback
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        Ok(callback.to_string())
    } else {
        Err(AppError::validation(
            "callback is not an allowed redirect URL",
        ))
    }
}

fn state_key(app: &App) -> Vec<u8> {
    oauth::state_key(app.config.jwt_secret.expose())
}

/// First leg: where to send the browser, and the cookie that binds the flow to it.
#[instrument(skip_all, fields(provider = name))]
pub async fn connect(app: &App, name: &str, callback: Option<&str>) -> AppResult<(String, String)> {
    let settings = enabled(app, name)?;
    let callback = check_callback(app, &settings, callback)?;
    let endpoints = endpoints(app, name, &settings).await?;
    let state = crate::util::hex(&crate::util::random_bytes::<32>());
    let (verifier, challenge) = oauth::pkce_pair();
    let flow = FlowState {
        provider: name.to_string(),
        state: state.clone(),
        verifier,
        callback,
        expires: chrono::Utc::now().timestamp() + STATE_LIFETIME_SECS,
    };
    let mut url = url::Url::parse(&endpoints.authorize)
        .map_err(|_| AppError::application(format!("The authorize URL of {name} is not a URL")))?;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &settings.client_id)
            .append_pair("redirect_uri", &callback_url(app, name))
            .append_pair("scope", &endpoints.scopes.join(" "))
            .append_pair("state", &state);
        if endpoints.pkce {
            query
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
        }
    }
    Ok((url.to_string(), flow.seal(&state_key(app))))
}

/// What the provider sends back to `/api/connect/:provider/callback`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

fn bad_state(name: &str) -> AppError {
    AppError::validation(format!(
        "Invalid or expired sign-in state: start again from /api/connect/{name}"
    ))
}

/// Records the flow's state as used in the database, which every instance shares: a second
/// use, here or on another instance, is refused. States past their expiry are deleted on the way.
async fn use_state_once(app: &App, name: &str, flow: &FlowState) -> AppResult<()> {
    let digest = crate::util::hex(&Sha256::digest(flow.state.as_bytes()));
    let mut conn = app.db.conn().await?;
    UsedOAuthState::delete_expired(&mut conn, chrono::Utc::now().timestamp()).await?;
    UsedOAuthState {
        digest: &digest,
        expires_at: flow.expires,
    }
    .insert(&mut conn)
    .await
    .on_unique(|| {
        tracing::warn!(provider = name, "a used sign-in state was presented again");
        bad_state(name)
    })?;
    Ok(())
}

/// Second leg: checks the state (signed, unexpired, this browser's, used once), exchanges the
/// code and returns where to send the browser: the front end, with `access_token` (and
/// `id_token`), or with `error` when the user refused.
#[instrument(skip_all, fields(provider = name))]
pub async fn finish_connect(
    app: &App,
    name: &str,
    params: CallbackParams,
    cookie: Option<&str>,
) -> AppResult<String> {
    let settings = enabled(app, name)?;
    let flow = cookie
        .and_then(|c| FlowState::open(&state_key(app), c))
        .ok_or_else(|| bad_state(name))?;
    let state_matches = params.state.as_deref().is_some_and(|s| {
        s.len() == flow.state.len()
            && s.bytes()
                .zip(flow.state.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if flow.provider != name || !state_matches {
        return Err(bad_state(name));
    }
    use_state_once(app, name, &flow).await?;
    let mut target = url::Url::parse(&flow.callback).map_err(|_| bad_state(name))?;
    if let Some(error) = params.error {
        target.query_pairs_mut().append_pair("error", &error);
        return Ok(target.to_string());
    }
    let code = params
        .code
        .filter(|c| !c.is_empty())
        .ok_or_else(|| bad_state(name))?;
    let endpoints = endpoints(app, name, &settings).await?;
    let tokens = oauth::exchange_code(
        app.http()?,
        name,
        &endpoints,
        &settings.client_id,
        &settings.client_secret,
        &code,
        &callback_url(app, name),
        &flow.verifier,
    )
    .await?;
    {
        let mut query = target.query_pairs_mut();
        query.append_pair("access_token", &tokens.access_token);
        if let Some(id_token) = tokens.id_token.as_deref().filter(|_| endpoints.openid) {
            query.append_pair("id_token", id_token);
        }
    }
    Ok(target.to_string())
}

/// Signs in the holder of a provider's `access_token`: finds the account by email, or creates
/// it. A local account is never taken over by an email the provider has not verified.
#[instrument(skip_all, fields(provider = name))]
pub async fn sign_in(app: &App, name: &str, access_token: &str) -> AppResult<Session> {
    let settings = enabled(app, name)?;
    if access_token.is_empty() {
        return Err(AppError::validation("access_token is a required field"));
    }
    let endpoints = endpoints(app, name, &settings).await?;
    let (profile, emails) =
        oauth::fetch_profile(app.http()?, name, &endpoints, access_token).await?;
    let profile = Profile::read(endpoints.style, &settings, &profile, emails.as_ref());
    let email = profile
        .email
        .as_deref()
        .map(str::to_lowercase)
        .filter(|e| crate::service::validate::is_valid_email(e))
        .ok_or_else(|| {
            AppError::application(format!("The provider {name} did not share an email address, and Castellan needs one to sign you in"))
        })?;
    let unique = app.settings.advanced().unique_email;

    let mut conn = app.db.conn().await?;
    let existing = User::find_by_email(&mut conn, &email).await?;
    let same_provider = existing
        .iter()
        .find(|(user, _)| user.provider == name)
        .cloned();
    let found = match same_provider {
        Some(found) => Some(found),
        None if unique => match existing.into_iter().next() {
            Some(found) if profile.email_verified => Some(found),
            Some(_) => {
                return Err(AppError::application(
                    "An account with this email already exists. Sign in to it, or use a provider that has verified the email",
                ));
            }
            None => None,
        },
        None => None,
    };
    let (user, role) = match found {
        Some(found) => found,
        None => {
            create_user(
                app,
                &mut conn,
                name,
                &email,
                profile.username.as_deref(),
                unique,
            )
            .await?
        }
    };
    super::session::open(app, user, role)
}

/// A new confirmed account of the provider in the default role, with a free username.
async fn create_user(
    app: &App,
    conn: &mut crate::db::Conn,
    provider: &str,
    email: &str,
    username: Option<&str>,
    unique: bool,
) -> AppResult<(User, Role)> {
    let role_type = app.settings.advanced().default_role.clone();
    let role = Role::find_by_type(conn, &role_type)
        .await?
        .ok_or_else(|| AppError::application("Impossible to find the default role"))?;
    let base: String = username
        .unwrap_or_else(|| email.split('@').next().unwrap_or("user"))
        .chars()
        .filter(|c| c.is_alphanumeric() || "-_.".contains(*c))
        .take(40)
        .collect();
    let base = if base.chars().count() < 3 {
        format!("{base}-user")
    } else {
        base
    };
    for attempt in 0..5 {
        let username = if attempt == 0 {
            base.clone()
        } else {
            format!("{base}-{}", crate::util::random_alphanumeric(4))
        };
        let document_id = crate::util::new_document_id();
        let inserted = NewUser::new(&document_id, &username, email, role.id, unique)
            .provider(provider)
            .confirmed(true)
            .insert(conn)
        .await;
        match inserted {
            Ok(user) => {
                tracing::info!(user = user.id, provider, "user created through a provider");
                return Ok((user, role));
            }
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                info,
            )) if info.message().contains("username")
                || info
                    .constraint_name()
                    .is_some_and(|c| c.contains("username")) => {}
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => {
                return Err(AppError::application("Email is already taken"));
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(AppError::application(
        "No free username could be found for this account",
    ))
}

/// Changes to a provider's settings; `None` keeps a value.
#[derive(Debug, Default, Clone)]
pub struct ProviderChanges {
    pub enabled: Option<bool>,
    pub kind: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub redirect_url: Option<String>,
    pub subdomain: Option<String>,
    pub issuer: Option<String>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub profile_url: Option<String>,
}

/// A provider's name: lower-case letters, digits and `-`.
fn check_name(name: &str) -> AppResult<()> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(AppError::validation(
            "A provider name is made of lower-case letters, digits and -",
        ))
    }
}

/// Checks a provider's settings as a whole: its name, its URLs, and, when enabled, that it
/// makes a usable provider (known endpoints, a client id).
pub(crate) fn check_provider(name: &str, settings: &ProviderSettings) -> AppResult<()> {
    check_name(name)?;
    let urls = [
        (Some(&settings.redirect_url), "redirectUrl"),
        (settings.issuer.as_ref(), "issuer"),
        (settings.authorize_url.as_ref(), "authorizeUrl"),
        (settings.token_url.as_ref(), "tokenUrl"),
        (settings.profile_url.as_ref(), "profileUrl"),
    ];
    for (value, field) in urls {
        if let Some(v) = value
            && !v.is_empty()
            && !(v.starts_with("https://") || v.starts_with("http://"))
        {
            return Err(AppError::validation(format!(
                "{field} must be an absolute http(s) URL"
            )));
        }
    }
    if settings.enabled && name != EMAIL {
        settings.static_endpoints(name)?;
        if settings.client_id.is_empty() {
            return Err(AppError::validation(format!(
                "The provider {name} needs its clientId to be enabled"
            )));
        }
    }
    Ok(())
}

/// Changes (or adds) a provider; it must make a usable provider when enabled.
#[instrument(skip_all, fields(provider = name))]
pub async fn update(
    app: &App,
    access: &Access,
    name: &str,
    changes: ProviderChanges,
) -> AppResult<ProviderSettings> {
    access.require(crate::policy::actions::PROVIDERS_UPDATE)?;
    check_name(name)?;
    let mut providers = (*app.settings.providers()).clone();
    let mut settings = providers.get(name).cloned().unwrap_or_default();
    let url_field = |value: Option<String>, field: &str| -> AppResult<Option<Option<String>>> {
        match value {
            None => Ok(None),
            Some(v) if v.is_empty() => Ok(Some(None)),
            Some(v) if v.starts_with("https://") || v.starts_with("http://") => Ok(Some(Some(v))),
            Some(_) => Err(AppError::validation(format!(
                "{field} must be an absolute http(s) URL"
            ))),
        }
    };
    if let Some(v) = changes.enabled {
        settings.enabled = v;
    }
    if let Some(v) = changes.kind {
        settings.kind = v;
    }
    if let Some(v) = changes.client_id {
        settings.client_id = v;
    }
    if let Some(v) = changes.client_secret {
        settings.client_secret = v;
    }
    if let Some(v) = changes.scopes {
        settings.scopes = v;
    }
    if let Some(v) = url_field(changes.redirect_url, "redirectUrl")? {
        settings.redirect_url = v.unwrap_or_default();
    }
    if let Some(v) = changes.subdomain {
        settings.subdomain = Some(v).filter(|s| !s.is_empty());
    }
    for (value, field, target) in [
        (changes.issuer, "issuer", &mut settings.issuer),
        (
            changes.authorize_url,
            "authorizeUrl",
            &mut settings.authorize_url,
        ),
        (changes.token_url, "tokenUrl", &mut settings.token_url),
        (changes.profile_url, "profileUrl", &mut settings.profile_url),
    ] {
        if let Some(v) = url_field(value, field)? {
            *target = v;
        }
    }
    check_provider(name, &settings)?;
    providers.insert(name.to_string(), settings.clone());
    app.settings.save_providers(&app.db, providers).await?;
    app.changed(crate::changes::Change::Settings).await?;
    tracing::info!("provider settings changed");
    Ok(settings)
}
