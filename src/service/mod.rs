//! Business rules. Services know nothing of GraphQL or HTTP: they take plain values and
//! return plain values or an [`AppError`](crate::error::AppError).

pub mod account;
pub mod settings;
pub mod validate;
