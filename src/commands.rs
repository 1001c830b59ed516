//! The operator's commands: `castellan token | user | role` (tables or `--json`), the commands
//! that move data in and keep permissions as code (`castellan import strapi`,
//! `castellan config export | diff | apply`, and `serve --config-sync`). They refuse to run on
//! a database whose migrations are not current (`castellan migrate` first) rather than
//! migrate it behind the operator's back. Reports go to stdout; secrets never do.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;

use crate::service::config_sync::{self, ApplyMode, DifferenceKind, PermissionsFile};
use crate::{AppError, AppState, Castellan, Config};

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import users, roles, grants, settings, email templates and providers from a Strapi 4 or 5
    /// database, in one transaction. Running it again changes nothing.
    Strapi {
        /// Strapi's database: postgres://USER@HOST:PORT/DB or sqlite://PATH (read only).
        #[arg(long, value_name = "DATABASE_URL")]
        from: String,
        /// Print what would happen and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token and print its key (shown this once).
    Create {
        /// Unique name of the token.
        #[arg(long)]
        name: String,
        /// read-only, full-access or custom.
        #[arg(long = "type", default_value = "full-access")]
        token_type: String,
        /// 7, 30 or 90 days; unlimited when omitted.
        #[arg(long)]
        lifespan: Option<i64>,
        #[arg(long, default_value = "")]
        description: String,
        /// An action of a custom token (repeat for several).
        #[arg(long = "action")]
        actions: Vec<String>,
    },
    /// List the API tokens (never their keys).
    List,
    /// Delete an API token: its key stops working at once.
    Delete {
        /// The token's id, documentId or name.
        token: String,
    },
    /// Give an API token a new key and print it (shown this once); the old key stops working.
    Regenerate {
        /// The token's id, documentId or name.
        token: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a confirmed user; the password is read from standard input.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
        /// The type of the role to give the user.
        #[arg(long, default_value = "authenticated")]
        role: String,
    },
    /// List the users with their roles.
    List,
    /// Block a user: their tokens are refused from the next request.
    Block {
        /// The user's id, documentId, username or email.
        user: String,
    },
    /// Unblock a user.
    Unblock {
        /// The user's id, documentId, username or email.
        user: String,
    },
    /// Give a user another role.
    SetRole {
        /// The user's id, documentId, username or email.
        user: String,
        /// The type of the role (`authenticated`, `editor`, ...).
        role: String,
    },
    /// Set a user's password, read from standard input; their earlier sessions end.
    ResetPassword {
        /// The user's id, documentId, username or email.
        user: String,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// List the roles, their users and their grants.
    List,
    /// Grant one action to a role, keeping its other grants (a grant of the same action is
    /// replaced).
    Grant {
        /// The type of the role (`public`, `authenticated`, ...).
        role: String,
        /// The action, as `castellan role list --json` or usersPermissionsActions names it.
        action: String,
        /// A condition limiting the grant (repeat for several: any one of them suffices).
        #[arg(long = "condition")]
        conditions: Vec<String>,
        /// The only field the grant reaches (repeat for several); every field when omitted.
        #[arg(long = "field")]
        fields: Vec<String>,
    },
    /// Take the grant of one action from a role, keeping its other grants.
    Revoke {
        /// The type of the role.
        role: String,
        /// The action to take away.
        action: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Write the roles, grants, conditions, settings, templates and providers (without
    /// secrets) as one JSON file.
    Export {
        /// Write to this file instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Show what applying FILE would change. Exits with 0 when the database equals FILE, 1
    /// when it drifted, 2 when FILE cannot be read or applied.
    Diff { file: PathBuf },
    /// Make the database equal to FILE, in one transaction.
    Apply {
        file: PathBuf,
        /// Also delete roles, grants, conditions and providers that FILE lacks.
        #[arg(long)]
        prune: bool,
    },
}

/// Castellan on a database that is already migrated.
async fn start_current(config: Config) -> anyhow::Result<Castellan> {
    let db = crate::db::Db::connect(&config.database_url, Some(1))?;
    db.require_current().await?;
    drop(db);
    Castellan::start(config).await
}

fn plain(error: AppError) -> anyhow::Error {
    match error {
        AppError::Internal(inner) => inner,
        other => anyhow::anyhow!("{other}"),
    }
}

/// `castellan import strapi --from URL [--dry-run]`.
pub async fn import(config: Config, command: ImportCommand) -> anyhow::Result<()> {
    let ImportCommand::Strapi { from, dry_run } = command;
    let castellan = start_current(config).await?;
    let data = crate::db::strapi::read(&from)
        .await
        .context("reading the Strapi database")?;
    let report = crate::service::import::import_strapi(&castellan.app, &data, dry_run)
        .await
        .map_err(plain)?;
    for line in report.lines() {
        println!("{line}");
    }
    if !report.conflicts.is_empty() {
        for conflict in &report.conflicts {
            eprintln!("conflict: {conflict}");
        }
        anyhow::bail!(
            "nothing was imported: {} conflict{} (see above); resolve them in Castellan or in \
             Strapi and run the import again",
            report.conflicts.len(),
            if report.conflicts.len() == 1 { "" } else { "s" }
        );
    }
    let changes = report.changes();
    if changes == 0 {
        println!("Nothing to change: Castellan already holds everything of this Strapi database.");
    } else if dry_run {
        println!("Dry run: {changes} changes would be made; nothing was changed.");
    } else {
        println!("Imported: {changes} changes, in one transaction.");
    }
    Ok(())
}

/// `castellan config export | diff | apply`.
pub async fn config(config: Config, command: ConfigCommand) -> anyhow::Result<()> {
    let castellan = start_current(config).await?;
    let app = &castellan.app;
    match command {
        ConfigCommand::Export { out } => {
            let text = config_sync::export(app)
                .await
                .map_err(plain)?
                .to_text()
                .map_err(plain)?;
            match out {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => print!("{text}"),
            }
            Ok(())
        }
        ConfigCommand::Diff { file } => {
            let compared = async {
                let file_text = read(&file)?;
                let mode = ApplyMode {
                    prune: false,
                    write: false,
                };
                config_sync::apply(app, &file_text, mode)
                    .await
                    .map_err(plain)
            };
            // 0: no drift, 1: drift, 2: no answer (a file that cannot be applied, say).
            let differences = match compared.await {
                Ok(differences) => differences,
                Err(error) => {
                    eprintln!("Error: {error:#}");
                    std::process::exit(2);
                }
            };
            for difference in &differences {
                println!("{difference}");
            }
            if differences.is_empty() {
                println!("No drift: the database equals {}.", file.display());
                Ok(())
            } else {
                println!(
                    "{} difference{} between the database and {}.",
                    differences.len(),
                    if differences.len() == 1 { "" } else { "s" },
                    file.display()
                );
                // Drift is an answer, not a failure of the command: exit 1 without an error.
                std::process::exit(1);
            }
        }
        ConfigCommand::Apply { file, prune } => {
            let file_text = read(&file)?;
            let differences = config_sync::apply(app, &file_text, ApplyMode { prune, write: true })
                .await
                .map_err(plain)?;
            report_applied(&differences);
            Ok(())
        }
    }
}

fn read(path: &Path) -> anyhow::Result<PermissionsFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    PermissionsFile::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn report_applied(differences: &[config_sync::Difference]) {
    for difference in differences {
        println!("{difference}");
    }
    let applied = differences
        .iter()
        .filter(|d| d.kind != DifferenceKind::OnlyInDatabase)
        .count();
    if applied == 0 {
        println!("Nothing to change: the database already holds the file.");
    } else {
        println!(
            "Applied {applied} change{}.",
            if applied == 1 { "" } else { "s" }
        );
    }
}

/// `serve --config-sync FILE`: applies the file (adds and updates) before serving.
pub async fn sync_at_start(app: &AppState, path: &Path) -> anyhow::Result<()> {
    let file = read(path)?;
    let differences = config_sync::apply(
        app,
        &file,
        ApplyMode {
            prune: false,
            write: true,
        },
    )
    .await
    .map_err(plain)
    .with_context(|| format!("applying {} at start-up", path.display()))?;
    let applied = differences
        .iter()
        .filter(|d| d.kind != DifferenceKind::OnlyInDatabase)
        .count();
    tracing::info!(file = %path.display(), applied, "permissions file synchronised");
    Ok(())
}

/// A failure of an operator's command as one line a person reads: a validation error with
/// several failed checks names each of them (`email must be a valid email; password …`).
pub fn plain_error(error: AppError) -> anyhow::Error {
    if let AppError::Validation { details, message } = &error
        && let Some(errors) = details.get("errors").and_then(serde_json::Value::as_array)
        && errors.len() > 1
    {
        let each: Vec<&str> = errors
            .iter()
            .filter_map(|e| e.get("message").and_then(serde_json::Value::as_str))
            .collect();
        if each.len() == errors.len() {
            return anyhow::anyhow!("{message}: {}", each.join("; "));
        }
    }
    plain(error)
}

/// Rows under a header, each column as wide as its widest cell.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn stamp(at: Option<chrono::NaiveDateTime>) -> String {
    at.map_or_else(|| "-".to_string(), |t| t.format("%Y-%m-%d %H:%M").to_string())
}

fn iso(at: Option<chrono::NaiveDateTime>) -> serde_json::Value {
    at.map_or(serde_json::Value::Null, |t| {
        serde_json::Value::String(t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    })
}

/// The first line of standard input, without its line ending.
fn password_from_stdin() -> anyhow::Result<String> {
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .context("reading the password from standard input")?;
    Ok(password.trim_end_matches(['\r', '\n']).to_string())
}

fn token_json(row: &crate::db::models::ApiTokenRow) -> serde_json::Value {
    serde_json::json!({
        "id": row.id,
        "documentId": row.document_id,
        "name": row.name,
        "description": row.description,
        "type": row.token_type,
        "actions": serde_json::from_str::<serde_json::Value>(&row.actions).unwrap_or_default(),
        "lifespan": row.lifespan,
        "expiresAt": iso(row.expires_at),
        "lastUsedAt": iso(row.last_used_at),
        "createdAt": iso(Some(row.created_at)),
    })
}

/// The id of the token named by `token`: its id, its documentId or its name.
async fn token_id(app: &AppState, token: &str) -> anyhow::Result<String> {
    let all = crate::service::api_tokens::list(app).await.map_err(plain)?;
    all.iter()
        .find(|t| t.id.to_string() == token || t.document_id == token)
        .or_else(|| all.iter().find(|t| t.name == token))
        .map(|t| t.id.to_string())
        .with_context(|| format!("there is no API token `{token}` (castellan token list shows them)"))
}

/// `castellan token create | list | delete | regenerate`. A key goes to stdout alone (or in the
/// JSON), so it can be captured; what happened goes to stderr.
pub async fn token(config: Config, command: TokenCommand, json: bool) -> anyhow::Result<()> {
    use crate::policy::actions;
    use crate::service::api_tokens;
    let castellan = Castellan::start(config).await?;
    let app = &castellan.app;
    match command {
        TokenCommand::Create {
            name,
            token_type,
            lifespan,
            description,
            actions: granted,
        } => {
            let data = api_tokens::NewTokenData {
                name,
                description,
                token_type: api_tokens::TokenType::parse(&token_type).map_err(plain_error)?,
                lifespan,
                actions: granted,
            };
            let access = crate::Access::operator(actions::API_TOKEN_CREATE);
            let (row, key) = api_tokens::create(app, &access, data)
                .await
                .map_err(plain_error)?;
            print_key(&row, &key, "Created", json)
        }
        TokenCommand::List => {
            let rows = api_tokens::list(app).await.map_err(plain)?;
            if json {
                return print_json(&rows.iter().map(token_json).collect());
            }
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|t| {
                    vec![
                        t.id.to_string(),
                        t.name.clone(),
                        t.token_type.clone(),
                        t.expires_at.map_or_else(|| "never".to_string(), |e| stamp(Some(e))),
                        stamp(t.last_used_at),
                        t.description.clone(),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(&["ID", "NAME", "TYPE", "EXPIRES", "LAST USED", "DESCRIPTION"], &cells)
            );
            Ok(())
        }
        TokenCommand::Delete { token } => {
            let id = token_id(app, &token).await?;
            let access = crate::Access::operator(actions::API_TOKEN_DELETE);
            let row = api_tokens::delete(app, &access, &id)
                .await
                .map_err(plain)?;
            if json {
                return print_json(&serde_json::json!({ "deleted": token_json(&row) }));
            }
            println!("Deleted API token {:?} (id {}); its key no longer works.", row.name, row.id);
            Ok(())
        }
        TokenCommand::Regenerate { token } => {
            let id = token_id(app, &token).await?;
            let access = crate::Access::operator(actions::API_TOKEN_REGENERATE);
            let (row, key) = api_tokens::regenerate(app, &access, &id)
                .await
                .map_err(plain)?;
            print_key(&row, &key, "Regenerated", json)
        }
    }
}

fn print_key(
    row: &crate::db::models::ApiTokenRow,
    key: &str,
    done: &str,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let mut value = token_json(row);
        value["accessKey"] = serde_json::Value::String(key.to_string());
        return print_json(&value);
    }
    eprintln!(
        "{done} API token {:?} ({}). Its key is shown once; keep it now:",
        row.name, row.token_type
    );
    println!("{key}");
    Ok(())
}

fn user_json(user: &crate::db::models::User, role: &crate::db::models::Role) -> serde_json::Value {
    serde_json::json!({
        "id": user.id,
        "documentId": user.document_id,
        "username": user.username,
        "email": user.email,
        "provider": user.provider,
        "confirmed": user.confirmed,
        "blocked": user.blocked,
        "role": role.role_type,
        "createdAt": iso(Some(user.created_at)),
    })
}

/// The user named by `user`: id, documentId, username or email.
async fn user_id(app: &AppState, user: &str) -> anyhow::Result<String> {
    if let Some((found, _)) = crate::service::users::find(app, user).await.map_err(plain)? {
        return Ok(found.id.to_string());
    }
    let mut conn = app.db.conn().await.map_err(plain)?;
    let found = crate::db::models::User::find_local_by_identifier(&mut conn, user).await?;
    match found.as_slice() {
        [] => anyhow::bail!("there is no user `{user}` (castellan user list shows them)"),
        [(one, _)] => Ok(one.id.to_string()),
        [(first, _), ..] if first.email == user.to_lowercase() => Ok(first.id.to_string()),
        _ => anyhow::bail!("`{user}` names several users: give the id (castellan user list)"),
    }
}

/// The id of the role of type `role` (or of id or documentId `role`).
async fn role_id(app: &AppState, role: &str) -> anyhow::Result<crate::db::models::Role> {
    let mut conn = app.db.conn().await.map_err(plain)?;
    if let Some(found) = crate::db::models::Role::find_by_type(&mut conn, role).await? {
        return Ok(found);
    }
    drop(conn);
    crate::service::roles::find(app, role)
        .await
        .map_err(plain)?
        .with_context(|| format!("there is no role `{role}` (castellan role list shows them)"))
}

/// `castellan user create | list | block | unblock | set-role | reset-password`.
pub async fn user(config: Config, command: UserCommand, json: bool) -> anyhow::Result<()> {
    use crate::policy::actions;
    use crate::service::users::{self, UserData};
    // The password is read before the database is opened: a pipe that fails costs nothing.
    let password = match &command {
        UserCommand::Create { .. } | UserCommand::ResetPassword { .. } => {
            Some(password_from_stdin()?)
        }
        _ => None,
    };
    let castellan = Castellan::start(config).await?;
    let app = &castellan.app;
    let (done, user, role) = match command {
        UserCommand::Create {
            username,
            email,
            password_stdin: _,
            role,
        } => {
            let role = role_id(app, &role).await?;
            let data = UserData {
                username: Some(username),
                email: Some(email),
                password,
                confirmed: Some(true),
                role: Some(role.id.to_string()),
                ..Default::default()
            };
            let access = crate::Access::operator(actions::USER_CREATE);
            let (user, role) = users::create(app, &access, data)
                .await
                .map_err(plain_error)?;
            ("Created", user, role)
        }
        UserCommand::List => {
            let dialect = app.db.backend();
            let order = crate::db::fields::USERS.order_by(&[]).map_err(plain)?;
            let filter = crate::db::sql::SqlWhere::always(dialect);
            let mut found = Vec::new();
            loop {
                let page = crate::service::listing::Page {
                    offset: i64::try_from(found.len())?,
                    limit: 500,
                };
                let batch = users::list(app, &filter, None, &order, page)
                    .await
                    .map_err(plain)?;
                let last = batch.len() < 500;
                found.extend(batch);
                if last {
                    break;
                }
            }
            if json {
                return print_json(&found.iter().map(|(u, r)| user_json(u, r)).collect());
            }
            let yes = |b: bool| if b { "yes" } else { "no" }.to_string();
            let cells: Vec<Vec<String>> = found
                .iter()
                .map(|(u, r)| {
                    vec![
                        u.id.to_string(),
                        u.username.clone(),
                        u.email.clone(),
                        r.role_type.clone(),
                        yes(u.confirmed),
                        yes(u.blocked),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(&["ID", "USERNAME", "EMAIL", "ROLE", "CONFIRMED", "BLOCKED"], &cells)
            );
            return Ok(());
        }
        other => {
            let (target, data, done) = match other {
                UserCommand::Block { user } => (
                    user,
                    UserData { blocked: Some(true), ..Default::default() },
                    "Blocked",
                ),
                UserCommand::Unblock { user } => (
                    user,
                    UserData { blocked: Some(false), ..Default::default() },
                    "Unblocked",
                ),
                UserCommand::SetRole { user, role } => {
                    let role = role_id(app, &role).await?;
                    (
                        user,
                        UserData { role: Some(role.id.to_string()), ..Default::default() },
                        "Changed the role of",
                    )
                }
                UserCommand::ResetPassword { user, .. } => (
                    user,
                    UserData { password, ..Default::default() },
                    "Set a new password for",
                ),
                UserCommand::Create { .. } | UserCommand::List => {
                    anyhow::bail!("internal: command handled above")
                }
            };
            let id = user_id(app, &target).await?;
            let access = crate::Access::operator(actions::USER_UPDATE);
            let (user, role) = users::update(app, &access, &id, data)
                .await
                .map_err(plain_error)?;
            (done, user, role)
        }
    };
    if json {
        return print_json(&user_json(&user, &role));
    }
    println!(
        "{done} user {} (id {}, {}): role {}{}",
        user.username,
        user.id,
        user.email,
        role.role_type,
        if user.blocked { ", blocked" } else { "" }
    );
    Ok(())
}

fn grant_text(grant: &crate::service::roles::GrantSpec) -> String {
    let mut text = grant.action.clone();
    if !grant.conditions.is_empty() {
        text.push_str(&format!(" if {}", grant.conditions.join(" or ")));
    }
    if let Some(fields) = &grant.fields {
        text.push_str(&format!(" (fields: {})", fields.join(", ")));
    }
    text
}

async fn role_json(app: &AppState, role: &crate::db::models::Role) -> anyhow::Result<serde_json::Value> {
    let grants = crate::service::roles::grants_of(app, role.id)
        .await
        .map_err(plain)?;
    let users = crate::service::roles::user_count(app, role.id)
        .await
        .map_err(plain)?;
    Ok(serde_json::json!({
        "id": role.id,
        "documentId": role.document_id,
        "name": role.name,
        "type": role.role_type,
        "description": role.description,
        "users": users,
        "grants": grants.iter().map(|g| serde_json::json!({
            "action": g.action,
            "conditions": g.conditions,
            "fields": g.fields,
        })).collect::<Vec<_>>(),
    }))
}

/// `castellan role list | grant | revoke`.
pub async fn role(config: Config, command: RoleCommand, json: bool) -> anyhow::Result<()> {
    use crate::policy::actions;
    use crate::service::roles;
    let castellan = Castellan::start(config).await?;
    let app = &castellan.app;
    let (role, done) = match command {
        RoleCommand::List => {
            let mut conn = app.db.conn().await.map_err(plain)?;
            let all = crate::db::models::Role::all(&mut conn).await?;
            drop(conn);
            let mut described = Vec::with_capacity(all.len());
            for role in &all {
                described.push(role_json(app, role).await?);
            }
            if json {
                return print_json(&serde_json::Value::Array(described));
            }
            let cells: Vec<Vec<String>> = described
                .iter()
                .map(|r| {
                    let count = r["grants"].as_array().map_or(0, Vec::len);
                    vec![
                        r["id"].to_string(),
                        r["type"].as_str().unwrap_or_default().to_string(),
                        r["name"].as_str().unwrap_or_default().to_string(),
                        r["users"].to_string(),
                        count.to_string(),
                    ]
                })
                .collect();
            print!("{}", table(&["ID", "TYPE", "NAME", "USERS", "GRANTS"], &cells));
            return Ok(());
        }
        RoleCommand::Grant {
            role,
            action,
            conditions,
            fields,
        } => {
            let found = role_id(app, &role).await?;
            let grant = roles::GrantSpec {
                action,
                conditions,
                fields: (!fields.is_empty()).then_some(fields),
            };
            let text = grant_text(&grant);
            let access = crate::Access::operator(actions::ROLE_UPDATE);
            let role = roles::add_grant(app, &access, &found.id.to_string(), grant)
                .await
                .map_err(plain_error)?;
            (role, format!("Granted {text} to"))
        }
        RoleCommand::Revoke { role, action } => {
            let found = role_id(app, &role).await?;
            let access = crate::Access::operator(actions::ROLE_UPDATE);
            let role = roles::remove_grant(app, &access, &found.id.to_string(), &action)
                .await
                .map_err(plain_error)?;
            (role, format!("Revoked {action} from"))
        }
    };
    if json {
        return print_json(&role_json(app, &role).await?);
    }
    let grants = roles::grants_of(app, role.id).await.map_err(plain)?;
    println!(
        "{done} role {} ({} grant{}):",
        role.role_type,
        grants.len(),
        if grants.len() == 1 { "" } else { "s" }
    );
    for grant in &grants {
        println!("  {}", grant_text(grant));
    }
    Ok(())
}
