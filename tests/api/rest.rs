//! Strapi's REST routes under `/api`: the same services and policy as GraphQL, Strapi's bodies,
//! answers, statuses and envelope, its `qs` query syntax, and the clients Strapi front ends use
//! (axios as the reference documents call it, and `@strapi/client`), run by node from npm.

use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::peers::{ensure_npm_peers, peers_dir};
use crate::support::{TestServer, error_message, query_param, user_id};

const USER_ACTIONS: &[&str] = &[
    "plugin::users-permissions.user.me",
    "plugin::users-permissions.user.find",
    "plugin::users-permissions.user.findOne",
    "plugin::users-permissions.user.count",
    "plugin::users-permissions.user.create",
    "plugin::users-permissions.user.update",
    "plugin::users-permissions.user.destroy",
    "plugin::users-permissions.role.find",
    "plugin::users-permissions.role.findOne",
    "plugin::users-permissions.role.createRole",
    "plugin::users-permissions.role.updateRole",
    "plugin::users-permissions.role.deleteRole",
    "plugin::users-permissions.permissions.getPermissions",
    "plugin::users-permissions.permission.find",
];

/// Every REST route of Castellan's own with its action, a path to call it on, and a body.
fn routes(user: i32, role: i32) -> Vec<(Method, String, &'static str, Value)> {
    let up = "plugin::users-permissions";
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let action = |name: &str| leak(format!("{up}.{name}"));
    vec![
        (Method::POST, "/api/auth/local".into(), action("auth.callback"), json!({ "identifier": "x", "password": "y" })),
        (Method::POST, "/api/auth/local/register".into(), action("auth.register"), json!({ "username": "newbie", "email": "n@example.com", "password": "password1" })),
        (Method::POST, "/api/auth/forgot-password".into(), action("auth.forgotPassword"), json!({ "email": "x@example.com" })),
        (Method::POST, "/api/auth/reset-password".into(), action("auth.resetPassword"), json!({ "code": "x", "password": "password1", "passwordConfirmation": "password1" })),
        (Method::POST, "/api/auth/change-password".into(), action("auth.changePassword"), json!({ "currentPassword": "x", "password": "password1", "passwordConfirmation": "password1" })),
        (Method::POST, "/api/auth/send-email-confirmation".into(), action("auth.sendEmailConfirmation"), json!({ "email": "x@example.com" })),
        (Method::GET, "/api/auth/email-confirmation?confirmation=x".into(), action("auth.emailConfirmation"), Value::Null),
        (Method::GET, "/api/users/me".into(), action("user.me"), Value::Null),
        (Method::GET, "/api/users".into(), action("user.find"), Value::Null),
        (Method::GET, "/api/users/count".into(), action("user.count"), Value::Null),
        (Method::GET, format!("/api/users/{user}"), action("user.findOne"), Value::Null),
        (Method::POST, "/api/users".into(), action("user.create"), json!({ "username": "made", "email": "m@example.com", "password": "password1", "role": role })),
        (Method::PUT, format!("/api/users/{user}"), action("user.update"), json!({ "username": "renamed" })),
        (Method::DELETE, format!("/api/users/{user}"), action("user.destroy"), Value::Null),
        (Method::GET, "/api/users-permissions/roles".into(), action("role.find"), Value::Null),
        (Method::GET, format!("/api/users-permissions/roles/{role}"), action("role.findOne"), Value::Null),
        (Method::POST, "/api/users-permissions/roles".into(), action("role.createRole"), json!({ "name": "Made" })),
        (Method::PUT, format!("/api/users-permissions/roles/{role}"), action("role.updateRole"), json!({ "description": "d" })),
        (Method::DELETE, format!("/api/users-permissions/roles/{role}"), action("role.deleteRole"), Value::Null),
        (Method::GET, "/api/users-permissions/permissions".into(), action("permissions.getPermissions"), Value::Null),
    ]
}

/// The status and JSON body of a response the test sent by hand, after the secret scan.
async fn scanned(server: &TestServer, response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    server.assert_no_secrets(&text).await;
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}")))
}

async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (status, _, body) = server.rest(method, path, bearer, body.as_ref()).await;
    (status, body)
}

/// Asserts Strapi's error envelope with `status`, `name` and (when given) `message`.
fn assert_envelope(status: StatusCode, body: &Value, expected: u16, name: &str, message: Option<&str>) {
    assert_eq!(status.as_u16(), expected, "{body}");
    assert_eq!(body["data"], Value::Null, "{body}");
    assert_eq!(body["error"]["status"], expected, "{body}");
    assert_eq!(body["error"]["name"], name, "{body}");
    assert!(body["error"]["details"].is_object(), "{body}");
    if let Some(message) = message {
        assert_eq!(body["error"]["message"], message, "{body}");
    }
}

fn usernames(body: &Value) -> Vec<String> {
    body.as_array()
        .unwrap_or_else(|| panic!("not a list: {body}"))
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect()
}

/// Runs an ES module with node in `tests/peers` (where axios and @strapi/client are
/// installed); its exit status and its output. Every line it printed passes the secret scan.
async fn node(server: &TestServer, script: String) -> (bool, String) {
    ensure_npm_peers();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args(["--input-type=module", "-e", &script])
            .current_dir(peers_dir())
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    server.assert_no_secrets(&text).await;
    (output.status.success(), text)
}

/// The reference documents' axios examples, verbatim but for the server's address (and, in
/// the GET example, the route and the token it stands for).
mod reference {
    pub const REGISTER: &str = r#"import axios from 'axios';

// Request API.
// Add your own code here to customize or restrict how the public can register new users.
axios
  .post('http://localhost:1337/api/auth/local/register', {
    username: 'Strapi user',
    email: 'user@strapi.io',
    password: 'strapiPassword',
  })
  .then(response => {
    // Handle success.
    console.log('Well done!');
    console.log('User profile', response.data.user);
    console.log('User token', response.data.jwt);
  })
  .catch(error => {
    // Handle error.
    console.log('An error occurred:', error.response);
  });
"#;

    pub const LOGIN: &str = r#"import axios from 'axios';

// Request API.
axios
  .post('http://localhost:1337/api/auth/local', {
    identifier: 'user@strapi.io',
    password: 'strapiPassword',
  })
  .then(response => {
    // Handle success.
    console.log('Well done!');
    console.log('User profile', response.data.user);
    console.log('User token', response.data.jwt);
  })
  .catch(error => {
    // Handle error.
    console.log('An error occurred:', error.response);
  });
"#;

    pub const GET_WITH_TOKEN: &str = r#"import axios from 'axios';

const token = 'YOUR_TOKEN_HERE';

// Request API.
axios
  .get('http://localhost:1337/posts', {
    headers: {
      Authorization: `Bearer ${token}`,
    },
  })
  .then(response => {
    // Handle success.
    console.log('Data: ', response.data);
  })
  .catch(error => {
    // Handle error.
    console.log('An error occurred:', error.response);
  });
"#;

    pub const SEND_EMAIL_CONFIRMATION: &str = r#"import axios from 'axios';

// Request API.
axios
  .post(`http://localhost:1337/api/auth/send-email-confirmation`, {
    email: 'user@strapi.io', // user's email
  })
  .then(response => {
    console.log('Your user received an email');
  })
  .catch(error => {
    console.error('An error occurred:', error.response);
  });
"#;

    // Strapi's documentation of the same page, for the reset (the reference's text lost the code).
    pub const FORGOT_PASSWORD: &str = r#"import axios from 'axios';

// Request API.
axios
  .post('http://localhost:1337/api/auth/forgot-password', {
    email: 'user@strapi.io', // user's email
  })
  .then(response => {
    console.log('Your user received an email');
  })
  .catch(error => {
    console.log('An error occurred:', error.response);
  });
"#;

    pub const RESET_PASSWORD: &str = r#"import axios from 'axios';

// Request API.
axios
  .post('http://localhost:1337/api/auth/reset-password', {
    code: 'privateCode', // code contained in the reset link of step 3.
    password: 'userNewPassword',
    passwordConfirmation: 'userNewPassword',
  })
  .then(response => {
    console.log("Your user's password has been reset.");
  })
  .catch(error => {
    console.log('An error occurred:', error.response);
  });
"#;
}

async fn run_example(server: &TestServer, example: &str) -> String {
    let script = example.replace("http://localhost:1337", &server.url);
    let (ok, output) = node(server, script).await;
    assert!(ok, "{output}");
    assert!(!output.contains("An error occurred"), "{output}");
    output
}

both_backends! {
    async fn the_reference_documents_axios_examples_work_as_written(backend: Backend) {
        let server = TestServer::start(backend).await;
        let output = run_example(&server, reference::REGISTER).await;
        assert!(output.contains("Well done!") && output.contains("username: 'Strapi user'"), "{output}");
        let token = output.lines().find_map(|l| l.strip_prefix("User token ")).expect("a token").trim().to_string();
        // Login by email, as written, and by username.
        let output = run_example(&server, reference::LOGIN).await;
        assert!(output.contains("Well done!") && output.contains("email: 'user@strapi.io'"), "{output}");
        let by_username = reference::LOGIN.replace("identifier: 'user@strapi.io'", "identifier: 'Strapi user'");
        let output = run_example(&server, &by_username).await;
        assert!(output.contains("User token ey"), "{output}");
        // A GET with the token (the example's `/posts` is a content type of its own).
        let get = reference::GET_WITH_TOKEN
            .replace("YOUR_TOKEN_HERE", &token)
            .replace("/posts", "/api/users/me");
        let output = run_example(&server, &get).await;
        assert!(output.contains("username: 'Strapi user'") && output.contains("type: 'authenticated'"), "{output}");
        // Forgot, then reset with the code of the email.
        let output = run_example(&server, reference::FORGOT_PASSWORD).await;
        assert!(output.contains("Your user received an email"), "{output}");
        let mail = server.mail_to("user@strapi.io", 0).await;
        let code = query_param(&mail.html, "code");
        let output = run_example(&server, &reference::RESET_PASSWORD.replace("privateCode", &code)).await;
        assert!(output.contains("password has been reset"), "{output}");
        server.login("user@strapi.io", "userNewPassword").await["data"]["login"]["jwt"].as_str().expect("the new password works");
        let (status, _) = call(&server, Method::GET, "/api/users/me", Some(&token), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "the JWT from before the reset is refused");
    }

    async fn the_reference_send_email_confirmation_example_sends_the_email(backend: Backend) {
        let server = TestServer::start_with(backend, |c| c.advanced.email_confirmation = true).await;
        let output = run_example(&server, reference::REGISTER).await;
        assert!(output.contains("User token undefined"), "no JWT before confirmation: {output}");
        server.mail_to("user@strapi.io", 0).await;
        let output = run_example(&server, reference::SEND_EMAIL_CONFIRMATION).await;
        assert!(output.contains("Your user received an email"), "{output}");
        let mail = server.mail_to("user@strapi.io", 1).await;
        let code = query_param(&mail.html, "confirmation");
        let (status, _, body) = server.get(&format!("/api/auth/email-confirmation?confirmation={code}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let output = run_example(&server, reference::LOGIN).await;
        assert!(output.contains("User token ey"), "{output}");
    }

    async fn strapi_client_signs_in_over_rest_and_reads_users(backend: Backend) {
        let server = TestServer::start(backend).await;
        server.register("reader", "reader@example.com", "reader-password").await;
        let admin = server.user_with_grants("rest-admin", USER_ACTIONS).await;
        let script = format!(r#"
import {{ strapi }} from '@strapi/client';
process.on('unhandledRejection', async (e) => {{ console.log('failed:', e.name, e.response?.status, await e.response?.text()); process.exit(1); }});
const baseURL = '{url}/api';
const anonymous = strapi({{ baseURL }});
const login = await anonymous.fetch('/auth/local', {{ method: 'POST', headers: {{ 'Content-Type': 'application/json' }}, body: JSON.stringify({{ identifier: 'reader@example.com', password: 'reader-password' }}) }});
const {{ jwt, user }} = await login.json();
const client = strapi({{ baseURL, auth: jwt }});
const me = await (await client.fetch('/users/me')).json();
const admin = strapi({{ baseURL, auth: '{admin}' }});
const found = await admin.collection('users').find({{ filters: {{ username: {{ $eq: 'reader' }} }}, sort: ['username:asc'], populate: ['role'], pagination: {{ page: 1, pageSize: 5 }} }});
let refused = null;
try {{ await anonymous.fetch('/users/me'); }} catch (e) {{ refused = e.name + ' ' + e.response.status; }}
console.log(JSON.stringify({{ signedIn: user.username, me, found, refused }}));
"#, url = server.url);
        let (ok, output) = node(&server, script).await;
        assert!(ok, "{output}");
        let result: Value = serde_json::from_str(output.lines().last().unwrap()).unwrap_or_else(|_| panic!("{output}"));
        assert_eq!(result["signedIn"], "reader", "{result}");
        assert_eq!(result["me"]["username"], "reader", "{result}");
        assert_eq!(result["me"]["role"]["type"], "authenticated", "{result}");
        assert_eq!(usernames(&result["found"]), ["reader"], "{result}");
        assert_eq!(result["found"][0]["role"]["type"], "authenticated", "{result}");
        assert_eq!(result["refused"], "HTTPForbiddenError 403", "{result}");
    }

    async fn auth_routes_sign_up_in_reset_and_change_passwords(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (status, body) = call(&server, Method::POST, "/api/auth/local/register", None,
            Some(json!({ "username": "ann", "email": "Ann@Example.com", "password": "ann-password" }))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body["jwt"].is_string(), "{body}");
        assert_eq!(body["user"]["email"], "ann@example.com");
        assert_eq!(body["user"]["confirmed"], true);
        assert_eq!(body["user"]["provider"], "local");
        assert_eq!(body["user"]["role"]["type"], "authenticated", "role without role.find: {body}");
        for identifier in ["ann@example.com", "ANN@example.com", "ann"] {
            let (status, body) = call(&server, Method::POST, "/api/auth/local", None,
                Some(json!({ "identifier": identifier, "password": "ann-password" }))).await;
            assert_eq!(status, StatusCode::OK, "{identifier}: {body}");
            assert_eq!(body["user"]["username"], "ann");
        }
        let first = body["jwt"].as_str().unwrap().to_string();
        let (status, me) = call(&server, Method::GET, "/api/users/me", Some(&first), None).await;
        assert_eq!(status, StatusCode::OK, "{me}");
        assert_eq!(me["username"], "ann");
        assert_eq!(me["role"]["type"], "authenticated");
        assert!(me.get("password").is_none());

        let (status, body) = call(&server, Method::POST, "/api/auth/forgot-password", None, Some(json!({ "email": "ann@example.com" }))).await;
        assert_eq!((status, body), (StatusCode::OK, json!({ "ok": true })));
        let (status, body) = call(&server, Method::POST, "/api/auth/forgot-password", None, Some(json!({ "email": "nobody@example.com" }))).await;
        assert_eq!((status, body), (StatusCode::OK, json!({ "ok": true })), "the same answer for an unknown address");
        let code = query_param(&server.mail_to("ann@example.com", 0).await.html, "code");
        let (status, body) = call(&server, Method::POST, "/api/auth/reset-password", None,
            Some(json!({ "code": code, "password": "reset-password", "passwordConfirmation": "reset-password" }))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["user"]["username"], "ann");
        let reset = body["jwt"].as_str().unwrap().to_string();
        let (status, body) = call(&server, Method::GET, "/api/users/me", Some(&first), None).await;
        assert_envelope(status, &body, 401, "UnauthorizedError", None);
        let (status, body) = call(&server, Method::POST, "/api/auth/reset-password", None,
            Some(json!({ "code": code, "password": "again-password", "passwordConfirmation": "again-password" }))).await;
        assert_envelope(status, &body, 400, "ValidationError", Some("Incorrect code provided"));

        let (status, body) = call(&server, Method::POST, "/api/auth/change-password", Some(&reset),
            Some(json!({ "currentPassword": "reset-password", "password": "changed-password", "passwordConfirmation": "changed-password" }))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let changed = body["jwt"].as_str().unwrap().to_string();
        let (status, _) = call(&server, Method::GET, "/api/users/me", Some(&reset), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "old JWTs stop working after a change");
        let (status, me) = call(&server, Method::GET, "/api/users/me", Some(&changed), None).await;
        assert_eq!((status, me["username"].clone()), (StatusCode::OK, json!("ann")));

        let (status, body) = call(&server, Method::POST, "/api/auth/send-email-confirmation", None, Some(json!({ "email": "ann@example.com" }))).await;
        assert_eq!((status, body), (StatusCode::OK, json!({ "email": "ann@example.com", "sent": true })));
    }

    async fn registration_awaiting_confirmation_answers_without_a_jwt(backend: Backend) {
        let server = TestServer::start_with(backend, |c| c.advanced.email_confirmation = true).await;
        let (status, body) = call(&server, Method::POST, "/api/auth/local/register", None,
            Some(json!({ "username": "cat", "email": "cat@example.com", "password": "cat-password" }))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.get("jwt").is_none(), "{body}");
        assert_eq!(body["user"]["confirmed"], false);
        let (status, body) = call(&server, Method::POST, "/api/auth/local", None,
            Some(json!({ "identifier": "cat", "password": "cat-password" }))).await;
        assert_envelope(status, &body, 400, "ApplicationError", Some("Your account email is not confirmed"));
        let code = query_param(&server.mail_to("cat@example.com", 0).await.html, "confirmation");
        let (status, _, _) = server.get(&format!("/api/auth/email-confirmation?confirmation={code}")).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = call(&server, Method::POST, "/api/auth/local", None,
            Some(json!({ "identifier": "cat", "password": "cat-password" }))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    async fn auth_routes_refuse_bad_input_with_the_messages_of_their_graphql_twins(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (jwt, _) = server.register("ann", "ann@example.com", "ann-password").await;
        let cases: Vec<(&str, Option<&str>, Value, &str, &str)> = vec![
            ("/api/auth/local", None, json!({}), "ValidationError", "2 errors occurred"),
            ("/api/auth/local", None, json!({ "identifier": "ann" }), "ValidationError", "password is a required field"),
            ("/api/auth/local", None, json!({ "identifier": 5, "password": "x" }), "ValidationError", "identifier must be a `string` type"),
            ("/api/auth/local", None, json!({ "identifier": "ann", "password": "wrong-password" }), "ValidationError", "Invalid identifier or password"),
            ("/api/auth/local", None, json!({ "identifier": "nobody", "password": "wrong-password" }), "ValidationError", "Invalid identifier or password"),
            ("/api/auth/local/register", None, json!({ "username": "bo", "email": "bad", "password": "123" }), "ValidationError", "3 errors occurred"),
            ("/api/auth/local/register", None, json!({ "username": "bob", "email": "bob@example.com", "password": "bob-password", "nickname": "b" }), "ValidationError", "Invalid parameters: nickname"),
            ("/api/auth/local/register", None, json!({ "username": "ann", "email": "ann@example.com", "password": "ann-password" }), "ApplicationError", "Email or Username are already taken"),
            ("/api/auth/forgot-password", None, json!({ "email": "not-an-email" }), "ValidationError", "email must be a valid email"),
            ("/api/auth/forgot-password", None, json!({}), "ValidationError", "email must be a valid email"),
            ("/api/auth/reset-password", None, json!({ "code": "x", "password": "abcdef1", "passwordConfirmation": "abcdef2" }), "ValidationError", "Passwords do not match"),
            ("/api/auth/reset-password", None, json!({ "code": "x", "password": "abc", "passwordConfirmation": "abc" }), "ValidationError", "password must be at least 6 characters"),
            ("/api/auth/reset-password", None, json!({ "code": "unknown", "password": "abcdef1", "passwordConfirmation": "abcdef1" }), "ValidationError", "Incorrect code provided"),
            ("/api/auth/change-password", Some(&jwt), json!({ "currentPassword": "wrong-password", "password": "new-password", "passwordConfirmation": "new-password" }), "ValidationError", "The provided current password is invalid"),
            ("/api/auth/change-password", Some(&jwt), json!({ "currentPassword": "ann-password", "password": "ann-password", "passwordConfirmation": "ann-password" }), "ValidationError", "Your new password must be different than your current password"),
            ("/api/auth/change-password", Some(&jwt), json!({ "currentPassword": "ann-password", "password": "new-password", "passwordConfirmation": "other-password" }), "ValidationError", "Passwords do not match"),
            ("/api/auth/send-email-confirmation", None, json!({ "email": "bad" }), "ValidationError", "email must be a valid email"),
        ];
        for (path, bearer, input, name, message) in cases {
            let (status, body) = call(&server, Method::POST, path, bearer, Some(input.clone())).await;
            assert_envelope(status, &body, 400, name, Some(message));
            assert!(!body.to_string().contains("\"123\""), "a password is never echoed: {body}");
        }
        let (_, body) = call(&server, Method::POST, "/api/auth/local/register", None,
            Some(json!({ "username": "bo", "email": "bad", "password": "123" }))).await;
        let paths: Vec<Value> = body["error"]["details"]["errors"].as_array().unwrap().iter().map(|e| e["path"].clone()).collect();
        assert_eq!(paths, [json!(["username"]), json!(["email"]), json!(["password"])], "{body}");
        assert_eq!(body["error"]["details"]["errors"][2]["value"], Value::Null, "{body}");

        // The GraphQL twins say the same.
        let twins = [
            ("mutation { login(input: { identifier: \"ann\", password: \"wrong-password\" }) { jwt } }", "Invalid identifier or password"),
            ("mutation { register(input: { username: \"bob\", email: \"bob@example.com\", password: \"bob-password\", attributes: { nickname: \"b\" } }) { jwt } }", "Invalid parameters: nickname"),
            ("mutation { resetPassword(code: \"x\", password: \"abcdef1\", passwordConfirmation: \"abcdef2\") { jwt } }", "Passwords do not match"),
            ("mutation { forgotPassword(email: \"not-an-email\") { ok } }", "email must be a valid email"),
        ];
        for (query, message) in twins {
            let body = server.gql(query, json!({})).await;
            assert_eq!(error_message(&body), message, "{query}");
        }

        // Bodies that are not a JSON object.
        let post = |body: &'static str, content_type: &'static str| {
            server.client.post(format!("{}/api/auth/local", server.url)).header("content-type", content_type).body(body).send()
        };
        let (status, body) = scanned(&server, post("identifier=ann&password=x", "application/x-www-form-urlencoded").await.unwrap()).await;
        assert_envelope(status, &body, 400, "BadRequestError", None);
        let (status, body) = scanned(&server, post("{not json", "application/json").await.unwrap()).await;
        assert_envelope(status, &body, 400, "ValidationError", None);
        let (status, body) = scanned(&server, post("[1, 2]", "application/json").await.unwrap()).await;
        assert_envelope(status, &body, 400, "ValidationError", Some("The request body must be a JSON object"));
        let big = json!({ "identifier": "ann", "password": "x".repeat(2 * 1024 * 1024) });
        let (status, body) = call(&server, Method::POST, "/api/auth/local", None, Some(big)).await;
        assert_envelope(status, &body, 413, "PayloadTooLargeError", None);
    }

    async fn every_route_refuses_unusable_tokens_with_401(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (jwt, user) = server.register("tok", "tok@example.com", "tok-password").await;
        let authenticated = server.conn_role("authenticated").await;
        for (method, path, _, body) in routes(user_id(&user), authenticated.id) {
            let (status, answer) = call(&server, method, &path, Some("garbage"), (!body.is_null()).then_some(body)).await;
            assert_envelope(status, &answer, 401, "UnauthorizedError", Some("Missing or invalid credentials"));
        }
        // Every kind of bad token, on one route.
        let (header, rest) = jwt.split_once('.').unwrap();
        let (payload, signature) = rest.split_once('.').unwrap();
        let first = if signature.starts_with('A') { "B" } else { "A" };
        let resigned = format!("{header}.{payload}.{first}{}", &signature[1..]);
        let unsigned = format!("{}.{payload}.", crate::support::base64url(br#"{"alg":"none","typ":"JWT"}"#));
        for authorization in ["Bearer garbage".to_string(), "Bearer a.b.c".into(), format!("Bearer {resigned}"), format!("Bearer {unsigned}"), "Bearer ".into(), format!("Basic {jwt}")] {
            let response = server.client.get(format!("{}/api/users/me", server.url)).header("authorization", &authorization).send().await.unwrap();
            let (status, body) = scanned(&server, response).await;
            assert_envelope(status, &body, 401, "UnauthorizedError", None);
        }
        // The token of a user who changed their password, then of one who is blocked, then gone.
        let (status, body) = call(&server, Method::POST, "/api/auth/change-password", Some(&jwt),
            Some(json!({ "currentPassword": "tok-password", "password": "tok-password-2", "passwordConfirmation": "tok-password-2" }))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = call(&server, Method::GET, "/api/users/me", Some(&jwt), None).await;
        assert_envelope(status, &body, 401, "UnauthorizedError", None);
        let fresh = body_jwt(&server, "tok", "tok-password-2").await;
        server.sql(&format!("UPDATE up_users SET blocked = true WHERE id = {}", user_id(&user))).await;
        server.app.changed(castellan::changes::Change::User(user_id(&user))).await.unwrap();
        let (status, body) = call(&server, Method::GET, "/api/users/me", Some(&fresh), None).await;
        assert_envelope(status, &body, 401, "UnauthorizedError", None);
        server.sql(&format!("DELETE FROM up_users WHERE id = {}", user_id(&user))).await;
        server.app.changed(castellan::changes::Change::User(user_id(&user))).await.unwrap();
        let (status, body) = call(&server, Method::GET, "/api/users/me", Some(&fresh), None).await;
        assert_envelope(status, &body, 401, "UnauthorizedError", None);
    }

    async fn every_route_is_refused_to_a_role_without_its_action(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (nobody, who) = server.register("nobody", "nobody@example.com", "nobody-password").await;
        let empty = server.create_role("nobody").await;
        server.set_role(user_id(&who), empty.id).await;
        let (_, user) = server.register("victim", "victim@example.com", "victim-password").await;
        let authenticated = server.conn_role("authenticated").await;
        for (method, path, action, body) in routes(user_id(&user), authenticated.id) {
            let (status, answer) = call(&server, method, &path, Some(&nobody), (!body.is_null()).then_some(body)).await;
            assert_envelope(status, &answer, 403, "ForbiddenError", Some("Forbidden access"));
            assert_eq!(answer["error"]["details"]["action"], action, "{path}: {answer}");
        }
        // The public role lacks the user routes by default.
        let (status, body) = call(&server, Method::GET, "/api/users", None, None).await;
        assert_envelope(status, &body, 403, "ForbiddenError", None);
        assert_eq!(body["error"]["details"]["role"], "public", "{body}");
    }

    async fn unknown_paths_methods_limits_and_faults_answer_strapis_envelope(backend: Backend) {
        let server = TestServer::start_with(backend, |c| {
            c.rate_limit.enabled = true;
            c.rate_limit.max_per_address = 2;
            c.rate_limit.max_per_identifier = 100;
        }).await;
        for path in ["/api/nothing-here", "/api", "/api/users/1/extra"] {
            let (status, _, body) = server.rest(Method::GET, path, None, None).await;
            assert_eq!(body, json!({ "data": null, "error": { "status": 404, "name": "NotFoundError", "message": "Not Found", "details": {} } }), "{path}: {status}");
        }
        let (status, _, text) = server.get("/nothing-here").await;
        assert_eq!((status, text.as_str()), (StatusCode::NOT_FOUND, ""), "outside /api, a bare 404");
        let (status, headers, body) = server.rest(Method::DELETE, "/api/auth/local", None, None).await;
        assert_envelope(status, &body, 405, "MethodNotAllowedError", Some("Method Not Allowed"));
        assert!(headers.get("allow").is_some(), "{headers:?}");
        let login = json!({ "identifier": "ann", "password": "wrong-password" });
        for _ in 0..2 {
            let (status, body) = call(&server, Method::POST, "/api/auth/local", None, Some(login.clone())).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        }
        let (status, headers, body) = server.rest(Method::POST, "/api/auth/local", None, Some(&login)).await;
        assert_envelope(status, &body, 429, "RateLimitError", Some("Too many requests, please try again later."));
        assert!(headers.get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok()).is_some(), "{headers:?}");
        // A fault of the database: a 500 that tells nothing of it.
        server.sql("ALTER TABLE up_users RENAME TO up_users_gone").await;
        let (status, body) = call(&server, Method::POST, "/api/auth/forgot-password", None, Some(json!({ "email": "a@example.com" }))).await;
        assert_eq!(status, StatusCode::OK, "the lookup happens after the answer: {body}");
        let (status, body) = call(&server, Method::POST, "/api/auth/local/register", None,
            Some(json!({ "username": "fault", "email": "fault@example.com", "password": "fault-password" }))).await;
        assert_envelope(status, &body, 500, "InternalServerError", Some("Internal Server Error"));
        assert!(!body.to_string().contains("up_users"), "{body}");
        server.sql("ALTER TABLE up_users_gone RENAME TO up_users").await;
    }
}

async fn body_jwt(server: &TestServer, identifier: &str, password: &str) -> String {
    let (status, body) = call(server, Method::POST, "/api/auth/local", None,
        Some(json!({ "identifier": identifier, "password": password }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["jwt"].as_str().unwrap().to_string()
}

/// An administrator holding every user and role action, and users alice, bob (blocked), carol
/// and dave (both editors): their JWT and the ids by name.
async fn population(server: &TestServer) -> (String, std::collections::HashMap<String, Value>) {
    let admin = server.user_with_grants("rest-admin", USER_ACTIONS).await;
    let authenticated = server.conn_role("authenticated").await;
    let editor = server.create_role("editor").await;
    let mut ids = std::collections::HashMap::new();
    for (name, email, confirmed, blocked, role) in [
        ("alice", "alice@example.com", true, false, authenticated.id),
        ("bob", "bob@test.org", false, true, authenticated.id),
        ("carol", "Carol@Example.com", true, false, editor.id),
        ("dave", "dave@test.org", false, false, editor.id),
    ] {
        let (status, body) = call(server, Method::POST, "/api/users", Some(&admin), Some(json!({
            "username": name, "email": email, "password": format!("{name}-password"),
            "confirmed": confirmed, "blocked": blocked, "role": role,
        }))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["role"]["id"], role, "{body}");
        ids.insert(name.to_string(), body);
    }
    (admin, ids)
}

both_backends! {
    async fn qs_filters_apply_every_operator_and_their_combinations(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (admin, users) = population(&server).await;
        let id = |name: &str| users[name]["id"].as_i64().unwrap();
        let doc = |name: &str| users[name]["documentId"].as_str().unwrap().to_string();
        let all = ["alice", "bob", "carol", "dave", "rest-admin"];
        let cases: Vec<(String, Vec<&str>)> = vec![
            ("filters[username][$eq]=alice".into(), vec!["alice"]),
            ("filters[username][$eqi]=ALICE".into(), vec!["alice"]),
            ("filters[username][$ne]=alice".into(), vec!["bob", "carol", "dave", "rest-admin"]),
            ("filters[username][$nei]=ALICE".into(), vec!["bob", "carol", "dave", "rest-admin"]),
            ("filters[username][$startsWith]=ca".into(), vec!["carol"]),
            ("filters[username][$endsWith]=e".into(), vec!["alice", "dave"]),
            ("filters[email][$contains]=example".into(), vec!["alice", "carol", "rest-admin"]),
            ("filters[email][$notContains]=example".into(), vec!["bob", "dave"]),
            ("filters[email][$containsi]=EXAMPLE".into(), vec!["alice", "carol", "rest-admin"]),
            ("filters[email][$notContainsi]=EXAMPLE".into(), vec!["bob", "dave"]),
            (format!("filters[id][$gt]={}", id("carol")), vec!["dave"]),
            (format!("filters[id][$gte]={}", id("carol")), vec!["carol", "dave"]),
            (format!("filters[id][$lt]={}", id("bob")), vec!["alice", "rest-admin"]),
            (format!("filters[id][$lte]={}", id("bob")), vec!["alice", "bob", "rest-admin"]),
            ("filters[confirmed][$eq]=true".into(), vec!["alice", "carol", "rest-admin"]),
            ("filters[blocked][$eq]=true".into(), vec!["bob"]),
            ("filters[provider][$null]=true".into(), vec![]),
            ("filters[provider][$notNull]=true".into(), all.to_vec()),
            (format!("filters[id][$in][0]={}&filters[id][$in][1]={}", id("alice"), id("dave")), vec!["alice", "dave"]),
            (format!("filters[id][$notIn][0]={}&filters[id][$notIn][1]={}", id("alice"), id("dave")), vec!["bob", "carol", "rest-admin"]),
            (format!("filters[id][$between][0]={}&filters[id][$between][1]={}", id("bob"), id("dave")), vec!["bob", "carol", "dave"]),
            ("filters[username][$and][0]=alice".into(), vec!["alice"]),
            ("filters[username][$or][0]=alice&filters[username][$or][1]=bob".into(), vec!["alice", "bob"]),
            ("filters[username][$not][$eq]=alice".into(), vec!["bob", "carol", "dave", "rest-admin"]),
            ("filters[createdAt][$lte]=2099-01-01T00:00:00Z".into(), all.to_vec()),
            ("filters[createdAt][$gt]=2099-01-01T00:00:00Z".into(), vec![]),
            ("filters[updatedAt][$gte]=2000-01-01T00:00:00Z".into(), all.to_vec()),
            (format!("filters[documentId][$eq]={}", doc("alice")), vec!["alice"]),
            ("filters[role][type][$eq]=editor".into(), vec!["carol", "dave"]),
            ("filters[role][name][$containsi]=EDIT".into(), vec!["carol", "dave"]),
            ("filters[role][$not][type][$in][0]=editor&filters[role][$not][type][$in][1]=rest-admin".into(), vec!["alice", "bob"]),
            ("filters[$or][0][username][$eq]=alice&filters[$or][1][$and][0][role][type][$eq]=editor&filters[$or][1][$and][1][confirmed][$eq]=false".into(), vec!["alice", "dave"]),
            ("filters[$not][role][type][$eq]=authenticated".into(), vec!["carol", "dave", "rest-admin"]),
            ("filters[$and][0][email][$endsWith]=example.com&filters[$and][1][$not][username][$eq]=alice".into(), vec!["carol", "rest-admin"]),
            // Brackets percent-encoded, as `qs.stringify` writes them by default.
            ("filters%5Busername%5D%5B%24eq%5D=alice".into(), vec!["alice"]),
        ];
        for (query, expected) in cases {
            let (status, body) = call(&server, Method::GET, &format!("/api/users?{query}&sort=username:asc"), Some(&admin), None).await;
            assert_eq!(status, StatusCode::OK, "{query}: {body}");
            assert_eq!(usernames(&body), expected, "{query}");
            let (status, count) = call(&server, Method::GET, &format!("/api/users/count?{query}"), Some(&admin), None).await;
            assert_eq!((status, count), (StatusCode::OK, json!(expected.len())), "{query}");
        }
        // Unknown fields, private fields, unknown operators and malformed values: 400.
        for query in ["filters[password][$eq]=x", "filters[resetPasswordToken][$null]=false", "filters[username][$regex]=a",
                      "filters[confirmed][$eq]=maybe", "filters[createdAt][$gt]=yesterday", "filters[id][$between][0]=1", "unknown=1",
                      "filters[role][users][id][$eq]=1"] {
            let (status, body) = call(&server, Method::GET, &format!("/api/users?{query}"), Some(&admin), None).await;
            assert_envelope(status, &body, 400, "ValidationError", None);
        }
    }

    async fn pagination_sort_fields_and_populate_follow_strapi(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (admin, users) = population(&server).await;
        let get = |query: &str| {
            let (admin, query) = (admin.clone(), query.to_string());
            let server = &server;
            async move { call(server, Method::GET, &format!("/api/users?{query}"), Some(&admin), None).await }
        };
        let (_, body) = get("sort[0]=confirmed:desc&sort[1]=username:asc").await;
        assert_eq!(usernames(&body), ["alice", "carol", "rest-admin", "bob", "dave"]);
        let (_, body) = get("sort=confirmed:desc,username:desc").await;
        assert_eq!(usernames(&body), ["rest-admin", "carol", "alice", "dave", "bob"]);
        let (_, body) = get("sort=username:desc&pagination[page]=2&pagination[pageSize]=2").await;
        assert_eq!(usernames(&body), ["carol", "bob"]);
        let (_, body) = get("sort=username&pagination[start]=1&pagination[limit]=2").await;
        assert_eq!(usernames(&body), ["bob", "carol"]);
        let (_, body) = get("sort=username&pagination[page]=3&pagination[pageSize]=2&pagination[withCount]=true").await;
        assert_eq!(usernames(&body), ["rest-admin"]);
        for (query, message) in [
            ("pagination[page]=1&pagination[start]=0", "Cannot use both page & start pagination in the same query"),
            ("pagination[pageSize]=0", "pageSize must be at least 1"),
            ("sort=password", "Cannot sort by `password`: sortable fields are id, documentId, username, email, provider, confirmed, blocked, createdAt, updatedAt, publishedAt"),
            ("sort=username:sideways", "Invalid sort order `sideways` for `username`: use asc or desc"),
            ("fields[0]=password", "Invalid key password in fields"),
            ("populate=password", "Invalid key password in populate: a user can populate `role` (or `*`)"),
        ] {
            let (status, body) = get(query).await;
            assert_envelope(status, &body, 400, "ValidationError", Some(message));
        }
        // Without populate, no role; `fields` keeps id and documentId.
        let (_, body) = get("filters[username][$eq]=alice").await;
        assert!(body[0].get("role").is_none(), "{body}");
        assert_eq!(body[0]["email"], "alice@example.com");
        for populate in ["populate=role", "populate=*", "populate[0]=role", "populate[role]=true"] {
            let (_, body) = get(&format!("filters[username][$eq]=carol&{populate}")).await;
            assert_eq!(body[0]["role"]["type"], "editor", "{populate}: {body}");
        }
        let (_, body) = get("filters[username][$eq]=alice&fields[0]=username&fields[1]=confirmed").await;
        let keys: Vec<&String> = body[0].as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 4, "{body}");
        assert_eq!(body[0]["id"], users["alice"]["id"]);
        assert_eq!(body[0]["confirmed"], true);
        let (_, body) = get("filters[username][$eq]=alice&fields=email").await;
        assert_eq!(body[0].as_object().unwrap().len(), 3, "{body}");
    }

    async fn one_user_routes_find_create_update_and_delete(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (admin, users) = population(&server).await;
        let alice = users["alice"]["id"].as_i64().unwrap();
        let alice_doc = users["alice"]["documentId"].as_str().unwrap();
        for id in [alice.to_string(), alice_doc.to_string()] {
            let (status, body) = call(&server, Method::GET, &format!("/api/users/{id}?populate=role"), Some(&admin), None).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["username"], "alice");
            assert_eq!(body["role"]["type"], "authenticated");
        }
        let (status, body) = call(&server, Method::GET, "/api/users/999999", Some(&admin), None).await;
        assert_envelope(status, &body, 404, "NotFoundError", Some("User not found"));
        let (status, body) = call(&server, Method::PUT, &format!("/api/users/{alice}"), Some(&admin), Some(json!({ "username": "alice2", "blocked": true }))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!((body["username"].clone(), body["blocked"].clone()), (json!("alice2"), json!(true)));
        let (status, body) = call(&server, Method::PUT, "/api/users/999999", Some(&admin), Some(json!({ "username": "x-user" }))).await;
        assert_envelope(status, &body, 404, "NotFoundError", Some("User not found"));
        let (status, body) = call(&server, Method::DELETE, &format!("/api/users/{alice}"), Some(&admin), None).await;
        assert_eq!((status, body["username"].clone()), (StatusCode::OK, json!("alice2")));
        let (status, _) = call(&server, Method::GET, &format!("/api/users/{alice}"), Some(&admin), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = call(&server, Method::DELETE, &format!("/api/users/{alice}"), Some(&admin), None).await;
        assert_envelope(status, &body, 404, "NotFoundError", None);

        // Validation errors of a new user, without echoing its password.
        let (status, body) = call(&server, Method::POST, "/api/users", Some(&admin), Some(json!({ "username": "x", "password": "123" }))).await;
        assert_envelope(status, &body, 400, "ValidationError", Some("4 errors occurred"));
        let paths: Vec<Value> = body["error"]["details"]["errors"].as_array().unwrap().iter().map(|e| e["path"][0].clone()).collect();
        assert_eq!(paths, ["email", "role", "username", "password"]);
        assert!(!body.to_string().contains("\"123\""), "{body}");
        for (input, message) in [
            (json!({ "username": "eve", "email": "eve@example.com", "password": "eve-password", "role": 1, "isAdmin": true }), "Invalid parameters: isAdmin"),
            (json!({ "username": 5 }), "username must be a `string` type"),
            (json!({ "username": "eve", "email": "eve@example.com", "password": "eve-password", "role": "no-such-role" }), "role `no-such-role` does not exist"),
        ] {
            let (status, body) = call(&server, Method::POST, "/api/users", Some(&admin), Some(input.clone())).await;
            assert_envelope(status, &body, 400, "ValidationError", Some(message));
        }
        let (status, body) = call(&server, Method::POST, "/api/users", Some(&admin), Some(json!({ "username": "eve", "email": "bob@test.org", "password": "eve-password", "role": 1 }))).await;
        assert_envelope(status, &body, 400, "ApplicationError", Some("Email already taken"));
        // A taken username is an ApplicationError too, as Strapi answers it.
        let (status, body) = call(&server, Method::POST, "/api/users", Some(&admin), Some(json!({ "username": "bob", "email": "bob2@example.com", "password": "bob-password", "role": 1 }))).await;
        assert_envelope(status, &body, 400, "ApplicationError", Some("This attribute must be unique"));
    }

    async fn conditions_and_field_grants_apply_on_users_as_on_graphql(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (admin, users) = population(&server).await;
        server.create_role("self-service").await;
        let role_update = "mutation($id: ID!, $data: UsersPermissionsRoleInput!) { updateUsersPermissionsRole(id: $id, data: $data) { ok } }";
        let set = |role: i32, grants: Value| {
            let admin = admin.clone();
            let server = &server;
            async move {
                let body = server.gql_as(&admin, role_update, json!({ "id": role.to_string(), "data": { "grants": grants } })).await;
                assert!(body.get("errors").is_none(), "{body}");
            }
        };
        let self_service = server.conn_role("self-service").await;
        set(self_service.id, json!([
            { "action": "plugin::users-permissions.user.find", "conditions": ["is-self"] },
            { "action": "plugin::users-permissions.user.findOne", "conditions": ["is-self"] },
            { "action": "plugin::users-permissions.user.count", "conditions": ["is-self"] },
            { "action": "plugin::users-permissions.user.update", "conditions": ["is-self"], "fields": ["username"] },
            { "action": "plugin::users-permissions.user.destroy", "conditions": ["is-self"] },
        ])).await;
        let (jwt, me) = server.register("selfie", "selfie@example.com", "selfie-password").await;
        server.set_role(user_id(&me), self_service.id).await;
        let me = user_id(&me);
        let (_, body) = call(&server, Method::GET, "/api/users?sort=username", Some(&jwt), None).await;
        assert_eq!(usernames(&body), ["selfie"], "the list is filtered in SQL by the condition");
        let (_, body) = call(&server, Method::GET, "/api/users?pagination[pageSize]=1&pagination[page]=1&filters[username][$ne]=zzz", Some(&jwt), None).await;
        assert_eq!(usernames(&body), ["selfie"], "a page counts only reachable users");
        let (_, count) = call(&server, Method::GET, "/api/users/count", Some(&jwt), None).await;
        assert_eq!(count, json!(1), "the total is counted within the grant");
        let alice = users["alice"]["id"].as_i64().unwrap();
        for (method, path, body) in [
            (Method::GET, format!("/api/users/{alice}"), None),
            (Method::PUT, format!("/api/users/{alice}"), Some(json!({ "username": "hijacked" }))),
            (Method::DELETE, format!("/api/users/{alice}"), None),
        ] {
            let (status, answer) = call(&server, method, &path, Some(&jwt), body).await;
            assert_envelope(status, &answer, 403, "ForbiddenError", None);
            assert_eq!(answer["error"]["details"]["reason"], "the entity is outside the conditions of the grant", "{answer}");
        }
        let (status, body) = call(&server, Method::PUT, &format!("/api/users/{me}"), Some(&jwt), Some(json!({ "role": 1 }))).await;
        assert_envelope(status, &body, 403, "ForbiddenError", None);
        assert_eq!(body["error"]["details"]["field"], "role", "{body}");
        let (status, body) = call(&server, Method::PUT, &format!("/api/users/{me}"), Some(&jwt), Some(json!({ "username": "selfie2" }))).await;
        assert_eq!((status, body["username"].clone()), (StatusCode::OK, json!("selfie2")), "{body}");
        assert!(body.get("email").is_none(), "a field outside the grant is left out: {body}");

        // A grant limited to some fields: the others are absent, and cannot be probed.
        server.create_role("directory").await;
        let directory = server.conn_role("directory").await;
        set(directory.id, json!([{ "action": "plugin::users-permissions.user.find", "fields": ["username"] }])).await;
        let (_, who) = server.register("lookup", "lookup@example.com", "lookup-password").await;
        server.set_role(user_id(&who), directory.id).await;
        let jwt = body_jwt(&server, "lookup", "lookup-password").await;
        let (status, body) = call(&server, Method::GET, "/api/users?sort=username&populate=role", Some(&jwt), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for user in body.as_array().unwrap() {
            let mut keys: Vec<&str> = user.as_object().unwrap().keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(keys, ["documentId", "id", "username"], "{user}");
        }
        for query in ["filters[email][$startsWith]=a", "sort=email", "filters[role][type][$eq]=editor", "filters[$or][0][confirmed][$eq]=true"] {
            let (status, body) = call(&server, Method::GET, &format!("/api/users?{query}"), Some(&jwt), None).await;
            assert_envelope(status, &body, 403, "ForbiddenError", None);
            assert_eq!(body["error"]["details"]["reason"], "the grant does not reach this field", "{query}: {body}");
        }
    }

    async fn sql_injection_through_every_filter_parameter_matches_nothing(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (admin, _) = population(&server).await;
        let fields = ["id", "documentId", "username", "email", "provider", "confirmed", "blocked", "createdAt", "updatedAt",
                      "role][id", "role][documentId", "role][name", "role][description", "role][type", "role][createdAt"];
        let positive = ["$eq", "$eqi", "$startsWith", "$endsWith", "$contains", "$containsi", "$in][0"];
        let others = ["$ne", "$nei", "$notContains", "$notContainsi", "$gt", "$gte", "$lt", "$lte", "$notIn][0", "$null", "$notNull"];
        let payloads = ["' OR '1'='1", "1 OR 1=1; DROP TABLE up_users; --", "\") OR 1=1 --"];
        let encode = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
        for field in fields {
            for op in positive.iter().chain(&others) {
                for payload in payloads {
                    let query = format!("filters[{field}][{op}]={}", encode(payload));
                    let (status, body) = call(&server, Method::GET, &format!("/api/users?{query}"), Some(&admin), None).await;
                    assert!(status == StatusCode::OK || status == StatusCode::BAD_REQUEST, "{query}: {status} {body}");
                    if status == StatusCode::OK && positive.contains(op) {
                        assert_eq!(body, json!([]), "{query}");
                    }
                }
            }
            let query = format!("filters[{field}][$between][0]={}&filters[{field}][$between][1]={}", encode(payloads[0]), encode(payloads[1]));
            let (status, _) = call(&server, Method::GET, &format!("/api/users/count?{query}"), Some(&admin), None).await;
            assert!(status == StatusCode::OK || status == StatusCode::BAD_REQUEST, "{query}");
        }
        // In the keys: refused before any SQL.
        for key in ["filters[username) OR 1=1 --][$eq]=x", "filters[username][$eq) OR (1=1]=x", "sort=username;DROP TABLE up_users", "sort=(SELECT 1)"] {
            let (status, body) = call(&server, Method::GET, &format!("/api/users?{key}"), Some(&admin), None).await;
            assert_envelope(status, &body, 400, "ValidationError", None);
        }
        let (status, count) = call(&server, Method::GET, "/api/users/count", Some(&admin), None).await;
        assert_eq!((status, count), (StatusCode::OK, json!(5)), "every user is still there");
    }
}

/// The permissions tree's entry for `action`.
fn entry<'a>(tree: &'a Value, action: &str) -> &'a Value {
    let (namespace, rest) = action.split_once('.').unwrap();
    let api = namespace.split_once("::").unwrap().1;
    let (controller, name) = rest.rsplit_once('.').unwrap_or((api, rest));
    &tree[namespace]["controllers"][controller][name]
}

fn grants(server: &TestServer, role_id: i32) -> Vec<(String, Vec<String>, Option<Vec<String>>)> {
    let mut out: Vec<_> = server
        .app
        .policy
        .grants_of(role_id)
        .iter()
        .map(|g| (g.action.clone(), g.conditions.clone(), g.fields.clone()))
        .collect();
    out.sort();
    out
}

both_backends! {
    async fn roles_and_the_permissions_tree_round_trip(backend: Backend) {
        let server = TestServer::start_built(backend, |_| {}, crate::extension::progress::builder).await;
        let admin = server.user_with_grants("rest-admin", USER_ACTIONS).await;
        server.create_role("editor").await;
        let editor = server.conn_role("editor").await;
        let body = server.gql_as(&admin, "mutation($id: ID!, $data: UsersPermissionsRoleInput!) { updateUsersPermissionsRole(id: $id, data: $data) { ok } }",
            json!({ "id": editor.id.to_string(), "data": { "grants": [
                { "action": "plugin::users-permissions.user.find", "conditions": ["is-self"], "fields": ["username", "email"] },
                { "action": "plugin::users-permissions.user.me" },
                { "action": "api::member-progress.get" },
            ] } })).await;
        assert!(body.get("errors").is_none(), "{body}");

        let (status, body) = call(&server, Method::GET, "/api/users-permissions/roles", Some(&admin), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let roles = body["roles"].as_array().unwrap();
        let types: Vec<&str> = roles.iter().map(|r| r["type"].as_str().unwrap()).collect();
        for expected in ["authenticated", "public", "editor", "rest-admin"] {
            assert!(types.contains(&expected), "{expected}: {body}");
        }
        let admin_role = roles.iter().find(|r| r["type"] == "rest-admin").unwrap();
        assert_eq!(admin_role["nb_users"], 1, "{body}");

        let path = format!("/api/users-permissions/roles/{}", editor.id);
        let (status, body) = call(&server, Method::GET, &path, Some(&admin), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let role = body["role"].clone();
        assert_eq!(role["type"], "editor");
        let tree = &role["permissions"];
        assert_eq!(entry(tree, "plugin::users-permissions.user.me"), &json!({ "enabled": true, "policy": "" }));
        assert_eq!(entry(tree, "plugin::users-permissions.user.count"), &json!({ "enabled": false, "policy": "" }));
        assert_eq!(entry(tree, "plugin::users-permissions.permissions.getPermissions")["enabled"], false);
        assert_eq!(tree["api::member-progress"]["controllers"]["member-progress"]["get"]["enabled"], true, "a library route's action: {tree}");

        // Written back as read: nothing changes, conditions and fields included.
        let before = grants(&server, editor.id);
        let (status, body) = call(&server, Method::PUT, &path, Some(&admin), Some(role.clone())).await;
        assert_eq!((status, body), (StatusCode::OK, json!({ "ok": true })));
        assert_eq!(grants(&server, editor.id), before);
        // One action off: exactly that grant goes.
        let mut changed = role.clone();
        changed["permissions"]["plugin::users-permissions"]["controllers"]["user"]["me"]["enabled"] = json!(false);
        let (status, _) = call(&server, Method::PUT, &path, Some(&admin), Some(changed)).await;
        assert_eq!(status, StatusCode::OK);
        let expected: Vec<_> = before.iter().filter(|g| g.0 != "plugin::users-permissions.user.me").cloned().collect();
        assert_eq!(grants(&server, editor.id), expected);
        // One action on (a grantable one Strapi's exports carry): a grant without conditions.
        let mut changed = role.clone();
        changed["permissions"]["plugin::users-permissions"]["controllers"]["user"]["count"]["enabled"] = json!(true);
        changed["name"] = json!("Editors");
        let (status, body) = call(&server, Method::PUT, &path, Some(&admin), Some(changed)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(grants(&server, editor.id).contains(&("plugin::users-permissions.user.count".into(), vec![], None)));
        assert_eq!(server.conn_role("editor").await.name, "Editors");
        // Strapi's quirk, kept: an action missing from the tree is taken away.
        let (status, _) = call(&server, Method::PUT, &path, Some(&admin), Some(json!({ "permissions": {} }))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(grants(&server, editor.id), vec![]);
        let (status, body) = call(&server, Method::PUT, &path, Some(&admin),
            Some(json!({ "permissions": { "plugin::users-permissions": { "controllers": { "user": { "fly": { "enabled": true } } } } } }))).await;
        assert_envelope(status, &body, 400, "ValidationError", None);
        assert!(body["error"]["message"].as_str().unwrap().contains("Unknown action `plugin::users-permissions.user.fly`"), "{body}");

        // Create and delete.
        let new_role = json!({ "name": "Reviewers", "description": "They review", "permissions": {
            "plugin::users-permissions": { "controllers": { "user": { "me": { "enabled": true, "policy": "" }, "find": { "enabled": false } } } } } });
        let (status, body) = call(&server, Method::POST, "/api/users-permissions/roles", Some(&admin), Some(new_role)).await;
        assert_eq!((status, body), (StatusCode::OK, json!({ "ok": true })));
        let reviewers = server.conn_role("reviewers").await;
        assert_eq!(grants(&server, reviewers.id), vec![("plugin::users-permissions.user.me".to_string(), vec![], None)]);
        assert_eq!(reviewers.description, "They review");
        let (status, body) = call(&server, Method::POST, "/api/users-permissions/roles", Some(&admin), Some(json!({}))).await;
        assert_envelope(status, &body, 400, "ValidationError", Some("Request body cannot be empty"));
        let (status, body) = call(&server, Method::POST, "/api/users-permissions/roles", Some(&admin), Some(json!({ "name": "Reviewers" }))).await;
        assert_envelope(status, &body, 400, "ApplicationError", Some("A role with this name or type already exists"));
        let (status, body) = call(&server, Method::DELETE, &format!("/api/users-permissions/roles/{}", reviewers.id), Some(&admin), None).await;
        assert_eq!((status, body), (StatusCode::OK, json!({ "ok": true })));
        let authenticated = server.conn_role("authenticated").await;
        let (status, body) = call(&server, Method::DELETE, &format!("/api/users-permissions/roles/{}", authenticated.id), Some(&admin), None).await;
        assert_envelope(status, &body, 400, "ApplicationError", Some("Cannot delete authenticated role"));
        for method in [Method::GET, Method::PUT, Method::DELETE] {
            let body = (method == Method::PUT).then(|| json!({ "name": "x" }));
            let (status, answer) = call(&server, method, "/api/users-permissions/roles/999999", Some(&admin), body).await;
            assert_envelope(status, &answer, 404, "NotFoundError", Some("Role not found"));
        }

        // The whole tree, and the catalogue showing the REST routes bound to their actions.
        let (status, body) = call(&server, Method::GET, "/api/users-permissions/permissions", Some(&admin), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let listed = server.gql_as(&admin, "{ usersPermissionsActions { action boundTo } }", json!({})).await;
        let actions = listed["data"]["usersPermissionsActions"].as_array().unwrap();
        for action in actions {
            let name = action["action"].as_str().unwrap();
            assert_eq!(entry(&body["permissions"], name)["enabled"], false, "{name} in the tree");
        }
        let bound = |name: &str| -> Vec<String> {
            actions.iter().find(|a| a["action"] == name).unwrap_or_else(|| panic!("{name} is grantable"))["boundTo"]
                .as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
        };
        assert!(bound("plugin::users-permissions.user.me").contains(&"GET /api/users/me".to_string()));
        assert!(bound("plugin::users-permissions.auth.callback").contains(&"POST /api/auth/local".to_string()));
        assert_eq!(bound("plugin::users-permissions.user.count"), ["GET /api/users/count"]);
        assert_eq!(bound("plugin::users-permissions.permissions.getPermissions"), ["GET /api/users-permissions/permissions"]);
        assert!(bound("plugin::users-permissions.role.updateRole").contains(&"PUT /api/users-permissions/roles/:id".to_string()));
    }
}
