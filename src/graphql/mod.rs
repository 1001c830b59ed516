//! The GraphQL API: schema assembly, execution, and the one pass that gives every error its
//! Strapi code.

pub mod auth;
pub mod directives;
mod errors;
pub mod filters;
pub mod guard;
pub mod pagination;
pub mod roles;
pub mod settings;
pub mod types;

use async_graphql::{EmptySubscription, MergedObject, Schema, SchemaBuilder};

use crate::app::AppState;
use crate::auth::Principal;

/// The root query type: one member per area.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct Query(auth::AuthQuery, roles::RolesQuery, settings::SettingsQuery);

/// The root mutation type: one member per area.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct Mutation(
    auth::AuthMutation,
    roles::RolesMutation,
    settings::SettingsMutation,
);

pub type CastellanSchema = Schema<Query, Mutation, EmptySubscription>;

fn builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .extension(guard::PolicyGuard)
        // The standard introspection query (GraphiQL, code generators) needs depth 15.
        .limit_depth(32)
        .limit_complexity(2_000)
}

/// Builds the schema. The app travels as schema data; the principal as request data.
pub fn build_schema(app: AppState) -> CastellanSchema {
    builder().data(app).finish()
}

/// Executes one GraphQL request for `principal` and gives each error its code.
pub async fn execute(
    schema: &CastellanSchema,
    app: &AppState,
    request: async_graphql::Request,
    principal: Principal,
) -> async_graphql::Response {
    let mut response = schema.execute(request.data(principal)).await;
    errors::finish(&mut response, app.catalogue());
    response
}

/// The printed SDL of the schema, as committed in `schema.graphql`. Needs no database.
pub fn sdl() -> String {
    builder().finish().sdl()
}
