//! Domain types: parsed once at the edge, trusted everywhere after ("parse, don't validate").

mod names;
mod org_role;
pub mod push_role;
pub(crate) mod status;
mod subject;
mod team;

pub(crate) use names::iam_clean;
pub use names::{BranchName, Environment, IamNames, ServiceName, TemplateRef, Visibility};
pub use org_role::OrgRole;
pub use push_role::PushRoleSpec;
pub use status::{AuditAction, Desired, Outcome, RoleKind, ServiceStatus, StepName, StepStatus};
pub use subject::SubjectPrefix;
pub use team::{TeamPermission, TeamSlug};
