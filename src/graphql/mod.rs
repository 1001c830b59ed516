//! The GraphQL API: schema assembly, execution, and the one pass that gives every error its
//! Strapi code.

pub mod api_tokens;
pub mod auth;
pub mod conditions;
pub mod directives;
mod errors;
pub mod filters;
pub mod guard;
pub mod pagination;
pub mod providers;
pub mod roles;
pub mod settings;
pub mod types;
pub mod users;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_graphql::{EmptySubscription, MergedObject, ObjectType, Schema, SimpleObject};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

use crate::app::AppState;
use crate::auth::Principal;

/// The root query type: one member per area, and last the library user's own (`Q`).
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct Query<Q: ObjectType + 'static>(
    auth::AuthQuery,
    roles::RolesQuery,
    users::UsersQuery,
    conditions::ConditionsQuery,
    settings::SettingsQuery,
    api_tokens::ApiTokensQuery,
    providers::ProvidersQuery,
    Q,
);

/// The root mutation type: one member per area, and last the library user's own (`M`).
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct Mutation<M: ObjectType + 'static>(
    auth::AuthMutation,
    roles::RolesMutation,
    users::UsersMutation,
    conditions::ConditionsMutation,
    settings::SettingsMutation,
    api_tokens::ApiTokensMutation,
    providers::ProvidersMutation,
    M,
);

/// No fields of one's own: the default extension of both root types.
#[derive(SimpleObject, Default)]
#[graphql(fake)]
pub struct NoExtension;

/// The schema with its type parameters erased, so HTTP handlers need not know them.
pub trait GraphqlSchema: Send + Sync + 'static {
    fn execute(&self, request: async_graphql::Request) -> BoxFuture<'_, async_graphql::Response>;
    fn sdl(&self) -> String;
}

impl<Q: ObjectType + 'static, M: ObjectType + 'static> GraphqlSchema
    for Schema<Query<Q>, Mutation<M>, EmptySubscription>
{
    fn execute(&self, request: async_graphql::Request) -> BoxFuture<'_, async_graphql::Response> {
        Box::pin(Schema::execute(self, request))
    }
    fn sdl(&self) -> String {
        Schema::sdl(self)
    }
}

/// The running schema.
pub type CastellanSchema = Arc<dyn GraphqlSchema>;

fn schema<Q: ObjectType + 'static, M: ObjectType + 'static>(
    query: Q,
    mutation: M,
    app: Option<AppState>,
) -> Schema<Query<Q>, Mutation<M>, EmptySubscription> {
    let q = Query(
        Default::default(),
        Default::default(),
        Default::default(),
        Default::default(),
        Default::default(),
        Default::default(),
        Default::default(),
        query,
    );
    let m = Mutation(
        Default::default(),
        Default::default(),
        Default::default(),
        Default::default(),
        Default::default(),
        Default::default(),
        Default::default(),
        mutation,
    );
    let limits = app
        .as_ref()
        .map(|a| a.config.graphql.clone())
        .unwrap_or_default();
    let mut builder = Schema::build(q, m, EmptySubscription)
        .extension(guard::PolicyGuard)
        // The standard introspection query (GraphiQL, code generators) needs depth 15.
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity);
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    if let Some(app) = app {
        builder = builder.data(app);
    }
    builder.finish()
}

/// Builds the schema with the library user's own query and mutation objects (or
/// [`NoExtension`]). The app travels as schema data; the principal as request data.
pub fn build_schema<Q: ObjectType + 'static, M: ObjectType + 'static>(
    app: AppState,
    query: Q,
    mutation: M,
) -> CastellanSchema {
    Arc::new(schema(query, mutation, Some(app)))
}

/// The app and the principal of the request, in a resolver; for a resolver of a library user,
/// `app.policy.access(principal, action)` then gives the grant and its conditions.
pub use auth::request;

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

/// The printed SDL of Castellan's own schema, as committed in `schema.graphql`. Needs no database.
pub fn sdl() -> String {
    schema(NoExtension, NoExtension, None).sdl()
}
