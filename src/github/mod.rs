//! GitHub: the REST client Shipyard provisions with, and the OAuth login flow.

mod actions;
mod classify;
pub mod client;
pub mod models;
pub mod oauth;
mod repos;
pub mod secrets;
mod transport;

pub use client::GitHub;
pub use models::{DispatchOutcome, GitHubUser, Membership, OrgRole, Repo, Workflow, WorkflowRun};
