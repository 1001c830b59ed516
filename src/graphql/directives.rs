//! The directives that declare what a field demands. They are printed in the SDL, so client
//! developers can read each field's action in `schema.graphql`, and the policy reads them from
//! the running schema to build the action catalogue.

use async_graphql::TypeDirective;

/// The field needs a grant of the action `name` to the principal's role, e.g.
/// `#[graphql(directive = action::apply("api::member-progress.get".into()))]`.
#[TypeDirective(location = "FieldDefinition")]
pub fn action(name: String) {}

/// The field needs any signed-in user, whatever their role:
/// `#[graphql(directive = authenticated::apply())]`.
#[TypeDirective(location = "FieldDefinition")]
pub fn authenticated() {}
