//! Castellan's schema against the Users & Permissions part of Strapi 5's (the SDL a Strapi
//! 5.54 with users-permissions and graphql serves, `tests/reference/`): every type, field,
//! argument and enum value Strapi's clients may use, with the nullability of every input. Each
//! difference is either gone or listed below as deliberate (and explained in README).

use std::collections::{BTreeMap, BTreeSet};

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};

const STRAPI_SDL: &str = include_str!("../reference/strapi-5.54-schema.graphql");

/// The differences that are deliberate. Strapi's side first: what Castellan lacks or types
/// otherwise; then what Castellan adds.
const DELIBERATE: &[&str] = &[
    // Extra profile fields (`register.allowedFields`), which Strapi adds as columns of its own.
    "extra field UsersPermissionsMe.attributes",
    "extra field UsersPermissionsRegisterInput.attributes",
    "extra field UsersPermissionsUser.attributes",
    "extra field UsersPermissionsUserInput.attributes",
    // Grants with conditions and field limits, which Strapi's permissions cannot express, and
    // the user count of Strapi's admin panel.
    "extra field UsersPermissionsRole.grants",
    "extra field UsersPermissionsRoleInput.grants",
    "extra field UsersPermissionsRole.nbUsers",
    // Numeric ids beside documentIds (Strapi 4's clients, and the REST routes, use them).
    "extra field UsersPermissionsRole.id",
    "extra field UsersPermissionsRoleFiltersInput.id",
    "extra field UsersPermissionsUser.id",
    "extra field UsersPermissionsUserFiltersInput.id",
    // Refresh mode (`jwt.management = "refresh"`), which Strapi 5 has over REST only: the
    // refresh token of a sign-in, and the device it names.
    "extra field UsersPermissionsLoginPayload.refreshToken",
    "extra field UsersPermissionsLoginInput.deviceId",
];

#[derive(Debug, Default)]
struct Shape {
    kind: &'static str,
    /// Field (or input field, or enum value) → its type, and its arguments with their types.
    fields: BTreeMap<String, (Option<Type>, BTreeMap<String, Type>)>,
}

fn shapes(sdl: &str) -> BTreeMap<String, Shape> {
    let document = parse_schema(sdl).expect("the SDL parses");
    let mut out = BTreeMap::new();
    for definition in document.definitions {
        let TypeSystemDefinition::Type(definition) = definition else {
            continue;
        };
        let definition = definition.node;
        let mut shape = Shape::default();
        match definition.kind {
            TypeKind::Scalar => shape.kind = "scalar",
            TypeKind::Object(object) => {
                shape.kind = "type";
                for field in object.fields {
                    let field = field.node;
                    let args = field
                        .arguments
                        .into_iter()
                        .map(|a| (a.node.name.node.to_string(), a.node.ty.node))
                        .collect();
                    shape
                        .fields
                        .insert(field.name.node.to_string(), (Some(field.ty.node), args));
                }
            }
            TypeKind::InputObject(input) => {
                shape.kind = "input";
                for field in input.fields {
                    let field = field.node;
                    shape.fields.insert(
                        field.name.node.to_string(),
                        (Some(field.ty.node), BTreeMap::new()),
                    );
                }
            }
            TypeKind::Enum(values) => {
                shape.kind = "enum";
                for value in values.values {
                    shape
                        .fields
                        .insert(value.node.value.node.to_string(), (None, BTreeMap::new()));
                }
            }
            TypeKind::Union(_) => shape.kind = "union",
            TypeKind::Interface(_) => shape.kind = "interface",
        }
        out.insert(definition.name.node.to_string(), shape);
    }
    out
}

fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => named(inner),
    }
}

/// The type without its `!`s: outputs are compared so, as a non-null output Castellan gives
/// where Strapi's may be null is one a client reads just the same.
fn loose(ty: &Type) -> String {
    match &ty.base {
        BaseType::Named(name) => name.to_string(),
        BaseType::List(inner) => format!("[{}]", loose(inner)),
    }
}

/// The Users & Permissions part of Strapi's schema: the root fields that take or give its
/// types (and `me`), and every type they reach.
fn users_permissions_part(strapi: &BTreeMap<String, Shape>) -> BTreeSet<String> {
    let mut wanted = BTreeSet::new();
    let mut queue: Vec<String> = Vec::new();
    for root in ["Query", "Mutation"] {
        for (name, (ty, args)) in &strapi[root].fields {
            let types: Vec<&str> = ty.iter().chain(args.values()).map(named).collect();
            if name == "me" || types.iter().any(|t| t.starts_with("UsersPermissions")) {
                queue.extend(types.iter().map(|t| t.to_string()));
            }
        }
    }
    while let Some(name) = queue.pop() {
        if name == "GenericMorph" || !wanted.insert(name.clone()) {
            continue;
        }
        if let Some(shape) = strapi.get(&name) {
            for (ty, args) in shape.fields.values() {
                queue.extend(ty.iter().chain(args.values()).map(|t| named(t).to_string()));
            }
        }
    }
    wanted
}

fn differences() -> Vec<String> {
    let strapi = shapes(STRAPI_SDL);
    let castellan = shapes(&castellan::graphql::sdl());
    let part = users_permissions_part(&strapi);
    for reached in [
        "UsersPermissionsPermission",
        "UsersPermissionsPermissionFiltersInput",
        "UsersPermissionsUserRelationResponseCollection",
        "PublicationFilter",
        "PaginationArg",
        "DateTimeFilterInput",
    ] {
        assert!(part.contains(reached), "the comparison reaches {reached}");
    }
    let mut out = Vec::new();
    for root in ["Query", "Mutation"] {
        for (name, (ty, args)) in &strapi[root].fields {
            let mentions = ty
                .iter()
                .chain(args.values())
                .any(|t| part.contains(named(t)));
            if !(name == "me"
                || mentions && named(ty.as_ref().unwrap()).starts_with("UsersPermissions"))
            {
                continue;
            }
            compare_field(
                &mut out,
                root,
                "type",
                name,
                (ty, args),
                castellan[root].fields.get(name),
            );
        }
    }
    for name in &part {
        if [
            "Query", "Mutation", "String", "Int", "Boolean", "ID", "Float",
        ]
        .contains(&name.as_str())
        {
            continue;
        }
        let theirs = &strapi[name];
        let Some(ours) = castellan.get(name) else {
            out.push(format!("missing {} {name}", theirs.kind));
            continue;
        };
        if theirs.kind != ours.kind {
            out.push(format!(
                "{name} is a {} in Strapi, a {} here",
                theirs.kind, ours.kind
            ));
            continue;
        }
        for (field, theirs_field) in &theirs.fields {
            compare_field(
                &mut out,
                name,
                theirs.kind,
                field,
                (&theirs_field.0, &theirs_field.1),
                ours.fields.get(field),
            );
        }
        for field in ours.fields.keys() {
            if !theirs.fields.contains_key(field) {
                out.push(format!("extra field {name}.{field}"));
            }
        }
    }
    out
}

fn compare_field(
    out: &mut Vec<String>,
    parent: &str,
    kind: &str,
    field: &str,
    (ty, args): (&Option<Type>, &BTreeMap<String, Type>),
    ours: Option<&(Option<Type>, BTreeMap<String, Type>)>,
) {
    let Some((our_ty, our_args)) = ours else {
        out.push(format!("missing field {parent}.{field}"));
        return;
    };
    if let (Some(ty), Some(our_ty)) = (ty, our_ty) {
        // Inputs exactly (a `!` Castellan adds refuses what Strapi accepts); outputs loosely.
        let differ = if kind == "input" {
            ty.to_string() != our_ty.to_string()
        } else {
            loose(ty) != loose(our_ty)
        };
        if differ {
            out.push(format!("{parent}.{field}: {ty} in Strapi, {our_ty} here"));
        }
    }
    for (arg, arg_ty) in args {
        match our_args.get(arg) {
            None => out.push(format!("missing argument {parent}.{field}({arg})")),
            Some(ours) if ours.to_string() != arg_ty.to_string() => out.push(format!(
                "{parent}.{field}({arg}): {arg_ty} in Strapi, {ours} here"
            )),
            Some(_) => {}
        }
    }
    for arg in our_args.keys() {
        if !args.contains_key(arg) {
            out.push(format!("extra argument {parent}.{field}({arg})"));
        }
    }
}

/// Every difference is deliberate, and every deliberate one is still a difference.
#[test]
fn the_users_permissions_schema_is_strapis_but_for_the_deliberate_differences() {
    let found = differences();
    let unexplained: Vec<&String> = found
        .iter()
        .filter(|d| !DELIBERATE.contains(&d.as_str()))
        .collect();
    let stale: Vec<&&str> = DELIBERATE
        .iter()
        .filter(|d| !found.iter().any(|f| f == *d))
        .collect();
    assert!(
        unexplained.is_empty() && stale.is_empty(),
        "differences from Strapi's schema not listed as deliberate:\n{}\n\nlisted but gone:\n{}",
        unexplained
            .iter()
            .map(|d| format!("    \"{d}\","))
            .collect::<Vec<_>>()
            .join("\n"),
        stale
            .iter()
            .map(|d| format!("    \"{d}\","))
            .collect::<Vec<_>>()
            .join("\n"),
    );
}
