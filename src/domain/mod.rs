//! Domain types: parsed once at the edge, trusted everywhere after ("parse, don't validate").

mod names;
mod org_role;
pub(crate) mod status;

pub use names::{BranchName, Environment, IamNames, ServiceName, TemplateRef, Visibility};
pub use org_role::OrgRole;
pub use status::{AuditAction, Desired, Outcome, ServiceStatus, StepName, StepStatus};
