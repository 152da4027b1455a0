//! Claims services with work to do and drives their steps, holding a lease while it works.

use std::{collections::HashMap, future::Future, sync::Arc, time::Instant};

use anyhow::Context as _;
use futures::{StreamExt, stream::FuturesUnordered};
use serde_json::Value;
use sqlx::{PgPool, postgres::PgListener};
use tokio::task::JoinSet;
use uuid::Uuid;

use super::{Providers, Settings, StepContext, create, delete};
use crate::{
    db::{self, audit::NewAuditEvent, audit::Outcome, services, steps},
    domain::{ServiceStatus, StepName, StepStatus},
    metrics,
    provider::ProviderError,
};

/// The channel the `service_work_notify` trigger notifies.
const WORK_CHANNEL: &str = "shipyard_service_work";

/// One reconciler per process; any number may share a database.
#[derive(Clone)]
pub struct Reconciler {
    db: PgPool,
    providers: Providers,
    settings: Arc<Settings>,
    /// This process's identity in lease columns.
    owner: Uuid,
    /// Stop (as if killed) after this many steps have been recorded: for crash-safety tests.
    stop_after_steps: Option<usize>,
}

/// How one pass over a claimed service ended.
enum Pass {
    /// Nothing more to do until a person acts (or the desire changed and another pass runs).
    Settled,
    /// The lease was lost or the step budget ran out: leave the rest to whoever claims next.
    Abandoned,
}

impl Reconciler {
    pub fn new(db: PgPool, providers: Providers, settings: Settings) -> Self {
        Self { db, providers, settings: Arc::new(settings), owner: Uuid::new_v4(), stop_after_steps: None }
    }

    /// Behave as if the process died right after `steps` step results were recorded (in-flight
    /// steps are dropped mid-call). Used by the crash-safety tests.
    pub fn stopping_after_steps(mut self, steps: usize) -> Self {
        self.stop_after_steps = Some(steps);
        self
    }

    /// Works until `shutdown` resolves: woken by NOTIFY, with a slow poll as fallback. On shutdown it
    /// stops claiming and lets running services finish their current step; unfinished leases expire
    /// and another process resumes them.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let mut listener = PgListener::connect_with(&self.db).await.context("listening for service work")?;
        listener.listen(WORK_CHANNEL).await?;
        let mut running: JoinSet<()> = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            while running.len() < self.settings.concurrency {
                match services::claim_next_service(&self.db, self.owner, self.settings.lease).await {
                    Ok(Some(service_id)) => {
                        let this = self.clone();
                        running.spawn(async move { this.work_on(service_id).await });
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not claim work");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = &mut shutdown => break,
                note = listener.recv() => if let Err(e) = note { tracing::warn!(error = %e, "listener interrupted") },
                _ = tokio::time::sleep(self.settings.poll_interval) => {}
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

    /// Claims and works on services one at a time until none is claimable. Returns how many
    /// claims were worked. Tests call this; it is the same code the background loop runs.
    pub async fn run_until_idle(&self) -> anyhow::Result<usize> {
        let mut claims = 0;
        while let Some(service_id) =
            services::claim_next_service(&self.db, self.owner, self.settings.lease).await?
        {
            claims += 1;
            self.work_on(service_id).await;
            if self.stop_after_steps.is_some() {
                break;
            }
        }
        Ok(claims)
    }

    /// Works on one claimed service while a second task keeps its lease alive.
    #[tracing::instrument(skip_all, fields(service_id = %service_id))]
    async fn work_on(&self, service_id: Uuid) {
        let keep_lease = async {
            let period = self.settings.lease / 3;
            loop {
                tokio::time::sleep(period).await;
                match services::renew_lease(&self.db, service_id, self.owner, self.settings.lease).await {
                    Ok(true) => {}
                    Ok(false) => return tracing::warn!("lease lost; another reconciler may take over"),
                    Err(e) => tracing::warn!(error = %e, "could not renew the lease"),
                }
            }
        };
        let outcome = tokio::select! {
            outcome = self.drive(service_id) => outcome,
            () = keep_lease => Ok(Pass::Abandoned),
        };
        match outcome {
            Ok(Pass::Settled) => {
                if let Err(e) = services::release_lease(&self.db, service_id, self.owner).await {
                    tracing::warn!(error = %e, "could not release the lease; it will expire");
                }
            }
            // Keep the lease until it expires, as a crashed process would.
            Ok(Pass::Abandoned) => {}
            Err(e) => {
                tracing::error!(error.cause_chain = ?e, "reconciling failed; will retry after the lease expires")
            }
        }
    }

    /// Runs passes until the service settles: a delete requested mid-way ends the create pass and
    /// starts the delete pass under the same lease.
    async fn drive(&self, service_id: Uuid) -> anyhow::Result<Pass> {
        let mut recorded = 0;
        loop {
            let Some(service) = services::find_service(&self.db, service_id).await? else {
                return Ok(Pass::Settled);
            };
            let status = service.status();
            let graph: &[StepName] = match status {
                ServiceStatus::Provisioning => &StepName::CREATE,
                ServiceStatus::Deleting => &StepName::DELETE,
                _ => return Ok(Pass::Settled),
            };
            match self.run_graph(service, status, graph, &mut recorded).await? {
                Some(pass) => return Ok(pass),
                None => continue,
            }
        }
    }

    /// Runs the steps of `graph` that are not done, each as soon as its dependencies are done.
    /// Returns `None` when the service's status changed under us (run another pass).
    async fn run_graph(
        &self,
        service: services::Service,
        status: ServiceStatus,
        graph: &[StepName],
        recorded: &mut usize,
    ) -> anyhow::Result<Option<Pass>> {
        let service_id = service.service_id;
        let started = Instant::now();
        let rows = steps::list_steps(&self.db, service_id).await?;
        let mut state: HashMap<StepName, StepStatus> = HashMap::new();
        let mut outputs: HashMap<StepName, Value> = HashMap::new();
        for row in &rows {
            if let Some(name) = row.name() {
                // `running` here means a previous holder died mid-step: run it again (it is an ensure).
                let st = if row.status() == StepStatus::Running { StepStatus::Pending } else { row.status() };
                state.insert(name, st);
                outputs.insert(name, row.outputs.clone());
            }
        }
        let context = match StepContext::new(service, outputs.clone()) {
            Ok(context) => context,
            Err(message) => {
                self.settle_failed(service_id, status, graph[0], &message, started).await?;
                return Ok(Some(Pass::Settled));
            }
        };
        let mut in_flight = FuturesUnordered::new();
        let mut failure: Option<(StepName, String)> = None;
        // Set when a person asked for deletion mid-way: start nothing new, let running steps finish.
        let mut superseded = false;
        loop {
            if failure.is_none() && !superseded {
                for &step in graph {
                    let ready = state.get(&step) == Some(&StepStatus::Pending)
                        && step.depends_on().iter().all(|d| state.get(d) == Some(&StepStatus::Done));
                    if !ready || (!self.settings.parallel_steps && !in_flight.is_empty()) {
                        continue;
                    }
                    if !steps::start_step(&self.db, service_id, self.owner, step).await? {
                        return Ok(Some(Pass::Abandoned));
                    }
                    state.insert(step, StepStatus::Running);
                    let mut ctx = context.clone();
                    ctx.outputs = outputs.clone();
                    let this = self.clone();
                    in_flight.push(async move {
                        let result = this.run_step(step, &ctx).await;
                        (step, result)
                    });
                }
            }
            let Some((step, result)) = in_flight.next().await else { break };
            let recorded_ok = match &result {
                Ok(out) => steps::finish_step(&self.db, service_id, self.owner, step, Ok(out)).await?,
                Err(e) => {
                    steps::finish_step(&self.db, service_id, self.owner, step, Err(&e.to_string())).await?
                }
            };
            if !recorded_ok {
                return Ok(Some(Pass::Abandoned));
            }
            *recorded += 1;
            match result {
                Ok(out) => {
                    tracing::info!(step = %step, "step done");
                    state.insert(step, StepStatus::Done);
                    outputs.insert(step, out);
                }
                Err(e) => {
                    tracing::warn!(step = %step, error = %e, "step failed");
                    metrics::record_step_failure(step, e.kind);
                    state.insert(step, StepStatus::Failed);
                    self.audit_step_failure(&context, step, &e).await?;
                    if step.is_best_effort() {
                        // Shown on the page; the service is usable without it.
                        state.insert(step, StepStatus::Done);
                    } else if failure.is_none() {
                        failure = Some((step, e.to_string()));
                    }
                }
            }
            if self.stop_after_steps.is_some_and(|limit| *recorded >= limit) {
                return Ok(Some(Pass::Abandoned));
            }
            // A person may have asked for deletion while we were creating.
            if status == ServiceStatus::Provisioning && self.current_status(service_id).await? != status {
                superseded = true;
            }
        }
        if superseded {
            return Ok(None);
        }
        if let Some((step, message)) = failure {
            self.settle_failed(service_id, status, step, &message, started).await?;
        } else if graph.iter().all(|s| state.get(s) == Some(&StepStatus::Done)) {
            self.settle_done(&context, status, &outputs, started).await?;
        }
        Ok(Some(Pass::Settled))
    }

    async fn run_step(&self, step: StepName, ctx: &StepContext) -> Result<Value, ProviderError> {
        if StepName::DELETE.contains(&step) {
            delete::run(step, &self.providers, ctx).await
        } else {
            create::run(step, &self.providers, &self.settings, ctx).await
        }
    }

    async fn current_status(&self, service_id: Uuid) -> anyhow::Result<ServiceStatus> {
        Ok(services::find_service(&self.db, service_id)
            .await?
            .map(|s| s.status())
            .unwrap_or(ServiceStatus::Deleted))
    }

    /// `started` is when this pass began: its work time is what the duration metrics record.
    async fn settle_failed(
        &self,
        id: Uuid,
        from: ServiceStatus,
        step: StepName,
        message: &str,
        started: Instant,
    ) -> anyhow::Result<()> {
        let to =
            if from == ServiceStatus::Deleting { ServiceStatus::DeleteFailed } else { ServiceStatus::Failed };
        if services::set_service_status(&self.db, id, self.owner, from, to, Some((step, message))).await? {
            metrics::record_settled(from, to, started.elapsed());
        }
        Ok(())
    }

    async fn settle_done(
        &self,
        ctx: &StepContext,
        from: ServiceStatus,
        outputs: &HashMap<StepName, Value>,
        started: Instant,
    ) -> anyhow::Result<()> {
        let id = ctx.service.service_id;
        let (to, action) = match from {
            ServiceStatus::Deleting => (ServiceStatus::Deleted, "delete_done"),
            _ => (ServiceStatus::Ready, "provisioned"),
        };
        if to == ServiceStatus::Ready {
            let get = |step: StepName, key: &str| {
                outputs.get(&step).and_then(|o| o.get(key)).and_then(Value::as_str).map(str::to_owned)
            };
            services::set_service_outputs(
                &self.db,
                id,
                get(StepName::GithubRepository, "html_url").as_deref(),
                get(StepName::GithubRepository, "ssh_url").as_deref(),
                get(StepName::EcrRepository, "uri").as_deref(),
                get(StepName::IamRole, "arn").as_deref(),
            )
            .await?;
        }
        if services::set_service_status(&self.db, id, self.owner, from, to, None).await? {
            metrics::record_settled(from, to, started.elapsed());
            self.audit(ctx, action, Outcome::Success, "").await?;
        }
        Ok(())
    }

    async fn audit_step_failure(
        &self,
        ctx: &StepContext,
        step: StepName,
        e: &ProviderError,
    ) -> anyhow::Result<()> {
        self.audit(ctx, "step_failed", Outcome::Failure, &format!("{step}: {e}")).await
    }

    async fn audit(
        &self,
        ctx: &StepContext,
        action: &str,
        outcome: Outcome,
        detail: &str,
    ) -> anyhow::Result<()> {
        db::audit::insert_audit_event(
            &self.db,
            &NewAuditEvent {
                actor_login: Some("shipyard"),
                action,
                service_id: Some(ctx.service.service_id),
                service_name: Some(&ctx.service.name),
                outcome,
                detail,
                ..Default::default()
            },
        )
        .await?;
        Ok(())
    }
}
