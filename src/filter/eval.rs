//! In-memory evaluation, modelled on how sift.js 17 walks a document.
//!
//! A path is walked depth first: an array met on the way (nested ones too) has each element
//! walked at the same depth, after which the key is also looked up on the array itself (giving
//! `undefined`); the walk stops at `null`/`undefined` or at the end of the path. Each stop is a
//! [`Visit`]. Every operator decides on the first visit that settles it, in walk order, or falls
//! back to a default — the SQL compilation in `sql.rs` encodes exactly the same rules.

use serde_json::Value;

use super::{CmpOp, ElemQuery, Node, Op, Scalar};

/// A value the walk stops at, and how it was reached.
#[derive(Debug, Clone, Copy)]
pub(super) struct Visit<'a> {
    /// `None` is JavaScript's `undefined`: a missing key, or a key looked up on a non-object.
    value: Option<&'a Value>,
    /// How many path segments were consumed (0 = the value the walk started from).
    depth: usize,
    /// The owner (object or array) has the key as its own property.
    own: bool,
    /// The owner is an array: an element, or the `undefined` of a key looked up on an array.
    owner_array: bool,
    /// An element that is the last of its array.
    last: bool,
}

impl Visit<'_> {
    /// sift's equality-like operators skip the `undefined` of a key looked up on an array.
    fn tested(&self) -> bool {
        !self.owner_array || self.own
    }
}

pub(super) fn matches(nodes: &[Node], document: &Value) -> bool {
    let start = Visit {
        value: Some(document),
        depth: 0,
        own: true,
        owner_array: false,
        last: false,
    };
    all_hold(nodes, start)
}

/// Nodes evaluated once on the value of `start` (a document, or an element under `$elemMatch`).
fn all_hold(nodes: &[Node], start: Visit<'_>) -> bool {
    nodes.iter().all(|node| match node {
        Node::Field { path, ops } => {
            let mut visits = Vec::new();
            walk(start, path, &mut visits);
            ops.iter().all(|op| decide(op, &visits, path.len()))
        }
        Node::And(queries) => queries.iter().all(|q| all_hold(q, start)),
        Node::Or(queries) => queries.iter().any(|q| all_hold(q, start)),
    })
}

fn walk<'a>(at: Visit<'a>, path: &[String], out: &mut Vec<Visit<'a>>) {
    if let Some(Value::Array(items)) = at.value {
        for (i, item) in items.iter().enumerate() {
            let element = Visit {
                value: Some(item),
                depth: at.depth,
                own: true,
                owner_array: true,
                last: i + 1 == items.len(),
            };
            walk(element, path, out);
        }
    }
    let Some(segment) = path.get(at.depth) else {
        out.push(at);
        return;
    };
    let (value, own) = match at.value {
        None | Some(Value::Null) => {
            out.push(at);
            return;
        }
        Some(Value::Object(map)) => (map.get(segment), map.contains_key(segment)),
        Some(_) => (None, false),
    };
    let next = Visit {
        value,
        depth: at.depth + 1,
        own,
        owner_array: matches!(at.value, Some(Value::Array(_))),
        last: false,
    };
    walk(next, path, out);
}

/// The outcome of `op` over the visits of a path `len` segments long.
fn decide(op: &Op, visits: &[Visit<'_>], len: usize) -> bool {
    let first = |decisive: &dyn Fn(&Visit<'_>) -> Option<bool>, default: bool| {
        visits.iter().find_map(decisive).unwrap_or(default)
    };
    match op {
        Op::Eq(s) => first(
            &|v| (v.tested() && equals(s, v.value)).then_some(true),
            false,
        ),
        Op::Ne(s) => first(&|v| equals(s, v.value).then_some(false), true),
        Op::Eqi(s) => first(
            &|v| {
                let hit = matches!(v.value, Some(Value::String(x)) if x.eq_ignore_ascii_case(s));
                (v.tested() && hit).then_some(true)
            },
            false,
        ),
        Op::In(list) => first(
            &|v| {
                list.values
                    .iter()
                    .any(|s| equals(s, v.value))
                    .then_some(true)
            },
            false,
        ),
        Op::Nin(list) => first(
            &|v| {
                let hit = list.values.iter().any(|s| equals(s, v.value));
                if v.owner_array && v.depth != 0 && !hit && !v.last {
                    None
                } else {
                    Some(!hit)
                }
            },
            false,
        ),
        Op::Cmp(cmp, s) => first(
            &|v| (v.tested() && compare(*cmp, s, v.value)).then_some(true),
            false,
        ),
        Op::Exists(wanted) => first(
            &|v| {
                if v.depth != len {
                    Some(!wanted)
                } else {
                    (v.own == *wanted).then_some(true)
                }
            },
            false,
        ),
        Op::ElemMatch(query) => first(
            &|v| match v.value {
                Some(Value::Array(items)) => Some(items.iter().enumerate().any(|(i, item)| {
                    let start = Visit {
                        value: Some(item),
                        depth: 0,
                        own: true,
                        owner_array: true,
                        last: i + 1 == items.len(),
                    };
                    element_matches(query, start)
                })),
                _ => None,
            },
            false,
        ),
    }
}

fn element_matches(query: &ElemQuery, start: Visit<'_>) -> bool {
    match query {
        ElemQuery::Query(nodes) => all_hold(nodes, start),
        ElemQuery::Ops(ops) => {
            let mut visits = Vec::new();
            walk(start, &[], &mut visits);
            ops.iter().all(|op| decide(op, &visits, 0))
        }
    }
}

/// sift's equality of a scalar operand with a value: `null` also equals `undefined`, numbers
/// compare as doubles, nothing equals an array or object.
fn equals(operand: &Scalar, value: Option<&Value>) -> bool {
    match (operand, value) {
        (Scalar::Null, None | Some(Value::Null)) => true,
        (Scalar::Bool(a), Some(Value::Bool(b))) => a == b,
        (Scalar::Num(a), Some(Value::Number(b))) => b.as_f64() == Some(*a),
        (Scalar::Str(a), Some(Value::String(b))) => a == b,
        _ => false,
    }
}

/// `$lt`…: the value must have the operand's type (number or string); strings compare by
/// UTF-16 code units in JavaScript, which is byte order for the ASCII the tests use.
fn compare(cmp: CmpOp, operand: &Scalar, value: Option<&Value>) -> bool {
    let ordering = match (operand, value) {
        (Scalar::Num(a), Some(Value::Number(b))) => b.as_f64().and_then(|b| b.partial_cmp(a)),
        (Scalar::Str(a), Some(Value::String(b))) => Some(b.as_str().cmp(a.as_str())),
        _ => None,
    };
    let Some(ordering) = ordering else {
        return false;
    };
    match cmp {
        CmpOp::Lt => ordering.is_lt(),
        CmpOp::Lte => ordering.is_le(),
        CmpOp::Gt => ordering.is_gt(),
        CmpOp::Gte => ordering.is_ge(),
    }
}
