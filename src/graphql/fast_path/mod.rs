//! The fast path: how a request reaches a result with less work than the guarded schema does,
//! and gives the same answer. Off with `graphql.fastPath = false`, and checked against the
//! guarded schema, request by request, with `graphql.verifyFastPath = true` (the test suite
//! runs with it). Why each piece exists, with its measurements: `docs/performance.md`.
//!
//! - [`route`]: a query whose every field the guard would let through, as its document shows,
//!   runs on a variant of the schema without the guard (`Route::Cleared`).
//! - [`documents`]: the parsed documents of recent query texts, and the validations they
//!   passed, so a repeated text is neither parsed nor validated again.

pub mod documents;

use std::collections::HashSet;

use async_graphql::parser::types::{
    ExecutableDocument, Field, OperationType, Selection, SelectionSet,
};

use super::CastellanSchema;
use crate::app::AppState;
use crate::auth::Principal;
use crate::policy::{Catalogue, FieldRule, Requirement};

/// Runs `request` for `principal`: on the fast path when `graphql.fastPath` is on (and, with
/// `graphql.verifyFastPath`, once more on the guarded schema, counting any difference), else on
/// the guarded schema.
pub(super) async fn run(
    schema: &CastellanSchema,
    app: &AppState,
    mut request: async_graphql::Request,
    principal: Principal,
) -> async_graphql::Response {
    if !app.config.graphql.fast_path {
        if let Some(refused) = missing_variable(&mut request) {
            return refused;
        }
        return schema
            .execute(request.data(principal), Route::Guarded)
            .await;
    }
    let seen = schema.documents().prepare(&mut request);
    if let Some(refused) = missing_variable(&mut request) {
        return refused;
    }
    let operation = request.operation_name.take();
    let route = request
        .parsed_query()
        .map_or(Route::Guarded, |document| {
            route(document, operation.as_deref(), app, &principal)
        });
    request.operation_name = operation;
    let twin = (app.config.graphql.verify_fast_path && route != Route::Guarded).then(|| {
        let mut twin = async_graphql::Request::new(request.query.clone())
            .variables(request.variables.clone())
            .data(principal.clone());
        twin.operation_name = request.operation_name.clone();
        twin
    });
    let mut request = request.data(principal);
    // Read by the validation hook, which the variant for lists lacks.
    if let Some(seen) = seen.filter(|_| route != (Route::Cleared { lists: true })) {
        request = request.data(seen);
    }
    let response = schema.execute(request, route).await;
    if let Some(twin) = twin {
        let guarded = schema.execute(twin, Route::Guarded).await;
        let (fast, slow) = (
            serde_json::to_value(&response).unwrap_or_default(),
            serde_json::to_value(&guarded).unwrap_or_default(),
        );
        if fast != slow {
            app.metrics.fast_path_mismatch();
            tracing::error!(%fast, guarded = %slow, "the fast path answered otherwise than the guarded schema");
        }
    }
    response
}

/// A request error when the operation declares a non-null variable without a default that the
/// request leaves out (or sends as null): the GraphQL spec's variable coercion fails before
/// execution, whatever the fields would decide. (The engine would notice only when a field
/// that reads it resolves, after the guard refused or the data was partly read.)
fn missing_variable(request: &mut async_graphql::Request) -> Option<async_graphql::Response> {
    use crate::graphql::guard::WithSource as _;
    let name = request.operation_name.clone();
    let variables = request.variables.clone();
    let document = request.parsed_query().ok()?;
    let mut operations = document.operations.iter();
    let (_, operation) = match name.as_deref() {
        Some(wanted) => operations.find(|(n, _)| n.map(|n| n.as_str()) == Some(wanted))?,
        None => match (operations.next(), operations.next()) {
            (Some(only), None) => only,
            _ => return None,
        },
    };
    let missing = operation.node.variable_definitions.iter().find(|definition| {
        let definition = &definition.node;
        !definition.var_type.node.nullable
            && definition.default_value.is_none()
            && matches!(
                variables.get(definition.name.node.as_str()),
                None | Some(async_graphql::Value::Null)
            )
    })?;
    let message = format!(
        "Variable \"${}\" of required type \"{}\" was not provided.",
        missing.node.name.node, missing.node.var_type.node
    );
    let error = crate::error::AppError::validation(message.clone());
    Some(async_graphql::Response::from_errors(vec![
        async_graphql::ServerError::new(message, Some(missing.pos)).with_source(error),
    ]))
}

/// Whether the guard would let every field of the operation `request` runs through, decided
/// from its document before execution. Then a schema without the guard may run it: the
/// guard is a schema extension, and while a schema has one, async-graphql names the parent
/// and return types of every field it resolves (two strings and two lookups per field, and as
/// many per list item), which was a fifth of the instructions of a 20-row list (callgrind).
///
/// [`Route::Cleared`] only for a query whose every field passes the guard's own rule on the
/// object type it is selected on: a root field declares a requirement the principal meets, a
/// field below declares none or one the principal meets. Anything else (a mutation, an unknown
/// operation, a selection on an interface or a union, a fragment on another type at the root,
/// a cycle, a nesting deeper than 64) is [`Route::Guarded`], and the guarded schema runs the
/// request and gives the errors it always gave.
pub fn route(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    app: &AppState,
    principal: &Principal,
) -> Route {
    let Some(catalogue) = app.catalogue() else {
        return Route::Guarded;
    };
    route_with(document, operation_name, catalogue, &|needed| {
        app.policy.authorize(principal, needed).is_ok()
    })
}

/// Which schema runs a request (see [`route`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The schema with the guard.
    Guarded,
    /// A schema without the guard. When the document selects no list (nor introspection, which
    /// lists the schema), the fields it resolves are the fields it names, and that schema's one
    /// extension remembers validations (see [`documents`]): an extension costs each
    /// resolved field two lookups, as few as validating the document costs once. A list of N
    /// items costs it N times that, so a document that selects one runs on a schema without
    /// any extension, and is validated every time.
    Cleared { lists: bool },
}

/// [`route`], with `meets` telling whether the principal meets a requirement.
fn route_with(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    catalogue: &Catalogue,
    meets: &dyn Fn(&Requirement) -> bool,
) -> Route {
    let mut operations = document.operations.iter();
    let operation = match operation_name {
        Some(wanted) => operations.find(|(name, _)| name.map(|n| n.as_str()) == Some(wanted)),
        None => match (operations.next(), operations.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        },
    };
    let Some((_, operation)) = operation else {
        return Route::Guarded;
    };
    // Only queries: the root fields of a mutation run one after the other, and one of them
    // may change the grants the guard checks the next against.
    if operation.node.ty != OperationType::Query {
        return Route::Guarded;
    }
    let mut walk = Walk {
        document,
        catalogue,
        meets,
        cleared: HashSet::new(),
        walking: Vec::new(),
        lists: false,
    };
    if walk.selections(&operation.node.selection_set.node, 0, "Query") {
        Route::Cleared { lists: walk.lists }
    } else {
        Route::Guarded
    }
}

/// The deepest nesting of fields and fragments [`clears`] follows (the parser allows 64 levels
/// of fields in one definition, but fragments spread in fragments nest without a limit).
const DEEPEST: usize = 64;

struct Walk<'a> {
    document: &'a ExecutableDocument,
    catalogue: &'a Catalogue,
    meets: &'a dyn Fn(&Requirement) -> bool,
    /// Fragments found to clear, with the object type they were spread in: each is walked once
    /// per type however often it is spread.
    cleared: HashSet<(&'a str, &'a str)>,
    /// The fragments being walked, against cycles.
    walking: Vec<&'a str>,
    /// Whether a field walked so far gives a list, or is introspection.
    lists: bool,
}

impl<'a> Walk<'a> {
    /// Whether the guard lets every field of `set`, selected on the object type `parent`,
    /// through. `depth` counts every nesting (fields and fragments).
    fn selections(&mut self, set: &'a SelectionSet, depth: usize, parent: &'a str) -> bool {
        // On an interface or a union, the guard sees the object type each value turns out to
        // have, which the document does not tell.
        if depth > DEEPEST || !self.catalogue.is_object(parent) {
            return false;
        }
        let root = self.catalogue.is_root(parent);
        set.items.iter().all(|item| match &item.node {
            Selection::Field(field) => self.field(&field.node, depth, parent),
            // Below the root, a fragment's fields resolve on the object type being selected.
            Selection::InlineFragment(inline) => {
                let on = inline.node.type_condition.as_ref();
                (!root || on.is_none_or(|on| on.node.on.node == parent))
                    && self.selections(&inline.node.selection_set.node, depth + 1, parent)
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                if self.cleared.contains(&(name, parent)) {
                    return true;
                }
                let Some(fragment) = self.document.fragments.get(name) else {
                    return false;
                };
                if (root && fragment.node.type_condition.node.on.node != parent)
                    || self.walking.contains(&name)
                {
                    return false;
                }
                self.walking.push(name);
                let clear = self.selections(&fragment.node.selection_set.node, depth + 1, parent);
                self.walking.pop();
                if clear {
                    self.cleared.insert((name, parent));
                }
                clear
            }
        })
    }

    /// The guard's own rule for `parent.field`, then the field's selections.
    fn field(&mut self, field: &'a Field, depth: usize, parent: &'a str) -> bool {
        let name = field.name.node.as_str();
        // As in the guard: introspection, and everything below it, is open to all.
        // (`__typename` is answered without resolving anything.)
        if name.starts_with("__") {
            self.lists |= name != "__typename";
            return true;
        }
        let allowed = match self.catalogue.rule(parent, name) {
            FieldRule::Open => true,
            FieldRule::Needs(needed) => (self.meets)(needed),
            FieldRule::Undeclared => false,
        };
        if !allowed {
            return false;
        }
        let shape = self.catalogue.shape(parent, name);
        self.lists |= shape.is_none_or(|shape| shape.list);
        if field.selection_set.node.items.is_empty() {
            return true;
        }
        match shape {
            Some(shape) => self.selections(&field.selection_set.node, depth + 1, &shape.type_name),
            None => false,
        }
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    const SDL: &str = r#"
        type Query {
            me: User @action(name: "plugin::users-permissions.user.me")
            many: [User!]! @action(name: "plugin::users-permissions.user.me")
            roles: [Role] @action(name: "plugin::users-permissions.role.find")
            payload: Payload @action(name: "plugin::users-permissions.user.me")
            thing: Thing @action(name: "plugin::users-permissions.user.me")
            open: String
        }
        type Mutation { login: Payload @action(name: "plugin::users-permissions.auth.callback") }
        type Payload { jwt: String, query: Query }
        type User { id: ID, role: Role, tags: [String], mine: String @action(name: "plugin::users-permissions.user.me") }
        type Role { name: String, users: Int @action(name: "plugin::users-permissions.role.find") }
        interface Thing { id: ID }
        type Widget implements Thing { id: ID, users: Int @action(name: "plugin::users-permissions.role.find") }
    "#;

    /// The route of `query` for a principal who may use every action but `role.find`.
    fn route(query: &str, operation: Option<&str>) -> Route {
        let catalogue = Catalogue::from_sdl(SDL).unwrap();
        let document = async_graphql::parser::parse_query(query).unwrap();
        let meets = |needed: &Requirement| match needed {
            Requirement::Action(action) => !action.ends_with("role.find"),
            Requirement::SignedIn => true,
        };
        route_with(&document, operation, &catalogue, &meets)
    }

    /// Whether `query` clears for a principal who may use every action but `role.find`.
    fn clears(query: &str, operation: Option<&str>) -> bool {
        route(query, operation) != Route::Guarded
    }

    #[test]
    fn a_cleared_query_tells_whether_it_selects_a_list() {
        for query in [
            "{ me { id role { name } } }",
            "{ me { __typename id } payload { jwt } }",
            "query { ...Mine } fragment Mine on Query { me { id } }",
        ] {
            assert_eq!(
                route(query, None),
                Route::Cleared { lists: false },
                "{query}"
            );
        }
        for query in [
            "{ me { id } many { id } }",
            "{ me { tags } }",
            "{ payload { query { many { id } } } }",
            "{ me { id } __schema { types { name } } }",
            "query { ...Many } fragment Many on Query { many { id } }",
        ] {
            assert_eq!(
                route(query, None),
                Route::Cleared { lists: true },
                "{query}"
            );
        }
    }

    #[test]
    fn only_queries_every_field_of_which_the_guard_lets_through_clear() {
        for query in [
            "{ me { id mine role { name } } }",
            "{ alias: me { id } __typename __schema { types { name } } }",
            "query { ...Mine } fragment Mine on Query { me { ...Id ...Id } } fragment Id on User { id }",
            "{ ... on Query { me { id } } ... { me { ... on User { id } } } }",
            // A root type below the root: the guard checks its fields as at the root.
            "{ payload { jwt query { me { id } } } }",
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
            ("{ payload { query { roles { name } } } }", None),
            // A root field that declares nothing, at the root or below it.
            ("{ open }", None),
            ("{ payload { query { open } } }", None),
            // A field below the root whose requirement is not met.
            ("{ me { role { users } } }", None),
            (
                "{ me { ...R } } fragment R on User { role { users } }",
                None,
            ),
            // An interface: which object type each value has is not in the document.
            ("{ thing { id } }", None),
            // Mutations, whose fields may change the grants for the next one.
            ("mutation { login { jwt } }", None),
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
