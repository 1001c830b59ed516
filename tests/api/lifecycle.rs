//! The life of an account: settings, email confirmation, password reset and change, templates.

use std::time::Duration;

use castellan::mail::MailTransport;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::peers::MailDev;
use crate::support::{TestServer, error_code, error_message, query_param};

const SETTINGS_ACTIONS: &[&str] = &[
    "plugin::users-permissions.advanced-settings.read",
    "plugin::users-permissions.advanced-settings.update",
    "plugin::users-permissions.email-templates.read",
    "plugin::users-permissions.email-templates.update",
];

const UPDATE_SETTINGS: &str = "mutation($data: UsersPermissionsAdvancedSettingsInput!) {
    updateUsersPermissionsAdvancedSettings(data: $data) {
        defaultRole uniqueEmail allowRegister emailConfirmation emailResetPassword emailConfirmationRedirection } }";
const REGISTER: &str = "mutation($input: UsersPermissionsRegisterInput!) { register(input: $input) { jwt user { id username confirmed role { type } attributes } } }";
const FORGOT: &str = "mutation($email: String!) { forgotPassword(email: $email) { ok } }";
const RESET: &str = "mutation($p: String!, $c: String!, $code: String!) { resetPassword(password: $p, passwordConfirmation: $c, code: $code) { jwt user { username } } }";
const CHANGE: &str = "mutation($cur: String!, $p: String!, $c: String!) { changePassword(currentPassword: $cur, password: $p, passwordConfirmation: $c) { jwt user { username } } }";
const CONFIRM: &str = "mutation($code: String!) { emailConfirmation(confirmation: $code) { jwt user { username confirmed } } }";
const RESEND: &str = "mutation($email: String!) { sendEmailConfirmation(email: $email) { ok } }";
const UPDATE_TEMPLATE: &str = "mutation($t: UsersPermissionsEmailTemplateName!, $data: UsersPermissionsEmailTemplateInput!) {
    updateUsersPermissionsEmailTemplate(template: $t, data: $data) { template subject message shipperName shipperEmail responseEmail } }";

async fn admin(server: &TestServer) -> String {
    server
        .user_with_grants("settings-admin", SETTINGS_ACTIONS)
        .await
}

async fn set(server: &TestServer, admin: &str, data: Value) -> Value {
    let body = server
        .gql_as(admin, UPDATE_SETTINGS, json!({ "data": data }))
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["updateUsersPermissionsAdvancedSettings"].clone()
}

fn registration(username: &str, email: &str) -> Value {
    json!({ "input": { "username": username, "email": email, "password": "first-password" } })
}

both_backends! {
    async fn advanced_settings_are_read_and_changed_by_holders_of_the_actions(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (user_jwt, _) = server.register("plain", "plain@example.com", "password1").await;
        let body = server.gql_as(&user_jwt, "{ usersPermissionsAdvancedSettings { allowRegister } }", json!({})).await;
        assert_eq!(error_code(&body), "FORBIDDEN");
        assert_eq!(body["errors"][0]["extensions"]["error"]["details"]["action"], "plugin::users-permissions.advanced-settings.read");

        let admin = admin(&server).await;
        let body = server
            .gql_as(&admin, "{ usersPermissionsAdvancedSettings { defaultRole uniqueEmail allowRegister emailConfirmation emailResetPassword emailConfirmationRedirection } }", json!({}))
            .await;
        assert_eq!(
            body["data"]["usersPermissionsAdvancedSettings"],
            json!({ "defaultRole": "authenticated", "uniqueEmail": true, "allowRegister": true, "emailConfirmation": false,
                    "emailResetPassword": null, "emailConfirmationRedirection": null })
        );
        let changed = set(&server, &admin, json!({ "emailResetPassword": "https://app.example.com/reset" })).await;
        assert_eq!(changed["emailResetPassword"], "https://app.example.com/reset");
        assert_eq!(changed["allowRegister"], true, "omitted settings keep their value");

        for (data, message) in [
            (json!({ "defaultRole": "no-such-role" }), "defaultRole must be the type of an existing role other than public, got `no-such-role`"),
            (json!({ "defaultRole": "public" }), "defaultRole must be the type of an existing role other than public, got `public`"),
            (json!({ "emailConfirmationRedirection": "javascript:alert(1)" }), "emailConfirmationRedirection must be an absolute http(s) URL"),
        ] {
            let body = server.gql_as(&admin, UPDATE_SETTINGS, json!({ "data": data })).await;
            assert_eq!(error_message(&body), message);
            assert_eq!(error_code(&body), "BAD_USER_INPUT");
        }
    }

    async fn sign_ups_can_be_closed(backend: Backend) {
        let server = TestServer::start(backend).await;
        let admin = admin(&server).await;
        set(&server, &admin, json!({ "allowRegister": false })).await;
        let body = server.gql(REGISTER, registration("late", "late@example.com")).await;
        assert_eq!(error_message(&body), "Register action is currently disabled");
        assert_eq!(error_code(&body), "STRAPI_APPLICATION_ERROR");
        set(&server, &admin, json!({ "allowRegister": true })).await;
        let body = server.gql(REGISTER, registration("late", "late@example.com")).await;
        assert!(body.get("errors").is_none(), "{body}");
    }

    async fn new_users_get_the_default_role(backend: Backend) {
        let server = TestServer::start(backend).await;
        let admin = admin(&server).await;
        server.create_role("member").await;
        set(&server, &admin, json!({ "defaultRole": "member" })).await;
        let body = server.gql(REGISTER, registration("newmember", "newmember@example.com")).await;
        assert_eq!(body["data"]["register"]["user"]["role"]["type"], "member");
    }

    async fn with_email_confirmation_on_a_new_account_must_confirm_before_logging_in(backend: Backend) {
        let server = TestServer::start(backend).await;
        let admin = admin(&server).await;
        set(&server, &admin, json!({ "emailConfirmation": true, "emailConfirmationRedirection": "https://app.example.com/welcome" })).await;

        let body = server.gql(REGISTER, registration("pending", "pending@example.com")).await;
        assert_eq!(body["data"]["register"]["jwt"], Value::Null, "no JWT before confirmation: {body}");
        assert_eq!(body["data"]["register"]["user"]["confirmed"], false);
        let body = server.login("pending", "first-password").await;
        assert_eq!(error_message(&body), "Your account email is not confirmed");
        assert_eq!(error_code(&body), "STRAPI_APPLICATION_ERROR");
        // Without the password nothing is told about the account.
        assert_eq!(error_message(&server.login("pending", "wrong-password").await), "Invalid identifier or password");

        let mail = server.mail_to("pending@example.com", 0).await;
        let link = format!("{}/api/auth/email-confirmation?confirmation=", server.app.config.public_url());
        assert!(mail.html.contains(&link), "{}", mail.html);
        let code = query_param(&mail.html, "confirmation");
        let (status, headers, _) = server.get(&format!("/api/auth/email-confirmation?confirmation={code}")).await;
        assert_eq!(status, StatusCode::FOUND);
        assert_eq!(headers["location"], "https://app.example.com/welcome");

        let body = server.login("pending", "first-password").await;
        assert!(body["data"]["login"]["jwt"].is_string(), "{body}");
        // The code worked once.
        let (status, _, text) = server.get(&format!("/api/auth/email-confirmation?confirmation={code}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let text: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(text["error"]["message"], "Invalid token");
        assert_eq!(text["error"]["name"], "ValidationError");
    }

    async fn email_confirmation_over_graphql_signs_in_once(backend: Backend) {
        let server = TestServer::start(backend).await;
        let admin = admin(&server).await;
        set(&server, &admin, json!({ "emailConfirmation": true })).await;
        server.gql(REGISTER, registration("gqlconfirm", "gqlconfirm@example.com")).await;
        let code = query_param(&server.mail_to("gqlconfirm@example.com", 0).await.html, "confirmation");

        let body = server.gql(CONFIRM, json!({ "code": code })).await;
        let jwt = body["data"]["emailConfirmation"]["jwt"].as_str().expect("jwt").to_string();
        assert_eq!(body["data"]["emailConfirmation"]["user"]["confirmed"], true);
        assert_eq!(server.gql_as(&jwt, "{ me { username } }", json!({})).await["data"]["me"]["username"], "gqlconfirm");

        for code in [code.as_str(), "not-a-code", ""] {
            let body = server.gql(CONFIRM, json!({ "code": code })).await;
            assert_eq!(error_message(&body), "Invalid token");
            assert_eq!(error_code(&body), "BAD_USER_INPUT");
        }
    }

    async fn resending_the_confirmation_reveals_nothing(backend: Backend) {
        let server = TestServer::start(backend).await;
        let admin = admin(&server).await;
        set(&server, &admin, json!({ "emailConfirmation": true })).await;
        server.gql(REGISTER, registration("resend", "resend@example.com")).await;
        server.mail_to("resend@example.com", 0).await;

        let known = server.gql(RESEND, json!({ "email": "resend@example.com" })).await;
        let unknown = server.gql(RESEND, json!({ "email": "nobody@example.com" })).await;
        let confirmed = server.gql(RESEND, json!({ "email": "settings-admin@example.com" })).await;
        assert_eq!(known, json!({ "data": { "sendEmailConfirmation": { "ok": true } } }));
        assert_eq!(unknown, known);
        assert_eq!(confirmed, known);
        let second = server.mail_to("resend@example.com", 1).await;
        assert_eq!(server.mails_to("nobody@example.com").await, 0);
        assert_eq!(server.mails_to("settings-admin@example.com").await, 0, "a confirmed account gets no mail");

        // Only the newest code confirms.
        let first_code = query_param(&server.mail_to("resend@example.com", 0).await.html, "confirmation");
        assert_eq!(error_message(&server.gql(CONFIRM, json!({ "code": first_code })).await), "Invalid token");
        let body = server.gql(CONFIRM, json!({ "code": query_param(&second.html, "confirmation") })).await;
        assert_eq!(body["data"]["emailConfirmation"]["user"]["confirmed"], true);

        let body = server.gql(RESEND, json!({ "email": "not an email" })).await;
        assert_eq!(error_message(&body), "email must be a valid email");
    }

    async fn forgot_password_answers_alike_for_known_and_unknown_emails(backend: Backend) {
        let server = TestServer::start(backend).await;
        server.register("forgetful", "forgetful@example.com", "first-password").await;
        let known = server.gql(FORGOT, json!({ "email": "Forgetful@Example.com" })).await;
        let unknown = server.gql(FORGOT, json!({ "email": "ghost@example.com" })).await;
        assert_eq!(known, json!({ "data": { "forgotPassword": { "ok": true } } }));
        assert_eq!(unknown, known);
        server.mail_to("forgetful@example.com", 0).await;
        assert_eq!(server.mails_to("ghost@example.com").await, 0);

        let body = server.gql(FORGOT, json!({ "email": "not-an-email" })).await;
        assert_eq!(error_message(&body), "email must be a valid email");
        assert_eq!(error_code(&body), "BAD_USER_INPUT");
    }

    async fn a_reset_code_sets_a_new_password_once_and_ends_old_sessions(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (old_jwt, _) = server.register("resetter", "resetter@example.com", "first-password").await;
        let admin = admin(&server).await;
        set(&server, &admin, json!({ "emailResetPassword": "https://app.example.com/reset" })).await;
        server.gql(FORGOT, json!({ "email": "resetter@example.com" })).await;
        let mail = server.mail_to("resetter@example.com", 0).await;
        assert!(mail.html.contains("https://app.example.com/reset?code="), "{}", mail.html);
        let code = query_param(&mail.html, "code");
        assert_eq!(code.len(), 64);

        let body = server.gql(RESET, json!({ "p": "second-password", "c": "other-password", "code": code })).await;
        assert_eq!(error_message(&body), "Passwords do not match");
        let body = server.gql(RESET, json!({ "p": "short", "c": "short", "code": code })).await;
        assert_eq!(error_message(&body), "password must be at least 6 characters");
        let body = server.gql(RESET, json!({ "p": "second-password", "c": "second-password", "code": "0".repeat(64) })).await;
        assert_eq!(error_message(&body), "Incorrect code provided");

        let body = server.gql(RESET, json!({ "p": "second-password", "c": "second-password", "code": code })).await;
        let new_jwt = body["data"]["resetPassword"]["jwt"].as_str().expect("jwt").to_string();
        assert_eq!(body["data"]["resetPassword"]["user"]["username"], "resetter");
        assert_eq!(server.gql_as(&new_jwt, "{ me { username } }", json!({})).await["data"]["me"]["username"], "resetter");

        let (status, body) = server.post(Some(&old_jwt), &json!({ "query": "{ me { username } }" })).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "a JWT from before the reset must be refused: {body}");
        assert_eq!(error_message(&server.login("resetter", "first-password").await), "Invalid identifier or password");
        assert!(server.login("resetter", "second-password").await["data"]["login"]["jwt"].is_string());

        let body = server.gql(RESET, json!({ "p": "third-password", "c": "third-password", "code": code })).await;
        assert_eq!(error_message(&body), "Incorrect code provided", "a code works once");
        assert_eq!(error_code(&body), "BAD_USER_INPUT");
    }

    async fn reset_codes_expire(backend: Backend) {
        let server = TestServer::start_with(backend, |config| config.reset_code_lifetime = Duration::from_millis(300)).await;
        server.register("slow", "slow@example.com", "first-password").await;
        server.gql(FORGOT, json!({ "email": "slow@example.com" })).await;
        let code = query_param(&server.mail_to("slow@example.com", 0).await.html, "code");
        tokio::time::sleep(Duration::from_millis(600)).await;
        let body = server.gql(RESET, json!({ "p": "second-password", "c": "second-password", "code": code })).await;
        assert_eq!(error_message(&body), "Incorrect code provided");
        assert!(server.login("slow", "first-password").await["data"]["login"]["jwt"].is_string());
    }

    async fn change_password_checks_the_current_one_and_ends_old_sessions(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (jwt, _) = server.register("changer", "changer@example.com", "first-password").await;

        let body = server.gql(CHANGE, json!({ "cur": "first-password", "p": "second-password", "c": "second-password" })).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "the public role may not change passwords");

        let cases = [
            (json!({ "cur": "wrong-password", "p": "second-password", "c": "second-password" }), "The provided current password is invalid"),
            (json!({ "cur": "first-password", "p": "first-password", "c": "first-password" }), "Your new password must be different than your current password"),
            (json!({ "cur": "first-password", "p": "second-password", "c": "third-password" }), "Passwords do not match"),
            (json!({ "cur": "first-password", "p": "123", "c": "123" }), "password must be at least 6 characters"),
        ];
        for (variables, message) in cases {
            let body = server.gql_as(&jwt, CHANGE, variables).await;
            assert_eq!(error_message(&body), message);
            assert_eq!(error_code(&body), "BAD_USER_INPUT");
        }

        let body = server.gql_as(&jwt, CHANGE, json!({ "cur": "first-password", "p": "second-password", "c": "second-password" })).await;
        let new_jwt = body["data"]["changePassword"]["jwt"].as_str().expect("jwt").to_string();
        let (status, _) = server.post(Some(&jwt), &json!({ "query": "{ me { username } }" })).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "the JWT from before the change must be refused");
        assert_eq!(server.gql_as(&new_jwt, "{ me { username } }", json!({})).await["data"]["me"]["username"], "changer");
        // A login right after the change gets a working token too.
        let login = server.login("changer", "second-password").await;
        let fresh = login["data"]["login"]["jwt"].as_str().unwrap();
        assert_eq!(server.gql_as(fresh, "{ me { username } }", json!({})).await["data"]["me"]["username"], "changer");
    }

    async fn a_reset_and_a_change_in_one_second_each_revoke_every_earlier_token(backend: Backend) {
        let server = TestServer::start(backend).await;
        server.register("quick", "quick@example.com", "password-0").await;
        let admin = admin(&server).await;
        set(&server, &admin, json!({ "emailResetPassword": "https://app.example.com/reset" })).await;
        let me = async |jwt: &str| server.post(Some(jwt), &json!({ "query": "{ me { username } }" })).await.0;
        let jwt_of = |body: &Value, field: &str| body["data"][field]["jwt"].as_str().unwrap_or_else(|| panic!("{body}")).to_string();
        // login → A; reset → B; change → C, all within one second (tried until they are).
        let mut password = 0;
        for attempt in 0.. {
            assert!(attempt < 10, "ten tries and never one second for login, reset and change");
            server.gql(FORGOT, json!({ "email": "quick@example.com" })).await;
            let code = query_param(&server.mail_to("quick@example.com", attempt).await.html, "code");
            // Start just after a second begins.
            let now = chrono::Utc::now();
            tokio::time::sleep(Duration::from_nanos(u64::from(1_000_000_000 - now.timestamp_subsec_nanos()) + 2_000_000)).await;
            let second = chrono::Utc::now().timestamp();

            let a = jwt_of(&server.login("quick", &format!("password-{password}")).await, "login");
            let next = format!("password-{}", password + 1);
            let b = jwt_of(&server.gql(RESET, json!({ "p": next, "c": next, "code": code })).await, "resetPassword");
            let a_after_reset = me(&a).await;
            let b_after_reset = me(&b).await;
            let last = format!("password-{}", password + 2);
            let c = jwt_of(&server.gql_as(&b, CHANGE, json!({ "cur": next, "p": last, "c": last })).await, "changePassword");
            password += 2;
            if chrono::Utc::now().timestamp() != second {
                continue;
            }
            assert_eq!(a_after_reset, StatusCode::UNAUTHORIZED, "the login token survived the reset of its second");
            assert_eq!(b_after_reset, StatusCode::OK, "the token of the reset must work");
            assert_eq!(me(&a).await, StatusCode::UNAUTHORIZED);
            assert_eq!(me(&b).await, StatusCode::UNAUTHORIZED, "the reset's token survived a change in the same second");
            assert_eq!(me(&c).await, StatusCode::OK, "the token of the change must work");
            let d = jwt_of(&server.login("quick", &last).await, "login");
            assert_eq!(me(&d).await, StatusCode::OK, "a login after the change works");
            break;
        }
    }

    async fn templates_are_checked_escaped_and_kept_when_refused(backend: Backend) {
        let server = TestServer::start(backend).await;
        let admin = admin(&server).await;
        let body = server.gql_as(&admin, "{ usersPermissionsEmailTemplates { template subject message shipperName shipperEmail } }", json!({})).await;
        let templates = body["data"]["usersPermissionsEmailTemplates"].as_array().unwrap();
        assert_eq!(templates.len(), 2);
        assert_eq!(templates[1]["template"], "RESET_PASSWORD");
        assert!(templates[1]["message"].as_str().unwrap().contains("<%= TOKEN %>"));

        let custom = json!({ "shipperName": "Acme", "shipperEmail": "support@acme.example", "responseEmail": "help@acme.example",
            "subject": "Reset for <%= USER.username %>", "message": "<p>Hi <%= USER.username %>: <%= URL %>?code=<%= TOKEN %></p>" });
        let body = server.gql_as(&admin, UPDATE_TEMPLATE, json!({ "t": "RESET_PASSWORD", "data": custom })).await;
        assert!(body.get("errors").is_none(), "{body}");

        for (change, message) in [
            (json!({ "message": "<p><% if (USER) { %>x<% } %></p>" }), "message: line 1: only `<%= VARIABLE %>` tags are supported, found `<% if (USER) { %>`"),
            (json!({ "message": "<p><%= USER.password %></p>" }), "message: line 1: unknown variable `USER.password`"),
            (json!({ "subject": "Code <%= CODE %>" }), "subject: line 1: unknown variable `CODE`"),
            (json!({ "message": "<p><%= URL </p>" }), "message: line 1: `<%` opens a tag that is never closed with `%>`"),
            (json!({ "shipperEmail": "nope" }), "shipperEmail must be a valid email"),
        ] {
            let mut data = custom.clone();
            data.as_object_mut().unwrap().extend(change.as_object().unwrap().clone());
            let body = server.gql_as(&admin, UPDATE_TEMPLATE, json!({ "t": "RESET_PASSWORD", "data": data })).await;
            assert!(error_message(&body).starts_with(message), "{} does not start with {message}", error_message(&body));
            assert_eq!(error_code(&body), "BAD_USER_INPUT");
        }

        // The custom template is still the one in use, and values are escaped in it.
        server.register("<b>bold</b>", "bold@example.com", "first-password").await;
        server.gql(FORGOT, json!({ "email": "bold@example.com" })).await;
        let mail = server.mail_to("bold@example.com", 0).await;
        assert_eq!(mail.subject, "Reset for <b>bold</b>", "the subject is text, not HTML");
        assert!(mail.html.starts_with("<p>Hi &lt;b&gt;bold&lt;/b&gt;: "), "{}", mail.html);
        assert_eq!((mail.from_name.as_str(), mail.from_email.as_str()), ("Acme", "support@acme.example"));
        assert_eq!(mail.reply_to.as_deref(), Some("help@acme.example"));
    }

    async fn registration_accepts_only_the_allowed_extra_fields(backend: Backend) {
        let server = TestServer::start_with(backend, |config| config.register_allowed_fields = vec!["nickname".into(), "team".into()]).await;
        let mut variables = registration("extra", "extra@example.com");
        variables["input"]["attributes"] = json!({ "nickname": "X", "team": "red" });
        let body = server.gql(REGISTER, variables.clone()).await;
        assert_eq!(body["data"]["register"]["user"]["attributes"], json!({ "nickname": "X", "team": "red" }));
        let jwt = body["data"]["register"]["jwt"].as_str().unwrap();
        assert_eq!(server.gql_as(jwt, "{ me { attributes } }", json!({})).await["data"]["me"]["attributes"]["team"], "red");

        let mut variables = registration("sneaky", "sneaky@example.com");
        variables["input"]["attributes"] = json!({ "team": "red", "role": "admin", "confirmed": true });
        let body = server.gql(REGISTER, variables).await;
        assert_eq!(error_message(&body), "Invalid parameters: confirmed, role");
        assert_eq!(error_code(&body), "BAD_USER_INPUT");
    }

    async fn a_failing_smtp_server_loses_no_account(backend: Backend) {
        // Nothing listens on this port: every delivery fails.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let server = TestServer::start_with(backend, |config| config.mail = MailTransport::Smtp(format!("smtp://127.0.0.1:{closed}"))).await;
        let admin = admin(&server).await;
        set(&server, &admin, json!({ "emailConfirmation": true })).await;
        let body = server.gql(REGISTER, registration("unlucky", "unlucky@example.com")).await;
        assert!(body.get("errors").is_none(), "registration must succeed: {body}");
        assert_eq!(body["data"]["register"]["user"]["username"], "unlucky");
        // The account exists whole: it is there, waiting for confirmation.
        assert_eq!(error_message(&server.login("unlucky", "first-password").await), "Your account email is not confirmed");
    }
}

/// Over a real SMTP server: register with confirmation → the mail arrives → its link confirms
/// → login works; forgotPassword → the mail arrives → its code resets the password → the old
/// password fails, the new one works → the code fails a second time.
async fn flows_over_real_smtp(backend: crate::support::Backend) {
    let maildev = MailDev::start().await;
    let smtp = maildev.smtp_url();
    let server =
        TestServer::start_with(backend, |config| config.mail = MailTransport::Smtp(smtp)).await;
    let admin = admin(&server).await;
    set(&server, &admin, json!({ "emailConfirmation": true, "emailConfirmationRedirection": "https://app.example.com/done",
        "emailResetPassword": "https://app.example.com/reset" })).await;

    server
        .gql(REGISTER, registration("smtpuser", "smtpuser@example.com"))
        .await;
    let mail = maildev.mail_to("smtpuser@example.com", 0).await;
    let html = mail["html"].as_str().unwrap();
    server.remember_codes_in(html);
    assert_eq!(mail["subject"], "Confirm your email address");
    let link_start = html.find("href=\"").unwrap() + 6;
    let link = &html[link_start..link_start + html[link_start..].find('"').unwrap()];
    let path = link
        .strip_prefix(&server.app.config.public_url())
        .expect("the link points at the server");
    let (status, headers, _) = server.get(path).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(headers["location"], "https://app.example.com/done");
    assert!(server.login("smtpuser", "first-password").await["data"]["login"]["jwt"].is_string());

    server
        .gql(FORGOT, json!({ "email": "smtpuser@example.com" }))
        .await;
    let mail = maildev.mail_to("smtpuser@example.com", 1).await;
    let html = mail["html"].as_str().unwrap();
    server.remember_codes_in(html);
    assert!(
        html.contains("https://app.example.com/reset?code="),
        "{html}"
    );
    let code = query_param(html, "code");
    let body = server
        .gql(
            RESET,
            json!({ "p": "second-password", "c": "second-password", "code": code }),
        )
        .await;
    assert!(body["data"]["resetPassword"]["jwt"].is_string(), "{body}");
    assert_eq!(
        error_message(&server.login("smtpuser", "first-password").await),
        "Invalid identifier or password"
    );
    assert!(server.login("smtpuser", "second-password").await["data"]["login"]["jwt"].is_string());
    let body = server
        .gql(
            RESET,
            json!({ "p": "third-password", "c": "third-password", "code": code }),
        )
        .await;
    assert_eq!(error_message(&body), "Incorrect code provided");
}

both_backends! {
    async fn confirmation_and_reset_work_over_a_real_smtp_server(backend: Backend) {
        flows_over_real_smtp(backend).await;
    }
}

both_backends! {
    async fn one_account_per_email_can_be_switched_off(backend: Backend) {
        let server = TestServer::start(backend).await;
        let admin = admin(&server).await;
        server.gql(REGISTER, registration("first", "shared@example.com")).await;
        let body = server.gql(REGISTER, registration("second", "shared@example.com")).await;
        assert_eq!(error_message(&body), "Email or Username are already taken");

        set(&server, &admin, json!({ "uniqueEmail": false })).await;
        let body = server.gql(REGISTER, registration("second", "shared@example.com")).await;
        assert!(body.get("errors").is_none(), "{body}");
        // Each account still signs in by username; the email signs in the oldest one.
        let login = server.login("second", "first-password").await;
        assert_eq!(login["data"]["login"]["user"]["username"], "second");
        let login = server.login("shared@example.com", "first-password").await;
        assert_eq!(login["data"]["login"]["user"]["username"], "first");

        set(&server, &admin, json!({ "uniqueEmail": true })).await;
        let body = server.gql(REGISTER, registration("third", "SHARED@example.com")).await;
        assert_eq!(error_message(&body), "Email or Username are already taken");
    }

    async fn a_username_cannot_shadow_another_accounts_email(backend: Backend) {
        let server = TestServer::start(backend).await;
        server.register("victim", "victim@example.com", "victim-password").await;
        server.register("victim@example.com", "attacker@example.com", "attacker-password").await;
        let login = server.login("victim@example.com", "victim-password").await;
        assert_eq!(login["data"]["login"]["user"]["username"], "victim");
    }
}
