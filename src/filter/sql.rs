//! Compilation to a SQL condition for SQLite or PostgreSQL.
//!
//! A path into a JSON column becomes a recursive CTE (on PostgreSQL, the function
//! `castellan_walk` holding it) that lists the visits of sift's walk (see
//! `eval.rs`) with a sort key in walk order: rows `(t, v, d, ord, own, oarr, last)` — the JSON
//! type (`'undefined'` for a missing value), the value, the depth, the order key (8-digit element
//! indexes; `~` for what follows the elements of an array), and the flags of [`super::eval`]'s
//! `Visit`. An operator is then "the outcome of the first decisive visit, else a default", which
//! is `EXISTS`/`NOT EXISTS` when the outcome is constant, or `ORDER BY ord LIMIT 1`.
//! A [`Location::Column`] is a single visit of a present scalar, so its operators reduce to a
//! `CASE`. Every value is a bind parameter; the conditions are never NULL. A field this module
//! cannot compile exactly (see `exact`) becomes `TRUE`, and the [`SqlFilter`] then carries the
//! whole filter as its residue, to be applied in memory.

use diesel::QueryResult;
use diesel::backend::Backend;
use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{Bool, Double, HasSqlType, Text};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{
    CmpOp, ColumnKind, Dialect, FieldMap, Filter, FilterError, Location, Node, Op, Scalar,
};

/// A compiled filter: a SQL boolean expression with its bind parameters, usable as
/// `table.filter(sql_filter)` on the backend it was compiled for.
///
/// On PostgreSQL, run with `jit = off` (e.g. `SET jit = off` when a pooled connection is set
/// up): the planner estimates 100 rows per `jsonb_array_elements` inside each recursive walk, the
/// estimated cost crosses `jit_above_cost`, and JIT compilation then costs ~0.5–1 s per query
/// for a few milliseconds of execution.
#[derive(Debug, Clone)]
pub struct SqlFilter {
    /// Shared: a filter is cloned into every query built with it, and kept by [`SqlCache`].
    parts: Arc<[Part]>,
    /// Whether statements holding this filter may stay prepared on their connection.
    kept: bool,
    /// When some condition could not be compiled exactly (it was compiled as `TRUE`, so the SQL
    /// selects a superset), the filter the selected rows must then pass in memory.
    residue: Option<Arc<Filter>>,
}

/// How many filter shapes (SQL text and parameter types) may stay prepared. Connections never
/// evict a prepared statement, and conditions' `$user` values can change a filter's shape (an
/// array of N values is N parameters), so only the first shapes seen are kept; later ones are
/// prepared for each query.
const KEPT_SHAPES: usize = 64;

fn keep_shape(parts: &[Part]) -> bool {
    use std::hash::{Hash, Hasher};
    static SHAPES: std::sync::LazyLock<std::sync::Mutex<std::collections::HashSet<u64>>> =
        std::sync::LazyLock::new(Default::default);
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for part in parts {
        match part {
            Part::Sql(sql) => sql.hash(&mut hasher),
            Part::Bind(Param::Text(_)) => 't'.hash(&mut hasher),
            Part::Bind(Param::Float(_)) => 'f'.hash(&mut hasher),
            Part::Bind(Param::Bool(_)) => 'b'.hash(&mut hasher),
        }
    }
    let shape = hasher.finish();
    let mut shapes = SHAPES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    shapes.contains(&shape) || (shapes.len() < KEPT_SHAPES && shapes.insert(shape))
}

/// The SQL of the filters compiled most recently, for one [`FieldMap`].
///
/// A grant's conditions bound to a user compile to the same SQL on each of that user's requests
/// (and for everyone whose `$user` values are the same), and compiling them costs more than
/// running the query they filter: ~120,000 instructions for `{"attributes.team":
/// "$user.attributes.team"}`, against ~170,000 for SQLite to select and step through 20 users
/// (callgrind). Compilation depends only on the filter, the dialect and the field map, so a
/// cached result is the one compiling again would give.
///
/// Bound values come from users' own attributes, so a filter whose SQL and values exceed
/// [`SqlCache::LARGEST`] bytes is compiled each time instead of kept: a backend's cache stays
/// within about 8 MB (256 filters of at most 16 KB, and their keys) whatever users store.
pub struct SqlCache {
    fields: Arc<dyn FieldMap + Send + Sync>,
    /// One map per dialect, so a lookup needs no owned key.
    sqlite: Mutex<HashMap<Filter, SqlFilter>>,
    postgres: Mutex<HashMap<Filter, SqlFilter>>,
}

impl SqlCache {
    /// How many filters are kept per dialect; the cache starts again empty when it is full.
    const CAPACITY: usize = 256;
    /// The largest compiled filter kept: its SQL text and bound text, in bytes.
    const LARGEST: usize = 16 * 1024;

    pub fn new(fields: Arc<dyn FieldMap + Send + Sync>) -> Self {
        Self {
            fields,
            sqlite: Mutex::default(),
            postgres: Mutex::default(),
        }
    }

    /// [`Filter::to_sql`] with this cache's field map, compiled once per filter.
    pub fn to_sql(&self, filter: &Filter, dialect: Dialect) -> Result<SqlFilter, FilterError> {
        let map = match dialect {
            Dialect::Sqlite => &self.sqlite,
            Dialect::Postgres => &self.postgres,
        };
        let lock = || {
            map.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some(found) = lock().get(filter) {
            return Ok(found.clone());
        }
        let sql = filter.to_sql(dialect, &*self.fields)?;
        if sql.bytes() <= Self::LARGEST {
            let mut compiled = lock();
            if compiled.len() >= Self::CAPACITY {
                compiled.clear();
            }
            compiled.insert(filter.clone(), sql.clone());
        }
        Ok(sql)
    }
}

impl SqlFilter {
    /// The filter that the rows this SQL selects must still pass in memory
    /// ([`Filter::matches`] on each row's document), when the SQL alone is not exact: `None`
    /// when it is. Lists and totals with a residue read every row the SQL selects (a scan).
    pub fn residue(&self) -> Option<&Filter> {
        self.residue.as_deref()
    }

    /// Whether its SQL text contains `sql`, e.g. `"up_roles."` for a filter that reads the
    /// roles' columns. Bound values (every value of the filter) are never searched.
    pub fn mentions(&self, sql: &str) -> bool {
        self.parts
            .iter()
            .any(|part| matches!(part, Part::Sql(text) if text.contains(sql)))
    }

    /// The SQL with every bound value written in as a literal, for `EXPLAIN` (a query plan
    /// shown by a test or a benchmark), never for running: text is quoted SQL-style.
    pub fn inlined(&self) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Sql(sql) => sql.clone(),
                Part::Bind(Param::Text(text)) => format!("'{}'", text.replace('\'', "''")),
                Part::Bind(Param::Float(n)) => format!("{n:?}"),
                Part::Bind(Param::Bool(b)) => (if *b { "TRUE" } else { "FALSE" }).to_string(),
            })
            .collect()
    }

    /// The bytes of SQL text and bound text this filter holds, and of its residue (as its
    /// debug text: a bound filter may hold users' long lists).
    fn bytes(&self) -> usize {
        let sql: usize = self
            .parts
            .iter()
            .map(|part| match part {
                Part::Sql(text) | Part::Bind(Param::Text(text)) => text.len(),
                Part::Bind(_) => 8,
            })
            .sum();
        sql + self
            .residue
            .as_ref()
            .map_or(0, |residue| format!("{residue:?}").len())
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Sql(String),
    Bind(Param),
}

#[derive(Debug, Clone, PartialEq)]
enum Param {
    Text(String),
    Float(f64),
    Bool(bool),
}

/// A piece of SQL with its parameters in order.
#[derive(Debug, Clone, Default)]
struct Frag(Vec<Part>);

impl Frag {
    fn sql(s: impl Into<String>) -> Self {
        Frag(vec![Part::Sql(s.into())])
    }
    fn push(&mut self, s: impl AsRef<str>) -> &mut Self {
        match self.0.last_mut() {
            Some(Part::Sql(last)) => last.push_str(s.as_ref()),
            _ => self.0.push(Part::Sql(s.as_ref().to_string())),
        }
        self
    }
    fn bind(&mut self, p: Param) -> &mut Self {
        self.0.push(Part::Bind(p));
        self
    }
    fn append(&mut self, other: Frag) -> &mut Self {
        for part in other.0 {
            match part {
                Part::Sql(s) => self.push(s),
                Part::Bind(p) => self.bind(p),
            };
        }
        self
    }
    fn is(&self, s: &str) -> bool {
        matches!(self.0.as_slice(), [Part::Sql(x)] if x == s)
    }
    /// The most operands [`Frag::join`] chains on one level.
    const FLAT: usize = 32;
    /// `(a) op (b) op …`, or `empty` for no operand. Beyond [`Frag::FLAT`] operands the chain
    /// is nested in groups of that many: SQLite refuses an expression tree deeper than 1,000,
    /// and a chain of N `OR`s is N deep (an `$in` of 1,000 values on a column is 1,000 `OR`s).
    fn join(mut frags: Vec<Frag>, op: &str, empty: &str) -> Frag {
        if frags.is_empty() {
            return Frag::sql(empty);
        }
        while frags.len() > Self::FLAT {
            let mut groups = Vec::with_capacity(frags.len().div_ceil(Self::FLAT));
            let mut rest = frags.into_iter().peekable();
            while rest.peek().is_some() {
                let group: Vec<Frag> = rest.by_ref().take(Self::FLAT).collect();
                groups.push(Self::join(group, op, empty));
            }
            frags = groups;
        }
        let mut out = Frag::sql("(");
        for (i, f) in frags.into_iter().enumerate() {
            if i > 0 {
                out.push(format!(" {op} "));
            }
            out.push("(").append(f).push(")");
        }
        out.push(")");
        out
    }
}

pub(super) fn compile(
    filter: &Filter,
    dialect: Dialect,
    fields: &dyn FieldMap,
) -> Result<SqlFilter, FilterError> {
    let (out, inexact) = compile_parts(&filter.root, dialect, fields)?;
    let kept = keep_shape(&out.0);
    Ok(SqlFilter {
        parts: out.0.into(),
        kept,
        residue: inexact.then(|| Arc::new(filter.clone())),
    })
}

/// The SQL of `nodes`, and whether some condition in it was compiled as `TRUE` (see [`exact`]).
fn compile_parts(
    nodes: &[Node],
    dialect: Dialect,
    fields: &dyn FieldMap,
) -> Result<(Frag, bool), FilterError> {
    let mut compiler = Compiler {
        dialect,
        fields,
        ctes: 0,
        inexact: false,
    };
    let body = compiler.nodes(nodes)?;
    let mut out = Frag::sql("(");
    out.append(body).push(")");
    Ok((out, compiler.inexact))
}

/// Refuses a query whose SQL could exceed [`super::limits::MAX_SQL_PARAMETERS`] or
/// [`super::limits::MAX_SQL_BYTES`] on either database, whatever its `$user` values and
/// wherever a [`FieldMap`] puts its fields: it is compiled with every path inside a JSON
/// document (the costliest location, a walk of every segment) and every placeholder bound to
/// a number (a list placeholder to [`super::limits::MAX_LIST`] of them), which costs at least
/// as much as any real binding.
pub(super) fn check_cost(nodes: &[Node]) -> Result<(), FilterError> {
    use super::limits::{MAX_SQL_BYTES, MAX_SQL_PARAMETERS};
    struct Anywhere;
    impl FieldMap for Anywhere {
        fn locate(&self, path: &[&str]) -> Option<Location> {
            Some(Location::Json {
                column_sql: "document".into(),
                path: path.iter().map(|s| s.to_string()).collect(),
                jsonb: None,
            })
        }
    }
    let worst = super::parse::costliest_binding(nodes);
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        let parts = compile_parts(&worst, dialect, &Anywhere)?.0.0;
        let parameters = parts.iter().filter(|p| matches!(p, Part::Bind(_))).count();
        let bytes: usize = parts
            .iter()
            .map(|p| match p {
                Part::Sql(sql) => sql.len(),
                Part::Bind(_) => 0,
            })
            .sum();
        let too_large = |what: String| FilterError::TooLarge {
            at: "query".into(),
            what: format!(
                "{what}; write fewer or shorter paths, or shorter lists (a `$user.` list counts as {} values)",
                super::limits::MAX_LIST
            ),
        };
        if parameters > MAX_SQL_PARAMETERS {
            return Err(too_large(format!(
                "in SQL it could bind {parameters} values, more than the {MAX_SQL_PARAMETERS} allowed"
            )));
        }
        if bytes > MAX_SQL_BYTES {
            return Err(too_large(format!(
                "in SQL it could take {bytes} bytes, more than the {MAX_SQL_BYTES} allowed"
            )));
        }
    }
    Ok(())
}

struct Compiler<'f> {
    dialect: Dialect,
    fields: &'f dyn FieldMap,
    /// CTEs named so far, for unique names.
    ctes: usize,
    /// Some condition was compiled as `TRUE` (see [`exact`]).
    inexact: bool,
}

/// Whether the operators of a field compile to SQL that gives sift's answer exactly: scalar
/// operands (a number, a boolean, or a string without characters from U+E000 on, for `$lt`…),
/// no numeric path segment, and `$elemMatch`
/// queries made of fields only. Anything else is compiled as `TRUE` and filtered in memory.
fn exact(path: &[String], ops: &[Op]) -> bool {
    let scalar = |s: &Scalar| !matches!(s, Scalar::Json(_));
    path.iter()
        .all(|segment| !super::parse::is_numeric_segment(segment))
        && ops.iter().all(|op| match op {
            Op::Eq(x) | Op::Ne(x) => scalar(x),
            Op::In(list) | Op::Nin(list) => list.values.iter().all(scalar),
            // SQL orders strings by code point, JavaScript by UTF-16 unit: they agree unless the
            // operand holds a character from U+E000 on.
            Op::Cmp(_, Scalar::Str(text)) => text.chars().all(|c| c < '\u{E000}'),
            Op::Cmp(_, x) => matches!(x, Scalar::Num(_) | Scalar::Bool(_)),
            Op::Eqi(_) | Op::Exists(_) => true,
            Op::ElemMatch(nodes) => nodes.iter().all(|node| match node {
                Node::Field { path, ops } => exact(path, ops),
                Node::And(_) | Node::Or(_) => false,
            }),
        })
}

/// What an operator tests: the visits of a JSON walk (columns of a CTE row) or a column.
enum Subject {
    /// The row alias of a walk CTE, and the path length.
    Walk {
        alias: String,
        len: usize,
    },
    /// The one visit of a walk along objects only (see [`Compiler::single_visit`]): its
    /// JSON type (`'undefined'` when missing), its value, and whether its key is present.
    Leaf {
        t: Frag,
        v: Frag,
        own: Frag,
    },
    Column {
        sql: String,
        kind: ColumnKind,
    },
}

/// JSON types, as the tests on a visit need them.
#[derive(Clone, Copy, PartialEq)]
enum JType {
    Null,
    Undefined,
    Str,
    Num,
    Bool,
}

/// Where a walk starts: SQL for the first row's type and value, its depth and flags.
struct Start {
    t: String,
    v: String,
    depth: usize,
    /// The start value is an element of an array (under `$elemMatch`).
    element: bool,
    /// The stored JSON text the start value was read from (a top-level JSON column on SQLite).
    document: Option<String>,
    last: String,
}

impl Compiler<'_> {
    fn pg(&self) -> bool {
        self.dialect == Dialect::Postgres
    }

    fn nodes(&mut self, nodes: &[Node]) -> Result<Frag, FilterError> {
        let mut frags = Vec::new();
        for node in nodes {
            frags.push(match node {
                Node::Field { path, .. } if path.is_empty() => {
                    // Operators on the whole document.
                    self.inexact = true;
                    Frag::sql("TRUE")
                }
                Node::Field { path, ops } => self.top_field(path, ops)?,
                Node::And(queries) => {
                    let parts = queries
                        .iter()
                        .map(|q| self.nodes(q))
                        .collect::<Result<_, _>>()?;
                    Frag::join(parts, "AND", "TRUE")
                }
                Node::Or(queries) => {
                    let parts = queries
                        .iter()
                        .map(|q| self.nodes(q))
                        .collect::<Result<_, _>>()?;
                    Frag::join(parts, "OR", "FALSE")
                }
            });
        }
        Ok(Frag::join(frags, "AND", "TRUE"))
    }

    /// A document-level field, located by the caller's [`FieldMap`].
    fn top_field(&mut self, path: &[String], ops: &[Op]) -> Result<Frag, FilterError> {
        let segments: Vec<&str> = path.iter().map(String::as_str).collect();
        let location = self
            .fields
            .locate(&segments)
            .ok_or_else(|| FilterError::UnknownField {
                path: path.join("."),
            })?;
        if !exact(path, ops) {
            // Compiled as TRUE, a superset; the rows are then filtered in memory.
            self.inexact = true;
            return Ok(Frag::sql("TRUE"));
        }
        let location = match location {
            Location::Indexed { sql, kind, json } => {
                if ops
                    .iter()
                    .any(|op| matches!(op, Op::Exists(_) | Op::ElemMatch(_)))
                {
                    *json
                } else {
                    let frags = ops
                        .iter()
                        .map(|op| self.indexed_op(op, &sql, kind))
                        .collect();
                    return Ok(Frag::join(frags, "AND", "TRUE"));
                }
            }
            other => other,
        };
        match location {
            Location::Indexed { .. } => Err(FilterError::UnknownField {
                path: path.join("."),
            }),
            Location::Column { sql, kind } => {
                let subject = Subject::Column { sql, kind };
                let frags = ops.iter().map(|op| self.column_op(op, &subject)).collect();
                Ok(Frag::join(frags, "AND", "TRUE"))
            }
            Location::Json {
                column_sql,
                path: inner,
                jsonb,
            } => {
                let prefix = path.len().checked_sub(inner.len()).ok_or_else(|| {
                    FilterError::UnknownField {
                        path: path.join("."),
                    }
                })?;
                let full: Vec<String> =
                    path[..prefix].iter().chain(inner.iter()).cloned().collect();
                let (t, v) = if self.pg() {
                    let document = match &jsonb {
                        Some(column) => column.clone(),
                        None => format!("({column_sql})::jsonb"),
                    };
                    let v = format!("coalesce({document}, 'null'::jsonb)");
                    (format!("jsonb_typeof({v})"), v)
                } else {
                    (
                        format!("coalesce(json_type({column_sql}), 'null')"),
                        format!("json_extract({column_sql}, '$')"),
                    )
                };
                let start = Start {
                    t,
                    v,
                    depth: prefix,
                    element: false,
                    document: (!self.pg()).then(|| column_sql.clone()),
                    last: "FALSE".into(),
                };
                self.walk_ops(&start, &full, ops)
            }
        }
    }

    /// `ops` over the walk of `path` from `start`: the AND of one subquery per operator.
    fn walk_ops(
        &mut self,
        start: &Start,
        path: &[String],
        ops: &[Op],
    ) -> Result<Frag, FilterError> {
        let mut frags = Vec::new();
        for op in ops {
            frags.push(self.walk_op(start, path, op)?);
        }
        Ok(Frag::join(frags, "AND", "TRUE"))
    }

    fn walk_op(&mut self, start: &Start, path: &[String], op: &Op) -> Result<Frag, FilterError> {
        self.ctes += 1;
        let alias = format!("fw{}", self.ctes);
        let subject = Subject::Walk {
            alias: alias.clone(),
            len: path.len(),
        };
        let walk = self.cte(&alias, start, path);
        let generic = match op {
            Op::ElemMatch(query) => {
                let matched = self.elem_match(&alias, query)?;
                Self::first_array(&alias, path.len(), walk, matched, self.pg())
            }
            _ => {
                let rule = self.rule(op, &subject)?;
                Self::first_decisive(&alias, path.len(), walk, &rule, self.pg())
            }
        };
        let Some((plain, leaf)) = self.single_visit(start, path) else {
            return Ok(generic);
        };
        // Most documents hold objects all along the path: the walk is then one visit, read
        // directly, and the recursive walk runs only for the others.
        let (decisive, outcome, default) = self.rule(op, &leaf)?;
        let mut out = Frag::sql("CASE WHEN (");
        out.append(plain).push(") THEN (CASE WHEN (");
        out.append(decisive).push(") THEN (").append(outcome);
        out.push(format!(") ELSE {default} END) ELSE ("));
        out.append(generic).push(") END");
        Ok(out)
    }

    /// The outcome of the first visit of `visits` (rows named `alias`, see [`Self::cte`]) that
    /// `rule` finds decisive, else the rule's default.
    fn first_decisive(
        alias: &str,
        len: usize,
        (before, visits): (Frag, Frag),
        (decisive, outcome, default): &(Frag, Frag, &'static str),
        pg: bool,
    ) -> Frag {
        let mut out = Frag::default();
        let visit = format!("({alias}.d = {len} OR {alias}.t IN ('null', 'undefined'))");
        if outcome.is("TRUE") || outcome.is("FALSE") {
            out.push(if outcome.is("TRUE") {
                "EXISTS ("
            } else {
                "NOT EXISTS ("
            });
            out.append(before);
            out.push(" SELECT 1 FROM ");
            out.append(visits);
            out.push(format!(" WHERE {visit} AND ("));
            out.append(decisive.clone()).push("))");
        } else {
            out.push("coalesce((");
            out.append(before);
            out.push(" SELECT (");
            out.append(outcome.clone());
            out.push(") FROM ");
            out.append(visits);
            out.push(format!(" WHERE {visit} AND ("));
            out.append(decisive.clone());
            let collate = if pg { " COLLATE \"C\"" } else { "" };
            out.push(format!(
                ") ORDER BY ({alias}.ord || CASE WHEN {alias}.t = 'array' THEN '~' ELSE '' END){collate} LIMIT 1), {default})"
            ));
        }
        out
    }

    /// `$elemMatch` over the visits `alias`: whether `matched` holds for the first array at the
    /// end of the path that either matches or is not a field of an object (sift stops there),
    /// with `matched` written once.
    fn first_array(
        alias: &str,
        len: usize,
        (before, visits): (Frag, Frag),
        matched: Frag,
        pg: bool,
    ) -> Frag {
        let collate = if pg { " COLLATE \"C\"" } else { "" };
        let mut out = Frag::sql("coalesce((");
        out.append(before);
        out.push(format!(
            " SELECT x.m FROM (SELECT {alias}.ord AS ord, {alias}.oarr AS oarr, ("
        ));
        out.append(matched);
        out.push(") AS m FROM ");
        out.append(visits);
        out.push(format!(
            " WHERE {alias}.d = {len} AND {alias}.t = 'array') AS x WHERE x.oarr OR x.m \
             ORDER BY (x.ord || '~'){collate} LIMIT 1), FALSE)"
        ));
        out
    }

    /// When every value on the way to the end of `path` is an object and the value at its end
    /// is not an array, sift's walk makes exactly one visit: the end of the path (`undefined`
    /// when it is missing). Returns that test, and the visit as a [`Subject::Leaf`]. `None`
    /// inside `$elemMatch` and for an empty path.
    fn single_visit(&self, start: &Start, path: &[String]) -> Option<(Frag, Subject)> {
        if start.element || start.depth >= path.len() {
            return None;
        }
        let keys = &path[start.depth..];
        let json_path = |n: usize| -> String {
            let steps: String = keys[..n].iter().map(|k| format!(".\"{k}\"")).collect();
            format!("${steps}")
        };
        // SQLite reads paths from the stored text directly, without re-encoding the start.
        let document = start.document.as_deref().unwrap_or(&start.v);
        // SQL of the value at the end of `keys[..n]`, and of its JSON type (NULL when missing).
        let value_at = |n: usize| -> Frag {
            if self.pg() {
                let mut f = Frag::sql(format!("({document}"));
                for key in &keys[..n] {
                    f.push(" -> ").bind(Param::Text(key.clone()));
                }
                f.push(")");
                f
            } else {
                let mut f = Frag::sql(format!("json_extract({document}, "));
                f.bind(Param::Text(json_path(n))).push(")");
                f
            }
        };
        let type_at = |n: usize| -> Frag {
            if self.pg() {
                let mut f = Frag::sql("jsonb_typeof(");
                f.append(value_at(n)).push(")");
                f
            } else {
                let mut f = Frag::sql(format!("json_type({document}, "));
                f.bind(Param::Text(json_path(n))).push(")");
                f
            }
        };
        // The prefixes are checked once the start is known to be an object: SQLite's JSON
        // functions fail on a start that is a plain string.
        let end = keys.len();
        let mut plain = Frag::sql(format!("CASE WHEN {} = 'object' THEN (", start.t));
        for n in 1..end {
            plain.append(type_at(n)).push(" = 'object' AND ");
        }
        plain.push("coalesce(");
        plain.append(type_at(end)).push(", '') <> 'array'");
        plain.push(") ELSE FALSE END");

        let mut t = Frag::sql("coalesce(");
        t.append(type_at(end)).push(", 'undefined')");
        let mut own = Frag::sql("(");
        own.append(type_at(end)).push(" IS NOT NULL)");
        Some((
            plain,
            Subject::Leaf {
                t,
                v: value_at(end),
                own,
            },
        ))
    }

    /// The visits of sift's walk of `path` from `start`, as rows named `alias`: the SQL that
    /// goes before the `SELECT` that reads them (a recursive CTE on SQLite, nothing on
    /// PostgreSQL), and what that `SELECT` reads them `FROM`.
    ///
    /// On PostgreSQL the walk is the function `castellan_walk` (migration `walk_function`),
    /// whose body is the CTE below for SQLite written for PostgreSQL. PostgreSQL sets up the plan
    /// of a CTE written in a query on every execution of that query, even when no row reaches
    /// it (most documents are read by [`Self::single_visit`] instead); a function is planned
    /// only when it is called.
    fn cte(&self, alias: &str, start: &Start, path: &[String]) -> (Frag, Frag) {
        let a = alias;
        let len = path.len();
        if self.pg() {
            let mut from = Frag::sql(format!(
                "castellan_walk({}, {}, {}, {}, {}, ARRAY[",
                start.t,
                start.v,
                start.depth,
                if start.element { "TRUE" } else { "FALSE" },
                start.last,
            ));
            for (i, segment) in path.iter().enumerate() {
                if i > 0 {
                    from.push(", ");
                }
                from.bind(Param::Text(segment.clone()));
            }
            from.push(format!("]::text[]) AS {a}"));
            return (Frag::default(), from);
        }
        // The JSON path of the segment at the row's depth.
        let segment = |f: &mut Frag| {
            f.push(format!("(CASE {a}.d"));
            for (d, seg) in path.iter().enumerate().skip(start.depth) {
                f.push(format!(" WHEN {d} THEN "));
                f.bind(Param::Text(format!("$.\"{seg}\"")));
            }
            f.push(" END)");
        };
        let mut f = Frag::sql(format!(
            "WITH RECURSIVE {a}(t, v, d, ord, own, oarr, last) AS (SELECT {}, {}, {}, '', TRUE, {}, {}",
            start.t,
            start.v,
            start.depth,
            if start.element { "TRUE" } else { "FALSE" },
            start.last,
        ));
        let lookup = start.depth < len;
        f.push(format!(
            " UNION ALL SELECT e.type, e.value, {a}.d, {a}.ord || printf('%08d', e.key), TRUE, TRUE, \
             e.key = json_array_length({a}.v) - 1 \
             FROM {a}, json_each(CASE WHEN {a}.t = 'array' THEN {a}.v ELSE '[]' END) AS e"
        ));
        if lookup {
            f.push(format!(
                " UNION ALL SELECT CASE WHEN {a}.t = 'object' THEN coalesce(json_type({a}.v, "
            ));
            segment(&mut f);
            f.push(format!("), 'undefined') ELSE 'undefined' END, CASE WHEN {a}.t = 'object' THEN json_extract({a}.v, "));
            segment(&mut f);
            f.push(format!(
                ") END, {a}.d + 1, CASE WHEN {a}.t = 'array' THEN {a}.ord || '~' ELSE {a}.ord END, \
                 CASE WHEN {a}.t = 'object' THEN json_type({a}.v, "
            ));
            segment(&mut f);
            f.push(format!(
                ") IS NOT NULL ELSE FALSE END, {a}.t = 'array', FALSE FROM {a} \
                 WHERE {a}.d < {len} AND {a}.t NOT IN ('null', 'undefined')"
            ));
        }
        f.push(")");
        (f, Frag::sql(a))
    }

    /// An operator on an indexed expression (see [`Location::Indexed`]): equality, `$in` and
    /// comparisons as plain tests of `sql` that an index serves, the rest as on a column.
    fn indexed_op(&mut self, op: &Op, sql: &str, kind: ColumnKind) -> Frag {
        // The operand as a parameter when it can equal a value of this kind.
        let param = |x: &Scalar| match (x, kind) {
            (Scalar::Num(n), ColumnKind::Integer) => Some(Param::Float(*n)),
            (Scalar::Str(text), ColumnKind::Text) => Some(Param::Text(text.clone())),
            (Scalar::Bool(b), ColumnKind::Bool) => Some(Param::Bool(*b)),
            _ => None,
        };
        let test = |sign: &str, p: Param| {
            let mut f = Frag::sql(format!("{sql} {sign} "));
            f.bind(p);
            f
        };
        match op {
            Op::Eq(Scalar::Null) => Frag::sql(format!("{sql} IS NULL")),
            Op::Eq(x) => param(x).map_or_else(|| Frag::sql("FALSE"), |p| test("=", p)),
            Op::In(list) => {
                let mut alternatives = Vec::new();
                let params: Vec<Param> = list.values.iter().filter_map(param).collect();
                if !params.is_empty() {
                    let mut f = Frag::sql(format!("{sql} IN ("));
                    for (i, p) in params.into_iter().enumerate() {
                        if i > 0 {
                            f.push(", ");
                        }
                        f.bind(p);
                    }
                    f.push(")");
                    alternatives.push(f);
                }
                if list.values.iter().any(|x| matches!(x, Scalar::Null)) {
                    alternatives.push(Frag::sql(format!("{sql} IS NULL")));
                }
                Frag::join(alternatives, "OR", "FALSE")
            }
            Op::Cmp(cmp, x @ (Scalar::Num(_) | Scalar::Str(_))) => {
                let sign = match cmp {
                    CmpOp::Lt => "<",
                    CmpOp::Lte => "<=",
                    CmpOp::Gt => ">",
                    CmpOp::Gte => ">=",
                };
                param(x).map_or_else(|| Frag::sql("FALSE"), |p| test(sign, p))
            }
            _ => self.column_op(
                op,
                &Subject::Column {
                    sql: sql.to_string(),
                    kind,
                },
            ),
        }
    }

    /// An operator on a column: one visit of a present scalar or NULL.
    fn column_op(&mut self, op: &Op, subject: &Subject) -> Frag {
        if let Op::ElemMatch(_) = op {
            return Frag::sql("FALSE");
        }
        match self.rule(op, subject) {
            Ok((decisive, outcome, default)) => {
                let mut f = Frag::sql("CASE WHEN (");
                f.append(decisive).push(") THEN (").append(outcome);
                f.push(format!(") ELSE {default} END"));
                f
            }
            Err(_) => Frag::sql("FALSE"),
        }
    }

    /// sift's rule for `op` on one visit: (decisive, outcome, default).
    fn rule(&mut self, op: &Op, s: &Subject) -> Result<(Frag, Frag, &'static str), FilterError> {
        let tested = self.flag(s, "tested");
        let t = |f: Frag| {
            let mut out = tested.clone();
            out.push(" AND (").append(f).push(")");
            out
        };
        Ok(match op {
            Op::Eq(x) => (t(self.equals(x, s)), Frag::sql("TRUE"), "FALSE"),
            Op::Ne(x) => (t(self.equals(x, s)), Frag::sql("FALSE"), "TRUE"),
            Op::Eqi(x) => {
                let fold = |e: Frag| {
                    let mut f = Frag::sql(if self.pg() { "translate(" } else { "lower(" });
                    f.append(e);
                    f.push(if self.pg() {
                        ", 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
                    } else {
                        ")"
                    });
                    f
                };
                let f = match self.guard(s, JType::Str) {
                    Some(mut f) => {
                        f.append(fold(self.value(s, JType::Str))).push(" = ");
                        f.bind(Param::Text(x.to_ascii_lowercase()))
                            .push(" ELSE FALSE END");
                        f
                    }
                    None => Frag::sql("FALSE"),
                };
                (t(f), Frag::sql("TRUE"), "FALSE")
            }
            Op::In(list) => (
                t(self.any_equals(&list.values, s)),
                Frag::sql("TRUE"),
                "FALSE",
            ),
            Op::Nin(list) => (
                t(self.any_equals(&list.values, s)),
                Frag::sql("FALSE"),
                "TRUE",
            ),
            // JavaScript orders false before true; only booleans have a boolean's `typeof`.
            Op::Cmp(cmp, Scalar::Bool(b)) => {
                let f = match (cmp, b) {
                    (CmpOp::Lt, true) | (CmpOp::Lte, false) => self.equals(&Scalar::Bool(false), s),
                    (CmpOp::Gt, false) | (CmpOp::Gte, true) => self.equals(&Scalar::Bool(true), s),
                    (CmpOp::Lte, true) | (CmpOp::Gte, false) => self.is(s, JType::Bool),
                    (CmpOp::Lt, false) | (CmpOp::Gt, true) => Frag::sql("FALSE"),
                };
                (t(f), Frag::sql("TRUE"), "FALSE")
            }
            Op::Cmp(cmp, x) => {
                let sign = match cmp {
                    CmpOp::Lt => "<",
                    CmpOp::Lte => "<=",
                    CmpOp::Gt => ">",
                    CmpOp::Gte => ">=",
                };
                let collate = if self.pg() { " COLLATE \"C\"" } else { "" };
                let (ty, param, collate) = match x {
                    Scalar::Num(n) => (JType::Num, Param::Float(*n), ""),
                    Scalar::Str(text) => (JType::Str, Param::Text(text.clone()), collate),
                    // Never compiled (see `exact`).
                    Scalar::Null | Scalar::Bool(_) | Scalar::Json(_) => {
                        (JType::Null, Param::Bool(false), "")
                    }
                };
                let f = match self.guard(s, ty).filter(|_| ty != JType::Null) {
                    Some(mut f) => {
                        f.append(self.value(s, ty))
                            .push(format!("{collate} {sign} "));
                        f.bind(param).push(" ELSE FALSE END");
                        f
                    }
                    None => Frag::sql("FALSE"),
                };
                (t(f), Frag::sql("TRUE"), "FALSE")
            }
            // Only a key present at the end of the path settles it; else it holds for false.
            Op::Exists(wanted) => {
                let mut decisive = self.flag(s, "leaf");
                decisive.push(" AND ").append(self.flag(s, "own"));
                if *wanted {
                    (decisive, Frag::sql("TRUE"), "FALSE")
                } else {
                    (decisive, Frag::sql("FALSE"), "TRUE")
                }
            }
            // The first array that matches settles it, or the first array that is not a field
            // of an object (an array inside an array).
            // Compiled by `first_array` on a walk; a single visit or a column is never an array.
            Op::ElemMatch(_) => (Frag::sql("FALSE"), Frag::sql("FALSE"), "FALSE"),
        })
    }

    /// `EXISTS` an element of the array in row `alias` that satisfies `query`.
    fn elem_match(&mut self, alias: &str, query: &[Node]) -> Result<Frag, FilterError> {
        self.ctes += 1;
        let e = format!("fe{}", self.ctes);
        let (from, start) = if self.pg() {
            (
                format!("jsonb_array_elements({alias}.v) WITH ORDINALITY AS {e}(value, i)"),
                Start {
                    t: format!("jsonb_typeof({e}.value)"),
                    v: format!("{e}.value"),
                    depth: 0,
                    element: true,
                    document: None,
                    last: format!("{e}.i = jsonb_array_length({alias}.v)"),
                },
            )
        } else {
            (
                format!("json_each({alias}.v) AS {e}"),
                Start {
                    t: format!("{e}.type"),
                    v: format!("{e}.value"),
                    depth: 0,
                    element: true,
                    document: None,
                    last: format!("{e}.key = json_array_length({alias}.v) - 1"),
                },
            )
        };
        let mut frags = Vec::new();
        for node in query {
            // `exact` admits only fields (the element's own operators have an empty path).
            if let Node::Field { path, ops } = node {
                frags.push(self.walk_ops(&start, path, ops)?);
            }
        }
        let condition = Frag::join(frags, "AND", "TRUE");
        let mut f = Frag::sql(format!("EXISTS (SELECT 1 FROM {from} WHERE "));
        f.append(condition).push(")");
        Ok(f)
    }

    /// A visit flag as SQL: `tested`, `leaf`, `root`, `own`, `oarr` or `last`.
    fn flag(&self, s: &Subject, name: &str) -> Frag {
        match s {
            Subject::Walk { alias, len } => Frag::sql(match name {
                "tested" => format!("((NOT {alias}.oarr) OR {alias}.own)"),
                "leaf" => format!("({alias}.d = {len})"),
                "root" => format!("({alias}.d = 0)"),
                _ => format!("{alias}.{name}"),
            }),
            Subject::Leaf { own, .. } => match name {
                "tested" | "leaf" => Frag::sql("TRUE"),
                "own" => own.clone(),
                _ => Frag::sql("FALSE"),
            },
            Subject::Column { .. } => Frag::sql(match name {
                "tested" | "leaf" | "own" => "TRUE",
                _ => "FALSE",
            }),
        }
    }

    fn is(&self, s: &Subject, ty: JType) -> Frag {
        let names = match (ty, self.pg()) {
            (JType::Null, _) => "'null'",
            (JType::Undefined, _) => "'undefined'",
            (JType::Str, true) => "'string'",
            (JType::Str, false) => "'text'",
            (JType::Num, true) => "'number'",
            (JType::Num, false) => "'integer', 'real'",
            (JType::Bool, true) => "'boolean'",
            (JType::Bool, false) => "'true', 'false'",
        };
        match s {
            Subject::Walk { alias, .. } => Frag::sql(format!("({alias}.t IN ({names}))")),
            Subject::Leaf { t, .. } => {
                let mut f = Frag::sql("(");
                f.append(t.clone()).push(format!(" IN ({names}))"));
                f
            }
            Subject::Column { sql, kind } => {
                let holds = matches!(
                    (ty, kind),
                    (JType::Str, ColumnKind::Text | ColumnKind::Timestamp)
                        | (JType::Num, ColumnKind::Integer)
                        | (JType::Bool, ColumnKind::Bool)
                );
                Frag::sql(match ty {
                    JType::Null => format!("({sql} IS NULL)"),
                    _ if holds => format!("({sql} IS NOT NULL)"),
                    _ => "FALSE".into(),
                })
            }
        }
    }

    fn guard(&self, s: &Subject, ty: JType) -> Option<Frag> {
        let is = self.is(s, ty);
        if is.is("FALSE") {
            return None;
        }
        let mut f = Frag::sql("CASE WHEN ");
        f.append(is).push(" THEN ");
        Some(f)
    }

    /// The visited value as SQL of type `ty` (only valid under [`Self::guard`]).
    fn value(&self, s: &Subject, ty: JType) -> Frag {
        let (t, v) = match s {
            Subject::Walk { alias, .. } => (
                Frag::sql(format!("{alias}.t")),
                Frag::sql(format!("{alias}.v")),
            ),
            Subject::Leaf { t, v, .. } => (t.clone(), v.clone()),
            Subject::Column { sql, kind } => {
                return Frag::sql(match (kind, self.pg()) {
                    (ColumnKind::Timestamp, true) => {
                        let us = format!("(extract(microseconds from {sql})::bigint % 1000000)");
                        format!(
                            "(to_char({sql}, 'YYYY-MM-DD HH24:MI:SS') || CASE WHEN {us} = 0 THEN '' \
                             WHEN {us} % 1000 = 0 THEN '.' || lpad(({us} / 1000)::text, 3, '0') \
                             ELSE '.' || lpad({us}::text, 6, '0') END)"
                        )
                    }
                    _ => sql.clone(),
                });
            }
        };
        let wrap = |before: &str, inner: Frag, after: &str| {
            let mut f = Frag::sql(before);
            f.append(inner).push(after);
            f
        };
        match (ty, self.pg()) {
            (JType::Str, true) => wrap("(", v, " #>> '{}')"),
            (JType::Num, true) => wrap("(", v, " #>> '{}')::float8"),
            (JType::Bool, true) => wrap("((", v, " #>> '{}') = 'true')"),
            (JType::Bool, false) => wrap("(", t, " = 'true')"),
            _ => v,
        }
    }

    /// sift's equality of the visited value with a scalar operand.
    fn equals(&self, x: &Scalar, s: &Subject) -> Frag {
        let (ty, param) = match x {
            Scalar::Null => {
                let mut f = Frag::sql("(");
                f.append(self.is(s, JType::Null))
                    .push(" OR ")
                    .append(self.is(s, JType::Undefined));
                f.push(")");
                return f;
            }
            Scalar::Bool(b) => (JType::Bool, Param::Bool(*b)),
            Scalar::Num(n) => (JType::Num, Param::Float(*n)),
            Scalar::Str(text) => (JType::Str, Param::Text(text.clone())),
            // Never compiled (see `exact`).
            Scalar::Json(_) => return Frag::sql("FALSE"),
        };
        // A jsonb string equals another only when both are strings with the same bytes, so on
        // PostgreSQL one comparison replaces the type test and the extraction of the text.
        // Numbers keep the float comparison: jsonb compares them as exact decimals, JavaScript
        // as doubles.
        let jsonb = match s {
            Subject::Walk { alias, .. } if self.pg() => Some(Frag::sql(format!("{alias}.v"))),
            Subject::Leaf { v, .. } if self.pg() => Some(v.clone()),
            _ => None,
        };
        if let (JType::Str, Some(v)) = (ty, jsonb) {
            let mut f = Frag::sql("coalesce(");
            f.append(v).push(" = to_jsonb(");
            f.bind(param).push("::text), FALSE)");
            return f;
        }
        let Some(mut f) = self.guard(s, ty) else {
            return Frag::sql("FALSE");
        };
        f.append(self.value(s, ty)).push(" = ");
        f.bind(param).push(" ELSE FALSE END");
        f
    }

    fn any_equals(&self, values: &[Scalar], s: &Subject) -> Frag {
        Frag::join(
            values.iter().map(|x| self.equals(x, s)).collect(),
            "OR",
            "FALSE",
        )
    }
}

// ---------------------------------------------------------------------------------------------
// diesel plumbing

impl Expression for SqlFilter {
    type SqlType = Bool;
}

impl<DB> QueryFragment<DB> for SqlFilter
where
    DB: Backend + HasSqlType<Text> + HasSqlType<Double> + HasSqlType<Bool>,
    String: ToSql<Text, DB>,
    f64: ToSql<Double, DB>,
    bool: ToSql<Bool, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        if !self.kept {
            out.unsafe_to_cache_prepared();
        }
        for part in self.parts.iter() {
            match part {
                Part::Sql(sql) => out.push_sql(sql),
                Part::Bind(Param::Text(s)) => out.push_bind_param::<Text, String>(s)?,
                Part::Bind(Param::Float(n)) => out.push_bind_param::<Double, f64>(n)?,
                Part::Bind(Param::Bool(b)) => out.push_bind_param::<Bool, bool>(b)?,
            }
        }
        Ok(())
    }
}

impl QueryId for SqlFilter {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl ValidGrouping<()> for SqlFilter {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

impl<QS> AppearsOnTable<QS> for SqlFilter {}

impl<QS> SelectableExpression<QS> for SqlFilter {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::Filter;
    use serde_json::json;

    struct Users;
    impl FieldMap for Users {
        fn locate(&self, path: &[&str]) -> Option<Location> {
            match path {
                ["id"] => Some(Location::Column {
                    sql: "up_users.id".into(),
                    kind: ColumnKind::Integer,
                }),
                ["attributes", rest @ ..] => Some(Location::Json {
                    column_sql: "up_users.attributes".into(),
                    path: rest.iter().map(|s| s.to_string()).collect(),
                    jsonb: None,
                }),
                _ => None,
            }
        }
    }

    fn compile(query: serde_json::Value, dialect: Dialect) -> Result<SqlFilter, FilterError> {
        Filter::parse(&query).unwrap().to_sql(dialect, &Users)
    }

    #[test]
    fn values_are_bound_never_spliced() {
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            let sql = compile(
                json!({"attributes.team": {"$in": ["x'); DROP TABLE up_users; --", 41.5]}, "id": 7}),
                dialect,
            )
            .unwrap();
            let text: String = sql
                .parts
                .iter()
                .filter_map(|p| match p {
                    Part::Sql(s) => Some(s.as_str()),
                    Part::Bind(_) => None,
                })
                .collect();
            assert!(!text.contains("DROP") && !text.contains("41.5") && !text.contains('7'));
            assert!(sql.parts.contains(&Part::Bind(Param::Float(7.0))));
            assert!(
                sql.parts.contains(&Part::Bind(Param::Text("team".into())))
                    || sql
                        .parts
                        .contains(&Part::Bind(Param::Text("$.\"team\"".into())))
            );
        }
    }

    fn sql_text(sql: &SqlFilter) -> String {
        sql.parts
            .iter()
            .filter_map(|p| match p {
                Part::Sql(s) => Some(s.as_str()),
                Part::Bind(_) => None,
            })
            .collect()
    }

    #[test]
    fn postgresql_reads_the_parsed_copy_of_a_json_column_and_sqlite_the_text() {
        let users = &crate::policy::subject::UserFields::default();
        let team = Filter::parse(&json!({"attributes.team": "red"})).unwrap();
        let pg = sql_text(&team.to_sql(Dialect::Postgres, users).unwrap());
        assert!(pg.contains("up_users.attributes_jsonb"), "{pg}");
        assert!(
            !pg.contains("(up_users.attributes)"),
            "the text is never parsed: {pg}"
        );
        let sqlite = sql_text(&team.to_sql(Dialect::Sqlite, users).unwrap());
        assert!(sqlite.contains("up_users.attributes"), "{sqlite}");
        assert!(!sqlite.contains("attributes_jsonb"), "{sqlite}");
    }

    #[test]
    fn postgresql_compares_a_json_string_as_jsonb_and_a_number_as_a_double() {
        let pg = |query| sql_text(&compile(query, Dialect::Postgres).unwrap());
        let string = pg(json!({"attributes.team": "red"}));
        assert!(string.contains(" = to_jsonb("), "{string}");
        assert!(
            !string.contains("#>> '{}')"),
            "no text is extracted: {string}"
        );
        let number = pg(json!({"attributes.level": 3}));
        assert!(number.contains("#>> '{}')::float8 = "), "{number}");
        assert!(!number.contains("to_jsonb("), "{number}");
    }

    #[test]
    fn a_filter_tells_which_tables_its_sql_reads() {
        let users = &crate::policy::subject::UserFields::default();
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            let on_role = Filter::parse(&json!({"attributes.team": "up_roles.", "role.type": "x"}))
                .unwrap()
                .to_sql(dialect, users)
                .unwrap();
            assert!(on_role.mentions("up_roles."));
            // A value is bound, never SQL text, whatever it says.
            let on_user = Filter::parse(&json!({"attributes.team": "up_roles.", "id": 3}))
                .unwrap()
                .to_sql(dialect, users)
                .unwrap();
            assert!(!on_user.mentions("up_roles."));
        }
    }

    #[test]
    fn an_unknown_field_is_an_error_at_compile_time() {
        let error = compile(json!({"password": "x"}), Dialect::Sqlite).unwrap_err();
        assert_eq!(
            error,
            FilterError::UnknownField {
                path: "password".into()
            }
        );
        assert!(error.to_string().contains("`password`"));
    }

    #[test]
    fn a_column_of_another_type_is_never_compared_in_sql() {
        // `id` is an integer column: a string operand is a mismatch (false, `$ne` true) that
        // must not reach PostgreSQL as `integer = text`.
        let sql = compile(json!({"id": {"$gt": "5", "$ne": "x"}}), Dialect::Postgres).unwrap();
        assert!(
            !sql.parts
                .iter()
                .any(|p| matches!(p, Part::Bind(Param::Text(_))))
        );
    }

    #[test]
    fn only_the_first_shapes_stay_prepared() {
        // `$in` lists of 1 to 80 values: 80 shapes of SQL. The registry is shared with every
        // other filter compiled in this process, so only its bound is certain.
        let kept = (1..=80)
            .map(|n| {
                let values: Vec<i64> = (0..n).collect();
                compile(json!({"id": {"$in": values}}), Dialect::Sqlite)
                    .unwrap()
                    .kept
            })
            .filter(|kept| *kept)
            .count();
        assert!(kept <= KEPT_SHAPES, "{kept} shapes kept");
        // The same shape again is kept if it was the first time.
        let once = compile(json!({"attributes.team": "red"}), Dialect::Sqlite).unwrap();
        let twice = compile(json!({"attributes.team": "blue"}), Dialect::Sqlite).unwrap();
        assert_eq!(once.kept, twice.kept);
    }

    #[test]
    fn the_cache_gives_what_compiling_gives_and_stays_bounded() {
        let cache = SqlCache::new(Arc::new(Users));
        let parsed = |query| Filter::parse(&query).unwrap();
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            for team in ["red", "blue", "red"] {
                let filter = parsed(json!({"attributes.team": team, "id": {"$gt": 0}}));
                let cached = cache.to_sql(&filter, dialect).unwrap();
                let fresh = filter.to_sql(dialect, &Users).unwrap();
                assert_eq!(cached.parts, fresh.parts, "{team} on {dialect:?}");
            }
        }
        // 0 and -0 are the same filter; each dialect has its own SQL.
        let zero = cache.to_sql(&parsed(json!({"id": 0.0})), Dialect::Sqlite);
        let minus_zero = cache.to_sql(&parsed(json!({"id": -0.0})), Dialect::Sqlite);
        assert_eq!(zero.unwrap().parts, minus_zero.unwrap().parts);
        assert_ne!(
            cache
                .to_sql(&parsed(json!({"attributes.a": 1})), Dialect::Sqlite)
                .unwrap()
                .parts,
            cache
                .to_sql(&parsed(json!({"attributes.a": 1})), Dialect::Postgres)
                .unwrap()
                .parts,
        );
        // A filter that does not compile is an error each time, and never cached.
        for _ in 0..2 {
            assert!(
                cache
                    .to_sql(&parsed(json!({"password": "x"})), Dialect::Sqlite)
                    .is_err()
            );
        }
        for n in 0..(SqlCache::CAPACITY * 2) {
            cache
                .to_sql(&parsed(json!({"attributes.n": n})), Dialect::Sqlite)
                .unwrap();
            assert!(cache.sqlite.lock().unwrap().len() <= SqlCache::CAPACITY);
        }
        // A filter bound to a large value is compiled, not kept.
        // (Declared strings are short; a user's own values are not.)
        let large = parsed(json!({"attributes.team": "$user.team"}))
            .bind(&json!({"team": "x".repeat(SqlCache::LARGEST)}));
        let sql = cache.to_sql(&large, Dialect::Postgres).unwrap();
        assert!(sql.bytes() > SqlCache::LARGEST);
        assert!(!cache.postgres.lock().unwrap().contains_key(&large));
        let small = parsed(json!({"attributes.team": "red"}));
        cache.to_sql(&small, Dialect::Postgres).unwrap();
        assert!(cache.postgres.lock().unwrap().contains_key(&small));
    }

    #[test]
    fn an_empty_alternative_list_is_false() {
        let filter = Filter::any_of(vec![]);
        let sql = filter.to_sql(Dialect::Sqlite, &Users).unwrap();
        assert_eq!(*sql.parts, [Part::Sql("(((FALSE)))".into())]);
    }
}
