use anyhow::Context as _;
use castellan::cli::{Cli, Command};
use castellan::{Castellan, Config};
use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    match cli.command.unwrap_or(Command::Serve) {
        Command::Schema => {
            print!("{}", castellan::graphql::sdl());
            Ok(())
        }
        Command::Migrate => {
            let config = Config::load(cli.options.sources())?;
            let db = castellan::db::Db::connect(&config.database_url, config.database_pool_size)?;
            db.migrate().await?;
            println!("database is up to date");
            Ok(())
        }
        Command::Serve => serve(Config::load(cli.options.sources())?).await,
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let address = format!("{}:{}", config.host, config.port);
    let castellan = Castellan::start(config).await?;
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .with_context(|| format!("listening on {address}"))?;
    let local = listener.local_addr()?;
    let shown_host = if local.ip().is_unspecified() {
        "localhost".to_string()
    } else {
        local.ip().to_string()
    };
    println!("Castellan is listening on {local}");
    println!(
        "GraphQL API and GraphiQL: http://{shown_host}:{}/graphql",
        local.port()
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
