//! What an API token may do.

use crate::auth::api_token::{ApiToken, TokenType};

/// Whether `token` may perform `action`: a full-access token anything, a custom token its
/// list, a read-only token the actions that only read.
pub fn token_allows(token: &ApiToken, action: &str) -> bool {
    match token.token_type {
        TokenType::FullAccess => true,
        TokenType::Custom => token.actions.iter().any(|a| a == action),
        TokenType::ReadOnly => is_read_action(action),
    }
}

/// Whether an action only reads: its last part is `find`, `findOne`, `count`, `me`, `read` or `get`.
pub fn is_read_action(action: &str) -> bool {
    let name = action.rsplit('.').next().unwrap_or_default();
    matches!(name, "find" | "findOne" | "count" | "me" | "read" | "get")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_tokens_reach_read_actions_only() {
        let token = ApiToken {
            id: 1,
            name: "r".into(),
            token_type: TokenType::ReadOnly,
            actions: vec![],
        };
        let allows = |action| token_allows(&token, action);
        assert!(allows("plugin::users-permissions.user.find"));
        assert!(allows("plugin::users-permissions.advanced-settings.read"));
        assert!(allows("api::member-progress.get"));
        assert!(!allows("plugin::users-permissions.user.update"));
        assert!(!allows("admin::api-token.create"));
    }
}
