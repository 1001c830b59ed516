//! User administration under grants with conditions and field rules, and the conditions
//! themselves.

use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{Backend, TestServer, error_code, error_message, user_id};

const ADMIN_ACTIONS: &[&str] = &[
    "plugin::users-permissions.user.find",
    "plugin::users-permissions.user.findOne",
    "plugin::users-permissions.user.create",
    "plugin::users-permissions.user.update",
    "plugin::users-permissions.user.destroy",
    "plugin::users-permissions.role.find",
    "plugin::users-permissions.role.updateRole",
    "plugin::users-permissions.condition.find",
    "plugin::users-permissions.condition.create",
    "plugin::users-permissions.condition.delete",
];

const USERS: &str = "query($filters: UsersPermissionsUserFiltersInput, $pagination: PaginationArg, $sort: [String!]) {
    usersPermissionsUsers_connection(filters: $filters, pagination: $pagination, sort: $sort) {
        nodes { id documentId username email confirmed blocked role { type } attributes }
        pageInfo { total page pageSize pageCount } } }";
const CREATE: &str = "mutation($data: UsersPermissionsUserInput!) { createUsersPermissionsUser(data: $data) { data { id username email role { type } } } }";
const UPDATE: &str = "mutation($id: ID!, $data: UsersPermissionsUserInput!) { updateUsersPermissionsUser(id: $id, data: $data) { data { id username } } }";
const DELETE: &str =
    "mutation($id: ID!) { deleteUsersPermissionsUser(id: $id) { data { username } } }";
const ROLE_UPDATE: &str = "mutation($id: ID!, $data: UsersPermissionsRoleInput!) { updateUsersPermissionsRole(id: $id, data: $data) { ok } }";

async fn list(server: &TestServer, jwt: &str, variables: Value) -> Value {
    let body = server.gql_as(jwt, USERS, variables).await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["usersPermissionsUsers_connection"].clone()
}

fn usernames(page: &Value) -> Vec<String> {
    page["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect()
}

/// Replaces the grants of the role `role_type` through the admin API.
async fn set_grants(server: &TestServer, admin: &str, role_type: &str, grants: Value) {
    let role = server.conn_role(role_type).await;
    let body = server
        .gql_as(
            admin,
            ROLE_UPDATE,
            json!({ "id": role.id.to_string(), "data": { "grants": grants } }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
}

/// A signed-in user of a fresh role `role_type` (grants set later); their JWT and id.
async fn member(
    server: &TestServer,
    role_type: &str,
    username: &str,
    attributes: Value,
) -> (String, i32) {
    let body = server
        .gql(
            "mutation($input: UsersPermissionsRegisterInput!) { register(input: $input) { jwt user { id } } }",
            json!({ "input": { "username": username, "email": format!("{username}@example.com"), "password": "password1", "attributes": attributes } }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let id = user_id(&body["data"]["register"]["user"]);
    let role = server.conn_role(role_type).await;
    server.set_role(id, role.id).await;
    (
        body["data"]["register"]["jwt"]
            .as_str()
            .unwrap()
            .to_string(),
        id,
    )
}

async fn start(backend: Backend) -> (TestServer, String) {
    let server = TestServer::start_with(backend, |config| {
        config.register_allowed_fields = vec!["team".into(), "lead".into()]
    })
    .await;
    let admin = server.user_with_grants("user-admin", ADMIN_ACTIONS).await;
    (server, admin)
}

both_backends! {
    async fn is_self_lists_only_the_users_own_account(backend: Backend) {
        let (server, admin) = start(backend).await;
        server.create_role("self-reader").await;
        set_grants(&server, &admin, "self-reader", json!([{ "action": "plugin::users-permissions.user.find", "conditions": ["is-self"] }])).await;
        let (jwt, _) = member(&server, "self-reader", "selfish", json!({})).await;
        member(&server, "self-reader", "other", json!({})).await;
        let page = list(&server, &jwt, json!({})).await;
        assert_eq!(usernames(&page), vec!["selfish"]);
        assert_eq!(page["pageInfo"]["total"], 1);
    }

    async fn a_team_condition_lists_only_teammates_with_correct_totals(backend: Backend) {
        let (server, admin) = start(backend).await;
        let body = server
            .gql_as(&admin, "mutation($d: UsersPermissionsConditionInput!) { createUsersPermissionsCondition(data: $d) { name query } }",
                json!({ "d": { "name": "same-team", "displayName": "Same team", "category": "teams",
                    "query": { "attributes.team": "$user.attributes.team" } } }))
            .await;
        assert_eq!(body["data"]["createUsersPermissionsCondition"]["name"], "same-team", "{body}");
        server.create_role("team-member").await;
        set_grants(&server, &admin, "team-member", json!([{ "action": "plugin::users-permissions.user.find", "conditions": ["same-team"] }])).await;
        let (red_jwt, _) = member(&server, "team-member", "red1", json!({ "team": "red" })).await;
        member(&server, "team-member", "red2", json!({ "team": "red" })).await;
        member(&server, "authenticated", "red3", json!({ "team": "red" })).await;
        member(&server, "team-member", "blue1", json!({ "team": "blue" })).await;
        member(&server, "team-member", "nobody", json!({})).await;

        let page = list(&server, &red_jwt, json!({ "sort": ["username:asc"] })).await;
        assert_eq!(usernames(&page), vec!["red1", "red2", "red3"]);
        assert_eq!(page["pageInfo"]["total"], 3);
        let page = list(&server, &red_jwt, json!({ "sort": ["username:desc"], "pagination": { "page": 2, "pageSize": 2 } })).await;
        assert_eq!(usernames(&page), vec!["red1"]);
        assert_eq!(page["pageInfo"], json!({ "total": 3, "page": 2, "pageSize": 2, "pageCount": 2 }));
        let page = list(&server, &red_jwt, json!({ "filters": { "username": { "endsWith": "2" } } })).await;
        assert_eq!(usernames(&page), vec!["red2"], "the caller's filters narrow the conditions, never widen them");

        // The condition reads the attributes as they are now (on PostgreSQL, from the parsed copy
        // that follows every write of them).
        let red2 = page["nodes"][0]["id"].as_str().unwrap().to_string();
        let body = server.gql_as(&admin, UPDATE, json!({ "id": red2, "data": { "attributes": { "team": "blue", "since": [2026] } } })).await;
        assert!(body.get("errors").is_none(), "{body}");
        let page = list(&server, &red_jwt, json!({ "sort": ["username:asc"] })).await;
        assert_eq!(usernames(&page), vec!["red1", "red3"]);

        // Attributes PostgreSQL could not parse are refused on both backends (as is NUL in any
        // text of a request), and nothing is stored that would break the lists of others.
        let refused = "Text may not contain the NUL character (\\u0000)";
        let body = server.gql_as(&admin, UPDATE, json!({ "id": red2, "data": { "attributes": { "team": "red\u{0}" } } })).await;
        assert!(error_message(&body).starts_with(refused), "{body}");
        assert_eq!(error_code(&body), "BAD_USER_INPUT");
        let body = server
            .gql(
                "mutation($input: UsersPermissionsRegisterInput!) { register(input: $input) { jwt } }",
                json!({ "input": { "username": "nul", "email": "nul@example.com", "password": "password1", "attributes": { "team": "\u{0}" } } }),
            )
            .await;
        assert!(error_message(&body).starts_with(refused), "{body}");
        let page = list(&server, &red_jwt, json!({ "sort": ["username:asc"] })).await;
        assert_eq!(usernames(&page), vec!["red1", "red3"]);
    }

    async fn outside_the_conditions_reads_updates_and_deletes_are_forbidden(backend: Backend) {
        let (server, admin) = start(backend).await;
        server.create_role("self-editor").await;
        set_grants(&server, &admin, "self-editor", json!([
            { "action": "plugin::users-permissions.user.findOne", "conditions": ["is-self"] },
            { "action": "plugin::users-permissions.user.update", "conditions": ["is-self"] },
            { "action": "plugin::users-permissions.user.destroy", "conditions": ["is-self"] } ])).await;
        let (jwt, me) = member(&server, "self-editor", "editor", json!({})).await;
        let (_, other) = member(&server, "authenticated", "victim", json!({})).await;

        let body = server.gql_as(&jwt, "query($d: ID!) { usersPermissionsUser(documentId: $d) { username } }", json!({ "d": other.to_string() })).await;
        assert_eq!(error_code(&body), "FORBIDDEN");
        let details = &body["errors"][0]["extensions"]["error"]["details"];
        assert_eq!(details["action"], "plugin::users-permissions.user.findOne");
        assert_eq!(details["conditions"], json!(["is-self"]), "the refusal names the conditions");
        let body = server.gql_as(&jwt, UPDATE, json!({ "id": other.to_string(), "data": { "username": "pwned" } })).await;
        assert_eq!(error_code(&body), "FORBIDDEN");
        let body = server.gql_as(&jwt, DELETE, json!({ "id": other.to_string() })).await;
        assert_eq!(error_code(&body), "FORBIDDEN");
        let page = list(&server, &admin, json!({ "filters": { "username": { "eq": "victim" } } })).await;
        assert_eq!(usernames(&page), vec!["victim"], "the victim is untouched");

        let body = server.gql_as(&jwt, UPDATE, json!({ "id": me.to_string(), "data": { "username": "editor2" } })).await;
        assert_eq!(body["data"]["updateUsersPermissionsUser"]["data"]["username"], "editor2", "{body}");
        let body = server.gql_as(&jwt, "query($d: ID!) { usersPermissionsUser(documentId: $d) { username } }", json!({ "d": me.to_string() })).await;
        assert_eq!(body["data"]["usersPermissionsUser"]["username"], "editor2");
    }

    async fn an_update_may_not_move_a_user_out_of_the_conditions(backend: Backend) {
        let (server, admin) = start(backend).await;
        server
            .gql_as(&admin, "mutation($d: UsersPermissionsConditionInput!) { createUsersPermissionsCondition(data: $d) { name } }",
                json!({ "d": { "name": "same-team", "displayName": "Same team", "query": { "attributes.team": "$user.attributes.team" } } }))
            .await;
        server.create_role("team-lead").await;
        set_grants(&server, &admin, "team-lead", json!([{ "action": "plugin::users-permissions.user.update", "conditions": ["same-team"] }])).await;
        let (lead, _) = member(&server, "team-lead", "lead", json!({ "team": "red" })).await;
        let (_, mate) = member(&server, "authenticated", "mate", json!({ "team": "red" })).await;
        let body = server.gql_as(&lead, UPDATE, json!({ "id": mate.to_string(), "data": { "attributes": { "team": "blue" } } })).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
        let body = server.gql_as(&lead, UPDATE, json!({ "id": mate.to_string(), "data": { "username": "mate2" } })).await;
        assert_eq!(body["data"]["updateUsersPermissionsUser"]["data"]["username"], "mate2", "{body}");
    }

    async fn a_fields_grant_hides_the_other_fields(backend: Backend) {
        let (server, admin) = start(backend).await;
        server.create_role("directory").await;
        set_grants(&server, &admin, "directory", json!([{ "action": "plugin::users-permissions.user.find", "fields": ["username"] }])).await;
        let (jwt, _) = member(&server, "directory", "lookup", json!({})).await;
        let body = server.gql_as(&jwt, "{ usersPermissionsUsers(sort: [\"username\"]) { id username email } }", json!({})).await;
        let first = &body["data"]["usersPermissionsUsers"][0];
        assert!(first["username"].is_string(), "{body}");
        assert_eq!(first["email"], Value::Null, "{body}");
        let error = body["errors"].as_array().unwrap().iter().find(|e| e["path"] == json!(["usersPermissionsUsers", 0, "email"])).unwrap();
        assert_eq!(error["extensions"]["code"], "FORBIDDEN");
        assert_eq!(error["extensions"]["error"]["details"]["field"], "email");
        // Nor can the hidden field be probed through a filter or a sort.
        let body = server.gql_as(&jwt, "{ usersPermissionsUsers(filters: { email: { startsWith: \"a\" } }) { id } }", json!({})).await;
        assert_eq!(error_code(&body), "FORBIDDEN");
        let body = server.gql_as(&jwt, "{ usersPermissionsUsers(sort: [\"email\"]) { id } }", json!({})).await;
        assert_eq!(error_code(&body), "FORBIDDEN");
    }

    async fn a_self_editor_limited_to_some_fields_cannot_raise_their_privileges(backend: Backend) {
        let (server, admin) = start(backend).await;
        server.create_role("profile-editor").await;
        set_grants(&server, &admin, "profile-editor", json!([{ "action": "plugin::users-permissions.user.update",
            "conditions": ["is-self"], "fields": ["username", "email"] }])).await;
        let (jwt, me) = member(&server, "profile-editor", "climber", json!({})).await;
        let admin_role = server.conn_role("user-admin").await;
        for data in [json!({ "role": admin_role.id.to_string() }), json!({ "blocked": false }), json!({ "confirmed": true }), json!({ "password": "new-password" })] {
            let body = server.gql_as(&jwt, UPDATE, json!({ "id": me.to_string(), "data": data })).await;
            assert_eq!(error_code(&body), "FORBIDDEN", "{data}: {body}");
            assert_eq!(body["errors"][0]["extensions"]["error"]["details"]["reason"], "the grant does not reach this field");
        }
        let body = server.gql_as(&jwt, "{ me { role { type } } }", json!({})).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "profile-editor has no user.me: {body}");
        let page = list(&server, &admin, json!({ "filters": { "username": { "eq": "climber" } } })).await;
        assert_eq!(page["nodes"][0]["role"]["type"], "profile-editor");
        let body = server.gql_as(&jwt, UPDATE, json!({ "id": me.to_string(), "data": { "username": "climber2" } })).await;
        assert_eq!(body["data"]["updateUsersPermissionsUser"]["data"]["username"], "climber2", "{body}");
    }

    async fn a_condition_on_the_role_lists_only_users_of_that_role(backend: Backend) {
        // The grant's conditions read the role's columns: the list must join the roles for
        // them, where lists whose filters read only users' columns do not.
        let (server, admin) = start(backend).await;
        server
            .gql_as(&admin, "mutation($d: UsersPermissionsConditionInput!) { createUsersPermissionsCondition(data: $d) { name } }",
                json!({ "d": { "name": "same-role", "displayName": "Same role", "query": { "role.type": "$user.role.type" } } }))
            .await;
        server.create_role("crew").await;
        set_grants(&server, &admin, "crew", json!([{ "action": "plugin::users-permissions.user.find", "conditions": ["same-role"] }])).await;
        let (jwt, _) = member(&server, "crew", "crew1", json!({})).await;
        member(&server, "crew", "crew2", json!({})).await;
        member(&server, "authenticated", "outsider", json!({})).await;
        let page = list(&server, &jwt, json!({ "sort": ["username:asc"] })).await;
        assert_eq!(usernames(&page), vec!["crew1", "crew2"]);
        assert_eq!(page["pageInfo"]["total"], 2);
        let page = list(&server, &jwt, json!({ "filters": { "username": { "eq": "crew2" } } })).await;
        assert_eq!(usernames(&page), vec!["crew2"]);
    }

    async fn a_condition_on_create_limits_the_roles_a_creator_can_give(backend: Backend) {
        let (server, admin) = start(backend).await;
        server.create_role("member").await;
        server
            .gql_as(&admin, "mutation($d: UsersPermissionsConditionInput!) { createUsersPermissionsCondition(data: $d) { name } }",
                json!({ "d": { "name": "members-only", "displayName": "Members only", "query": { "role.type": "member" } } }))
            .await;
        server.create_role("recruiter").await;
        set_grants(&server, &admin, "recruiter", json!([{ "action": "plugin::users-permissions.user.create", "conditions": ["members-only"] }])).await;
        let (jwt, _) = member(&server, "recruiter", "recruiter", json!({})).await;
        let member_role = server.conn_role("member").await;
        let admin_role = server.conn_role("user-admin").await;
        let body = server.gql_as(&jwt, CREATE, json!({ "data": { "username": "boss", "email": "boss@example.com", "password": "password1", "role": admin_role.id.to_string() } })).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
        let body = server.gql_as(&jwt, CREATE, json!({ "data": { "username": "boss", "email": "boss@example.com", "password": "password1" } })).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "no role given: refused under a condition");
        let body = server.gql_as(&jwt, CREATE, json!({ "data": { "username": "newbie", "email": "newbie@example.com", "password": "password1", "role": member_role.document_id } })).await;
        assert_eq!(body["data"]["createUsersPermissionsUser"]["data"]["role"]["type"], "member", "{body}");
    }

    async fn users_are_administered_with_strapis_messages(backend: Backend) {
        let (server, admin) = start(backend).await;
        let authenticated = server.conn_role("authenticated").await;
        let role = authenticated.id.to_string();
        let body = server.gql_as(&admin, CREATE, json!({ "data": { "username": "made", "email": "Made@Example.com", "password": "password1", "role": role } })).await;
        let made = &body["data"]["createUsersPermissionsUser"]["data"];
        assert_eq!(made["email"], "made@example.com", "{body}");
        let cases = [
            // As Strapi's create, whose user service's failures come back as ApplicationErrors.
            (json!({ "username": "made", "email": "other@example.com", "password": "password1", "role": role }), "This attribute must be unique", "STRAPI_APPLICATION_ERROR"),
            (json!({ "username": "other", "email": "made@example.com", "password": "password1", "role": role }), "Email already taken", "STRAPI_APPLICATION_ERROR"),
            (json!({ "username": "other", "email": "other@example.com", "password": "password1" }), "role is a required field", "BAD_USER_INPUT"),
            (json!({ "username": "other", "email": "other@example.com", "password": "12345", "role": role }), "password must be at least 6 characters", "STRAPI_APPLICATION_ERROR"),
        ];
        for (data, message, code) in cases {
            let body = server.gql_as(&admin, CREATE, json!({ "data": data })).await;
            assert_eq!(error_message(&body), message);
            assert_eq!(error_code(&body), code);
        }
        // A password set by an administrator works; secrets are write-only.
        let id = made["id"].as_str().unwrap().to_string();
        let body = server.gql_as(&admin, UPDATE, json!({ "id": id, "data": { "password": "changed-password", "confirmed": true, "resetPasswordToken": "a".repeat(64) } })).await;
        assert!(body.get("errors").is_none(), "{body}");
        assert!(server.login("made", "changed-password").await["data"]["login"]["jwt"].is_string());
        let body = server.gql_as(&admin, DELETE, json!({ "id": id })).await;
        assert_eq!(body["data"]["deleteUsersPermissionsUser"]["data"]["username"], "made");
        let body = server.gql_as(&admin, DELETE, json!({ "id": id })).await;
        assert_eq!(error_message(&body), "User not found");
        assert_eq!(error_code(&body), "STRAPI_NOT_FOUND_ERROR");
    }

    async fn user_filters_sorting_and_pagination_follow_strapi(backend: Backend) {
        let (server, admin) = start(backend).await;
        for (name, team) in [("anna", "red"), ("Bert", "blue"), ("carl", "red"), ("dora", "green")] {
            member(&server, "authenticated", name, json!({ "team": team })).await;
        }
        let names = |page: &Value| usernames(page).into_iter().filter(|n| n != "user-admin").collect::<Vec<_>>();
        let cases = [
            (json!({ "username": { "eq": "anna" } }), vec!["anna"]),
            (json!({ "username": { "eqi": "BERT" } }), vec!["Bert"]),
            (json!({ "username": { "containsi": "ER" } }), vec!["Bert"]),
            (json!({ "username": { "contains": "ER" } }), vec![]),
            (json!({ "username": { "contains": "r" } }), vec!["Bert", "carl", "dora"]),
            (json!({ "username": { "in": ["anna", "dora"] } }), vec!["anna", "dora"]),
            (json!({ "username": { "notIn": ["anna", "dora", "user-admin"] } }), vec!["Bert", "carl"]),
            (json!({ "or": [{ "username": { "startsWith": "a" } }, { "email": { "endsWith": "dora@example.com" } }] }), vec!["anna", "dora"]),
            (json!({ "not": { "username": { "lt": "carl" } } }), vec!["carl", "dora"]),
            (json!({ "role": { "type": { "eq": "authenticated" } }, "blocked": { "eq": false } }), vec!["Bert", "anna", "carl", "dora"]),
            (json!({ "email": { "null": true } }), vec![]),
        ];
        for (filters, expected) in cases {
            let page = list(&server, &admin, json!({ "filters": filters, "sort": ["username:asc"] })).await;
            assert_eq!(names(&page), expected, "{filters}");
        }
        let page = list(&server, &admin, json!({ "sort": ["username:desc"], "pagination": { "start": 1, "limit": 2 } })).await;
        assert_eq!(usernames(&page), vec!["dora", "carl"]);
        assert_eq!(page["pageInfo"]["total"], 5);
        let body = server.gql_as(&admin, USERS, json!({ "pagination": { "page": 1, "start": 0 } })).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT");
        let body = server.gql_as(&admin, USERS, json!({ "sort": ["password:asc"] })).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT");
    }

    async fn malformed_conditions_are_refused_when_declared(backend: Backend) {
        let (server, admin) = start(backend).await;
        let create = "mutation($d: UsersPermissionsConditionInput!) { createUsersPermissionsCondition(data: $d) { name } }";
        for query in [json!({ "id": { "$regex": "x" } }), json!({ "id": { "$in": [{ "$gt": 1 }] } }), json!({ "$or": {} }), json!({ "id": { "$gt": 1, "x": 2 } })] {
            let body = server.gql_as(&admin, create, json!({ "d": { "name": "broken", "displayName": "Broken", "query": query } })).await;
            assert_eq!(error_code(&body), "BAD_USER_INPUT", "{query}: {body}");
            assert!(error_message(&body).starts_with("query: "), "{body}");
        }
        let body = server.gql_as(&admin, create, json!({ "d": { "name": "is-self", "displayName": "Again", "query": {} } })).await;
        assert_eq!(error_message(&body), "A condition named `is-self` already exists");

        let body = server.gql_as(&admin, "{ usersPermissionsConditions { name plugin query } }", json!({})).await;
        let conditions = body["data"]["usersPermissionsConditions"].as_array().unwrap();
        assert!(conditions.contains(&json!({ "name": "is-self", "plugin": "plugin::users-permissions", "query": { "id": "$user.id" } })), "{body}");

        let delete = "mutation($n: String!) { deleteUsersPermissionsCondition(name: $n) { ok } }";
        let body = server.gql_as(&admin, delete, json!({ "n": "is-self" })).await;
        assert_eq!(error_message(&body), "The condition `is-self` is built in and cannot be deleted here");
        server.gql_as(&admin, create, json!({ "d": { "name": "mine", "displayName": "Mine", "query": { "id": "$user.id" } } })).await;
        server.create_role("uses-mine").await;
        set_grants(&server, &admin, "uses-mine", json!([{ "action": "plugin::users-permissions.user.find", "conditions": ["mine"] }])).await;
        let body = server.gql_as(&admin, delete, json!({ "n": "mine" })).await;
        assert_eq!(error_message(&body), "The condition `mine` is still used by 1 grant; remove it from them first");
        set_grants(&server, &admin, "uses-mine", json!([])).await;
        let body = server.gql_as(&admin, delete, json!({ "n": "mine" })).await;
        assert_eq!(body["data"]["deleteUsersPermissionsCondition"]["ok"], true, "{body}");
        let body = server.gql_as(&admin, delete, json!({ "n": "mine" })).await;
        assert_eq!(error_message(&body), "Condition not found");
    }
}

both_backends! {
    async fn several_conditions_on_a_grant_are_alternatives(backend: Backend) {
        let (server, admin) = start(backend).await;
        server
            .gql_as(&admin, "mutation($d: UsersPermissionsConditionInput!) { createUsersPermissionsCondition(data: $d) { name } }",
                json!({ "d": { "name": "blue-team", "displayName": "Blue team", "query": { "attributes.team": { "$eq": "blue" } } } }))
            .await;
        server.create_role("mixed").await;
        set_grants(&server, &admin, "mixed", json!([{ "action": "plugin::users-permissions.user.find", "conditions": ["is-self", "blue-team"] }])).await;
        let (jwt, _) = member(&server, "mixed", "me-red", json!({ "team": "red" })).await;
        member(&server, "authenticated", "blue-a", json!({ "team": "blue" })).await;
        member(&server, "authenticated", "red-b", json!({ "team": "red" })).await;
        let page = list(&server, &jwt, json!({ "sort": ["username"] })).await;
        assert_eq!(usernames(&page), vec!["blue-a", "me-red"]);
        assert_eq!(page["pageInfo"]["total"], 2);
    }
}

/// Conditions written in Rust see the signed-in user and answer allow, deny or a query.
async fn conditions_from_code(backend: Backend) {
    use castellan::policy::{Condition, ConditionOutcome};
    let server = TestServer::start_built(backend, |_| {}, |config| {
        castellan::Castellan::builder(config)
            .condition(
                Condition::code(
                    "confirmed-only",
                    "Confirmed users, for confirmed users",
                    |user| match user {
                        Some(signed_in) if signed_in.user.confirmed => {
                            ConditionOutcome::Query(json!({ "confirmed": true }))
                        }
                        _ => ConditionOutcome::Deny,
                    },
                )
                .with_plugin("api::directory"),
            )
            .condition(Condition::code("always", "Everyone", |_| ConditionOutcome::Allow))
    })
    .await;
    let admin = server.user_with_grants("user-admin", ADMIN_ACTIONS).await;
    let body = server
        .gql_as(
            &admin,
            "{ usersPermissionsConditions { name plugin query } }",
            json!({}),
        )
        .await;
    let listed = body["data"]["usersPermissionsConditions"]
        .as_array()
        .unwrap();
    assert!(
        listed.contains(
            &json!({ "name": "confirmed-only", "plugin": "api::directory", "query": null })
        ),
        "{body}"
    );

    server.create_role("directory").await;
    set_grants(&server, &admin, "directory", json!([{ "action": "plugin::users-permissions.user.find", "conditions": ["confirmed-only"] }])).await;
    let (jwt, id) = member(&server, "directory", "reader", json!({})).await;
    let body = server
        .gql_as(
            &admin,
            UPDATE,
            json!({ "id": id.to_string(), "data": { "confirmed": false } }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let unconfirmed = list(&server, &jwt, json!({})).await;
    assert_eq!(
        unconfirmed["pageInfo"]["total"], 0,
        "an unconfirmed reader reaches nobody"
    );
    server
        .gql_as(
            &admin,
            UPDATE,
            json!({ "id": id.to_string(), "data": { "confirmed": true } }),
        )
        .await;
    let all_confirmed = list(&server, &jwt, json!({})).await;
    assert!(
        all_confirmed["pageInfo"]["total"].as_i64().unwrap() >= 2,
        "{all_confirmed}"
    );
    assert!(
        all_confirmed["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["confirmed"] == true)
    );

    set_grants(
        &server,
        &admin,
        "directory",
        json!([{ "action": "plugin::users-permissions.user.find", "conditions": ["always"] }]),
    )
    .await;
    let everyone = list(&server, &jwt, json!({})).await;
    assert_eq!(everyone["pageInfo"]["total"], 2);
}

both_backends! {
    async fn conditions_registered_from_code_apply(backend: Backend) {
        conditions_from_code(backend).await;
    }
}

const FIND_ONE: &str = "query($d: ID!) { usersPermissionsUser(documentId: $d) { username } }";
const CREATE_CONDITION: &str = "mutation($d: UsersPermissionsConditionInput!) { createUsersPermissionsCondition(data: $d) { name } }";

/// Creates a condition over GraphQL; the response.
async fn declare(server: &TestServer, admin: &str, name: &str, query: Value) -> Value {
    server
        .gql_as(
            admin,
            CREATE_CONDITION,
            json!({ "d": { "name": name, "displayName": name, "query": query } }),
        )
        .await
}

both_backends! {
    // Issue 17: README's `same-team` used to bind a missing team to null, and null matched every
    // user without a team: a user without one listed 37 of 40 users, emails included.
    async fn a_user_value_the_caller_lacks_reaches_no_one(backend: Backend) {
        let (server, admin) = start(backend).await;
        // README's condition, as written there, and the same with an explicit $eq.
        let body = declare(&server, &admin, "same-team", json!({ "attributes.team": "$user.attributes.team" })).await;
        assert!(body.get("errors").is_none(), "{body}");
        declare(&server, &admin, "same-team-eq", json!({ "attributes.team": { "$eq": "$user.attributes.team" } })).await;
        // The placeholder under $ne, in an $in list and in an $or branch.
        let body = declare(&server, &admin, "team-or-not-led", json!({ "$or": [
            { "attributes.team": { "$in": ["nobody", "$user.attributes.team"] } },
            { "attributes.lead": { "$ne": "$user.attributes.team" } } ] })).await;
        assert!(body.get("errors").is_none(), "{body}");
        let conditions = ["same-team", "same-team-eq", "team-or-not-led"];
        for condition in conditions {
            let role = format!("lead-{condition}");
            server.create_role(&role).await;
            set_grants(&server, &admin, &role, json!([
                { "action": "plugin::users-permissions.user.find", "conditions": [condition] },
                { "action": "plugin::users-permissions.user.findOne", "conditions": [condition] },
                { "action": "plugin::users-permissions.user.update", "conditions": [condition] },
                { "action": "plugin::users-permissions.user.destroy", "conditions": [condition] } ])).await;
        }
        // 40 users: the admin, 9 in red, 6 in blue, 24 without a team (some with `team: null`,
        // some leading something), none in the caller's role.
        let mut teamless = Vec::new();
        for i in 0..24 {
            let attributes = match i % 3 { 0 => json!({}), 1 => json!({ "team": null }), _ => json!({ "lead": "x" }) };
            teamless.push(member(&server, "authenticated", &format!("loose{i:02}"), attributes).await.1);
        }
        let mut red = Vec::new();
        for i in 0..9 {
            red.push(member(&server, "authenticated", &format!("red{i}"), json!({ "team": "red" })).await.1);
        }
        for i in 0..6 {
            member(&server, "authenticated", &format!("blue{i}"), json!({ "team": "blue" })).await;
        }
        let all = list(&server, &admin, json!({ "pagination": { "pageSize": 100 } })).await;
        assert_eq!(all["pageInfo"]["total"], 40);

        for condition in conditions {
            let role = format!("lead-{condition}");
            for (name, attributes) in [("notm", json!({})), ("nulltm", json!({ "team": null }))] {
                let (jwt, me) = member(&server, &role, &format!("{name}-{condition}"), attributes).await;
                let page = list(&server, &jwt, json!({ "pagination": { "pageSize": 100 } })).await;
                assert_eq!(page["nodes"], json!([]), "{condition}, {name}: {page}");
                assert_eq!(page["pageInfo"]["total"], 0, "{condition}, {name}");
                let page = list(&server, &jwt, json!({ "filters": { "username": { "startsWith": "loose" } } })).await;
                assert_eq!(page["pageInfo"]["total"], 0, "{condition}, {name}");
                for target in [teamless[0], teamless[1], teamless[2], red[0], me] {
                    let body = server.gql_as(&jwt, FIND_ONE, json!({ "d": target.to_string() })).await;
                    assert_eq!(error_code(&body), "FORBIDDEN", "{condition}, {name} reads {target}: {body}");
                    assert!(body["data"]["usersPermissionsUser"].is_null(), "{body}");
                }
                for target in [teamless[0], teamless[1], teamless[2]] {
                    let body = server.gql_as(&jwt, UPDATE, json!({ "id": target.to_string(), "data": { "username": "pwned" } })).await;
                    assert_eq!(error_code(&body), "FORBIDDEN", "{condition}, {name} updates {target}: {body}");
                    let body = server.gql_as(&jwt, DELETE, json!({ "id": target.to_string() })).await;
                    assert_eq!(error_code(&body), "FORBIDDEN", "{condition}, {name} deletes {target}: {body}");
                }
            }
        }
        let page = list(&server, &admin, json!({ "filters": { "username": { "eq": "pwned" } } })).await;
        assert_eq!(page["pageInfo"]["total"], 0, "nobody was renamed");
        let page = list(&server, &admin, json!({ "filters": { "username": { "startsWith": "loose" } } })).await;
        assert_eq!(page["pageInfo"]["total"], 24, "nobody was deleted");

        // A caller with a team still reaches exactly the team, and only through the conditions.
        let (jwt, me) = member(&server, "lead-same-team", "red-lead", json!({ "team": "red" })).await;
        let page = list(&server, &jwt, json!({ "sort": ["username:asc"], "pagination": { "pageSize": 100 } })).await;
        let mut expected: Vec<String> = (0..9).map(|i| format!("red{i}")).collect();
        expected.push("red-lead".into());
        expected.sort();
        assert_eq!(usernames(&page), expected);
        assert_eq!(page["pageInfo"]["total"], 10);
        let body = server.gql_as(&jwt, FIND_ONE, json!({ "d": red[1].to_string() })).await;
        assert_eq!(body["data"]["usersPermissionsUser"]["username"], "red1", "{body}");
        let body = server.gql_as(&jwt, FIND_ONE, json!({ "d": teamless[0].to_string() })).await;
        assert_eq!(error_code(&body), "FORBIDDEN");
        let body = server.gql_as(&jwt, UPDATE, json!({ "id": red[2].to_string(), "data": { "username": "red2b" } })).await;
        assert_eq!(body["data"]["updateUsersPermissionsUser"]["data"]["username"], "red2b", "{body}");
        let body = server.gql_as(&jwt, UPDATE, json!({ "id": teamless[1].to_string(), "data": { "username": "pwned" } })).await;
        assert_eq!(error_code(&body), "FORBIDDEN");
        let body = server.gql_as(&jwt, FIND_ONE, json!({ "d": me.to_string() })).await;
        assert_eq!(body["data"]["usersPermissionsUser"]["username"], "red-lead", "{body}");

        // The grant's other conditions still apply: without a team, is-self still holds.
        server.create_role("team-or-self").await;
        set_grants(&server, &admin, "team-or-self", json!([{ "action": "plugin::users-permissions.user.find", "conditions": ["same-team", "is-self"] }])).await;
        let (jwt, _) = member(&server, "team-or-self", "alone", json!({})).await;
        let page = list(&server, &jwt, json!({})).await;
        assert_eq!(usernames(&page), vec!["alone"]);
        assert_eq!(page["pageInfo"]["total"], 1);
    }

    // Issue 17: these were accepted, then every list answered INTERNAL_SERVER_ERROR.
    async fn conditions_that_would_fail_at_request_time_are_refused_when_declared(backend: Backend) {
        let (server, admin) = start(backend).await;
        let private = "query: the field `password` is private: password and token hashes are never read by conditions";
        let body = declare(&server, &admin, "has-password", json!({ "password": { "$exists": true } })).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(error_message(&body), private);
        for (query, path) in [
            (json!({ "resetPasswordToken": { "$ne": null } }), "resetPasswordToken"),
            (json!({ "$or": [{ "id": 1 }, { "confirmationToken": "x" }] }), "confirmationToken"),
            (json!({ "tokensValidAfter": { "$gt": 0 } }), "tokensValidAfter"),
            (json!({ "id": "$user.password" }), "password"),
        ] {
            let body = declare(&server, &admin, "private", query.clone()).await;
            assert_eq!(error_code(&body), "BAD_USER_INPUT", "{query}: {body}");
            assert!(error_message(&body).contains(&format!("`{path}` is private")), "{body}");
        }
        let many: Vec<usize> = (0..100_000).collect();
        let body = declare(&server, &admin, "many", json!({ "id": { "$in": many } })).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(error_message(&body), "query: query / id / $in: an array of 100000 values is longer than the 1000 allowed");
        let mut deep = json!({ "id": 1 });
        for _ in 0..40 {
            deep = json!({ "id": { "$elemMatch": deep } });
        }
        let body = declare(&server, &admin, "deep", deep).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        // Refused by the bound on every value of a request (32 levels, the query object sits two
        // levels down in `$d`) before the bound of query objects (32 levels) is reached.
        assert!(error_message(&body).contains("nest"), "{body}");
        let body = declare(&server, &admin, "long", json!({ "username": "x".repeat(5_000) })).await;
        assert!(error_message(&body).contains("the string of 5000 characters is longer than the 1000 allowed"), "{body}");
        let body = server.gql_as(&admin, "{ usersPermissionsConditions { name } }", json!({})).await;
        assert_eq!(body["data"]["usersPermissionsConditions"], json!([{ "name": "is-self" }]), "nothing was stored");

        // Conditions at the bounds run in SQL on both databases.
        let mut red = Vec::new();
        for i in 0..3 {
            red.push(member(&server, "authenticated", &format!("red{i}"), json!({ "team": "red" })).await.1);
        }
        member(&server, "authenticated", "blue", json!({ "team": "blue" })).await;
        let mut ids: Vec<Value> = (100_000..100_997).map(|i| json!(i)).collect();
        ids.extend(red.iter().map(|id| json!(id)));
        let mut teams: Vec<Value> = (0..999).map(|i| json!(format!("team-{i}"))).collect();
        teams.push(json!("red"));
        let branches: Vec<Value> = (0..999).map(|i| json!({ "attributes.team": format!("team-{i}") })).chain([json!({ "attributes.team": "red" })]).collect();
        let mut nested = json!({ "attributes.team": { "$in": ["red"] } });
        for _ in 0..13 {
            nested = json!({ "$and": [nested, { "$or": [{ "id": { "$gt": 0 } }] }] });
        }
        // Within the bounds on values (2,400 fields), too much SQL: each field is a walk of the JSON.
        let fields = |n: usize| {
            let mut fields: serde_json::Map<String, Value> = (1..n).map(|i| (format!("attributes.k{i}"), json!({ "$ne": "x" }))).collect();
            fields.insert("attributes.team".into(), json!("red"));
            Value::Object(fields)
        };
        let body = declare(&server, &admin, "many-walks", fields(2_400)).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(error_message(&body), "query: query: in SQL it could bind 28800 values, more than the 20000 allowed; write fewer or shorter paths, or shorter lists (a `$user.` list counts as 1000 values)");
        // As deep as the GraphQL variable holding it may be (32 levels, the variable's two
        // included): $elemMatch in $elemMatch, 13 times.
        let mut deep_elem = json!({ "$exists": false });
        for _ in 0..13 {
            deep_elem = json!({ "$elemMatch": { "x": deep_elem } });
        }
        let deep_elem = json!({ "attributes.team": "red", "$or": [{ "attributes.deep": deep_elem }, { "attributes.deep": { "$exists": false } }] });
        for (name, query) in [
            ("deep-elem", deep_elem),
            // Two $user. lists, bound to 1,000 values each below.
            ("user-lists", json!({ "attributes.team": { "$in": "$user.attributes.teams" }, "attributes.lead": { "$nin": "$user.attributes.teams" } })),
            ("many-fields", fields(500)),
            ("many-ids", json!({ "id": { "$in": ids } })),
            ("many-teams", json!({ "attributes.team": { "$in": teams } })),
            ("many-branches", json!({ "$or": branches })),
            ("deep-and", nested),
        ] {
            let body = declare(&server, &admin, name, query).await;
            assert!(body.get("errors").is_none(), "{name}: {body}");
            let role = format!("reads-{name}");
            server.create_role(&role).await;
            set_grants(&server, &admin, &role, json!([{ "action": "plugin::users-permissions.user.find", "conditions": [name] }])).await;
            let (jwt, reader) = member(&server, &role, &format!("reader-{name}"), json!({})).await;
            if name == "user-lists" {
                let teams: Vec<String> = (0..999).map(|i| format!("team-{i}")).chain(["red".to_string()]).collect();
                let body = server.gql_as(&admin, UPDATE, json!({ "id": reader.to_string(), "data": { "attributes": { "teams": teams } } })).await;
                assert!(body.get("errors").is_none(), "{body}");
            }
            let page = list(&server, &jwt, json!({ "sort": ["username:asc"] })).await;
            assert_eq!(usernames(&page), vec!["red0", "red1", "red2"], "{name}");
            assert_eq!(page["pageInfo"]["total"], 3, "{name}");
        }
    }
}

both_backends! {
    // A condition is declared for any entity, so a path only fails once it meets the users'
    // SQL: the grant that would make it meet it is refused instead of every list failing.
    async fn a_condition_on_fields_users_lack_is_refused_when_granted_on_users(backend: Backend) {
        let (server, admin) = start(backend).await;
        server.create_role("misfit").await;
        let (jwt, _) = member(&server, "misfit", "misfit-user", json!({ "team": "red" })).await;
        for (name, query, path) in [
            ("nickname", json!({ "nickname": "$user.username" }), "nickname"),
            ("role-itself", json!({ "role": { "$exists": true } }), "role"),
            ("inside-id", json!({ "$or": [{ "id": 1 }, { "id.x": 1 }] }), "id.x"),
        ] {
            let body = declare(&server, &admin, name, query).await;
            assert!(body.get("errors").is_none(), "{body}");
            let role = server.conn_role("misfit").await;
            let body = server.gql_as(&admin, ROLE_UPDATE, json!({ "id": role.id.to_string(), "data": { "grants": [
                { "action": "plugin::users-permissions.user.find", "conditions": ["is-self", name] } ] } })).await;
            assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
            assert_eq!(error_message(&body), format!("The condition `{name}` cannot narrow `plugin::users-permissions.user.find`: the field `{path}` cannot be filtered on (unknown to this query)"));
        }
        set_grants(&server, &admin, "misfit", json!([{ "action": "plugin::users-permissions.user.find", "conditions": ["is-self"] }])).await;
        let page = list(&server, &jwt, json!({})).await;
        assert_eq!(usernames(&page), vec!["misfit-user"]);
    }
}

/// `castellan.toml`'s `[[conditions]]` go through the same checks: a condition that could only
/// fail at request time stops start-up with a message naming it.
#[test]
fn conditions_declared_in_castellan_toml_are_checked_at_start_up() {
    use castellan::config::Sources;
    let dir = tempfile::tempdir().unwrap();
    let load = |conditions: &str| {
        let path = dir.path().join("castellan.toml");
        std::fs::write(&path, conditions).unwrap();
        castellan::load_config(Sources {
            config_file: Some(path),
            ..Sources::default()
        })
    };
    let error = load("[[conditions]]\nname = \"has-password\"\ndisplayName = \"x\"\nquery = { password = { \"$exists\" = true } }\n").unwrap_err();
    assert_eq!(
        format!("{error:#}"),
        "conditions: the query of `has-password`: the field `password` is private: password and token hashes are never read by conditions"
    );
    let many = (0..100_000)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let error = load(&format!("[[conditions]]\nname = \"many\"\ndisplayName = \"x\"\nquery = {{ id = {{ \"$in\" = [{many}] }} }}\n")).unwrap_err();
    assert_eq!(
        format!("{error:#}"),
        "conditions: the query of `many`: query / id / $in: an array of 100000 values is longer than the 1000 allowed"
    );
    let config = load("[[conditions]]\nname = \"same-team\"\ndisplayName = \"Same team\"\nquery = { \"attributes.team\" = \"$user.attributes.team\" }\n").unwrap();
    assert_eq!(config.conditions.len(), 1);
}

/// Creates the query condition `name` and makes it the only grant of `role_type` on
/// `user.find`.
async fn grant_find_under(server: &TestServer, admin: &str, role_type: &str, name: &str, query: Value) {
    let body = server
        .gql_as(admin, "mutation($d: UsersPermissionsConditionInput!) { createUsersPermissionsCondition(data: $d) { name } }",
            json!({ "d": { "name": name, "displayName": name, "query": query } }))
        .await;
    assert_eq!(body["data"]["createUsersPermissionsCondition"]["name"], name, "{body}");
    set_grants(server, admin, role_type, json!([{ "action": "plugin::users-permissions.user.find", "conditions": [name] }])).await;
}

// Issue 24: paths through arrays of objects reach the users sift 17.1.4 (MongoDB's semantics)
// reaches, in the list and in its total. sift 17.1.3, which Castellan followed before,
// over-matched every one of these (or under-matched, for `$ne` and `$nin` on an empty array).
both_backends! {
    async fn conditions_through_arrays_of_objects_reach_what_sift_17_1_4_reaches(backend: Backend) {
        let (server, admin) = start(backend).await;
        server.create_role("pet-reader").await;
        let (jwt, _) = member(&server, "pet-reader", "reader", json!({})).await;
        let pets = [
            ("pets-two", json!({ "pets": [{ "age": 3 }, { "age": 4 }] })),
            ("pets-empty", json!({ "pets": [] })),
            ("pets-mixed", json!({ "pets": [{ "name": "x" }, 5, null, { "age": 4 }] })),
            ("pets-null", json!({ "pets": [{ "age": null }] })),
            ("pets-three", json!({ "pets": [{ "age": 3 }] })),
            ("pets-none", json!({ "team": "x" })),
        ];
        for (name, attributes) in &pets {
            let (_, id) = member(&server, "authenticated", name, json!({})).await;
            let body = server.gql_as(&admin, UPDATE, json!({ "id": id.to_string(), "data": { "attributes": attributes } })).await;
            assert!(body.get("errors").is_none(), "{body}");
        }
        // The two users without pets at all: the admin and the reader.
        let cases = [
            ("age-missing", json!({ "attributes.pets.age": { "$exists": false } }),
                vec!["pets-empty", "pets-none", "reader", "user-admin"]),
            ("age-in-null", json!({ "attributes.pets.age": { "$in": [null] } }),
                vec!["pets-mixed", "pets-none", "pets-null", "reader", "user-admin"]),
            ("age-not-3", json!({ "attributes.pets.age": { "$nin": [3] } }),
                vec!["pets-empty", "pets-mixed", "pets-none", "pets-null", "reader", "user-admin"]),
            ("age-not-null", json!({ "attributes.pets.age": { "$ne": null } }),
                vec!["pets-empty", "pets-three", "pets-two"]),
            ("age-present", json!({ "attributes.pets.age": { "$exists": true } }),
                vec!["pets-mixed", "pets-null", "pets-three", "pets-two"]),
            // Shapes answered by a scan: whole-object equality, a numeric segment, $or inside
            // $elemMatch.
            ("pet-is-3", json!({ "attributes.pets": { "age": 3 } }),
                vec!["pets-three", "pets-two"]),
            ("first-pet-3", json!({ "attributes.pets.0.age": 3 }),
                vec!["pets-three", "pets-two"]),
            ("pet-4-or-named", json!({ "attributes.pets": { "$elemMatch": { "$or": [{ "age": 4 }, { "name": "x" }] } } }),
                vec!["pets-mixed", "pets-two"]),
        ];
        for (name, query, expected) in cases {
            grant_find_under(&server, &admin, "pet-reader", name, query.clone()).await;
            let page = list(&server, &jwt, json!({ "sort": ["username:asc"] })).await;
            assert_eq!(usernames(&page), expected, "{query}");
            assert_eq!(page["pageInfo"]["total"], expected.len(), "{query}");
            // A later page of the same list, and a filter of the caller's on top.
            let page = list(&server, &jwt, json!({ "sort": ["username:asc"], "pagination": { "page": 2, "pageSize": 2 } })).await;
            assert_eq!(usernames(&page), expected.iter().skip(2).take(2).copied().collect::<Vec<_>>(), "{query}");
            assert_eq!(page["pageInfo"]["total"], expected.len(), "{query}");
            let page = list(&server, &jwt, json!({ "filters": { "username": { "startsWith": "pets-t" } }, "sort": ["username:desc"] })).await;
            let narrowed: Vec<&str> = expected.iter().rev().copied().filter(|u| u.starts_with("pets-t")).collect();
            assert_eq!(usernames(&page), narrowed, "{query}");
            assert_eq!(page["pageInfo"]["total"], narrowed.len(), "{query}");
        }
    }
}
