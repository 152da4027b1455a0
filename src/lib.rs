//! Shipyard: a self-service portal that bootstraps a containerized service on GitHub and AWS.
//!
//! Layers, each depending only on those below it: `web` (handlers, pages, sessions) → `commands`
//! (what people can ask for) → `provision` (the step table and the reconciler) → `github`, `aws`
//! (clients) → `db` → `domain`.

pub mod app;
pub mod aws;
pub mod commands;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod github;
pub mod metrics;
pub mod provider;
pub mod provision;
pub mod telemetry;
pub mod web;

pub use app::Application;
pub use config::Config;
