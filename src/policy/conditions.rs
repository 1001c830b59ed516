//! Conditions: named rules that narrow a grant to some entities. A condition is built in,
//! declared in `castellan.toml`, created over GraphQL (stored in the database), or registered
//! from Rust code by a library user.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::auth::SignedInUser;
use crate::filter::{Filter, FilterError};

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
    /// at request time.
    pub fn query(name: &str, display_name: &str, query: &Value) -> Result<Self, FilterError> {
        Ok(Self {
            name: name.into(),
            display_name: display_name.into(),
            category: None,
            plugin: None,
            rule: ConditionRule::Query(Filter::parse(query)?),
            declared: Some(query.clone()),
            source: ConditionSource::Code,
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

/// A condition name: lower-case letters, digits and `-`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
}
