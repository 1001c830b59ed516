//! The `castellan` command line: `serve` (the default), `migrate`, `schema`, and the operator's
//! commands (`token`, `user`, `role`, `import`, `config`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Sources;

#[derive(Debug, Parser)]
#[command(
    name = "castellan",
    version,
    about = "A GraphQL users-and-permissions server"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub options: Options,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database, seed the default roles and serve the API (the default).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL) to stdout.
    Schema,
    /// Manage API tokens.
    Token {
        /// Print JSON instead of a table.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage users.
    User {
        /// Print JSON instead of a table.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: UserCommand,
    },
    /// List roles; add or remove one grant of a role.
    Role {
        /// Print JSON instead of a table.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: RoleCommand,
    },
    /// Move in from another server.
    Import {
        #[command(subcommand)]
        command: crate::commands::ImportCommand,
    },
    /// Roles and permissions as code: export, diff and apply a permissions file.
    Config {
        #[command(subcommand)]
        command: crate::commands::ConfigCommand,
    },
}

#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// Apply this permissions file at start-up (as `config apply`), before serving.
    #[arg(long, value_name = "FILE")]
    pub config_sync: Option<PathBuf>,
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

#[derive(Debug, Args)]
pub struct Options {
    /// Configuration file (default: ./castellan.toml when it exists).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Interface to listen on [default: 0.0.0.0].
    #[arg(long, env = "HOST", global = true)]
    pub host: Option<String>,
    /// Port to listen on [default: 1337].
    #[arg(long, env = "PORT", global = true)]
    pub port: Option<u16>,
    /// sqlite://PATH or postgres://USER@HOST:PORT/DB [default: sqlite://./data/castellan.db].
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,
}

impl Options {
    /// The configuration sources; `JWT_SECRET`, `API_TOKEN_SALT`, `METRICS_TOKEN`, `SMTP_URL`
    /// (it may hold a password), `SERVER_URL` and `CASTELLAN_ENV` come from the environment
    /// only, so a secret never shows in a process list.
    pub fn sources(&self) -> Sources {
        Sources {
            config_file: self.config.clone(),
            environment: std::env::var("CASTELLAN_ENV")
                .ok()
                .filter(|v| !v.is_empty()),
            host: self.host.clone(),
            port: self.port,
            database_url: self.database_url.clone(),
            jwt_secret: std::env::var("JWT_SECRET").ok(),
            api_token_salt: std::env::var("API_TOKEN_SALT").ok(),
            smtp_url: std::env::var("SMTP_URL").ok(),
            redis_url: std::env::var("REDIS_URL").ok(),
            server_url: std::env::var("SERVER_URL").ok().filter(|v| !v.is_empty()),
            metrics_token: std::env::var("METRICS_TOKEN").ok(),
        }
    }
}
