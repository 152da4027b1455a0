//! The step table: every step declared once, with its label, phase, dependencies, and one ensure
//! with a typed output. The graph the reconciler runs, the labels and progress the pages show, and
//! the delete order all derive from [`TABLE`].
//!
//! Adding a step is a `StepName` variant, one `impl Step` (in the file of the system it acts on)
//! and its row in [`TABLE`]; a later step reads its output typed with `cx.output::<TheStep>()`.
//!
//! A step of [`Scope::Role`] runs once per extra push role of the service (see [`plan`]); it reads
//! its role from `cx.role()`, and its outputs and dependencies are its own role's.

mod aws;
mod build;
mod delete;
mod github;
mod ownership;
mod preflight;
mod roles;
mod ruleset;
mod secrets;
mod security;
mod team;
pub(crate) mod trust;
mod webhook;

use std::{collections::HashMap, future::Future, sync::LazyLock, time::Duration};

use futures::future::BoxFuture;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use time::OffsetDateTime;

use super::{Providers, Settings};
use crate::{
    aws::ResourceTags,
    db::{roles::ServiceRole, services::Service, steps::Step as StepRow},
    domain::{BranchName, Desired, Environment, IamNames, ServiceName, StepName, TemplateRef},
    provider::{ErrorKind, ProviderError, System},
};

pub use aws::{
    EcrRepository, EcrSettings, EcrSettingsOutput, IamAttachment, IamPolicy, IamRole, OidcProvider,
};
pub use build::{FirstBuild, FirstBuildOutput};
pub use delete::{DeleteEcrRepository, DeleteGithubRepository, DeletePolicy, DeleteRole};
pub use github::{GithubRepository, OidcSubject, RepoOutput};
pub use ownership::{OwnedFile, OwnershipFiles, OwnershipOutput};
pub use preflight::Preflight;
pub use roles::{
    DeletePushRole, DetachPushRole, EnvironmentProtection, PushRole, PushRoleAttachment, PushRoleSecret,
    RemovePushRole, RemovePushRoleSecret, RoleSecretOutput,
};
pub use ruleset::{BranchRuleset, RulesetOutput, RulesetState};
pub use secrets::{ActionsSecrets, ROLE_SECRET};
pub use security::{BaselineOutput, Part, SecurityBaseline};
pub use team::{TeamAccess, TeamAccessOutput};
pub use webhook::{GithubWebhook, WebhookOutput};

/// Which pass a step belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Runs while the service is `provisioning`.
    Create,
    /// Runs while the service is `deleting`.
    Delete,
}

/// What a step acts on: the service's own resources, or each of its extra push roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Runs once per pass.
    Service,
    /// Runs once for each role the service wants, is removing, or has at all.
    Role(Desired),
    /// Runs once for every role the service has, wanted or being removed.
    EveryRole,
}

impl Scope {
    fn covers(self, role: &ServiceRole) -> bool {
        match self {
            Scope::Service => false,
            Scope::Role(desired) => role.desired == desired,
            Scope::EveryRole => true,
        }
    }
}

/// One step run of a pass: the step and, for a role's step, the role's name (`""` otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StepKey {
    pub step: StepName,
    pub instance: String,
}

impl StepKey {
    pub fn service(step: StepName) -> Self {
        Self { step, instance: String::new() }
    }

    pub fn of(row: &StepRow) -> Self {
        Self { step: row.step, instance: row.instance.clone() }
    }

    pub fn is(&self, row: &StepRow) -> bool {
        row.step == self.step && row.instance == self.instance
    }
}

impl std::fmt::Display for StepKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.instance.as_str() {
            "" => write!(f, "{}", self.step),
            role => write!(f, "{} ({role})", self.step),
        }
    }
}

/// What an ensure ended with.
#[derive(Debug)]
pub enum Ensured<T> {
    /// The resource is as it should be; `T` is recorded for later steps and the pages.
    Done(T),
    /// Something slow is under way (a build): record `state`, give the worker back, and run the
    /// ensure again after `recheck_in` (or sooner, on a wake-up), when `cx.previous()` returns it.
    Wait { state: T, recheck_in: Duration },
}

/// One step: everything about it in one place.
pub trait Step: Send + Sync + 'static {
    const NAME: StepName;
    /// What the person sees next to the step.
    const LABEL: &'static str;
    const PHASE: Phase;
    /// The steps that must be done before this one may start.
    const DEPENDS_ON: &'static [StepName];
    /// A failure of this step is shown but does not fail the service.
    const BEST_EFFORT: bool = false;
    const SCOPE: Scope = Scope::Service;
    /// What the step records, read back typed by later steps.
    type Output: Serialize + DeserializeOwned + Send + Sync + 'static;

    fn ensure(cx: &Cx<'_>) -> impl Future<Output = Result<Ensured<Self::Output>, ProviderError>> + Send;
}

/// A step's ensure with its output type erased (serialized to JSON for the step row).
pub type RunFn = for<'a> fn(&'a Cx<'a>) -> BoxFuture<'a, Result<Ensured<Value>, ProviderError>>;

/// A step with its type erased: what the table holds and the reconciler runs.
pub struct StepDef {
    pub name: StepName,
    pub label: &'static str,
    pub phase: Phase,
    pub depends_on: &'static [StepName],
    pub best_effort: bool,
    pub scope: Scope,
    pub run: RunFn,
}

impl StepDef {
    pub const fn of<S: Step>() -> Self {
        Self {
            name: S::NAME,
            label: S::LABEL,
            phase: S::PHASE,
            depends_on: S::DEPENDS_ON,
            best_effort: S::BEST_EFFORT,
            scope: S::SCOPE,
            run: run_erased::<S>,
        }
    }
}

fn run_erased<'a, S: Step>(cx: &'a Cx<'a>) -> BoxFuture<'a, Result<Ensured<Value>, ProviderError>> {
    Box::pin(async move {
        let encode = |output: &S::Output| {
            serde_json::to_value(output).map_err(|e| internal(format!("step {} output: {e}", S::NAME)))
        };
        Ok(match S::ensure(cx).await? {
            Ensured::Done(output) => Ensured::Done(encode(&output)?),
            Ensured::Wait { state, recheck_in } => Ensured::Wait { state: encode(&state)?, recheck_in },
        })
    })
}

/// Every step, create steps first, each after the steps it depends on.
pub static TABLE: [StepDef; 27] = [
    StepDef::of::<Preflight>(),
    StepDef::of::<OidcProvider>(),
    StepDef::of::<EcrRepository>(),
    StepDef::of::<EcrSettings>(),
    StepDef::of::<GithubRepository>(),
    StepDef::of::<TeamAccess>(),
    StepDef::of::<OidcSubject>(),
    StepDef::of::<IamPolicy>(),
    StepDef::of::<IamRole>(),
    StepDef::of::<IamAttachment>(),
    StepDef::of::<ActionsSecrets>(),
    StepDef::of::<GithubWebhook>(),
    StepDef::of::<OwnershipFiles>(),
    StepDef::of::<SecurityBaseline>(),
    StepDef::of::<BranchRuleset>(),
    StepDef::of::<FirstBuild>(),
    StepDef::of::<PushRole>(),
    StepDef::of::<PushRoleAttachment>(),
    StepDef::of::<PushRoleSecret>(),
    StepDef::of::<RemovePushRoleSecret>(),
    StepDef::of::<DetachPushRole>(),
    StepDef::of::<RemovePushRole>(),
    StepDef::of::<DeleteRole>(),
    StepDef::of::<DeletePushRole>(),
    StepDef::of::<DeletePolicy>(),
    StepDef::of::<DeleteEcrRepository>(),
    StepDef::of::<DeleteGithubRepository>(),
];

/// The table entry of `name`.
pub fn def(name: StepName) -> &'static StepDef {
    TABLE.iter().find(|d| d.name == name).expect("every StepName has a row in TABLE (a unit test checks)")
}

/// The steps of `phase`, in table order.
pub fn phase_steps(phase: Phase) -> &'static [StepName] {
    static CREATE: LazyLock<Vec<StepName>> = LazyLock::new(|| names_of(Phase::Create));
    static DELETE: LazyLock<Vec<StepName>> = LazyLock::new(|| names_of(Phase::Delete));
    match phase {
        Phase::Create => &CREATE,
        Phase::Delete => &DELETE,
    }
}

fn names_of(phase: Phase) -> Vec<StepName> {
    TABLE.iter().filter(|d| d.phase == phase).map(|d| d.name).collect()
}

/// The service's own steps of `phase`: the rows a new service or a delete request starts with.
pub fn service_steps(phase: Phase) -> Vec<StepName> {
    TABLE.iter().filter(|d| d.phase == phase && d.scope == Scope::Service).map(|d| d.name).collect()
}

/// What a pass of `phase` runs, in table order: each service step once, each role step once per
/// role its scope covers.
pub fn plan(phase: Phase, roles: &[ServiceRole]) -> Vec<StepKey> {
    let mut keys = Vec::new();
    for d in TABLE.iter().filter(|d| d.phase == phase) {
        match d.scope {
            Scope::Service => keys.push(StepKey::service(d.name)),
            scope => keys.extend(
                roles
                    .iter()
                    .filter(|r| scope.covers(r))
                    .map(|r| StepKey { step: d.name, instance: r.name.clone() }),
            ),
        }
    }
    keys
}

/// What `key` waits for in `plan`: a role's step waits for its own role's earlier steps and the
/// service's; a service step that depends on a role step waits for it for every role.
pub fn dependencies<'p>(key: &StepKey, plan: &'p [StepKey]) -> impl Iterator<Item = &'p StepKey> {
    let depends_on = def(key.step).depends_on;
    let own_role = key.instance.clone();
    plan.iter().filter(move |k| {
        depends_on.contains(&k.step)
            && (k.instance.is_empty() || own_role.is_empty() || k.instance == own_role)
    })
}

/// A Shipyard-internal failure (a bug or a hand-edited row), shown like a provider error.
pub(crate) fn internal(message: impl Into<String>) -> ProviderError {
    ProviderError::new(System::Shipyard, ErrorKind::Other, format!("internal: {}", message.into()))
}

/// What one step run may read: the service, its derived names and tags, the clients, the
/// tunables, and the rows of its service's steps (earlier outputs, timings).
pub struct Cx<'a> {
    pub service: &'a Service,
    pub name: ServiceName,
    pub branch: BranchName,
    pub template: TemplateRef,
    pub iam: IamNames,
    pub tags: ResourceTags,
    pub providers: &'a Providers,
    pub settings: &'a Settings,
    /// The step this context was made for (its own earlier state is `previous`).
    pub step: StepName,
    /// The push role a role step runs for.
    role: Option<ServiceRole>,
    rows: HashMap<StepKey, StepRow>,
}

impl<'a> Cx<'a> {
    /// Re-parses the stored row. It was parsed when it was written, so failure means the row was
    /// changed by hand; the step then fails with that message rather than guessing.
    pub fn new(
        service: &'a Service,
        rows: &[StepRow],
        providers: &'a Providers,
        settings: &'a Settings,
        key: &StepKey,
        roles: &[ServiceRole],
    ) -> Result<Self, ProviderError> {
        let step = key.step;
        let role =
            match key.instance.as_str() {
                "" => None,
                name => Some(roles.iter().find(|r| r.name == name).cloned().ok_or_else(|| {
                    internal(format!("step {key} is for a role the service no longer has"))
                })?),
            };
        let invalid = |what: &str, e: String| internal(format!("the stored {what} is no longer valid: {e}"));
        let name = ServiceName::parse(&service.name).map_err(|e| invalid("name", e))?;
        let environment =
            Environment::parse(&service.environment, std::slice::from_ref(&service.environment))
                .map_err(|e| invalid("environment", e))?;
        let branch = BranchName::parse(&service.default_branch).map_err(|e| invalid("branch", e))?;
        let template = TemplateRef::parse(&service.template, std::slice::from_ref(&service.template))
            .map_err(|e| invalid("template", e))?;
        let iam =
            IamNames::derive(&service.org, &name, &environment, &branch).map_err(|e| invalid("names", e))?;
        let tags = ResourceTags {
            service: service.name.clone(),
            environment: service.environment.clone(),
            service_id: service.service_id,
        };
        let rows = rows.iter().map(|r| (StepKey::of(r), r.clone())).collect();
        Ok(Self { service, name, branch, template, iam, tags, providers, settings, step, role, rows })
    }

    /// The push role this role step runs for. Only role steps call it: elsewhere it is a bug.
    pub fn role(&self) -> Result<&ServiceRole, ProviderError> {
        self.role.as_ref().ok_or_else(|| internal(format!("step {} has no push role", self.step)))
    }

    /// The row key of `step` as this context sees it: its own role's for a role step.
    fn key(&self, step: StepName) -> StepKey {
        match (def(step).scope, &self.role) {
            (Scope::Service, _) | (_, None) => StepKey::service(step),
            (_, Some(role)) => StepKey { step, instance: role.name.clone() },
        }
    }

    /// The recorded output of the done step `S`. Missing means the graph is wrong: a bug, not a
    /// provider error.
    pub fn output<S: Step>(&self) -> Result<S::Output, ProviderError> {
        self.recorded::<S>()?
            .ok_or_else(|| internal(format!("step {} has recorded no output; retry the service", S::NAME)))
    }

    /// The recorded output of `S`, if it recorded one (it may never have run).
    pub fn recorded<S: Step>(&self) -> Result<Option<S::Output>, ProviderError> {
        match self.rows.get(&self.key(S::NAME)).map(|r| &r.outputs) {
            None => Ok(None),
            Some(v) if v.as_object().is_some_and(|o| o.is_empty()) => Ok(None),
            Some(v) => serde_json::from_value(v.clone()).map(Some).map_err(|e| {
                internal(format!("step {} recorded an output Shipyard cannot read: {e}", S::NAME))
            }),
        }
    }

    /// This step's own state from its last run, when it parked (see [`Ensured::Wait`]).
    pub fn previous<S: Step>(&self) -> Result<Option<S::Output>, ProviderError> {
        debug_assert_eq!(S::NAME, self.step);
        self.recorded::<S>()
    }

    /// When the step `name` last finished (its output was recorded), if it has.
    pub fn finished_at(&self, name: StepName) -> Option<OffsetDateTime> {
        self.rows.get(&self.key(name)).and_then(|r| r.finished_at)
    }

    /// When the step `name` last started, if it has.
    pub fn started_at(&self, name: StepName) -> Option<OffsetDateTime> {
        self.rows.get(&self.key(name)).and_then(|r| r.started_at)
    }

    /// When the step `name` first started (Retry and Repair keep it), if it has.
    pub fn first_started_at(&self, name: StepName) -> Option<OffsetDateTime> {
        self.rows.get(&self.key(name)).and_then(|r| r.first_started_at)
    }

    pub fn org(&self) -> &str {
        &self.service.org
    }
}

/// A name someone else holds.
pub(crate) fn taken(system: System, what: String) -> ProviderError {
    ProviderError::new(
        system,
        ErrorKind::Conflict,
        format!("{what} and was not created by Shipyard for this service; choose another name"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_name_has_exactly_one_row() {
        for name in StepName::ALL {
            assert_eq!(TABLE.iter().filter(|d| d.name == *name).count(), 1, "{name}");
        }
        assert_eq!(TABLE.len(), StepName::ALL.len());
    }

    #[test]
    fn steps_only_depend_on_earlier_steps_of_their_own_phase() {
        for (i, step) in TABLE.iter().enumerate() {
            for dep in step.depends_on {
                let j = TABLE.iter().position(|d| d.name == *dep).expect("a step");
                assert!(j < i, "{} depends on later {dep}", step.name);
                assert_eq!(TABLE[j].phase, step.phase, "{} depends on {dep} of another phase", step.name);
            }
        }
    }

    #[test]
    fn the_roles_go_before_everything_else_on_delete() {
        let roles = [StepName::DeleteRole, StepName::DeletePushRole];
        for step in phase_steps(Phase::Delete).iter().filter(|s| !roles.contains(s)) {
            for role in roles {
                assert!(def(*step).depends_on.contains(&role), "{step} before {role}");
            }
        }
    }

    #[test]
    fn role_steps_run_once_per_role_they_cover_and_wait_for_their_own_role() {
        let role = |name: &str, desired| ServiceRole {
            service_id: uuid::Uuid::nil(),
            name: name.into(),
            kind: crate::domain::RoleKind::Branch,
            value: name.into(),
            iam_role: format!("gha.acme.svc.dev.{name}"),
            secret: format!("GHA_BRANCH_{}_ROLE_ARN", name.to_uppercase()),
            desired,
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        let roles = [role("release", Desired::Present), role("old", Desired::Absent)];
        let create = plan(Phase::Create, &roles);
        let of =
            |step| create.iter().filter(|k| k.step == step).map(|k| k.instance.as_str()).collect::<Vec<_>>();
        assert_eq!(of(StepName::PushRole), ["release"]);
        assert_eq!(of(StepName::RemovePushRole), ["old"]);
        assert_eq!(of(StepName::FirstBuild), [""]);
        let secret = StepKey { step: StepName::PushRoleSecret, instance: "release".into() };
        let deps: Vec<String> = dependencies(&secret, &create).map(ToString::to_string).collect();
        assert_eq!(deps, ["github_repository", "push_role (release)"]);
        let delete = plan(Phase::Delete, &roles);
        let policy = StepKey::service(StepName::DeletePolicy);
        let deps: Vec<String> = dependencies(&policy, &delete).map(ToString::to_string).collect();
        assert_eq!(deps, ["delete_role", "delete_push_role (release)", "delete_push_role (old)"]);
    }

    #[test]
    fn the_table_order_is_the_order_steps_are_shown() {
        let shown: Vec<StepName> = TABLE.iter().map(|d| d.name).collect();
        assert_eq!(shown, StepName::ALL);
    }
}
