//! The catalogue of actions, read from the running schema itself: every field that carries
//! `@action(name: …)` or `@authenticated` is bound to that requirement. A library user's field
//! enters the catalogue by declaring its directive; nothing is registered twice.

use std::collections::{BTreeMap, HashMap};

use anyhow::bail;
use async_graphql::parser::types::{ConstDirective, TypeKind, TypeSystemDefinition};

use super::actions::parse_action;

/// What a field demands of the principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// The principal's role must hold a grant of this action.
    Action(String),
    /// Any signed-in principal.
    SignedIn,
}

/// One action with the places bound to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueEntry {
    pub action: String,
    /// `Query.me`, `Mutation.login`, or `GET /api/progress`.
    pub bound_to: Vec<String>,
}

/// What resolving a field needs (see [`Catalogue::rule`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldRule<'a> {
    /// Nothing: a field below the root without a requirement.
    Open,
    /// The principal must meet this requirement.
    Needs(&'a Requirement),
    /// Refused: a root field without a requirement.
    Undeclared,
}

/// The declared type of a field: its named type and whether it may be null.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldShape {
    pub type_name: String,
    pub nullable: bool,
    /// The field gives a list (of lists, …) of `type_name`.
    pub list: bool,
}

#[derive(Debug, Default)]
pub struct Catalogue {
    /// type name → field name → requirement
    fields: HashMap<String, HashMap<String, Requirement>>,
    /// type name → field name → declared type, for every field of every object type
    shapes: HashMap<String, HashMap<String, FieldShape>>,
    actions: BTreeMap<String, Vec<String>>,
    roots: Vec<String>,
}

impl Catalogue {
    /// Reads the requirements from the schema's SDL. A malformed action name is an error, so a
    /// typo in a declaration stops start-up instead of locking a field forever.
    pub fn from_sdl(sdl: &str) -> anyhow::Result<Self> {
        let document = async_graphql::parser::parse_schema(sdl)?;
        let mut catalogue = Catalogue::default();
        let mut roots = vec![
            "Query".to_string(),
            "Mutation".to_string(),
            "Subscription".to_string(),
        ];
        for definition in &document.definitions {
            match definition {
                TypeSystemDefinition::Schema(schema) => {
                    let schema = &schema.node;
                    roots = [&schema.query, &schema.mutation, &schema.subscription]
                        .into_iter()
                        .flatten()
                        .map(|name| name.node.to_string())
                        .collect();
                }
                TypeSystemDefinition::Type(ty) => {
                    let TypeKind::Object(object) = &ty.node.kind else {
                        continue;
                    };
                    let type_name = ty.node.name.node.as_str();
                    for field in &object.fields {
                        let field_name = field.node.name.node.as_str();
                        let ty = &field.node.ty.node;
                        let mut base = &ty.base;
                        while let async_graphql::parser::types::BaseType::List(inner) = base {
                            base = &inner.base;
                        }
                        let async_graphql::parser::types::BaseType::Named(named) = base else {
                            continue;
                        };
                        catalogue
                            .shapes
                            .entry(type_name.to_string())
                            .or_default()
                            .insert(
                                field_name.to_string(),
                                FieldShape {
                                    type_name: named.to_string(),
                                    nullable: ty.nullable,
                                    list: matches!(
                                        ty.base,
                                        async_graphql::parser::types::BaseType::List(_)
                                    ),
                                },
                            );
                        let found: Vec<Requirement> = field
                            .node
                            .directives
                            .iter()
                            .filter_map(|d| requirement_of(&d.node).transpose())
                            .collect::<anyhow::Result<_>>()?;
                        let requirement = match found.as_slice() {
                            [] => continue,
                            [one] => one.clone(),
                            _ => {
                                bail!("{type_name}.{field_name} declares more than one requirement")
                            }
                        };
                        if let Requirement::Action(action) = &requirement {
                            parse_action(action)
                                .map_err(|e| anyhow::anyhow!("{type_name}.{field_name}: {e}"))?;
                            catalogue
                                .actions
                                .entry(action.clone())
                                .or_default()
                                .push(format!("{type_name}.{field_name}"));
                        }
                        catalogue
                            .fields
                            .entry(type_name.to_string())
                            .or_default()
                            .insert(field_name.to_string(), requirement);
                    }
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        catalogue.roots = roots;
        Ok(catalogue)
    }

    /// The guard's one rule for `type_name.field`: what the principal must meet to resolve it.
    /// A root field that declares nothing is refused (access is never granted by omission); a
    /// field below the root that declares nothing is open.
    pub fn rule(&self, type_name: &str, field: &str) -> FieldRule<'_> {
        match self.requirement(type_name, field) {
            Some(needed) => FieldRule::Needs(needed),
            None if self.is_root(type_name) => FieldRule::Undeclared,
            None => FieldRule::Open,
        }
    }

    /// The requirement declared on `type_name.field`, if any.
    pub fn requirement(&self, type_name: &str, field: &str) -> Option<&Requirement> {
        self.fields.get(type_name)?.get(field)
    }

    /// The declared type of `type_name.field`.
    pub fn shape(&self, type_name: &str, field: &str) -> Option<&FieldShape> {
        self.shapes.get(type_name)?.get(field)
    }

    /// The root operation types (`Query`, `Mutation`, …).
    pub fn roots(&self) -> &[String] {
        &self.roots
    }

    /// Whether `type_name` is a root operation type (its fields must declare a requirement).
    pub fn is_root(&self, type_name: &str) -> bool {
        self.roots.iter().any(|root| root == type_name)
    }

    /// Whether `type_name` is an object type of the schema.
    pub fn is_object(&self, type_name: &str) -> bool {
        self.shapes.contains_key(type_name)
    }

    /// Binds an action to a REST route (`GET /api/progress`), so the catalogue shows it.
    pub fn bind_route(&mut self, action: &str, route: String) -> anyhow::Result<()> {
        parse_action(action).map_err(anyhow::Error::msg)?;
        self.actions
            .entry(action.to_string())
            .or_default()
            .push(route);
        Ok(())
    }

    pub fn contains(&self, action: &str) -> bool {
        self.actions.contains_key(action)
    }

    /// Every action, sorted, with what is bound to it.
    pub fn entries(&self) -> impl Iterator<Item = CatalogueEntry> + '_ {
        self.actions
            .iter()
            .map(|(action, bound_to)| CatalogueEntry {
                action: action.clone(),
                bound_to: bound_to.clone(),
            })
    }
}

fn requirement_of(directive: &ConstDirective) -> anyhow::Result<Option<Requirement>> {
    match directive.name.node.as_str() {
        "authenticated" => Ok(Some(Requirement::SignedIn)),
        "action" => {
            let name = directive
                .get_argument("name")
                .and_then(|value| match &value.node {
                    async_graphql::Value::String(s) => Some(s.clone()),
                    _ => None,
                })
                .ok_or_else(|| anyhow::anyhow!("@action needs a string argument `name`"))?;
            Ok(Some(Requirement::Action(name)))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDL: &str = r#"
        type Query {
            me: String @action(name: "plugin::users-permissions.user.me")
            progress: Int @action(name: "api::member-progress.get")
            whoami: String @authenticated
            open: String
        }
        type Mutation { login: String @action(name: "plugin::users-permissions.auth.callback") }
        type Other { secret: String @action(name: "api::member-progress.get") }
    "#;

    #[test]
    fn fields_are_bound_to_their_declared_requirements() {
        let catalogue = Catalogue::from_sdl(SDL).unwrap();
        assert_eq!(
            catalogue.requirement("Query", "me"),
            Some(&Requirement::Action(
                "plugin::users-permissions.user.me".into()
            ))
        );
        assert_eq!(
            catalogue.requirement("Query", "whoami"),
            Some(&Requirement::SignedIn)
        );
        assert_eq!(catalogue.requirement("Query", "open"), None);
        assert!(catalogue.is_root("Mutation") && !catalogue.is_root("Other"));
        assert!(catalogue.is_object("Other") && !catalogue.is_object("Progress"));
        let progress: Vec<_> = catalogue
            .entries()
            .filter(|e| e.action == "api::member-progress.get")
            .collect();
        assert_eq!(progress[0].bound_to, vec!["Query.progress", "Other.secret"]);
    }

    #[test]
    fn malformed_action_names_stop_the_build() {
        let error =
            Catalogue::from_sdl(r#"type Query { x: Int @action(name: "progress") }"#).unwrap_err();
        assert!(error.to_string().contains("Query.x"), "{error}");
    }
}
