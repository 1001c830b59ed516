//! Enforcement of the field requirements: before any field resolves, the policy is asked
//! whether the principal meets the requirement the field declares. A root field that declares
//! nothing is refused: access is never granted by omission.

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::parser::types::{
    ExecutableDocument, Field, OperationType, Selection, SelectionSet,
};
use async_graphql::{PathSegment, QueryPathSegment, ServerError, ServerResult, Value};
use serde_json::json;

use crate::app::AppState;
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::policy::{Catalogue, Requirement};

/// The schema extension that guards every field.
pub struct PolicyGuard;

impl ExtensionFactory for PolicyGuard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PolicyGuard)
    }
}

#[async_trait::async_trait]
impl Extension for PolicyGuard {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        // Introspection (`__schema`, `__type` and everything below them) is open to all.
        if !info.is_for_introspection
            && !info.name.starts_with("__")
            && let Err(error) = check(ctx, &info)
        {
            let mut error = ServerError::new(error.to_string(), None).with_source(error);
            let nodes: Vec<_> = std::iter::once(info.path_node)
                .chain(info.path_node.parents())
                .collect();
            error.path = nodes
                .into_iter()
                .rev()
                .map(|node| match node.segment {
                    QueryPathSegment::Name(name) => PathSegment::Field(name.to_string()),
                    QueryPathSegment::Index(i) => PathSegment::Index(i),
                })
                .collect();
            return Err(error);
        }
        next.run(ctx, info).await
    }
}

fn check(ctx: &ExtensionContext<'_>, info: &ResolveInfo<'_>) -> AppResult<()> {
    let app = ctx
        .data::<AppState>()
        .map_err(|_| AppError::internal(anyhow::anyhow!("the app is not in the schema data")))?;
    let principal = ctx
        .data::<Principal>()
        .map_err(|_| AppError::internal(anyhow::anyhow!("the request carries no principal")))?;
    let Some(catalogue) = app.catalogue() else {
        return Err(AppError::Forbidden {
            details: json!({ "reason": "the action catalogue is not loaded" }),
        });
    };
    match catalogue.requirement(info.parent_type, info.name) {
        Some(requirement) => app.policy.authorize(principal, requirement).map(|_| ()),
        None if catalogue.is_root(info.parent_type) => Err(AppError::Forbidden {
            details: json!({
                "reason": format!("{}.{} declares no action", info.parent_type, info.name)
            }),
        }),
        None => Ok(()),
    }
}

/// Whether the guard would let every field of the operation `request` runs through, decided
/// from its document before execution. Then the schema without the guard may run it: the
/// guard is a schema extension, and while a schema has one, async-graphql names the parent
/// and return types of every field it resolves (two strings and two lookups per field, and as
/// many per list item), which was a fifth of the instructions of a 20-row list (callgrind).
///
/// True only when every root field of the operation declares a requirement the principal
/// meets, and no field below the root bears the name of a field that declares one on some
/// type (so nothing below the root would be checked). Anything else (an unknown operation,
/// a fragment on another type, a cycle, a selection deeper than 64) is false, and the guarded
/// schema runs the request and gives the errors it always gave.
pub fn clears(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    app: &AppState,
    principal: &Principal,
) -> bool {
    let Some(catalogue) = app.catalogue() else {
        return false;
    };
    clears_with(document, operation_name, catalogue, &|needed| {
        app.policy.authorize(principal, needed).is_ok()
    })
}

/// [`clears`], with `meets` telling whether the principal meets a requirement.
fn clears_with(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    catalogue: &Catalogue,
    meets: &dyn Fn(&Requirement) -> bool,
) -> bool {
    let mut operations = document.operations.iter();
    let operation = match operation_name {
        Some(wanted) => operations.find(|(name, _)| name.map(|n| n.as_str()) == Some(wanted)),
        None => match (operations.next(), operations.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        },
    };
    let Some((_, operation)) = operation else {
        return false;
    };
    let root = match operation.node.ty {
        OperationType::Query => "Query",
        OperationType::Mutation => "Mutation",
        OperationType::Subscription => return false,
    };
    Walk {
        document,
        catalogue,
        meets,
        root,
        cleared: HashSet::new(),
        walking: Vec::new(),
    }
    .selections(&operation.node.selection_set.node, 0, true)
}

/// The deepest nesting of fields and fragments [`clears`] follows (the parser allows 64 levels
/// of fields in one definition, but fragments spread in fragments nest without a limit).
const DEEPEST: usize = 64;

struct Walk<'a> {
    document: &'a ExecutableDocument,
    catalogue: &'a Catalogue,
    meets: &'a dyn Fn(&Requirement) -> bool,
    root: &'a str,
    /// Fragments found to clear, and whether at the root: each is walked once however often
    /// it is spread.
    cleared: HashSet<(&'a str, bool)>,
    /// The fragments being walked, against cycles.
    walking: Vec<&'a str>,
}

impl<'a> Walk<'a> {
    /// `depth` counts every nesting (fields and fragments); the root fields are those reached
    /// from the operation through fragments only.
    fn selections(&mut self, set: &'a SelectionSet, depth: usize, at_root: bool) -> bool {
        if depth > DEEPEST {
            return false;
        }
        set.items.iter().all(|item| match &item.node {
            Selection::Field(field) => self.field(&field.node, depth, at_root),
            Selection::InlineFragment(inline) => {
                let on = inline.node.type_condition.as_ref();
                (!at_root || on.is_none_or(|on| on.node.on.node == self.root))
                    && self.selections(&inline.node.selection_set.node, depth + 1, at_root)
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                if self.cleared.contains(&(name, at_root)) {
                    return true;
                }
                let Some(fragment) = self.document.fragments.get(name) else {
                    return false;
                };
                if (at_root && fragment.node.type_condition.node.on.node != self.root)
                    || self.walking.contains(&name)
                {
                    return false;
                }
                self.walking.push(name);
                let clear = self.selections(&fragment.node.selection_set.node, depth + 1, at_root);
                self.walking.pop();
                if clear {
                    self.cleared.insert((name, at_root));
                }
                clear
            }
        })
    }

    fn field(&mut self, field: &'a Field, depth: usize, at_root: bool) -> bool {
        let name = field.name.node.as_str();
        // As in the guard: introspection, and everything below it, is open to all.
        if name.starts_with("__") {
            return true;
        }
        let allowed = if at_root {
            self.catalogue
                .requirement(self.root, name)
                .is_some_and(|needed| (self.meets)(needed))
        } else {
            !self.catalogue.guards_below_root(name)
        };
        allowed && self.selections(&field.selection_set.node, depth + 1, false)
    }
}

trait WithSource {
    fn with_source(self, source: AppError) -> Self;
}

impl WithSource for ServerError {
    fn with_source(mut self, source: AppError) -> Self {
        self.source = Some(Arc::new(source));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDL: &str = r#"
        type Query {
            me: User @action(name: "plugin::users-permissions.user.me")
            roles: [Role] @action(name: "plugin::users-permissions.role.find")
            open: String
        }
        type Mutation { login: String @action(name: "plugin::users-permissions.auth.callback") }
        type User { id: ID, role: Role }
        type Role { name: String, users: Int @action(name: "plugin::users-permissions.role.find") }
    "#;

    /// Whether `query` clears for a principal who may use `me` and `login` only.
    fn clears(query: &str, operation: Option<&str>) -> bool {
        let catalogue = Catalogue::from_sdl(SDL).unwrap();
        let document = async_graphql::parser::parse_query(query).unwrap();
        let meets = |needed: &Requirement| match needed {
            Requirement::Action(action) => !action.ends_with("role.find"),
            Requirement::SignedIn => true,
        };
        clears_with(&document, operation, &catalogue, &meets)
    }

    #[test]
    fn only_operations_every_field_of_which_the_guard_lets_through_clear() {
        for query in [
            "{ me { id role { name } } }",
            "{ alias: me { id } __typename __schema { types { name } } }",
            "query { ...Mine } fragment Mine on Query { me { ...Id ...Id } } fragment Id on User { id }",
            "{ ... on Query { me { id } } ... { me { id } } }",
            "mutation { login }",
        ] {
            assert!(clears(query, None), "{query}");
        }
        assert!(clears(
            "query A { me { id } } query B { roles { name } }",
            Some("A")
        ));

        for (query, operation) in [
            // A root field refused, however it is reached.
            ("{ roles { name } }", None),
            ("{ me { id } alias: roles { name } }", None),
            (
                "{ ...Roles } fragment Roles on Query { roles { name } }",
                None,
            ),
            ("{ ... on Query { roles { name } } }", None),
            // A root field that declares nothing.
            ("{ open }", None),
            // A field below the root that declares a requirement on some type.
            ("{ me { role { users } } }", None),
            (
                "{ me { ...R } } fragment R on User { role { users } }",
                None,
            ),
            // Which operation runs is not clear, or it is the refused one.
            ("query A { me { id } } query B { roles { name } }", None),
            (
                "query A { me { id } } query B { roles { name } }",
                Some("B"),
            ),
            ("{ me { id } }", Some("C")),
            // Fragments on another type at the root, missing, or in a cycle.
            ("{ ...U } fragment U on User { id }", None),
            ("{ ...Missing }", None),
            (
                "{ me { ...A } } fragment A on User { ...B } fragment B on User { ...A }",
                None,
            ),
        ] {
            assert!(!clears(query, operation), "{query} {operation:?}");
        }
        let chain = |n: usize| {
            let fragments: String = (0..n)
                .map(|i| format!("fragment F{i} on User {{ ...F{} }} ", i + 1))
                .collect();
            format!("{{ me {{ ...F0 }} }} {fragments} fragment F{n} on User {{ id }}")
        };
        assert!(clears(&chain(8), None));
        assert!(
            !clears(&chain(100), None),
            "nested deeper than the walk follows"
        );
    }
}
