//! GitHub: the REST client Shipyard provisions with, and the OAuth login flow.

mod actions;
mod app_auth;
mod classify;
pub mod client;
pub mod models;
pub mod oauth;
mod repos;
pub mod secrets;
mod transport;

pub use client::GitHub;
pub use models::{DispatchOutcome, GitHubUser, Membership, Repo, Workflow, WorkflowRun};
