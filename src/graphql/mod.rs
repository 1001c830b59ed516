//! The GraphQL API: schema assembly, execution, and the one pass that gives every error its
//! Strapi code.

pub mod api_tokens;
pub mod auth;
pub mod bounds;
pub mod conditions;
pub mod directives;
mod errors;
pub mod fast_path;
pub mod filters;
pub mod guard;
pub mod pagination;
pub mod permissions;
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
    /// Runs `request` on the variant [`guard::route`] chose.
    fn execute(
        &self,
        request: async_graphql::Request,
        route: fast_path::Route,
    ) -> BoxFuture<'_, async_graphql::Response>;
    /// The parsed documents of the query texts this schema saw most recently.
    fn documents(&self) -> &fast_path::documents::Documents;
    fn sdl(&self) -> String;
}

type RootedSchema<Q, M> = Schema<Query<Arc<Q>>, Mutation<Arc<M>>, EmptySubscription>;

/// One schema three times, over the same root objects: with the field guard, and without it
/// for the requests the guard was shown to clear before execution, one variant per
/// [`fast_path::Route`].
struct Schemas<Q: ObjectType + 'static, M: ObjectType + 'static> {
    guarded: RootedSchema<Q, M>,
    cleared: RootedSchema<Q, M>,
    cleared_lists: RootedSchema<Q, M>,
    documents: fast_path::documents::Documents,
}

impl<Q: ObjectType + 'static, M: ObjectType + 'static> GraphqlSchema for Schemas<Q, M> {
    fn execute(
        &self,
        request: async_graphql::Request,
        route: fast_path::Route,
    ) -> BoxFuture<'_, async_graphql::Response> {
        let schema = match route {
            fast_path::Route::Guarded => &self.guarded,
            fast_path::Route::Cleared { lists: false } => &self.cleared,
            fast_path::Route::Cleared { lists: true } => &self.cleared_lists,
        };
        Box::pin(schema.execute(request))
    }
    fn documents(&self) -> &fast_path::documents::Documents {
        &self.documents
    }
    fn sdl(&self) -> String {
        self.guarded.sdl_with_options(sdl_options())
    }
}

/// The running schema.
pub type CastellanSchema = Arc<dyn GraphqlSchema>;

fn schema<Q: ObjectType + 'static, M: ObjectType + 'static>(
    query: Arc<Q>,
    mutation: Arc<M>,
    app: Option<AppState>,
    route: fast_path::Route,
) -> RootedSchema<Q, M> {
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
        .override_output_type_description::<chrono::DateTime<chrono::Utc>>(
            types::DATE_TIME_DESCRIPTION,
        )
        // The standard introspection query (GraphiQL, code generators) needs depth 15.
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity);
    match route {
        fast_path::Route::Guarded => builder = builder.extension(guard::PolicyGuard),
        fast_path::Route::Cleared { lists: false } => {
            builder = builder.extension(fast_path::documents::RememberValidations)
        }
        fast_path::Route::Cleared { lists: true } => {}
    }
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
    let (query, mutation) = (Arc::new(query), Arc::new(mutation));
    let variant = |route| schema(query.clone(), mutation.clone(), Some(app.clone()), route);
    Arc::new(Schemas {
        guarded: variant(fast_path::Route::Guarded),
        cleared: variant(fast_path::Route::Cleared { lists: false }),
        cleared_lists: variant(fast_path::Route::Cleared { lists: true }),
        documents: Default::default(),
    })
}

/// The app and the principal of the request, in a resolver; for a resolver of a library user,
/// `app.policy.access(principal, action)` then gives the grant and its conditions.
pub use auth::{access, request};

/// Executes one GraphQL request for `principal` and gives each error its code.
pub async fn execute(
    schema: &CastellanSchema,
    app: &AppState,
    request: async_graphql::Request,
    principal: Principal,
    session: crate::service::session::RequestSession,
) -> async_graphql::Response {
    if let Err(error) = bounds::check(&request, app.config.graphql.max_nesting) {
        use guard::WithSource as _;
        let mut response = async_graphql::Response::from_errors(vec![
            async_graphql::ServerError::new(error.to_string(), None).with_source(error),
        ]);
        errors::finish(&mut response, app.catalogue());
        return response;
    }
    let mut response = fast_path::run(schema, app, request, principal, session).await;
    errors::finish(&mut response, app.catalogue());
    response
}

/// The printed SDL of Castellan's own schema, as committed in `schema.graphql`. Needs no database.
pub fn sdl() -> String {
    schema(
        Arc::new(NoExtension),
        Arc::new(NoExtension),
        None,
        fast_path::Route::Guarded,
    )
    .sdl_with_options(sdl_options())
}

/// How the SDL is printed: with each scalar's `@specifiedBy`, as introspection shows it.
fn sdl_options() -> async_graphql::SDLExportOptions {
    async_graphql::SDLExportOptions::new().include_specified_by()
}
