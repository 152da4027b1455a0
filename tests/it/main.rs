//! All integration tests in one binary: one link instead of one per file, and one place that lists them.
//! Each module is black-box: the real router, a fresh database, github-sim in-process, moto, chromium.

mod common;

mod access;
mod accounts;
mod api;
mod audit;
mod auth;
mod aws_moto;
mod aws_permissions;
mod browser;
mod budget;
mod contract;
mod deletion;
mod drift;
mod ecr_settings;
mod edge;
mod engine;
mod github_app;
mod github_client;
mod guardrails;
mod inventory;
mod live;
mod metrics;
mod operations;
mod provisioning;
mod provisioning_faults;
mod rate_limits;
mod roles;
mod rulesets;
mod sandbox_strictness;
mod service_page;
mod services_form;
mod teams;
mod webhook;
mod wiring;
