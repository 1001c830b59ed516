//! Castellan's integration tests: one binary, a real server per test, every behaviour on
//! SQLite and on PostgreSQL.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap is a failed test"
)]

mod support;

mod account;
mod api_tokens;
mod binary;
mod config_sync;
mod extension;
mod faults;
mod filter;
mod guards;
mod hardening;
mod hostile;
mod import;
mod instances;
mod lifecycle;
mod limits;
mod oauth;
mod operations;
mod peers;
mod roles;
mod tokens;
mod users;
