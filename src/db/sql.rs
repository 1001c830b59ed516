//! A WHERE clause assembled at run time — SQL text from a fixed vocabulary plus bound values —
//! that diesel accepts as a filter on either backend. Values are always bind parameters.

use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::expression::{
    AppearsOnTable, Expression, SelectableExpression, ValidGrouping, is_aggregate,
};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Bool, Double, HasSqlType, Text, Timestamp};

use super::Backend as Dialect;

/// A bound value.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Timestamp(NaiveDateTime),
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Sql(String),
    Bind(SqlValue),
}

/// A boolean SQL expression built piece by piece.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlWhere {
    pub dialect: Dialect,
    pieces: Vec<Piece>,
}

impl SqlWhere {
    pub fn new(dialect: Dialect) -> Self {
        Self {
            dialect,
            pieces: Vec::new(),
        }
    }

    /// An expression that is always true.
    pub fn always(dialect: Dialect) -> Self {
        let mut w = Self::new(dialect);
        w.sql("1 = 1");
        w
    }

    /// Appends SQL text. Only ever called with text from Castellan's own vocabulary.
    pub fn sql(&mut self, text: &str) -> &mut Self {
        match self.pieces.last_mut() {
            Some(Piece::Sql(last)) => last.push_str(text),
            _ => self.pieces.push(Piece::Sql(text.to_string())),
        }
        self
    }

    /// Appends a bound value.
    pub fn bind(&mut self, value: SqlValue) -> &mut Self {
        self.pieces.push(Piece::Bind(value));
        self
    }

    /// Appends another expression, in parentheses.
    pub fn nested(&mut self, other: &SqlWhere) -> &mut Self {
        self.sql("(");
        for piece in &other.pieces {
            match piece {
                Piece::Sql(text) => {
                    self.sql(text);
                }
                Piece::Bind(value) => {
                    self.bind(value.clone());
                }
            }
        }
        self.sql(")")
    }

    /// `(a) AND (b) AND …`, or always-true for none.
    pub fn all(dialect: Dialect, parts: &[SqlWhere]) -> SqlWhere {
        Self::join(dialect, parts, " AND ", "1 = 1")
    }

    /// `(a) OR (b) OR …`, or always-false for none.
    pub fn any(dialect: Dialect, parts: &[SqlWhere]) -> SqlWhere {
        Self::join(dialect, parts, " OR ", "1 = 0")
    }

    fn join(dialect: Dialect, parts: &[SqlWhere], separator: &str, empty: &str) -> SqlWhere {
        let mut w = SqlWhere::new(dialect);
        if parts.is_empty() {
            w.sql(empty);
        }
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                w.sql(separator);
            }
            w.nested(part);
        }
        w
    }

    /// Whether its SQL text contains `sql`, e.g. `"up_roles."` for a filter that reads the
    /// roles' columns. Bound values are not SQL text and are never searched.
    pub fn mentions(&self, sql: &str) -> bool {
        self.pieces
            .iter()
            .any(|piece| matches!(piece, Piece::Sql(text) if text.contains(sql)))
    }

    /// Whether this is one of the constant expressions (no filter at all, or nothing).
    fn is_constant(&self) -> bool {
        matches!(self.pieces.as_slice(), [Piece::Sql(s)] if s == "1 = 1" || s == "1 = 0")
    }

    /// `NOT (a)`.
    pub fn not(inner: &SqlWhere) -> SqlWhere {
        let mut w = SqlWhere::new(inner.dialect);
        w.sql("NOT ");
        w.nested(inner);
        w
    }
}

impl Expression for SqlWhere {
    type SqlType = Bool;
}

impl<QS> AppearsOnTable<QS> for SqlWhere {}
impl<QS> SelectableExpression<QS> for SqlWhere {}

impl ValidGrouping<()> for SqlWhere {
    type IsAggregate = is_aggregate::Never;
}

impl QueryId for SqlWhere {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB> QueryFragment<DB> for SqlWhere
where
    DB: Backend
        + HasSqlType<Text>
        + HasSqlType<BigInt>
        + HasSqlType<Double>
        + HasSqlType<Bool>
        + HasSqlType<Timestamp>,
    String: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    f64: ToSql<Double, DB>,
    bool: ToSql<Bool, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> diesel::QueryResult<()> {
        // A statement is prepared once per connection and kept only when its SQL comes from a
        // small set: kept statements are never evicted, and a caller's filters have endless
        // shapes.
        if !self.is_constant() {
            out.unsafe_to_cache_prepared();
        }
        for piece in &self.pieces {
            match piece {
                Piece::Sql(text) => out.push_sql(text),
                Piece::Bind(SqlValue::Text(v)) => out.push_bind_param::<Text, _>(v)?,
                Piece::Bind(SqlValue::Int(v)) => out.push_bind_param::<BigInt, _>(v)?,
                Piece::Bind(SqlValue::Float(v)) => out.push_bind_param::<Double, _>(v)?,
                Piece::Bind(SqlValue::Bool(v)) => out.push_bind_param::<Bool, _>(v)?,
                Piece::Bind(SqlValue::Timestamp(v)) => out.push_bind_param::<Timestamp, _>(v)?,
            }
        }
        Ok(())
    }
}

/// An `ORDER BY` list from Castellan's own vocabulary (sortable columns and directions),
/// optionally followed by a page (`LIMIT`/`OFFSET`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlOrder {
    sql: String,
    /// The default order (by id): its statements may be kept prepared. Other orders have too
    /// many shapes to keep.
    default: bool,
    /// `(limit, offset)`, bound.
    page: Option<(i64, i64)>,
}

impl SqlOrder {
    /// `sql`, checked by the caller against its whitelist; `default` when no sort was asked.
    pub fn new(sql: String, default: bool) -> Self {
        Self {
            sql,
            default,
            page: None,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.sql
    }

    /// The order followed by `LIMIT (limit + 0) OFFSET (offset + 0)`. SQLite (3.47 and later)
    /// reads a plain `LIMIT ?` at prepare time and then prepares the statement again whenever
    /// the parameter is bound, which is every execution; an expression is read only when the
    /// statement runs, so the prepared statement is reused.
    pub fn paged(&self, limit: i64, offset: i64) -> Self {
        Self {
            page: Some((limit, offset)),
            ..self.clone()
        }
    }
}

impl Expression for SqlOrder {
    type SqlType = Text;
}

impl<QS> AppearsOnTable<QS> for SqlOrder {}
impl<QS> SelectableExpression<QS> for SqlOrder {}

impl ValidGrouping<()> for SqlOrder {
    type IsAggregate = is_aggregate::Never;
}

impl QueryId for SqlOrder {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB> QueryFragment<DB> for SqlOrder
where
    DB: Backend + HasSqlType<BigInt>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> diesel::QueryResult<()> {
        if !self.default {
            out.unsafe_to_cache_prepared();
        }
        out.push_sql(&self.sql);
        if let Some((limit, offset)) = &self.page {
            out.push_sql(" LIMIT (");
            out.push_bind_param::<BigInt, _>(limit)?;
            out.push_sql(" + 0) OFFSET (");
            out.push_bind_param::<BigInt, _>(offset)?;
            out.push_sql(" + 0)");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::sqlite::Sqlite;

    fn kept(fragment: &impl QueryFragment<Sqlite>) -> bool {
        fragment.is_safe_to_cache_prepared(&Sqlite).unwrap()
    }

    #[test]
    fn only_statements_of_a_few_shapes_stay_prepared() {
        // A connection never evicts a prepared statement: a caller's filters and sorts, which
        // have endless shapes, must not be kept.
        assert!(kept(&SqlWhere::always(Dialect::Sqlite)));
        assert!(kept(&SqlWhere::any(Dialect::Sqlite, &[])));
        let mut filtered = SqlWhere::new(Dialect::Sqlite);
        filtered
            .sql("up_users.username = ")
            .bind(SqlValue::Text("ada".into()));
        assert!(!kept(&filtered));
        assert!(!kept(&SqlWhere::all(Dialect::Sqlite, &[filtered])));

        let default = SqlOrder::new("up_users.id ASC".into(), true);
        assert!(kept(&default));
        assert!(kept(&default.paged(20, 40)));
        let sorted = SqlOrder::new("up_users.username DESC, up_users.id ASC".into(), false);
        assert!(!kept(&sorted.paged(20, 0)));
    }
}
