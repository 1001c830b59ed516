//! Roles, grants and the action catalogue.

use castellan::db::models::{NewRole, now};
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{TestServer, error_code, error_message, user_id};

const ROLE_ACTIONS: &[&str] = &[
    "plugin::users-permissions.role.find",
    "plugin::users-permissions.role.findOne",
    "plugin::users-permissions.role.createRole",
    "plugin::users-permissions.role.updateRole",
    "plugin::users-permissions.role.deleteRole",
    "plugin::users-permissions.permission.find",
];

const CREATE: &str = "mutation($data: UsersPermissionsRoleInput!) { createUsersPermissionsRole(data: $data) { ok } }";
const UPDATE: &str = "mutation($id: ID!, $data: UsersPermissionsRoleInput!) { updateUsersPermissionsRole(id: $id, data: $data) { ok } }";
const DELETE: &str = "mutation($id: ID!) { deleteUsersPermissionsRole(id: $id) { ok } }";
const ROLES: &str = "query($filters: UsersPermissionsRoleFiltersInput, $pagination: PaginationArg, $sort: [String!]) {
    usersPermissionsRoles_connection(filters: $filters, pagination: $pagination, sort: $sort) {
        nodes { id documentId name description type nbUsers grants { action conditions fields } }
        pageInfo { total page pageSize pageCount } } }";

async fn roles(server: &TestServer, jwt: &str, variables: Value) -> Value {
    let body = server.gql_as(jwt, ROLES, variables).await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["usersPermissionsRoles_connection"].clone()
}

async fn role_named(server: &TestServer, jwt: &str, name: &str) -> Value {
    let found = roles(
        server,
        jwt,
        json!({ "filters": { "name": { "eq": name } } }),
    )
    .await;
    found["nodes"][0].clone()
}

both_backends! {
    async fn roles_are_created_listed_updated_and_deleted(backend: Backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_with_grants("role-admin", ROLE_ACTIONS).await;

        let body = server
            .gql_as(&admin, CREATE, json!({ "data": { "name": "Editors", "description": "Write articles",
                "grants": [{ "action": "plugin::users-permissions.user.me" }] } }))
            .await;
        assert_eq!(body["data"]["createUsersPermissionsRole"]["ok"], true, "{body}");
        let editors = role_named(&server, &admin, "Editors").await;
        assert_eq!(editors["type"], "editors", "the type is derived from the name");
        assert_eq!(editors["nbUsers"], 0);
        assert_eq!(editors["grants"], json!([{ "action": "plugin::users-permissions.user.me", "conditions": [], "fields": null }]));

        // By documentId, and by numeric id.
        let body = server
            .gql_as(&admin, "query($d: ID!) { usersPermissionsRole(documentId: $d) { name } }", json!({ "d": editors["documentId"] }))
            .await;
        assert_eq!(body["data"]["usersPermissionsRole"]["name"], "Editors");
        let body = server.gql_as(&admin, UPDATE, json!({ "id": editors["id"], "data": { "description": "Edit" } })).await;
        assert_eq!(body["data"]["updateUsersPermissionsRole"]["ok"], true, "{body}");
        let body = server.gql_as(&admin, UPDATE, json!({ "id": editors["documentId"], "data": { "name": "Editors 2" } })).await;
        assert_eq!(body["data"]["updateUsersPermissionsRole"]["ok"], true, "{body}");
        let editors = role_named(&server, &admin, "Editors 2").await;
        assert_eq!(editors["description"], "Edit");

        let body = server.gql_as(&admin, CREATE, json!({ "data": { "name": "Editors 2", "type": "other" } })).await;
        assert_eq!(error_message(&body), "A role with this name or type already exists");
        assert_eq!(error_code(&body), "STRAPI_APPLICATION_ERROR");

        let body = server.gql_as(&admin, DELETE, json!({ "id": editors["documentId"] })).await;
        assert_eq!(body["data"]["deleteUsersPermissionsRole"]["ok"], true, "{body}");
        let body = server.gql_as(&admin, DELETE, json!({ "id": editors["documentId"] })).await;
        assert_eq!(error_message(&body), "Role not found");
        assert_eq!(error_code(&body), "STRAPI_NOT_FOUND_ERROR");
        assert_eq!(body["errors"][0]["extensions"]["error"]["name"], "NotFoundError");
    }

    async fn default_roles_and_roles_with_users_cannot_be_deleted(backend: Backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_with_grants("role-admin", ROLE_ACTIONS).await;
        for (name, message) in [("Public", "Cannot delete public role"), ("Authenticated", "Cannot delete authenticated role")] {
            let role = role_named(&server, &admin, name).await;
            let body = server.gql_as(&admin, DELETE, json!({ "id": role["id"] })).await;
            assert_eq!(error_message(&body), message);
            assert_eq!(error_code(&body), "STRAPI_APPLICATION_ERROR");
        }
        let role = role_named(&server, &admin, "role-admin").await;
        assert_eq!(role["nbUsers"], 1);
        let body = server.gql_as(&admin, DELETE, json!({ "id": role["id"] })).await;
        assert_eq!(error_message(&body), "Cannot delete role role-admin: 1 user still has it; give them another role first");
    }

    async fn the_user_list_shows_each_role_as_it_is_now(backend: Backend) {
        let server = TestServer::start(backend).await;
        let mut actions = ROLE_ACTIONS.to_vec();
        actions.extend(["plugin::users-permissions.user.find", "plugin::users-permissions.user.update"]);
        let admin = server.user_with_grants("role-admin", &actions).await;
        let (_, member) = server.register("member", "member@example.com", "password1").await;
        let body = server.gql_as(&admin, CREATE, json!({ "data": { "name": "Editors", "description": "Write" } })).await;
        assert!(body.get("errors").is_none(), "{body}");
        let editors = role_named(&server, &admin, "Editors").await;
        let body = server
            .gql_as(&admin, "mutation($id: ID!, $role: ID!) { updateUsersPermissionsUser(id: $id, data: { role: $role }) { data { id } } }",
                json!({ "id": member["id"], "role": editors["id"] }))
            .await;
        assert!(body.get("errors").is_none(), "{body}");

        const FIELDS: &str = "id documentId name description type createdAt updatedAt";
        let listed = async || {
            let query = format!("{{ usersPermissionsUsers(filters: {{ username: {{ eq: \"member\" }} }}) {{ role {{ {FIELDS} }} }} }}");
            let body = server.gql_as(&admin, &query, json!({})).await;
            assert!(body.get("errors").is_none(), "{body}");
            body["data"]["usersPermissionsUsers"][0]["role"].clone()
        };
        let stored = async || {
            let query = format!("query($d: ID!) {{ usersPermissionsRole(documentId: $d) {{ {FIELDS} }} }}");
            server.gql_as(&admin, &query, json!({ "d": editors["documentId"] })).await["data"]["usersPermissionsRole"].clone()
        };
        assert_eq!(listed().await["name"], "Editors");
        assert_eq!(listed().await, stored().await);
        // Renamed: the next list shows the role as the database now holds it.
        let body = server.gql_as(&admin, UPDATE, json!({ "id": editors["id"], "data": { "name": "Writers", "description": "Write more" } })).await;
        assert!(body.get("errors").is_none(), "{body}");
        let renamed = listed().await;
        assert_eq!((&renamed["name"], &renamed["description"]), (&json!("Writers"), &json!("Write more")));
        assert_eq!(renamed, stored().await);
        // A filter on the role's columns still applies.
        let body = server.gql_as(&admin, "{ usersPermissionsUsers(filters: { role: { name: { eq: \"Writers\" } } }) { username role { type } } }", json!({})).await;
        assert_eq!(body["data"]["usersPermissionsUsers"], json!([{ "username": "member", "role": { "type": "editors" } }]), "{body}");

        // A role this instance has not heard of (one made through another instance whose news
        // has not arrived) is read from the database.
        let unheard = NewRole { document_id: &castellan::util::new_document_id(), name: "Unheard", description: "",
            role_type: "unheard", created_at: now(), updated_at: now() }
            .insert(&mut server.conn().await)
            .await
            .unwrap();
        server.set_role(user_id(&member), unheard.id).await;
        assert_eq!(listed().await["name"], "Unheard");
    }

    async fn grants_are_checked_and_replaced_whole(backend: Backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_with_grants("role-admin", ROLE_ACTIONS).await;
        let body = server.gql_as(&admin, CREATE, json!({ "data": { "name": "Readers", "grants": [
            { "action": "plugin::users-permissions.user.me" },
            { "action": "plugin::users-permissions.role.find", "conditions": ["is-self"], "fields": ["name"] } ] } })).await;
        assert!(body.get("errors").is_none(), "{body}");
        let readers = role_named(&server, &admin, "Readers").await;
        assert_eq!(readers["grants"].as_array().unwrap().len(), 2);
        // Sorted by action.
        assert_eq!(readers["grants"][0]["action"], "plugin::users-permissions.role.find");
        assert_eq!(readers["grants"][0]["conditions"], json!(["is-self"]));
        assert_eq!(readers["grants"][0]["fields"], json!(["name"]));

        for (grants, message) in [
            (json!([{ "action": "plugin::users-permissions.user.fly" }]), "Unknown action `plugin::users-permissions.user.fly`: usersPermissionsActions lists the actions that can be granted"),
            (json!([{ "action": "plugin::users-permissions.user.me", "conditions": ["no-such-condition"] }]), "Unknown condition `no-such-condition`: usersPermissionsConditions lists the registered conditions"),
            (json!([{ "action": "plugin::users-permissions.user.me" }, { "action": "plugin::users-permissions.user.me" }]), "The action `plugin::users-permissions.user.me` is granted twice"),
        ] {
            let body = server.gql_as(&admin, UPDATE, json!({ "id": readers["id"], "data": { "grants": grants } })).await;
            assert_eq!(error_message(&body), message);
            assert_eq!(error_code(&body), "BAD_USER_INPUT");
        }
        assert_eq!(role_named(&server, &admin, "Readers").await["grants"], readers["grants"], "a refused change changes nothing");

        let body = server.gql_as(&admin, UPDATE, json!({ "id": readers["id"], "data": { "grants": [] } })).await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(role_named(&server, &admin, "Readers").await["grants"], json!([]));
    }

    async fn a_grant_change_is_enforced_on_the_next_request(backend: Backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_with_grants("role-admin", ROLE_ACTIONS).await;
        let (jwt, _) = server.register("member", "member@example.com", "password1").await;
        assert_eq!(server.gql_as(&jwt, "{ me { username } }", json!({})).await["data"]["me"]["username"], "member");
        let authenticated = role_named(&server, &admin, "Authenticated").await;
        let body = server
            .gql_as(&admin, UPDATE, json!({ "id": authenticated["id"], "data": { "grants": [{ "action": "plugin::users-permissions.auth.callback" }] } }))
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        let body = server.gql_as(&jwt, "{ me { username } }", json!({})).await;
        assert_eq!(error_code(&body), "FORBIDDEN");
        assert_eq!(body["errors"][0]["extensions"]["error"]["details"]["action"], "plugin::users-permissions.user.me");
    }

    async fn without_update_role_no_grant_can_change(backend: Backend) {
        let server = TestServer::start(backend).await;
        let reader = server.user_with_grants("role-reader", &["plugin::users-permissions.role.find", "plugin::users-permissions.role.createRole"]).await;
        let public = role_named(&server, &reader, "Public").await;
        let body = server
            .gql_as(&reader, UPDATE, json!({ "id": public["id"], "data": { "grants": [{ "action": "plugin::users-permissions.role.updateRole" }] } }))
            .await;
        assert_eq!(error_code(&body), "FORBIDDEN");
        assert_eq!(body["errors"][0]["extensions"]["error"]["details"]["action"], "plugin::users-permissions.role.updateRole");
        assert_eq!(role_named(&server, &reader, "Public").await["grants"], public["grants"]);
    }

    async fn roles_filter_sort_and_paginate(backend: Backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_with_grants("role-admin", ROLE_ACTIONS).await;
        for name in ["Alpha", "Beta", "Gamma", "Delta"] {
            server.gql_as(&admin, CREATE, json!({ "data": { "name": name } })).await;
        }
        let page = roles(&server, &admin, json!({ "filters": { "name": { "in": ["Alpha", "Beta", "Gamma", "Delta"] } },
            "sort": ["name:desc"], "pagination": { "page": 2, "pageSize": 3 } })).await;
        assert_eq!(page["nodes"].as_array().unwrap().iter().map(|r| r["name"].clone()).collect::<Vec<_>>(), vec![json!("Alpha")]);
        assert_eq!(page["pageInfo"], json!({ "total": 4, "page": 2, "pageSize": 3, "pageCount": 2 }));
        let page = roles(&server, &admin, json!({ "filters": { "or": [{ "name": { "startsWith": "Ga" } }, { "type": { "eq": "delta" } }] }, "sort": ["name"] })).await;
        assert_eq!(page["nodes"].as_array().unwrap().iter().map(|r| r["name"].clone()).collect::<Vec<_>>(), vec![json!("Delta"), json!("Gamma")]);
        let body = server.gql_as(&admin, ROLES, json!({ "sort": ["secret:asc"] })).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT");
    }

    async fn the_catalogue_lists_every_action_with_what_is_bound_to_it(backend: Backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_with_grants("role-admin", ROLE_ACTIONS).await;
        let body = server.gql_as(&admin, "{ usersPermissionsActions { action namespace controller name boundTo } }", json!({})).await;
        let actions = body["data"]["usersPermissionsActions"].as_array().unwrap();
        let me = actions.iter().find(|a| a["action"] == "plugin::users-permissions.user.me").unwrap();
        assert_eq!(me, &json!({ "action": "plugin::users-permissions.user.me", "namespace": "plugin::users-permissions",
            "controller": "user", "name": "me", "boundTo": ["Query.me", "GET /api/users/me"] }));
        let confirm = actions.iter().find(|a| a["action"] == "plugin::users-permissions.auth.emailConfirmation").unwrap();
        assert_eq!(confirm["boundTo"], json!(["Mutation.emailConfirmation", "GET /api/auth/email-confirmation"]));
        assert!(actions.len() >= 18, "{}", actions.len());
        // Without the grant, the catalogue is refused like anything else.
        let (jwt, user) = server.register("nobody", "nobody@example.com", "password1").await;
        let _ = user_id(&user);
        let body = server.gql_as(&jwt, "{ usersPermissionsActions { action } }", json!({})).await;
        assert_eq!(error_code(&body), "FORBIDDEN");
    }
}
