//! The field registry: each field of a user and of a role once, with its name in the API, its
//! column, its kind and what each surface may do with it. Sorting, Strapi's filters, the paths
//! of conditions, field-level grants and the list of private fields are all read from here, so
//! a new field is one line of [`USERS`] or [`ROLES`] (and its column in a migration).
//!
//! The users' declared attributes (`[[user.attributes]]`) are the registry's one part that
//! comes from the configuration: [`UserAttributes`] says where each lives in SQL (an
//! expression over the `attributes` document, indexed on both databases when declared
//! `indexed` or `unique`), which of them answers never show, and the DDL of their indexes.

use crate::config::{AttributeDeclaration, AttributeType, UserSection};
use crate::db::sql::{SqlOrder, SqlValue, SqlWhere};
use crate::error::{AppError, AppResult};
use crate::filter::{ColumnKind, Dialect};

/// How a field is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// A column of the entity's own table holding a scalar of this kind.
    Column(ColumnKind),
    /// A column holding a JSON document as text (the user's `attributes`), and on PostgreSQL
    /// the generated `jsonb` column that holds it parsed.
    Json { parsed: &'static str },
    /// The related role, a row of [`ROLES`] joined on the user's `role_id`.
    Role,
    /// Rows of another entity, reached through a subquery (a role's users or grants, a
    /// grant's role): filters test whether one of them matches.
    Related(Related),
}

/// A relation that filters reach through a subquery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Related {
    /// The users of a role.
    RoleUsers,
    /// The grants of a role.
    RolePermissions,
    /// The role of a grant.
    PermissionRole,
}

impl Related {
    /// Whether one of the related rows matches `inner`, a filter over their own table.
    pub fn matching(self, inner: &SqlWhere, dialect: Dialect) -> SqlWhere {
        let mut w = SqlWhere::new(dialect);
        w.sql(match self {
            Related::RoleUsers => {
                "EXISTS (SELECT 1 FROM up_users WHERE up_users.role_id = up_roles.id AND "
            }
            Related::RolePermissions => {
                "EXISTS (SELECT 1 FROM up_permissions WHERE up_permissions.role_id = up_roles.id AND "
            }
            Related::PermissionRole => {
                "up_permissions.role_id IN (SELECT up_roles.id FROM up_roles WHERE "
            }
        });
        w.nested(inner);
        w.sql(")");
        w
    }
}

/// One field of an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Its name in the API (GraphQL, REST, conditions, grants): `createdAt`.
    pub name: &'static str,
    /// Its column, qualified with the table: `up_users.created_at`.
    pub column: &'static str,
    pub storage: Storage,
    /// `sort: ["name:asc"]` accepts it.
    pub sortable: bool,
    /// Strapi's `filters` accept it.
    pub filterable: bool,
    /// Answers show it (false for secrets).
    pub readable: bool,
    /// Writes may set it.
    pub writable: bool,
    /// Conditions may name it, as a path or a `$user.` placeholder.
    pub in_conditions: bool,
}

/// The fields of one entity.
#[derive(Debug)]
pub struct Entity {
    pub name: &'static str,
    /// The column that breaks ties in every order, so pages are stable.
    pub id_column: &'static str,
    pub fields: &'static [Field],
}

const fn scalar(name: &'static str, column: &'static str, kind: ColumnKind) -> Field {
    Field {
        name,
        column,
        storage: Storage::Column(kind),
        sortable: true,
        filterable: true,
        readable: true,
        writable: true,
        in_conditions: true,
    }
}

/// A field the server keeps and sets itself: read, sorted and filtered, never written.
const fn kept(name: &'static str, column: &'static str, kind: ColumnKind) -> Field {
    Field {
        writable: false,
        ..scalar(name, column, kind)
    }
}

/// Strapi 5's `publishedAt`: users, roles and grants have no drafts, so it is the creation time.
const fn published(column: &'static str) -> Field {
    Field {
        in_conditions: false,
        ..kept("publishedAt", column, ColumnKind::Timestamp)
    }
}

/// A relation filters reach through a subquery; never sorted, written or named by conditions.
const fn related(name: &'static str, related: Related) -> Field {
    Field {
        name,
        column: "",
        storage: Storage::Related(related),
        sortable: false,
        filterable: true,
        readable: true,
        writable: false,
        in_conditions: false,
    }
}

/// A secret or a piece of token state: written by some operations, never read, sorted,
/// filtered or named by a condition.
const fn private(name: &'static str, column: &'static str, writable: bool) -> Field {
    Field {
        name,
        column,
        storage: Storage::Column(ColumnKind::Text),
        sortable: false,
        filterable: false,
        readable: false,
        writable,
        in_conditions: false,
    }
}

/// The users (`up_users`).
pub static USERS: Entity = Entity {
    name: "user",
    id_column: "up_users.id",
    fields: &[
        kept("id", "up_users.id", ColumnKind::Integer),
        kept("documentId", "up_users.document_id", ColumnKind::Text),
        scalar("username", "up_users.username", ColumnKind::Text),
        scalar("email", "up_users.email", ColumnKind::Text),
        scalar("provider", "up_users.provider", ColumnKind::Text),
        scalar("confirmed", "up_users.confirmed", ColumnKind::Bool),
        scalar("blocked", "up_users.blocked", ColumnKind::Bool),
        Field {
            storage: Storage::Role,
            sortable: false,
            ..scalar("role", "up_users.role_id", ColumnKind::Integer)
        },
        Field {
            storage: Storage::Json {
                parsed: "up_users.attributes_jsonb",
            },
            sortable: false,
            filterable: false,
            ..scalar("attributes", "up_users.attributes", ColumnKind::Text)
        },
        kept("createdAt", "up_users.created_at", ColumnKind::Timestamp),
        kept("updatedAt", "up_users.updated_at", ColumnKind::Timestamp),
        published("up_users.created_at"),
        private("password", "up_users.password", true),
        private("resetPasswordToken", "up_users.reset_password_token", true),
        private("confirmationToken", "up_users.confirmation_token", true),
        private("resetPasswordExpiresAt", "up_users.reset_password_expires_at", false),
        private("tokensValidAfter", "up_users.tokens_valid_after", false),
        private("uniqueEmail", "up_users.unique_email", false),
    ],
};

/// The roles (`up_roles`); conditions reach them through a user's `role`.
pub static ROLES: Entity = Entity {
    name: "role",
    id_column: "up_roles.id",
    fields: &[
        kept("id", "up_roles.id", ColumnKind::Integer),
        kept("documentId", "up_roles.document_id", ColumnKind::Text),
        scalar("name", "up_roles.name", ColumnKind::Text),
        Field {
            in_conditions: false,
            ..scalar("description", "up_roles.description", ColumnKind::Text)
        },
        kept("type", "up_roles.type", ColumnKind::Text),
        Field {
            in_conditions: false,
            ..kept("createdAt", "up_roles.created_at", ColumnKind::Timestamp)
        },
        Field {
            in_conditions: false,
            ..kept("updatedAt", "up_roles.updated_at", ColumnKind::Timestamp)
        },
        published("up_roles.created_at"),
        related("users", Related::RoleUsers),
        related("permissions", Related::RolePermissions),
    ],
};

/// The grants (`up_permissions`), as Strapi's `UsersPermissionsPermission`.
pub static PERMISSIONS: Entity = Entity {
    name: "permission",
    id_column: "up_permissions.id",
    fields: &[
        Field {
            in_conditions: false,
            ..kept("documentId", "up_permissions.id", ColumnKind::Integer)
        },
        Field {
            in_conditions: false,
            ..kept("action", "up_permissions.action", ColumnKind::Text)
        },
        related("role", Related::PermissionRole),
        Field {
            in_conditions: false,
            ..kept("createdAt", "up_permissions.created_at", ColumnKind::Timestamp)
        },
        Field {
            in_conditions: false,
            ..kept("updatedAt", "up_permissions.updated_at", ColumnKind::Timestamp)
        },
        published("up_permissions.created_at"),
    ],
};

/// The users' declared attributes (`[[user.attributes]]`), as the registry sees them.
#[derive(Debug, Clone, Default)]
pub struct UserAttributes {
    declared: Vec<AttributeDeclaration>,
    /// Whether `attributes` may hold keys that are not declared.
    pub allow_undeclared: bool,
}

/// The prefix of the names of the declared attributes' indexes.
pub const ATTRIBUTE_INDEX_PREFIX: &str = "up_users_attr_";

/// The prefix of the names of the declared attributes' generated columns (PostgreSQL).
pub const ATTRIBUTE_COLUMN_PREFIX: &str = "attr_";

/// `name` as PostgreSQL keeps an identifier: at most 63 bytes (attribute names are ASCII), so
/// that the names read back from the catalogue are the names asked for.
fn identifier(mut name: String) -> String {
    name.truncate(63);
    name
}

impl UserAttributes {
    pub fn new(section: &UserSection) -> Self {
        Self {
            declared: section.attributes.clone(),
            allow_undeclared: section.allow_undeclared_attributes,
        }
    }

    /// Every declared attribute, in the order of the configuration.
    pub fn declared(&self) -> &[AttributeDeclaration] {
        &self.declared
    }

    /// The declared attribute `name` (exact spelling).
    pub fn get(&self, name: &str) -> Option<&AttributeDeclaration> {
        self.declared.iter().find(|a| a.name == name)
    }

    /// Whether `name` is a private attribute: answers never show it, conditions never read it.
    pub fn is_private(&self, name: &str) -> bool {
        self.get(name).is_some_and(|a| a.private)
    }

    /// The attribute `name` when it has an index (declared `indexed` or `unique`).
    pub fn indexed(&self, name: &str) -> Option<&AttributeDeclaration> {
        self.get(name)
            .filter(|a| (a.indexed || a.unique) && !a.private && a.kind != AttributeType::Json)
    }

    /// How conditions compare an indexed attribute's value: JSON numbers as numbers, booleans
    /// as booleans, the rest (strings, enumerations, datetimes in their one stored form) as
    /// text in code-point order.
    pub fn kind(attribute: &AttributeDeclaration) -> ColumnKind {
        match attribute.kind {
            AttributeType::Integer | AttributeType::Number => ColumnKind::Integer,
            AttributeType::Boolean => ColumnKind::Bool,
            _ => ColumnKind::Text,
        }
    }

    /// The SQL of an attribute's value as a scalar (NULL when missing or `null`): what its
    /// index is built on, so that conditions and sorts written with it use the index.
    /// `table` qualifies the column (`up_users.`, or nothing inside `CREATE INDEX`). On SQLite,
    /// the expression of an expression index; on PostgreSQL, the attribute's stored generated
    /// column ([`Self::columns`]): PostgreSQL answers a count from an index alone (an Index
    /// Only Scan) on columns, never on expressions.
    pub fn expression(attribute: &AttributeDeclaration, dialect: Dialect, table: &str) -> String {
        match dialect {
            Dialect::Sqlite => format!(
                "json_extract({table}attributes, '$.{name}')",
                name = attribute.name
            ),
            Dialect::Postgres => format!("{table}\"{}\"", Self::column_name(attribute)),
        }
    }

    /// The generated column of an attribute on PostgreSQL: its SQL type and the expression
    /// computing it from `attributes` (a generated column cannot read another one, such as
    /// `attributes_jsonb`). Text compares in code-point order, as sift compares strings.
    fn column_definition(attribute: &AttributeDeclaration) -> String {
        let text = format!("(attributes::jsonb ->> '{}')", attribute.name);
        let (ty, value) = match Self::kind(attribute) {
            ColumnKind::Integer => ("float8", format!("({text}::float8)")),
            ColumnKind::Bool => ("boolean", format!("({text}::boolean)")),
            _ => ("text COLLATE \"C\"", text),
        };
        format!("{ty} GENERATED ALWAYS AS ({value}) STORED")
    }

    /// The name of an attribute's generated column on PostgreSQL (the type is part of it: a new
    /// type computes a new column), cut as PostgreSQL cuts identifiers.
    fn column_name(attribute: &AttributeDeclaration) -> String {
        identifier(format!(
            "{ATTRIBUTE_COLUMN_PREFIX}{}_{}",
            attribute.name,
            attribute.kind.name()
        ))
    }

    /// The generated columns the declaration wants on PostgreSQL (none on SQLite, whose
    /// indexes are on expressions), by name, with the statement adding each.
    pub fn columns(&self, dialect: Dialect) -> Vec<(String, String)> {
        if dialect != Dialect::Postgres {
            return Vec::new();
        }
        self.declared
            .iter()
            .filter(|a| (a.indexed || a.unique) && a.kind != AttributeType::Json)
            .map(|a| {
                let name = Self::column_name(a);
                let add = format!(
                    "ALTER TABLE up_users ADD COLUMN IF NOT EXISTS \"{name}\" {}",
                    Self::column_definition(a)
                );
                (name, add)
            })
            .collect()
    }

    /// SQL listing the names of the declared attributes' generated columns that exist (column
    /// `value`); `None` on SQLite, which has none.
    pub fn existing_columns_sql(dialect: Dialect) -> Option<String> {
        (dialect == Dialect::Postgres).then(|| {
            format!(
                "SELECT column_name::text AS value FROM information_schema.columns \
                 WHERE table_name = 'up_users' AND table_schema = current_schema() \
                 AND substr(column_name, 1, {n}) = '{ATTRIBUTE_COLUMN_PREFIX}'",
                n = ATTRIBUTE_COLUMN_PREFIX.len()
            )
        })
    }

    /// The name of an attribute's index: the type is part of it, so a new type builds a new one.
    fn index_name(attribute: &AttributeDeclaration) -> String {
        let unique = if attribute.unique { "_unique" } else { "" };
        identifier(format!(
            "{ATTRIBUTE_INDEX_PREFIX}{}_{}{unique}",
            attribute.name,
            attribute.kind.name()
        ))
    }

    /// The indexes the declaration wants, by name, with the statement creating each.
    pub fn indexes(&self, dialect: Dialect) -> Vec<(String, String)> {
        self.declared
            .iter()
            .filter(|a| (a.indexed || a.unique) && a.kind != AttributeType::Json)
            .map(|a| {
                let name = Self::index_name(a);
                let unique = if a.unique { "UNIQUE " } else { "" };
                let mut expression = Self::expression(a, dialect, "");
                // Lists are ordered by id: with the id after the value, PostgreSQL reads a
                // page of one value's users in order from the index, instead of walking the
                // primary key until enough rows pass the filter (every row, for a value few
                // users hold), and counts them from the index alone (an Index Only Scan).
                // SQLite's index entries end with the rowid already.
                if dialect == Dialect::Postgres && !a.unique {
                    expression.push_str(", id");
                }
                (
                    name.clone(),
                    format!(
                        "CREATE {unique}INDEX IF NOT EXISTS \"{name}\" ON up_users ({expression})"
                    ),
                )
            })
            .collect()
    }

    /// SQL listing the names of the declared attributes' indexes that exist (column `value`).
    pub fn existing_indexes_sql(dialect: Dialect) -> String {
        match dialect {
            Dialect::Sqlite => format!(
                "SELECT name AS value FROM sqlite_master WHERE type = 'index' \
                 AND tbl_name = 'up_users' AND substr(name, 1, {n}) = '{ATTRIBUTE_INDEX_PREFIX}'",
                n = ATTRIBUTE_INDEX_PREFIX.len()
            ),
            Dialect::Postgres => format!(
                "SELECT indexname::text AS value FROM pg_indexes WHERE tablename = 'up_users' \
                 AND schemaname = current_schema() AND substr(indexname, 1, {n}) = '{ATTRIBUTE_INDEX_PREFIX}'",
                n = ATTRIBUTE_INDEX_PREFIX.len()
            ),
        }
    }

    /// SQL selecting the ids of users (column `value`, as text, at most 5) whose value of
    /// `attribute` has another JSON type than declared: the SQL of conditions on an indexed
    /// attribute is exact only when none does. `None` for `json`, which takes anything.
    pub fn misfits_sql(attribute: &AttributeDeclaration, dialect: Dialect) -> Option<String> {
        let name = &attribute.name;
        let types = match (attribute.kind, dialect) {
            (AttributeType::Json, _) => return None,
            (AttributeType::Integer, Dialect::Sqlite) => "'integer'",
            (AttributeType::Number, Dialect::Sqlite) => "'integer', 'real'",
            (AttributeType::Boolean, Dialect::Sqlite) => "'true', 'false'",
            (_, Dialect::Sqlite) => "'text'",
            (AttributeType::Integer | AttributeType::Number, Dialect::Postgres) => "'number'",
            (AttributeType::Boolean, Dialect::Postgres) => "'boolean'",
            (_, Dialect::Postgres) => "'string'",
        };
        let ty = match dialect {
            Dialect::Sqlite => format!("json_type(attributes, '$.{name}')"),
            Dialect::Postgres => format!("jsonb_typeof(attributes_jsonb -> '{name}')"),
        };
        Some(format!(
            "SELECT CAST(id AS TEXT) AS value FROM up_users WHERE {ty} NOT IN ('null', {types}) ORDER BY id LIMIT 5"
        ))
    }

    /// The declared attribute an index name belongs to, from a unique violation's constraint
    /// name or message.
    pub fn violated(&self, place: &str) -> Option<&AttributeDeclaration> {
        self.declared
            .iter()
            .filter(|a| a.unique)
            .find(|a| place.contains(&Self::index_name(a)))
    }

    /// `attributes` as answers show them: without the private attributes.
    pub fn public(&self, attributes: &str) -> Option<serde_json::Value> {
        let mut value: serde_json::Value = serde_json::from_str(attributes).ok()?;
        if let Some(map) = value.as_object_mut() {
            map.retain(|key, _| !self.is_private(key));
        }
        Some(value)
    }
}

impl Entity {
    /// The field named `name` in the API.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The field named `name`, which the caller's own surface declares: its absence from the
    /// registry is a mistake of the code, not of the request.
    pub fn declared(&self, name: &str) -> AppResult<&'static Field> {
        self.field(name).ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("the {} field `{name}` is not in the registry", self.name))
        })
    }

    /// The names of the fields `keep` selects, in the registry's order.
    pub fn names(&self, keep: impl Fn(&Field) -> bool) -> Vec<&'static str> {
        self.fields
            .iter()
            .filter(|f| keep(f))
            .map(|f| f.name)
            .collect()
    }

    /// Whether `name` is a field answers never show (a secret or token state), in any case and
    /// with or without `_` or `-` (`reset_password_token` too).
    pub fn is_private(&self, name: &str) -> bool {
        let fold = |s: &str| -> String {
            s.chars()
                .filter(|c| *c != '_' && *c != '-')
                .map(|c| c.to_ascii_lowercase())
                .collect()
        };
        let name = fold(name);
        self.fields
            .iter()
            .any(|f| !f.readable && fold(f.name) == name)
    }

    /// `ORDER BY` text for Strapi sort strings (`"username:asc"`, `"id:desc"`, `"email"`) over
    /// the sortable fields; the id breaks ties so pages are stable.
    pub fn order_by(&self, sort: &[String]) -> AppResult<SqlOrder> {
        self.order_by_in(sort, None)
    }

    /// [`Entity::order_by`], where the users' indexed attributes may be sorted on too
    /// (`"attributes.team:asc"`, missing values last), through the expression of their index.
    pub fn order_by_in(
        &self,
        sort: &[String],
        attributes: Option<(&UserAttributes, Dialect)>,
    ) -> AppResult<SqlOrder> {
        let mut parts = Vec::new();
        for item in sort {
            let (name, direction) = item.split_once(':').unwrap_or((item.as_str(), "asc"));
            let direction = match direction.to_ascii_lowercase().as_str() {
                "asc" => "ASC",
                "desc" => "DESC",
                other => {
                    return Err(AppError::validation(format!(
                        "Invalid sort order `{other}` for `{name}`: use asc or desc"
                    )));
                }
            };
            if let Some((attributes, dialect)) = attributes
                && let Some(attribute) = name
                    .strip_prefix("attributes.")
                    .and_then(|n| attributes.indexed(n))
            {
                let nulls = if direction == "ASC" { "LAST" } else { "FIRST" };
                let expression = UserAttributes::expression(attribute, dialect, "up_users.");
                parts.push(format!("{expression} {direction} NULLS {nulls}"));
                continue;
            }
            let field = self
                .field(name)
                .filter(|f| f.sortable)
                .ok_or_else(|| {
                    AppError::validation(format!(
                        "Cannot sort by `{name}`: sortable fields are {}",
                        self.names(|f| f.sortable)
                            .into_iter()
                            .map(str::to_string)
                            .chain(attributes.into_iter().flat_map(|(a, _)| {
                                a.declared()
                                    .iter()
                                    .filter(|d| a.indexed(&d.name).is_some())
                                    .map(|d| format!("attributes.{}", d.name))
                            }))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
            parts.push(format!("{} {direction}", field.column));
        }
        parts.push(format!("{} ASC", self.id_column));
        Ok(SqlOrder::new(parts.join(", "), sort.is_empty()))
    }
}

impl Field {
    /// The kind of a scalar column (a role's id for `role`, the text for `attributes`).
    pub fn kind(&self) -> ColumnKind {
        match self.storage {
            Storage::Column(kind) => kind,
            Storage::Role => ColumnKind::Integer,
            Storage::Json { .. } | Storage::Related(_) => ColumnKind::Text,
        }
    }

    /// `column <op> value`; `None` for a value that can never equal this field (an id that is
    /// not a number), for which `<>` holds on every row with a value and the rest on none.
    pub fn compare(&self, op: Compare, value: Option<SqlValue>, dialect: Dialect) -> SqlWhere {
        let mut w = SqlWhere::new(dialect);
        match value {
            Some(value) => {
                w.sql(self.column);
                // Order text by code point on PostgreSQL, as SQLite does.
                if self.kind() == ColumnKind::Text
                    && dialect == Dialect::Postgres
                    && !matches!(op, Compare::Eq | Compare::Ne)
                {
                    w.sql(" COLLATE \"C\"");
                }
                w.sql(op.sql()).bind(value);
            }
            None if op == Compare::Ne => {
                w.sql(self.column).sql(" IS NOT NULL");
            }
            None => return SqlWhere::any(dialect, &[]),
        }
        w
    }

    /// `column IN (values)`; nothing for no values.
    pub fn one_of(&self, values: Vec<SqlValue>, dialect: Dialect) -> SqlWhere {
        let mut w = SqlWhere::new(dialect);
        if values.is_empty() {
            return SqlWhere::any(dialect, &[]);
        }
        w.sql(self.column).sql(" IN (");
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                w.sql(", ");
            }
            w.bind(v);
        }
        w.sql(")");
        w
    }

    /// `column IS NULL` or `column IS NOT NULL`.
    pub fn null(&self, is_null: bool, dialect: Dialect) -> SqlWhere {
        let mut w = SqlWhere::new(dialect);
        w.sql(self.column)
            .sql(if is_null { " IS NULL" } else { " IS NOT NULL" });
        w
    }

    /// Case-sensitive (or ASCII-insensitive) text tests, without LIKE (whose case rules differ
    /// between SQLite and PostgreSQL) and without pattern characters in the bound value.
    pub fn text(&self, op: TextOp, value: &str, insensitive: bool, dialect: Dialect) -> SqlWhere {
        let mut w = SqlWhere::new(dialect);
        let col = format!("CAST({} AS TEXT)", self.column);
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
}

/// A comparison of Strapi's filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Compare {
    fn sql(self) -> &'static str {
        match self {
            Compare::Eq => " = ",
            Compare::Ne => " <> ",
            Compare::Gt => " > ",
            Compare::Gte => " >= ",
            Compare::Lt => " < ",
            Compare::Lte => " <= ",
        }
    }
}

/// A text test of Strapi's filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextOp {
    Equals,
    StartsWith,
    EndsWith,
    Contains,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorting_accepts_the_sortable_fields_only() {
        assert_eq!(
            USERS.order_by(&["username:desc".into()]).unwrap(),
            SqlOrder::new("up_users.username DESC, up_users.id ASC".into(), false)
        );
        assert_eq!(
            USERS.order_by(&[]).unwrap(),
            SqlOrder::new("up_users.id ASC".into(), true)
        );
        for refused in ["password:asc", "attributes", "role", "username:sideways"] {
            assert!(USERS.order_by(&[refused.into()]).is_err(), "{refused}");
        }
    }

    #[test]
    fn private_fields_are_found_in_any_spelling() {
        for name in ["password", "reset_password_token", "Confirmation-Token", "uniqueemail"] {
            assert!(USERS.is_private(name), "{name}");
        }
        for name in ["username", "email", "attributes", "role"] {
            assert!(!USERS.is_private(name), "{name}");
        }
    }
}
