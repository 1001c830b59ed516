//! Conditions: named rules that narrow a grant to some entities. A condition is built in,
//! declared in `castellan.toml`, created over GraphQL (stored in the database), or registered
//! from Rust code by a library user.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::auth::SignedInUser;
use crate::filter::{Filter, FilterError};
use crate::policy::subject;

/// What a condition concludes for one principal.
#[derive(Debug, Clone, PartialEq)]
pub enum ConditionOutcome {
    /// The grant applies to every entity.
    Allow,
    /// The grant applies to no entity.
    Deny,
    /// The grant applies to the entities matching this query object (`$user.…` already resolved).
    Query(Value),
}

/// A condition written in Rust: it sees the signed-in user (`None` for the public).
pub type ConditionHandler = Arc<dyn Fn(Option<&SignedInUser>) -> ConditionOutcome + Send + Sync>;

/// How a condition decides.
#[derive(Clone)]
pub enum ConditionRule {
    /// A query object that may refer to the requesting user with `"$user.<path>"`.
    Query(Filter),
    Code(ConditionHandler),
}

impl fmt::Debug for ConditionRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Query(query) => f.debug_tuple("Query").field(query).finish(),
            Self::Code(_) => f.write_str("Code(..)"),
        }
    }
}

/// Where a condition comes from; only those created over GraphQL can be deleted there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionSource {
    BuiltIn,
    Config,
    Code,
    Database,
}

#[derive(Debug, Clone)]
pub struct Condition {
    /// Unique, e.g. `is-self` or `own-progress`.
    pub name: String,
    pub display_name: String,
    pub category: Option<String>,
    /// The namespace of the plugin or API that registered it, e.g. `api::member-progress`.
    pub plugin: Option<String>,
    pub rule: ConditionRule,
    /// The query object as declared, for display.
    pub declared: Option<Value>,
    pub source: ConditionSource,
}

impl Condition {
    /// A condition from a query object, checked now: a malformed one is refused here, never
    /// at request time. Beyond what [`Filter::parse`] refuses (the language and its bounds),
    /// neither a path nor a `$user.` placeholder may name a private field of the user
    /// ([`subject::is_private_field`]).
    pub fn query(name: &str, display_name: &str, query: &Value) -> Result<Self, FilterError> {
        let filter = Filter::parse(query)?;
        let placeholders = filter.placeholders();
        let named = filter.paths().into_iter().chain(
            placeholders
                .iter()
                .filter_map(|p| p.strip_prefix("$user.").map(str::to_string)),
        );
        for path in named {
            let first = path.split('.').next().unwrap_or_default();
            if subject::is_private_field(first) {
                return Err(FilterError::PrivateField { path });
            }
        }
        Ok(Self {
            name: name.into(),
            display_name: display_name.into(),
            category: None,
            plugin: None,
            rule: ConditionRule::Query(filter),
            declared: Some(query.clone()),
            source: ConditionSource::Code,
        })
    }

    /// The first path or `$user.` placeholder of a query condition that names a private
    /// declared attribute (`attributes.<name>…`): such a condition is refused where it is
    /// declared, as one naming a private field is.
    pub fn private_attribute_path(
        &self,
        attributes: &crate::db::fields::UserAttributes,
    ) -> Option<String> {
        let ConditionRule::Query(filter) = &self.rule else {
            return None;
        };
        let placeholders = filter.placeholders();
        filter
            .paths()
            .into_iter()
            .chain(
                placeholders
                    .iter()
                    .filter_map(|p| p.strip_prefix("$user.").map(str::to_string)),
            )
            .find(|path| {
                let mut segments = path.split('.');
                segments.next() == Some("attributes")
                    && segments
                        .next()
                        .is_some_and(|name| attributes.is_private(name))
            })
    }

    /// A condition decided by Rust code.
    pub fn code(
        name: &str,
        display_name: &str,
        handler: impl Fn(Option<&SignedInUser>) -> ConditionOutcome + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            display_name: display_name.into(),
            category: None,
            plugin: None,
            rule: ConditionRule::Code(Arc::new(handler)),
            declared: None,
            source: ConditionSource::Code,
        }
    }

    pub fn with_category(mut self, category: &str) -> Self {
        self.category = Some(category.into());
        self
    }

    pub fn with_plugin(mut self, plugin: &str) -> Self {
        self.plugin = Some(plugin.into());
        self
    }

    pub fn with_source(mut self, source: ConditionSource) -> Self {
        self.source = source;
        self
    }
}

/// The conditions every installation has.
pub fn built_in() -> Result<Vec<Condition>, FilterError> {
    let is_self = Condition::query(
        "is-self",
        "Is the requesting user",
        &serde_json::json!({ "id": "$user.id" }),
    )?
    .with_category("default")
    .with_plugin("plugin::users-permissions")
    .with_source(ConditionSource::BuiltIn);
    Ok(vec![is_self])
}

/// The conditions of `castellan.toml`, checked as any condition is: a malformed name or a
/// query that could only fail at request time is refused with a message naming it.
pub fn from_config(declared: &[crate::config::DeclaredCondition]) -> anyhow::Result<Vec<Condition>> {
    use anyhow::Context as _;
    let mut conditions = Vec::with_capacity(declared.len());
    for declared in declared {
        if !is_valid_name(&declared.name) {
            anyhow::bail!(
                "conditions: `{}` is not a condition name (lower-case letters, digits and -)",
                declared.name
            );
        }
        let mut condition = Condition::query(&declared.name, &declared.display_name, &declared.query)
            .with_context(|| format!("conditions: the query of `{}`", declared.name))?
            .with_source(ConditionSource::Config);
        condition.category = declared.category.clone();
        conditions.push(condition);
    }
    Ok(conditions)
}

/// A condition name: lower-case letters, digits and `-`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refused(query: Value) -> String {
        match Condition::query("c", "C", &query) {
            Ok(condition) => panic!("{query} was accepted: {condition:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn private_fields_of_the_user_are_never_condition_paths_nor_placeholders() {
        for (query, path) in [
            (json!({"password": {"$exists": true}}), "password"),
            (
                json!({"$or": [{"id": 1}, {"resetPasswordToken": {"$ne": null}}]}),
                "resetPasswordToken",
            ),
            (json!({"confirmationToken.x": 1}), "confirmationToken.x"),
            (json!({"tokensValidAfter": {"$gt": 0}}), "tokensValidAfter"),
            (json!({"reset_password_token": "x"}), "reset_password_token"),
            (json!({"Password": "x"}), "Password"),
            (json!({"id": "$user.password"}), "password"),
            (
                json!({"id": {"$in": ["$user.confirmationToken"]}}),
                "confirmationToken",
            ),
        ] {
            assert_eq!(
                refused(query),
                format!(
                    "the field `{path}` is private: password and token hashes are never read by conditions"
                )
            );
        }
        // A user's own attributes may use the names.
        assert!(Condition::query("c", "C", &json!({"attributes.password": "x"})).is_ok());
        assert!(Condition::query("c", "C", &json!({"id": "$user.id"})).is_ok());
    }

    #[test]
    fn the_bounds_of_query_objects_hold_for_conditions() {
        let values: Vec<usize> = (0..100_000).collect();
        assert_eq!(
            refused(json!({"id": {"$in": values}})),
            "query / id / $in: an array of 100000 values is longer than the 1000 allowed"
        );
    }
}
