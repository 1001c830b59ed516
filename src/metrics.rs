//! Counters for `/metrics`, in Prometheus' text format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    graphql_requests: AtomicU64,
    unauthorized: AtomicU64,
    fast_path_mismatches: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            graphql_requests: AtomicU64::new(0),
            unauthorized: AtomicU64::new(0),
            fast_path_mismatches: AtomicU64::new(0),
            errors: Mutex::default(),
        }
    }
}

impl Metrics {
    pub fn graphql_request(&self, response: &async_graphql::Response) {
        self.graphql_requests.fetch_add(1, Ordering::Relaxed);
        if response.errors.is_empty() {
            return;
        }
        let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        for error in &response.errors {
            let code = error
                .extensions
                .as_ref()
                .and_then(|e| e.get("code"))
                .map(|c| c.to_string().trim_matches('"').to_string())
                .unwrap_or_else(|| "UNKNOWN".into());
            *errors.entry(code).or_default() += 1;
        }
    }

    /// A request the fast path answered otherwise than the guarded schema (counted only with
    /// `graphql.verifyFastPath`).
    pub fn fast_path_mismatch(&self) {
        self.fast_path_mismatches.fetch_add(1, Ordering::Relaxed);
    }

    pub fn fast_path_mismatches(&self) -> u64 {
        self.fast_path_mismatches.load(Ordering::Relaxed)
    }

    pub fn unauthorized(&self) {
        self.unauthorized.fetch_add(1, Ordering::Relaxed);
    }

    /// The text of `/metrics`.
    pub fn render(&self, cached_users: usize, db_checkouts: u64) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            "castellan_graphql_requests_total",
            "GraphQL requests executed.",
            self.graphql_requests.load(Ordering::Relaxed),
        );
        counter(
            "castellan_unauthorized_total",
            "Requests refused with 401 for unusable credentials.",
            self.unauthorized.load(Ordering::Relaxed),
        );
        counter(
            "castellan_db_checkouts_total",
            "Database connections asked of the pool (by requests and background work).",
            db_checkouts,
        );
        let _ = writeln!(
            out,
            "# HELP castellan_graphql_errors_total GraphQL errors by code.\n# TYPE castellan_graphql_errors_total counter"
        );
        for (code, n) in self.errors.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "castellan_graphql_errors_total{{code=\"{code}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP castellan_cached_users Signed-in users held in memory.\n# TYPE castellan_cached_users gauge\ncastellan_cached_users {cached_users}"
        );
        let _ = writeln!(
            out,
            "# HELP castellan_uptime_seconds Seconds since start.\n# TYPE castellan_uptime_seconds gauge\ncastellan_uptime_seconds {}",
            self.started.elapsed().as_secs()
        );
        out
    }
}
