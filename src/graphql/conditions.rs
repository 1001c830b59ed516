//! Conditions, for administrators.

use async_graphql::{Context, InputObject, Object, Result, SimpleObject};
use super::types::Json;

use super::auth::request;
use super::directives;
use crate::policy::{Condition, actions};
use crate::service::conditions;

/// A named rule that narrows a grant: built in (`is-self`), declared in `castellan.toml`,
/// created here, or registered from code.
#[derive(Debug, SimpleObject)]
pub struct UsersPermissionsCondition {
    pub name: String,
    pub display_name: String,
    pub category: Option<String>,
    /// The namespace that registered it, e.g. `plugin::users-permissions` or `api::member-progress`.
    pub plugin: Option<String>,
    /// The query object, which may refer to the requesting user with `"$user.<path>"`; null for
    /// conditions written in code.
    pub query: Option<Json<serde_json::Value>>,
}

impl From<&Condition> for UsersPermissionsCondition {
    fn from(c: &Condition) -> Self {
        Self {
            name: c.name.clone(),
            display_name: c.display_name.clone(),
            category: c.category.clone(),
            plugin: c.plugin.clone(),
            query: c.declared.clone().map(Json),
        }
    }
}

#[derive(Debug, InputObject)]
pub struct UsersPermissionsConditionInput {
    /// Lower-case letters, digits and `-`; unique.
    pub name: String,
    pub display_name: String,
    pub category: Option<String>,
    /// A query object: `$or $and $eq $eqi $ne $in $nin $lt $lte $gt $gte $exists $elemMatch`,
    /// dotted paths, and `"$user.<path>"` for the requesting user.
    pub query: Json<serde_json::Value>,
}

#[derive(Debug, SimpleObject)]
pub struct UsersPermissionsDeleteConditionPayload {
    pub ok: bool,
}

#[derive(Default)]
pub struct ConditionsQuery;

#[Object]
impl ConditionsQuery {
    /// Every registered condition.
    #[graphql(directive = directives::action::apply(actions::CONDITION_FIND.into()))]
    async fn users_permissions_conditions(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<UsersPermissionsCondition>> {
        let (app, _) = request(ctx)?;
        Ok(app
            .policy
            .conditions()
            .iter()
            .map(|c| UsersPermissionsCondition::from(c.as_ref()))
            .collect())
    }
}

#[derive(Default)]
pub struct ConditionsMutation;

#[Object]
impl ConditionsMutation {
    /// Creates a condition; a malformed query object is refused now, never at request time.
    #[graphql(directive = directives::action::apply(actions::CONDITION_CREATE.into()))]
    async fn create_users_permissions_condition(
        &self,
        ctx: &Context<'_>,
        data: UsersPermissionsConditionInput,
    ) -> Result<UsersPermissionsCondition> {
        let (app, _) = request(ctx)?;
        conditions::create(
            app,
            &data.name,
            &data.display_name,
            data.category.as_deref(),
            &data.query,
        )
        .await?;
        let created = app
            .policy
            .conditions()
            .into_iter()
            .find(|c| c.name == data.name);
        Ok(created
            .map(|c| UsersPermissionsCondition::from(c.as_ref()))
            .unwrap_or(UsersPermissionsCondition {
                name: data.name,
                display_name: data.display_name,
                category: data.category,
                plugin: None,
                query: Some(data.query),
            }))
    }

    /// Deletes a condition created over GraphQL that no grant uses.
    #[graphql(directive = directives::action::apply(actions::CONDITION_DELETE.into()))]
    async fn delete_users_permissions_condition(
        &self,
        ctx: &Context<'_>,
        name: String,
    ) -> Result<UsersPermissionsDeleteConditionPayload> {
        let (app, _) = request(ctx)?;
        conditions::delete(app, &name).await?;
        Ok(UsersPermissionsDeleteConditionPayload { ok: true })
    }
}
