//! Users over REST, with Strapi's query parameters in its `qs` syntax. The `filters` parse into
//! the very filter input GraphQL takes, and the grant's conditions and fields apply as they do
//! there: lists and counts are filtered in SQL within the conditions, one user outside them is
//! refused, and fields outside the grant are left out.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{JsonBody, answer, ok, user_json};
use crate::app::AppState;
use crate::db::models::{Role, User};
use crate::error::{AppError, AppResult};
use crate::graphql::filters::UsersPermissionsUserFiltersInput;
use crate::db::fields::USERS;
use crate::graphql::users::read_fields;
use crate::http::Authorized;
use crate::policy::Access;
use crate::policy::subject::user_document;
use crate::service::listing::PageRequest;
use crate::service::users::{self, UserData};

/// Strapi's query parameters of the user routes.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct UserQuery {
    filters: Option<UsersPermissionsUserFiltersInput>,
    /// `sort=username:asc`, `sort=username:asc,id:desc` or `sort[0]=username:asc`.
    sort: Option<Value>,
    pagination: Option<PaginationQuery>,
    /// `fields[0]=username` or `fields=username,email`.
    fields: Option<Value>,
    /// `populate=role`, `populate=*`, `populate[0]=role` or `populate[role]=true`.
    populate: Option<Value>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PaginationQuery {
    page: Option<i64>,
    page_size: Option<i64>,
    start: Option<i64>,
    limit: Option<i64>,
    /// Accepted for Strapi's clients; a list answer is a bare array, with no count.
    #[expect(dead_code, reason = "accepted, not used: the answer is a bare array")]
    with_count: Option<bool>,
}

/// Nesting that `qs` queries may use: `filters[$and][0][$or][1][role][type][$eq]` is 7 deep.
const MAX_QUERY_DEPTH: usize = 16;

fn parse_query(raw: Option<&str>) -> AppResult<UserQuery> {
    let Some(raw) = raw.filter(|q| !q.is_empty()) else {
        return Ok(UserQuery::default());
    };
    serde_qs::Config::new()
        .max_depth(MAX_QUERY_DEPTH)
        // Brackets come percent-encoded from `qs.stringify` without `encodeValuesOnly`.
        .use_form_encoding(true)
        .deserialize_str::<UserQuery>(&implicit_eq(raw))
        .map_err(|e| AppError::validation(format!("Invalid query parameters: {e}")))
}

/// Strapi's implicit `$eq`: a filter whose last key names a field rather than an operator
/// (`filters[username]=alice`, `filters[$or][0][role][type]=public`) compares for equality,
/// as `filters[username][$eq]=alice` does. Other parameters pass unchanged.
fn implicit_eq(raw: &str) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        if names_a_field(&key) {
            out.append_pair(&format!("{key}[$eq]"), &value);
        } else {
            out.append_pair(&key, &value);
        }
    }
    out.finish()
}

/// Whether `key` is `filters[…]` ending in a field's name: not an operator (`$eq`), not a
/// list index (`$in][0`), not empty (`$in][]`).
fn names_a_field(key: &str) -> bool {
    let Some(path) = key.strip_prefix("filters[").and_then(|k| k.strip_suffix(']')) else {
        return false;
    };
    let last = path.rsplit("][").next().unwrap_or(path);
    !last.is_empty() && !last.starts_with('$') && !last.bytes().all(|b| b.is_ascii_digit())
}

/// The strings of `sort`, `fields` or `populate`: one string (comma-separated), a list, or
/// `qs`'s indexed object (`{"0": …, "1": …}`); `named_keys` takes an object's keys instead
/// (`populate[role]=true`).
fn strings(value: Option<&Value>, name: &str) -> AppResult<Vec<String>> {
    let bad = || AppError::validation(format!("Invalid {name} parameter"));
    match value {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(String::from).ok_or_else(bad))
            .collect(),
        Some(Value::Object(map)) => {
            let indexed = map.keys().all(|k| k.parse::<usize>().is_ok());
            if indexed {
                let mut entries: Vec<(usize, &Value)> = map
                    .iter()
                    .filter_map(|(k, v)| k.parse().ok().map(|i| (i, v)))
                    .collect();
                entries.sort_by_key(|(i, _)| *i);
                entries
                    .into_iter()
                    .map(|(_, v)| v.as_str().map(String::from).ok_or_else(bad))
                    .collect()
            } else if name == "populate" {
                Ok(map.keys().cloned().collect())
            } else {
                Err(bad())
            }
        }
        Some(_) => Err(bad()),
    }
}

/// Fields a request may name in `fields[]`.
const SELECTABLE: &[&str] = &[
    "id",
    "documentId",
    "username",
    "email",
    "provider",
    "confirmed",
    "blocked",
    "createdAt",
    "updatedAt",
    "attributes",
];

/// How the users of an answer are shown: the request's `fields` and `populate`, within the grant.
struct Shape {
    fields: Option<Vec<String>>,
    role: bool,
    /// The declared attributes: private ones are never shown.
    attributes: std::sync::Arc<crate::db::fields::UserAttributes>,
}

impl Shape {
    fn of(
        query: &UserQuery,
        attributes: &std::sync::Arc<crate::db::fields::UserAttributes>,
    ) -> AppResult<Self> {
        let fields = strings(query.fields.as_ref(), "fields")?;
        if let Some(bad) = fields.iter().find(|f| !SELECTABLE.contains(&f.as_str())) {
            return Err(AppError::validation(format!("Invalid key {bad} in fields")));
        }
        let mut role = false;
        for relation in strings(query.populate.as_ref(), "populate")? {
            match relation.as_str() {
                "*" | "role" => role = true,
                other => {
                    return Err(AppError::validation(format!(
                        "Invalid key {other} in populate: a user can populate `role` (or `*`)"
                    )));
                }
            }
        }
        Ok(Self {
            fields: (!fields.is_empty()).then_some(fields),
            role,
            attributes: attributes.clone(),
        })
    }

    fn show(&self, user: &User, role: &Role, access: &Access) -> Value {
        let keep = |name: &str| {
            access.may_use_field(name)
                && self
                    .fields
                    .as_ref()
                    .is_none_or(|f| name == "role" || f.iter().any(|f| f == name))
        };
        user_json(user, role, &keep, self.role, &self.attributes)
    }
}

fn grant(authorized: &Authorized) -> AppResult<&Access> {
    authorized
        .access
        .as_ref()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("a user route was not given its grant")))
}

/// The SQL filter of `filters` within the grant (see [`users::scoped_filter`]).
fn selection(
    app: &AppState,
    access: &Access,
    query: &UserQuery,
    sort: &[String],
) -> AppResult<(crate::db::sql::SqlWhere, Option<crate::filter::SqlFilter>)> {
    access.check_read_fields(read_fields(query.filters.as_ref(), sort).iter().map(String::as_str))?;
    // A filter through a role's users or grants would reveal rows beyond the grant's
    // conditions; REST does not offer it.
    if let Some(filters) = &query.filters {
        let reaches = crate::graphql::permissions::Reaches::of_user(filters);
        if reaches.users || reaches.permissions {
            return Err(AppError::validation(
                "filters[role][users] and filters[role][permissions] are not supported over REST",
            ));
        }
    }
    let filter = query
        .filters
        .clone()
        .unwrap_or_default()
        .compile(app.db.backend())?;
    users::scoped_filter(app, access, filter)
}

/// `GET /api/users/me`: the signed-in user, with their role.
pub(in crate::http) async fn me(State(app): State<AppState>, authorized: Authorized) -> Response {
    ok(match authorized.principal.user() {
        Some(signed_in) => Ok(user_json(&signed_in.user, &signed_in.role, &|_| true, true, &app.attributes)),
        None => Err(AppError::Unauthorized(crate::auth::principal::INVALID_TOKEN)),
    })
}

/// `GET /api/users?filters…&sort…&pagination…&fields…&populate…`: an array of users.
pub(in crate::http) async fn find(
    State(app): State<AppState>,
    authorized: Authorized,
    RawQuery(raw): RawQuery,
) -> Response {
    ok(async {
        let access = grant(&authorized)?;
        let query = parse_query(raw.as_deref())?;
        let shape = Shape::of(&query, &app.attributes)?;
        let sort = strings(query.sort.as_ref(), "sort")?;
        let pagination = query.pagination.as_ref();
        let page = PageRequest {
            page: pagination.and_then(|p| p.page),
            page_size: pagination.and_then(|p| p.page_size),
            start: pagination.and_then(|p| p.start),
            limit: pagination.and_then(|p| p.limit),
        }
        .resolve()?;
        let order = USERS.order_by_in(&sort, Some((&app.attributes, app.db.backend())))?;
        let (filter, scope) = selection(&app, access, &query, &sort)?;
        let found = users::list(&app, &filter, scope.as_ref(), &order, page).await?;
        Ok(Value::Array(
            found
                .iter()
                .map(|(user, role)| shape.show(user, role, access))
                .collect(),
        ))
    }
    .await)
}

/// `GET /api/users/count?filters…`: how many users the grant reaches, as a bare number.
pub(in crate::http) async fn count(
    State(app): State<AppState>,
    authorized: Authorized,
    RawQuery(raw): RawQuery,
) -> Response {
    ok(async {
        let access = grant(&authorized)?;
        let query = parse_query(raw.as_deref())?;
        let (filter, scope) = selection(&app, access, &query, &[])?;
        Ok(json!(users::count(&app, &filter, scope.as_ref()).await?))
    }
    .await)
}

fn not_found() -> AppError {
    AppError::NotFound("User not found".into())
}

/// `GET /api/users/:id` (numeric id or documentId): 403 outside the grant's conditions.
pub(in crate::http) async fn find_one(
    State(app): State<AppState>,
    authorized: Authorized,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    ok(async {
        let access = grant(&authorized)?;
        let query = parse_query(raw.as_deref())?;
        if query.filters.is_some() || query.sort.is_some() || query.pagination.is_some() {
            return Err(AppError::validation(
                "GET /api/users/:id takes only fields and populate",
            ));
        }
        let shape = Shape::of(&query, &app.attributes)?;
        let (user, role) = users::find(&app, &id).await?.ok_or_else(not_found)?;
        if !access.allows(&user_document(&user, &role)) {
            return Err(access.outside());
        }
        Ok(shape.show(&user, &role, access))
    }
    .await)
}

/// What `POST /api/users` and `PUT /api/users/:id` may write.
const WRITABLE: &[&str] = &[
    "username",
    "email",
    "provider",
    "password",
    "resetPasswordToken",
    "confirmationToken",
    "confirmed",
    "blocked",
    "role",
    "attributes",
];

fn user_data(body: &JsonBody) -> AppResult<UserData> {
    body.only(WRITABLE)?;
    let role = match body.0.get("role") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Object(o)) => match o.get("id").or_else(|| o.get("documentId")) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => return Err(AppError::validation("role must be an id or a documentId")),
        },
        Some(_) => return Err(AppError::validation("role must be an id or a documentId")),
    };
    Ok(UserData {
        username: body.optional_text("username")?,
        email: body.optional_text("email")?,
        provider: body.optional_text("provider")?,
        password: body.optional_text("password")?,
        reset_password_token: body.optional_text("resetPasswordToken")?,
        confirmation_token: body.optional_text("confirmationToken")?,
        confirmed: body.optional_bool("confirmed")?,
        blocked: body.optional_bool("blocked")?,
        role,
        attributes: body.0.get("attributes").filter(|v| !v.is_null()).cloned(),
    })
}

fn written(
    user: &User,
    role: &Role,
    access: &Access,
    attributes: &crate::db::fields::UserAttributes,
) -> Value {
    user_json(
        user,
        role,
        &|name| access.may_use_field(name),
        true,
        attributes,
    )
}

/// `POST /api/users`: 201 and the new user.
pub(in crate::http) async fn create(
    State(app): State<AppState>,
    authorized: Authorized,
    body: JsonBody,
) -> Response {
    answer(
        async {
            let access = grant(&authorized)?;
            let (user, role) = users::create(&app, access, user_data(&body)?).await?;
            Ok(written(&user, &role, access, &app.attributes))
        }
        .await,
        StatusCode::CREATED,
    )
}

/// `PUT /api/users/:id`: the changed user.
pub(in crate::http) async fn update(
    State(app): State<AppState>,
    authorized: Authorized,
    Path(id): Path<String>,
    body: JsonBody,
) -> Response {
    ok(async {
        let access = grant(&authorized)?;
        let (user, role) = users::update(&app, access, &id, user_data(&body)?).await?;
        Ok(written(&user, &role, access, &app.attributes))
    }
    .await)
}

/// `DELETE /api/users/:id`: the user as they were.
pub(in crate::http) async fn destroy(
    State(app): State<AppState>,
    authorized: Authorized,
    Path(id): Path<String>,
) -> Response {
    ok(async {
        let access = grant(&authorized)?;
        let (user, role) = users::delete(&app, access, &id).await?;
        Ok(written(&user, &role, access, &app.attributes))
    }
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qs_queries_parse_into_the_graphql_filter_input() {
        let q = parse_query(Some(
            "filters[username][$eq]=ann&filters[$or][0][email][$containsi]=EX&filters[$or][1][role][type][$eq]=authenticated&filters[confirmed][$eq]=true&filters[id][$in][0]=1&filters[id][$in][1]=2&sort[0]=username:desc&pagination[page]=2&pagination[pageSize]=5&fields[0]=username&populate=role",
        ))
        .unwrap();
        let filters = q.filters.as_ref().unwrap();
        assert_eq!(filters.username.as_ref().unwrap().eq.as_deref(), Some("ann"));
        assert_eq!(filters.confirmed.as_ref().unwrap().eq, Some(true));
        assert_eq!(filters.id.as_ref().unwrap().in_list.as_ref().unwrap().len(), 2);
        let or = filters.or.as_ref().unwrap();
        assert_eq!(or.len(), 2);
        assert!(or[1].as_ref().unwrap().role.as_ref().unwrap().role_type.is_some());
        assert_eq!(strings(q.sort.as_ref(), "sort").unwrap(), ["username:desc"]);
        assert_eq!(q.pagination.as_ref().unwrap().page_size, Some(5));
        let shape = Shape::of(&q, &Default::default()).unwrap();
        assert!(shape.role);
        assert_eq!(shape.fields.unwrap(), ["username"]);
    }

    #[test]
    fn percent_encoded_brackets_parse_alike() {
        let q = parse_query(Some("filters%5Busername%5D%5B%24eq%5D=a%20b&sort=email%3Aasc,id")).unwrap();
        assert_eq!(
            q.filters.unwrap().username.unwrap().eq.as_deref(),
            Some("a b")
        );
        assert_eq!(strings(q.sort.as_ref(), "sort").unwrap(), ["email:asc", "id"]);
    }

    #[test]
    fn unknown_fields_and_operators_are_refused() {
        for bad in [
            "filters[password][$eq]=x",
            "filters[username][$regex]=x",
            "filters[username);DROP TABLE up_users;--][$eq]=x",
            "other=1",
            "pagination[page]=abc",
        ] {
            assert!(parse_query(Some(bad)).is_err(), "{bad} accepted");
        }
        let q = parse_query(Some("populate[0]=password")).unwrap();
        assert!(Shape::of(&q, &Default::default()).is_err());
        let q = parse_query(Some("fields[0]=password")).unwrap();
        assert!(Shape::of(&q, &Default::default()).is_err());
    }
}
