//! Query object → [`Node`]s, placeholder binding, and the paths a filter reads.

use serde_json::{Map, Value};

use super::{CmpOp, FilterError, Node, Op, Scalar, ScalarList};

/// The prefix of a string operand that refers to the requesting user.
const PLACEHOLDER: &str = "$user.";

/// Members of `Object.prototype` (and `Infinity`, a number to JavaScript): sift reads them
/// on any value, so no path segment may name them.
const OBJECT_MEMBERS: &[&str] = &[
    "Infinity",
    "__defineGetter__",
    "__defineSetter__",
    "__lookupGetter__",
    "__lookupSetter__",
    "__proto__",
    "constructor",
    "hasOwnProperty",
    "isPrototypeOf",
    "propertyIsEnumerable",
    "toLocaleString",
    "toString",
    "valueOf",
];

/// Members of the `Array`, `String`, `Number` and `Boolean` prototypes: sift reads them when a
/// path walks through such a value (`"abc".link` is a function, `[1, 2].length` is 2).
const VALUE_MEMBERS: &[&str] = &[
    "anchor",
    "at",
    "big",
    "blink",
    "bold",
    "charAt",
    "charCodeAt",
    "codePointAt",
    "concat",
    "copyWithin",
    "endsWith",
    "entries",
    "every",
    "fill",
    "filter",
    "find",
    "findIndex",
    "findLast",
    "findLastIndex",
    "fixed",
    "flat",
    "flatMap",
    "fontcolor",
    "fontsize",
    "forEach",
    "includes",
    "indexOf",
    "isWellFormed",
    "italics",
    "join",
    "keys",
    "lastIndexOf",
    "length",
    "link",
    "localeCompare",
    "map",
    "match",
    "matchAll",
    "normalize",
    "padEnd",
    "padStart",
    "pop",
    "push",
    "reduce",
    "reduceRight",
    "repeat",
    "replace",
    "replaceAll",
    "reverse",
    "search",
    "shift",
    "slice",
    "small",
    "some",
    "sort",
    "splice",
    "split",
    "startsWith",
    "strike",
    "sub",
    "substr",
    "substring",
    "sup",
    "toExponential",
    "toFixed",
    "toLocaleLowerCase",
    "toLocaleUpperCase",
    "toLowerCase",
    "toPrecision",
    "toReversed",
    "toSorted",
    "toSpliced",
    "toUpperCase",
    "toWellFormed",
    "trim",
    "trimEnd",
    "trimLeft",
    "trimRight",
    "trimStart",
    "unshift",
    "values",
    "with",
];

/// Where in the query object the parser is, for error messages: `$or[1] / a.b / $in`.
#[derive(Clone)]
struct At(String);

impl At {
    fn root() -> Self {
        At("query".into())
    }
    fn then(&self, step: impl std::fmt::Display) -> Self {
        At(format!("{} / {step}", self.0))
    }
}

pub(super) fn parse(query: &Value) -> Result<Vec<Node>, FilterError> {
    check_size(query)?;
    parse_query(query, &At::root(), true, true)
}

/// Refuses a query object beyond the bounds of [`super::limits`], without recursion: the
/// parse that follows recurses once per level, so it must never see a deeper object.
fn check_size(query: &Value) -> Result<(), FilterError> {
    use super::limits::{MAX_DEPTH, MAX_LIST, MAX_NODES, MAX_STRING};
    let too_large = |at: &At, what: String| FilterError::TooLarge {
        at: at.0.clone(),
        what,
    };
    let long = |at: &At, what: &str, s: &str| {
        let chars = s.chars().count();
        (chars > MAX_STRING).then(|| {
            too_large(
                at,
                format!("{what} of {chars} characters is longer than the {MAX_STRING} allowed"),
            )
        })
    };
    // (value, its depth: 1 for the query itself, where it is); every value is counted when it
    // is found, so an object with a million keys is refused before they are all listed.
    let mut pending = vec![(query, 1, At::root())];
    let mut nodes = 1usize;
    let mut count = |more: usize| {
        nodes += more;
        if nodes > MAX_NODES {
            Err(too_large(
                &At::root(),
                format!(
                    "the query object holds more than the {MAX_NODES} values allowed (keys and values, nested ones included)"
                ),
            ))
        } else {
            Ok(())
        }
    };
    while let Some((value, depth, at)) = pending.pop() {
        let composite = matches!(value, Value::Object(_) | Value::Array(_));
        if composite && depth > MAX_DEPTH {
            return Err(too_large(
                &at,
                format!("the query object is nested more than the {MAX_DEPTH} levels allowed"),
            ));
        }
        match value {
            Value::Object(map) => {
                count(map.len())?;
                for (key, inner) in map {
                    let inner_at = at.then(key);
                    if let Some(error) = long(&inner_at, "the key", key) {
                        return Err(error);
                    }
                    pending.push((inner, depth + 1, inner_at));
                }
            }
            Value::Array(items) => {
                if items.len() > MAX_LIST {
                    return Err(too_large(
                        &at,
                        format!(
                            "an array of {} values is longer than the {MAX_LIST} allowed",
                            items.len()
                        ),
                    ));
                }
                count(items.len())?;
                for (i, item) in items.iter().enumerate() {
                    pending.push((item, depth + 1, At(format!("{}[{i}]", at.0))));
                }
            }
            Value::String(s) => {
                if let Some(error) = long(&at, "the string", s) {
                    return Err(error);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    Ok(())
}

/// A query: field paths, `$and` / `$or`, and operators on the value itself (sift's "self
/// operations": at document level they test the document, inside `$elemMatch` each element).
/// A value that is no object is a query too, as in sift: an array stands for the object keyed
/// by its indexes, a scalar for `{"$eq": scalar}`. The top level of a query object must be an
/// object (`top`). `doc` says paths are looked up on the document (not an element).
fn parse_query(query: &Value, at: &At, top: bool, doc: bool) -> Result<Vec<Node>, FilterError> {
    let indexed: Map<String, Value>;
    let map = match query {
        Value::Object(map) => map,
        Value::Array(items) if !top => {
            indexed = items
                .iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v.clone()))
                .collect();
            &indexed
        }
        scalar if !top => {
            return Ok(vec![Node::Field {
                path: Vec::new(),
                ops: vec![Op::Eq(to_operand(scalar))],
            }]);
        }
        _ => {
            return Err(FilterError::NotAQuery {
                at: at.0.clone(),
                found: describe(query),
            });
        }
    };
    let mut nodes = Vec::with_capacity(map.len());
    let mut own_ops = Vec::new();
    for (key, value) in map {
        if key.starts_with('$') {
            let group_at = at.then(key);
            match key.as_str() {
                "$and" | "$or" => {
                    let queries = parse_group(key, value, &group_at, doc)?;
                    nodes.push(if key == "$and" {
                        Node::And(queries)
                    } else {
                        Node::Or(queries)
                    });
                }
                op if is_value_operator(op) => own_ops.push(parse_op(op, value, &group_at)?),
                _ => {
                    return Err(FilterError::UnknownOperator {
                        at: at.0.clone(),
                        operator: key.clone(),
                    });
                }
            }
        } else {
            let path = parse_path(key, at, doc)?;
            let ops = parse_value(value, &at.then(key))?;
            nodes.push(Node::Field { path, ops });
        }
    }
    if !own_ops.is_empty() {
        nodes.push(Node::Field {
            path: Vec::new(),
            ops: own_ops,
        });
    }
    Ok(nodes)
}

fn parse_group(
    operator: &str,
    value: &Value,
    at: &At,
    doc: bool,
) -> Result<Vec<Vec<Node>>, FilterError> {
    match value {
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, item)| parse_query(item, &At(format!("{}[{i}]", at.0)), false, doc))
            .collect(),
        _ => Err(FilterError::BadGroup {
            at: at.0.clone(),
            operator: operator.into(),
            found: describe(value),
        }),
    }
}

fn is_value_operator(op: &str) -> bool {
    matches!(
        op,
        "$eq"
            | "$ne"
            | "$eqi"
            | "$in"
            | "$nin"
            | "$lt"
            | "$lte"
            | "$gt"
            | "$gte"
            | "$exists"
            | "$elemMatch"
    )
}

/// Whether JavaScript's `Number(segment)` is a number (not NaN): sift then reads the segment
/// as a property of an array (`a.0` is the first element) instead of walking into its elements.
/// Segments hold only letters, digits, `_` and `-` (see [`parse_path`]).
pub(super) fn is_numeric_segment(segment: &str) -> bool {
    let lower = segment.to_ascii_lowercase();
    let radix = |digits: &str, ok: fn(char) -> bool| !digits.is_empty() && digits.chars().all(ok);
    if let Some(rest) = lower.strip_prefix("0x") {
        return radix(rest, |c| c.is_ascii_hexdigit());
    }
    if let Some(rest) = lower.strip_prefix("0o") {
        return radix(rest, |c| ('0'..='7').contains(&c));
    }
    if let Some(rest) = lower.strip_prefix("0b") {
        return radix(rest, |c| c == '0' || c == '1');
    }
    let unsigned = lower.strip_prefix('-').unwrap_or(&lower);
    let (mantissa, exponent) = match unsigned.split_once('e') {
        Some((m, e)) => (m, Some(e.strip_prefix('-').unwrap_or(e))),
        None => (unsigned, None),
    };
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    digits(mantissa) && exponent.is_none_or(digits)
}

/// The array index a segment names, as JavaScript reads `array[segment]`: only the canonical
/// form of an index (`"0"`, `"12"`, never `"01"` or `"1e1"`).
pub(super) fn array_index(segment: &str) -> Option<usize> {
    let canonical = segment == "0" || (!segment.starts_with('0') && !segment.is_empty());
    if canonical && segment.chars().all(|c| c.is_ascii_digit()) {
        segment
            .parse::<u32>()
            .ok()
            .filter(|i| *i < u32::MAX)
            .map(|i| i as usize)
    } else {
        None
    }
}

/// Splits a dotted path and checks its segments (see the module documentation for why).
/// `top` says the path is looked up on the document object itself.
fn parse_path(path: &str, at: &At, top: bool) -> Result<Vec<String>, FilterError> {
    let bad = |reason: String| FilterError::BadPath {
        at: at.0.clone(),
        path: path.into(),
        reason,
    };
    let mut segments = Vec::new();
    for (i, segment) in path.split('.').enumerate() {
        if segment.is_empty() {
            return Err(bad("it has an empty segment".into()));
        }
        if let Some(c) = segment
            .chars()
            .find(|c| !(c.is_alphanumeric() || *c == '_' || *c == '-'))
        {
            return Err(bad(format!(
                "the segment `{segment}` contains `{c}`; use letters, digits, `_` and `-`"
            )));
        }
        let reserved = OBJECT_MEMBERS.contains(&segment)
            || (!(top && i == 0) && VALUE_MEMBERS.contains(&segment));
        if reserved {
            return Err(bad(format!(
                "`{segment}` names a JavaScript built-in member, which the reference engine (sift.js) would read instead of the data"
            )));
        }
        segments.push(segment.to_string());
    }
    Ok(segments)
}

/// The value of a field: an operator object, or a value to equal (implicit `$eq`, whole arrays
/// and objects included).
fn parse_value(value: &Value, at: &At) -> Result<Vec<Op>, FilterError> {
    match value {
        Value::Object(map) if map.keys().any(|k| k.starts_with('$')) => {
            if !map.keys().all(|k| k.starts_with('$')) {
                return Err(mixed(map, at));
            }
            map.iter()
                .map(|(op, operand)| parse_op(op, operand, &at.then(op)))
                .collect()
        }
        other => {
            check_operand(other, at)?;
            Ok(vec![Op::Eq(to_operand(other))])
        }
    }
}

/// Refuses an array or object operand holding a key that names a member of
/// `Object.prototype`: sift would compare with the inherited member where a document lacks it.
fn check_operand(value: &Value, at: &At) -> Result<(), FilterError> {
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            Value::Object(map) => {
                if let Some(key) = map.keys().find(|k| OBJECT_MEMBERS.contains(&k.as_str())) {
                    return Err(FilterError::BadPath {
                        at: at.0.clone(),
                        path: key.clone(),
                        reason: format!(
                            "`{key}` names a JavaScript built-in member, which the reference engine (sift.js) would read instead of the data"
                        ),
                    });
                }
                pending.extend(map.values());
            }
            Value::Array(items) => pending.extend(items),
            _ => {}
        }
    }
    Ok(())
}

fn mixed(map: &Map<String, Value>, at: &At) -> FilterError {
    let (ops, fields): (Vec<&String>, Vec<&String>) = map.keys().partition(|k| k.starts_with('$'));
    let list = |keys: Vec<&String>| {
        keys.iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    FilterError::MixedKeys {
        at: at.0.clone(),
        operators: list(ops),
        fields: list(fields),
    }
}

/// JavaScript's truthiness of a JSON value.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

fn parse_op(op: &str, operand: &Value, at: &At) -> Result<Op, FilterError> {
    let bad = |expected: &'static str| FilterError::BadOperand {
        at: at.0.clone(),
        operator: op.into(),
        expected,
        found: describe(operand),
    };
    Ok(match op {
        "$eq" | "$ne" => {
            check_operand(operand, at)?;
            if op == "$eq" {
                Op::Eq(to_operand(operand))
            } else {
                Op::Ne(to_operand(operand))
            }
        }
        "$eqi" => match operand {
            Value::String(s) => Op::Eqi(s.clone()),
            _ => return Err(bad("a string")),
        },
        "$in" | "$nin" => {
            let element = |value: &Value| -> Result<Scalar, FilterError> {
                if let Value::Object(map) = value
                    && map.keys().any(|k| k.starts_with('$'))
                {
                    return Err(bad(
                        "an array of values to equal, without operators (sift: \"cannot nest $ under $in\")",
                    ));
                }
                check_operand(value, at)?;
                Ok(to_operand(value))
            };
            let list = match operand {
                Value::Array(items) => ScalarList {
                    values: items.iter().map(element).collect::<Result<_, _>>()?,
                    placeholder: false,
                },
                Value::String(s) if s.starts_with(PLACEHOLDER) => ScalarList {
                    values: vec![Scalar::Str(s.clone())],
                    placeholder: true,
                },
                // sift takes a single value as a list of one.
                single => ScalarList {
                    values: vec![element(single)?],
                    placeholder: false,
                },
            };
            if op == "$in" {
                Op::In(list)
            } else {
                Op::Nin(list)
            }
        }
        "$lt" | "$lte" | "$gt" | "$gte" => {
            let cmp = match op {
                "$lt" => CmpOp::Lt,
                "$lte" => CmpOp::Lte,
                "$gt" => CmpOp::Gt,
                _ => CmpOp::Gte,
            };
            check_operand(operand, at)?;
            Op::Cmp(cmp, to_operand(operand))
        }
        "$exists" => Op::Exists(truthy(operand)),
        "$elemMatch" => match operand {
            Value::Object(_) | Value::Array(_) => {
                Op::ElemMatch(parse_query(operand, at, false, false)?)
            }
            _ => {
                return Err(FilterError::BadOperand {
                    at: at.0.clone(),
                    operator: "$elemMatch".into(),
                    expected: "an object: a query on each element, or operators on each element's value",
                    found: describe(operand),
                });
            }
        },
        "$and" | "$or" => {
            return Err(FilterError::Misplaced {
                at: at.0.clone(),
                operator: op.into(),
                reason: "$and and $or combine whole query objects, not the values of a field",
            });
        }
        _ => {
            return Err(FilterError::UnknownOperator {
                at: at.0.clone(),
                operator: op.into(),
            });
        }
    })
}

/// A value to compare with: a scalar, or a whole array or object.
fn to_operand(value: &Value) -> Scalar {
    to_scalar(value).unwrap_or_else(|| Scalar::Json(Box::new(value.clone())))
}

fn to_scalar(value: &Value) -> Option<Scalar> {
    Some(match value {
        Value::Null => Scalar::Null,
        Value::Bool(b) => Scalar::Bool(*b),
        Value::Number(n) => Scalar::Num(n.as_f64()?),
        Value::String(s) => Scalar::Str(s.clone()),
        Value::Array(_) | Value::Object(_) => return None,
    })
}

/// A short description of a JSON value for error messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Binding

/// `nodes` with every placeholder replaced by its value; `None` when a placeholder cannot be
/// bound (see [`super::Filter::bind`]): then the whole query reaches nothing.
pub(super) fn bind_nodes(nodes: &[Node], user: &Value) -> Option<Vec<Node>> {
    nodes
        .iter()
        .map(|node| {
            Some(match node {
                Node::Field { path, ops } => Node::Field {
                    path: path.clone(),
                    ops: ops
                        .iter()
                        .map(|op| bind_op(op, user))
                        .collect::<Option<_>>()?,
                },
                Node::And(queries) => Node::And(bind_queries(queries, user)?),
                Node::Or(queries) => Node::Or(bind_queries(queries, user)?),
            })
        })
        .collect()
}

fn bind_queries(queries: &[Vec<Node>], user: &Value) -> Option<Vec<Vec<Node>>> {
    queries.iter().map(|q| bind_nodes(q, user)).collect()
}

/// The value a placeholder string stands for: `None` when `s` is no placeholder, `Some(None)`
/// when the user has no value (or `null`) at that path.
fn resolve<'a>(s: &str, user: &'a Value) -> Option<Option<&'a Value>> {
    let path = s.strip_prefix(PLACEHOLDER)?;
    let mut value = Some(user);
    for segment in path.split('.') {
        value = value.and_then(|v| match v {
            Value::Object(map) => map.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        });
    }
    Some(value.filter(|v| !v.is_null()))
}

/// `scalar` with a placeholder replaced by its value; `None` when that value is missing, null
/// or no scalar.
fn bind_scalar(scalar: &Scalar, user: &Value) -> Option<Scalar> {
    match scalar {
        Scalar::Str(s) => match resolve(s, user) {
            Some(value) => to_scalar(value?),
            None => Some(scalar.clone()),
        },
        other => Some(other.clone()),
    }
}

fn bind_list(list: &ScalarList, user: &Value) -> Option<ScalarList> {
    if list.placeholder {
        let Some(Scalar::Str(s)) = list.values.first() else {
            return None;
        };
        let Some(Some(Value::Array(items))) = resolve(s, user) else {
            return None;
        };
        if items.len() > super::limits::MAX_LIST {
            return None;
        }
        return Some(ScalarList {
            values: items.iter().map(to_scalar).collect::<Option<_>>()?,
            placeholder: false,
        });
    }
    Some(ScalarList {
        values: list
            .values
            .iter()
            .map(|s| bind_scalar(s, user))
            .collect::<Option<_>>()?,
        placeholder: false,
    })
}

/// `op` bound to `user`; `None` when one of its placeholders cannot be bound.
fn bind_op(op: &Op, user: &Value) -> Option<Op> {
    Some(match op {
        Op::Eq(s) => Op::Eq(bind_scalar(s, user)?),
        Op::Ne(s) => Op::Ne(bind_scalar(s, user)?),
        Op::Eqi(s) => match resolve(s, user) {
            None => Op::Eqi(s.clone()),
            Some(Some(Value::String(v))) => Op::Eqi(v.clone()),
            Some(_) => return None,
        },
        Op::In(list) => Op::In(bind_list(list, user)?),
        Op::Nin(list) => Op::Nin(bind_list(list, user)?),
        Op::Cmp(cmp, s) => match bind_scalar(s, user)? {
            bound @ (Scalar::Num(_) | Scalar::Str(_)) => Op::Cmp(*cmp, bound),
            // A placeholder stands for a number or a string only.
            _ if matches!(s, Scalar::Str(text) if text.starts_with(PLACEHOLDER)) => return None,
            literal => Op::Cmp(*cmp, literal),
        },
        Op::Exists(b) => Op::Exists(*b),
        Op::ElemMatch(nodes) => Op::ElemMatch(bind_nodes(nodes, user)?),
    })
}

/// `nodes` bound to the costliest values in SQL (see `sql::check_cost`): every placeholder
/// a number, or [`super::limits::MAX_LIST`] numbers when it stands for a whole list.
pub(super) fn costliest_binding(nodes: &[Node]) -> Vec<Node> {
    let scalar = |s: &Scalar| match s {
        Scalar::Str(text) if text.starts_with(PLACEHOLDER) => Scalar::Num(0.0),
        other => other.clone(),
    };
    let list = |l: &ScalarList| ScalarList {
        values: if l.placeholder {
            (0..super::limits::MAX_LIST)
                .map(|i| Scalar::Num(i as f64))
                .collect()
        } else {
            l.values.iter().map(scalar).collect()
        },
        placeholder: false,
    };
    fn op(
        o: &Op,
        scalar: &dyn Fn(&Scalar) -> Scalar,
        list: &dyn Fn(&ScalarList) -> ScalarList,
    ) -> Op {
        match o {
            Op::Eq(s) => Op::Eq(scalar(s)),
            Op::Ne(s) => Op::Ne(scalar(s)),
            Op::In(l) => Op::In(list(l)),
            Op::Nin(l) => Op::Nin(list(l)),
            Op::Cmp(c, s) => Op::Cmp(*c, scalar(s)),
            Op::ElemMatch(inner) => Op::ElemMatch(nodes_with(inner, scalar, list)),
            Op::Eqi(_) | Op::Exists(_) => o.clone(),
        }
    }
    fn nodes_with(
        nodes: &[Node],
        scalar: &dyn Fn(&Scalar) -> Scalar,
        list: &dyn Fn(&ScalarList) -> ScalarList,
    ) -> Vec<Node> {
        nodes
            .iter()
            .map(|node| match node {
                Node::Field { path, ops } => Node::Field {
                    path: path.clone(),
                    ops: ops.iter().map(|o| op(o, scalar, list)).collect(),
                },
                Node::And(qs) => {
                    Node::And(qs.iter().map(|q| nodes_with(q, scalar, list)).collect())
                }
                Node::Or(qs) => Node::Or(qs.iter().map(|q| nodes_with(q, scalar, list)).collect()),
            })
            .collect()
    }
    nodes_with(nodes, &scalar, &list)
}

/// Every `$user.` placeholder of `nodes` (the strings as written), without repeats.
pub(super) fn collect_placeholders(nodes: &[Node], out: &mut Vec<String>) {
    let mut add = |s: &str| {
        if s.starts_with(PLACEHOLDER) && !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    };
    let mut pending: Vec<&Op> = Vec::new();
    let mut queries: Vec<&[Node]> = vec![nodes];
    while let Some(query) = queries.pop() {
        for node in query {
            match node {
                Node::Field { ops, .. } => pending.extend(ops),
                Node::And(qs) | Node::Or(qs) => queries.extend(qs.iter().map(Vec::as_slice)),
            }
        }
        while let Some(op) = pending.pop() {
            match op {
                Op::Eq(Scalar::Str(s))
                | Op::Ne(Scalar::Str(s))
                | Op::Eqi(s)
                | Op::Cmp(_, Scalar::Str(s)) => add(s),
                Op::In(list) | Op::Nin(list) => {
                    for value in &list.values {
                        if let Scalar::Str(s) = value {
                            add(s);
                        }
                    }
                }
                Op::ElemMatch(inner) => queries.push(inner),
                _ => {}
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Paths

pub(super) fn collect_paths(nodes: &[Node], prefix: &str, out: &mut Vec<String>) {
    for node in nodes {
        match node {
            Node::Field { path, ops } if path.is_empty() => {
                // Operators on the value itself (the document, or an element).
                collect_op_paths(ops, prefix.trim_end_matches('.'), out);
            }
            Node::Field { path, ops } => {
                let full = format!("{prefix}{}", path.join("."));
                if !out.contains(&full) {
                    out.push(full.clone());
                }
                collect_op_paths(ops, &full, out);
            }
            Node::And(queries) | Node::Or(queries) => {
                for query in queries {
                    collect_paths(query, prefix, out);
                }
            }
        }
    }
}

fn collect_op_paths(ops: &[Op], full: &str, out: &mut Vec<String>) {
    for op in ops {
        match op {
            Op::ElemMatch(inner) if full.is_empty() => collect_paths(inner, "", out),
            Op::ElemMatch(inner) => collect_paths(inner, &format!("{full}."), out),
            _ => {}
        }
    }
}
