use anyhow::Context as _;
use castellan::cli::{Cli, Command, TokenCommand, UserCommand};
use castellan::{Castellan, Config};
use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    logging(std::env::var("LOG_FORMAT").ok().as_deref())?;

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
        Command::Serve(args) => serve(castellan::load_config(cli.options.sources())?, args).await,
        Command::Import { command } => {
            castellan::commands::import(castellan::load_config(cli.options.sources())?, command).await
        }
        Command::Config { command } => {
            castellan::commands::config(castellan::load_config(cli.options.sources())?, command).await
        }
        Command::Token { command } => token(castellan::load_config(cli.options.sources())?, command).await,
        Command::User { command } => user(castellan::load_config(cli.options.sources())?, command).await,
    }
}

/// Log lines go to stderr: text by default, one JSON object per line with `LOG_FORMAT=json`.
/// `RUST_LOG` chooses what is logged (default `info`: start-up, and one line per request).
fn logging(format: Option<&str>) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format.unwrap_or("text") {
        "json" => logs.json().init(),
        "text" => logs.init(),
        other => anyhow::bail!("LOG_FORMAT must be `text` or `json`, not `{other}`"),
    }
    Ok(())
}

/// `castellan token create`: the key goes to stdout, alone, so it can be captured.
async fn token(config: Config, command: TokenCommand) -> anyhow::Result<()> {
    let TokenCommand::Create {
        name,
        token_type,
        lifespan,
        description,
        actions,
    } = command;
    let castellan = Castellan::start(config).await?;
    let data = castellan::service::api_tokens::NewTokenData {
        name,
        description,
        token_type: castellan::service::api_tokens::TokenType::parse(&token_type)
            .map_err(cli_error)?,
        lifespan,
        actions,
    };
    let (row, key) = castellan::service::api_tokens::create(
        &castellan.app,
        &castellan::Access::operator(castellan::policy::actions::API_TOKEN_CREATE),
        data,
    )
        .await
        .map_err(cli_error)?;
    eprintln!(
        "Created API token {:?} ({}). Its key is shown once; keep it now:",
        row.name, row.token_type
    );
    println!("{key}");
    Ok(())
}

/// `castellan user create`: a confirmed user, the password from stdin.
async fn user(config: Config, command: UserCommand) -> anyhow::Result<()> {
    let UserCommand::Create {
        username,
        email,
        password_stdin: _,
        role,
    } = command;
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .context("reading the password from standard input")?;
    let password = password.trim_end_matches(['\r', '\n']).to_string();
    let castellan = Castellan::start(config).await?;
    let mut conn = castellan.app.db.conn().await.map_err(cli_error)?;
    let found = castellan::db::models::Role::find_by_type(&mut conn, &role).await?;
    drop(conn);
    let role = found.with_context(|| format!("there is no role of type `{role}`"))?;
    let data = castellan::service::users::UserData {
        username: Some(username),
        email: Some(email),
        password: Some(password),
        confirmed: Some(true),
        role: Some(role.id.to_string()),
        ..Default::default()
    };
    let access = castellan::Access::operator(castellan::policy::actions::USER_CREATE);
    let (user, role) = castellan::service::users::create(&castellan.app, &access, data)
        .await
        .map_err(cli_error)?;
    println!(
        "Created user {} (id {}) in role {}",
        user.username, user.id, role.role_type
    );
    Ok(())
}

fn cli_error(error: castellan::AppError) -> anyhow::Error {
    match error {
        castellan::AppError::Internal(inner) => inner,
        other => anyhow::anyhow!("{other}"),
    }
}

async fn serve(config: Config, args: castellan::cli::ServeArgs) -> anyhow::Result<()> {
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
