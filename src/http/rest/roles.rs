//! Roles and permissions over REST, in Strapi's permissions tree:
//! `{"plugin::users-permissions": {"controllers": {"user": {"me": {"enabled": true, "policy": ""}}}}}`,
//! with every action of the running server in it (a library user's too). Writing a tree enables
//! and disables actions: a grant that stays enabled keeps its conditions and fields, an enabled
//! action becomes a grant without conditions, and an action left out of the tree is taken away
//! (as in Strapi).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::{JsonBody, ok, role_json};
use crate::app::AppState;
use crate::db::fields::ROLES;
use crate::db::sql::SqlWhere;
use crate::error::{AppError, AppResult};
use crate::http::Authorized;
use crate::policy::actions::parse_action;
use crate::service::listing::Page;
use crate::service::roles::{self, GrantSpec, RoleData};

fn grant(authorized: &Authorized) -> AppResult<&crate::policy::Access> {
    authorized
        .access
        .as_ref()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("a role route was not given its grant")))
}

/// Every action the tree shows: the catalogue's, and those `held` (granted, perhaps kept from
/// an import though nothing binds them), by their place in the tree.
fn places(app: &AppState, held: &[String]) -> AppResult<BTreeMap<(String, String, String), String>> {
    let catalogue = app
        .catalogue()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("no catalogue")))?;
    let mut out = BTreeMap::new();
    for action in catalogue.entries().map(|e| e.action).chain(held.iter().cloned()) {
        if let Ok(parts) = parse_action(&action) {
            let place = (
                parts.namespace.to_string(),
                parts.controller.to_string(),
                parts.name.to_string(),
            );
            out.insert(place, action.clone());
        }
    }
    Ok(out)
}

/// Strapi's permissions tree: every action, enabled when `enabled` holds it.
fn tree(app: &AppState, enabled: &[String]) -> AppResult<Value> {
    let mut out = Map::new();
    for ((namespace, controller, name), action) in places(app, enabled)? {
        let controllers = out
            .entry(namespace)
            .or_insert_with(|| json!({ "controllers": {} }));
        let actions = &mut controllers["controllers"][controller.as_str()];
        if actions.is_null() {
            *actions = json!({});
        }
        actions[name.as_str()] = json!({ "enabled": enabled.contains(&action), "policy": "" });
    }
    Ok(Value::Object(out))
}

/// The actions a written tree enables, by their names.
fn enabled_actions(app: &AppState, tree: &Value, held: &[String]) -> AppResult<Vec<String>> {
    let bad = |what: &str| {
        AppError::validation(format!(
            "permissions must be Strapi's tree: {{\"<namespace>\": {{\"controllers\": {{\"<controller>\": {{\"<action>\": {{\"enabled\": true}}}}}}}}}} ({what})"
        ))
    };
    let places = places(app, held)?;
    let Value::Object(namespaces) = tree else {
        return Err(bad("not an object"));
    };
    let mut enabled = Vec::new();
    for (namespace, body) in namespaces {
        let Some(controllers) = body.get("controllers").and_then(Value::as_object) else {
            return Err(bad(&format!("`{namespace}` has no controllers")));
        };
        for (controller, names) in controllers {
            let Value::Object(names) = names else {
                return Err(bad(&format!("`{namespace}.{controller}` is not an object")));
            };
            for (name, state) in names {
                let on = match state.get("enabled") {
                    Some(Value::Bool(on)) => *on,
                    None | Some(Value::Null) => false,
                    Some(_) => return Err(bad(&format!("`{name}.enabled` is not a boolean"))),
                };
                if on {
                    let place = (namespace.clone(), controller.clone(), name.clone());
                    enabled.push(
                        places
                            .get(&place)
                            .cloned()
                            .unwrap_or_else(|| format!("{namespace}.{controller}.{name}")),
                    );
                }
            }
        }
    }
    Ok(enabled)
}

/// The grants a written tree leaves the role: those it held and keeps enabled, as they were
/// (conditions, fields); the others enabled, without conditions.
fn grants_of_tree(app: &AppState, role_id: Option<i32>, tree: &Value) -> AppResult<Vec<GrantSpec>> {
    let held = role_id.map(|id| app.policy.grants_of(id)).unwrap_or_default();
    let held_actions: Vec<String> = held.iter().map(|g| g.action.clone()).collect();
    Ok(enabled_actions(app, tree, &held_actions)?
        .into_iter()
        .map(|action| match held.iter().find(|g| g.action == action) {
            Some(kept) => GrantSpec {
                action,
                conditions: kept.conditions.clone(),
                fields: kept.fields.clone(),
            },
            None => GrantSpec {
                action,
                conditions: Vec::new(),
                fields: None,
            },
        })
        .collect())
}

fn role_data(app: &AppState, role_id: Option<i32>, body: &JsonBody) -> AppResult<RoleData> {
    if body.0.is_empty() {
        return Err(AppError::validation("Request body cannot be empty"));
    }
    // Other keys (`id`, `createdAt`, `nb_users`, … of a role read before) are ignored, as
    // Strapi ignores them, so that a role read with GET can be written back as it is.
    let grants = match body.0.get("permissions") {
        None | Some(Value::Null) => None,
        Some(tree) => Some(grants_of_tree(app, role_id, tree)?),
    };
    Ok(RoleData {
        name: body.optional_text("name")?,
        description: body.optional_text("description")?,
        role_type: body.optional_text("type")?,
        grants,
    })
}

/// `GET /api/users-permissions/roles`: `{roles: [… nb_users]}`, by name.
pub(in crate::http) async fn find(State(app): State<AppState>) -> Response {
    ok(async {
        let all = SqlWhere::all(app.db.backend(), &[]);
        let order = ROLES.order_by(&["name:asc".to_string()])?;
        let page = Page {
            offset: 0,
            limit: i64::from(i32::MAX),
        };
        let (found, _) = roles::list(&app, &all, &order, page).await?;
        let mut out = Vec::with_capacity(found.len());
        for role in &found {
            let mut value = role_json(role);
            value["nb_users"] = json!(roles::user_count(&app, role.id).await?);
            out.push(value);
        }
        Ok(json!({ "roles": out }))
    }
    .await)
}

/// `GET /api/users-permissions/roles/:id`: `{role: {…, permissions: <tree>}}`.
pub(in crate::http) async fn find_one(State(app): State<AppState>, Path(id): Path<String>) -> Response {
    ok(async {
        let role = roles::find(&app, &id)
            .await?
            .ok_or_else(|| AppError::NotFound("Role not found".into()))?;
        let held: Vec<String> = app
            .policy
            .grants_of(role.id)
            .iter()
            .map(|g| g.action.clone())
            .collect();
        let mut value = role_json(&role);
        value["permissions"] = tree(&app, &held)?;
        value["nb_users"] = json!(roles::user_count(&app, role.id).await?);
        Ok(json!({ "role": value }))
    }
    .await)
}

/// `POST /api/users-permissions/roles` `{name, description, type?, permissions}`: `{ok: true}`.
pub(in crate::http) async fn create(
    State(app): State<AppState>,
    authorized: Authorized,
    body: JsonBody,
) -> Response {
    ok(async {
        let data = role_data(&app, None, &body)?;
        roles::create(&app, grant(&authorized)?, data).await?;
        Ok(json!({ "ok": true }))
    }
    .await)
}

/// `PUT /api/users-permissions/roles/:id` `{name?, description?, permissions?}`: `{ok: true}`.
pub(in crate::http) async fn update(
    State(app): State<AppState>,
    authorized: Authorized,
    Path(id): Path<String>,
    body: JsonBody,
) -> Response {
    ok(async {
        let role = roles::find(&app, &id)
            .await?
            .ok_or_else(|| AppError::NotFound("Role not found".into()))?;
        let data = role_data(&app, Some(role.id), &body)?;
        roles::update(&app, grant(&authorized)?, &role.id.to_string(), data).await?;
        Ok(json!({ "ok": true }))
    }
    .await)
}

/// `DELETE /api/users-permissions/roles/:id`: `{ok: true}`.
pub(in crate::http) async fn destroy(
    State(app): State<AppState>,
    authorized: Authorized,
    Path(id): Path<String>,
) -> Response {
    ok(async {
        roles::delete(&app, grant(&authorized)?, &id).await?;
        Ok(json!({ "ok": true }))
    }
    .await)
}

/// `GET /api/users-permissions/permissions`: `{permissions: <tree>}` of every action the
/// server can grant, none enabled.
pub(in crate::http) async fn permissions(State(app): State<AppState>) -> Response {
    ok(tree(&app, &[]).map(|tree| json!({ "permissions": tree })))
}
