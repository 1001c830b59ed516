//! Castellan's integration tests: one binary, a real server per test, every behaviour on
//! SQLite and on PostgreSQL.

mod support;

mod account;
mod binary;
mod guards;
mod tokens;
