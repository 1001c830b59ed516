//! The mechanics of the provider login flow: the state bound to the browser by a signed,
//! short-lived cookie, PKCE, and the calls to the provider (code exchange, profile).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::providers::{Endpoints, ProfileStyle};
use crate::error::{AppError, AppResult};

/// The cookie that carries the flow's state between `/api/connect/:provider` and its callback.
pub const STATE_COOKIE: &str = "castellan_oauth";
/// How long a sign-in may take at the provider.
pub const STATE_LIFETIME_SECS: i64 = 600;

/// What the browser carries between the two legs of the flow, signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowState {
    pub provider: String,
    pub state: String,
    pub verifier: String,
    /// The front-end URL to come back to.
    pub callback: String,
    /// Unix seconds.
    pub expires: i64,
}

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8]) -> HmacSha256 {
    <HmacSha256 as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
}

impl FlowState {
    /// `payload.signature`, both base64url.
    pub fn seal(&self, key: &[u8]) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default());
        let mut mac = mac(key);
        mac.update(payload.as_bytes());
        format!(
            "{payload}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    /// The state in a cookie value, if its signature holds and it has not expired.
    pub fn open(key: &[u8], sealed: &str) -> Option<Self> {
        let (payload, signature) = sealed.split_once('.')?;
        let mut mac = mac(key);
        mac.update(payload.as_bytes());
        mac.verify_slice(&URL_SAFE_NO_PAD.decode(signature).ok()?)
            .ok()?;
        let state: Self = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        (state.expires > chrono::Utc::now().timestamp()).then_some(state)
    }
}

/// A PKCE verifier (64 characters) and its S256 challenge.
pub fn pkce_pair() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(crate::util::random_bytes::<48>());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// What the token endpoint answered.
#[derive(Debug, Clone, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub id_token: Option<String>,
}

fn provider_error(provider: &str, error: &reqwest::Error) -> AppError {
    if error.is_timeout() {
        AppError::application(format!(
            "The provider {provider} did not answer in time; try again later"
        ))
    } else {
        AppError::application(format!(
            "The provider {provider} could not be reached; try again later"
        ))
    }
}

async fn json_answer(provider: &str, what: &str, response: reqwest::Response) -> AppResult<Value> {
    let status = response.status();
    if !status.is_success() {
        return Err(AppError::application(format!(
            "The provider {provider} refused the {what} (HTTP {})",
            status.as_u16()
        )));
    }
    response.json().await.map_err(|e| {
        if e.is_timeout() {
            provider_error(provider, &e)
        } else {
            AppError::application(format!(
                "The provider {provider} answered the {what} with something that is not JSON"
            ))
        }
    })
}

/// Exchanges the authorization code for tokens.
#[expect(
    clippy::too_many_arguments,
    reason = "the fields of one OAuth2 token request"
)]
pub async fn exchange_code(
    http: &reqwest::Client,
    provider: &str,
    endpoints: &Endpoints,
    client_id: &str,
    client_secret: &str,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> AppResult<Tokens> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("client_id", client_id),
    ];
    if !client_secret.is_empty() {
        form.push(("client_secret", client_secret));
    }
    if endpoints.pkce {
        form.push(("code_verifier", verifier));
    }
    let response = http
        .post(&endpoints.token)
        .header("accept", "application/json")
        .form(&form)
        .send()
        .await
        .map_err(|e| provider_error(provider, &e))?;
    let answer = json_answer(provider, "code", response).await?;
    serde_json::from_value(answer)
        .map_err(|_| AppError::application(format!("The provider {provider} gave no access token")))
}

/// The provider's profile of the holder of `access_token` (for GitHub, with its emails).
pub async fn fetch_profile(
    http: &reqwest::Client,
    provider: &str,
    endpoints: &Endpoints,
    access_token: &str,
) -> AppResult<(Value, Option<Value>)> {
    let get = |url: &str| {
        http.get(url)
            .bearer_auth(access_token)
            .header("accept", "application/json")
            .header("user-agent", "castellan")
            .send()
    };
    let response = get(&endpoints.profile)
        .await
        .map_err(|e| provider_error(provider, &e))?;
    let profile = json_answer(provider, "access token", response).await?;
    let emails = if endpoints.style == ProfileStyle::GitHub {
        let response = get("https://api.github.com/user/emails")
            .await
            .map_err(|e| provider_error(provider, &e))?;
        json_answer(provider, "access token", response).await.ok()
    } else {
        None
    };
    Ok((profile, emails))
}

/// An OpenID Connect provider's endpoints, from its discovery document.
pub async fn discover(
    http: &reqwest::Client,
    provider: &str,
    issuer: &str,
) -> AppResult<Endpoints> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let response = http
        .get(&url)
        .send()
        .await
        .map_err(|e| provider_error(provider, &e))?;
    let document = json_answer(provider, "discovery request", response).await?;
    let field = |name: &str| {
        document[name].as_str().map(str::to_string).ok_or_else(|| {
            AppError::application(format!(
                "The discovery document of {provider} has no {name}"
            ))
        })
    };
    let pkce = document["code_challenge_methods_supported"]
        .as_array()
        .is_none_or(|methods| methods.iter().any(|m| m == "S256"));
    Ok(Endpoints {
        authorize: field("authorization_endpoint")?,
        token: field("token_endpoint")?,
        profile: field("userinfo_endpoint")?,
        scopes: vec!["openid".into(), "email".into(), "profile".into()],
        pkce,
        style: ProfileStyle::Oidc,
        openid: true,
    })
}

/// The HTTP client of the flow: a timeout on every call.
pub fn http_client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent("castellan")
        .build()?)
}

/// The key that seals a sign-in flow's state cookie, derived from the JWT secret.
pub fn state_key(jwt_secret: &str) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(jwt_secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(b"castellan provider-login state");
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(expires: i64) -> FlowState {
        FlowState {
            provider: "github".into(),
            state: "s".into(),
            verifier: "v".into(),
            callback: "https://app/cb".into(),
            expires,
        }
    }

    #[test]
    fn sealed_state_opens_only_with_the_key_and_in_time() {
        let later = chrono::Utc::now().timestamp() + 60;
        let sealed = state(later).seal(b"key");
        assert_eq!(FlowState::open(b"key", &sealed), Some(state(later)));
        assert_eq!(FlowState::open(b"other", &sealed), None, "wrong key");
        let (payload, signature) = sealed.split_once('.').unwrap();
        let forged = format!(
            "{}.{signature}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&state(later + 9999)).unwrap())
        );
        assert_ne!(payload, forged.split_once('.').unwrap().0);
        assert_eq!(FlowState::open(b"key", &forged), None, "tampered payload");
        assert_eq!(
            FlowState::open(b"key", &state(1).seal(b"key")),
            None,
            "expired"
        );
    }

    #[test]
    fn pkce_challenges_are_s256_of_the_verifier() {
        let (verifier, challenge) = pkce_pair();
        assert!(verifier.len() >= 43 && verifier.len() <= 128);
        assert_eq!(
            challenge,
            URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
        );
    }
}
