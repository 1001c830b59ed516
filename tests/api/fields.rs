//! The field registry (`castellan::db::fields`) walked field by field: each surface of the API
//! accepts exactly the fields the registry gives it — sorting, Strapi's filters, the paths of
//! conditions and field-level grants — so a field added to one surface and not to the registry
//! (or the other way round) fails here.

use std::collections::BTreeSet;

use castellan::db::fields::{Entity, Field, ROLES, Related, Storage, USERS};
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::TestServer;

const ADMIN_ACTIONS: &[&str] = &[
    "plugin::users-permissions.user.find",
    "plugin::users-permissions.role.find",
    "plugin::users-permissions.role.updateRole",
    "plugin::users-permissions.condition.create",
    "plugin::users-permissions.permission.find",
];
const USER_FIND: &str = "plugin::users-permissions.user.find";

fn errors(body: &Value) -> bool {
    body.get("errors").is_some()
}

/// The input fields of the GraphQL input type `name`, without its logical combinators.
async fn input_fields(server: &TestServer, admin: &str, name: &str) -> BTreeSet<String> {
    let body = server
        .gql_as(
            admin,
            "query($n: String!) { __type(name: $n) { inputFields { name } } }",
            json!({ "n": name }),
        )
        .await;
    body["data"]["__type"]["inputFields"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: {body}"))
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .filter(|n| !["and", "or", "not"].contains(&n.as_str()))
        .collect()
}

fn names(entity: &Entity, keep: impl Fn(&Field) -> bool) -> BTreeSet<String> {
    entity.names(keep).into_iter().map(str::to_string).collect()
}

both_backends! {
    async fn sorting_accepts_exactly_the_sortable_fields(backend: Backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_with_grants("field-admin", ADMIN_ACTIONS).await;
        for (entity, query) in [
            (&USERS, "query($s: [String!]) { usersPermissionsUsers(sort: $s) { documentId } }"),
            (&ROLES, "query($s: [String!]) { usersPermissionsRoles(sort: $s) { documentId } }"),
        ] {
            for field in entity.fields {
                for direction in ["asc", "desc"] {
                    let sort = format!("{}:{direction}", field.name);
                    let body = server.gql_as(&admin, query, json!({ "s": [sort] })).await;
                    assert_eq!(
                        !errors(&body),
                        field.sortable,
                        "sorting {} by {sort}: {body}",
                        entity.name
                    );
                }
            }
            let body = server.gql_as(&admin, query, json!({ "s": ["nosuchfield:asc"] })).await;
            assert!(errors(&body), "{body}");
        }
    }

    async fn filters_accept_exactly_the_filterable_fields(backend: Backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_with_grants("field-admin", ADMIN_ACTIONS).await;
        server.register("second", "second@example.com", "password-2").await;
        assert_eq!(
            input_fields(&server, &admin, "UsersPermissionsUserFiltersInput").await,
            names(&USERS, |f| f.filterable)
        );
        assert_eq!(
            input_fields(&server, &admin, "UsersPermissionsRoleFiltersInput").await,
            names(&ROLES, |f| f.filterable)
        );
        // Each filterable field filters, in SQL, on its own column: every user has a value.
        let all = "query($f: UsersPermissionsUserFiltersInput) {
            usersPermissionsUsers_connection(filters: $f) { pageInfo { total } } }";
        let total = |body: &Value| body["data"]["usersPermissionsUsers_connection"]["pageInfo"]["total"].clone();
        let everyone = server.gql_as(&admin, all, json!({})).await;
        assert_eq!(total(&everyone), 2, "{everyone}");
        for field in USERS.fields.iter().filter(|f| f.filterable) {
            for (present, expected) in [(false, 2), (true, 0)] {
                let test = json!({ "null": present });
                let filter = match field.storage {
                    Storage::Role => json!({ "role": { "id": test } }),
                    _ => json!({ field.name: test }),
                };
                let body = server.gql_as(&admin, all, json!({ "f": filter })).await;
                assert_eq!(total(&body), expected, "{filter}: {body}");
            }
        }
        for field in ROLES.fields.iter().filter(|f| f.filterable) {
            // A relation is tested through a field of its rows.
            let test = match field.storage {
                Storage::Related(Related::RoleUsers) => json!({ "id": { "null": true } }),
                Storage::Related(_) => json!({ "action": { "null": true } }),
                _ => json!({ "null": true }),
            };
            let filter = json!({ "role": { field.name: test } });
            let body = server.gql_as(&admin, all, json!({ "f": filter })).await;
            assert!(!errors(&body), "{filter}: {body}");
            // Every role has each of these; a description may be missing.
            if field.name != "description" {
                assert_eq!(total(&body), 0, "{filter}: {body}");
            }
        }
    }

    async fn conditions_and_grants_accept_exactly_their_fields(backend: Backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_with_grants("field-admin", ADMIN_ACTIONS).await;
        let role = server.create_role("limited").await;
        let create = "mutation($d: UsersPermissionsConditionInput!) {
            createUsersPermissionsCondition(data: $d) { name } }";
        let update = "mutation($id: ID!, $data: UsersPermissionsRoleInput!) {
            updateUsersPermissionsRole(id: $id, data: $data) { ok } }";
        let id = role.id.to_string();
        // Paths: a user's own fields, and the fields of their role.
        let mut paths: Vec<(String, bool, bool)> = USERS
            .fields
            .iter()
            .map(|f| {
                let reachable = f.in_conditions && f.storage != Storage::Role;
                (f.name.to_string(), f.readable, reachable)
            })
            .collect();
        paths.extend(ROLES.fields.iter().map(|f| (format!("role.{}", f.name), true, f.in_conditions)));
        paths.push(("attributes.team".into(), true, true));
        paths.push(("nosuchfield".into(), true, false));
        for (i, (path, declarable, usable)) in paths.iter().enumerate() {
            let name = format!("path-{i}");
            let body = server
                .gql_as(&admin, create, json!({ "d": { "name": name, "displayName": path,
                    "query": { path.as_str(): { "$exists": true } } } }))
                .await;
            assert_eq!(!errors(&body), *declarable, "declaring a condition on {path}: {body}");
            if !declarable {
                continue;
            }
            let grants = json!([{ "action": USER_FIND, "conditions": [name] }]);
            let body = server.gql_as(&admin, update, json!({ "id": id, "data": { "grants": grants } })).await;
            assert_eq!(!errors(&body), *usable, "a grant of user.find under a condition on {path}: {body}");
        }
        // Field-level grants of the user actions: the fields an answer shows or a write sets.
        let mut fields: Vec<(&str, bool)> =
            USERS.fields.iter().map(|f| (f.name, f.readable || f.writable)).collect();
        fields.push(("nosuchfield", false));
        for (field, accepted) in fields {
            let grants = json!([{ "action": USER_FIND, "fields": [field] }]);
            let body = server.gql_as(&admin, update, json!({ "id": id, "data": { "grants": grants } })).await;
            assert_eq!(!errors(&body), accepted, "a grant of user.find limited to {field}: {body}");
        }
        // A library's action keeps any well-formed field name: the registry does not know its
        // resources.
        let grants = json!([{ "action": "plugin::users-permissions.role.find", "fields": ["anything"] }]);
        let body = server.gql_as(&admin, update, json!({ "id": id, "data": { "grants": grants } })).await;
        assert!(!errors(&body), "{body}");
    }
}
