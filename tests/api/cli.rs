//! The operator's side: the `castellan` commands `token`, `user` and `role` run as built against
//! a database the test made, the logs they and the server write, mail headers and parts over a
//! real SMTP server, settings that drifted from castellan.toml, and reset links that would lead
//! nowhere.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::binary::{Serve, castellan};
use crate::both_backends;
use crate::support::{TestDb, http_client};

/// The binary on one database, run in a directory of its own.
struct Operator {
    database_url: String,
    dir: tempfile::TempDir,
}

impl Operator {
    fn new(database_url: &str) -> Self {
        Self {
            database_url: database_url.to_string(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// `castellan ARGS`, with `stdin` on its standard input.
    fn run_with(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = castellan(self.dir.path())
            .args(args)
            .env("DATABASE_URL", &self.database_url)
            .env_remove("LOG_FORMAT")
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, "")
    }

    /// Runs `args`, which must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "castellan {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Runs `args` with `--json`; its stdout as JSON.
    fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let out = self.ok(&args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }

    /// Runs `args`, which must fail with exit code 1 and one line `error: …` (after the
    /// start-up log lines) containing `expected`, however `RUST_BACKTRACE` is set.
    fn fails(&self, args: &[&str], stdin: &str, expected: &str) -> String {
        let output = self.run_with(args, stdin);
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert_eq!(output.status.code(), Some(1), "castellan {args:?}: {stderr}");
        // Log lines start with their time stamp; everything else is the error.
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.starts_with(|c: char| c.is_ascii_digit()))
            .collect();
        assert_eq!(errors.len(), 1, "one line of error, not a dump: {stderr}");
        assert!(errors[0].starts_with("error: "), "{stderr}");
        assert!(errors[0].contains(expected), "{expected:?} not in {stderr}");
        assert!(!stderr.contains("backtrace") && !stderr.contains("Caused by"), "{stderr}");
        errors[0].to_string()
    }
}

/// A GraphQL request to a server started by the test, with `bearer`; its status and body.
async fn graphql(address: &str, bearer: &str, query: &str) -> (u16, Value) {
    let response = http_client(Duration::from_secs(5))
        .post(format!("http://{address}/graphql"))
        .bearer_auth(bearer)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// A login at the server; whether it gave a JWT, and the body.
async fn login(address: &str, identifier: &str, password: &str) -> (bool, Value) {
    let response = http_client(Duration::from_secs(5))
        .post(format!("http://{address}/graphql"))
        .json(&json!({
            "query": "mutation($i: UsersPermissionsLoginInput!) { login(input: $i) { jwt user { username } } }",
            "variables": { "i": { "identifier": identifier, "password": password } },
        }))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    (body["data"]["login"]["jwt"].is_string(), body)
}

both_backends! {
    // `token list | regenerate | delete`: the list never shows a key; a regenerated key works
    // and the old one stops at once; a deleted token's key stops; a missing token is one line.
    async fn token_commands_list_regenerate_and_delete_keys(backend: Backend) {
        let (_db, url) = TestDb::create(backend).await;
        let operator = Operator::new(&url);
        let first = operator.ok(&["token", "create", "--name", "ci", "--description", "deploys"]);
        let first = first.trim();
        let served = Serve::start(
            operator.dir.path(),
            &[("DATABASE_URL", url.as_str())],
            Stdio::null(),
        );
        let address = served.address.clone();
        let roles = "{ usersPermissionsRoles { type } }";
        assert_eq!(graphql(&address, first, roles).await.0, 200);

        let table = operator.ok(&["token", "list"]);
        let mut lines = table.lines();
        let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(header, ["ID", "NAME", "TYPE", "EXPIRES", "LAST", "USED", "DESCRIPTION"]);
        let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(row[1..4], ["ci", "full-access", "never"], "{table}");
        assert!(!table.contains("cst_"), "a key is never listed: {table}");
        let listed = operator.json(&["token", "list"]);
        assert_eq!(listed[0]["name"], "ci", "{listed}");
        assert_eq!(listed[0]["description"], "deploys", "{listed}");
        assert!(!listed.to_string().contains("cst_"), "{listed}");

        let second = operator.ok(&["token", "regenerate", "ci"]);
        let second = second.trim();
        assert!(second.starts_with("cst_") && second != first, "{second}");
        assert_eq!(graphql(&address, first, roles).await.0, 401, "the old key stops");
        assert_eq!(graphql(&address, second, roles).await.0, 200, "the new key works");

        let deleted = operator.json(&["token", "delete", &listed[0]["id"].to_string()]);
        assert_eq!(deleted["deleted"]["name"], "ci", "{deleted}");
        assert_eq!(graphql(&address, second, roles).await.0, 401, "a deleted token's key stops");
        assert_eq!(operator.json(&["token", "list"]), json!([]));
        operator.fails(&["token", "delete", "ci"], "", "there is no API token `ci`");
        operator.fails(&["token", "regenerate", "nope"], "", "there is no API token `nope`");
        drop(served);
    }

    // `user create` names every failed check; `user list | block | unblock | set-role |
    // reset-password` change what the server then does with that user.
    async fn user_commands_list_block_set_role_and_reset_passwords(backend: Backend) {
        let (_db, url) = TestDb::create(backend).await;
        let operator = Operator::new(&url);
        let refused = operator.fails(
            &["user", "create", "--username", "al", "--email", "nope", "--password-stdin"],
            "x\n",
            "3 errors occurred",
        );
        for each in [
            "username must be at least 3 characters",
            "email must be a valid email",
            "password must be at least 6 characters",
        ] {
            assert!(refused.contains(each), "{each:?} not in {refused}");
        }
        let created = operator.run_with(
            &["user", "create", "--username", "alice", "--email", "alice@example.com", "--password-stdin"],
            "first-pass\n",
        );
        assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
        assert!(
            String::from_utf8_lossy(&created.stdout).starts_with("Created user alice (id 1"),
            "{}",
            String::from_utf8_lossy(&created.stdout)
        );

        let table = operator.ok(&["user", "list"]);
        assert_eq!(
            table.lines().map(|l| l.split_whitespace().collect::<Vec<_>>()).collect::<Vec<_>>(),
            [
                vec!["ID", "USERNAME", "EMAIL", "ROLE", "CONFIRMED", "BLOCKED"],
                vec!["1", "alice", "alice@example.com", "authenticated", "yes", "no"],
            ],
            "{table}"
        );
        let listed = operator.json(&["user", "list"]);
        assert_eq!(listed[0]["username"], "alice", "{listed}");
        assert!(!listed.to_string().contains("password"), "{listed}");

        let served = Serve::start(
            operator.dir.path(),
            &[("DATABASE_URL", url.as_str())],
            Stdio::null(),
        );
        let address = served.address.clone();
        assert!(login(&address, "alice", "first-pass").await.0);

        let blocked = operator.json(&["user", "block", "alice@example.com"]);
        assert_eq!(blocked["blocked"], true, "{blocked}");
        let (signed_in, body) = login(&address, "alice", "first-pass").await;
        assert!(!signed_in, "{body}");
        assert!(body.to_string().contains("blocked"), "{body}");
        assert!(operator.ok(&["user", "unblock", "alice"]).starts_with("Unblocked user alice"));
        assert!(login(&address, "alice", "first-pass").await.0);

        let moved = operator.json(&["user", "set-role", "1", "public"]);
        assert_eq!(moved["role"], "public", "{moved}");
        operator.fails(&["user", "set-role", "alice", "nobody"], "", "there is no role `nobody`");

        let reset = operator.run_with(&["user", "reset-password", "alice", "--password-stdin"], "second-pass\n");
        assert!(reset.status.success(), "{}", String::from_utf8_lossy(&reset.stderr));
        assert!(!login(&address, "alice", "first-pass").await.0, "the old password stops");
        let (signed_in, body) = login(&address, "alice", "second-pass").await;
        assert!(signed_in, "{body}");
        assert_eq!(body["data"]["login"]["user"]["username"], "alice");
        operator.fails(
            &["user", "reset-password", "alice", "--password-stdin"],
            "short\n",
            "password must be at least 6 characters",
        );
        operator.fails(&["user", "block", "nobody"], "", "there is no user `nobody`");
        drop(served);
    }

    // `role grant` adds one grant and keeps the others; `role revoke` takes one away; `role
    // list` shows roles, users and grants; mistakes are one line and exit 1.
    async fn role_commands_grant_and_revoke_one_action_keeping_the_others(backend: Backend) {
        let (_db, url) = TestDb::create(backend).await;
        let operator = Operator::new(&url);
        let find = "plugin::users-permissions.user.find";
        let actions_of = |roles: &Value, role_type: &str| -> Vec<String> {
            roles
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["type"] == role_type)
                .unwrap()["grants"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["action"].as_str().unwrap().to_string())
                .collect()
        };
        let before = operator.json(&["role", "list"]);
        let held = actions_of(&before, "authenticated");
        assert!(held.iter().any(|a| a.ends_with("auth.changePassword")), "{before}");
        assert!(!held.contains(&find.to_string()));

        let table = operator.ok(&["role", "list"]);
        let lines: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(lines[0], ["ID", "TYPE", "NAME", "USERS", "GRANTS"], "{table}");
        assert!(
            lines.iter().any(|l| l[1] == "authenticated" && l[4] == held.len().to_string()),
            "{table}"
        );

        let granted = operator.ok(&["role", "grant", "authenticated", find]);
        assert!(
            granted.starts_with(&format!("Granted {find} to role authenticated ({} grants)", held.len() + 1)),
            "{granted}"
        );
        let after = actions_of(&operator.json(&["role", "list"]), "authenticated");
        let mut expected = held.clone();
        expected.push(find.to_string());
        assert_eq!(after, expected, "every other grant is kept");

        let revoked = operator.json(&["role", "revoke", "authenticated", find]);
        let left: Vec<&str> = revoked["grants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["action"].as_str().unwrap())
            .collect();
        assert_eq!(left, held, "{revoked}");
        operator.fails(
            &["role", "revoke", "authenticated", find],
            "",
            "The role authenticated has no grant of `plugin::users-permissions.user.find`",
        );
        operator.fails(&["role", "grant", "authenticated", "api::nope.nope"], "", "Unknown action `api::nope.nope`");
        operator.fails(&["role", "grant", "nobody", find], "", "there is no role `nobody`");
        operator.fails(
            &["role", "grant", "authenticated", find, "--condition", "missing"],
            "",
            "Unknown condition `missing`",
        );
    }
}

/// Everything the server writes to stdout and stderr with `LOG_FORMAT=json` is JSON, from the
/// listening address to its last line; a configuration error too.
#[test]
fn json_logs_make_every_line_of_stdout_and_stderr_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = castellan(dir.path())
        .args(["serve", "--host", "127.0.0.1", "--port", "0"])
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let announced: Value = serde_json::from_str(&first)
        .unwrap_or_else(|e| panic!("the first line of stdout is not JSON ({e}): {first}"));
    let address = announced["fields"]["address"].as_str().unwrap().to_string();
    assert!(
        announced["fields"]["graphql"].as_str().unwrap().ends_with("/graphql"),
        "{announced}"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (status, _) = graphql(&address, "not-a-token", "{ me { id } }").await;
        assert_eq!(status, 401);
    });
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let _ = child.wait();
    let all = format!("{first}{rest}{stderr}");
    assert!(stderr.lines().count() >= 3, "{stderr}");
    for line in all.lines() {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "not JSON: {line:?}\nin:\n{all}"
        );
    }

    let refused = castellan(dir.path())
        .arg("serve")
        .env("LOG_FORMAT", "json")
        .env("CASTELLAN_ENV", "production")
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let text = String::from_utf8_lossy(&refused.stderr);
    assert!(refused.stdout.is_empty());
    for line in text.lines() {
        let entry: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(entry["level"], "ERROR", "{entry}");
        assert!(entry["fields"]["error"].as_str().unwrap().contains("JWT_SECRET"), "{entry}");
    }
    assert_eq!(text.lines().count(), 1, "{text}");
}

/// Piped logs carry no ANSI colour codes; a configuration error is one line `error: …` even
/// with `RUST_BACKTRACE=1`; an unreachable database is named with its host, port and cause.
#[test]
fn piped_logs_have_no_colour_and_errors_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let served = Serve::start(dir.path(), &[("RUST_LOG", "info")], Stdio::piped());
    let address = served.address.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        assert_eq!(graphql(&address, "x", "{ me { id } }").await.0, 401);
    });
    let mut child = served;
    let mut stderr = child.child.stderr.take().unwrap();
    let _ = child.child.kill();
    let mut text = String::new();
    stderr.read_to_string(&mut text).unwrap();
    drop(child);
    assert!(text.contains("WARN") && text.contains("INFO"), "{text}");
    assert!(!text.contains('\u{1b}'), "ANSI escape codes in piped logs: {text:?}");

    let refused = castellan(dir.path())
        .arg("serve")
        .env("CASTELLAN_ENV", "production")
        .env("RUST_BACKTRACE", "full")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: JWT_SECRET is not set."), "{stderr}");

    // Port 1 of loopback: nothing listens there.
    let unreachable = castellan(dir.path())
        .args(["user", "list"])
        .env("DATABASE_URL", "postgres://castellan@127.0.0.1:1/castellan")
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&unreachable.stderr);
    assert_eq!(unreachable.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: cannot connect to PostgreSQL at 127.0.0.1:1 (DATABASE_URL): Connection refused"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

const SETTINGS_ACTIONS: &[&str] = &[
    "plugin::users-permissions.advanced-settings.read",
    "plugin::users-permissions.advanced-settings.update",
    "plugin::users-permissions.email-templates.read",
    "plugin::users-permissions.email-templates.update",
];
const UPDATE_SETTINGS: &str = "mutation($data: UsersPermissionsAdvancedSettingsInput!) {
    updateUsersPermissionsAdvancedSettings(data: $data) { emailResetPassword } }";
const UPDATE_TEMPLATE: &str = "mutation($t: UsersPermissionsEmailTemplateName!, $data: UsersPermissionsEmailTemplateInput!) {
    updateUsersPermissionsEmailTemplate(template: $t, data: $data) { shipperName } }";
const FORGOT: &str = "mutation($email: String!) { forgotPassword(email: $email) { ok } }";

both_backends! {
    // A reset mail through a real SMTP server (maildev) carries Date, a Message-ID on the
    // sender's domain, the sender of its template, and two parts: the HTML and a plain text
    // derived from it, both holding the reset link.
    async fn mail_over_smtp_carries_date_message_id_sender_and_both_parts(backend: Backend) {
        let maildev = crate::peers::MailDev::start().await;
        let smtp = maildev.smtp_url();
        let server = crate::support::TestServer::start_with(backend, |config| {
            config.mail = castellan::config::MailTransport::Smtp(smtp);
        })
        .await;
        let admin = server.user_with_grants("settings-admin", SETTINGS_ACTIONS).await;
        let body = server
            .gql_as(&admin, UPDATE_SETTINGS, json!({ "data": { "emailResetPassword": "https://app.example.com/reset" } }))
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        let body = server
            .gql_as(&admin, UPDATE_TEMPLATE, json!({ "t": "RESET_PASSWORD", "data": {
                "shipperName": "Example Support",
                "shipperEmail": "support@mail.example.com",
                "responseEmail": "help@example.com",
                "subject": "Reset your password",
                "message": "<p>Hello <%= USER.username %>,</p><p><a href=\"<%= URL %>?code=<%= TOKEN %>\">Choose a new password</a></p>",
            } }))
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        server.register("mailed", "mailed@example.com", "first-password").await;
        server.gql(FORGOT, json!({ "email": "mailed@example.com" })).await;

        let mail = maildev.mail_to("mailed@example.com", 0).await;
        let html = mail["html"].as_str().unwrap();
        let text = mail["text"].as_str().unwrap_or_else(|| panic!("no text part: {mail}"));
        server.remember_codes_in(html);
        assert!(html.contains("https://app.example.com/reset?code="), "{html}");
        assert!(text.starts_with("Hello mailed,\n\nChoose a new password (https://app.example.com/reset?code="), "{text}");
        assert!(!text.contains('<'), "{text}");

        let source = maildev.source(&mail).await;
        let headers = &source[..source.find("\r\n\r\n").unwrap()];
        let header = |name: &str| {
            headers
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                .unwrap_or_else(|| panic!("no {name} header in:\n{headers}"))
                .to_string()
        };
        let message_id = header("Message-ID");
        assert!(
            message_id.starts_with('<') && message_id.ends_with("@mail.example.com>"),
            "{message_id}"
        );
        let date = header("Date");
        assert!(chrono::DateTime::parse_from_rfc2822(&date).is_ok(), "{date}");
        assert_eq!(header("From"), "\"Example Support\" <support@mail.example.com>");
        assert_eq!(header("Reply-To"), "help@example.com");
        assert!(header("Content-Type").starts_with("multipart/alternative"), "{headers}");
        assert!(source.contains("Content-Type: text/plain; charset=utf-8"), "{source}");
        assert!(source.contains("Content-Type: text/html; charset=utf-8"), "{source}");
    }
}

both_backends! {
    // Settings castellan.toml wrote that the database no longer holds are named at start-up,
    // one warning line each with both values; a client secret never shows.
    async fn start_up_names_settings_that_drifted_from_castellan_toml(backend: Backend) {
        let (_db, url) = TestDb::create(backend).await;
        let operator = Operator::new(&url);
        let file = operator.dir.path().join("castellan.toml");
        let write = |allow: bool, client: &str, secret: &str, shipper: &str| {
            std::fs::write(
                &file,
                format!(
                    "[advanced]\nallowRegister = {allow}\n\n[email]\nshipperName = \"{shipper}\"\n\n\
                     [providers.github]\nenabled = true\nclientId = \"{client}\"\n\
                     clientSecret = \"{secret}\"\nredirectUrl = \"https://app.example.com/connected\"\n"
                ),
            )
            .unwrap();
        };
        write(true, "id-one", "secret-one", "Example");
        let first = operator.run(&["role", "list"]);
        let stderr = String::from_utf8_lossy(&first.stderr);
        assert!(first.status.success(), "{stderr}");
        assert!(!stderr.contains("castellan.toml sets"), "no drift on a fresh database: {stderr}");

        write(false, "id-two", "secret-two", "Renamed");
        let second = operator.run(&["role", "list"]);
        let stderr = String::from_utf8_lossy(&second.stderr).to_string();
        assert!(second.status.success(), "{stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("castellan.toml sets")).collect();
        assert!(lines.iter().all(|l| l.contains(" WARN ")), "{stderr}");
        let drift: Vec<&str> = lines
            .iter()
            .map(|l| &l[l.find("castellan.toml sets").unwrap()..])
            .collect();
        let expected = [
            "castellan.toml sets advanced.allowRegister = false but the database holds true;",
            "castellan.toml sets email.shipperName (template emailConfirmation) = \"Renamed\" but the database holds \"Example\";",
            "castellan.toml sets email.shipperName (template resetPassword) = \"Renamed\" but the database holds \"Example\";",
            "castellan.toml sets providers.github.clientId = \"id-two\" but the database holds \"id-one\";",
            "castellan.toml sets providers.github.clientSecret = (set) but the database holds (different);",
        ];
        assert_eq!(drift.len(), expected.len(), "{stderr}");
        for (line, start) in drift.iter().zip(expected) {
            assert!(line.starts_with(start), "{line}\nexpected: {start}");
        }
        assert!(!stderr.contains("secret-one") && !stderr.contains("secret-two"), "{stderr}");
    }

    // In production, with emailResetPassword empty, forgotPassword sends no mail whose link
    // would be Castellan's own 404: it answers an application error; once set, mail goes out.
    async fn production_refuses_reset_mails_without_a_reset_page(backend: Backend) {
        let server = crate::support::TestServer::start_with(backend, |config| {
            config.environment = castellan::config::Environment::Production;
        })
        .await;
        server.register("forgetful", "forgetful@example.com", "first-password").await;
        let body = server.gql(FORGOT, json!({ "email": "forgetful@example.com" })).await;
        assert_eq!(
            crate::support::error_message(&body),
            "Password reset is not available: the emailResetPassword setting (the front end's reset-password page) is empty",
            "{body}"
        );
        assert_eq!(crate::support::error_code(&body), "STRAPI_APPLICATION_ERROR", "{body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(server.mails_to("forgetful@example.com").await, 0, "no mail leaves");

        let admin = server.user_with_grants("settings-admin", SETTINGS_ACTIONS).await;
        let body = server
            .gql_as(&admin, UPDATE_SETTINGS, json!({ "data": { "emailResetPassword": "https://app.example.com/reset" } }))
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        let body = server.gql(FORGOT, json!({ "email": "forgetful@example.com" })).await;
        assert_eq!(body["data"]["forgotPassword"]["ok"], true, "{body}");
        let mail = server.mail_to("forgetful@example.com", 0).await;
        server.remember_codes_in(&mail.html);
        assert!(mail.html.contains("https://app.example.com/reset?code="), "{}", mail.html);
    }
}

/// In development, with emailResetPassword empty, start-up says so and the logged reset mail's
/// line says its link leads to a page Castellan does not serve.
#[test]
fn development_says_where_an_unset_reset_page_leads() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let served = Serve::start(
        dir.path(),
        &[("RUST_LOG", "info")],
        Stdio::from(std::fs::File::create(&log).unwrap()),
    );
    let address = served.address.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = http_client(Duration::from_secs(5));
        let post = |query: &str, variables: Value| {
            client
                .post(format!("http://{address}/graphql"))
                .json(&json!({ "query": query, "variables": variables }))
                .send()
        };
        post(
            "mutation($i: UsersPermissionsRegisterInput!) { register(input: $i) { jwt } }",
            json!({ "i": { "username": "dev", "email": "dev@example.com", "password": "first-password" } }),
        )
        .await
        .unwrap();
        let body: Value = post(FORGOT, json!({ "email": "dev@example.com" })).await.unwrap().json().await.unwrap();
        assert_eq!(body["data"]["forgotPassword"]["ok"], true, "{body}");
    });
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&log).unwrap();
        if text.contains("email (no SMTP_URL") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(served);
    assert!(
        text.contains("the emailResetPassword setting is empty: reset mails are logged with a link to a page Castellan does not serve"),
        "{text}"
    );
    assert!(
        text.contains("the link of this reset mail leads to a page Castellan does not serve (404)"),
        "{text}"
    );
    assert!(text.contains("/reset-password"), "{text}");
}

const ADD_GRANT: &str = "mutation($id: ID!, $grant: UsersPermissionsGrantInput!) {
    addUsersPermissionsRoleGrant(id: $id, grant: $grant) { ok } }";
const REMOVE_GRANT: &str = "mutation($id: ID!, $action: String!) {
    removeUsersPermissionsRoleGrant(id: $id, action: $action) { ok } }";

both_backends! {
    // The API adds or removes one grant of a role and keeps the others, under role.updateRole.
    async fn graphql_adds_and_removes_one_grant_of_a_role(backend: Backend) {
        let server = crate::support::TestServer::start(backend).await;
        let admin = server
            .user_with_grants("role-admin", &["plugin::users-permissions.role.updateRole"])
            .await;
        let (member, _) = server.register("member", "member@example.com", "first-password").await;
        let authenticated = server.conn_role("authenticated").await;
        let list = "{ usersPermissionsUsers { username } }";
        assert_eq!(crate::support::error_code(&server.gql_as(&member, list, json!({})).await), "FORBIDDEN");

        let grant = json!({ "id": authenticated.id.to_string(), "grant": { "action": "plugin::users-permissions.user.find" } });
        let refused = server.gql_as(&member, ADD_GRANT, grant.clone()).await;
        assert_eq!(crate::support::error_code(&refused), "FORBIDDEN", "{refused}");
        let body = server.gql_as(&admin, ADD_GRANT, grant).await;
        assert_eq!(body["data"]["addUsersPermissionsRoleGrant"]["ok"], true, "{body}");
        let listed = server.gql_as(&member, list, json!({})).await;
        assert!(listed.get("errors").is_none(), "{listed}");
        let me = server.gql_as(&member, "{ me { username } }", json!({})).await;
        assert_eq!(me["data"]["me"]["username"], "member", "the other grants are kept: {me}");

        let body = server
            .gql_as(&admin, REMOVE_GRANT, json!({ "id": authenticated.id.to_string(), "action": "plugin::users-permissions.user.find" }))
            .await;
        assert_eq!(body["data"]["removeUsersPermissionsRoleGrant"]["ok"], true, "{body}");
        assert_eq!(crate::support::error_code(&server.gql_as(&member, list, json!({})).await), "FORBIDDEN");
        let me = server.gql_as(&member, "{ me { username } }", json!({})).await;
        assert_eq!(me["data"]["me"]["username"], "member", "{me}");
        let again = server
            .gql_as(&admin, REMOVE_GRANT, json!({ "id": authenticated.id.to_string(), "action": "plugin::users-permissions.user.find" }))
            .await;
        assert_eq!(
            crate::support::error_message(&again),
            "The role authenticated has no grant of `plugin::users-permissions.user.find`"
        );
    }
}
