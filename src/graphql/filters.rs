//! Strapi's GraphQL filter inputs (`StringFilterInput`, `UsersPermissionsUserFiltersInput`, …),
//! compiled to a SQL WHERE clause over the fields of the registry ([`crate::db::fields`]),
//! which writes the SQL.

use async_graphql::{ID, InputObject, InputType};
use chrono::{DateTime, Utc};

use crate::db::fields::{Compare, Entity, Field, ROLES, Storage, TextOp, USERS};
use crate::db::sql::{SqlValue, SqlWhere};
use crate::error::{AppError, AppResult};
use crate::filter::{ColumnKind as Kind, Dialect};

/// A value a filter compares with.
pub trait FilterScalar: InputType {
    /// The value for a column of `kind`; `None` when it can never equal such a column
    /// (an id that is not a number).
    fn to_sql(&self, kind: Kind) -> Option<SqlValue>;
    /// The value as text, for the text operators (`contains`, `eqi`, …).
    fn as_text(&self) -> String;
}

impl FilterScalar for String {
    fn to_sql(&self, kind: Kind) -> Option<SqlValue> {
        text_to_sql(self, kind)
    }
    fn as_text(&self) -> String {
        self.clone()
    }
}

impl FilterScalar for ID {
    fn to_sql(&self, kind: Kind) -> Option<SqlValue> {
        text_to_sql(&self.0, kind)
    }
    fn as_text(&self) -> String {
        self.0.clone()
    }
}

impl FilterScalar for bool {
    fn to_sql(&self, kind: Kind) -> Option<SqlValue> {
        match kind {
            Kind::Bool => Some(SqlValue::Bool(*self)),
            Kind::Text => Some(SqlValue::Text(self.to_string())),
            Kind::Integer => Some(SqlValue::Int(i64::from(*self))),
            Kind::Timestamp => None,
        }
    }
    fn as_text(&self) -> String {
        self.to_string()
    }
}

impl FilterScalar for DateTime<Utc> {
    fn to_sql(&self, kind: Kind) -> Option<SqlValue> {
        match kind {
            Kind::Timestamp => Some(SqlValue::Timestamp(self.naive_utc())),
            Kind::Text => Some(SqlValue::Text(self.to_rfc3339())),
            _ => None,
        }
    }
    fn as_text(&self) -> String {
        self.to_rfc3339()
    }
}

fn text_to_sql(text: &str, kind: Kind) -> Option<SqlValue> {
    match kind {
        Kind::Text => Some(SqlValue::Text(text.to_string())),
        Kind::Integer => text.trim().parse().ok().map(SqlValue::Int),
        Kind::Bool => text.parse().ok().map(SqlValue::Bool),
        Kind::Timestamp => DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| SqlValue::Timestamp(t.with_timezone(&Utc).naive_utc())),
    }
}

/// Strapi's operators on one field.
#[derive(Debug, Clone, InputObject, serde::Deserialize)]
#[serde(deny_unknown_fields, bound(deserialize = "T: serde::Deserialize<'de>"))]
#[graphql(
    concrete(name = "StringFilterInput", params(String)),
    concrete(name = "IDFilterInput", params(ID)),
    concrete(name = "BooleanFilterInput", params(bool)),
    concrete(name = "DateTimeFilterInput", params(UtcDateTime))
)]
pub struct FilterInput<T: FilterScalar> {
    #[serde(rename = "$and")]
    pub and: Option<Vec<Option<T>>>,
    #[serde(rename = "$or")]
    pub or: Option<Vec<Option<T>>>,
    #[serde(rename = "$not")]
    pub not: Option<Box<FilterInput<T>>>,
    #[serde(rename = "$eq")]
    pub eq: Option<T>,
    #[serde(rename = "$eqi")]
    pub eqi: Option<T>,
    #[serde(rename = "$ne")]
    pub ne: Option<T>,
    #[serde(rename = "$nei")]
    pub nei: Option<T>,
    #[serde(rename = "$startsWith")]
    pub starts_with: Option<T>,
    #[serde(rename = "$endsWith")]
    pub ends_with: Option<T>,
    #[serde(rename = "$contains")]
    pub contains: Option<T>,
    #[serde(rename = "$notContains")]
    pub not_contains: Option<T>,
    #[serde(rename = "$containsi")]
    pub containsi: Option<T>,
    #[serde(rename = "$notContainsi")]
    pub not_containsi: Option<T>,
    #[serde(rename = "$gt")]
    pub gt: Option<T>,
    #[serde(rename = "$gte")]
    pub gte: Option<T>,
    #[serde(rename = "$lt")]
    pub lt: Option<T>,
    #[serde(rename = "$lte")]
    pub lte: Option<T>,
    #[graphql(name = "null")]
    #[serde(rename = "$null")]
    pub is_null: Option<bool>,
    #[serde(rename = "$notNull")]
    pub not_null: Option<bool>,
    #[graphql(name = "in")]
    #[serde(rename = "$in")]
    pub in_list: Option<Vec<Option<T>>>,
    #[serde(rename = "$notIn")]
    pub not_in: Option<Vec<Option<T>>>,
    #[serde(rename = "$between")]
    pub between: Option<Vec<Option<T>>>,
}

pub type StringFilterInput = FilterInput<String>;
pub type IdFilterInput = FilterInput<ID>;
pub type BooleanFilterInput = FilterInput<bool>;
/// `DateTime<Utc>` under a name the derive macro accepts.
pub type UtcDateTime = DateTime<Utc>;
pub type DateTimeFilterInput = FilterInput<UtcDateTime>;

impl<T: FilterScalar> FilterInput<T> {
    /// The SQL of every operator given, joined by AND.
    pub fn compile(&self, field: &Field, dialect: Dialect) -> AppResult<SqlWhere> {
        let kind = field.kind();
        let mut parts = Vec::new();
        let compare = |op: Compare, value: &T| field.compare(op, value.to_sql(kind), dialect);
        let text = |op: TextOp, value: &T, insensitive: bool| {
            field.text(op, &value.as_text(), insensitive, dialect)
        };
        let list = |values: &[Option<T>]| {
            let bound = values.iter().flatten().filter_map(|v| v.to_sql(kind));
            field.one_of(bound.collect(), dialect)
        };

        if let Some(v) = &self.eq {
            parts.push(compare(Compare::Eq, v));
        }
        if let Some(v) = &self.ne {
            parts.push(compare(Compare::Ne, v));
        }
        if let Some(v) = &self.eqi {
            parts.push(text(TextOp::Equals, v, true));
        }
        if let Some(v) = &self.nei {
            parts.push(SqlWhere::not(&text(TextOp::Equals, v, true)));
        }
        if let Some(v) = &self.starts_with {
            parts.push(text(TextOp::StartsWith, v, false));
        }
        if let Some(v) = &self.ends_with {
            parts.push(text(TextOp::EndsWith, v, false));
        }
        if let Some(v) = &self.contains {
            parts.push(text(TextOp::Contains, v, false));
        }
        if let Some(v) = &self.not_contains {
            parts.push(SqlWhere::not(&text(TextOp::Contains, v, false)));
        }
        if let Some(v) = &self.containsi {
            parts.push(text(TextOp::Contains, v, true));
        }
        if let Some(v) = &self.not_containsi {
            parts.push(SqlWhere::not(&text(TextOp::Contains, v, true)));
        }
        for (op, value) in [
            (Compare::Gt, &self.gt),
            (Compare::Gte, &self.gte),
            (Compare::Lt, &self.lt),
            (Compare::Lte, &self.lte),
        ] {
            if let Some(v) = value {
                parts.push(compare(op, v));
            }
        }
        for (flag, null_when_true) in [(self.is_null, true), (self.not_null, false)] {
            if let Some(flag) = flag {
                parts.push(field.null(flag == null_when_true, dialect));
            }
        }
        if let Some(values) = &self.in_list {
            parts.push(list(values));
        }
        if let Some(values) = &self.not_in {
            parts.push(SqlWhere::not(&list(values)));
        }
        if let Some(values) = &self.between {
            let [Some(low), Some(high)] = values.as_slice() else {
                return Err(AppError::validation("between takes exactly two values"));
            };
            parts.push(SqlWhere::all(
                dialect,
                &[compare(Compare::Gte, low), compare(Compare::Lte, high)],
            ));
        }
        if let Some(values) = &self.and {
            let each: Vec<SqlWhere> = values.iter().flatten().map(|v| compare(Compare::Eq, v)).collect();
            parts.push(SqlWhere::all(dialect, &each));
        }
        if let Some(values) = &self.or {
            let each: Vec<SqlWhere> = values.iter().flatten().map(|v| compare(Compare::Eq, v)).collect();
            parts.push(SqlWhere::any(dialect, &each));
        }
        if let Some(inner) = &self.not {
            parts.push(SqlWhere::not(&inner.compile(field, dialect)?));
        }
        Ok(SqlWhere::all(dialect, &parts))
    }
}

/// Filters of roles, as Strapi names them.
#[derive(Debug, Clone, Default, InputObject, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UsersPermissionsRoleFiltersInput {
    pub id: Option<IdFilterInput>,
    pub document_id: Option<IdFilterInput>,
    pub name: Option<StringFilterInput>,
    pub description: Option<StringFilterInput>,
    #[graphql(name = "type")]
    #[serde(rename = "type")]
    pub role_type: Option<StringFilterInput>,
    /// Roles with a grant matching this (needs `permission.find` without conditions).
    pub permissions: Option<Box<super::permissions::UsersPermissionsPermissionFiltersInput>>,
    /// Roles with a user matching this (needs `user.find` without conditions).
    pub users: Option<Box<UsersPermissionsUserFiltersInput>>,
    pub created_at: Option<DateTimeFilterInput>,
    pub updated_at: Option<DateTimeFilterInput>,
    /// The same as `createdAt`: a role has no draft.
    pub published_at: Option<DateTimeFilterInput>,
    #[serde(rename = "$and")]
    pub and: Option<Vec<Option<UsersPermissionsRoleFiltersInput>>>,
    #[serde(rename = "$or")]
    pub or: Option<Vec<Option<UsersPermissionsRoleFiltersInput>>>,
    #[serde(rename = "$not")]
    pub not: Option<Box<UsersPermissionsRoleFiltersInput>>,
}

/// Filters of users, as Strapi names them; `role` filters the user's role.
#[derive(Debug, Clone, Default, InputObject, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UsersPermissionsUserFiltersInput {
    pub id: Option<IdFilterInput>,
    pub document_id: Option<IdFilterInput>,
    pub username: Option<StringFilterInput>,
    pub email: Option<StringFilterInput>,
    pub provider: Option<StringFilterInput>,
    pub confirmed: Option<BooleanFilterInput>,
    pub blocked: Option<BooleanFilterInput>,
    pub role: Option<UsersPermissionsRoleFiltersInput>,
    pub created_at: Option<DateTimeFilterInput>,
    pub updated_at: Option<DateTimeFilterInput>,
    /// The same as `createdAt`: a user has no draft.
    pub published_at: Option<DateTimeFilterInput>,
    #[serde(rename = "$and")]
    pub and: Option<Vec<Option<UsersPermissionsUserFiltersInput>>>,
    #[serde(rename = "$or")]
    pub or: Option<Vec<Option<UsersPermissionsUserFiltersInput>>>,
    #[serde(rename = "$not")]
    pub not: Option<Box<UsersPermissionsUserFiltersInput>>,
}

/// Joins the compiled field filters and the logical combinators of an entity filter.
fn combine<F>(
    dialect: Dialect,
    mut parts: Vec<SqlWhere>,
    and: &Option<Vec<Option<F>>>,
    or: &Option<Vec<Option<F>>>,
    not: &Option<Box<F>>,
    compile: impl Fn(&F) -> AppResult<SqlWhere>,
) -> AppResult<SqlWhere> {
    if let Some(all) = and {
        let each = all
            .iter()
            .flatten()
            .map(&compile)
            .collect::<AppResult<Vec<_>>>()?;
        parts.push(SqlWhere::all(dialect, &each));
    }
    if let Some(any) = or {
        let each = any
            .iter()
            .flatten()
            .map(&compile)
            .collect::<AppResult<Vec<_>>>()?;
        parts.push(SqlWhere::any(dialect, &each));
    }
    if let Some(inner) = not {
        parts.push(SqlWhere::not(&compile(inner)?));
    }
    Ok(SqlWhere::all(dialect, &parts))
}

/// Compiles each field filter given, by its name in the registry's `entity`.
pub(super) fn fields<'a, T: FilterScalar + 'a>(
    entity: &Entity,
    given: impl IntoIterator<Item = (&'static str, &'a Option<FilterInput<T>>)>,
    dialect: Dialect,
    parts: &mut Vec<SqlWhere>,
) -> AppResult<()> {
    for (name, filter) in given {
        if let Some(filter) = filter {
            let field = entity.declared(name)?;
            if !field.filterable {
                return Err(AppError::internal(anyhow::anyhow!(
                    "the {} field `{name}` is not filterable",
                    entity.name
                )));
            }
            parts.push(filter.compile(field, dialect)?);
        }
    }
    Ok(())
}

/// A filter on the rows `entity`'s field `name` relates to: one of them matches `inner`.
pub(super) fn related(entity: &Entity, name: &str, inner: &SqlWhere, dialect: Dialect) -> AppResult<SqlWhere> {
    match entity.declared(name)?.storage {
        Storage::Related(related) => Ok(related.matching(inner, dialect)),
        _ => Err(AppError::internal(anyhow::anyhow!(
            "the {} field `{name}` is no relation",
            entity.name
        ))),
    }
}

impl UsersPermissionsRoleFiltersInput {
    pub fn compile(&self, dialect: Dialect) -> AppResult<SqlWhere> {
        let mut parts = Vec::new();
        fields(&ROLES, [("id", &self.id), ("documentId", &self.document_id)], dialect, &mut parts)?;
        let text = [
            ("name", &self.name),
            ("description", &self.description),
            ("type", &self.role_type),
        ];
        fields(&ROLES, text, dialect, &mut parts)?;
        if let Some(users) = &self.users {
            parts.push(related(&ROLES, "users", &users.compile(dialect)?, dialect)?);
        }
        if let Some(permissions) = &self.permissions {
            parts.push(related(&ROLES, "permissions", &permissions.compile(dialect)?, dialect)?);
        }
        let times = [
            ("createdAt", &self.created_at),
            ("updatedAt", &self.updated_at),
            ("publishedAt", &self.published_at),
        ];
        fields(&ROLES, times, dialect, &mut parts)?;
        combine(dialect, parts, &self.and, &self.or, &self.not, |f| {
            f.compile(dialect)
        })
    }
}

impl UsersPermissionsUserFiltersInput {
    pub fn compile(&self, dialect: Dialect) -> AppResult<SqlWhere> {
        let mut parts = Vec::new();
        fields(&USERS, [("id", &self.id), ("documentId", &self.document_id)], dialect, &mut parts)?;
        let text = [
            ("username", &self.username),
            ("email", &self.email),
            ("provider", &self.provider),
        ];
        fields(&USERS, text, dialect, &mut parts)?;
        let flags = [("confirmed", &self.confirmed), ("blocked", &self.blocked)];
        fields(&USERS, flags, dialect, &mut parts)?;
        if let Some(role) = &self.role {
            parts.push(role.compile(dialect)?);
        }
        let times = [
            ("createdAt", &self.created_at),
            ("updatedAt", &self.updated_at),
            ("publishedAt", &self.published_at),
        ];
        fields(&USERS, times, dialect, &mut parts)?;
        combine(dialect, parts, &self.and, &self.or, &self.not, |f| {
            f.compile(dialect)
        })
    }
}

impl UsersPermissionsUserFiltersInput {
    /// The user fields this filter reads (for grants limited to some fields).
    pub fn fields(&self) -> Vec<String> {
        let mut out = Vec::new();
        let named = [
            ("username", self.username.is_some()),
            ("email", self.email.is_some()),
            ("provider", self.provider.is_some()),
            ("confirmed", self.confirmed.is_some()),
            ("blocked", self.blocked.is_some()),
            ("role", self.role.is_some()),
            ("createdAt", self.created_at.is_some() || self.published_at.is_some()),
            ("updatedAt", self.updated_at.is_some()),
        ];
        out.extend(
            named
                .iter()
                .filter(|(_, used)| *used)
                .map(|(name, _)| (*name).to_string()),
        );
        for nested in self.and.iter().chain(self.or.iter()).flatten().flatten() {
            out.extend(nested.fields());
        }
        if let Some(not) = &self.not {
            out.extend(not.fields());
        }
        out
    }
}
