//! Helpers shared by integration tests (`mod common;`). Each submodule is owned by the area it serves.
#![allow(dead_code)]

pub mod app;
pub mod aws_faults;
pub mod browser;
pub mod checks;
pub mod fixtures;
