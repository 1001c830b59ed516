//! Credentials: password hashing, JWTs, and the principal behind each request.

pub mod api_token;
pub mod cache;
pub mod codes;
pub mod jwt;
pub mod oauth;
pub mod password;
pub mod principal;
pub mod providers;

pub use jwt::{Claims, JwtKeys};
pub use password::PasswordHasher;
pub use cache::UserCache;
pub use principal::{Principal, SignedInUser, authenticate};
