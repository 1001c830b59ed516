//! User administration: what an administrator (or a grant's conditions) may do to accounts.

use std::sync::Arc;

use serde_json::{Value, json};
use tracing::instrument;

use crate::app::App;
use crate::db::models::{NewUser, Role, User, UserChanges, now};
use crate::db::sql::SqlWhere;
use crate::error::{AppError, AppResult, FieldError};
use crate::filter::SqlFilter;
use crate::policy::subject::user_document;
use crate::policy::{Access, Scope};
use crate::service::account::hash_code;
use crate::service::listing::Page;
use crate::service::validate::{
    attributes_problem, check_declared_attributes, check_password, is_valid_email, unique_attribute,
};

/// What `createUsersPermissionsUser` and `updateUsersPermissionsUser` receive.
#[derive(Debug, Default, Clone)]
pub struct UserData {
    pub username: Option<String>,
    pub email: Option<String>,
    pub provider: Option<String>,
    pub password: Option<String>,
    pub reset_password_token: Option<String>,
    pub confirmation_token: Option<String>,
    pub confirmed: Option<bool>,
    pub blocked: Option<bool>,
    /// The numeric id or the documentId of the role.
    pub role: Option<String>,
    pub attributes: Option<Value>,
}

impl UserData {
    /// The names of the fields this change writes, as the GraphQL input names them.
    pub fn fields(&self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        let mut add = |present: bool, name| {
            if present {
                fields.push(name);
            }
        };
        add(self.username.is_some(), "username");
        add(self.email.is_some(), "email");
        add(self.provider.is_some(), "provider");
        add(self.password.is_some(), "password");
        add(self.reset_password_token.is_some(), "resetPasswordToken");
        add(self.confirmation_token.is_some(), "confirmationToken");
        add(self.confirmed.is_some(), "confirmed");
        add(self.blocked.is_some(), "blocked");
        add(self.role.is_some(), "role");
        add(self.attributes.is_some(), "attributes");
        fields
    }
}

/// One page of users (with their roles) matching `filter`, for display: without their
/// secrets (see [`User::page_for_display`]). `scope` is the SQL of the grant's conditions,
/// when it has some; when that SQL is not exact (see [`SqlFilter::residue`]), the users it
/// selects are read in order, batch after batch, and the conditions decide in memory.
pub async fn list(
    app: &App,
    filter: &SqlWhere,
    scope: Option<&SqlFilter>,
    order: &crate::db::sql::SqlOrder,
    page: Page,
) -> AppResult<Vec<(User, Arc<Role>)>> {
    let mut conn = app.db.conn().await?;
    let Some(residue) = scope.and_then(SqlFilter::residue) else {
        let users =
            User::page_for_display(&mut conn, filter, scope, order, page.offset, page.limit)
                .await?;
        return with_roles(app, &mut conn, users).await;
    };
    let wanted = usize::try_from(page.offset.saturating_add(page.limit)).unwrap_or(usize::MAX);
    let skip = usize::try_from(page.offset).unwrap_or(usize::MAX);
    let mut found = Vec::new();
    let mut offset = 0;
    loop {
        let users =
            User::page_for_display(&mut conn, filter, scope, order, offset, SCAN_BATCH).await?;
        let last = (users.len() as i64) < SCAN_BATCH;
        offset += SCAN_BATCH;
        for (user, role) in with_roles(app, &mut conn, users).await? {
            if found.len() < wanted && residue.matches(&user_document(&user, &role)) {
                found.push((user, role));
            }
        }
        if last || found.len() >= wanted {
            break;
        }
    }
    Ok(found.into_iter().skip(skip).collect())
}

/// How many users a scan (see [`list`]) reads at once.
const SCAN_BATCH: i64 = 500;

/// The users with their roles: from the policy's snapshot, or read once each for roles made
/// through another instance whose news has not arrived yet.
async fn with_roles(
    app: &App,
    conn: &mut crate::db::Conn,
    users: Vec<User>,
) -> AppResult<Vec<(User, Arc<Role>)>> {
    let mut found = Vec::with_capacity(users.len());
    let mut unheard: Vec<Arc<Role>> = Vec::new();
    for user in users {
        let role = match app.policy.role(user.role_id) {
            Some(role) => role,
            None => match unheard.iter().find(|role| role.id == user.role_id) {
                Some(role) => role.clone(),
                None => {
                    let role = Role::find(conn, user.role_id).await?.ok_or_else(|| {
                        AppError::internal(anyhow::anyhow!("user {} has no role", user.id))
                    })?;
                    unheard.push(Arc::new(role));
                    unheard[unheard.len() - 1].clone()
                }
            },
        };
        found.push((user, role));
    }
    Ok(found)
}

/// How many users match `filter` within `scope`: the total of a page's info. A scope whose SQL
/// is not exact counts the users that pass it in memory (a scan, as for [`list`]).
pub async fn count(app: &App, filter: &SqlWhere, scope: Option<&SqlFilter>) -> AppResult<i64> {
    let mut conn = app.db.conn().await?;
    let Some(residue) = scope.and_then(SqlFilter::residue) else {
        return Ok(User::count(&mut conn, filter, scope).await?);
    };
    let order = crate::db::fields::USERS.order_by(&[])?;
    let mut total = 0;
    let mut offset = 0;
    loop {
        let users =
            User::page_for_display(&mut conn, filter, scope, &order, offset, SCAN_BATCH).await?;
        let last = (users.len() as i64) < SCAN_BATCH;
        offset += SCAN_BATCH;
        for (user, role) in with_roles(app, &mut conn, users).await? {
            if residue.matches(&user_document(&user, &role)) {
                total += 1;
            }
        }
        if last {
            return Ok(total);
        }
    }
}

/// The SQL of a list of users: `filter` (the request's) within the grant's conditions, as
/// both transports select users. With no condition that holds, nothing; with conditions,
/// their SQL as the scope (see [`list`] and [`count`]).
pub fn scoped_filter(
    app: &App,
    access: &Access,
    filter: SqlWhere,
) -> AppResult<(SqlWhere, Option<SqlFilter>)> {
    let dialect = app.db.backend();
    match &access.scope {
        Scope::All => Ok((filter, None)),
        Scope::Nothing => Ok((SqlWhere::any(dialect, &[]), None)),
        Scope::Only(conditions) => Ok((
            filter,
            Some(
                app.policy
                    .user_sql
                    .to_sql(conditions, dialect)
                    .map_err(AppError::internal)?,
            ),
        )),
    }
}

/// A user by numeric id or documentId.
pub async fn find(app: &App, id: &str) -> AppResult<Option<(User, Role)>> {
    let mut conn = app.db.conn().await?;
    if let Ok(numeric) = id.parse::<i32>()
        && let Some(found) = User::find_with_role(&mut conn, numeric).await?
    {
        return Ok(Some(found));
    }
    Ok(User::find_by_document_id(&mut conn, id).await?)
}

async fn resolve_role(app: &App, id: &str) -> AppResult<Role> {
    crate::service::roles::find(app, id)
        .await?
        .ok_or_else(|| AppError::validation(format!("role `{id}` does not exist")))
}

/// The user a change would produce, before it is written: for checking conditions on it.
pub async fn preview(
    app: &App,
    current: Option<(&User, &Role)>,
    data: &UserData,
) -> AppResult<Value> {
    let mut doc = match current {
        Some((user, role)) => user_document(user, role),
        None => {
            json!({ "id": null, "documentId": null, "provider": "local", "confirmed": false, "blocked": false, "attributes": {} })
        }
    };
    let set = |doc: &mut Value, key: &str, value: Value| doc[key] = value;
    if let Some(v) = &data.username {
        set(&mut doc, "username", json!(v));
    }
    if let Some(v) = &data.email {
        set(&mut doc, "email", json!(v.to_lowercase()));
    }
    if let Some(v) = &data.provider {
        set(&mut doc, "provider", json!(v));
    }
    if let Some(v) = data.confirmed {
        set(&mut doc, "confirmed", json!(v));
    }
    if let Some(v) = data.blocked {
        set(&mut doc, "blocked", json!(v));
    }
    if let Some(v) = &data.attributes {
        set(&mut doc, "attributes", v.clone());
    }
    if let Some(id) = &data.role {
        let role = resolve_role(app, id).await?;
        set(
            &mut doc,
            "role",
            json!({ "id": role.id, "documentId": role.document_id, "name": role.name, "type": role.role_type }),
        );
    }
    Ok(doc)
}

/// Checks a user's fields as Strapi does in two steps: the request's shape first (required
/// fields, a valid email: a `ValidationError`), then the stored attributes' rules (lengths).
/// Strapi's create answers the second step with an `ApplicationError` carrying the first
/// message (its user service's error, re-thrown), its update with the `ValidationError`.
fn check(data: &UserData, creating: bool) -> AppResult<()> {
    let mut errors = Vec::new();
    let mut lengths = Vec::new();
    let echo = |s: &str| Some(Value::String(s.to_string()));
    match data.username.as_deref() {
        None if creating => errors.push(FieldError {
            path: "username",
            message: "username is a required field".into(),
            value: None,
        }),
        Some(u) if u.chars().count() < 3 => lengths.push(FieldError {
            path: "username",
            message: "username must be at least 3 characters".into(),
            value: echo(u),
        }),
        _ => {}
    }
    match data.email.as_deref() {
        None if creating => errors.push(FieldError {
            path: "email",
            message: "email is a required field".into(),
            value: None,
        }),
        Some(e) if !is_valid_email(e) => errors.push(FieldError {
            path: "email",
            message: "email must be a valid email".into(),
            value: echo(e),
        }),
        _ => {}
    }
    match data.password.as_deref() {
        None if creating => errors.push(FieldError {
            path: "password",
            message: "password is a required field".into(),
            value: None,
        }),
        Some(p) => check_password("password", p, &mut lengths),
        None => {}
    }
    if creating && data.role.is_none() {
        errors.push(FieldError {
            path: "role",
            message: "role is a required field".into(),
            value: None,
        });
    }
    if let Some(problem) = data.attributes.as_ref().and_then(attributes_problem) {
        errors.push(FieldError {
            path: "attributes",
            message: problem.into(),
            value: None,
        });
    }
    if !errors.is_empty() || !creating {
        errors.extend(lengths);
    } else if let Some(first) = lengths.into_iter().next() {
        return Err(AppError::application(first.message));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::invalid_fields(errors))
    }
}

/// Which unique field a violation is about, from the constraint or the message.
fn unique_error(error: diesel::result::Error) -> AppError {
    unique_error_of(error, false)
}

/// [`unique_error`] for a creation, which Strapi answers with an `ApplicationError`.
fn unique_error_on_create(error: diesel::result::Error) -> AppError {
    unique_error_of(error, true)
}

fn unique_error_of(error: diesel::result::Error, creating: bool) -> AppError {
    use diesel::result::{DatabaseErrorKind, Error};
    if let Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) = &error {
        let place = format!(
            "{} {}",
            info.constraint_name().unwrap_or(""),
            info.message()
        );
        if place.contains("username") {
            if creating {
                return AppError::application("This attribute must be unique");
            }
            return AppError::Validation {
                message: "This attribute must be unique".into(),
                details: json!({ "errors": [{ "path": ["username"], "message": "This attribute must be unique", "name": "ValidationError" }] }),
            };
        }
        if place.contains("email") {
            return AppError::application("Email already taken");
        }
    }
    error.into()
}

/// Creates a user under `access`, the grant of `user.create` the guard checked: only the
/// grant's fields, and a user within its conditions (without a role, only under a grant without
/// conditions, since the default role was never checked against them).
pub async fn create(app: &App, access: &Access, mut data: UserData) -> AppResult<(User, Role)> {
    access.check_fields(&data.fields())?;
    data.attributes = Some(check_declared_attributes(
        &app.attributes,
        data.attributes.take().unwrap_or_else(|| json!({})),
    )?);
    if data.role.is_some() && !access.allows(&preview(app, None, &data).await?) {
        return Err(access.outside());
    }
    if data.role.is_none() && !access.may_create_without_role() {
        return Err(access.outside());
    }
    insert(app, data).await
}

/// Creates a user: password hashed, tokens stored hashed.
#[instrument(skip_all)]
async fn insert(app: &App, data: UserData) -> AppResult<(User, Role)> {
    check(&data, true)?;
    let role = resolve_role(app, data.role.as_deref().unwrap_or_default()).await?;
    let email = data.email.as_deref().unwrap_or_default().to_lowercase();
    let hash = app
        .passwords
        .hash(data.password.as_deref().unwrap_or_default())
        .await?;
    let attributes = data
        .attributes
        .as_ref()
        .map_or_else(|| "{}".to_string(), Value::to_string);
    let reset = data.reset_password_token.as_deref().map(hash_code);
    let confirmation = data.confirmation_token.as_deref().map(hash_code);
    let document_id = crate::util::new_document_id();
    let mut conn = app.db.conn().await?;
    let user = NewUser::new(
        &document_id,
        data.username.as_deref().unwrap_or_default(),
        &email,
        role.id,
        app.settings.advanced().unique_email,
    )
    .provider(data.provider.as_deref().unwrap_or("local"))
    .password(Some(&hash))
    .confirmation_token(confirmation.as_deref())
    .confirmed(data.confirmed.unwrap_or(false))
    .blocked(data.blocked.unwrap_or(false))
    .attributes(&attributes)
    .insert(&mut conn)
    .await;
    let user = unique_attribute(&app.attributes, user)?.map_err(unique_error_on_create)?;
    if let Some(reset) = reset {
        let expires = now()
            + chrono::Duration::from_std(app.config.reset_code_lifetime)
                .map_err(AppError::internal)?;
        User::set_reset_code(&mut conn, user.id, &reset, expires).await?;
    }
    tracing::info!(user = user.id, "user created by an administrator");
    Ok((user, role))
}

/// Changes the user `id` (numeric id or documentId) under `access`, the grant of `user.update`
/// the guard checked: the user must be within its conditions before and after the change, and
/// only the grant's fields may change.
pub async fn update(app: &App, access: &Access, id: &str, mut data: UserData) -> AppResult<(User, Role)> {
    let (user, role) = find(app, id)
        .await?
        .ok_or_else(|| AppError::NotFound("User not found".into()))?;
    if !access.allows(&user_document(&user, &role)) {
        return Err(access.outside());
    }
    access.check_fields(&data.fields())?;
    if let Some(mut attributes) = data.attributes.take() {
        // Answers never show private attributes, so a client writing back the attributes it
        // read leaves them out: they keep their stored values unless named (`null` clears).
        if let (Value::Object(new), Ok(Value::Object(stored))) = (
            &mut attributes,
            serde_json::from_str::<Value>(&user.attributes),
        ) {
            for (key, value) in stored {
                if app.attributes.is_private(&key) && !new.contains_key(&key) {
                    new.insert(key, value);
                }
            }
        }
        check(
            &UserData {
                attributes: Some(attributes.clone()),
                ..UserData::default()
            },
            false,
        )?;
        data.attributes = Some(check_declared_attributes(&app.attributes, attributes)?);
    }
    if !access.allows(&preview(app, Some((&user, &role)), &data).await?) {
        return Err(access.outside());
    }
    apply_changes(app, &user, data).await
}

/// Changes a user. A new password ends the user's earlier sessions.
#[instrument(skip_all)]
async fn apply_changes(app: &App, user: &User, data: UserData) -> AppResult<(User, Role)> {
    check(&data, false)?;
    let role = match &data.role {
        Some(id) => Some(resolve_role(app, id).await?),
        None => None,
    };
    let email = data.email.as_deref().map(str::to_lowercase);
    let hash = match data.password.as_deref() {
        Some(password) => Some(app.passwords.hash(password).await?),
        None => None,
    };
    let attributes = data.attributes.as_ref().map(Value::to_string);
    let reset = data.reset_password_token.as_deref().map(hash_code);
    let confirmation = data.confirmation_token.as_deref().map(hash_code);
    let unique = app.settings.advanced().unique_email;
    let changes = UserChanges {
        username: data.username.as_deref(),
        email: email.as_deref(),
        unique_email: email.as_deref().map(|e| unique.then_some(e)),
        provider: data.provider.as_deref(),
        password: hash.as_deref(),
        reset_password_token: reset.as_deref(),
        reset_password_expires_at: match reset {
            Some(_) => Some(
                now()
                    + chrono::Duration::from_std(app.config.reset_code_lifetime)
                        .map_err(AppError::internal)?,
            ),
            None => None,
        },
        confirmation_token: confirmation.as_deref(),
        confirmed: data.confirmed,
        blocked: data.blocked,
        role_id: role.as_ref().map(|r| r.id),
        attributes: attributes.as_deref(),
        tokens_valid_after: hash.as_ref().map(|_| chrono::Utc::now().timestamp() + 1),
        updated_at: Some(now()),
    };
    let mut conn = app.db.conn().await?;
    let updated = User::update(&mut conn, user.id, &changes).await;
    let updated = unique_attribute(&app.attributes, updated)?
        .map_err(unique_error)?
        .ok_or_else(|| AppError::NotFound("User not found".into()))?;
    let role = match role {
        Some(role) => role,
        None => Role::find(&mut conn, updated.role_id)
            .await?
            .ok_or_else(|| {
                AppError::internal(anyhow::anyhow!("user {} has no role", updated.id))
            })?,
    };
    app.changed(crate::changes::Change::User(updated.id))
        .await?;
    // A block, or a new password, ends every session of the user.
    if data.blocked == Some(true) || hash.is_some() {
        crate::service::session::end_all(app, updated.id).await?;
    }
    tracing::info!(user = updated.id, fields = ?data.fields(), "user updated by an administrator");
    Ok((updated, role))
}

/// Ends every session of the user `id` (numeric id or documentId) under `access`, the grant
/// of `user.update` the guard checked: only a user within its conditions. How many ended.
#[instrument(skip_all)]
pub async fn end_sessions(app: &App, access: &Access, id: &str) -> AppResult<usize> {
    let (user, role) = find(app, id)
        .await?
        .ok_or_else(|| AppError::NotFound("User not found".into()))?;
    if !access.allows(&user_document(&user, &role)) {
        return Err(access.outside());
    }
    let ended = crate::service::session::end_all(app, user.id).await?;
    tracing::info!(user = user.id, sessions = ended, "sessions ended by an administrator");
    Ok(ended)
}

/// Deletes the user `id` (numeric id or documentId) under `access`, the grant of
/// `user.destroy` the guard checked: only a user within its conditions. The user as they were.
#[instrument(skip_all)]
pub async fn delete(app: &App, access: &Access, id: &str) -> AppResult<(User, Role)> {
    let (user, role) = find(app, id)
        .await?
        .ok_or_else(|| AppError::NotFound("User not found".into()))?;
    if !access.allows(&user_document(&user, &role)) {
        return Err(access.outside());
    }
    remove(app, &user).await?;
    Ok((user, role))
}

async fn remove(app: &App, user: &User) -> AppResult<()> {
    let mut conn = app.db.conn().await?;
    User::delete(&mut conn, user.id).await?;
    app.changed(crate::changes::Change::User(user.id)).await?;
    tracing::info!(user = user.id, "user deleted by an administrator");
    Ok(())
}
