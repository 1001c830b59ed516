//! The commands that move data in and keep permissions as code: `castellan import strapi`,
//! `castellan config export | diff | apply`, and `serve --config-sync`. They refuse to run on
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
