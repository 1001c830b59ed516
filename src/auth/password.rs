//! bcrypt hashing off the async runtime, with bounded concurrency, and verification that
//! takes the same time whether or not the account exists.

use std::sync::Arc;

use tokio::sync::{OnceCell, Semaphore};

use crate::error::{AppError, AppResult};

/// bcrypt ignores bytes past the 72nd; longer passwords are refused at registration.
pub const MAX_PASSWORD_BYTES: usize = 72;

pub struct PasswordHasher {
    cost: u32,
    permits: Arc<Semaphore>,
    /// A hash of a random password at the configured cost, verified against when there is no
    /// account, so that "unknown user" costs what "wrong password" costs.
    dummy: OnceCell<String>,
    /// How many verifications ran at each cost: a refusal of an unknown account must cost what
    /// a refusal of a known one does, which the tests check by count, not only by the clock.
    verified: std::sync::Mutex<std::collections::BTreeMap<u32, u64>>,
}

impl PasswordHasher {
    pub fn new(cost: u32, max_concurrent: usize) -> Self {
        Self {
            cost,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            dummy: OnceCell::new(),
            verified: std::sync::Mutex::default(),
        }
    }

    pub async fn hash(&self, password: &str) -> AppResult<String> {
        let password = password.to_owned();
        let cost = self.cost;
        self.blocking(move || bcrypt::hash(password, cost).map_err(AppError::internal))
            .await
    }

    /// Whether `password` matches `hash`. With no hash (no such account, or an account without
    /// a local password) a dummy hash is checked instead and the answer is `false`.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> AppResult<bool> {
        let too_long = password.len() > MAX_PASSWORD_BYTES;
        let (hash, real) = match hash {
            Some(hash) if !too_long => (hash.to_owned(), true),
            _ => (self.dummy_hash().await?.to_owned(), false),
        };
        if let Some(cost) = hash.get(4..6).and_then(|c| c.parse::<u32>().ok()) {
            let mut verified = self
                .verified
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *verified.entry(cost).or_default() += 1;
        }
        let password = password.to_owned();
        let matches = self
            .blocking(move || bcrypt::verify(password, &hash).map_err(AppError::internal))
            .await?;
        Ok(real && matches)
    }

    /// How many password verifications ran so far, by the cost of the hash they checked.
    pub fn verifications(&self) -> std::collections::BTreeMap<u32, u64> {
        self.verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    async fn dummy_hash(&self) -> AppResult<&str> {
        self.dummy
            .get_or_try_init(|| async {
                let random = crate::util::hex(&crate::util::random_bytes::<16>());
                self.hash(&random).await
            })
            .await
            .map(String::as_str)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> AppResult<T> + Send + 'static,
    ) -> AppResult<T> {
        let _permit = self.permits.acquire().await.map_err(AppError::internal)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(AppError::internal)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_missing_accounts_never_match() {
        let hasher = PasswordHasher::new(4, 2);
        let hash = hasher.hash("correct horse").await.unwrap();
        assert!(hasher.verify("correct horse", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("wrong horse", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("correct horse", None).await.unwrap());
        let long = "x".repeat(80);
        let long_hash = hasher.hash(&long[..72]).await.unwrap();
        assert!(
            !hasher.verify(&long, Some(&long_hash)).await.unwrap(),
            "over 72 bytes must not match"
        );
    }

    /// Hashes made elsewhere verify: bcryptjs writes `$2a$` (Strapi's users, moved in with
    /// `castellan import strapi`), PHP `$2y$`, OpenBSD and this crate `$2b$` — one algorithm.
    #[tokio::test]
    async fn bcrypt_hashes_of_every_prefix_verify() {
        let hasher = PasswordHasher::new(4, 2);
        // `bench` of the Strapi 5.54 fixture, hashed by bcryptjs.
        let strapi = "$2a$10$xuAUeO9057PSADaxIjtpj.mMJgVPINEqLHvFi4RXfKO0O2l9UDntW";
        assert!(hasher.verify("BenchPass123!", Some(strapi)).await.unwrap());
        assert!(!hasher.verify("BenchPass123?", Some(strapi)).await.unwrap());
        let ours = hasher.hash("correct horse").await.unwrap();
        assert!(ours.starts_with("$2b$04$"), "{ours}");
        for prefix in ["$2a$", "$2b$", "$2y$"] {
            let hash = format!("{prefix}{}", &ours[4..]);
            assert!(
                hasher.verify("correct horse", Some(&hash)).await.unwrap(),
                "{prefix}"
            );
            assert!(
                !hasher.verify("wrong horse", Some(&hash)).await.unwrap(),
                "{prefix}"
            );
        }
    }
}
