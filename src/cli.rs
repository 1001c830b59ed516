//! The `castellan` command line: `serve` (the default), `migrate`, `schema`, and the operator's
//! commands (`token`, `user`, `role`, `import`, `config`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Sources;
pub use crate::commands::{RoleCommand, TokenCommand, UserCommand};

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
