//! Strapi's GraphQL filter inputs (`StringFilterInput`, `UsersPermissionsUserFiltersInput`, …),
//! compiled to a SQL WHERE clause over known columns only.

use async_graphql::{ID, InputObject, InputType};
use chrono::{DateTime, Utc};

use crate::db::Backend as Dialect;
use crate::db::sql::{SqlValue, SqlWhere};
use crate::error::{AppError, AppResult};

/// How a column is stored, which decides how filter values bind to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Text,
    Bool,
    Timestamp,
}

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
            Kind::Int => Some(SqlValue::Int(i64::from(*self))),
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
        Kind::Int => text.trim().parse().ok().map(SqlValue::Int),
        Kind::Bool => text.parse().ok().map(SqlValue::Bool),
        Kind::Timestamp => DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| SqlValue::Timestamp(t.with_timezone(&Utc).naive_utc())),
    }
}

/// Strapi's operators on one field.
#[derive(Debug, Clone, InputObject)]
#[graphql(
    concrete(name = "StringFilterInput", params(String)),
    concrete(name = "IDFilterInput", params(ID)),
    concrete(name = "BooleanFilterInput", params(bool)),
    concrete(name = "DateTimeFilterInput", params(UtcDateTime))
)]
pub struct FilterInput<T: FilterScalar> {
    pub and: Option<Vec<Option<T>>>,
    pub or: Option<Vec<Option<T>>>,
    pub not: Option<Box<FilterInput<T>>>,
    pub eq: Option<T>,
    pub eqi: Option<T>,
    pub ne: Option<T>,
    pub nei: Option<T>,
    pub starts_with: Option<T>,
    pub ends_with: Option<T>,
    pub contains: Option<T>,
    pub not_contains: Option<T>,
    pub containsi: Option<T>,
    pub not_containsi: Option<T>,
    pub gt: Option<T>,
    pub gte: Option<T>,
    pub lt: Option<T>,
    pub lte: Option<T>,
    #[graphql(name = "null")]
    pub is_null: Option<bool>,
    pub not_null: Option<bool>,
    #[graphql(name = "in")]
    pub in_list: Option<Vec<Option<T>>>,
    pub not_in: Option<Vec<Option<T>>>,
    pub between: Option<Vec<Option<T>>>,
}

pub type StringFilterInput = FilterInput<String>;
pub type IdFilterInput = FilterInput<ID>;
pub type BooleanFilterInput = FilterInput<bool>;
/// `DateTime<Utc>` under a name the derive macro accepts.
pub type UtcDateTime = DateTime<Utc>;
pub type DateTimeFilterInput = FilterInput<UtcDateTime>;

/// A column: its SQL and kind.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub sql: &'static str,
    pub kind: Kind,
}

impl<T: FilterScalar> FilterInput<T> {
    /// The SQL of every operator given, joined by AND.
    pub fn compile(&self, column: Column, dialect: Dialect) -> AppResult<SqlWhere> {
        let mut parts = Vec::new();
        let compare = |op: &str, value: &T| -> SqlWhere {
            let mut w = SqlWhere::new(dialect);
            match value.to_sql(column.kind) {
                Some(v) => {
                    w.sql(column.sql);
                    if column.kind == Kind::Text
                        && dialect == Dialect::Postgres
                        && op != "="
                        && op != "<>"
                    {
                        w.sql(" COLLATE \"C\"");
                    }
                    w.sql(" ").sql(op).sql(" ").bind(v);
                }
                // Never equal; `<>` is then true for every row that has a value.
                None if op == "<>" => {
                    w.sql(column.sql).sql(" IS NOT NULL");
                }
                None => {
                    w.sql("1 = 0");
                }
            }
            w
        };
        let text = |template: TextOp, value: &T, insensitive: bool| -> SqlWhere {
            text_operator(column, dialect, template, &value.as_text(), insensitive)
        };
        let list = |values: &[Option<T>]| -> SqlWhere {
            let bound: Vec<SqlValue> = values
                .iter()
                .flatten()
                .filter_map(|v| v.to_sql(column.kind))
                .collect();
            let mut w = SqlWhere::new(dialect);
            if bound.is_empty() {
                w.sql("1 = 0");
                return w;
            }
            w.sql(column.sql).sql(" IN (");
            for (i, v) in bound.into_iter().enumerate() {
                if i > 0 {
                    w.sql(", ");
                }
                w.bind(v);
            }
            w.sql(")");
            w
        };

        if let Some(v) = &self.eq {
            parts.push(compare("=", v));
        }
        if let Some(v) = &self.ne {
            parts.push(compare("<>", v));
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
            (">", &self.gt),
            (">=", &self.gte),
            ("<", &self.lt),
            ("<=", &self.lte),
        ] {
            if let Some(v) = value {
                parts.push(compare(op, v));
            }
        }
        for (flag, null_when_true) in [(self.is_null, true), (self.not_null, false)] {
            if let Some(flag) = flag {
                let mut w = SqlWhere::new(dialect);
                let is_null = flag == null_when_true;
                w.sql(column.sql)
                    .sql(if is_null { " IS NULL" } else { " IS NOT NULL" });
                parts.push(w);
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
                &[compare(">=", low), compare("<=", high)],
            ));
        }
        if let Some(values) = &self.and {
            let each: Vec<SqlWhere> = values.iter().flatten().map(|v| compare("=", v)).collect();
            parts.push(SqlWhere::all(dialect, &each));
        }
        if let Some(values) = &self.or {
            let each: Vec<SqlWhere> = values.iter().flatten().map(|v| compare("=", v)).collect();
            parts.push(SqlWhere::any(dialect, &each));
        }
        if let Some(inner) = &self.not {
            parts.push(SqlWhere::not(&inner.compile(column, dialect)?));
        }
        Ok(SqlWhere::all(dialect, &parts))
    }
}

#[derive(Debug, Clone, Copy)]
enum TextOp {
    Equals,
    StartsWith,
    EndsWith,
    Contains,
}

/// Case-sensitive (or ASCII-insensitive) text tests, without LIKE (whose case rules differ
/// between SQLite and PostgreSQL) and without pattern characters in the bound value.
fn text_operator(
    column: Column,
    dialect: Dialect,
    op: TextOp,
    value: &str,
    insensitive: bool,
) -> SqlWhere {
    let mut w = SqlWhere::new(dialect);
    let col = format!("CAST({} AS TEXT)", column.sql);
    let (col, wrap) = if insensitive {
        (format!("lower({col})"), ("lower(", ")"))
    } else {
        (col, ("(", ")"))
    };
    let bind = |w: &mut SqlWhere| {
        w.sql(wrap.0)
            .bind(SqlValue::Text(value.to_string()))
            .sql(wrap.1);
    };
    match (op, dialect) {
        (TextOp::Equals, _) => {
            w.sql(&col).sql(" = ");
            bind(&mut w);
        }
        (TextOp::Contains, Dialect::Sqlite) => {
            w.sql("instr(").sql(&col).sql(", ");
            bind(&mut w);
            w.sql(") > 0");
        }
        (TextOp::Contains, Dialect::Postgres) => {
            w.sql("strpos(").sql(&col).sql(", ");
            bind(&mut w);
            w.sql(") > 0");
        }
        (TextOp::StartsWith, _) => {
            w.sql("substr(").sql(&col).sql(", 1, length(");
            bind(&mut w);
            w.sql(")) = ");
            bind(&mut w);
        }
        (TextOp::EndsWith, _) => {
            w.sql("substr(")
                .sql(&col)
                .sql(", length(")
                .sql(&col)
                .sql(") - length(");
            bind(&mut w);
            w.sql(") + 1) = ");
            bind(&mut w);
        }
    }
    w
}

/// Filters of roles, as Strapi names them.
#[derive(Debug, Clone, Default, InputObject)]
pub struct UsersPermissionsRoleFiltersInput {
    pub id: Option<IdFilterInput>,
    pub document_id: Option<IdFilterInput>,
    pub name: Option<StringFilterInput>,
    pub description: Option<StringFilterInput>,
    #[graphql(name = "type")]
    pub role_type: Option<StringFilterInput>,
    /// Roles with a grant matching this (needs `permission.find` without conditions).
    pub permissions: Option<Box<super::permissions::UsersPermissionsPermissionFiltersInput>>,
    /// Roles with a user matching this (needs `user.find` without conditions).
    pub users: Option<Box<UsersPermissionsUserFiltersInput>>,
    pub created_at: Option<DateTimeFilterInput>,
    pub updated_at: Option<DateTimeFilterInput>,
    /// The same as `createdAt`: a role has no draft.
    pub published_at: Option<DateTimeFilterInput>,
    pub and: Option<Vec<Option<UsersPermissionsRoleFiltersInput>>>,
    pub or: Option<Vec<Option<UsersPermissionsRoleFiltersInput>>>,
    pub not: Option<Box<UsersPermissionsRoleFiltersInput>>,
}

/// Filters of users, as Strapi names them; `role` filters the user's role.
#[derive(Debug, Clone, Default, InputObject)]
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
    pub and: Option<Vec<Option<UsersPermissionsUserFiltersInput>>>,
    pub or: Option<Vec<Option<UsersPermissionsUserFiltersInput>>>,
    pub not: Option<Box<UsersPermissionsUserFiltersInput>>,
}

fn column(sql: &'static str, kind: Kind) -> Column {
    Column { sql, kind }
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

impl UsersPermissionsRoleFiltersInput {
    pub fn compile(&self, dialect: Dialect) -> AppResult<SqlWhere> {
        let mut parts = Vec::new();
        if let Some(f) = &self.id {
            parts.push(f.compile(column("up_roles.id", Kind::Int), dialect)?);
        }
        if let Some(f) = &self.document_id {
            parts.push(f.compile(column("up_roles.document_id", Kind::Text), dialect)?);
        }
        for (f, sql) in [
            (&self.name, "up_roles.name"),
            (&self.description, "up_roles.description"),
            (&self.role_type, "up_roles.type"),
        ] {
            if let Some(f) = f {
                parts.push(f.compile(column(sql, Kind::Text), dialect)?);
            }
        }
        if let Some(users) = &self.users {
            parts.push(super::permissions::role_has_users(users, dialect)?);
        }
        if let Some(permissions) = &self.permissions {
            parts.push(super::permissions::role_has_permissions(permissions, dialect)?);
        }
        for (f, sql) in [
            (&self.created_at, "up_roles.created_at"),
            (&self.updated_at, "up_roles.updated_at"),
            (&self.published_at, "up_roles.created_at"),
        ] {
            if let Some(f) = f {
                parts.push(f.compile(column(sql, Kind::Timestamp), dialect)?);
            }
        }
        combine(dialect, parts, &self.and, &self.or, &self.not, |f| {
            f.compile(dialect)
        })
    }
}

impl UsersPermissionsUserFiltersInput {
    pub fn compile(&self, dialect: Dialect) -> AppResult<SqlWhere> {
        let mut parts = Vec::new();
        if let Some(f) = &self.id {
            parts.push(f.compile(column("up_users.id", Kind::Int), dialect)?);
        }
        if let Some(f) = &self.document_id {
            parts.push(f.compile(column("up_users.document_id", Kind::Text), dialect)?);
        }
        for (f, sql) in [
            (&self.username, "up_users.username"),
            (&self.email, "up_users.email"),
            (&self.provider, "up_users.provider"),
        ] {
            if let Some(f) = f {
                parts.push(f.compile(column(sql, Kind::Text), dialect)?);
            }
        }
        for (f, sql) in [
            (&self.confirmed, "up_users.confirmed"),
            (&self.blocked, "up_users.blocked"),
        ] {
            if let Some(f) = f {
                parts.push(f.compile(column(sql, Kind::Bool), dialect)?);
            }
        }
        if let Some(role) = &self.role {
            parts.push(role.compile(dialect)?);
        }
        for (f, sql) in [
            (&self.created_at, "up_users.created_at"),
            (&self.updated_at, "up_users.updated_at"),
            (&self.published_at, "up_users.created_at"),
        ] {
            if let Some(f) = f {
                parts.push(f.compile(column(sql, Kind::Timestamp), dialect)?);
            }
        }
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
