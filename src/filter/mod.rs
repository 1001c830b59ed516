//! Query objects: the sift.js-style conditions of grants ("may update users whose
//! `attributes.team` is mine"), parsed once, bound to a user, then either evaluated in memory
//! or compiled to a SQL `WHERE` fragment for SQLite or PostgreSQL.
//!
//! # The language
//!
//! A query object is JSON, exactly as sift.js 17.1.4 reads it with these operators:
//!
//! - a query's keys are dotted field paths, `$and` / `$or` (non-empty arrays of queries), and
//!   operators on the queried value itself (at the top, the document: `{"$ne": 1}` holds for
//!   every document); several keys mean AND; `{}` matches everything. Inside `$and`, `$or` and
//!   `$elemMatch`, a query that is no object is read as sift reads it: an array as the object
//!   keyed by its indexes, a scalar as `{"$eq": scalar}`;
//! - a path's value is an operator object (every key starts with `$`) or a value to equal
//!   (implicit `$eq`): a scalar, or a whole array or object;
//! - operators: `$eq $ne` (any value), `$eqi` (string; ASCII case-insensitive equality, only
//!   strings match), `$in $nin` (an array of values, or one value), `$lt $lte $gt $gte` (any
//!   value; the compared value must have the operand's JavaScript `typeof`), `$exists` (its
//!   truthiness), `$elemMatch` (a query applied to each element: fields, `$and`/`$or`,
//!   operators on the element, side by side).
//!
//! The semantics are sift 17.1.4's (MongoDB's for paths through arrays), which `eval.rs` ports
//! operation by operation: a path descends into every element of an array it meets (nested
//! arrays too) unless its next segment is numeric (`a.0` is the first element; a numeric
//! segment also indexes a string's characters), and then also looks the key up on the array
//! itself, which yields nothing (`$ne`, `$in`, `$nin` and the equality-like operators skip
//! it). Equality is sift's `equals`: `null` equals null and missing, numbers compare as doubles,
//! arrays element by element in order, objects key by key in any order (a key the value lacks
//! equals a `null` of the operand). `$exists: true` holds when some value at the end of the
//! path is an own key (an element holding it, wherever it is), `$exists: false` when none is.
//! `$elemMatch` holds for the first array at the end of the path with a matching element,
//! stopping at an array inside an array.
//!
//! # Restrictions beyond sift (refused by [`Filter::parse`])
//!
//! - operators sift has but the reference does not list (`$not`, `$regex`, `$size`, `$all`,
//!   `$where`, `$nor`, …), and `$eqi` with an operand that is no string;
//! - path segments must be non-empty letters, digits, `_` or `-`, and must not name a member of
//!   JavaScript's `Object`, `Array`, `String`, `Number` or `Boolean` prototypes, nor `Infinity`
//!   (sift would read `"abc".link` as a function, `[1].length` as 1). At the top level of a query
//!   the first segment is looked up on the document object, so only the `Object` names are
//!   refused there (`{"keys": 1}` is fine, `{"attributes.keys": 1}` is not). A whole object to
//!   compare with must not hold a key named like an `Object` member either (sift would compare
//!   it with the inherited member where a document lacks it);
//! - the top level of a query object must be an object.
//!
//! # SQL
//!
//! A field whose operators have scalar operands (a number, a boolean, or a string without
//! characters from U+E000 on for `$lt`…), whose path has no numeric segment, and whose
//! `$elemMatch` queries hold only fields and operators compiles to SQL that gives sift's answer
//! exactly. Anything else (whole arrays or objects to equal, a numeric segment, `$and`/`$or`
//! inside `$elemMatch`, operators on the whole document, comparisons with null, arrays,
//! objects or such strings) compiles to `TRUE` — a superset — and the
//! compiled filter carries a residue ([`SqlFilter::residue`]) that the selected rows must pass
//! in memory: the users' lists and totals then read every row the rest of their SQL selects.
//!
//! # Bounds (refused by [`Filter::parse`])
//!
//! A query object is data that an administrator declares once and the server then runs on
//! every request, so its size is bounded where it is declared (see [`limits`]): at most
//! [`limits::MAX_DEPTH`] levels of nested objects and arrays, [`limits::MAX_LIST`] elements
//! in an array (the operand of `$in`/`$nin`, the queries of `$and`/`$or`),
//! [`limits::MAX_STRING`] characters in a key or a string, and [`limits::MAX_NODES`] keys and
//! values in all. The bounds are checked before the query is walked recursively. Then the SQL
//! the query could become is bounded too: compiled at its costliest (every path walked inside a
//! JSON document, every `$user.` list [`limits::MAX_LIST`] values long), it may bind at most
//! [`limits::MAX_SQL_PARAMETERS`] values and take [`limits::MAX_SQL_BYTES`] bytes on either
//! database. What a [`FieldMap`] cannot locate is the one failure left to [`Filter::to_sql`];
//! the policy checks it when a condition is granted on the users' actions.
//!
//! # Placeholders
//!
//! A string operand starting with `$user.` refers to the requesting user; [`Filter::bind`]
//! replaces it by the value at that dotted path of the user. A placeholder can be bound only
//! to a value its operator takes: a scalar other than `null` for `$eq`, `$ne` and an element
//! of `$in`/`$nin`, a string for `$eqi`, a number or a string for `$lt`…, and, when it is the
//! whole operand of `$in`/`$nin` (`{"team": {"$in": "$user.attributes.teams"}}`), an array of
//! at most [`limits::MAX_LIST`] scalars. When any placeholder of a query cannot be bound —
//! the user has no value there, the value is `null`, or it does not fit — the whole bound
//! query matches nothing, whatever operator, `$or` branch or `$elemMatch` the placeholder sits
//! in: a user without a team reaches no one through "same team as me", rather than everyone
//! without a team. An unbound placeholder is a plain string.

mod eval;
mod parse;
mod sql;

/// The bounds of a query object, checked by [`Filter::parse`] before anything else.
pub mod limits {
    /// Levels of nested objects and arrays, the query object itself being the first:
    /// `{"a": {"$in": [1]}}` has three.
    pub const MAX_DEPTH: usize = 32;
    /// Elements of one array: the values of `$in`/`$nin`, the queries of `$and`/`$or`. A
    /// `$user.` placeholder that stands for a whole `$in`/`$nin` list is bound only to an array
    /// this long at most.
    pub const MAX_LIST: usize = 1_000;
    /// Characters of one key or string.
    pub const MAX_STRING: usize = 1_000;
    /// Keys and values in all, nested ones included (`{"a": {"$in": [1, 2]}}` counts 5:
    /// the query, `a`'s operator object, the `$in` array and its two values).
    pub const MAX_NODES: usize = 5_000;
    /// Bind parameters of the query's SQL, at worst (every path in JSON, every `$user.` list
    /// [`MAX_LIST`] long): SQLite takes at most 32,766 in one statement, PostgreSQL 65,535.
    pub const MAX_SQL_PARAMETERS: usize = 20_000;
    /// Bytes of the query's SQL text, at worst, bound values aside.
    pub const MAX_SQL_BYTES: usize = 2_000_000;
}

use std::fmt;

pub use sql::{SqlCache, SqlFilter};

/// A parsed query object. Build it with [`Filter::parse`] or [`Filter::any_of`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Filter {
    /// The conditions, all of which must hold.
    root: Vec<Node>,
}

/// A condition of a query object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Node {
    /// A dotted path and the operators its values must satisfy (all of them).
    Field { path: Vec<String>, ops: Vec<Op> },
    /// Every query holds (each query is itself an AND of nodes).
    And(Vec<Vec<Node>>),
    /// At least one query holds.
    Or(Vec<Vec<Node>>),
}

/// One operator applied to the values a path reaches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Op {
    Eq(Scalar),
    Ne(Scalar),
    /// Equal to the string, ignoring ASCII case.
    Eqi(String),
    In(ScalarList),
    Nin(ScalarList),
    Cmp(CmpOp, Scalar),
    /// The operand's JavaScript truthiness.
    Exists(bool),
    /// A query on each element (its fields, `$and`/`$or`, operators on the element itself).
    ElemMatch(Vec<Node>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ScalarList {
    values: Vec<Scalar>,
    /// The operand was a single `$user.` string standing for the whole list.
    placeholder: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum CmpOp {
    Lt,
    Lte,
    Gt,
    Gte,
}

/// A value to compare with: a JSON scalar (numbers as JavaScript sees them), or a whole array
/// or object.
#[derive(Debug, Clone, PartialEq)]
enum Scalar {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    /// An array or an object.
    Json(Box<serde_json::Value>),
}

/// Filters are keys of [`SqlCache`]. JSON has no NaN, so every number equals itself; a NaN
/// would only make a key that is never found again.
impl Eq for Scalar {}

impl std::hash::Hash for Scalar {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Scalar::Null => {}
            Scalar::Bool(b) => b.hash(state),
            // 0 and -0 are equal, so they hash alike.
            Scalar::Num(n) => (if *n == 0.0 { 0 } else { n.to_bits() }).hash(state),
            Scalar::Str(s) => s.hash(state),
            // Equal arrays and objects may be written differently (`1` and `1.0`, key order):
            // they hash alike by their discriminant alone.
            Scalar::Json(_) => {}
        }
    }
}

/// Why a query object was refused, or could not be compiled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FilterError {
    #[error("{at}: expected a query object (field paths, $and, $or), found {found}")]
    NotAQuery { at: String, found: String },
    #[error(
        "{at}: unknown operator `{operator}`; the operators are $eq $eqi $ne $in $nin $lt $lte $gt $gte $exists $elemMatch, and $and/$or at document level"
    )]
    UnknownOperator { at: String, operator: String },
    #[error("{at}: `{operator}` expects {expected}, found {found}")]
    BadOperand {
        at: String,
        operator: String,
        expected: &'static str,
        found: String,
    },
    #[error(
        "{at}: {found} is not a value to compare with; write a scalar, or an operator object such as {{\"$eq\": …}} (every key starting with `$`)"
    )]
    CompositeValue { at: String, found: String },
    #[error(
        "{at}: an operator object mixes operators ({operators}) with field keys ({fields}); keys must all start with `$`, or none"
    )]
    MixedKeys {
        at: String,
        operators: String,
        fields: String,
    },
    #[error("{at}: `{operator}` expects a non-empty array of query objects, found {found}")]
    BadGroup {
        at: String,
        operator: String,
        found: String,
    },
    #[error("{at}: `{operator}` is not allowed here: {reason}")]
    Misplaced {
        at: String,
        operator: String,
        reason: &'static str,
    },
    #[error("{at}: the path `{path}` is invalid: {reason}")]
    BadPath {
        at: String,
        path: String,
        reason: String,
    },
    #[error("the field `{path}` cannot be filtered on (unknown to this query)")]
    UnknownField { path: String },
    #[error("{at}: {what}")]
    TooLarge { at: String, what: String },
    #[error(
        "the field `{path}` is private: password and token hashes are never read by conditions"
    )]
    PrivateField { path: String },
    #[error(
        "the field `{path}` is a private attribute (`private = true` in [[user.attributes]]): conditions never read it"
    )]
    PrivateAttribute { path: String },
}

/// The SQL dialect to compile for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Where the fields of a query live in SQL, decided by the caller.
pub trait FieldMap {
    /// The location of `path` (its dotted segments); `None` for a field that cannot be filtered
    /// on, which makes [`Filter::to_sql`] fail.
    fn locate(&self, path: &[&str]) -> Option<Location>;
}

/// Where a field path lives in SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A plain column holding a scalar or NULL (never an array, never missing), e.g.
    /// `up_users.id`. NULL counts as a present `null`.
    Column { sql: String, kind: ColumnKind },
    /// A column holding a JSON document as TEXT, and the path inside it: the remaining
    /// segments of the field path. SQL NULL counts as `null`. The segments of the field path
    /// before `path` are taken to be objects that are present.
    ///
    /// On PostgreSQL the text is cast with `::jsonb` where it is read, once per use in the
    /// condition, unless `jsonb` names a `jsonb` column that always holds the same document
    /// (e.g. `GENERATED ALWAYS AS (doc::jsonb) STORED`), which is then read instead.
    Json {
        column_sql: String,
        path: Vec<String>,
        jsonb: Option<String>,
    },
    /// A value inside a JSON column that is always a scalar of `kind`, `null` or missing (a
    /// declared attribute, checked on every write), read through `sql`: an expression that is
    /// NULL when the value is missing or `null`, and that an index is built on. Equality,
    /// `$in` and `$lt`… compile to plain tests of `sql` (`sql = ?`, `sql IN (…)`, `sql < ?`),
    /// which the index serves; the other operators test `sql` as a [`Location::Column`], except
    /// `$exists` and `$elemMatch`, which tell a missing value from `null` and read `json`.
    Indexed {
        sql: String,
        kind: ColumnKind,
        json: Box<Location>,
    },
}

/// The type of a [`Location::Column`], which decides how operands compare with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Integer,
    Text,
    Bool,
    /// A `NaiveDateTime` column, compared as the text `YYYY-MM-DD HH:MM:SS[.fff|.ffffff]` —
    /// chrono's `%F %T%.f`, which is how diesel stores it on SQLite; on PostgreSQL the value is
    /// formatted the same way. Only string operands can match; in memory, documents must carry
    /// timestamps in that form too.
    Timestamp,
}

impl Filter {
    /// Parses a query object, refusing anything outside the language with an error that names
    /// the offending key and what was expected.
    pub fn parse(query: &serde_json::Value) -> Result<Filter, FilterError> {
        let root = parse::parse(query)?;
        sql::check_cost(&root)?;
        Ok(Filter { root })
    }

    /// The filter with every `$user.` placeholder replaced by the value at that path of `user`;
    /// a filter that matches nothing when any placeholder cannot be bound (missing, `null`, or
    /// a value its operator does not take; see the module documentation).
    pub fn bind(&self, user: &serde_json::Value) -> Filter {
        match parse::bind_nodes(&self.root, user) {
            Some(root) => Filter { root },
            None => Filter::nothing(),
        }
    }

    /// The filter that matches nothing.
    pub fn nothing() -> Filter {
        Filter::any_of(Vec::new())
    }

    /// Whether this is [`Filter::nothing`].
    pub fn is_nothing(&self) -> bool {
        matches!(self.root.as_slice(), [Node::Or(alternatives)] if alternatives.is_empty())
    }

    /// Every `$user.` placeholder the filter holds, as written (`"$user.attributes.team"`).
    pub fn placeholders(&self) -> Vec<String> {
        let mut out = Vec::new();
        parse::collect_placeholders(&self.root, &mut out);
        out
    }

    /// Whether `document` (a JSON object) satisfies the filter, as sift.js would decide.
    pub fn matches(&self, document: &serde_json::Value) -> bool {
        eval::matches(&self.root, document)
    }

    /// The filter as a SQL condition for `dialect`, with fields located by `fields`.
    pub fn to_sql(
        &self,
        dialect: Dialect,
        fields: &dyn FieldMap,
    ) -> Result<SqlFilter, FilterError> {
        sql::compile(self, dialect, fields)
    }

    /// The alternatives `filters`: a document matches when it matches at least one.
    /// With no filter at all, nothing matches.
    pub fn any_of(filters: Vec<Filter>) -> Filter {
        Filter {
            root: vec![Node::Or(filters.into_iter().map(|f| f.root).collect())],
        }
    }

    /// Every field path the filter reads, dotted, without repeats (in the order the query's
    /// keys are stored, `$and`/`$or` first):
    /// the document-level paths (the ones [`FieldMap::locate`] sees) and, for `$elemMatch`
    /// queries, the element paths prefixed by the array's path.
    pub fn paths(&self) -> Vec<String> {
        let mut out = Vec::new();
        parse::collect_paths(&self.root, "", &mut out);
        out
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Null => f.write_str("null"),
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Num(n) => write!(f, "{n}"),
            Scalar::Str(s) => write!(f, "{s:?}"),
            Scalar::Json(v) => write!(f, "{v}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refused(query: serde_json::Value) -> String {
        match Filter::parse(&query) {
            Ok(filter) => panic!("{query} was accepted: {filter:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn check(query: serde_json::Value, document: serde_json::Value) -> bool {
        Filter::parse(&query).unwrap().matches(&document)
    }

    #[test]
    fn every_refusal_names_the_key_and_what_was_expected() {
        let cases = [
            (json!([1]), "expected a query object"),
            (json!("a"), "expected a query object"),
            (json!({"a": {"$regex": "x"}}), "unknown operator `$regex`"),
            (json!({"$nor": [{"a": 1}]}), "unknown operator `$nor`"),
            (json!({"$where": "1"}), "unknown operator `$where`"),
            (
                json!({"a": {"$eq": 1, "b": 2}}),
                "mixes operators (`$eq`) with field keys (`b`)",
            ),
            (
                json!({"a": {"$elemMatch": {"b": {"$eq": 1, "c": 2}}}}),
                "mixes operators",
            ),
            (
                json!({"a": {"$eqi": 1}}),
                "`$eqi` expects a string, found the number 1",
            ),
            (
                json!({"a": {"$in": [{"$gt": 1}]}}),
                "`$in` expects an array of values to equal, without operators",
            ),
            (
                json!({"a": {"$nin": {"$eq": 1}}}),
                "`$nin` expects an array of values to equal",
            ),
            (
                json!({"a": {"$elemMatch": 1}}),
                "`$elemMatch` expects an object",
            ),
            (json!({"a": {"$elemMatch": null}}), "`$elemMatch` expects"),
            (
                json!({"$and": []}),
                "`$and` expects a non-empty array of query objects",
            ),
            (json!({"$or": {"a": 1}}), "`$or` expects a non-empty array"),
            (
                json!({"a": {"$or": [{"b": 1}]}}),
                "`$or` is not allowed here",
            ),
            (
                json!({"a": {"$elemMatch": {"b": {"$and": [{"c": 1}]}}}}),
                "`$and` is not allowed here",
            ),
            (
                json!({"a": {"$eq": {"x": {"constructor": 1}}}}),
                "`constructor` names a JavaScript built-in member",
            ),
            (
                json!({"a..b": 1}),
                "the path `a..b` is invalid: it has an empty segment",
            ),
            (json!({"a.": 1}), "empty segment"),
            (json!({"": 1}), "empty segment"),
            (json!({"a.b c": 1}), "contains ` `"),
            // Keys written to reach the SQL text of a condition.
            (
                json!({"attributes.a'); DROP TABLE up_roles; --": 1}),
                "contains `'`",
            ),
            (json!({"attributes.b\" || 1 --": 1}), "contains `\"`"),
            (json!({"a.b$[0]": 1}), "contains `$`"),
            (json!({"constructor": 1}), "JavaScript built-in member"),
            (json!({"a.length": 1}), "JavaScript built-in member"),
            (json!({"a.Infinity": 1}), "JavaScript built-in member"),
            (
                json!({"a": {"$elemMatch": {"keys": 1}}}),
                "JavaScript built-in member",
            ),
        ];
        for (query, expected) in cases {
            let message = refused(query.clone());
            assert!(message.contains(expected), "{query}: {message}");
        }
        // A document-level field may be named like an Array/String member.
        assert!(Filter::parse(&json!({"keys": 1, "link": {"$exists": true}})).is_ok());
    }

    /// Issue 24: every query sift 17.1.4 accepts with the listed operators is accepted.
    #[test]
    fn every_query_sift_accepts_is_accepted() {
        for query in [
            json!({"attributes.tags": ["alpha", "beta"]}),
            json!({"attributes.plan": {"tier": "Gold", "seats": 3}}),
            json!({"a": {}}),
            json!({"a": {"$eq": {"b": 1}}, "c": {"$ne": [1]}}),
            json!({"a": {"$in": [[1], {"b": 2}, null]}, "c": {"$nin": [[]]}}),
            json!({"a": {"$in": 1}, "b": {"$nin": "x"}}),
            json!({"attributes.pets.0.kind": "cat"}),
            json!({"a.0": 1, "a.1e1": 2, "a.0x1": 3}),
            json!({"a": {"$elemMatch": {"$or": [{"b": 1}, {"c": 2}], "d": 3}}}),
            json!({"a": {"$elemMatch": {"$and": [{"$gt": 1}], "$lt": 5}}}),
            json!({"a": {"$elemMatch": {"$eq": 1, "b": 2}}}),
            json!({"a": {"$elemMatch": [1]}}),
            json!({"$or": [1, [2], {"a": 1}]}),
            json!({"a": {"$lt": null, "$gte": true, "$lte": [1], "$gt": {"b": 1}}}),
            json!({"a": {"$exists": 1}, "b": {"$exists": ""}, "c": {"$exists": null}}),
            json!({"$eq": 1, "$ne": {"a": 1}, "$exists": true}),
            json!({"a": {"$eq": {"$gt": 1}}}),
        ] {
            assert!(
                Filter::parse(&query).is_ok(),
                "{query}: {}",
                refused(query.clone())
            );
        }
    }

    #[test]
    fn paths_walk_arrays_like_sift() {
        // Equality against an array matches any element, nested arrays included.
        assert!(check(json!({"a": 2}), json!({"a": [1, [2]]})));
        assert!(check(
            json!({"a.b": 1}),
            json!({"a": [{"b": 0}, {"b": [1]}]})
        ));
        assert!(!check(json!({"a": 2}), json!({"a": {"b": 2}})));
        // `null` equals null and missing, not an empty array.
        assert!(check(json!({"a": null}), json!({})));
        assert!(check(json!({"a": null}), json!({"a": null})));
        assert!(!check(json!({"a": null}), json!({"a": []})));
        assert!(check(json!({"a.b": null}), json!({"a": 5})));
        // The `undefined` of a key looked up on an array is no value (sift 17.1.4, MongoDB):
        // `$eq`, `$ne`, `$in`, `$nin` all skip it.
        assert!(!check(json!({"a.b": null}), json!({"a": [{"b": 1}]})));
        assert!(check(
            json!({"a.b": {"$ne": null}}),
            json!({"a": [{"b": 1}]})
        ));
        assert!(!check(
            json!({"a.b": {"$in": [null]}}),
            json!({"a": [{"b": 1}]})
        ));
        assert!(check(json!({"a.b": null}), json!({"a": [{"c": 1}]})));
        // `$ne`/`$nin` on arrays: no element may equal.
        assert!(!check(json!({"a": {"$ne": 1}}), json!({"a": [0, 1]})));
        assert!(check(json!({"a": {"$ne": 3}}), json!({"a": [0, 1]})));
        assert!(!check(json!({"a": {"$nin": [1]}}), json!({"a": [0, 1]})));
        assert!(check(json!({"a": {"$nin": [1]}}), json!({"a": []})));
        // …nested arrays included.
        assert!(!check(json!({"a": {"$nin": [1]}}), json!({"a": [[2], 1]})));
        // Whole arrays and objects equal as values, objects whatever their key order.
        assert!(check(json!({"a": [1, 2]}), json!({"a": [1, 2]})));
        assert!(check(json!({"a": [1, 2]}), json!({"a": [[1, 2], 3]})));
        assert!(!check(json!({"a": [1, 2]}), json!({"a": [2, 1]})));
        assert!(check(
            json!({"a": {"y": 1, "x": 2}}),
            json!({"a": {"x": 2, "y": 1}})
        ));
        assert!(check(
            json!({"a": {"x": null, "y": 1}}),
            json!({"a": {"y": 1, "z": 5}})
        ));
        assert!(!check(
            json!({"a": {"x": 1}}),
            json!({"a": {"x": 1, "y": 2}})
        ));
        // Numeric segments index arrays and strings.
        assert!(check(
            json!({"a.1.b": 2}),
            json!({"a": [{"b": 1}, {"b": 2}]})
        ));
        assert!(check(json!({"a.0": "x"}), json!({"a": "xy"})));
        // …by UTF-16 unit: half of an emoji is a lone surrogate, ordered as JavaScript does.
        assert!(check(
            json!({"a.0": {"$lte": "\u{FF21}"}}),
            json!({"a": "😀"})
        ));
        assert!(!check(json!({"a.0": "\u{FFFD}"}), json!({"a": "😀"})));
        assert!(!check(
            json!({"a.0": {"$gt": "\u{FFFF}"}}),
            json!({"a": "😀"})
        ));
        assert!(check(
            json!({"a.1.0": {"$exists": true}}),
            json!({"a": "😀"})
        ));
    }

    #[test]
    fn exists_distinguishes_null_from_missing_and_follows_walk_order() {
        assert!(check(json!({"a": {"$exists": true}}), json!({"a": null})));
        assert!(!check(json!({"a": {"$exists": true}}), json!({})));
        assert!(check(
            json!({"a.b": {"$exists": false}}),
            json!({"a": null})
        ));
        // Any element holding the key makes it exist, wherever it is in the array.
        assert!(check(
            json!({"a.b": {"$exists": true}}),
            json!({"a": [{"b": 1}, null]})
        ));
        assert!(check(
            json!({"a.b": {"$exists": true}}),
            json!({"a": [null, {"b": 1}]})
        ));
        assert!(!check(
            json!({"a.b": {"$exists": false}}),
            json!({"a": [{"b": 3}, {"b": 4}]})
        ));
        assert!(check(json!({"a.b": {"$exists": false}}), json!({"a": []})));
    }

    #[test]
    fn comparisons_need_the_operand_type() {
        assert!(check(json!({"a": {"$gt": 1}}), json!({"a": 1.5})));
        assert!(!check(json!({"a": {"$gt": 1}}), json!({"a": "2"})));
        assert!(check(json!({"a": {"$lt": "b"}}), json!({"a": "B"})));
        assert!(!check(json!({"a": {"$lte": 0}}), json!({"a": null})));
        assert!(!check(json!({"a": {"$gte": 0}}), json!({})));
        assert!(check(
            json!({"a": {"$gte": 1, "$lt": 2}}),
            json!({"a": [0, 5, 1]})
        ));
        assert!(!check(json!({"a": 1}), json!({"a": true})));
        assert!(check(json!({"a": 1}), json!({"a": 1.0})));
        // Booleans and null compare too, with JavaScript's coercions among objects.
        assert!(check(json!({"a": {"$gt": false}}), json!({"a": true})));
        assert!(check(json!({"a": {"$lte": null}}), json!({})));
        assert!(check(json!({"a": {"$lte": null}}), json!({"a": []})));
        assert!(!check(json!({"a": {"$lt": null}}), json!({"a": null})));
        assert!(check(json!({"a": {"$lt": [5]}}), json!({"a": ["10"]})));
    }

    #[test]
    fn eqi_folds_ascii_case_of_strings_only() {
        assert!(check(json!({"a": {"$eqi": "TeAm"}}), json!({"a": "team"})));
        assert!(check(json!({"a": {"$eqi": "x"}}), json!({"a": [1, "X"]})));
        assert!(!check(json!({"a": {"$eqi": "1"}}), json!({"a": 1})));
        assert!(!check(json!({"a": {"$eqi": "é"}}), json!({"a": "É"})));
    }

    #[test]
    fn elem_match_takes_a_query_or_operators() {
        let doc = json!({"tags": [{"k": "a", "v": 1}, {"k": "b", "v": 2}], "n": [1, 5]});
        assert!(check(
            json!({"tags": {"$elemMatch": {"k": "b", "v": 2}}}),
            doc.clone()
        ));
        assert!(!check(
            json!({"tags": {"$elemMatch": {"k": "a", "v": 2}}}),
            doc.clone()
        ));
        assert!(check(
            json!({"n": {"$elemMatch": {"$gt": 2, "$lt": 6}}}),
            doc.clone()
        ));
        assert!(!check(
            json!({"n": {"$elemMatch": {"$gt": 1, "$lt": 5}}}),
            doc.clone()
        ));
        assert!(!check(json!({"k": {"$elemMatch": {}}}), json!({"k": "a"})));
        assert!(check(json!({"k": {"$elemMatch": {}}}), json!({"k": [1]})));
        // An array inside an array settles it: here the inner [1].
        assert!(!check(
            json!({"a": {"$elemMatch": {"$eq": 2}}}),
            json!({"a": [[1], [2]]})
        ));
        // Each array of a path through objects is a candidate.
        assert!(check(
            json!({"a.b": {"$elemMatch": {"$eq": 2}}}),
            json!({"a": [{"b": [1]}, {"b": [2]}]})
        ));
        // $and/$or and operators beside fields inside $elemMatch.
        assert!(check(
            json!({"tags": {"$elemMatch": {"$or": [{"k": "z"}, {"v": 2}], "k": "b"}}}),
            doc.clone()
        ));
    }

    #[test]
    fn and_or_and_alternatives() {
        let doc = json!({"a": 1, "b": 2});
        assert!(check(json!({"$or": [{"a": 2}, {"b": 2}]}), doc.clone()));
        assert!(!check(json!({"$and": [{"a": 1}, {"b": 1}]}), doc.clone()));
        assert!(check(json!({}), doc.clone()));
        let one = Filter::parse(&json!({"a": 2})).unwrap();
        let two = Filter::parse(&json!({"b": 2})).unwrap();
        assert!(Filter::any_of(vec![one.clone(), two]).matches(&doc));
        assert!(!Filter::any_of(vec![one]).matches(&doc));
        assert!(!Filter::any_of(vec![]).matches(&doc));
    }

    #[test]
    fn bind_replaces_user_placeholders() {
        let user = json!({"id": 7, "attributes": {"team": "red", "teams": ["red", "blue"], "n": {"x": 1}}});
        let filter = Filter::parse(&json!({
            "owner": "$user.id",
            "team": {"$eqi": "$user.attributes.team"},
            "color": {"$in": "$user.attributes.teams"},
        }))
        .unwrap();
        // Unbound, a placeholder is a plain string.
        assert!(filter.matches(&json!({"owner": "$user.id", "team": "$USER.attributes.team", "color": "$user.attributes.teams"})));
        let bound = filter.bind(&user);
        assert!(bound.matches(&json!({"owner": 7, "team": "RED", "color": ["blue"]})));
        assert!(!bound.matches(&json!({"owner": 7, "team": "RED", "color": "green"})));
        // A value the operator cannot take makes the query match nothing.
        for query in [
            json!({"a": "$user.attributes.teams"}),
            json!({"a": {"$ne": "$user.attributes.n"}}),
            json!({"a": {"$eqi": "$user.id"}}),
            json!({"a": {"$gt": "$user.attributes.n"}}),
            json!({"a": {"$in": "$user.attributes.team"}}),
            json!({"a": {"$nin": "$user.attributes.team"}}),
            json!({"a": {"$in": ["$user.attributes.n"]}}),
        ] {
            let bound = Filter::parse(&query).unwrap().bind(&user);
            for doc in [
                json!({}),
                json!({"a": "red"}),
                json!({"a": 7}),
                json!({"a": null}),
            ] {
                assert!(!bound.matches(&doc), "{query} on {doc}");
            }
        }
        let gt = Filter::parse(&json!({"a": {"$gt": "$user.id"}}))
            .unwrap()
            .bind(&user);
        assert!(gt.matches(&json!({"a": 8})));
    }

    /// The rule of issue 17: a `$user` value the user lacks (or holds as null) never matches
    /// the entities that lack it too; the whole query reaches nothing, wherever the placeholder
    /// sits, and only that query (alternatives still apply).
    #[test]
    fn a_placeholder_the_user_lacks_makes_the_whole_query_match_nothing() {
        let lacking = [
            json!({"id": 1}),
            json!({"id": 1, "attributes": {}}),
            json!({"id": 1, "attributes": {"team": null}}),
            json!({"id": 1, "attributes": null}),
            json!(null),
        ];
        let queries = [
            json!({"attributes.team": "$user.attributes.team"}),
            json!({"attributes.team": {"$eq": "$user.attributes.team"}}),
            json!({"attributes.team": {"$ne": "$user.attributes.team"}}),
            json!({"attributes.team": {"$eqi": "$user.attributes.team"}}),
            json!({"attributes.team": {"$in": ["x", "$user.attributes.team"]}}),
            json!({"attributes.team": {"$nin": ["$user.attributes.team"]}}),
            json!({"attributes.team": {"$in": "$user.attributes.team"}}),
            json!({"attributes.team": {"$gte": "$user.attributes.team"}}),
            json!({"tags": {"$elemMatch": {"team": "$user.attributes.team"}}}),
            json!({"tags": {"$elemMatch": {"$ne": "$user.attributes.team"}}}),
            json!({"$or": [{"id": {"$gt": 0}}, {"attributes.team": "$user.attributes.team"}]}),
            json!({"$and": [{"$or": [{"x": 1}, {"y": {"$ne": "$user.attributes.team.name"}}]}]}),
        ];
        let documents = [
            json!({}),
            json!({"id": 2}),
            json!({"id": 2, "attributes": {}}),
            json!({"id": 2, "attributes": {"team": null}, "tags": [{}]}),
            json!({"id": 2, "attributes": {"team": "red"}, "tags": [{"team": "red"}, "x"]}),
        ];
        for user in &lacking {
            for query in &queries {
                let bound = Filter::parse(query).unwrap().bind(user);
                assert!(bound.is_nothing(), "{query} for {user}: {bound:?}");
                for document in &documents {
                    assert!(!bound.matches(document), "{query} for {user} on {document}");
                }
            }
        }
        // The other alternatives of a grant still apply.
        let same_team =
            Filter::parse(&json!({"attributes.team": "$user.attributes.team"})).unwrap();
        let is_self = Filter::parse(&json!({"id": "$user.id"})).unwrap();
        let user = json!({"id": 2});
        let scope = Filter::any_of(vec![same_team.bind(&user), is_self.bind(&user)]);
        assert!(scope.matches(&json!({"id": 2})));
        assert!(!scope.matches(&json!({"id": 3})));
        // With the value, the query works as before, in memory and in its unbound form.
        let red = json!({"id": 9, "attributes": {"team": "red"}});
        let bound = same_team.bind(&red);
        assert!(!bound.is_nothing());
        assert!(bound.matches(&json!({"attributes": {"team": "red"}})));
        assert!(!bound.matches(&json!({"attributes": {}})));
        // False and 0 are values, not absences.
        let flag = Filter::parse(&json!({"a": "$user.f"})).unwrap();
        assert!(
            flag.bind(&json!({"f": false}))
                .matches(&json!({"a": false}))
        );
        assert!(flag.bind(&json!({"f": 0})).matches(&json!({"a": 0})));
        // A list placeholder bound to more values than a list may hold reaches nothing.
        let many: Vec<usize> = (0..=limits::MAX_LIST).collect();
        let listed = Filter::parse(&json!({"a": {"$in": "$user.many"}})).unwrap();
        assert!(listed.bind(&json!({"many": many})).is_nothing());
        assert!(
            listed
                .bind(&json!({"many": many[1..]}))
                .matches(&json!({"a": 5}))
        );
    }

    #[test]
    fn query_objects_beyond_the_bounds_are_refused_before_being_walked() {
        let nested = |levels: usize| {
            // {"a": {"$elemMatch": … {"a": {"$eq": 1}}}}: two levels, then two more a step.
            let mut query = json!({"a": {"$eq": 1}});
            for _ in 0..(levels - 2) / 2 {
                query = json!({"a": {"$elemMatch": query}});
            }
            query
        };
        assert!(Filter::parse(&nested(limits::MAX_DEPTH)).is_ok());
        let message = refused(nested(limits::MAX_DEPTH + 2));
        assert!(
            message.contains("nested more than the 32 levels allowed"),
            "{message}"
        );
        // Far deeper: refused by the iterative check, before the parse recurses.
        let message = refused(nested(1_000));
        assert!(message.contains("levels allowed"), "{message}");
        let mut deep = json!(1);
        for _ in 0..1_000 {
            deep = json!([deep]);
        }
        let message = refused(json!({"a": {"$in": deep}}));
        assert!(message.starts_with("query / a / $in[0][0]"), "{message}");

        let values = |n: usize| (0..n).map(|i| json!(i)).collect::<Vec<_>>();
        assert!(Filter::parse(&json!({"a": {"$in": values(limits::MAX_LIST)}})).is_ok());
        let message = refused(json!({"a": {"$nin": values(100_000)}}));
        assert_eq!(
            message,
            "query / a / $nin: an array of 100000 values is longer than the 1000 allowed"
        );
        let branches: Vec<_> = (0..=limits::MAX_LIST).map(|i| json!({"a": i})).collect();
        assert!(refused(json!({"$or": branches})).contains("longer than the 1000 allowed"));

        let long = "x".repeat(limits::MAX_STRING + 1);
        assert!(Filter::parse(&json!({"a": "x".repeat(limits::MAX_STRING)})).is_ok());
        assert_eq!(
            refused(json!({"a": {"$eq": long}})),
            "query / a / $eq: the string of 1001 characters is longer than the 1000 allowed"
        );
        assert!(refused(json!({ long.clone(): 1 })).contains("the key of 1001 characters"));

        // Five lists of 1,000 values: each within bounds, too many in all.
        let query: serde_json::Map<String, serde_json::Value> = (0..5)
            .map(|i| (format!("f{i}"), json!({"$in": values(limits::MAX_LIST)})))
            .collect();
        let message = refused(serde_json::Value::Object(query));
        assert!(
            message.contains("more than the 5000 values allowed"),
            "{message}"
        );
    }

    #[test]
    fn query_objects_whose_sql_could_be_too_large_are_refused() {
        // One `$user.` list under $nin stands for 1,000 values, each several parameters.
        let one = json!({"a": {"$nin": "$user.teams"}});
        assert!(Filter::parse(&one).is_ok());
        let message = refused(
            json!({"a": {"$nin": "$user.teams"}, "b": {"$nin": "$user.teams"}, "c": {"$in": "$user.teams"}, "d": {"$in": "$user.teams"}, "e": {"$in": "$user.teams"}}),
        );
        assert!(
            message.starts_with("query: in SQL it could bind ")
                && message
                    .contains("values, more than the 20000 allowed; write fewer or shorter paths"),
            "{message}"
        );
        // Within the bounds on values, too many walks of long paths.
        let long_path = format!("a{}", ".b".repeat(30));
        let fields: serde_json::Map<String, serde_json::Value> = (0..100)
            .map(|i| (format!("{long_path}.c{i}"), json!({"$ne": 1})))
            .collect();
        let message = refused(serde_json::Value::Object(fields));
        assert!(message.starts_with("query: in SQL it could "), "{message}");
    }

    #[test]
    fn placeholders_lists_the_user_values_a_filter_reads() {
        let filter = Filter::parse(&json!({
            "a": "$user.id",
            "$or": [{"b": {"$in": ["x", "$user.attributes.team"]}}, {"c": {"$eqi": "$user.email"}}],
            "tags": {"$elemMatch": {"k": {"$lt": "$user.id"}}},
            "d": "user.x",
        }))
        .unwrap();
        let mut found = filter.placeholders();
        found.sort();
        assert_eq!(found, ["$user.attributes.team", "$user.email", "$user.id"]);
    }

    #[test]
    fn paths_lists_what_a_filter_reads() {
        let filter = Filter::parse(&json!({
            "a.b": 1,
            "$or": [{"c": 1}, {"a.b": 2}],
            "tags": {"$elemMatch": {"k": "x", "v.w": {"$gt": 1}}},
        }))
        .unwrap();
        assert_eq!(filter.paths(), ["c", "a.b", "tags", "tags.k", "tags.v.w"]);
    }
}
