//! Declared user attributes (`[[user.attributes]]`): validation of every write over GraphQL
//! and REST, the setting for undeclared keys, private attributes, and the indexes that
//! conditions and sorts on an indexed attribute use, created at start-up.

use diesel_async::SimpleAsyncConnection as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use castellan::config::{AttributeDeclaration, AttributeType, Config};
use castellan::db::models::User;
use castellan::filter::Filter;

use crate::both_backends;
use crate::support::{Backend, TestDb, TestServer, error_code, error_message, user_id};

const ADMIN_ACTIONS: &[&str] = &[
    "plugin::users-permissions.user.find",
    "plugin::users-permissions.user.findOne",
    "plugin::users-permissions.user.create",
    "plugin::users-permissions.user.update",
    "plugin::users-permissions.role.updateRole",
    "plugin::users-permissions.condition.create",
];

const CREATE: &str = "mutation($data: UsersPermissionsUserInput!) { createUsersPermissionsUser(data: $data) { data { id attributes } } }";
const UPDATE: &str = "mutation($id: ID!, $data: UsersPermissionsUserInput!) { updateUsersPermissionsUser(id: $id, data: $data) { data { id attributes } } }";
const REGISTER: &str = "mutation($input: UsersPermissionsRegisterInput!) { register(input: $input) { jwt user { id attributes } } }";
const USERS: &str = "query($sort: [String!], $pagination: PaginationArg) { usersPermissionsUsers_connection(sort: $sort, pagination: $pagination) {
    nodes { username attributes } pageInfo { total } } }";

fn attribute(name: &str, kind: AttributeType) -> AttributeDeclaration {
    AttributeDeclaration {
        name: name.into(),
        kind,
        values: Vec::new(),
        required: false,
        unique: false,
        private: false,
        indexed: false,
    }
}

/// One attribute of each type, and each flag.
fn declare(config: &mut Config) {
    config.user.attributes = vec![
        AttributeDeclaration {
            required: true,
            indexed: true,
            ..attribute("team", AttributeType::String)
        },
        AttributeDeclaration {
            indexed: true,
            ..attribute("age", AttributeType::Integer)
        },
        attribute("score", AttributeType::Number),
        attribute("vip", AttributeType::Boolean),
        attribute("since", AttributeType::Datetime),
        attribute("meta", AttributeType::Json),
        AttributeDeclaration {
            values: vec!["free".into(), "pro".into()],
            ..attribute("plan", AttributeType::Enumeration)
        },
        AttributeDeclaration {
            unique: true,
            ..attribute("code", AttributeType::String)
        },
        AttributeDeclaration {
            private: true,
            ..attribute("ssn", AttributeType::String)
        },
    ];
    config.register_allowed_fields = vec!["team".into(), "age".into(), "ssn".into(), "code".into()];
}

async fn start(backend: Backend, adjust: impl FnOnce(&mut Config)) -> (TestServer, String) {
    let server = TestServer::start_with(backend, |config| {
        declare(config);
        adjust(config);
    })
    .await;
    // `team` is required: the administrator registers with one.
    let body = server
        .gql(
            REGISTER,
            json!({ "input": { "username": "user-admin", "email": "user-admin@example.com",
            "password": "admin-password", "attributes": { "team": "admins" } } }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let role = server.create_role("user-admin").await;
    server.grant("user-admin", ADMIN_ACTIONS).await;
    server
        .set_role(user_id(&body["data"]["register"]["user"]), role.id)
        .await;
    (
        server,
        body["data"]["register"]["jwt"]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

/// The one validation error of `body` (GraphQL or REST): its path and message.
fn problem(body: &Value) -> (Value, String) {
    let details = if body.get("errors").is_some() {
        &body["errors"][0]["extensions"]["error"]["details"]
    } else {
        &body["error"]["details"]
    };
    let errors = details["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors: {body}"));
    assert_eq!(errors.len(), 1, "{body}");
    (
        errors[0]["path"].clone(),
        errors[0]["message"].as_str().unwrap().to_string(),
    )
}

async fn create(server: &TestServer, admin: &str, name: &str, attributes: Value) -> Value {
    server
        .gql_as(
            admin,
            CREATE,
            json!({ "data": { "username": name, "email": format!("{name}@example.com"), "password": "password1",
                "role": server.conn_role("authenticated").await.id.to_string(), "attributes": attributes } }),
        )
        .await
}

/// The attributes stored for the user `id`, as the database holds them.
async fn stored(server: &TestServer, id: i32) -> Value {
    let mut conn = server.conn().await;
    let user = User::find(&mut conn, id).await.unwrap().unwrap();
    serde_json::from_str(&user.attributes).unwrap()
}

both_backends! {
    async fn every_type_and_flag_is_checked_on_create_and_update_over_graphql_and_rest(backend: Backend) {
        let (server, admin) = start(backend, |_| {}).await;
        let good = json!({ "team": "red", "age": 30, "score": 2.5, "vip": true, "since": "2026-01-31T13:00:00+01:00",
            "meta": { "any": ["thing"] }, "plan": "pro", "code": "A1", "nickname": "undeclared is allowed" });
        let body = create(&server, &admin, "good", good.clone()).await;
        assert!(body.get("errors").is_none(), "{body}");
        let id: i32 = body["data"]["createUsersPermissionsUser"]["data"]["id"].as_str().unwrap().parse().unwrap();
        assert_eq!(stored(&server, id).await["since"], "2026-01-31T12:00:00.000Z", "datetimes are stored in one form, UTC");

        let wrong = [
            ("team", json!(5), "attributes.team must be a `string` type, but the final value was: `5`."),
            ("age", json!(1.5), "attributes.age must be a `integer` type, but the final value was: `1.5`."),
            ("age", json!("30"), "attributes.age must be a `integer` type, but the final value was: `30`."),
            ("score", json!("high"), "attributes.score must be a `number` type, but the final value was: `high`."),
            ("vip", json!("yes"), "attributes.vip must be a `boolean` type, but the final value was: `yes`."),
            ("since", json!("yesterday"), "attributes.since must be a `datetime` (ISO 8601, e.g. 2026-01-31T12:00:00Z) type, but the final value was: `yesterday`."),
            ("plan", json!("gold"), "attributes.plan must be one of the following values: free, pro"),
            ("plan", json!(1), "attributes.plan must be a `enumeration` type, but the final value was: `1`."),
        ];
        for (i, (name, value, message)) in wrong.iter().enumerate() {
            let mut attributes = json!({ "team": "red" });
            attributes[name] = value.clone();
            // GraphQL, admin create.
            let body = create(&server, &admin, &format!("wrong{i}"), attributes.clone()).await;
            assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
            assert_eq!(problem(&body), (json!(["attributes", name]), message.to_string()), "{body}");
            // GraphQL, admin update.
            let body = server.gql_as(&admin, UPDATE, json!({ "id": id.to_string(), "data": { "attributes": attributes } })).await;
            assert_eq!(problem(&body), (json!(["attributes", name]), message.to_string()), "{body}");
            // REST, admin update and create.
            let (status, _, body) = server.rest(Method::PUT, &format!("/api/users/{id}"), Some(&admin), Some(&json!({ "attributes": attributes }))).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(body["error"]["name"], "ValidationError", "{body}");
            assert_eq!(problem(&body), (json!(["attributes", name]), message.to_string()), "{body}");
            let (status, _, body) = server.rest(Method::POST, "/api/users", Some(&admin), Some(&json!({
                "username": format!("rest{i}"), "email": format!("rest{i}@example.com"), "password": "password1",
                "role": server.conn_role("authenticated").await.id, "attributes": attributes }))).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(problem(&body), (json!(["attributes", name]), message.to_string()), "{body}");
        }
        assert_eq!(stored(&server, id).await["age"], 30, "no refused update was written");
        // An indexed (or unique) string fits in an index entry on both databases.
        let body = create(&server, &admin, "longteam", json!({ "team": "x".repeat(501) })).await;
        assert_eq!(problem(&body), (json!(["attributes", "team"]), "attributes.team must be at most 500 characters".into()), "{body}");
        let body = create(&server, &admin, "fullteam", json!({ "team": "x".repeat(500), "meta": "y".repeat(3000) })).await;
        assert!(body.get("errors").is_none(), "{body}");

        // Required: on create, and on an update (which replaces the attributes whole).
        let body = create(&server, &admin, "teamless", json!({ "age": 3 })).await;
        assert_eq!(problem(&body), (json!(["attributes", "team"]), "attributes.team is a required field".into()));
        let body = create(&server, &admin, "teamless", json!(null)).await;
        assert_eq!(problem(&body), (json!(["attributes", "team"]), "attributes.team is a required field".into()));
        let body = server.gql_as(&admin, UPDATE, json!({ "id": id.to_string(), "data": { "attributes": { "team": null } } })).await;
        assert_eq!(problem(&body), (json!(["attributes", "team"]), "attributes.team is a required field".into()));
        // Several problems at once.
        let body = create(&server, &admin, "many", json!({ "age": "x", "vip": 1 })).await;
        assert_eq!(error_message(&body), "3 errors occurred", "{body}");

        // Unique: a second user with the same code, created or updated, over both transports.
        let body = create(&server, &admin, "copycat", json!({ "team": "red", "code": "A1" })).await;
        assert_eq!(problem(&body), (json!(["attributes", "code"]), "This attribute must be unique".into()), "{body}");
        let body = create(&server, &admin, "other", json!({ "team": "red", "code": "B2" })).await;
        let other = body["data"]["createUsersPermissionsUser"]["data"]["id"].as_str().unwrap().to_string();
        let (status, _, body) = server.rest(Method::PUT, &format!("/api/users/{other}"), Some(&admin), Some(&json!({ "attributes": { "team": "red", "code": "A1" } }))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(problem(&body), (json!(["attributes", "code"]), "This attribute must be unique".into()), "{body}");
        let body = server.gql_as(&admin, UPDATE, json!({ "id": other, "data": { "attributes": { "team": "blue", "code": "C3" } } })).await;
        assert!(body.get("errors").is_none(), "a value of its own is fine: {body}");
    }

    async fn registration_checks_the_declared_attributes_over_graphql_and_rest(backend: Backend) {
        let (server, _) = start(backend, |_| {}).await;
        let input = |name: &str, attributes: Value| json!({ "input": { "username": name, "email": format!("{name}@example.com"), "password": "password1", "attributes": attributes } });
        let body = server.gql(REGISTER, input("nobody", json!({ "age": 3 }))).await;
        assert_eq!(problem(&body), (json!(["attributes", "team"]), "attributes.team is a required field".into()), "{body}");
        let body = server.gql(REGISTER, input("numbers", json!({ "team": 7 }))).await;
        assert_eq!(problem(&body), (json!(["attributes", "team"]), "attributes.team must be a `string` type, but the final value was: `7`.".into()), "{body}");
        let body = server.gql(REGISTER, input("fine", json!({ "team": "red", "age": 7, "code": "Z" }))).await;
        assert_eq!(body["data"]["register"]["user"]["attributes"], json!({ "team": "red", "age": 7, "code": "Z" }), "{body}");

        let rest = |name: &str, extra: Value| {
            let mut body = json!({ "username": name, "email": format!("{name}@example.com"), "password": "password1" });
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            body
        };
        let (status, _, body) = server.rest(Method::POST, "/api/auth/local/register", None, Some(&rest("restless", json!({ "age": 1 })))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(problem(&body), (json!(["attributes", "team"]), "attributes.team is a required field".into()));
        let (status, _, body) = server.rest(Method::POST, "/api/auth/local/register", None, Some(&rest("restage", json!({ "team": "red", "age": "old" })))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(problem(&body).0, json!(["attributes", "age"]));
        let (status, _, body) = server.rest(Method::POST, "/api/auth/local/register", None, Some(&rest("restcopy", json!({ "team": "red", "code": "Z" })))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(problem(&body), (json!(["attributes", "code"]), "This attribute must be unique".into()));
        let (status, _, body) = server.rest(Method::POST, "/api/auth/local/register", None, Some(&rest("restfine", json!({ "team": "blue" })))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["user"]["team"], "blue");
    }

    async fn undeclared_keys_are_refused_only_when_the_setting_says_so(backend: Backend) {
        let (server, admin) = start(backend, |config| config.user.allow_undeclared_attributes = false).await;
        let body = create(&server, &admin, "extra", json!({ "team": "red", "nickname": "x" })).await;
        assert_eq!(
            problem(&body),
            (json!(["attributes", "nickname"]), "Invalid key attributes.nickname: attributes may hold only the declared ones".into()),
            "{body}"
        );
        let (status, _, body) = server.rest(Method::POST, "/api/users", Some(&admin), Some(&json!({
            "username": "restextra", "email": "restextra@example.com", "password": "password1",
            "role": server.conn_role("authenticated").await.id, "attributes": { "team": "red", "nickname": "x" } }))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(problem(&body).0, json!(["attributes", "nickname"]));
        let body = create(&server, &admin, "plain", json!({ "team": "red" })).await;
        assert!(body.get("errors").is_none(), "{body}");

        // By default, undeclared keys are kept as they are.
        let (server, admin) = start(backend, |_| {}).await;
        let body = create(&server, &admin, "extra", json!({ "team": "red", "nickname": "x" })).await;
        assert_eq!(body["data"]["createUsersPermissionsUser"]["data"]["attributes"]["nickname"], "x", "{body}");
    }

    async fn private_attributes_are_never_shown_kept_on_update_and_refused_in_conditions(backend: Backend) {
        let (server, admin) = start(backend, |_| {}).await;
        // Every response passes the harness's scan, which fails on a key named `ssn`.
        let body = server.gql(REGISTER, json!({ "input": { "username": "holder", "email": "holder@example.com", "password": "password1",
            "attributes": { "team": "red", "ssn": "123-45-6789" } } })).await;
        assert_eq!(body["data"]["register"]["user"]["attributes"], json!({ "team": "red" }), "{body}");
        let jwt = body["data"]["register"]["jwt"].as_str().unwrap().to_string();
        let id = user_id(&body["data"]["register"]["user"]);
        assert_eq!(stored(&server, id).await["ssn"], "123-45-6789", "stored, only never shown");
        let body = server.gql_as(&jwt, "{ me { attributes } }", json!({})).await;
        assert_eq!(body["data"]["me"]["attributes"], json!({ "team": "red" }), "{body}");
        let (_, _, body) = server.rest(Method::GET, "/api/users/me", Some(&jwt), None).await;
        assert_eq!(body["team"], "red", "{body}");
        let (_, _, body) = server.rest(Method::GET, &format!("/api/users/{id}"), Some(&admin), None).await;
        assert_eq!(body["team"], "red", "{body}");
        let body = server.gql_as(&admin, USERS, json!({})).await;
        assert!(body.to_string().contains("holder"), "{body}");
        let (status, _, body) = server.rest(Method::POST, "/api/auth/local", None, Some(&json!({ "identifier": "holder", "password": "password1" }))).await;
        assert_eq!((status, &body["user"]["team"]), (StatusCode::OK, &json!("red")), "{body}");

        // An update that leaves it out (as a client writing back what it read) keeps it.
        let body = server.gql_as(&admin, UPDATE, json!({ "id": id.to_string(), "data": { "attributes": { "team": "blue" } } })).await;
        assert_eq!(body["data"]["updateUsersPermissionsUser"]["data"]["attributes"], json!({ "team": "blue" }), "{body}");
        assert_eq!(stored(&server, id).await, json!({ "team": "blue", "ssn": "123-45-6789" }));

        // No condition may read it, as a path or as a `$user.` placeholder.
        let create_condition = "mutation($d: UsersPermissionsConditionInput!) { createUsersPermissionsCondition(data: $d) { name } }";
        for query in [json!({ "attributes.ssn": "1" }), json!({ "$or": [{ "attributes.ssn.x": { "$exists": true } }] }), json!({ "attributes.team": "$user.attributes.ssn" })] {
            let body = server.gql_as(&admin, create_condition, json!({ "d": { "name": "peek", "displayName": "Peek", "query": query } })).await;
            assert_eq!(error_code(&body), "BAD_USER_INPUT", "{query}: {body}");
            assert!(error_message(&body).contains("is a private attribute"), "{body}");
        }

        // Nor one declared in castellan.toml: the server does not start.
        let (_db, url) = TestDb::create(backend).await;
        let mut config = Config::new(url, castellan::config::Secret::new("private-attribute-test-secret-0123456789abc"));
        declare(&mut config);
        config.conditions = vec![castellan::config::DeclaredCondition {
            name: "peek".into(), display_name: "Peek".into(), category: None, query: json!({ "attributes.ssn": { "$exists": true } }) }];
        let refused = castellan::Castellan::builder(config).start().await.err().expect("refused").to_string();
        assert!(refused.contains("the condition `peek`") && refused.contains("attributes.ssn"), "{refused}");
    }

    async fn conditions_and_sorts_on_an_indexed_attribute_use_its_index(backend: Backend) {
        let (server, admin) = start(backend, |_| {}).await;
        let body = server.gql_as(&admin, "mutation($d: UsersPermissionsConditionInput!) { createUsersPermissionsCondition(data: $d) { name } }",
            json!({ "d": { "name": "same-team", "displayName": "Same team", "query": { "attributes.team": "$user.attributes.team" } } })).await;
        assert!(body.get("errors").is_none(), "{body}");
        server.create_role("team-member").await;
        let role = server.conn_role("team-member").await;
        let body = server.gql_as(&admin, "mutation($id: ID!, $data: UsersPermissionsRoleInput!) { updateUsersPermissionsRole(id: $id, data: $data) { ok } }",
            json!({ "id": role.id.to_string(), "data": { "grants": [{ "action": "plugin::users-permissions.user.find", "conditions": ["same-team"] }] } })).await;
        assert!(body.get("errors").is_none(), "{body}");
        let mut red = String::new();
        for (name, team, age) in [("red1", "red", 40), ("red2", "red", 20), ("blue1", "blue", 30), ("red3", "red", 30)] {
            let body = server.gql(REGISTER, json!({ "input": { "username": name, "email": format!("{name}@example.com"), "password": "password1", "attributes": { "team": team, "age": age } } })).await;
            server.set_role(user_id(&body["data"]["register"]["user"]), role.id).await;
            if name == "red1" {
                red = body["data"]["register"]["jwt"].as_str().unwrap().to_string();
            }
        }
        let body = server.gql_as(&red, USERS, json!({ "sort": ["attributes.age:desc"], "pagination": { "pageSize": 2 } })).await;
        let page = &body["data"]["usersPermissionsUsers_connection"];
        assert_eq!(page["pageInfo"]["total"], 3, "{body}");
        let names: Vec<&str> = page["nodes"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
        assert_eq!(names, ["red1", "red3"], "{body}");
        let (_, _, body) = server.rest(Method::GET, "/api/users?sort=attributes.age:asc", Some(&red), None).await;
        let names: Vec<&str> = body.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
        assert_eq!(names, ["red2", "red3", "red1"], "{body}");
        let body = server.gql_as(&red, USERS, json!({ "sort": ["attributes.score:asc"] })).await;
        assert!(error_message(&body).contains("attributes.team, attributes.age, attributes.code"), "only indexed ones: {body}");

        // The SQL of the conditions names what the index is built on (SQLite: the expression;
        // PostgreSQL: the attribute's generated column), and the database's plan uses the
        // index, for equality, `$in` and ranges; PostgreSQL counts from the index alone once
        // the visibility map is set (as autovacuum leaves it).
        let dialect = server.app.db.backend();
        let pg = dialect == castellan::db::Backend::Postgres;
        if pg {
            server.sql("VACUUM (ANALYZE) up_users").await;
        }
        for query in [json!({ "attributes.team": "red" }), json!({ "attributes.team": { "$in": ["red", "blue"] } }), json!({ "attributes.age": { "$gte": 30 } })] {
            let filter = Filter::parse(&query).unwrap();
            let sql = server.app.policy.user_sql.to_sql(&filter, dialect).unwrap();
            assert!(sql.residue().is_none(), "{query} is exact in SQL");
            let mut conn = server.conn().await;
            let plan = User::count_plan(&mut conn, &sql).await.unwrap().join("\n");
            let index = if query.to_string().contains("age") { "up_users_attr_age_integer" } else { "up_users_attr_team_string" };
            assert!(plan.contains(index), "{query}: the plan does not use {index}:\n{plan}\n{}", sql.inlined());
            if pg {
                let column = if query.to_string().contains("age") { "up_users.\"attr_age_integer\"" } else { "up_users.\"attr_team_string\"" };
                assert!(sql.inlined().contains(column) && !sql.inlined().contains("->>"), "{query} reads {column}: {}", sql.inlined());
                assert!(plan.contains(&format!("Index Only Scan using {index}")), "{query}: no Index Only Scan:\n{plan}");
            }
        }
        // `$exists` tells missing from null: it reads the document, without the index, and is
        // still exact.
        let filter = Filter::parse(&json!({ "attributes.team": { "$exists": true } })).unwrap();
        let sql = server.app.policy.user_sql.to_sql(&filter, dialect).unwrap();
        assert!(!sql.inlined().contains(if dialect == castellan::db::Backend::Sqlite { "'$.team')" } else { "->> 'team'" }), "{}", sql.inlined());
    }

    async fn indexed_attributes_answer_every_operator_as_sift_does(backend: Backend) {
        // The SQL of an indexed attribute (plain tests of its index's expression) selects
        // exactly the users the in-memory evaluation (sift 17.1.4's semantics) selects.
        let (server, admin) = start(backend, |config| {
            config.user.attributes = vec![
                AttributeDeclaration { indexed: true, ..attribute("team", AttributeType::String) },
                AttributeDeclaration { indexed: true, ..attribute("age", AttributeType::Number) },
                AttributeDeclaration { indexed: true, ..attribute("vip", AttributeType::Boolean) },
                AttributeDeclaration { indexed: true, ..attribute("since", AttributeType::Datetime) },
            ];
        })
        .await;
        let people = [
            json!({}), json!({ "team": null, "age": null, "vip": null }),
            json!({ "team": "red", "age": 3, "vip": true, "since": "2026-01-01T00:00:00Z" }),
            json!({ "team": "Red", "age": 3.5, "vip": false, "since": "2025-06-30T23:59:59.5Z" }),
            json!({ "team": "blue", "age": -1, "vip": false }), json!({ "team": "", "age": 0 }),
            json!({ "team": "zed", "age": 10, "vip": true }), json!({ "team": "éclair", "age": 1e3 }),
        ];
        for (i, attributes) in people.iter().enumerate() {
            let body = create(&server, &admin, &format!("person{i}"), attributes.clone()).await;
            assert!(body.get("errors").is_none(), "{body}");
        }
        let queries = [
            json!({ "attributes.team": "red" }), json!({ "attributes.team": null }), json!({ "attributes.team": 3 }),
            json!({ "attributes.team": { "$ne": "red" } }), json!({ "attributes.team": { "$ne": null } }),
            json!({ "attributes.team": { "$in": ["red", "", null] } }), json!({ "attributes.team": { "$in": ["blue", 3, true] } }),
            json!({ "attributes.team": { "$nin": ["red", null] } }), json!({ "attributes.team": { "$nin": ["zed", 1] } }),
            json!({ "attributes.team": { "$gt": "Red" } }), json!({ "attributes.team": { "$lte": "blue" } }), json!({ "attributes.team": { "$lt": 5 } }),
            json!({ "attributes.team": { "$eqi": "RED" } }), json!({ "attributes.team": { "$exists": true } }), json!({ "attributes.team": { "$exists": false } }),
            json!({ "attributes.age": 3 }), json!({ "attributes.age": { "$gte": 3 } }), json!({ "attributes.age": { "$lt": 0.5 } }),
            json!({ "attributes.age": { "$gt": "1" } }), json!({ "attributes.age": { "$in": [1000, -1, null] } }), json!({ "attributes.age": { "$nin": [3.5] } }),
            json!({ "attributes.vip": true }), json!({ "attributes.vip": { "$ne": false } }), json!({ "attributes.vip": { "$gt": false } }),
            json!({ "attributes.vip": { "$lte": true } }), json!({ "attributes.vip": 1 }), json!({ "attributes.vip": { "$exists": false } }),
            json!({ "attributes.since": { "$gte": "2025-12-31T00:00:00.000Z" } }), json!({ "attributes.since": { "$lt": "2026" } }),
            json!({ "$or": [{ "attributes.team": "zed" }, { "attributes.age": { "$lt": 0 } }], "attributes.vip": { "$ne": true } }),
        ];
        let dialect = server.app.db.backend();
        let mut conn = server.conn().await;
        let everyone = User::page_for_display(&mut conn, &castellan::db::sql::SqlWhere::always(dialect), None,
            &castellan::db::fields::USERS.order_by(&[]).unwrap(), 0, 1000).await.unwrap();
        for query in queries {
            let filter = Filter::parse(&query).unwrap();
            let sql = server.app.policy.user_sql.to_sql(&filter, dialect).unwrap();
            assert!(sql.residue().is_none(), "{query} is exact in SQL");
            let selected: Vec<i32> = User::page_for_display(&mut conn, &castellan::db::sql::SqlWhere::always(dialect), Some(&sql),
                &castellan::db::fields::USERS.order_by(&[]).unwrap(), 0, 1000).await.unwrap().iter().map(|u| u.id).collect();
            let mut expected = Vec::new();
            for user in &everyone {
                let (user, role) = User::find_with_role(&mut conn, user.id).await.unwrap().unwrap();
                if filter.matches(&castellan::policy::subject::user_document(&user, &role)) {
                    expected.push(user.id);
                }
            }
            assert_eq!(selected, expected, "{query}: SQL {}", sql.inlined());
        }
    }

    async fn indexes_follow_the_declaration_at_start_up(backend: Backend) {
        // A database whose users hold a team before it is declared, then declared indexed,
        // then unique, then no longer indexed: each start brings the indexes along, and a
        // second start with the same declaration changes nothing.
        let (_db, url) = TestDb::create(backend).await;
        // The rows (column `value`) of a query.
        let load = |server: &TestServer, sql: String| {
            let db = server.app.db.clone();
            async move {
                let mut conn = db.conn().await.unwrap();
                #[derive(diesel::QueryableByName)]
                struct Row {
                    #[diesel(sql_type = diesel::sql_types::Text)]
                    value: String,
                }
                let rows: Vec<Row> = castellan::on_conn!(&mut conn, |c| diesel_async::RunQueryDsl::load(diesel::sql_query(&sql), c).await).unwrap();
                let mut names: Vec<String> = rows.into_iter().map(|r| r.value).collect();
                names.sort();
                names
            }
        };
        // The names the catalogue lists: the indexes, or (PostgreSQL) the generated columns.
        let listed = |server: &TestServer, columns: bool| {
            let dialect = server.app.db.backend();
            let sql = if columns {
                castellan::db::fields::UserAttributes::existing_columns_sql(dialect)
            } else {
                Some(castellan::db::fields::UserAttributes::existing_indexes_sql(dialect))
            };
            let rows = sql.map(|sql| load(server, sql));
            async move {
                match rows {
                    Some(rows) => rows.await,
                    None => Vec::new(),
                }
            }
        };
        let indexes = |server: &TestServer| listed(server, false);
        let columns = |server: &TestServer| listed(server, true);
        let pg = backend == Backend::Postgres;
        let column: &[&str] = if pg { &["attr_team_string"] } else { &[] };
        let start = |declared: Vec<AttributeDeclaration>| {
            let url = url.clone();
            async move {
                TestServer::start_on(url, |config| config.user.attributes = declared).await
            }
        };
        let server = start(vec![]).await;
        for (name, team) in [("aa1", "red"), ("aa2", "blue")] {
            server.register(name, &format!("{name}@example.com"), "password1").await;
            server.sql(&format!("UPDATE up_users SET attributes = '{{\"team\": \"{team}\"}}' WHERE username = '{name}'")).await;
        }
        assert!(indexes(&server).await.is_empty());
        assert!(columns(&server).await.is_empty());
        if pg {
            // As an earlier Castellan built it: on the expression, without a column.
            server.sql("CREATE INDEX \"up_users_attr_team_string\" ON up_users (((attributes_jsonb ->> 'team') COLLATE \"C\"), id)").await;
        }
        drop(server);

        let team = attribute("team", AttributeType::String);
        let indexed = AttributeDeclaration { indexed: true, ..team.clone() };
        for _ in 0..2 {
            let server = start(vec![indexed.clone()]).await;
            assert_eq!(indexes(&server).await, ["up_users_attr_team_string"]);
            assert_eq!(columns(&server).await, column, "PostgreSQL: the generated column the index is on");
        }
        if pg {
            // The index built on the expression is built again on the column, which holds each
            // user's value and follows an update.
            let server = start(vec![indexed.clone()]).await;
            let definition = load(&server, "SELECT indexdef::text AS value FROM pg_indexes WHERE indexname = 'up_users_attr_team_string'".into()).await;
            assert_eq!(definition.len(), 1, "{definition:?}");
            assert!(definition[0].contains("(attr_team_string, id)"), "{definition:?}");
            server.sql("UPDATE up_users SET attributes = '{\"team\": \"green\"}' WHERE username = 'aa2'").await;
            let values = load(&server, "SELECT username || '=' || coalesce(attr_team_string, '-') AS value FROM up_users".into()).await;
            assert_eq!(values, ["aa1=red", "aa2=green"]);
        }
        let server = start(vec![AttributeDeclaration { unique: true, ..team.clone() }]).await;
        assert_eq!(indexes(&server).await, ["up_users_attr_team_string_unique"]);
        assert_eq!(columns(&server).await, column);
        let mut conn = server.conn().await;
        let shared = castellan::on_conn!(&mut conn, |c| c.batch_execute("UPDATE up_users SET attributes = '{\"team\": \"red\"}'").await);
        assert!(shared.is_err(), "the unique index refuses two users with one team");
        drop(conn);
        drop(server);
        let server = start(vec![team.clone()]).await;
        assert!(indexes(&server).await.is_empty(), "an attribute no longer indexed loses its index");
        assert!(columns(&server).await.is_empty(), "and its generated column");
        drop(server);

        // Values of another type stop the start, naming the attribute and the users.
        let server = start(vec![]).await;
        server.sql("UPDATE up_users SET attributes = '{\"team\": 5}' WHERE username = 'aa2'").await;
        drop(server);
        let mut config = Config::new(url.clone(), castellan::config::Secret::new("indexes-test-secret-0123456789abcdefghijklmn"));
        config.user.attributes = vec![indexed];
        let refused = castellan::Castellan::builder(config).start().await.err().expect("refused").to_string();
        assert!(refused.contains("`team` is declared string, but users hold another type there"), "{refused}");
    }
}
