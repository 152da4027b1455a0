//! Claims services with work to do and drives their steps, holding a lease while it works. It knows
//! no step by name: what runs, in which order, comes from the step table.

use std::{future::Future, panic::AssertUnwindSafe, sync::Arc, time::Duration};

use anyhow::Context as _;
use futures::{FutureExt as _, StreamExt, stream::FuturesUnordered};
use serde_json::Value;
use sqlx::{PgPool, postgres::PgListener};
use time::OffsetDateTime;
use tokio::task::JoinSet;

use super::{
    Providers, Settings,
    progress::{Outcome as PassOutcome, Progress},
    record::{sanitize_json, sanitize_message},
    steps::{Cx, Ensured, Phase, StepKey, def, internal, plan},
};
use crate::{
    db::{
        self,
        audit::{AuditAction, NewAuditEvent, Outcome},
        roles::{self, ServiceRole},
        services::{self, Claim, Release, Service, ServiceOutputs},
        steps::{self, Step as StepRow, StepResult},
    },
    domain::{ServiceStatus, StepName, StepStatus},
    metrics,
    provider::ProviderError,
};

/// The channel the `service_work_notify` trigger notifies.
const WORK_CHANNEL: &str = "shipyard_service_work";

/// A step started this many times without its result ever being recorded (each start crashed
/// the process, or a panic escaped everything) is failed instead of being started again.
pub const MAX_STEP_STARTS: i32 = 5;

/// One reconciler per process; any number may share a database.
#[derive(Clone)]
pub struct Reconciler {
    db: PgPool,
    providers: Providers,
    settings: Arc<Settings>,
    /// Stop (as if killed) after this many steps have been recorded: for crash-safety tests.
    stop_after_steps: Option<usize>,
    /// Step results this reconciler has recorded (parks not counted), for `stop_after_steps`.
    recorded: Arc<std::sync::atomic::AtomicUsize>,
    /// Behave as if this step's ensure panicked: for the test that a bug in a step cannot stick.
    panic_in: Option<StepName>,
}

/// How one claim ended.
enum Pass {
    /// Nothing more to do until a person acts (or the status changed and another pass ran).
    Settled,
    /// A step is parked until then; nothing else can run before.
    Parked(OffsetDateTime),
    /// The lease was lost or the step budget ran out: leave the rest to whoever claims next.
    Abandoned,
}

impl Reconciler {
    pub fn new(db: PgPool, providers: Providers, settings: Settings) -> Self {
        Self {
            db,
            providers,
            settings: Arc::new(settings),
            stop_after_steps: None,
            recorded: Default::default(),
            panic_in: None,
        }
    }

    /// Behave as if the process died right after `steps` step results were recorded (in-flight
    /// steps are dropped mid-call). Used by the crash-safety tests.
    pub fn stopping_after_steps(mut self, steps: usize) -> Self {
        self.stop_after_steps = Some(steps);
        self
    }

    /// Make `step`'s ensure panic, as a bug would. Used by the test that nothing sticks.
    pub fn panicking_in(mut self, step: StepName) -> Self {
        self.panic_in = Some(step);
        self
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Works until `shutdown` resolves: woken by NOTIFY, by the next parked step falling due, with a
    /// slow poll as fallback. On shutdown it stops claiming and lets running services finish their
    /// current step; unfinished leases expire and another process resumes them.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let mut listener = PgListener::connect_with(&self.db).await.context("listening for service work")?;
        listener.listen(WORK_CHANNEL).await?;
        let mut running: JoinSet<()> = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            while running.len() < self.settings.concurrency {
                match services::claim_next_service(&self.db, self.settings.lease).await {
                    Ok(Some(claim)) => {
                        let this = self.clone();
                        running.spawn(async move { this.work_on(claim).await });
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not claim work");
                        break;
                    }
                }
            }
            // With every worker busy, a finishing worker (join_next) is what to wait for.
            let nap = if running.len() < self.settings.concurrency {
                self.until_next_due().await
            } else {
                self.settings.poll_interval
            };
            tokio::select! {
                _ = &mut shutdown => break,
                note = listener.recv() => if let Err(e) = note { tracing::warn!(error = %e, "listener interrupted") },
                _ = tokio::time::sleep(nap) => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
            }
        }
        tracing::info!(in_flight = running.len(), "reconciler stopping; waiting for running steps");
        let grace = tokio::time::sleep(self.settings.lease);
        tokio::pin!(grace);
        loop {
            tokio::select! {
                next = running.join_next() => if next.is_none() { break },
                _ = &mut grace => { running.abort_all(); break }
            }
        }
        Ok(())
    }

    /// How long to sleep when nothing more was claimed: until the next unclaimed service falls due
    /// (at once when one already is: it fell due between the claim and this look), at most the poll
    /// interval.
    async fn until_next_due(&self) -> Duration {
        let poll = self.settings.poll_interval;
        match services::next_due(&self.db).await {
            Ok(Some(at)) => Duration::try_from(at - OffsetDateTime::now_utc()).unwrap_or_default().min(poll),
            _ => poll,
        }
    }

    /// Claims and works on services one at a time until none is claimable now. Returns how many
    /// claims were worked. Tests call this; it is the same code the background loop runs.
    ///
    /// With [`Reconciler::stopping_after_steps`] it works (waiting for parked steps to fall due)
    /// until that many results are recorded, then stops as if killed.
    pub async fn run_until_idle(&self) -> anyhow::Result<usize> {
        let mut claims = 0;
        loop {
            if self.budget_spent() {
                break;
            }
            match services::claim_next_service(&self.db, self.settings.lease).await? {
                Some(claim) => {
                    claims += 1;
                    self.work_on(claim).await;
                }
                None if self.stop_after_steps.is_some() => match services::next_due(&self.db).await? {
                    Some(at) => {
                        let nap = Duration::try_from(at - OffsetDateTime::now_utc()).unwrap_or_default();
                        tokio::time::sleep(nap.min(self.settings.poll_interval)).await;
                    }
                    None => break,
                },
                None => break,
            }
        }
        Ok(claims)
    }

    fn budget_spent(&self) -> bool {
        self.stop_after_steps
            .is_some_and(|limit| self.recorded.load(std::sync::atomic::Ordering::SeqCst) >= limit)
    }

    /// Works on one claimed service while a second task keeps its lease alive. A renewal that
    /// fails (lost to another claim, or the database unreachable) stops the work at once: without
    /// a lease, nothing this claim would write could land anyway.
    #[tracing::instrument(skip_all, fields(service_id = %claim.service_id))]
    async fn work_on(&self, claim: Claim) {
        let keep_lease = async {
            let period = self.settings.lease / 3;
            loop {
                tokio::time::sleep(period).await;
                match services::renew_lease(&self.db, &claim, self.settings.lease).await {
                    Ok(true) => {}
                    Ok(false) => return tracing::warn!("lease lost; stopping work on this service"),
                    Err(e) => return tracing::warn!(error = %e, "could not renew the lease; stopping work"),
                }
            }
        };
        let mut recorded = 0;
        let outcome = tokio::select! {
            outcome = self.drive(&claim, &mut recorded) => outcome,
            () = keep_lease => Ok(Pass::Abandoned),
        };
        let release = match outcome {
            Ok(Pass::Settled) => Some(Release::Progressed),
            Ok(Pass::Parked(at)) => Some(Release::ParkedUntil(at)),
            // Keep the lease until it expires, as a crashed process would.
            Ok(Pass::Abandoned) => None,
            Err(e) => {
                tracing::error!(error.cause_chain = ?e, "reconciling failed; backing off");
                Some(if recorded > 0 { Release::Progressed } else { Release::NoProgress })
            }
        };
        if let Some(release) = release
            && let Err(e) = services::release_lease(&self.db, &claim, release).await
        {
            tracing::warn!(error = %e, "could not release the lease; it will expire");
        }
    }

    /// Runs passes until the service settles: a delete requested mid-way ends the create pass and
    /// starts the delete pass under the same claim.
    async fn drive(&self, claim: &Claim, recorded: &mut usize) -> anyhow::Result<Pass> {
        loop {
            let Some(service) = services::find_service(&self.db, claim.service_id).await? else {
                return Ok(Pass::Settled);
            };
            let phase = match service.status {
                ServiceStatus::Provisioning => Phase::Create,
                ServiceStatus::Deleting => Phase::Delete,
                _ => return Ok(Pass::Settled),
            };
            if let Some(pass) = self.run_phase(claim, service, phase, recorded).await? {
                return Ok(pass);
            }
        }
    }

    /// Runs the phase's steps that are not done, each as soon as its dependencies are, and settles
    /// the service by the outcome. `None` when the status changed under us (run another pass).
    async fn run_phase(
        &self,
        claim: &Claim,
        service: Service,
        phase: Phase,
        recorded: &mut usize,
    ) -> anyhow::Result<Option<Pass>> {
        let started = std::time::Instant::now();
        let mut rows = steps::list_steps(&self.db, claim.service_id).await?;
        let service_roles = Arc::new(roles::list_roles(&self.db, claim.service_id).await?);
        let mut progress = Progress::load(plan(phase, &service_roles), &rows, OffsetDateTime::now_utc());
        let service = Arc::new(service);
        let mut in_flight = FuturesUnordered::new();
        // Set when a person asked for deletion mid-way: start nothing new, let running steps finish.
        let mut superseded = false;
        loop {
            if !superseded {
                for key in progress.ready() {
                    if !self.settings.parallel_steps && !in_flight.is_empty() {
                        break;
                    }
                    let starts = rows.iter().find(|r| key.is(r)).map_or(0, |r| r.unfinished_starts);
                    if starts >= MAX_STEP_STARTS {
                        let message = format!(
                            "gave up after {starts} attempts that never finished (each ended the worker); retry the service"
                        );
                        self.record(claim, &mut rows, &mut progress, &key, Err(internal(message))).await?;
                        continue;
                    }
                    if !steps::start_step(&self.db, claim, key.step, &key.instance).await? {
                        return Ok(Some(Pass::Abandoned));
                    }
                    progress.start(&key);
                    mark_started(&mut rows, &key);
                    let run =
                        self.run_step(key.clone(), service.clone(), rows.clone(), service_roles.clone());
                    in_flight.push(run.map(move |r| (key, r)));
                }
                if progress.outcome() != PassOutcome::Working && in_flight.is_empty() {
                    break;
                }
            }
            let Some((key, result)) = in_flight.next().await else { break };
            let parked = matches!(result, Ok(Ensured::Wait { .. }));
            if !self.record(claim, &mut rows, &mut progress, &key, result).await? {
                return Ok(Some(Pass::Abandoned));
            }
            // A park is not a result: the crash tests count steps that finished.
            if !parked {
                *recorded += 1;
                self.recorded.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            if self.budget_spent() {
                return Ok(Some(Pass::Abandoned));
            }
            // A person may have asked for deletion while we were creating.
            if phase == Phase::Create && self.current_status(claim).await? != ServiceStatus::Provisioning {
                superseded = true;
            }
        }
        if superseded {
            return Ok(None);
        }
        let outcome = progress.outcome();
        // A role asked for (or asked away) while this pass ran is not in its plan: run another.
        if matches!(outcome, PassOutcome::Done)
            && plan(phase, &roles::list_roles(&self.db, claim.service_id).await?) != progress.plan()
        {
            return Ok(None);
        }
        let from = service.status;
        match outcome {
            PassOutcome::Done => self.settle_done(claim, &service, &rows, &service_roles, started).await?,
            PassOutcome::Failed(key) => {
                let message = rows
                    .iter()
                    .find(|r| key.is(r))
                    .and_then(|r| r.error.clone())
                    .unwrap_or_else(|| "the step failed".into());
                let message = match key.instance.as_str() {
                    "" => message,
                    role => format!("role {role}: {message}"),
                };
                self.settle_failed(claim, from, key.step, &message, started).await?;
            }
            PassOutcome::Parked(at) => return Ok(Some(Pass::Parked(at))),
            // Every path out of the loop above leaves nothing runnable; stay safe if one does not.
            PassOutcome::Working => return Ok(Some(Pass::Parked(OffsetDateTime::now_utc()))),
        }
        Ok(Some(Pass::Settled))
    }

    /// One step run. A panic inside the ensure is caught and becomes the step's failure, so a bug
    /// ends as a failed step with a message rather than a step left `running` forever.
    fn run_step(
        &self,
        key: StepKey,
        service: Arc<Service>,
        rows: Vec<StepRow>,
        service_roles: Arc<Vec<ServiceRole>>,
    ) -> impl Future<Output = Result<Ensured<Value>, ProviderError>> + Send + 'static {
        let this = self.clone();
        async move {
            let step = key.step;
            let providers = this.providers.for_service(&service);
            let cx = Cx::new(&service, &rows, &providers, &this.settings, &key, &service_roles)?;
            let run = async {
                if this.panic_in == Some(step) {
                    panic!("injected panic in {step}");
                }
                (def(step).run)(&cx).await
            };
            AssertUnwindSafe(run).catch_unwind().await.unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".into());
                tracing::error!(step = %step, panic = %what, "step panicked");
                Err(internal(format!("the step crashed ({what}); retry the service")))
            })
        }
    }

    /// Records a step's result (sanitized: Postgres refuses NUL characters, and providers' messages
    /// are shown to people), updates the local view, and audits failures. A result the database
    /// still refuses is recorded as a failure saying so. False when the claim lost its lease.
    async fn record(
        &self,
        claim: &Claim,
        rows: &mut [StepRow],
        progress: &mut Progress,
        key: &StepKey,
        result: Result<Ensured<Value>, ProviderError>,
    ) -> anyhow::Result<bool> {
        let step = key.step;
        let now = OffsetDateTime::now_utc();
        let (status, outputs, error, wake_at) = match result {
            Ok(Ensured::Done(v)) => (StepStatus::Done, Some(sanitize_json(v)), None, None),
            Ok(Ensured::Wait { state, recheck_in }) => {
                let at = now + time::Duration::try_from(recheck_in).unwrap_or(time::Duration::MAX);
                (StepStatus::Waiting, Some(sanitize_json(state)), None, Some(at))
            }
            Err(e) => {
                tracing::warn!(step = %key, error = %e, "step failed");
                metrics::record_step_failure(step, e.kind);
                (StepStatus::Failed, None, Some(sanitize_message(&e.to_string())), None)
            }
        };
        let attempt = match (&outputs, &error, wake_at) {
            (Some(state), _, Some(wake_at)) => StepResult::Waiting { state, wake_at },
            (Some(outputs), _, None) => StepResult::Done(outputs),
            (None, error, _) => StepResult::Failed(error.as_deref().unwrap_or("the step failed")),
        };
        let (recorded, status, error) =
            match steps::finish_step(&self.db, claim, step, &key.instance, attempt).await {
                Ok(recorded) => (recorded, status, error),
                Err(e) if !is_connection_error(&e) => {
                    tracing::error!(step = %key, error = %e, "the step's result could not be recorded");
                    let message =
                        format!("Shipyard could not record this step's result ({e}); retry the service");
                    let message = sanitize_message(&message);
                    let recorded = steps::finish_step(
                        &self.db,
                        claim,
                        step,
                        &key.instance,
                        StepResult::Failed(&message),
                    )
                    .await?;
                    (recorded, StepStatus::Failed, Some(message))
                }
                Err(e) => return Err(e.into()),
            };
        // When it is due again: its own time, or sooner if it was woken while it ran.
        let Some(wake_at) = recorded else {
            return Ok(false);
        };
        if let Some(row) = rows.iter_mut().find(|r| key.is(r)) {
            row.status = status;
            row.wake_at = wake_at;
            row.error = error.clone();
            row.unfinished_starts = 0;
            if let Some(outputs) = outputs {
                row.outputs = outputs;
            }
            if status != StepStatus::Waiting {
                row.finished_at = Some(now);
            }
        }
        progress.finish(key, status, wake_at);
        match status {
            StepStatus::Failed => {
                let detail = format!("{key}: {}", error.as_deref().unwrap_or_default());
                self.audit(claim, AuditAction::StepFailed, Outcome::Failure, &detail).await?;
            }
            StepStatus::Waiting => tracing::info!(step = %key, "step waiting"),
            _ => tracing::info!(step = %key, "step done"),
        }
        Ok(true)
    }

    async fn current_status(&self, claim: &Claim) -> anyhow::Result<ServiceStatus> {
        Ok(services::find_service(&self.db, claim.service_id)
            .await?
            .map_or(ServiceStatus::Deleted, |s| s.status))
    }

    /// `started` is when this pass began: its work time is what the duration metrics record.
    async fn settle_failed(
        &self,
        claim: &Claim,
        from: ServiceStatus,
        step: StepName,
        message: &str,
        started: std::time::Instant,
    ) -> anyhow::Result<()> {
        let to =
            if from == ServiceStatus::Deleting { ServiceStatus::DeleteFailed } else { ServiceStatus::Failed };
        if services::set_service_status(&self.db, claim, from, to, Some((step, message))).await? {
            metrics::record_settled(from, to, started.elapsed());
        }
        Ok(())
    }

    async fn settle_done(
        &self,
        claim: &Claim,
        service: &Service,
        rows: &[StepRow],
        service_roles: &[ServiceRole],
        started: std::time::Instant,
    ) -> anyhow::Result<()> {
        let from = service.status;
        let (to, action) = match from {
            ServiceStatus::Deleting => (ServiceStatus::Deleted, AuditAction::DeleteDone),
            _ => (ServiceStatus::Ready, AuditAction::Provisioned),
        };
        if to == ServiceStatus::Ready {
            let outputs = ready_outputs(service, rows, &self.providers, &self.settings)?;
            services::set_service_outputs(&self.db, claim.service_id, &outputs).await?;
            // The pass ran these roles' removal to the end: forget them.
            let removed: Vec<String> = service_roles
                .iter()
                .filter(|r| r.desired == crate::domain::Desired::Absent)
                .map(|r| r.name.clone())
                .collect();
            if !removed.is_empty() {
                let mut tx = self.db.begin().await?;
                roles::forget_removed(&mut tx, claim.service_id, &removed).await?;
                tx.commit().await?;
            }
        }
        if services::set_service_status(&self.db, claim, from, to, None).await? {
            metrics::record_settled(from, to, started.elapsed());
            self.audit(claim, action, Outcome::Success, "").await?;
        }
        Ok(())
    }

    async fn audit(
        &self,
        claim: &Claim,
        action: AuditAction,
        outcome: Outcome,
        detail: &str,
    ) -> anyhow::Result<()> {
        let service = services::find_service(&self.db, claim.service_id).await?;
        db::audit::insert_audit_event(
            &self.db,
            &NewAuditEvent {
                actor_login: Some("shipyard"),
                service_id: Some(claim.service_id),
                service_name: service.as_ref().map(|s| s.name.as_str()),
                outcome,
                detail,
                ..NewAuditEvent::new(action)
            },
        )
        .await?;
        Ok(())
    }
}

/// What the inventory shows, read typed from the steps that made it.
fn ready_outputs(
    service: &Service,
    rows: &[StepRow],
    providers: &Providers,
    settings: &Settings,
) -> anyhow::Result<ServiceOutputs> {
    use super::steps::{EcrRepository, GithubRepository, IamRole};
    let providers = providers.for_service(service);
    let cx = Cx::new(service, rows, &providers, settings, &StepKey::service(StepName::FirstBuild), &[])?;
    let repo = cx.recorded::<GithubRepository>()?;
    Ok(ServiceOutputs {
        html_url: repo.as_ref().map(|r| r.html_url.clone()),
        ssh_url: repo.map(|r| r.ssh_url),
        ecr_repository_uri: cx.recorded::<EcrRepository>()?.map(|e| e.uri),
        role_arn: cx.recorded::<IamRole>()?.map(|r| r.arn),
    })
}

fn mark_started(rows: &mut Vec<StepRow>, key: &StepKey) {
    let now = Some(OffsetDateTime::now_utc());
    match rows.iter_mut().find(|r| key.is(r)) {
        Some(row) => {
            if row.status != StepStatus::Waiting {
                row.attempts += 1;
            }
            row.status = StepStatus::Running;
            row.unfinished_starts += 1;
            row.started_at = now;
            row.first_started_at = row.first_started_at.or(now);
            row.finished_at = None;
        }
        None => rows.push(StepRow {
            step: key.step,
            instance: key.instance.clone(),
            status: StepStatus::Running,
            attempts: 1,
            unfinished_starts: 1,
            started_at: now,
            first_started_at: now,
            finished_at: None,
            wake_at: None,
            error: None,
            outputs: Value::Object(Default::default()),
        }),
    }
}

/// The database is unreachable (not a value it refused): retrying the write later is right.
fn is_connection_error(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_)
    )
}
