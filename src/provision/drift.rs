//! The drift check: every ready (or drifted) service's resources re-read on an interval, with the
//! look-ups the ensures use. It never changes a resource. A difference turns the service `drifted`
//! with its findings; a drifted service whose resources are back to normal returns to `ready`.
//! Repair (see `commands::drift`) re-runs the ensures that [`Finding::repair`] names.

mod look;

use std::{future::Future, sync::Arc, time::Duration};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    Providers, Settings,
    steps::{Cx, StepKey},
};
use crate::{
    db::{
        self,
        audit::{AuditAction, NewAuditEvent, Outcome},
    },
    domain::{ServiceStatus, StepName, status::text_enum},
};

text_enum! {
    /// What is wrong with a resource.
    Problem {
        Missing = "missing",
        Archived = "archived",
        DefaultBranchChanged = "default_branch_changed",
        UrlChanged = "url_changed",
        AudienceMissing = "audience_missing",
        ScanOnPushOff = "scan_on_push_off",
        NotOurs = "not_ours",
        TrustChanged = "trust_changed",
        NotAttached = "not_attached",
        DocumentChanged = "document_changed",
        BoundaryChanged = "boundary_changed",
        /// An environment role's environment has no deployment rule: any branch may assume the role.
        Unprotected = "unprotected",
        LifecyclePolicyChanged = "lifecycle_policy_changed",
        MutabilityChanged = "mutability_changed",
        EncryptionChanged = "encryption_changed",
        /// A team has less access than Shipyard granted it.
        PermissionLowered = "permission_lowered",
        /// A ruleset's enforcement is no longer `active` (`evaluate` and `disabled` block nothing).
        NotActive = "not_active",
        /// A rule Shipyard requires is gone from the ruleset.
        RuleRemoved = "rule_removed",
        /// A rule is there but asks less (fewer approvals, no code owner review, a check dropped).
        RuleLoosened = "rule_loosened",
        SecretScanningOff = "secret_scanning_off",
        PushProtectionOff = "push_protection_off",
        DependabotAlertsOff = "dependabot_alerts_off",
        SecurityUpdatesOff = "security_updates_off",
        TopicMissing = "topic_missing",
    }
}

/// One difference between a resource and what Shipyard made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The create step whose resource it is.
    pub resource: StepName,
    /// The push role it is about, for a role's resource.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub role: String,
    pub problem: Problem,
    pub expected: String,
    pub found: String,
}

impl Finding {
    pub fn new(
        resource: StepName,
        problem: Problem,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        Self { resource, role: String::new(), problem, expected: expected.into(), found: found.into() }
    }

    /// The finding is about the push role `name`.
    pub fn for_role(mut self, name: &str) -> Self {
        self.role = name.to_owned();
        self
    }

    /// The create steps whose ensures put this right, each with what depends on what it changes
    /// (the first build is never run again). Empty when Shipyard cannot or will not: the
    /// repository is gone or archived (nothing of ours can bring it back), its default branch was
    /// changed in its settings (the ensure renames branches, which is not the way back), the shared
    /// OIDC provider lost its audience (not Shipyard's to change), the role is no longer tagged as
    /// ours (Shipyard changes nothing it cannot recognise as its own), or the ECR repository's
    /// encryption differs (ECR cannot change it after creation).
    pub fn repair(&self) -> &'static [StepName] {
        use StepName as S;
        match (self.resource, self.problem) {
            (S::GithubRepository, _) => &[],
            (S::OidcProvider, Problem::Missing) => &[S::OidcProvider],
            (S::OidcProvider, _) => &[],
            (S::EcrRepository, Problem::EncryptionChanged) => &[],
            // A repository made again has none of its settings.
            (S::EcrRepository, Problem::Missing) => &[S::EcrRepository, S::EcrSettings],
            (S::EcrRepository, _) => &[S::EcrRepository],
            (S::EcrSettings, _) => &[S::EcrSettings],
            (S::IamRole, Problem::NotOurs) => &[],
            // A new role may have a new ARN: the secret that carries it is written again.
            (S::IamRole, Problem::Missing) => &[S::IamRole, S::IamAttachment, S::ActionsSecrets],
            // The ensure deletes the role and creates it again with the boundary (same ARN), so the
            // policy is attached again; Shipyard may not put a boundary on an existing role.
            (S::IamRole, Problem::BoundaryChanged) => &[S::IamRole, S::IamAttachment],
            (S::IamRole, _) => &[S::IamRole],
            (S::IamPolicy, _) => &[S::IamPolicy, S::IamAttachment],
            (S::IamAttachment, _) => &[S::IamAttachment],
            (S::ActionsSecrets, _) => &[S::ActionsSecrets],
            (S::PushRole, Problem::NotOurs) => &[],
            (S::PushRole, Problem::Missing) => &[S::PushRole, S::PushRoleAttachment, S::PushRoleSecret],
            (S::PushRole, Problem::BoundaryChanged) => &[S::PushRole, S::PushRoleAttachment],
            (S::PushRole, _) => &[S::PushRole],
            (S::PushRoleAttachment, _) => &[S::PushRoleAttachment],
            (S::PushRoleSecret, _) => &[S::PushRoleSecret],
            (S::TeamAccess, _) => &[S::TeamAccess],
            // The ensure puts the ruleset back as Shipyard makes it (or makes it again).
            (S::BranchRuleset, _) => &[S::BranchRuleset],
            // The ensure reads each file first and commits only what is missing.
            (S::OwnershipFiles, _) => &[S::OwnershipFiles],
            (S::SecurityBaseline, _) => &[S::SecurityBaseline],
            _ => &[],
        }
    }

    /// Whether Repair can put this right.
    pub fn repairable(&self) -> bool {
        !self.repair().is_empty()
    }

    /// "iam_role: trust changed" (or "push_role (tag-v): missing"), for the audit trail and messages.
    pub fn summary(&self) -> String {
        let what = StepKey { step: self.resource, instance: self.role.clone() };
        format!("{what}: {}", self.problem.as_str().replace('_', " "))
    }
}

/// The steps Repair re-runs for `findings` (a role's for its role), in table order; `None` when
/// one cannot be repaired.
pub fn repair_steps(findings: &[Finding]) -> Option<Vec<StepKey>> {
    if findings.iter().any(|f| !f.repairable()) {
        return None;
    }
    let mut steps: Vec<(StepName, String)> =
        findings.iter().flat_map(|f| f.repair().iter().map(|s| (*s, f.role.clone()))).collect();
    steps.sort();
    steps.dedup();
    Some(steps.into_iter().map(|(step, instance)| StepKey { step, instance }).collect())
}

/// What one check of one service concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// The service is not ready or drifted (being built, deleted, failed): nothing was looked at.
    Skipped,
    /// Its resources, as found; empty when everything is as Shipyard made it.
    Found(Vec<Finding>),
}

/// Checks of one pass in flight at once (each is a few sequential GitHub and AWS reads).
const CHECKS_AT_ONCE: usize = 4;

/// When each of `n` checks starts, from the start of a pass of `interval`: one in each n-th of the
/// interval, at a uniformly random moment of it (jitter, so replicas and restarts do not line up).
fn schedule(n: usize, interval: Duration, rng: &mut impl rand::Rng) -> Vec<Duration> {
    if n == 0 {
        return Vec::new();
    }
    let slot = interval / u32::try_from(n).unwrap_or(u32::MAX);
    (0..n)
        .map(|k| slot * u32::try_from(k).unwrap_or(u32::MAX) + slot.mul_f64(rng.gen_range(0.0..1.0)))
        .collect()
}

/// Runs the drift check. One per process; a check is read-only, so two replicas checking the same
/// service at once at worst write the same findings twice.
#[derive(Clone)]
pub struct DriftCheck {
    db: sqlx::PgPool,
    providers: Providers,
    settings: Arc<Settings>,
}

impl DriftCheck {
    pub fn new(db: sqlx::PgPool, providers: Providers, settings: Settings) -> Self {
        Self { db, providers, settings: Arc::new(settings) }
    }

    /// Checks every service once each `drift_interval` until `shutdown` resolves, spread evenly over
    /// the interval: with n services, the k-th check of a pass starts at a random moment of the k-th
    /// n-th of it (least recently checked first), so GitHub and AWS see a steady trickle rather than
    /// a burst each interval, and a restart neither checks everything at once nor starves the
    /// services checked last. Checks that take longer than their slot overlap, a few at a time.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        tokio::pin!(shutdown);
        let interval = self.settings.drift_interval;
        loop {
            let pass = tokio::time::Instant::now();
            let services = match db::drift::checkable_services(&self.db).await {
                Ok(services) => services,
                Err(e) => {
                    tracing::warn!(error.cause_chain = ?e, "drift check could not list the services");
                    Vec::new()
                }
            };
            let slots = schedule(services.len(), interval, &mut rand::thread_rng());
            let in_flight = Arc::new(tokio::sync::Semaphore::new(CHECKS_AT_ONCE));
            let mut checks = tokio::task::JoinSet::new();
            for (service_id, at) in services.into_iter().zip(slots) {
                tokio::select! {
                    () = &mut shutdown => return Ok(()),
                    () = tokio::time::sleep_until(pass + at) => {}
                }
                let permit = tokio::select! {
                    () = &mut shutdown => return Ok(()),
                    permit = in_flight.clone().acquire_owned() => permit.expect("never closed"),
                };
                let this = self.clone();
                checks.spawn(async move {
                    if let Err(e) = this.check_service(service_id).await {
                        tracing::warn!(%service_id, error.cause_chain = ?e, "drift check of a service failed");
                    }
                    drop(permit);
                });
                // Reap finished checks as we go, so a long pass holds no more than those in flight.
                while checks.try_join_next().is_some() {}
            }
            while checks.join_next().await.is_some() {}
            tracing::info!(elapsed_ms = pass.elapsed().as_millis() as u64, "drift pass done");
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                () = tokio::time::sleep_until(pass + interval) => {}
            }
        }
    }

    /// Checks every ready or drifted service once, one after another; returns how many were
    /// checked. A service whose look-ups fail is skipped (its status stays) and the rest go on.
    /// Tests call this; it is what the background loop runs.
    pub async fn check_all(&self) -> anyhow::Result<usize> {
        let mut checked = 0;
        for service_id in db::drift::checkable_services(&self.db).await? {
            match self.check_service(service_id).await {
                Ok(Checked::Found(_)) => checked += 1,
                Ok(Checked::Skipped) => {}
                Err(e) => {
                    tracing::warn!(%service_id, error.cause_chain = ?e, "drift check of a service failed")
                }
            }
        }
        Ok(checked)
    }

    /// Checks one service now and records what it found: `drifted` with the findings, or `ready`.
    /// Boxed: the look-ups nest deep enough that callers' futures would otherwise overflow the
    /// compiler's layout depth.
    pub fn check_service(&self, service_id: Uuid) -> BoxFuture<'_, anyhow::Result<Checked>> {
        Box::pin(self.check_one(service_id))
    }

    #[tracing::instrument(skip_all, fields(%service_id))]
    async fn check_one(&self, service_id: Uuid) -> anyhow::Result<Checked> {
        let Some(service) = db::services::find_service(&self.db, service_id).await? else {
            return Ok(Checked::Skipped);
        };
        if !matches!(service.status, ServiceStatus::Ready | ServiceStatus::Drifted) {
            return Ok(Checked::Skipped);
        }
        let rows = db::steps::list_steps(&self.db, service_id).await?;
        let roles = db::roles::list_roles(&self.db, service_id).await?;
        let key = StepKey::service(StepName::FirstBuild);
        let providers = self.providers.for_service(&service);
        let cx = Cx::new(&service, &rows, &providers, &self.settings, &key, &roles)?;
        let findings = look::look(&cx, &roles).await?;
        let before = db::drift::findings(&self.db, service_id).await?.unwrap_or_default();
        let to = if findings.is_empty() { ServiceStatus::Ready } else { ServiceStatus::Drifted };
        // Guarded by the status read above: a delete or repair asked for meanwhile wins.
        if !db::drift::record_check(&self.db, service_id, service.status, to, &findings).await? {
            return Ok(Checked::Skipped);
        }
        let audit = match (service.status, to) {
            (_, ServiceStatus::Drifted) if findings != before => Some(AuditAction::DriftDetected),
            (ServiceStatus::Drifted, ServiceStatus::Ready) => Some(AuditAction::DriftResolved),
            _ => None,
        };
        if let Some(action) = audit {
            let detail = findings.iter().map(Finding::summary).collect::<Vec<_>>().join("; ");
            tracing::warn!(service = %service.name, %action, %detail, "drift");
            let event = NewAuditEvent {
                actor_login: Some("shipyard"),
                service_id: Some(service_id),
                service_name: Some(&service.name),
                outcome: Outcome::Success,
                detail: &detail,
                ..NewAuditEvent::new(action)
            };
            db::audit::insert_audit_event(&self.db, &event).await?;
        }
        Ok(Checked::Found(findings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(resource: StepName, problem: Problem) -> Finding {
        Finding::new(resource, problem, "", "")
    }

    #[test]
    fn a_deleted_role_rewires_the_attachment_and_the_secrets_but_never_the_first_build() {
        let names = |keys: Vec<StepKey>| keys.into_iter().map(|k| k.to_string()).collect::<Vec<_>>();
        let steps = repair_steps(&[finding(StepName::IamRole, Problem::Missing)]).unwrap();
        assert_eq!(names(steps), ["iam_role", "iam_attachment", "actions_secrets"]);
        let steps = repair_steps(&[
            finding(StepName::IamPolicy, Problem::DocumentChanged),
            finding(StepName::IamAttachment, Problem::NotAttached),
        ])
        .unwrap();
        assert_eq!(names(steps), ["iam_policy", "iam_attachment"]);
        let role = finding(StepName::PushRole, Problem::Missing).for_role("tag-v");
        assert_eq!(
            names(repair_steps(&[role]).unwrap()),
            ["push_role (tag-v)", "push_role_attachment (tag-v)", "push_role_secret (tag-v)"]
        );
    }

    #[test]
    fn a_wrong_boundary_recreates_the_role_and_attaches_its_policy_again() {
        let names = |keys: Vec<StepKey>| keys.into_iter().map(|k| k.to_string()).collect::<Vec<_>>();
        let steps = repair_steps(&[finding(StepName::IamRole, Problem::BoundaryChanged)]).unwrap();
        assert_eq!(names(steps), ["iam_role", "iam_attachment"]);
        let role = finding(StepName::PushRole, Problem::BoundaryChanged).for_role("tag-v");
        assert_eq!(
            names(repair_steps(&[role]).unwrap()),
            ["push_role (tag-v)", "push_role_attachment (tag-v)"]
        );
    }

    #[test]
    fn changed_ecr_settings_are_repaired_but_another_encryption_is_not() {
        let names = |keys: Vec<StepKey>| keys.into_iter().map(|k| k.to_string()).collect::<Vec<_>>();
        let steps = repair_steps(&[
            finding(StepName::EcrSettings, Problem::Missing),
            finding(StepName::EcrSettings, Problem::MutabilityChanged),
        ])
        .unwrap();
        assert_eq!(names(steps), ["ecr_settings"]);
        let steps = repair_steps(&[finding(StepName::EcrRepository, Problem::Missing)]).unwrap();
        assert_eq!(names(steps), ["ecr_repository", "ecr_settings"]);
        assert_eq!(repair_steps(&[finding(StepName::EcrRepository, Problem::EncryptionChanged)]), None);
    }

    #[test]
    fn a_gone_or_archived_repository_cannot_be_repaired() {
        for problem in [Problem::Missing, Problem::Archived] {
            let findings =
                [finding(StepName::GithubRepository, problem), finding(StepName::IamRole, Problem::Missing)];
            assert_eq!(repair_steps(&findings), None);
        }
    }

    #[test]
    fn a_removed_file_or_a_loosened_baseline_re_runs_its_own_step() {
        let names = |keys: Vec<StepKey>| keys.into_iter().map(|k| k.to_string()).collect::<Vec<_>>();
        let steps = repair_steps(&[
            finding(StepName::OwnershipFiles, Problem::Missing),
            finding(StepName::SecurityBaseline, Problem::SecretScanningOff),
            finding(StepName::SecurityBaseline, Problem::TopicMissing),
        ])
        .unwrap();
        assert_eq!(names(steps), ["ownership_files", "security_baseline"]);
    }

    #[test]
    fn a_pass_puts_one_check_in_each_equal_slice_of_the_interval() {
        let interval = Duration::from_secs(3600);
        let mut rng = rand::thread_rng();
        let at = schedule(1000, interval, &mut rng);
        assert_eq!(at.len(), 1000);
        let slot = Duration::from_millis(3600);
        for (k, t) in at.iter().enumerate() {
            assert!(*t >= slot * k as u32 && *t < slot * (k as u32 + 1), "check {k} at {t:?}");
        }
        // Jittered: not every check at the start of its slice.
        assert!(at.iter().enumerate().any(|(k, t)| *t != slot * k as u32));
        assert!(schedule(0, interval, &mut rng).is_empty());
    }

    #[test]
    fn findings_round_trip_through_json() {
        let f = Finding::new(StepName::ActionsSecrets, Problem::Missing, "ECR_REPO_URL", "AWS_REGION");
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json["resource"], "actions_secrets");
        assert_eq!(json["problem"], "missing");
        assert_eq!(serde_json::from_value::<Finding>(json).unwrap(), f);
    }
}
