//! GitHub: the REST client Shipyard provisions with, and the OAuth login flow.

mod actions;
mod app_auth;
pub mod budget;
mod classify;
pub mod client;
mod environments;
mod guardrails;
pub mod models;
pub mod oauth;
mod repos;
pub mod rulesets;
mod scopes;
pub mod secrets;
mod teams;
mod transport;
pub mod webhooks;

pub use actions::ActionsKey;
pub use budget::Budget;
pub use client::GitHub;
pub use environments::{EnvironmentRules, default_branch_only};
pub use guardrails::{RepoFile, Switched};
pub use models::{DispatchOutcome, GitHubUser, Membership, Repo, SecretScanning, Workflow, WorkflowRun};
pub use teams::Team;
