use anyhow::Context as _;
use std::io::IsTerminal as _;

use castellan::cli::{Cli, Command};
use castellan::{Castellan, Config};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// A failure prints one line, `error: …` with its causes, and exits with 1: never a Debug dump
/// or a backtrace, whatever `RUST_BACKTRACE` says.
fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let json = match logging(std::env::var("LOG_FORMAT").ok().as_deref()) {
        Ok(json) => json,
        Err(error) => return fail(&error, false),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&error.into(), json),
    };
    match runtime.block_on(run(cli, json)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => fail(&error, json),
    }
}

/// Reports `error` on stderr: a JSON log line with `LOG_FORMAT=json`, else `error: …`.
fn fail(error: &anyhow::Error, json: bool) -> std::process::ExitCode {
    if json {
        tracing::error!(error = format!("{error:#}"), "castellan stopped");
    } else {
        eprintln!("error: {error:#}");
    }
    std::process::ExitCode::FAILURE
}

async fn run(cli: Cli, json: bool) -> anyhow::Result<()> {
    match cli
        .command
        .unwrap_or_else(|| Command::Serve(Default::default()))
    {
        Command::Schema => {
            print!("{}", castellan::graphql::sdl());
            Ok(())
        }
        Command::Migrate => {
            let config = castellan::load_config(cli.options.sources())?;
            let db = castellan::db::Db::connect(&config.database_url, config.database_pool_size)?;
            db.migrate().await?;
            println!("database is up to date");
            Ok(())
        }
        Command::Serve(args) => {
            serve(castellan::load_config(cli.options.sources())?, args, json).await
        }
        Command::Import { command } => {
            castellan::commands::import(castellan::load_config(cli.options.sources())?, command).await
        }
        Command::Config { command } => {
            castellan::commands::config(castellan::load_config(cli.options.sources())?, command).await
        }
        Command::Token { json, command } => {
            castellan::commands::token(castellan::load_config(cli.options.sources())?, command, json)
                .await
        }
        Command::User { json, command } => {
            castellan::commands::user(castellan::load_config(cli.options.sources())?, command, json)
                .await
        }
        Command::Role { json, command } => {
            castellan::commands::role(castellan::load_config(cli.options.sources())?, command, json)
                .await
        }
    }
}

/// Log lines go to stderr: text by default (coloured only when stderr is a terminal), one JSON
/// object per line with `LOG_FORMAT=json`. `RUST_LOG` chooses what is logged (default `info`:
/// start-up, and one line per request). Whether the logs are JSON.
fn logging(format: Option<&str>) -> anyhow::Result<bool> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format.unwrap_or("text") {
        "json" => logs.json().init(),
        "text" => logs.init(),
        other => anyhow::bail!("LOG_FORMAT must be `text` or `json`, not `{other}`"),
    }
    Ok(format == Some("json"))
}

/// The lines that say where the server listens, on stdout: two lines of text, or with JSON
/// logs one JSON object (in the form of the log lines) carrying the address and the URL.
fn announce(local: std::net::SocketAddr, url: &str, json: bool) {
    if json {
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(std::io::stdout)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(address = %local, graphql = url, "Castellan is listening");
        });
    } else {
        println!("Castellan is listening on {local}");
        println!("GraphQL API and GraphiQL: {url}");
    }
}

async fn serve(config: Config, args: castellan::cli::ServeArgs, json: bool) -> anyhow::Result<()> {
    let address = format!("{}:{}", config.host, config.port);
    let castellan = Castellan::start(config).await?;
    if let Some(file) = &args.config_sync {
        castellan::commands::sync_at_start(&castellan.app, file).await?;
    }
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .with_context(|| format!("listening on {address}"))?;
    let local = listener.local_addr()?;
    let shown_host = if local.ip().is_unspecified() {
        "localhost".to_string()
    } else {
        local.ip().to_string()
    };
    announce(
        local,
        &format!("http://{shown_host}:{}/graphql", local.port()),
        json,
    );
    castellan.serve(listener, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
