//! Business rules. Services know nothing of GraphQL or HTTP: they take plain values and
//! return plain values or an [`AppError`](crate::error::AppError).

pub mod account;
pub mod api_tokens;
pub mod conditions;
pub mod config_sync;
pub mod import;
pub mod listing;
pub mod providers;
pub mod roles;
pub mod session;
pub mod settings;
pub mod users;
pub mod validate;
