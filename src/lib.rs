//! Shipyard: a self-service portal that bootstraps a containerized service on GitHub and AWS.

pub mod app;
pub mod aws;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod github;
pub mod metrics;
pub mod provider;
pub mod provision;
pub mod telemetry;
pub mod templates;
pub mod web;

pub use app::{AppState, build_app};
pub use config::Config;
