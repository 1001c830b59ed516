//! HS256 JWTs with Strapi's claims `{id, iat, exp}` and the user's token generation `gen`.
//! Nothing but HS256 is accepted.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::Secret;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user's numeric id.
    pub id: i32,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// The user's token generation when issued: the token is valid while the user's is the
    /// same. Absent from tokens of earlier versions, which are judged by `iat` instead.
    #[serde(rename = "gen", default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// The session the token belongs to (refresh mode): refused once the session ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl Claims {
    /// Whether a password change or reset since the token's issue has revoked it. With `gen`
    /// the answer is exact, however close the change; a token without it is revoked when
    /// issued in a second before `tokens_valid_after`.
    pub fn revoked_for(&self, token_generation: i64, tokens_valid_after: i64) -> bool {
        match self.generation {
            Some(generation) => generation != token_generation,
            None => self.iat < tokens_valid_after,
        }
    }
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    lifetime: Duration,
    /// Tokens whose signature was checked, with their claims: a client sends the same token
    /// with each request, and checking it again (base64, two JSON documents, HMAC-SHA256) is
    /// most of what authenticating a request costs. Keyed by the exact text, so only a token
    /// this process verified itself is found; its expiry is checked on every use. The user
    /// behind it (blocked, deleted, password changed) is checked by the caller each time.
    verified: Mutex<HashMap<Box<str>, Claims>>,
}

/// How many verified tokens are remembered; the memo is emptied when it is full.
const VERIFIED_TOKENS: usize = 4096;

impl JwtKeys {
    pub fn new(secret: &Secret, lifetime: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iat"]);
        Self {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
            lifetime,
            verified: Mutex::default(),
        }
    }

    /// A token for `user_id` of the user's current `token_generation`.
    pub fn issue(&self, user_id: i32, token_generation: i64) -> String {
        self.issue_with(user_id, token_generation, None, self.lifetime)
    }

    /// An access token of the session `sid`, living `lifetime`.
    pub fn issue_for_session(
        &self,
        user_id: i32,
        token_generation: i64,
        sid: &str,
        lifetime: Duration,
    ) -> String {
        self.issue_with(user_id, token_generation, Some(sid), lifetime)
    }

    fn issue_with(
        &self,
        user_id: i32,
        token_generation: i64,
        sid: Option<&str>,
        lifetime: Duration,
    ) -> String {
        let iat = chrono::Utc::now().timestamp();
        let claims = Claims {
            id: user_id,
            iat,
            exp: iat + lifetime.as_secs() as i64,
            generation: Some(token_generation),
            sid: sid.map(str::to_string),
        };
        // HS256 over a serializable struct cannot fail.
        #[expect(
            clippy::expect_used,
            reason = "encoding these claims with HS256 is infallible"
        )]
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 encoding of JWT claims")
    }

    /// The claims of a valid token: right algorithm, right signature, not expired.
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        self.verify_at(token, jsonwebtoken::get_current_timestamp())
    }

    /// [`Self::verify`] at `now` (Unix seconds) for a remembered token.
    fn verify_at(&self, token: &str, now: u64) -> Result<Claims, jsonwebtoken::errors::Error> {
        let remembered = self.memo().get(token).cloned();
        let claims = match remembered {
            Some(claims) => claims,
            None => {
                let claims =
                    jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)?.claims;
                let mut memo = self.memo();
                if memo.len() >= VERIFIED_TOKENS {
                    memo.clear();
                }
                memo.insert(token.into(), claims.clone());
                claims
            }
        };
        // As `decode` judges `exp` with no leeway: expired once `now` is past it.
        if !u64::try_from(claims.exp).is_ok_and(|exp| exp >= now) {
            self.memo().remove(token);
            return Err(jsonwebtoken::errors::ErrorKind::ExpiredSignature.into());
        }
        Ok(claims)
    }

    fn memo(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Claims>> {
        // The map holds only checked tokens: one a panicking thread left is still sound.
        self.verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn encode_segment(bytes: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    fn keys() -> JwtKeys {
        JwtKeys::new(
            &Secret::new("test-secret-test-secret-test-secret"),
            Duration::from_secs(60),
        )
    }

    #[test]
    fn issued_tokens_verify_and_carry_the_claims() {
        let keys = keys();
        let claims = keys.verify(&keys.issue(42, 0)).unwrap();
        assert_eq!(claims.id, 42);
        assert_eq!(claims.exp - claims.iat, 60);
        assert_eq!(claims.sid, None);
        let token = keys.issue_for_session(42, 1, "abc", Duration::from_secs(5));
        assert!(!token.contains("abc"), "the claims are encoded");
        let claims = keys.verify(&token).unwrap();
        assert_eq!((claims.sid.as_deref(), claims.exp - claims.iat), (Some("abc"), 5));
    }

    #[test]
    fn a_remembered_token_is_refused_once_expired_and_forgotten() {
        let keys = keys();
        let token = keys.issue(7, 0);
        let claims = keys.verify(&token).unwrap();
        assert_eq!(keys.memo().get(token.as_str()), Some(&claims));
        let later = u64::try_from(claims.exp).unwrap() + 1;
        let error = keys.verify_at(&token, later).unwrap_err();
        assert_eq!(
            error.kind(),
            &jsonwebtoken::errors::ErrorKind::ExpiredSignature
        );
        assert!(keys.memo().get(token.as_str()).is_none());
        // Up to the second of `exp` itself, as `decode` judges it.
        assert_eq!(keys.verify_at(&token, later - 1).unwrap(), claims);
    }

    #[test]
    fn only_the_exact_text_of_a_verified_token_is_remembered() {
        let keys = keys();
        let token = keys.issue(7, 0);
        keys.verify(&token).unwrap();
        let (rest, signature) = token.rsplit_once('.').unwrap();
        let mut forged = signature.to_string();
        let last = forged.pop().unwrap();
        forged.push(if last == 'A' { 'B' } else { 'A' });
        let forged = format!("{rest}.{forged}");
        assert!(keys.verify(&forged).is_err(), "a changed signature passed");
        assert!(keys.verify(&format!(" {token}")).is_err());
        assert_eq!(keys.memo().len(), 1);
    }

    #[test]
    fn the_memo_of_verified_tokens_stays_bounded() {
        let keys = keys();
        for id in 0..=VERIFIED_TOKENS as i32 {
            keys.verify(&keys.issue(id, 0)).unwrap();
        }
        let memo = keys.memo();
        assert!(memo.len() <= VERIFIED_TOKENS, "{} tokens kept", memo.len());
        assert!(!memo.is_empty());
    }

    #[test]
    fn only_the_current_generation_is_valid_and_older_tokens_keep_the_second_rule() {
        let keys = keys();
        let claims = keys.verify(&keys.issue(1, 3)).unwrap();
        assert_eq!(claims.generation, Some(3));
        // Whatever `tokens_valid_after` says: the generation decides.
        assert!(!claims.revoked_for(3, claims.iat + 10));
        assert!(claims.revoked_for(4, 0));
        assert!(claims.revoked_for(2, 0));

        // A token of an earlier version, `{id, iat, exp}` only.
        let now = chrono::Utc::now().timestamp();
        let legacy = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({ "id": 1, "iat": now, "exp": now + 60 }),
            &EncodingKey::from_secret(b"test-secret-test-secret-test-secret"),
        )
        .unwrap();
        let claims = keys.verify(&legacy).unwrap();
        assert_eq!(claims.generation, None);
        assert!(!claims.revoked_for(5, now));
        assert!(claims.revoked_for(0, now + 1));
    }

    #[test]
    fn other_secrets_algorithms_and_unsigned_tokens_fail() {
        let keys = keys();
        let other = JwtKeys::new(
            &Secret::new("another-secret-another-secret-xx"),
            Duration::from_secs(60),
        );
        assert!(
            keys.verify(&other.issue(1, 0)).is_err(),
            "wrong secret accepted"
        );

        let now = chrono::Utc::now().timestamp();
        let payload =
            encode_segment(format!(r#"{{"id":1,"iat":{now},"exp":{}}}"#, now + 60).as_bytes());
        let none = format!(
            "{}.{payload}.",
            encode_segment(br#"{"alg":"none","typ":"JWT"}"#)
        );
        assert!(keys.verify(&none).is_err(), "alg none accepted");

        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &Claims {
                id: 1,
                iat: now,
                exp: now + 60,
                generation: None,
                sid: None,
            },
            &EncodingKey::from_secret(b"test-secret-test-secret-test-secret"),
        )
        .unwrap();
        assert!(keys.verify(&hs512).is_err(), "HS512 accepted");
    }

    #[test]
    fn expired_tokens_fail() {
        let keys = keys();
        let now = chrono::Utc::now().timestamp();
        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                id: 1,
                iat: now - 120,
                exp: now - 60,
                generation: None,
                sid: None,
            },
            &EncodingKey::from_secret(b"test-secret-test-secret-test-secret"),
        )
        .unwrap();
        assert!(keys.verify(&expired).is_err());
    }
}
