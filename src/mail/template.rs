//! Email templates in Strapi's (lodash) syntax: `<%= USER.username %>`. Only variable output
//! is supported — no code — and every variable is checked against the template's list when the
//! template is saved, so a typo is refused then, not discovered when a user waits for a mail.

use std::collections::HashMap;
use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Variable(String),
}

/// A checked template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// Why a template was refused, with the line it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("line {line}: `<%` opens a tag that is never closed with `%>`")]
    Unclosed { line: usize },
    #[error("line {line}: only `<%= VARIABLE %>` tags are supported, found `{found}`")]
    Unsupported { line: usize, found: String },
    #[error("line {line}: `{name}` is not a variable name")]
    BadName { line: usize, name: String },
    #[error("line {line}: unknown variable `{name}`; this template may use {allowed}")]
    Unknown {
        line: usize,
        name: String,
        allowed: String,
    },
}

impl Template {
    /// Parses `source`, accepting only the variables in `allowed` (`"USER.username"`, `"URL"`).
    pub fn parse(source: &str, allowed: &[&str]) -> Result<Self, TemplateError> {
        let mut pieces = Vec::new();
        let mut rest = source;
        let line_of = |rest: &str| source[..source.len() - rest.len()].matches('\n').count() + 1;
        while let Some(start) = rest.find("<%") {
            if start > 0 {
                pieces.push(Piece::Text(rest[..start].to_string()));
            }
            let line = line_of(&rest[start..]);
            let tag = &rest[start + 2..];
            let end = tag.find("%>").ok_or(TemplateError::Unclosed { line })?;
            let inner = &tag[..end];
            let Some(expression) = inner.strip_prefix('=').or_else(|| inner.strip_prefix('-'))
            else {
                let found: String = format!("<%{}%>", inner).chars().take(40).collect();
                return Err(TemplateError::Unsupported { line, found });
            };
            let name = expression.trim();
            if !is_path(name) {
                return Err(TemplateError::BadName {
                    line,
                    name: name.chars().take(40).collect(),
                });
            }
            if !allowed.contains(&name) {
                return Err(TemplateError::Unknown {
                    line,
                    name: name.to_string(),
                    allowed: allowed
                        .iter()
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            pieces.push(Piece::Variable(name.to_string()));
            rest = &tag[end + 2..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(Self { pieces })
    }

    /// Fills the variables; with `escape_html`, their values are HTML-escaped (the message),
    /// without it control characters are dropped (the subject, a single header line).
    pub fn render(&self, values: &HashMap<&str, String>, escape_html: bool) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Variable(name) => {
                    let value = values.get(name.as_str()).map(String::as_str).unwrap_or("");
                    if escape_html {
                        push_escaped(&mut out, value);
                    } else {
                        out.extend(value.chars().filter(|c| !c.is_control()));
                    }
                }
            }
        }
        if !escape_html {
            out.retain(|c| !c.is_control());
        }
        out
    }
}

fn is_path(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

fn push_escaped(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => {
                let _ = write!(out, "{c}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOWED: &[&str] = &["USER.username", "USER.email", "URL", "CODE"];

    fn values() -> HashMap<&'static str, String> {
        HashMap::from([
            ("USER.username", "<script>alert('x')</script>".to_string()),
            ("URL", "https://app.example.com/confirm".to_string()),
            ("CODE", "abc&123".to_string()),
        ])
    }

    #[test]
    fn variables_are_filled_and_html_escaped_in_messages() {
        let template = Template::parse(
            "<p>Hi <%= USER.username %></p><a href=\"<%=URL%>?c=<%- CODE %>\">",
            ALLOWED,
        )
        .unwrap();
        assert_eq!(
            template.render(&values(), true),
            "<p>Hi &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</p><a href=\"https://app.example.com/confirm?c=abc&amp;123\">"
        );
    }

    #[test]
    fn subjects_keep_text_but_lose_line_breaks() {
        let template = Template::parse("Welcome <%= USER.username %>\r\n", ALLOWED).unwrap();
        let mut values = values();
        values.insert("USER.username", "eve\r\nBcc: all@example.com".into());
        assert_eq!(
            template.render(&values, false),
            "Welcome eveBcc: all@example.com"
        );
    }

    #[test]
    fn code_unknown_variables_and_unclosed_tags_are_refused() {
        assert_eq!(
            Template::parse("a\n<% if (x) { %>", ALLOWED).unwrap_err(),
            TemplateError::Unsupported {
                line: 2,
                found: "<% if (x) { %>".into()
            }
        );
        let error = Template::parse("<%= USER.password %>", ALLOWED).unwrap_err();
        assert!(
            matches!(error, TemplateError::Unknown { ref name, .. } if name == "USER.password"),
            "{error}"
        );
        assert!(error.to_string().contains("`USER.username`"));
        assert_eq!(
            Template::parse("x <%= URL", ALLOWED).unwrap_err(),
            TemplateError::Unclosed { line: 1 }
        );
        assert!(matches!(
            Template::parse("<%= URL + 1 %>", ALLOWED).unwrap_err(),
            TemplateError::BadName { .. }
        ));
        assert!(matches!(
            Template::parse("<%=  %>", ALLOWED).unwrap_err(),
            TemplateError::BadName { .. }
        ));
    }

    #[test]
    fn text_without_tags_is_kept_verbatim() {
        let template = Template::parse("plain % text > with < signs", ALLOWED).unwrap();
        assert_eq!(
            template.render(&HashMap::new(), true),
            "plain % text > with < signs"
        );
    }
}
