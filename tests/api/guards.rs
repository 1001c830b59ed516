//! Every field's action is checked against the role's grants.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{TestServer, error_code, error_message, user_id};

both_backends! {
    async fn the_public_role_is_refused_me(backend: Backend) {
        let server = TestServer::start(backend).await;
        let body = server.gql("{ me { id username } }", json!({})).await;
        assert_eq!(body["data"], json!({ "me": null }));
        assert_eq!(error_message(&body), "Forbidden access");
        assert_eq!(error_code(&body), "FORBIDDEN");
        assert_eq!(body["errors"][0]["path"], json!(["me"]));
        let error = &body["errors"][0]["extensions"]["error"];
        assert_eq!(error["name"], "ForbiddenError");
        assert_eq!(error["message"], "Forbidden access");
        assert_eq!(error["details"]["action"], "plugin::users-permissions.user.me", "the missing action is named");
        assert_eq!(error["details"]["role"], "public");
    }

    async fn a_refused_field_does_not_stop_its_allowed_siblings(backend: Backend) {
        let server = TestServer::start(backend).await;
        server.revoke("public", "plugin::users-permissions.auth.register").await;
        let body = server
            .gql(
                r#"mutation {
                    login(input: { identifier: "nobody", password: "whatever" }) { jwt }
                    register(input: { username: "newbie", email: "newbie@example.com", password: "password1" }) { jwt }
                }"#,
                json!({}),
            )
            .await;
        let errors = body["errors"].as_array().unwrap();
        let by_path: HashMap<String, &Value> =
            errors.iter().map(|e| (e["path"][0].as_str().unwrap().to_string(), e)).collect();
        assert_eq!(by_path["register"]["extensions"]["code"], "FORBIDDEN");
        assert_eq!(by_path["register"]["extensions"]["error"]["details"]["action"], "plugin::users-permissions.auth.register");
        // login was allowed and ran: it answered with its own error, not FORBIDDEN.
        assert_eq!(by_path["login"]["message"], "Invalid identifier or password");


        let body = server.gql("{ me { id } __typename }", json!({})).await;
        assert_eq!(body["data"], json!({ "me": null, "__typename": "Query" }));
        assert_eq!(error_code(&body), "FORBIDDEN");
    }

    async fn fields_below_the_root_and_behind_fragments_are_guarded_too(backend: Backend) {
        let server = TestServer::start(backend).await;
        // May list users, but not roles: a role's `nbUsers` and `grants` need role.find.
        let jwt = server.user_with_grants("lister", &["plugin::users-permissions.user.find"]).await;
        let body = server
            .gql_as(&jwt, "{ usersPermissionsUsers { username ...R } } fragment R on UsersPermissionsUser { role { name nbUsers } }", json!({}))
            .await;
        assert_eq!(body["data"]["usersPermissionsUsers"], json!([{ "username": "lister", "role": null }]), "{body}");
        // `nbUsers` is non-null: the refusal nulls the role around it.
        assert_eq!(error_code(&body), "FORBIDDEN");
        assert_eq!(body["errors"][0]["path"], json!(["usersPermissionsUsers", 0, "role", "nbUsers"]));
        // A refused root field behind an alias, a fragment, or the operation chosen by name.
        for (query, operation, path) in [
            ("{ mine: usersPermissionsUsers { username } roles: usersPermissionsRoles { name } }", None, "roles"),
            ("{ usersPermissionsUsers { username } ...Q } fragment Q on Query { usersPermissionsRoles { name } }", None, "usersPermissionsRoles"),
            ("{ usersPermissionsUsers { username } ... on Query { usersPermissionsRoles { name } } }", None, "usersPermissionsRoles"),
            ("query A { usersPermissionsUsers { username } } query B { usersPermissionsRoles { name } }", Some("B"), "usersPermissionsRoles"),
        ] {
            let mut request = json!({ "query": query });
            if let Some(operation) = operation {
                request["operationName"] = json!(operation);
            }
            let (_, body) = server.post(Some(&jwt), &request).await;
            assert_eq!(error_code(&body), "FORBIDDEN", "{query}: {body}");
            assert_eq!(body["errors"][0]["path"], json!([path]), "{query}: {body}");
        }
        let (_, body) = server
            .post(Some(&jwt), &json!({ "query": "query A { usersPermissionsUsers { username } } query B { usersPermissionsRoles { name } }", "operationName": "A" }))
            .await;
        assert_eq!(body, json!({ "data": { "usersPermissionsUsers": [{ "username": "lister" }] } }));
    }

    async fn a_grant_removed_is_enforced_on_the_next_request(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (jwt, _) = server.register("judy", "judy@example.com", "password1").await;
        let body = server.gql_as(&jwt, "{ me { username } }", json!({})).await;
        assert_eq!(body["data"]["me"]["username"], "judy");
        server.revoke("authenticated", "plugin::users-permissions.user.me").await;
        let body = server.gql_as(&jwt, "{ me { username } }", json!({})).await;
        assert_eq!(error_code(&body), "FORBIDDEN");
        assert_eq!(body["errors"][0]["extensions"]["error"]["details"]["role"], "authenticated");
    }

    async fn a_role_without_grants_is_refused_every_root_field(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (jwt, user) = server.register("nogrants", "nogrants@example.com", "password1").await;
        let role = server.create_role("nothing-granted").await;
        server.set_role(user_id(&user), role.id).await;

        let schema = introspect(&server).await;
        let declared = declared_actions();
        let mut checked = 0;
        for (operation, root) in [("query", "Query"), ("mutation", "Mutation")] {
            let Some(fields) = root_fields(&schema, root) else { continue };
            for field in fields {
                let name = field["name"].as_str().unwrap();
                let document = format!("{operation} {{ {} }}", field_call(&schema, field));
                let body = server.gql_as(&jwt, &document, json!({})).await;
                assert_eq!(error_code(&body), "FORBIDDEN", "{root}.{name} was not refused: {body}");
                let declared = declared
                    .get(&format!("{root}.{name}"))
                    .unwrap_or_else(|| panic!("{root}.{name} declares no action"));
                let action = &body["errors"][0]["extensions"]["error"]["details"]["action"];
                assert_eq!(action.as_str(), Some(declared.as_str()), "{root}.{name} named the wrong action");
                checked += 1;
            }
        }
        assert!(checked >= 3, "only {checked} root fields were walked");
    }
}

/// `Type.field` → action, as declared in the printed schema.
fn declared_actions() -> HashMap<String, String> {
    let sdl = castellan::graphql::sdl();
    let document = async_graphql::parser::parse_schema(&sdl).unwrap();
    let mut out = HashMap::new();
    for definition in document.definitions {
        let async_graphql::parser::types::TypeSystemDefinition::Type(ty) = definition else {
            continue;
        };
        let async_graphql::parser::types::TypeKind::Object(object) = &ty.node.kind else {
            continue;
        };
        for field in &object.fields {
            for directive in &field.node.directives {
                if directive.node.name.node == "action" {
                    let value = directive.node.get_argument("name").unwrap();
                    let async_graphql::Value::String(action) = &value.node else {
                        panic!("not a string")
                    };
                    out.insert(
                        format!("{}.{}", ty.node.name.node, field.node.name.node),
                        action.clone(),
                    );
                }
            }
        }
    }
    out
}

const INTROSPECTION: &str = r#"{ __schema { types { name kind
    fields { name args { name type { ...T } } type { ...T } }
    inputFields { name type { ...T } defaultValue }
    enumValues { name } } } }
    fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }"#;

async fn introspect(server: &TestServer) -> Value {
    let body = server.gql(INTROSPECTION, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["__schema"]["types"].clone()
}

fn named<'a>(schema: &'a Value, name: &str) -> &'a Value {
    schema
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no type {name}"))
}

fn root_fields<'a>(schema: &'a Value, root: &str) -> Option<&'a Vec<Value>> {
    schema
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == root)?["fields"]
        .as_array()
}

/// `name(arg: value, …) { __typename }` with a value for every required argument.
fn field_call(schema: &Value, field: &Value) -> String {
    let args: Vec<String> = field["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|arg| arg["type"]["kind"] == "NON_NULL")
        .map(|arg| {
            format!(
                "{}: {}",
                arg["name"].as_str().unwrap(),
                literal(schema, &arg["type"])
            )
        })
        .collect();
    let args = if args.is_empty() {
        String::new()
    } else {
        format!("({})", args.join(", "))
    };
    let selection = match innermost(&field["type"])["kind"].as_str() {
        Some("OBJECT" | "INTERFACE" | "UNION") => " { __typename }",
        _ => "",
    };
    format!("{}{args}{selection}", field["name"].as_str().unwrap())
}

fn innermost(ty: &Value) -> &Value {
    if ty["ofType"].is_object() {
        innermost(&ty["ofType"])
    } else {
        ty
    }
}

/// A GraphQL literal of the given type, filling every required input field.
fn literal(schema: &Value, ty: &Value) -> String {
    match ty["kind"].as_str().unwrap() {
        "NON_NULL" => literal(schema, &ty["ofType"]),
        "LIST" => format!("[{}]", literal(schema, &ty["ofType"])),
        "ENUM" => named(schema, ty["name"].as_str().unwrap())["enumValues"][0]["name"]
            .as_str()
            .unwrap()
            .to_string(),
        "INPUT_OBJECT" => {
            let input = named(schema, ty["name"].as_str().unwrap());
            let fields: Vec<String> = input["inputFields"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["type"]["kind"] == "NON_NULL" && f["defaultValue"].is_null())
                .map(|f| {
                    format!(
                        "{}: {}",
                        f["name"].as_str().unwrap(),
                        literal(schema, &f["type"])
                    )
                })
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
        _ => match ty["name"].as_str().unwrap() {
            "Int" | "Float" => "1".into(),
            "Boolean" => "true".into(),
            "JSON" => "{}".into(),
            _ => "\"x1234567\"".into(),
        },
    }
}

both_backends! {
    async fn rest_routes_are_refused_to_a_role_without_their_action(backend: Backend) {
        let server = TestServer::start(backend).await;
        let cases = [
            ("plugin::users-permissions.auth.connect", "/api/connect/github"),
            ("plugin::users-permissions.auth.connect", "/api/connect/github/callback?code=x&state=y"),
            ("plugin::users-permissions.auth.callback", "/api/auth/github/callback?access_token=x"),
            ("plugin::users-permissions.auth.emailConfirmation", "/api/auth/email-confirmation?confirmation=x"),
        ];
        for (action, _) in cases.iter().filter(|(_, path)| !path.contains("callback?code")) {
            server.revoke("public", action).await;
        }
        for (action, path) in cases {
            let response = server.client.get(format!("{}{path}", server.url)).send().await.unwrap();
            assert_eq!(response.status(), reqwest::StatusCode::FORBIDDEN, "{path}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["name"], "ForbiddenError", "{path}");
            assert_eq!(body["error"]["details"]["action"], action, "{path}");
        }
    }
}
