//! Sign-in providers: their settings, and the presets of the providers Strapi ships, a generic
//! OpenID Connect provider (configured from its issuer's discovery document) and a generic
//! OAuth2 provider.



use serde_json::Value;

use crate::error::{AppError, AppResult};

// The providers' settings are a section of the configuration, which auth reads.
pub use crate::config::{EMAIL, ProviderSettings, Providers, default_providers};

/// How profiles of a provider tell the email and whether it is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileStyle {
    /// OpenID Connect userinfo: `email`, `email_verified`, `preferred_username`.
    Oidc,
    /// GitHub: `/user` for the login, `/user/emails` for the primary verified email.
    GitHub,
    /// Discord: `email`, `verified`, `username`.
    Discord,
    /// A provider that only returns verified emails (`email`, and the username in `name`/`username`).
    TrustedEmail,
    /// Fields configured on the provider (generic OAuth2).
    Configured,
}

/// Where a provider's flow goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub authorize: String,
    pub token: String,
    pub profile: String,
    pub scopes: Vec<String>,
    pub pkce: bool,
    pub style: ProfileStyle,
    /// Whether the token answer carries an `id_token` to hand to the front end.
    pub openid: bool,
}

/// The presets, all resolvable without network access (OpenID Connect ones use discovery).
pub const PRESETS: &[&str] = &[
    "github",
    "google",
    "discord",
    "microsoft",
    "facebook",
    "gitlab",
    "auth0",
    "keycloak",
    "cognito",
    "twitch",
    "linkedin",
    "reddit",
];

fn owned(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

impl ProviderSettings {
    /// The kind of provider: the configured one, or the name for presets.
    pub fn kind_for(&self, name: &str) -> String {
        if self.kind.is_empty() {
            name.to_string()
        } else {
            self.kind.clone()
        }
    }

    fn host(&self, name: &str) -> AppResult<String> {
        self.subdomain
            .clone()
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.trim_start_matches("https://")
                    .trim_end_matches('/')
                    .to_string()
            })
            .ok_or_else(|| {
                AppError::validation(format!(
                    "The provider {name} needs its subdomain (e.g. tenant.auth0.com)"
                ))
            })
    }

    /// The endpoints of a preset or a generic OAuth2 provider; `None` for OpenID Connect
    /// providers, whose endpoints come from their discovery document.
    pub fn static_endpoints(&self, name: &str) -> AppResult<Option<Endpoints>> {
        use ProfileStyle::*;
        let e = |authorize: String,
                 token: String,
                 profile: String,
                 scopes: &[&str],
                 pkce,
                 style,
                 openid| Endpoints {
            authorize,
            token,
            profile,
            scopes: owned(scopes),
            pkce,
            style,
            openid,
        };
        let s = |text: &str| text.to_string();
        let endpoints = match self.kind_for(name).as_str() {
            "oidc" | "keycloak" => return Ok(None),
            "github" => e(
                s("https://github.com/login/oauth/authorize"),
                s("https://github.com/login/oauth/access_token"),
                s("https://api.github.com/user"),
                &["user:email"],
                true,
                GitHub,
                false,
            ),
            "google" => e(
                s("https://accounts.google.com/o/oauth2/v2/auth"),
                s("https://oauth2.googleapis.com/token"),
                s("https://openidconnect.googleapis.com/v1/userinfo"),
                &["openid", "email", "profile"],
                true,
                Oidc,
                true,
            ),
            "discord" => e(
                s("https://discord.com/oauth2/authorize"),
                s("https://discord.com/api/oauth2/token"),
                s("https://discord.com/api/users/@me"),
                &["identify", "email"],
                true,
                Discord,
                false,
            ),
            "microsoft" => e(
                s("https://login.microsoftonline.com/common/oauth2/v2.0/authorize"),
                s("https://login.microsoftonline.com/common/oauth2/v2.0/token"),
                s("https://graph.microsoft.com/oidc/userinfo"),
                &["openid", "email", "profile"],
                true,
                Oidc,
                true,
            ),
            "facebook" => e(
                s("https://www.facebook.com/v19.0/dialog/oauth"),
                s("https://graph.facebook.com/v19.0/oauth/access_token"),
                s("https://graph.facebook.com/me?fields=id,name,email"),
                &["email"],
                true,
                TrustedEmail,
                false,
            ),
            "gitlab" => {
                let host = self
                    .subdomain
                    .clone()
                    .filter(|h| !h.is_empty())
                    .unwrap_or_else(|| s("gitlab.com"));
                e(
                    format!("https://{host}/oauth/authorize"),
                    format!("https://{host}/oauth/token"),
                    format!("https://{host}/api/v4/user"),
                    &["read_user"],
                    true,
                    TrustedEmail,
                    false,
                )
            }
            "auth0" => {
                let host = self.host(name)?;
                e(
                    format!("https://{host}/authorize"),
                    format!("https://{host}/oauth/token"),
                    format!("https://{host}/userinfo"),
                    &["openid", "email", "profile"],
                    true,
                    Oidc,
                    true,
                )
            }
            "cognito" => {
                let host = self.host(name)?;
                e(
                    format!("https://{host}/oauth2/authorize"),
                    format!("https://{host}/oauth2/token"),
                    format!("https://{host}/oauth2/userInfo"),
                    &["openid", "email", "profile"],
                    true,
                    Oidc,
                    true,
                )
            }
            "twitch" => e(
                s("https://id.twitch.tv/oauth2/authorize"),
                s("https://id.twitch.tv/oauth2/token"),
                s("https://id.twitch.tv/oauth2/userinfo"),
                &["openid", "user:read:email"],
                false,
                Oidc,
                true,
            ),
            "linkedin" => e(
                s("https://www.linkedin.com/oauth/v2/authorization"),
                s("https://www.linkedin.com/oauth/v2/accessToken"),
                s("https://api.linkedin.com/v2/userinfo"),
                &["openid", "profile", "email"],
                false,
                Oidc,
                true,
            ),
            "reddit" => e(
                s("https://www.reddit.com/api/v1/authorize"),
                s("https://www.reddit.com/api/v1/access_token"),
                s("https://oauth.reddit.com/api/v1/me"),
                &["identity"],
                false,
                TrustedEmail,
                false,
            ),
            "oauth2" => {
                let need = |value: &Option<String>, field: &str| {
                    value.clone().filter(|v| !v.is_empty()).ok_or_else(|| {
                        AppError::validation(format!(
                            "The provider {name} (oauth2) needs its {field}"
                        ))
                    })
                };
                e(
                    need(&self.authorize_url, "authorizeUrl")?,
                    need(&self.token_url, "tokenUrl")?,
                    need(&self.profile_url, "profileUrl")?,
                    &[],
                    true,
                    Configured,
                    false,
                )
            }
            other => {
                return Err(AppError::validation(format!(
                    "`{other}` is not a kind of provider"
                )));
            }
        };
        Ok(Some(endpoints))
    }
}

/// The email, its verification and a username, read from a profile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Profile {
    pub email: Option<String>,
    pub email_verified: bool,
    pub username: Option<String>,
}

fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}

fn text(value: &Value, paths: &[&str]) -> Option<String> {
    paths
        .iter()
        .find_map(|p| at(value, p).and_then(Value::as_str).map(str::to_string))
        .filter(|s| !s.trim().is_empty())
}

fn truthy(value: Option<&Value>) -> bool {
    matches!(value, Some(Value::Bool(true)))
        || matches!(value, Some(Value::String(s)) if s == "true")
}

impl Profile {
    /// Reads a profile in the provider's style. GitHub's emails list, when fetched, is `emails`.
    pub fn read(
        style: ProfileStyle,
        settings: &ProviderSettings,
        profile: &Value,
        emails: Option<&Value>,
    ) -> Self {
        match style {
            ProfileStyle::Oidc => Self {
                email: text(profile, &["email"]),
                email_verified: truthy(profile.get("email_verified")),
                username: text(profile, &["preferred_username", "nickname", "name", "sub"]),
            },
            ProfileStyle::GitHub => {
                let primary = emails.and_then(Value::as_array).and_then(|list| {
                    list.iter()
                        .find(|e| truthy(e.get("primary")) && truthy(e.get("verified")))
                });
                Self {
                    email: primary
                        .and_then(|e| text(e, &["email"]))
                        .or_else(|| text(profile, &["email"])),
                    email_verified: primary.is_some(),
                    username: text(profile, &["login"]),
                }
            }
            ProfileStyle::Discord => Self {
                email: text(profile, &["email"]),
                email_verified: truthy(profile.get("verified")),
                username: text(profile, &["username"]),
            },
            ProfileStyle::TrustedEmail => {
                let email = text(profile, &["email"]);
                Self {
                    email_verified: email.is_some(),
                    email,
                    username: text(profile, &["username", "name"]),
                }
            }
            ProfileStyle::Configured => Self {
                email: text(
                    profile,
                    &[settings.email_field.as_deref().unwrap_or("email")],
                ),
                email_verified: truthy(at(
                    profile,
                    settings
                        .email_verified_field
                        .as_deref()
                        .unwrap_or("email_verified"),
                )),
                username: text(
                    profile,
                    &[
                        settings
                            .username_field
                            .as_deref()
                            .unwrap_or("preferred_username"),
                        "username",
                        "name",
                    ],
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_preset_resolves_to_https_endpoints() {
        for preset in PRESETS {
            let settings = ProviderSettings {
                subdomain: Some("tenant.example.com".into()),
                issuer: Some("https://sso.example.com/realms/main".into()),
                ..Default::default()
            };
            match settings.static_endpoints(preset).unwrap() {
                Some(e) => {
                    for url in [&e.authorize, &e.token, &e.profile] {
                        assert!(url.starts_with("https://"), "{preset}: {url}");
                    }
                }
                None => assert_eq!(
                    *preset, "keycloak",
                    "only OpenID Connect presets use discovery"
                ),
            }
        }
    }

    #[test]
    fn tenant_providers_need_their_subdomain() {
        let error = ProviderSettings::default()
            .static_endpoints("auth0")
            .unwrap_err();
        assert!(error.to_string().contains("subdomain"), "{error}");
        assert!(
            ProviderSettings {
                kind: "oauth2".into(),
                ..Default::default()
            }
            .static_endpoints("corp")
            .is_err()
        );
    }

    #[test]
    fn profiles_tell_verified_emails_apart() {
        let settings = ProviderSettings::default();
        let oidc = Profile::read(
            ProfileStyle::Oidc,
            &settings,
            &json!({ "sub": "1", "email": "a@b.co", "email_verified": true }),
            None,
        );
        assert_eq!(
            oidc,
            Profile {
                email: Some("a@b.co".into()),
                email_verified: true,
                username: Some("1".into())
            }
        );
        let unverified = Profile::read(
            ProfileStyle::Oidc,
            &settings,
            &json!({ "email": "a@b.co" }),
            None,
        );
        assert!(!unverified.email_verified);
        let emails = json!([{ "email": "old@b.co", "primary": false, "verified": true }, { "email": "main@b.co", "primary": true, "verified": true }]);
        let github = Profile::read(
            ProfileStyle::GitHub,
            &settings,
            &json!({ "login": "octo", "email": null }),
            Some(&emails),
        );
        assert_eq!(
            github,
            Profile {
                email: Some("main@b.co".into()),
                email_verified: true,
                username: Some("octo".into())
            }
        );
        let reddit = Profile::read(
            ProfileStyle::TrustedEmail,
            &settings,
            &json!({ "name": "redditor" }),
            None,
        );
        assert_eq!(reddit.email, None);
    }
}
