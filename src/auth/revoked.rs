//! Sessions that ended while their access JWTs may still be unexpired: every request with a
//! session-bound JWT is checked here, in memory, so a logout or a revocation is enforced at
//! once without a database round trip. Other instances learn of each one through
//! `crate::changes`; a starting instance reads the recent ones from the database.

use std::collections::HashMap;
use std::sync::RwLock;

/// Session ids, each with the time (Unix seconds) after which its JWTs have expired anyway.
#[derive(Debug, Default)]
pub struct RevokedSessions {
    entries: RwLock<HashMap<String, i64>>,
}

/// Past this many entries, the expired ones are dropped on the next insertion.
const PURGE_ABOVE: usize = 10_000;

impl RevokedSessions {
    /// Refuses the JWTs of `sid` until `until` (Unix seconds).
    pub fn insert(&self, sid: &str, until: i64) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= PURGE_ABOVE {
            let now = chrono::Utc::now().timestamp();
            entries.retain(|_, until| *until >= now);
        }
        let entry = entries.entry(sid.to_string()).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// Whether the session `sid` has ended.
    pub fn contains(&self, sid: &str) -> bool {
        self.entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(sid)
    }

    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ended_sessions_are_known_and_expired_ones_go_when_full() {
        let revoked = RevokedSessions::default();
        assert!(!revoked.contains("a"));
        revoked.insert("a", i64::MAX);
        assert!(revoked.contains("a") && !revoked.contains("b"));
        for n in 0..PURGE_ABOVE {
            revoked.insert(&format!("old{n}"), 0);
        }
        revoked.insert("b", i64::MAX);
        assert!(revoked.contains("a") && revoked.contains("b"));
        // The live ones, and at most the expired one inserted since the purge.
        assert!(
            revoked.len() <= 3,
            "the expired entries were dropped: {}",
            revoked.len()
        );
    }
}
