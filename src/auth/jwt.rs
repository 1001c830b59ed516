//! HS256 JWTs with Strapi's claims `{id, iat, exp}`. Nothing but HS256 is accepted.

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
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    lifetime: Duration,
}

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
        }
    }

    /// A token for `user_id`. Its `iat` is never earlier than `not_before` (the user's
    /// `tokens_valid_after`), so a token issued in the very second of a password change is valid.
    pub fn issue(&self, user_id: i32, not_before: i64) -> String {
        let iat = chrono::Utc::now().timestamp().max(not_before);
        let claims = Claims {
            id: user_id,
            iat,
            exp: iat + self.lifetime.as_secs() as i64,
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
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
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
    }

    #[test]
    fn iat_is_not_earlier_than_not_before() {
        let keys = keys();
        let later = chrono::Utc::now().timestamp() + 5;
        assert_eq!(keys.verify(&keys.issue(1, later)).unwrap().iat, later);
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
            },
            &EncodingKey::from_secret(b"test-secret-test-secret-test-secret"),
        )
        .unwrap();
        assert!(keys.verify(&expired).is_err());
    }
}
