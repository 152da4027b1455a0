//! `github-sim --listen 127.0.0.1:3001 --seed FILE [--generate-delay-ms N] [--run-duration-ms N]
//!  [--public-url URL] [--no-oidc-customization] [--no-secondary-limits] [--installation-token-ttl-secs N]
//!  [--aws-endpoint-url URL] [--oidc-issuer URL] [--ghes HOST] [--rerun-visibility-lag-ms N]
//!  [--iam-propagation-delay-ms N]`;
//! `github-sim --print-seed` prints the sandbox seed.
//!
//! Runs the simulator for the sandbox. Logs go to stderr (`RUST_LOG` filters); tokens are never logged.

use std::time::Duration;

use anyhow::{Context as _, bail};
use github_sim::{Seed, SimConfig};
use tracing_subscriber::EnvFilter;

const USAGE: &str = "usage: github-sim --listen ADDR [--seed FILE] [--generate-delay-ms N] [--run-duration-ms N] \
                     [--public-url URL] [--no-oidc-customization] [--no-secondary-limits] \
                     [--installation-token-ttl-secs N] [--aws-endpoint-url URL] [--oidc-issuer URL] \
                     [--ghes HOST] [--rerun-visibility-lag-ms N] [--iam-propagation-delay-ms N] | --print-seed";

struct Args {
    listen: String,
    config: SimConfig,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Args> {
    let mut listen = None;
    let mut config = SimConfig::new(Seed::sandbox());
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--listen" => listen = Some(value()?),
            "--seed" => config.seed = Seed::from_file(value()?)?,
            "--generate-delay-ms" => config.generate_delay = Duration::from_millis(value()?.parse()?),
            "--run-duration-ms" => config.run_duration = Duration::from_millis(value()?.parse()?),
            "--public-url" => config.public_url = Some(value()?),
            "--no-oidc-customization" => config.oidc_customization_endpoint = false,
            "--no-secondary-limits" => config.secondary_limits = github_sim::SecondaryLimits::OFF,
            "--installation-token-ttl-secs" => {
                config.installation_token_ttl = Duration::from_secs(value()?.parse()?);
            }
            "--aws-endpoint-url" => config.aws_endpoint_url = Some(value()?),
            "--oidc-issuer" => config.oidc_issuer = value()?,
            "--ghes" => config = config.ghes(&value()?),
            "--rerun-visibility-lag-ms" => {
                config.rerun_visibility_lag = Duration::from_millis(value()?.parse()?);
            }
            "--iam-propagation-delay-ms" => {
                config.iam_propagation_delay = Duration::from_millis(value()?.parse()?)
            }
            "--print-seed" => {
                println!("{}", serde_json::to_string_pretty(&Seed::sandbox())?);
                std::process::exit(0);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(Args { listen: listen.with_context(|| format!("--listen is required\n{USAGE}"))?, config })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let args = parse_args(std::env::args().skip(1))?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    github_sim::serve(args.config, listener).await
}
