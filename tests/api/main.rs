//! Castellan's integration tests: one binary, a real server per test, every behaviour on
//! SQLite and on PostgreSQL.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap is a failed test"
)]
#![expect(
    clippy::allow_attributes,
    reason = "both_backends! allows an unused `use super::*` in the tests that need none"
)]

mod support;

mod account;
mod api_tokens;
mod attributes;
mod binary;
mod cli;
mod config_sync;
mod extension;
mod faults;
mod fields;
mod filter;
mod graphql_http;
mod guards;
mod hardening;
mod hostile;
mod import;
mod layers;
mod instances;
mod lifecycle;
mod migrations;
mod limits;
mod oauth;
mod operations;
mod readme;
mod peers;
mod rest;
mod roles;
mod sessions;
mod snapshots;
mod strapi_fields;
mod strapi_schema;
mod tokens;
mod users;
