//! `cargo run --example member_progress` — Castellan plus a "member progress" field and route of
//! our own, protected by the same roles, grants and conditions. See README, "Protecting your own
//! resolvers and routes".

mod progress;

use castellan::Config;
use castellan::cli::Cli;
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let config = Config::load(cli.options.sources())?;
    let address = format!("{}:{}", config.host, config.port);
    let castellan = progress::builder(config).start().await?;
    progress::create_table(&castellan.app).await?;
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!(
        "Castellan with member progress is listening on {}",
        listener.local_addr()?
    );
    println!(
        "GraphQL: /graphql (memberProgress)   REST: GET /api/progress   action: {}",
        progress::GET_PROGRESS
    );
    castellan
        .serve(listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
