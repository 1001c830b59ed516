//! The layers of the crate, enforced: a module may use only the modules below it.
//!
//! ```text
//! http, graphql, cli        the transports and the command line (cli → commands)
//! service                   rules of the application (with app, the state they share)
//! policy                    every permission decision
//! auth                      principals, JWTs, passwords, providers
//! db, mail, ratelimit, …    storage and side effects
//! filter                    query objects
//! config, error, util       leaves: nothing of the crate
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What each top-level module may use, besides the leaves `config`, `error` and `util`, which
/// every module may use (and which use nothing).
const ALLOWED: &[(&str, &[&str])] = &[
    ("config", &[]),
    ("error", &[]),
    ("util", &[]),
    ("metrics", &[]),
    ("filter", &[]),
    ("mail", &[]),
    ("ratelimit", &[]),
    ("db", &["filter"]),
    ("auth", &["db", "filter", "mail"]),
    ("policy", &["auth", "db", "filter"]),
    ("changes", &["app", "auth", "db", "policy"]),
    (
        "app",
        &["auth", "changes", "db", "filter", "mail", "metrics", "policy", "ratelimit", "service"],
    ),
    (
        "service",
        &["app", "auth", "changes", "db", "filter", "mail", "metrics", "policy", "ratelimit"],
    ),
    (
        "graphql",
        &["app", "auth", "db", "filter", "policy", "service", "metrics", "ratelimit"],
    ),
    (
        "http",
        &["app", "auth", "db", "filter", "graphql", "policy", "service", "metrics", "ratelimit"],
    ),
    (
        "commands",
        &["app", "auth", "db", "filter", "mail", "policy", "service"],
    ),
    ("cli", &["commands"]),
];

const LEAVES: &[&str] = &["config", "error", "util"];

/// Upward uses that are still there, each a debt with its reason; the list may only shrink.
const KNOWN_DEBTS: &[(&str, &str, &str)] = &[];

/// The crate modules `path`'s code (comments and test modules left out) names.
fn uses(text: &str) -> BTreeSet<String> {
    let code: String = text
        .split("#[cfg(test)]")
        .next()
        .unwrap_or_default()
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a::b, c};`: every first segment in the group.
            let inner = &group[..group.find("};").or_else(|| group.find('}')).unwrap_or(0)];
            for item in split_top_level(inner) {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// `a::b, c::{d, e}, f` → `["a::b", "c::{d, e}", "f"]`.
fn split_top_level(group: &str) -> Vec<&str> {
    let (mut items, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&group[start..]);
    items
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Module → the crate modules it uses, from the source tree.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
    let mut files = Vec::new();
    sources(root, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(root).expect("under src");
        let first = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .expect("a name");
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable");
        let used = uses(&text);
        graph
            .entry(module.clone())
            .or_default()
            .extend(used.into_iter().filter(|u| *u != module));
    }
    graph
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let graph = graph();
    let mut upward = Vec::new();
    for (module, used) in &graph {
        let Some(may) = allowed.get(module.as_str()) else {
            upward.push(format!("{module}: a new top-level module; give it a layer in ALLOWED"));
            continue;
        };
        for target in used {
            let is_leaf_use = LEAVES.contains(&target.as_str()) && !LEAVES.contains(&module.as_str());
            let ok = is_leaf_use
                || may.contains(&target.as_str())
                || (module == "config" && target == "util");
            let debt = KNOWN_DEBTS
                .iter()
                .any(|(from, to, _)| from == module && to == target);
            if !ok && !debt && graph.contains_key(target) {
                upward.push(format!("{module} uses {target}"));
            }
        }
    }
    assert!(upward.is_empty(), "uses against the layers: {upward:#?}");
    // A debt paid is struck off the list, so the list only shrinks.
    let stale: Vec<_> = KNOWN_DEBTS
        .iter()
        .filter(|(from, to, _)| !graph.get(*from).is_some_and(|used| used.contains(*to)))
        .collect();
    assert!(stale.is_empty(), "debts already paid, strike them off KNOWN_DEBTS: {stale:?}");
}

#[test]
fn the_layer_reader_sees_grouped_and_inline_uses() {
    let text = "use crate::{auth::jwt, db::{self, Conn}, error::AppError};\n\
                fn f() { crate::policy::check(); } // crate::mail\n\
                #[cfg(test)] mod tests { use crate::http; }";
    let found: Vec<_> = uses(text).into_iter().collect();
    assert_eq!(found, ["auth", "db", "error", "policy"]);
}

/// The code of every `.rs` file under `src/<dir>`, test modules and comments left out.
fn code_under(dir: &str) -> Vec<(String, String)> {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")).join(dir);
    let mut files = Vec::new();
    sources(&root, &mut files);
    files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file).expect("readable");
            let code = text
                .split("#[cfg(test)]")
                .next()
                .unwrap_or_default()
                .lines()
                .filter(|line| !line.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            (file.display().to_string(), code)
        })
        .collect()
}

/// An action is written once where a field or route declares it: in a GraphQL field's
/// directive, or in the REST route list. Resolvers ask `graphql::access(ctx)`, which reads the
/// field's action from the catalogue, and routes get theirs from the guard; no transport names
/// an action string or asks the policy about one itself.
#[test]
fn no_resolver_or_route_names_its_action_twice() {
    let mut repeated = Vec::new();
    for dir in ["graphql", "http"] {
        for (file, code) in code_under(dir) {
            for (n, line) in code.lines().enumerate() {
                let names_action = line.contains("actions::")
                    && line
                        .split("actions::")
                        .skip(1)
                        .any(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()));
                let declares = line.contains("directive")
                    || (file.ends_with("http/protected.rs") && line.contains("route(\"/"));
                let literal = line.contains("\"plugin::") || line.contains("\"api::");
                // The two guards: `graphql::access` and the route guard.
                let guard = file.ends_with("graphql/auth.rs") || file.ends_with("http/protected.rs");
                let asks_policy = line.contains("policy.access(") && !guard;
                if (names_action && !declares) || literal || asks_policy {
                    repeated.push(format!("{file}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(repeated.is_empty(), "actions named outside their declaration: {repeated:#?}");
}

/// Nothing outside `policy` compares role types or decides what a token may do.
#[test]
fn permission_decisions_live_in_policy() {
    let mut found = Vec::new();
    for dir in ["app.rs", "auth", "db", "graphql", "http", "service", "commands.rs"] {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")).join(dir);
        let files = if path.is_dir() {
            code_under(dir)
        } else {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default().to_string();
            vec![(path.display().to_string(), code)]
        };
        for (file, code) in files {
            for (n, line) in code.lines().enumerate() {
                let compares_role = ["== \"public\"", "!= \"public\"", "== \"authenticated\"", "!= \"authenticated\""]
                    .iter()
                    .any(|p| line.contains(p));
                let decides_token = line.contains("TokenType::ReadOnly =>")
                    || line.contains("PROTECTED_ROLES.contains");
                if compares_role || decides_token {
                    found.push(format!("{file}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(found.is_empty(), "decisions outside policy: {found:#?}");
}
