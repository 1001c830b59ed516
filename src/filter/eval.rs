//! In-memory evaluation: sift.js 17.1.4's operations, ported one to one.
//!
//! sift builds a tree of operations from the query, each with two flags, `keep` (the answer so
//! far) and `done` (the answer is settled). A field walks its dotted path through the document
//! and hands every value it stops at (a [`Visit`]) to its operations until all are done; an
//! array met on the way has its elements walked first, at the same depth, unless the next
//! segment is numeric (`a.0`), and then the key is looked up on the array itself (an
//! `undefined` that `$ne`, `$in`, `$nin` and the equality-like operators skip). Each operation
//! below keeps sift's flags and updates them exactly as sift's `next` does, so the order of the
//! walk and the state carried from one value to the next are sift's too.

use serde_json::Value;

use super::parse::{array_index, is_numeric_segment};
use super::{CmpOp, Node, Op, Scalar};

/// A key as sift passes it along: none at the start, an element's index, or a path segment.
#[derive(Debug, Clone, Copy)]
enum Key<'a> {
    Undefined,
    Index(usize),
    Name(&'a str),
}

/// A value a walk stops at, with what sift's `next` receives beside it.
#[derive(Debug, Clone, Copy)]
struct Visit<'a> {
    /// `None` is JavaScript's `undefined`.
    item: Option<&'a Value>,
    key: Key<'a>,
    /// The value the key was looked up on; `None` at the start of a query.
    owner: Option<&'a Value>,
    /// The walk reached the end of its path.
    leaf: bool,
    /// `item` stands for a string of one lone UTF-16 surrogate, this one (a character of a
    /// string read by a numeric segment, `"😀".0`), which Rust strings cannot hold.
    lone: Option<u16>,
}

impl Visit<'_> {
    /// `owner.hasOwnProperty(key)`.
    fn own(&self) -> bool {
        let index = |key: Key<'_>| match key {
            Key::Index(i) => Some(i),
            Key::Name(name) => array_index(name),
            Key::Undefined => None,
        };
        match (self.owner, self.key) {
            (Some(Value::Object(map)), Key::Name(name)) => map.contains_key(name),
            (Some(Value::Object(map)), Key::Index(i)) => map.contains_key(&i.to_string()),
            (Some(Value::Array(items)), key) => index(key).is_some_and(|i| i < items.len()),
            (Some(Value::String(s)), key) => {
                index(key).is_some_and(|i| i < s.encode_utf16().count())
            }
            _ => false,
        }
    }

    fn owner_is_array(&self) -> bool {
        matches!(self.owner, Some(Value::Array(_)))
    }

    /// sift's `isMissingArrayProperty`: a non-numeric key the owning array lacks.
    fn missing_array_property(&self) -> bool {
        self.owner_is_array()
            && !self.own()
            && match self.key {
                Key::Name(name) => !is_numeric_segment(name),
                Key::Index(_) => false,
                Key::Undefined => true,
            }
    }

    /// The guard of sift's `EqualsOperation`: `!Array.isArray(owner) || owner.hasOwnProperty(key)`.
    fn tested(&self) -> bool {
        !self.owner_is_array() || self.own()
    }
}

/// One operation of sift's tree and its flags.
struct Rt<'q> {
    kind: Kind<'q>,
    keep: bool,
    done: bool,
}

enum Kind<'q> {
    /// `QueryOperation` and `$and`: every child, on the same value.
    Group(Vec<Rt<'q>>),
    /// `NestedOperation`: the children on every value the walk of `path` stops at.
    Nested {
        path: &'q [String],
        children: Vec<Rt<'q>>,
    },
    Or(Vec<Rt<'q>>),
    ElemMatch(Box<Rt<'q>>),
    /// `$eq $ne $eqi $in $nin $lt $lte $gt $gte $exists`.
    Leaf(&'q Op),
}

impl<'q> Rt<'q> {
    fn new(kind: Kind<'q>) -> Self {
        Rt {
            kind,
            keep: false,
            done: false,
        }
    }

    /// sift's `createQueryOperation`: the operators on the value itself (and `$and`/`$or`) in
    /// one nested operation with an empty path, then one nested operation per field.
    fn query(nodes: &'q [Node]) -> Self {
        let mut own = Vec::new();
        let mut fields = Vec::new();
        for node in nodes {
            match node {
                Node::Field { path, ops } if path.is_empty() => {
                    own.extend(ops.iter().map(Rt::op));
                }
                Node::Field { path, ops } => fields.push(Rt::new(Kind::Nested {
                    path,
                    children: ops.iter().map(Rt::op).collect(),
                })),
                Node::And(queries) => own.push(Rt::new(Kind::Group(
                    queries.iter().map(|q| Rt::query(q)).collect(),
                ))),
                Node::Or(queries) => own.push(Rt::new(Kind::Or(
                    queries.iter().map(|q| Rt::query(q)).collect(),
                ))),
            }
        }
        let mut children = Vec::with_capacity(fields.len() + 1);
        if !own.is_empty() {
            children.push(Rt::new(Kind::Nested {
                path: &[],
                children: own,
            }));
        }
        children.extend(fields);
        Rt::new(Kind::Group(children))
    }

    fn op(op: &'q Op) -> Self {
        match op {
            Op::ElemMatch(nodes) => Rt::new(Kind::ElemMatch(Box::new(Rt::query(nodes)))),
            other => Rt::new(Kind::Leaf(other)),
        }
    }

    fn reset(&mut self) {
        self.done = false;
        self.keep = false;
        match &mut self.kind {
            Kind::Group(children) | Kind::Nested { children, .. } | Kind::Or(children) => {
                children.iter_mut().for_each(Rt::reset)
            }
            Kind::ElemMatch(query) => query.reset(),
            Kind::Leaf(Op::Ne(_) | Op::Nin(_)) => self.keep = true,
            Kind::Leaf(Op::Exists(wanted)) => self.keep = !wanted,
            Kind::Leaf(_) => {}
        }
    }

    fn next(&mut self, visit: &Visit<'_>) {
        let Rt { kind, keep, done } = self;
        match kind {
            Kind::Group(children) => (*keep, *done) = children_next(children, visit),
            Kind::Nested { path, children } => {
                let path: &[String] = path;
                walk(
                    visit.item,
                    visit.lone,
                    path,
                    0,
                    visit.key,
                    visit.owner,
                    &mut |value: &Visit<'_>| {
                        (*keep, *done) = children_next(children, value);
                        !*done
                    },
                );
            }
            Kind::Or(branches) => {
                let mut success = false;
                for branch in branches.iter_mut() {
                    branch.next(visit);
                    if branch.keep {
                        success = true;
                        break;
                    }
                }
                *keep = success;
                *done = success;
            }
            Kind::ElemMatch(query) => match visit.item {
                Some(array @ Value::Array(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        query.reset();
                        query.next(&Visit {
                            item: Some(item),
                            key: Key::Index(i),
                            owner: Some(array),
                            leaf: true,
                            lone: None,
                        });
                        *keep = *keep || query.keep;
                    }
                    // An array that is a field of an object is one candidate among several
                    // (each `a[i].b` of `a.b`); an array inside an array settles the answer.
                    *done = *keep || !matches!(visit.owner, Some(Value::Object(_)));
                }
                _ => {
                    *done = false;
                    *keep = false;
                }
            },
            Kind::Leaf(op) => leaf_next(op, visit, keep, done),
        }
    }
}

/// sift's `GroupOperation.childrenNext`.
fn children_next(children: &mut [Rt<'_>], visit: &Visit<'_>) -> (bool, bool) {
    let mut done = true;
    let mut keep = true;
    for child in children.iter_mut() {
        if !child.done {
            child.next(visit);
        }
        if !child.keep {
            keep = false;
        }
        if child.done {
            if !child.keep {
                break;
            }
        } else {
            done = false;
        }
    }
    (keep, done)
}

fn leaf_next(op: &Op, visit: &Visit<'_>, keep: &mut bool, done: &mut bool) {
    let item = visit.item;
    // A lone surrogate equals no operand (JSON strings hold none).
    let equals =
        |operand: &Scalar, item: Option<&Value>| visit.lone.is_none() && equals(operand, item);
    match op {
        Op::Eq(operand) => {
            if visit.tested() && equals(operand, item) {
                (*keep, *done) = (true, true);
            }
        }
        Op::Eqi(operand) => {
            let hit = visit.lone.is_none()
                && matches!(item, Some(Value::String(s)) if s.eq_ignore_ascii_case(operand));
            if visit.tested() && hit {
                (*keep, *done) = (true, true);
            }
        }
        Op::Cmp(cmp, operand) => {
            let hit = match (visit.lone, operand) {
                (None, _) => compare(*cmp, operand, item),
                // A string of one unit against a string: by UTF-16 units, never identical.
                (Some(unit), Scalar::Str(text)) => {
                    let order = [unit].into_iter().cmp(text.encode_utf16());
                    match cmp {
                        CmpOp::Lt | CmpOp::Lte => order.is_lt(),
                        CmpOp::Gt | CmpOp::Gte => order.is_gt(),
                    }
                }
                (Some(_), _) => false,
            };
            if visit.tested() && hit {
                (*keep, *done) = (true, true);
            }
        }
        Op::Ne(operand) => {
            if !visit.missing_array_property() && equals(operand, item) {
                (*keep, *done) = (false, true);
            }
        }
        Op::In(list) => {
            if !visit.missing_array_property() {
                let hit = list.values.iter().any(|v| equals(v, item));
                (*keep, *done) = (hit, hit);
            }
        }
        Op::Nin(list) => {
            if !visit.missing_array_property() && list.values.iter().any(|v| equals(v, item)) {
                (*keep, *done) = (false, true);
            }
        }
        Op::Exists(wanted) => {
            let present = match visit.owner {
                None => item.is_some(),
                Some(_) => visit.own(),
            };
            if visit.leaf && present {
                (*keep, *done) = (*wanted, true);
            }
        }
        Op::ElemMatch(_) => {}
    }
}

/// sift's `walkKeyPathValues`: calls `next` on every value the walk of `path` from `item`
/// stops at, until `next` returns false. Returns false when it was stopped.
fn walk<'a>(
    item: Option<&'a Value>,
    lone: Option<u16>,
    path: &[String],
    depth: usize,
    key: Key<'a>,
    owner: Option<&'a Value>,
    next: &mut dyn FnMut(&Visit<'_>) -> bool,
) -> bool {
    let current = path.get(depth);
    if let Some(Value::Array(items)) = item
        && current.is_none_or(|segment| !is_numeric_segment(segment))
    {
        for (i, element) in items.iter().enumerate() {
            if !walk(Some(element), None, path, depth, Key::Index(i), item, next) {
                return false;
            }
        }
    }
    let Some(segment) = current.filter(|_| !matches!(item, None | Some(Value::Null))) else {
        return next(&Visit {
            item,
            key,
            owner,
            leaf: depth == path.len(),
            lone,
        });
    };
    let name = Key::Name(segment.as_str());
    match item {
        Some(Value::Object(map)) => walk(map.get(segment), None, path, depth + 1, name, item, next),
        Some(Value::Array(items)) => {
            let element = array_index(segment).and_then(|i| items.get(i));
            walk(element, None, path, depth + 1, name, item, next)
        }
        // `"abc"["1"]` is `"b"`: strings are indexed by UTF-16 code units.
        Some(Value::String(s)) => {
            let unit = match lone {
                Some(unit) => (array_index(segment) == Some(0)).then_some(unit),
                None => array_index(segment).and_then(|i| s.encode_utf16().nth(i)),
            };
            match unit {
                Some(unit) => {
                    let character = String::from_utf16(&[unit]).ok();
                    let lone = character.is_none().then_some(unit);
                    // A lone surrogate is read as one (placeholder) character, flagged `lone`.
                    let character = Value::String(character.unwrap_or_else(|| "\u{FFFD}".into()));
                    walk(Some(&character), lone, path, depth + 1, name, item, next)
                }
                None => walk(None, None, path, depth + 1, name, item, next),
            }
        }
        _ => walk(None, None, path, depth + 1, name, item, next),
    }
}

pub(super) fn matches(nodes: &[Node], document: &Value) -> bool {
    let mut query = Rt::query(nodes);
    query.reset();
    query.next(&Visit {
        item: Some(document),
        key: Key::Undefined,
        owner: None,
        leaf: true,
        lone: None,
    });
    query.keep
}

/// sift's `equals(operand, value)`: `null` also equals `undefined`, numbers compare as doubles,
/// arrays element by element, objects key by key whatever their order (a key the value lacks
/// is `undefined`, which a `null` of the operand equals).
fn equals(operand: &Scalar, value: Option<&Value>) -> bool {
    match (operand, value) {
        (Scalar::Null, None | Some(Value::Null)) => true,
        (Scalar::Bool(a), Some(Value::Bool(b))) => a == b,
        (Scalar::Num(a), Some(Value::Number(b))) => b.as_f64() == Some(*a),
        (Scalar::Str(a), Some(Value::String(b))) => a == b,
        (Scalar::Json(a), value) => json_equals(a, value),
        _ => false,
    }
}

fn json_equals(a: &Value, b: Option<&Value>) -> bool {
    match (a, b) {
        (Value::Null, None | Some(Value::Null)) => true,
        (Value::Bool(x), Some(Value::Bool(y))) => x == y,
        (Value::Number(x), Some(Value::Number(y))) => x.as_f64() == y.as_f64(),
        (Value::String(x), Some(Value::String(y))) => x == y,
        (Value::Array(x), Some(Value::Array(y))) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_equals(x, Some(y)))
        }
        (Value::Object(x), Some(Value::Object(y))) => {
            x.len() == y.len() && x.iter().all(|(k, v)| json_equals(v, y.get(k)))
        }
        _ => false,
    }
}

/// sift's `$lt`…: the value (`undefined` read as `null`) must have the operand's `typeof`, then
/// JavaScript's `<`, `<=` (or `===`), `>`, `>=` decide, with their coercions.
fn compare(cmp: CmpOp, operand: &Scalar, value: Option<&Value>) -> bool {
    let null = Value::Null;
    let actual = value.unwrap_or(&null);
    let operand = match operand {
        Scalar::Null => Value::Null,
        Scalar::Bool(b) => Value::Bool(*b),
        Scalar::Num(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
        Scalar::Str(s) => Value::String(s.clone()),
        Scalar::Json(v) => (**v).clone(),
    };
    if type_of(actual) != type_of(&operand) {
        return false;
    }
    // `===`: primitives by value, `null` with itself; two arrays or objects are never the same.
    let identical = match (actual, &operand) {
        (Value::Null, Value::Null) => true,
        (Value::Array(_) | Value::Object(_), _) => false,
        (a, b) => json_equals(a, Some(b)),
    };
    match cmp {
        CmpOp::Lt => !actual.is_null() && less(actual, &operand) == Some(true),
        CmpOp::Lte => identical || less(&operand, actual) == Some(false),
        CmpOp::Gt => !actual.is_null() && less(&operand, actual) == Some(true),
        CmpOp::Gte => identical || less(actual, &operand) == Some(false),
    }
}

fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null | Value::Array(_) | Value::Object(_) => "object",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
    }
}

/// A JavaScript primitive.
enum Primitive {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
}

fn to_primitive(value: &Value) -> Primitive {
    match value {
        Value::Null => Primitive::Null,
        Value::Bool(b) => Primitive::Bool(*b),
        Value::Number(n) => Primitive::Num(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => Primitive::Str(s.clone()),
        other => Primitive::Str(js_string(other)),
    }
}

/// `String(value)` for what an array joins: `null` inside an array becomes "".
fn js_string(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => js_number_string(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Null => String::new(),
                other => js_string(other),
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".into(),
    }
}

/// JavaScript's `Number.prototype.toString()` of a finite double.
fn js_number_string(n: f64) -> String {
    if n == 0.0 {
        return "0".into();
    }
    if !n.is_finite() {
        return if n.is_nan() {
            "NaN".into()
        } else if n > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let sign = if n < 0.0 { "-" } else { "" };
    let scientific = format!("{:e}", n.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let k = digits.len() as i64;
    let point = exponent.parse::<i64>().unwrap_or(0) + 1;
    let body = if k <= point && point <= 21 {
        format!("{digits}{}", "0".repeat((point - k) as usize))
    } else if 0 < point && point <= 21 {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    } else if -6 < point && point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else {
        let e = point - 1;
        let sign = if e >= 0 { "+" } else { "-" };
        let rest = if k > 1 {
            format!(".{}", &digits[1..])
        } else {
            String::new()
        };
        format!("{}{rest}e{sign}{}", &digits[..1], e.abs())
    };
    format!("{sign}{body}")
}

fn to_number(p: &Primitive) -> f64 {
    match p {
        Primitive::Null => 0.0,
        Primitive::Bool(b) => f64::from(u8::from(*b)),
        Primitive::Num(n) => *n,
        Primitive::Str(s) => string_to_number(s),
    }
}

/// JavaScript's `Number(string)`.
fn string_to_number(s: &str) -> f64 {
    let white = |c: char| {
        matches!(
            c,
            '\t' | '\n' | '\u{B}' | '\u{C}' | '\r' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
                ..='\u{200A}'
                    | '\u{2028}'
                    | '\u{2029}'
                    | '\u{202F}'
                    | '\u{205F}'
                    | '\u{3000}'
                    | '\u{FEFF}'
        )
    };
    let s = s.trim_matches(white);
    if s.is_empty() {
        return 0.0;
    }
    match s {
        "Infinity" | "+Infinity" => return f64::INFINITY,
        "-Infinity" => return f64::NEG_INFINITY,
        _ => {}
    }
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let (Some(head), Some(digits)) = (s.get(..2), s.get(2..))
            && !digits.is_empty()
            && head.eq_ignore_ascii_case(prefix)
        {
            if !digits.chars().all(|c| c.is_digit(radix)) {
                return f64::NAN;
            }
            return digits.chars().fold(0.0, |n, c| {
                n * f64::from(radix) + f64::from(c.to_digit(radix).unwrap_or(0))
            });
        }
    }
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |d: &str| d.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok =
        digits(whole) && digits(fraction) && !(whole.is_empty() && fraction.is_empty());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if !(mantissa_ok && exponent_ok) {
        return f64::NAN;
    }
    s.parse::<f64>().unwrap_or(f64::NAN)
}

/// JavaScript's abstract relational comparison `x < y`: `None` when it is undefined (a NaN).
fn less(x: &Value, y: &Value) -> Option<bool> {
    let (px, py) = (to_primitive(x), to_primitive(y));
    if let (Primitive::Str(a), Primitive::Str(b)) = (&px, &py) {
        return Some(a.encode_utf16().lt(b.encode_utf16()));
    }
    let (nx, ny) = (to_number(&px), to_number(&py));
    if nx.is_nan() || ny.is_nan() {
        None
    } else {
        Some(nx < ny)
    }
}
