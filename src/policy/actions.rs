//! The actions of Castellan's own GraphQL fields and routes, with Strapi's names, and the
//! grants a new installation starts with.

pub const AUTH_CALLBACK: &str = "plugin::users-permissions.auth.callback";
pub const AUTH_REGISTER: &str = "plugin::users-permissions.auth.register";
pub const AUTH_FORGOT_PASSWORD: &str = "plugin::users-permissions.auth.forgotPassword";
pub const AUTH_RESET_PASSWORD: &str = "plugin::users-permissions.auth.resetPassword";
pub const AUTH_EMAIL_CONFIRMATION: &str = "plugin::users-permissions.auth.emailConfirmation";
pub const AUTH_SEND_EMAIL_CONFIRMATION: &str =
    "plugin::users-permissions.auth.sendEmailConfirmation";
pub const AUTH_CONNECT: &str = "plugin::users-permissions.auth.connect";
pub const AUTH_CHANGE_PASSWORD: &str = "plugin::users-permissions.auth.changePassword";
pub const AUTH_REFRESH: &str = "plugin::users-permissions.auth.refresh";
pub const AUTH_LOGOUT: &str = "plugin::users-permissions.auth.logout";
pub const AUTH_GET_SESSIONS: &str = "plugin::users-permissions.auth.getSessions";
pub const AUTH_REVOKE_SESSION: &str = "plugin::users-permissions.auth.revokeSession";
pub const USER_ME: &str = "plugin::users-permissions.user.me";
pub const ROLE_FIND: &str = "plugin::users-permissions.role.find";
pub const ROLE_FIND_ONE: &str = "plugin::users-permissions.role.findOne";
pub const ROLE_CREATE: &str = "plugin::users-permissions.role.createRole";
pub const ROLE_UPDATE: &str = "plugin::users-permissions.role.updateRole";
pub const ROLE_DELETE: &str = "plugin::users-permissions.role.deleteRole";
pub const USER_FIND: &str = "plugin::users-permissions.user.find";
pub const USER_FIND_ONE: &str = "plugin::users-permissions.user.findOne";
pub const USER_COUNT: &str = "plugin::users-permissions.user.count";
pub const USER_CREATE: &str = "plugin::users-permissions.user.create";
pub const USER_UPDATE: &str = "plugin::users-permissions.user.update";
pub const USER_DESTROY: &str = "plugin::users-permissions.user.destroy";
pub const PERMISSION_FIND: &str = "plugin::users-permissions.permission.find";
/// `GET /api/users-permissions/permissions`, Strapi's name for reading the permissions tree.
pub const PERMISSIONS_GET: &str = "plugin::users-permissions.permissions.getPermissions";
pub const CONDITION_FIND: &str = "plugin::users-permissions.condition.find";
pub const CONDITION_CREATE: &str = "plugin::users-permissions.condition.create";
pub const CONDITION_DELETE: &str = "plugin::users-permissions.condition.delete";
pub const API_TOKEN_READ: &str = "admin::api-token.read";
pub const API_TOKEN_CREATE: &str = "admin::api-token.create";
pub const API_TOKEN_REGENERATE: &str = "admin::api-token.regenerate";
pub const API_TOKEN_DELETE: &str = "admin::api-token.delete";
pub const PROVIDERS_READ: &str = "plugin::users-permissions.providers.read";
pub const PROVIDERS_UPDATE: &str = "plugin::users-permissions.providers.update";
pub const ADVANCED_SETTINGS_READ: &str = "plugin::users-permissions.advanced-settings.read";
pub const ADVANCED_SETTINGS_UPDATE: &str = "plugin::users-permissions.advanced-settings.update";
pub const EMAIL_TEMPLATES_READ: &str = "plugin::users-permissions.email-templates.read";
pub const EMAIL_TEMPLATES_UPDATE: &str = "plugin::users-permissions.email-templates.update";

/// What the public role may do on a new installation: everything needed to sign in or up.
pub const PUBLIC_DEFAULTS: &[&str] = &[
    AUTH_CALLBACK,
    AUTH_REGISTER,
    AUTH_FORGOT_PASSWORD,
    AUTH_RESET_PASSWORD,
    AUTH_EMAIL_CONFIRMATION,
    AUTH_SEND_EMAIL_CONFIRMATION,
    AUTH_CONNECT,
    AUTH_REFRESH,
];

/// What the authenticated role may do on a new installation: as public (a signed-in client
/// may still log in or register, as in Strapi), plus reading itself and changing its password.
pub const AUTHENTICATED_DEFAULTS: &[&str] = &[
    AUTH_CALLBACK,
    AUTH_REGISTER,
    AUTH_FORGOT_PASSWORD,
    AUTH_RESET_PASSWORD,
    AUTH_EMAIL_CONFIRMATION,
    AUTH_SEND_EMAIL_CONFIRMATION,
    AUTH_CONNECT,
    USER_ME,
    AUTH_CHANGE_PASSWORD,
    AUTH_REFRESH,
    AUTH_LOGOUT,
    AUTH_GET_SESSIONS,
    AUTH_REVOKE_SESSION,
];

/// The parts of an action name: `plugin::users-permissions.user.me` is namespace
/// `plugin::users-permissions`, controller `user`, name `me`; `api::member-progress.get` is
/// namespace `api::member-progress`, controller `member-progress`, name `get`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionName<'a> {
    pub namespace: &'a str,
    pub controller: &'a str,
    pub name: &'a str,
}

/// Splits and checks an action name: `plugin|api|admin::<api>[.<controller>].<name>`, each part
/// made of letters, digits and `-`.
pub fn parse_action(action: &str) -> Result<ActionName<'_>, String> {
    let bad = || {
        format!(
            "`{action}` is not an action name: expected `api::<name>.<action>`, \
             `api::<name>.<controller>.<action>` or the same under `plugin::` or `admin::`"
        )
    };
    let (kind, rest) = action.split_once("::").ok_or_else(bad)?;
    if !matches!(kind, "plugin" | "api" | "admin") {
        return Err(bad());
    }
    let parts: Vec<&str> = rest.split('.').collect();
    let valid_part = |p: &&str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if !parts.iter().all(valid_part) {
        return Err(bad());
    }
    let namespace = &action[..kind.len() + 2 + parts[0].len()];
    match parts.as_slice() {
        [api, name] => Ok(ActionName {
            namespace,
            controller: api,
            name,
        }),
        [_, controller, name] => Ok(ActionName {
            namespace,
            controller,
            name,
        }),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_split_into_namespace_controller_and_name() {
        assert_eq!(
            parse_action(USER_ME).unwrap(),
            ActionName {
                namespace: "plugin::users-permissions",
                controller: "user",
                name: "me"
            }
        );
        assert_eq!(
            parse_action("api::member-progress.get").unwrap(),
            ActionName {
                namespace: "api::member-progress",
                controller: "member-progress",
                name: "get"
            }
        );
        for bad in [
            "me",
            "plugin::",
            "foo::a.b",
            "api::a",
            "api::a.b.c.d",
            "api::a..b",
            "api::a b.c",
        ] {
            assert!(parse_action(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn default_grants_are_valid_action_names() {
        for action in AUTHENTICATED_DEFAULTS.iter().chain(PUBLIC_DEFAULTS) {
            parse_action(action).unwrap();
        }
    }
}
