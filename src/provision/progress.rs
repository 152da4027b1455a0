//! Where one pass over a service stands: which steps may start, and how the pass ends. Pure, so the
//! scheduling rules are unit-tested without Postgres or providers.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::steps::{StepKey, def, dependencies};
use crate::{db::steps::Step as StepRow, domain::StepStatus};

/// How a phase stands once nothing more can start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Steps are running or may start.
    Working,
    /// Every step is done (a best-effort step may have failed).
    Done,
    /// A step failed and nothing that could still succeed is running.
    Failed(StepKey),
    /// Nothing can run before this time: a step is parked.
    Parked(OffsetDateTime),
}

#[derive(Debug, Clone)]
pub struct Progress {
    /// The pass's steps in table order (see `steps::plan`).
    plan: Vec<StepKey>,
    state: HashMap<StepKey, StepStatus>,
    wake_at: HashMap<StepKey, OffsetDateTime>,
}

impl Progress {
    /// The plan's steps as their rows say, at `now`: a `running` row was left by a holder that died
    /// mid-step, so it runs again (it is an ensure); a `waiting` row whose time has come runs again;
    /// a `failed` row stays failed, so a pass that died before settling settles now. A step with no
    /// row is pending.
    pub fn load(plan: Vec<StepKey>, rows: &[StepRow], now: OffsetDateTime) -> Self {
        let mut state = HashMap::new();
        let mut wake_at = HashMap::new();
        for key in &plan {
            let row = rows.iter().find(|r| key.is(r));
            let status = match row.map(|r| (r.status, r.wake_at)) {
                None | Some((StepStatus::Running, _)) => StepStatus::Pending,
                Some((StepStatus::Waiting, Some(at))) if at > now => {
                    wake_at.insert(key.clone(), at);
                    StepStatus::Waiting
                }
                Some((StepStatus::Waiting, _)) => StepStatus::Pending,
                Some((status, _)) => status,
            };
            state.insert(key.clone(), status);
        }
        Self { plan, state, wake_at }
    }

    pub fn plan(&self) -> &[StepKey] {
        &self.plan
    }

    /// Done, or failed but best-effort: what dependents may start after.
    fn settled(&self, key: &StepKey) -> bool {
        match self.state.get(key) {
            Some(StepStatus::Done) => true,
            Some(StepStatus::Failed) => def(key.step).best_effort,
            _ => false,
        }
    }

    /// Pending steps whose dependencies are all settled, in table order.
    pub fn ready(&self) -> Vec<StepKey> {
        if self.failed().is_some() {
            return Vec::new();
        }
        self.plan
            .iter()
            .filter(|k| self.state.get(*k) == Some(&StepStatus::Pending))
            .filter(|k| dependencies(k, &self.plan).all(|d| self.settled(d)))
            .cloned()
            .collect()
    }

    /// The first step (in table order) that failed and is not best-effort.
    fn failed(&self) -> Option<&StepKey> {
        self.plan.iter().find(|k| self.state.get(*k) == Some(&StepStatus::Failed) && !def(k.step).best_effort)
    }

    pub fn start(&mut self, key: &StepKey) {
        self.state.insert(key.clone(), StepStatus::Running);
    }

    pub fn finish(&mut self, key: &StepKey, status: StepStatus, wake_at: Option<OffsetDateTime>) {
        self.state.insert(key.clone(), status);
        match wake_at {
            Some(at) => self.wake_at.insert(key.clone(), at),
            None => self.wake_at.remove(key),
        };
    }

    pub fn outcome(&self) -> Outcome {
        let running = self.state.values().any(|s| *s == StepStatus::Running);
        if running {
            return Outcome::Working;
        }
        if let Some(key) = self.failed() {
            return Outcome::Failed(key.clone());
        }
        if self.plan.iter().all(|k| self.settled(k)) {
            return Outcome::Done;
        }
        if !self.ready().is_empty() {
            return Outcome::Working;
        }
        match self.wake_at.values().min() {
            Some(at) => Outcome::Parked(*at),
            // Pending steps that can never start: only a wrong table gets here; settle rather than spin.
            None => Outcome::Failed(
                self.plan
                    .iter()
                    .find(|k| self.state.get(*k) == Some(&StepStatus::Pending))
                    .unwrap_or(&self.plan[0])
                    .clone(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        domain::StepName::{self, *},
        provision::steps::{Phase, phase_steps, plan},
    };

    fn row(step: StepName, status: StepStatus) -> StepRow {
        StepRow {
            step,
            instance: String::new(),
            status,
            attempts: 1,
            unfinished_starts: 0,
            started_at: None,
            first_started_at: None,
            finished_at: None,
            wake_at: None,
            error: None,
            outputs: serde_json::json!({}),
        }
    }

    fn all_done_but(rest: &[(StepName, StepStatus)]) -> Vec<StepRow> {
        phase_steps(Phase::Create)
            .iter()
            .map(|s| {
                rest.iter().find(|(n, _)| n == s).map_or(row(*s, StepStatus::Done), |(n, st)| row(*n, *st))
            })
            .collect()
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    /// A pass over a service without extra roles.
    fn load(phase: Phase, rows: &[StepRow], now: OffsetDateTime) -> Progress {
        Progress::load(plan(phase, &[]), rows, now)
    }

    fn names(keys: Vec<StepKey>) -> Vec<StepName> {
        keys.into_iter().map(|k| k.step).collect()
    }

    fn key(step: StepName) -> StepKey {
        StepKey::service(step)
    }

    #[test]
    fn a_new_service_starts_with_preflight_alone() {
        let p = load(Phase::Create, &[], now());
        assert_eq!(names(p.ready()), vec![Preflight]);
        assert_eq!(p.outcome(), Outcome::Working);
    }

    #[test]
    fn independent_steps_are_ready_together() {
        let p = load(Phase::Create, &[row(Preflight, StepStatus::Done)], now());
        assert_eq!(names(p.ready()), vec![OidcProvider, EcrRepository, GithubRepository]);
    }

    #[test]
    fn a_failed_row_left_by_a_dead_pass_settles_as_failed() {
        let rows = all_done_but(&[
            (IamRole, StepStatus::Failed),
            (IamAttachment, StepStatus::Pending),
            (ActionsSecrets, StepStatus::Pending),
            (FirstBuild, StepStatus::Pending),
        ]);
        let p = load(Phase::Create, &rows, now());
        assert!(p.ready().is_empty());
        assert_eq!(p.outcome(), Outcome::Failed(key(IamRole)));
    }

    #[test]
    fn a_failed_best_effort_step_left_by_a_dead_pass_settles_as_done() {
        let rows = all_done_but(&[(FirstBuild, StepStatus::Failed)]);
        assert_eq!(load(Phase::Create, &rows, now()).outcome(), Outcome::Done);
    }

    #[test]
    fn a_step_left_running_runs_again() {
        let rows = all_done_but(&[(ActionsSecrets, StepStatus::Running), (FirstBuild, StepStatus::Pending)]);
        assert_eq!(names(load(Phase::Create, &rows, now()).ready()), vec![ActionsSecrets]);
    }

    #[test]
    fn a_parked_step_parks_the_pass_until_its_time_and_then_runs() {
        let at = now() + time::Duration::seconds(30);
        let mut rows = all_done_but(&[(FirstBuild, StepStatus::Waiting)]);
        rows.iter_mut().find(|r| r.step == FirstBuild).unwrap().wake_at = Some(at);
        assert_eq!(load(Phase::Create, &rows, now()).outcome(), Outcome::Parked(at));
        let later = at + time::Duration::seconds(1);
        assert_eq!(names(load(Phase::Create, &rows, later).ready()), vec![FirstBuild]);
    }

    #[test]
    fn a_failure_stops_new_starts_but_waits_for_running_steps() {
        let mut p = load(Phase::Create, &[row(Preflight, StepStatus::Done)], now());
        p.start(&key(OidcProvider));
        p.start(&key(EcrRepository));
        p.finish(&key(OidcProvider), StepStatus::Failed, None);
        assert!(p.ready().is_empty());
        assert_eq!(p.outcome(), Outcome::Working);
        p.finish(&key(EcrRepository), StepStatus::Done, None);
        assert_eq!(p.outcome(), Outcome::Failed(key(OidcProvider)));
    }

    #[test]
    fn deletion_starts_with_the_role_then_the_rest_at_once() {
        let mut p = load(Phase::Delete, &[], now());
        assert_eq!(names(p.ready()), vec![DeleteRole]);
        p.start(&key(DeleteRole));
        p.finish(&key(DeleteRole), StepStatus::Done, None);
        assert_eq!(names(p.ready()), vec![DeletePolicy, DeleteEcrRepository, DeleteGithubRepository]);
    }
}
