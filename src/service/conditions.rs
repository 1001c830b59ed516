//! Conditions created and deleted over GraphQL.

use serde_json::Value;
use tracing::instrument;

use crate::app::App;
use crate::changes::Change;
use crate::db::models::{Permission, StoredCondition, now};
use crate::error::{AppError, AppResult, OnUnique};
use crate::policy::conditions::is_valid_name;
use crate::policy::{Condition, ConditionSource};

/// Stores a new condition after checking its name and its query object.
#[instrument(skip_all, fields(condition = name))]
pub async fn create(
    app: &App,
    name: &str,
    display_name: &str,
    category: Option<&str>,
    query: &Value,
) -> AppResult<()> {
    if !is_valid_name(name) {
        return Err(AppError::validation(
            "name may only contain lower-case letters, digits and -",
        ));
    }
    if display_name.trim().is_empty() {
        return Err(AppError::validation("displayName is a required field"));
    }
    let taken = || AppError::application(format!("A condition named `{name}` already exists"));
    if app.policy.has_condition(name) {
        return Err(taken());
    }
    // The checks of every declared condition (castellan.toml and code use the same).
    let condition = Condition::query(name, display_name, query)
        .map_err(|e| AppError::validation(format!("query: {e}")))?;
    if let Some(path) = condition.private_attribute_path(&app.attributes) {
        return Err(AppError::validation(format!(
            "query: {}",
            crate::filter::FilterError::PrivateAttribute { path }
        )));
    }
    let mut conn = app.db.conn().await?;
    StoredCondition {
        name: name.to_string(),
        display_name: display_name.to_string(),
        category: category.map(str::to_string),
        query: query.to_string(),
        created_at: now(),
    }
    .insert(&mut conn)
    .await
    .on_unique(taken)?;
    app.changed(Change::Policy).await?;
    tracing::info!("condition created");
    Ok(())
}

/// Deletes a condition created over GraphQL that no grant uses.
#[instrument(skip_all, fields(condition = name))]
pub async fn delete(app: &App, name: &str) -> AppResult<()> {
    let condition = app
        .policy
        .conditions()
        .into_iter()
        .find(|c| c.name == name)
        .ok_or_else(|| AppError::NotFound("Condition not found".into()))?;
    if condition.source != ConditionSource::Database {
        let origin = match condition.source {
            ConditionSource::BuiltIn => "built in",
            ConditionSource::Config => "declared in castellan.toml",
            _ => "registered from code",
        };
        return Err(AppError::application(format!(
            "The condition `{name}` is {origin} and cannot be deleted here"
        )));
    }
    let mut conn = app.db.conn().await?;
    let users = Permission::count_using_condition(&mut conn, name).await?;
    if users > 0 {
        return Err(AppError::application(format!(
            "The condition `{name}` is still used by {users} grant{}; remove it from them first",
            if users == 1 { "" } else { "s" }
        )));
    }
    StoredCondition::delete(&mut conn, name).await?;
    app.changed(Change::Policy).await?;
    tracing::info!("condition deleted");
    Ok(())
}
