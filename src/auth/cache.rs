//! Signed-in users, kept in memory for a short while.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::SignedInUser;

/// Signed-in users, kept briefly so an ordinary request costs no database round trip.
#[derive(Debug)]
pub struct UserCache {
    entries: Mutex<HashMap<i32, (Arc<SignedInUser>, Instant)>>,
    lifetime: Duration,
}

/// A bound on memory: past this many users the cache starts again.
const MAX_CACHED_USERS: usize = 100_000;

impl UserCache {
    pub fn new(lifetime: Duration) -> Self {
        Self {
            entries: Mutex::default(),
            lifetime,
        }
    }

    pub fn get(&self, id: i32) -> Option<Arc<SignedInUser>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(&id)
            .filter(|(_, at)| at.elapsed() < self.lifetime)
            .map(|(user, _)| user.clone())
    }

    pub fn put(&self, user: Arc<SignedInUser>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_CACHED_USERS {
            entries.clear();
        }
        entries.insert(user.user.id, (user, Instant::now()));
    }

    pub fn forget(&self, id: i32) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

