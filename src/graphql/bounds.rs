//! What one GraphQL request may hold, checked before the engine parses or converts any of it.
//!
//! The engine and our own passes over a value (validation, input conversion, filters, JSON
//! scalars) recurse once per level of nesting, on the worker's stack. A request of a few
//! kilobytes that nests a list, an input object or a JSON value a thousand levels deep would
//! overflow that stack and abort the process. So every value a request carries, in its query
//! text or in its variables, is measured here first, without recursion, and refused past
//! `graphql.maxNesting` levels with a `BAD_USER_INPUT` error. The same scan refuses the NUL
//! character in any string: PostgreSQL cannot store it, and no name or identifier needs it.

use async_graphql::Variables;
use async_graphql::Value;

use crate::error::AppError;

/// How deep selection sets may nest in the query text: the engine's parser stops at 64 itself,
/// but only after a first pass that recurses once per level.
pub const MAX_SELECTION_NESTING: usize = 64;

/// Checks the query text and the variables of a request.
pub fn check(request: &async_graphql::Request, max_nesting: usize) -> Result<(), AppError> {
    check_text(&request.query, max_nesting)?;
    check_variables(&request.variables, max_nesting)
}

/// Where a refused token stands in the query text, as people count: line and column from 1.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = offset - before.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

fn too_deep(max_nesting: usize, place: &str) -> AppError {
    AppError::validation(format!(
        "Values may nest at most {max_nesting} levels deep (lists and objects, in arguments, \
         variables and JSON); {place} nests deeper"
    ))
}

fn nul(place: &str) -> AppError {
    AppError::validation(format!(
        "Text may not contain the NUL character (\\u0000); {place} does"
    ))
}

/// One pass over the tokens of a GraphQL document that matter for nesting: brackets outside
/// strings and comments. A value nests one level per `[` or `{` opened inside an argument list
/// (`(…)`, where every value of a document stands); outside one, `{` opens a selection set.
pub fn check_text(text: &str, max_nesting: usize) -> Result<(), AppError> {
    let bytes = text.as_bytes();
    // For each open bracket: whether it opened a value (inside an argument list).
    let mut open: Vec<u8> = Vec::new();
    let (mut values, mut selections, mut arguments) = (0usize, 0usize, 0usize);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            0 => {
                let (line, column) = position(text, i);
                return Err(nul(&format!("the query text at {line}:{column}")));
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                i = skip_string(text, i)?;
                continue;
            }
            b'(' => {
                // Argument lists never nest in GraphQL; a deep run of `(` is refused here
                // rather than handed to the parser.
                if arguments > 0 {
                    let (line, column) = position(text, i);
                    return Err(AppError::validation(format!(
                        "Syntax error at {line}:{column}: argument lists do not nest"
                    )));
                }
                arguments += 1;
                open.push(b'(');
            }
            b'[' | b'{' if arguments > 0 => {
                values += 1;
                if values > max_nesting {
                    let (line, column) = position(text, i);
                    return Err(too_deep(
                        max_nesting,
                        &format!("the value at {line}:{column}"),
                    ));
                }
                open.push(b'v');
            }
            b'{' => {
                selections += 1;
                if selections > MAX_SELECTION_NESTING {
                    let (line, column) = position(text, i);
                    return Err(AppError::validation(format!(
                        "Selection sets may nest at most {MAX_SELECTION_NESTING} levels deep; \
                         the one at {line}:{column} nests deeper"
                    )));
                }
                open.push(b's');
            }
            // A list type of a variable definition outside parentheses cannot occur; a stray
            // `[` is left to the parser, which reports it.
            b')' | b']' | b'}' => match open.pop() {
                Some(b'(') => arguments -= 1,
                Some(b'v') => values -= 1,
                Some(_) => selections -= 1,
                // Unbalanced: the parser says where.
                None => {}
            },
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// The offset just past the string that starts at `start` (a `"` or a `"""` block string);
/// refuses an escaped NUL in it. An unterminated string ends the text: the parser reports it.
fn skip_string(text: &str, start: usize) -> Result<usize, AppError> {
    let bytes = text.as_bytes();
    if bytes[start..].starts_with(b"\"\"\"") {
        // Block strings have no escapes but `\"""`; a raw NUL is caught like anywhere else.
        let mut i = start + 3;
        while i < bytes.len() {
            if bytes[i] == 0 {
                let (line, column) = position(text, i);
                return Err(nul(&format!("the string at {line}:{column}")));
            }
            if bytes[i..].starts_with(b"\\\"\"\"") {
                i += 4;
            } else if bytes[i..].starts_with(b"\"\"\"") {
                return Ok(i + 3);
            } else {
                i += 1;
            }
        }
        return Ok(bytes.len());
    }
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return Ok(i + 1),
            b'\n' | b'\r' => return Ok(i),
            0 => {
                let (line, column) = position(text, i);
                return Err(nul(&format!("the string at {line}:{column}")));
            }
            b'\\' => {
                if escapes_nul(&bytes[i..]) {
                    let (line, column) = position(text, i);
                    return Err(nul(&format!("the string at {line}:{column}")));
                }
                i += 2;
            }
            _ => i += 1,
        }
    }
    Ok(bytes.len())
}

/// Whether the escape sequence at the start of `escape` (`\u0000` or `\u{0…}`) stands for NUL.
fn escapes_nul(escape: &[u8]) -> bool {
    let Some(rest) = escape.strip_prefix(b"\\u") else {
        return false;
    };
    if let Some(braced) = rest.strip_prefix(b"{") {
        let digits: Vec<u8> = braced.iter().copied().take_while(|b| *b != b'}').collect();
        return !digits.is_empty() && digits.iter().all(|d| *d == b'0');
    }
    rest.len() >= 4 && rest[..4].iter().all(|d| *d == b'0')
}

/// Measures every variable without recursion: its nesting and its strings (keys included).
pub fn check_variables(variables: &Variables, max_nesting: usize) -> Result<(), AppError> {
    for (name, value) in variables.iter() {
        let place = || format!("the variable `${name}`");
        if name.contains('\0') {
            return Err(nul("a variable name"));
        }
        // The variable itself is level 0; each list or object inside it one more.
        let mut stack: Vec<(&Value, usize)> = vec![(value, 0)];
        while let Some((value, depth)) = stack.pop() {
            match value {
                Value::String(text) if text.contains('\0') => return Err(nul(&place())),
                Value::List(items) => {
                    if depth + 1 > max_nesting {
                        return Err(too_deep(max_nesting, &place()));
                    }
                    stack.extend(items.iter().map(|item| (item, depth + 1)));
                }
                Value::Object(fields) => {
                    if depth + 1 > max_nesting {
                        return Err(too_deep(max_nesting, &place()));
                    }
                    for (key, item) in fields {
                        if key.contains('\0') {
                            return Err(nul(&place()));
                        }
                        stack.push((item, depth + 1));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(open: &str, close: &str, levels: usize, inner: &str) -> String {
        format!("{}{inner}{}", open.repeat(levels), close.repeat(levels))
    }

    #[test]
    fn values_nest_up_to_the_limit_in_every_place() {
        for levels in [1, 5, 8] {
            let list = nested("[", "]", levels, "1");
            let object = nested("{a: ", "}", levels, "1");
            for query in [
                format!("{{ x(a: {list}) }}"),
                format!("{{ x(a: {object}) }}"),
                format!("{{ x @skip(if: {list}) }}"),
                format!("query ($v: Int = {list}) {{ x }}"),
            ] {
                assert!(check_text(&query, 8).is_ok(), "{query}");
                assert!(check_text(&query, levels - 1).is_err(), "{query}");
            }
        }
    }

    #[test]
    fn deep_values_are_refused_with_their_position() {
        let query = format!("{{\n  x(a: {}) }}", nested("[", "]", 100_000, "1"));
        let error = check_text(&query, 32).unwrap_err().to_string();
        assert!(error.contains("at most 32 levels"), "{error}");
        assert!(error.contains("2:"), "{error}");
    }

    #[test]
    fn selection_sets_and_brackets_in_strings_and_comments_do_not_count_as_values() {
        let selections = format!("{}{}", "{ a ".repeat(40), "}".repeat(40));
        assert!(check_text(&selections, 2).is_ok());
        let deep = format!("{}{}", "{ a ".repeat(65), "}".repeat(65));
        assert!(check_text(&deep, 2).is_err());
        let brackets = "[".repeat(500);
        for query in [
            format!("{{ x(a: \"{brackets}\") }}"),
            format!("{{ x(a: \"\"\"{brackets}\"\"\") }}"),
            format!("{{ x(a: \"\\\"{brackets}\") }}"),
            format!("# {brackets}\n{{ x }}"),
        ] {
            assert!(check_text(&query, 2).is_ok(), "{query}");
        }
    }

    #[test]
    fn argument_lists_do_not_nest() {
        assert!(check_text("{ a(x: 1) @d(y: 2) { b(z: 3) } }", 8).is_ok());
        let deep = format!("{{ a{} }}", "(".repeat(100_000));
        let error = check_text(&deep, 8).unwrap_err().to_string();
        assert!(error.contains("do not nest"), "{error}");
    }

    #[test]
    fn nul_is_refused_raw_or_escaped_in_any_string() {
        for query in [
            "{ x(a: \"a\\u0000b\") }",
            "{ x(a: \"\\u{0}\") }",
            "{ x(a: \"a\0\") }",
            "{ x(a: \"\"\"a\0\"\"\") }",
            "{ x\0 }",
        ] {
            let error = check_text(query, 8).unwrap_err().to_string();
            assert!(error.contains("NUL"), "{query}: {error}");
        }
        assert!(check_text("{ x(a: \"\\u00001\\\\u0000\") }", 8).is_err());
        assert!(check_text("{ x(a: \"\\u0001 \\\\u0000\") }", 8).is_ok());
    }

    fn variables(json: serde_json::Value) -> Variables {
        Variables::from_json(json)
    }

    #[test]
    fn variables_nest_up_to_the_limit_and_hold_no_nul() {
        let mut value = serde_json::json!("x");
        for level in 1..=40 {
            value = if level % 2 == 0 {
                serde_json::json!([value])
            } else {
                serde_json::json!({ "and": value })
            };
            let result = check_variables(&variables(serde_json::json!({ "f": value })), 32);
            assert_eq!(result.is_ok(), level <= 32, "level {level}");
        }
        let with_nul = variables(serde_json::json!({ "f": { "a": ["ok", "n\u{0}"] } }));
        assert!(check_variables(&with_nul, 32).is_err());
        let key_with_nul = variables(serde_json::json!({ "f": { "a\u{0}": 1 } }));
        assert!(check_variables(&key_with_nul, 32).is_err());
    }
}
