//! Enforcement of the field requirements: before any field resolves, the policy is asked
//! whether the principal meets the requirement the field declares. A root field that declares
//! nothing is refused: access is never granted by omission.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, NextValidation, ResolveInfo,
};
use async_graphql::{
    PathSegment, QueryPathSegment, ServerError, ServerResult, ValidationResult, Value,
};
use serde_json::json;

use crate::app::AppState;
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::policy::FieldRule;

/// The schema extension that guards every field.
pub struct PolicyGuard;

impl ExtensionFactory for PolicyGuard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PolicyGuard)
    }
}

#[async_trait::async_trait]
impl Extension for PolicyGuard {
    /// A document validated before for the same operation is not validated again (see
    /// [`super::fast_path::documents`]). The hook lives here because an extension of its own would cost
    /// every resolved field a call, and the schema without the guard has no extension.
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        super::fast_path::documents::validate(ctx, next).await
    }

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
    match catalogue.rule(info.parent_type, info.name) {
        FieldRule::Open => Ok(()),
        FieldRule::Needs(requirement) => app.policy.authorize(principal, requirement).map(|_| ()),
        FieldRule::Undeclared => Err(AppError::Forbidden {
            details: json!({
                "reason": format!("{}.{} declares no action", info.parent_type, info.name)
            }),
        }),
    }
}

pub(super) trait WithSource {
    fn with_source(self, source: AppError) -> Self;
}

impl WithSource for ServerError {
    fn with_source(mut self, source: AppError) -> Self {
        self.source = Some(Arc::new(source));
        self
    }
}

