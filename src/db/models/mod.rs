//! Rows and the queries that read and write them. Every function returns `QueryResult`;
//! "maybe" is `Option` through `.optional()`.

mod api_token;
mod condition;
mod development_secret;
mod permission;
mod role;
mod session;
mod setting;
mod used_oauth_state;
mod user;

pub use api_token::{ApiTokenRow, NewApiToken};
pub use condition::StoredCondition;
pub use development_secret::NewDevelopmentSecret;
pub use permission::{GrantRow, InsertGrants, NewPermission, Permission};
pub use role::{NewRole, Role, RoleChanges};
pub use session::{NewSession, Rotation, SessionRow, Which};
pub use setting::Setting;
pub use used_oauth_state::UsedOAuthState;
pub use user::{NewUser, User, UserChanges};

/// The current time as stored: UTC without zone.
pub fn now() -> chrono::NaiveDateTime {
    chrono::Utc::now().naive_utc()
}
