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

use async_graphql::parser::types::{ExecutableDocument, OperationType};
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
    /// Runs `request`; without the field guard only when [`guard::clears`] said so.
    fn execute(
        &self,
        request: async_graphql::Request,
        cleared: bool,
    ) -> BoxFuture<'_, async_graphql::Response>;
    fn sdl(&self) -> String;
}

type RootedSchema<Q, M> = Schema<Query<Arc<Q>>, Mutation<Arc<M>>, EmptySubscription>;

/// One schema twice, over the same root objects: with the field guard, and without it for the
/// requests the guard was shown to clear before execution.
struct Schemas<Q: ObjectType + 'static, M: ObjectType + 'static> {
    guarded: RootedSchema<Q, M>,
    cleared: RootedSchema<Q, M>,
}

impl<Q: ObjectType + 'static, M: ObjectType + 'static> GraphqlSchema for Schemas<Q, M> {
    fn execute(
        &self,
        request: async_graphql::Request,
        cleared: bool,
    ) -> BoxFuture<'_, async_graphql::Response> {
        let schema = if cleared {
            &self.cleared
        } else {
            &self.guarded
        };
        Box::pin(schema.execute(request))
    }
    fn sdl(&self) -> String {
        self.guarded.sdl()
    }
}

/// The running schema.
pub type CastellanSchema = Arc<dyn GraphqlSchema>;

fn schema<Q: ObjectType + 'static, M: ObjectType + 'static>(
    query: Arc<Q>,
    mutation: Arc<M>,
    app: Option<AppState>,
    guarded: bool,
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
        // The standard introspection query (GraphiQL, code generators) needs depth 15.
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity);
    if guarded {
        builder = builder.extension(guard::PolicyGuard);
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
    Arc::new(Schemas {
        guarded: schema(query.clone(), mutation.clone(), Some(app.clone()), true),
        cleared: schema(query, mutation, Some(app), false),
    })
}

/// The app and the principal of the request, in a resolver; for a resolver of a library user,
/// `app.policy.access(principal, action)` then gives the grant and its conditions.
pub use auth::request;

/// Executes one GraphQL request for `principal` and gives each error its code.
pub async fn execute(
    schema: &CastellanSchema,
    app: &AppState,
    mut request: async_graphql::Request,
    principal: Principal,
) -> async_graphql::Response {
    DOCUMENTS.prepare(&mut request);
    let operation = request.operation_name.take();
    let cleared = request
        .parsed_query()
        .is_ok_and(|document| guard::clears(document, operation.as_deref(), app, &principal));
    request.operation_name = operation;
    let mut response = schema.execute(request.data(principal), cleared).await;
    errors::finish(&mut response, app.catalogue());
    response
}

/// The parsed documents of the query texts seen most recently.
///
/// Front ends send the same few query texts over and over, and parsing one was a third of the
/// instructions of a refused query (callgrind: ~60,000 of ~180,000). A request whose text was
/// parsed before gets a copy of that document; the depth, complexity and validation checks
/// still run on every request, as they do on a freshly parsed one. Kept are only texts of at
/// most 4 KB that parse and hold no mutation (whose texts may carry passwords), 64 of them.
struct Documents {
    parsed: std::sync::Mutex<std::collections::HashMap<String, Arc<ExecutableDocument>>>,
}

static DOCUMENTS: std::sync::LazyLock<Documents> = std::sync::LazyLock::new(|| Documents {
    parsed: Default::default(),
});

impl Documents {
    /// How many documents are kept; the cache starts again empty when it is full.
    const CAPACITY: usize = 64;
    /// The longest query text kept, in bytes.
    const LONGEST: usize = 4096;

    /// Gives `request` the document of its text when that text was parsed before, and keeps
    /// the document of a new text that parses.
    fn prepare(&self, request: &mut async_graphql::Request) {
        if request.query.len() > Self::LONGEST {
            return;
        }
        let lock = || {
            self.parsed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let found = lock().get(&request.query).cloned();
        if let Some(document) = found {
            // Copied outside the lock.
            request.set_parsed_query(ExecutableDocument::clone(&document));
            return;
        }
        // A text that does not parse is left to `execute`, which reports the error.
        let Ok(document) = request.parsed_query() else {
            return;
        };
        let mutation = document
            .operations
            .iter()
            .any(|(_, operation)| operation.node.ty == OperationType::Mutation);
        if mutation {
            return;
        }
        let document = Arc::new(document.clone());
        let mut parsed = lock();
        if parsed.len() >= Self::CAPACITY {
            parsed.clear();
        }
        parsed.insert(request.query.clone(), document);
    }
}

/// The printed SDL of Castellan's own schema, as committed in `schema.graphql`. Needs no database.
pub fn sdl() -> String {
    schema(Arc::new(NoExtension), Arc::new(NoExtension), None, true).sdl()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(documents: &Documents, query: &str) -> bool {
        documents.parsed.lock().unwrap().contains_key(query)
    }

    #[test]
    fn documents_keep_parsed_short_texts_and_stay_bounded() {
        let documents = Documents {
            parsed: Default::default(),
        };
        let mut request = async_graphql::Request::new("{ me { id } }");
        documents.prepare(&mut request);
        assert!(kept(&documents, "{ me { id } }"));
        // The copy a request gets is the document its own text parses to.
        let mut again = async_graphql::Request::new("{ me { id } }");
        documents.prepare(&mut again);
        let mut fresh = async_graphql::Request::new("{ me { id } }");
        assert_eq!(
            format!("{:?}", again.parsed_query().unwrap()),
            format!("{:?}", fresh.parsed_query().unwrap())
        );

        let login =
            r#"mutation { login(input: {identifier: "ann", password: "Secret123"}) { jwt } }"#;
        for text in [
            "{ me { id } ",
            &format!("{{ me {{ id }} }} #{}", "x".repeat(5_000)),
            login,
        ] {
            documents.prepare(&mut async_graphql::Request::new(text));
            assert!(!kept(&documents, text), "{:.20}", text);
        }
        for n in 0..Documents::CAPACITY * 2 {
            documents.prepare(&mut async_graphql::Request::new(format!(
                "{{ a{n}: me {{ id }} }}"
            )));
            assert!(documents.parsed.lock().unwrap().len() <= Documents::CAPACITY);
        }
    }
}
