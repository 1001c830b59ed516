//! Rate limiting of the operations attackers repeat: sign-in, sign-up, password and
//! confirmation emails, provider logins. Fixed windows per client address and per identifier,
//! counted in memory, or in Redis so that several instances share the counts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{AppError, AppResult};

/// `[rateLimit]` in `castellan.toml`.
#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    /// Off for benchmarks and tests of other things.
    pub enabled: bool,
    pub window: Duration,
    /// Attempts of one operation from one client address per window.
    pub max_per_address: u64,
    /// Attempts of one operation on one identifier (email, username) per window.
    pub max_per_identifier: u64,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
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
            redis_url: None,
            key_prefix: "castellan:rl".into(),
        }
    }
}

pub enum Counter {
    Memory(Mutex<HashMap<String, (u64, u64)>>),
    Redis(redis::aio::ConnectionManager),
}

pub struct RateLimiter {
    config: RateLimitConfig,
    counter: Counter,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl RateLimiter {
    pub async fn new(config: RateLimitConfig) -> anyhow::Result<Self> {
        let counter = match &config.redis_url {
            Some(url) => {
                let client = redis::Client::open(url.as_str()).map_err(|e| {
                    anyhow::anyhow!("REDIS_URL must look like redis://host:6379: {e}")
                })?;
                Counter::Redis(redis::aio::ConnectionManager::new(client).await?)
            }
            None => Counter::Memory(Mutex::default()),
        };
        Ok(Self { config, counter })
    }

    /// The client of a request: the peer, or — behind a trusted proxy — the last address in
    /// `X-Forwarded-For` that is not one of the trusted proxies.
    pub fn client_address(
        &self,
        peer: Option<IpAddr>,
        forwarded_for: Option<&str>,
    ) -> Option<IpAddr> {
        let peer = peer?;
        if !self.config.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let chain: Vec<IpAddr> = forwarded_for
            .unwrap_or_default()
            .split(',')
            .filter_map(|part| part.trim().parse().ok())
            .collect();
        Some(
            chain
                .into_iter()
                .rev()
                .find(|ip| !self.config.trusted_proxies.contains(ip))
                .unwrap_or(peer),
        )
    }

    /// Counts one attempt of `operation` from `address` on `identifier`; over the limit, a
    /// `RateLimitError` with the seconds to wait.
    pub async fn check(
        &self,
        operation: &str,
        address: Option<IpAddr>,
        identifier: Option<&str>,
    ) -> AppResult<()> {
        if !self.config.enabled {
            return Ok(());
        }
        if let Some(address) = address {
            self.hit(
                &format!("{operation}:ip:{address}"),
                self.config.max_per_address,
            )
            .await?;
        }
        if let Some(identifier) = identifier
            .map(|i| i.trim().to_lowercase())
            .filter(|i| !i.is_empty())
        {
            self.hit(
                &format!("{operation}:id:{identifier}"),
                self.config.max_per_identifier,
            )
            .await?;
        }
        Ok(())
    }

    async fn hit(&self, key: &str, max: u64) -> AppResult<()> {
        let window = self.config.window.as_secs().max(1);
        let (count, retry_after) = match &self.counter {
            Counter::Memory(counts) => {
                let now = now_secs();
                let start = now - now % window;
                let mut counts = counts.lock().unwrap_or_else(|p| p.into_inner());
                if counts.len() > 100_000 {
                    counts.retain(|_, (at, _)| *at == start);
                }
                let entry = counts.entry(key.to_string()).or_insert((start, 0));
                if entry.0 != start {
                    *entry = (start, 0);
                }
                entry.1 += 1;
                (entry.1, start + window - now)
            }
            Counter::Redis(manager) => {
                let mut conn = manager.clone();
                let key = format!("{}:{key}", self.config.key_prefix);
                let (count, ttl): (u64, i64) = redis::pipe()
                    .cmd("SET")
                    .arg(&key)
                    .arg(0)
                    .arg("NX")
                    .arg("EX")
                    .arg(window)
                    .ignore()
                    .cmd("INCR")
                    .arg(&key)
                    .cmd("TTL")
                    .arg(&key)
                    .query_async::<(u64, i64)>(&mut conn)
                    .await
                    .map_err(|e| {
                        AppError::internal(anyhow::anyhow!("rate-limit counter in Redis: {e}"))
                    })?;
                (count, u64::try_from(ttl).unwrap_or(window))
            }
        };
        if count > max {
            return Err(AppError::RateLimited {
                retry_after_secs: retry_after.max(1),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(trusted: &[&str]) -> RateLimiter {
        let config = RateLimitConfig {
            max_per_address: 2,
            max_per_identifier: 2,
            trusted_proxies: trusted.iter().map(|t| t.parse().unwrap()).collect(),
            ..Default::default()
        };
        RateLimiter {
            config,
            counter: Counter::Memory(Mutex::default()),
        }
    }

    #[tokio::test]
    async fn counts_per_address_and_per_identifier() {
        let limiter = limiter(&[]);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(limiter.check("login", Some(a), Some("x")).await.is_ok());
        assert!(limiter.check("login", Some(a), Some("y")).await.is_ok());
        assert!(matches!(
            limiter.check("login", Some(a), Some("z")).await,
            Err(AppError::RateLimited { .. })
        ));
        assert!(
            limiter.check("register", Some(a), None).await.is_ok(),
            "operations count apart"
        );
        assert!(limiter.check("login", Some(b), Some("X")).await.is_ok());
        assert!(
            matches!(
                limiter.check("login", Some(b), Some("x")).await,
                Err(AppError::RateLimited { .. })
            ),
            "x: its third attempt, from any address"
        );
    }

    #[test]
    fn forwarded_addresses_count_only_behind_trusted_proxies() {
        let direct = limiter(&[]);
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            direct.client_address(Some(proxy), Some("1.2.3.4")),
            Some(proxy),
            "a forged header is ignored"
        );
        let behind = limiter(&["127.0.0.1", "10.0.0.9"]);
        assert_eq!(
            behind.client_address(Some(proxy), Some("6.6.6.6, 1.2.3.4, 10.0.0.9")),
            "1.2.3.4".parse().ok()
        );
        assert_eq!(behind.client_address(Some(proxy), None), Some(proxy));
    }
}
