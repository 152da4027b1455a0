//! Logging: human-readable text by default, JSON lines when `LOG_FORMAT=json`.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,shipyard=info,tower_http=info,sqlx=warn,aws=warn,octocrab=warn")
    });
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Json => registry.with(fmt::layer().json().with_current_span(true)).init(),
        LogFormat::Text => registry.with(fmt::layer()).init(),
    }
}
