//! The step table: every step declared once, with its label, phase, dependencies, and one ensure
//! with a typed output. The graph the reconciler runs, the labels and progress the pages show, and
//! the delete order all derive from [`TABLE`].
//!
//! Adding a step is a `StepName` variant, one `impl Step` (in the file of the system it acts on)
//! and its row in [`TABLE`]; a later step reads its output typed with `cx.output::<TheStep>()`.

mod aws;
mod build;
mod delete;
mod github;
mod preflight;
mod secrets;
mod webhook;

use std::{collections::HashMap, future::Future, sync::LazyLock, time::Duration};

use futures::future::BoxFuture;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use time::OffsetDateTime;

use super::{Providers, Settings};
use crate::{
    aws::ResourceTags,
    db::{services::Service, steps::Step as StepRow},
    domain::{BranchName, Environment, IamNames, ServiceName, StepName, TemplateRef},
    provider::{ErrorKind, ProviderError, System},
};

pub use aws::{EcrRepository, IamAttachment, IamPolicy, IamRole, OidcProvider};
pub use build::{FirstBuild, FirstBuildOutput};
pub use delete::{DeleteEcrRepository, DeleteGithubRepository, DeletePolicy, DeleteRole};
pub use github::{GithubRepository, OidcSubject, RepoOutput};
pub use preflight::Preflight;
pub use secrets::ActionsSecrets;
pub use webhook::{GithubWebhook, WebhookOutput};

/// Which pass a step belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Runs while the service is `provisioning`.
    Create,
    /// Runs while the service is `deleting`.
    Delete,
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
pub static TABLE: [StepDef; 15] = [
    StepDef::of::<Preflight>(),
    StepDef::of::<OidcProvider>(),
    StepDef::of::<EcrRepository>(),
    StepDef::of::<GithubRepository>(),
    StepDef::of::<OidcSubject>(),
    StepDef::of::<IamPolicy>(),
    StepDef::of::<IamRole>(),
    StepDef::of::<IamAttachment>(),
    StepDef::of::<ActionsSecrets>(),
    StepDef::of::<GithubWebhook>(),
    StepDef::of::<FirstBuild>(),
    StepDef::of::<DeleteRole>(),
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
    rows: HashMap<StepName, StepRow>,
}

impl<'a> Cx<'a> {
    /// Re-parses the stored row. It was parsed when it was written, so failure means the row was
    /// changed by hand; the step then fails with that message rather than guessing.
    pub fn new(
        service: &'a Service,
        rows: &[StepRow],
        providers: &'a Providers,
        settings: &'a Settings,
        step: StepName,
    ) -> Result<Self, ProviderError> {
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
        let rows = rows.iter().map(|r| (r.step, r.clone())).collect();
        Ok(Self { service, name, branch, template, iam, tags, providers, settings, step, rows })
    }

    /// The recorded output of the done step `S`. Missing means the graph is wrong: a bug, not a
    /// provider error.
    pub fn output<S: Step>(&self) -> Result<S::Output, ProviderError> {
        self.recorded::<S>()?
            .ok_or_else(|| internal(format!("step {} has recorded no output; retry the service", S::NAME)))
    }

    /// The recorded output of `S`, if it recorded one (it may never have run).
    pub fn recorded<S: Step>(&self) -> Result<Option<S::Output>, ProviderError> {
        match self.rows.get(&S::NAME).map(|r| &r.outputs) {
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
        self.rows.get(&name).and_then(|r| r.finished_at)
    }

    /// When the step `name` last started, if it has.
    pub fn started_at(&self, name: StepName) -> Option<OffsetDateTime> {
        self.rows.get(&name).and_then(|r| r.started_at)
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
    fn the_role_goes_before_everything_else_on_delete() {
        for step in &phase_steps(Phase::Delete)[1..] {
            assert!(def(*step).depends_on.contains(&StepName::DeleteRole), "{step}");
        }
    }

    #[test]
    fn the_table_order_is_the_order_steps_are_shown() {
        let shown: Vec<StepName> = TABLE.iter().map(|d| d.name).collect();
        assert_eq!(shown, StepName::ALL);
    }
}
