//! One-time codes (email confirmation, password reset): 256 random bits sent to the user, of
//! which only the SHA-256 is stored.

use sha2::{Digest, Sha256};

/// A one-time code: the text sent to the user, and the SHA-256 kept in the database.
pub struct OneTimeCode {
    pub code: String,
    pub hash: String,
}

impl OneTimeCode {
    /// 256 random bits.
    #[expect(clippy::new_without_default, reason = "each call draws a new random code")]
    pub fn new() -> Self {
        let code = crate::util::hex(&crate::util::random_bytes::<32>());
        Self {
            hash: hash_code(&code),
            code,
        }
    }
}

/// The stored form of a one-time code.
pub fn hash_code(code: &str) -> String {
    crate::util::hex(&Sha256::digest(code.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_time_codes_are_random_and_stored_hashed() {
        let (a, b) = (OneTimeCode::new(), OneTimeCode::new());
        assert_ne!(a.code, b.code);
        assert_eq!(a.code.len(), 64, "256 bits");
        assert_eq!(a.hash, hash_code(&a.code));
        assert_ne!(a.hash, a.code);
    }
}
