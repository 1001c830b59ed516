//! Rules about roles themselves: which cannot be deleted or retyped, which may be given to new users.

/// The roles every installation has: requests without a token act as `public`, and new users
/// get `authenticated` unless configured otherwise.
pub const PROTECTED_ROLES: [&str; 2] = ["public", "authenticated"];

/// Whether a role of this type can neither be deleted nor change its type.
pub fn is_protected(role_type: &str) -> bool {
    PROTECTED_ROLES.contains(&role_type)
}

/// Whether new users may be given roles of this type by default: any role but `public`,
/// which is the role of no user.
pub fn may_be_default(role_type: &str) -> bool {
    role_type != "public"
}
