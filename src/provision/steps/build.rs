//! The first build: re-run every failed run of the initial commit (they were queued before the
//! secrets and the role existed), or dispatch the build when the template's push made no run,
//! then watch until each run's attempt concludes. Watching parks the step between looks, so a
//! build of many minutes holds no worker and a delete request is taken at once.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{
    Cx, Ensured, Phase, Step,
    aws::{IamAttachment, IamRole},
    github::{GithubRepository, RepoOutput},
    secrets::ActionsSecrets,
    webhook::GithubWebhook,
};
use crate::{
    domain::StepName,
    github::{DispatchOutcome, WorkflowRun},
    provider::{ErrorKind, ProviderError, System},
};

pub struct FirstBuild;

/// What was started and how each run stands. Recorded while parked, read back on the next look.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FirstBuildOutput {
    /// `rerun`, `dispatch`, `none`; empty before the first look.
    pub action: String,
    pub runs: Vec<WatchedRun>,
    /// `success` or `failure` once every run concluded; none while running or when nothing ran.
    pub conclusion: Option<String>,
    /// The build's run (the first watched run), for the page's link.
    pub run_id: Option<u64>,
    pub run_url: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub watching_since: Option<OffsetDateTime>,
    /// How many times the runs were looked at (the call budget).
    pub looks: u32,
    /// The initial commit's runs as listed while IAM propagated (listing needs no role), so the
    /// re-run can follow the wait without listing again. Only runs that had all completed are
    /// trusted then; anything still going is listed afresh.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub listed: Vec<WorkflowRun>,
}

/// One run of the initial commit, and the attempt whose conclusion counts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WatchedRun {
    pub id: u64,
    pub name: String,
    pub url: String,
    /// Right after a re-run GitHub may still answer with the previous attempt: only this attempt
    /// (or a later one) tells how the build went.
    pub attempt: u32,
    /// Already re-run by us (a run is re-run once for the secrets, and again only for IAM below).
    pub rerun: bool,
    pub conclusion: Option<String>,
    /// Re-runs after the job could not assume the role yet (IAM still propagating).
    #[serde(default)]
    pub credential_reruns: u32,
    /// When the next such re-run is due.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub retry_at: Option<OffsetDateTime>,
}

/// How often a run that could not assume the role is re-run, waiting 2, then 4 s: IAM changes usually
/// show within seconds (and Shipyard already waited `SHIPYARD_IAM_PROPAGATION_DELAY_SECS` before the
/// first re-run). STS answers a wrong trust with the same denial, so the re-runs are few and short: a
/// real misconfiguration still fails the build within seconds, with the run's own message.
const CREDENTIAL_RERUNS: u32 = 2;

/// Whether a failed job's first error line is STS refusing the role, as while IAM propagates.
fn role_not_assumable_yet(cause: &str) -> bool {
    cause.contains("sts:AssumeRoleWithWebIdentity")
}

impl Step for FirstBuild {
    const NAME: StepName = StepName::FirstBuild;
    const LABEL: &'static str = "First build";
    const PHASE: Phase = Phase::Create;
    // The build needs everything: secrets to read and a role that can push; the webhook, so a
    // run that finishes wakes it; and the guardrails, so the build is of a repository that has them
    // (and nothing Shipyard writes lands while the build is watched).
    const DEPENDS_ON: &'static [StepName] = &[
        StepName::ActionsSecrets,
        StepName::IamAttachment,
        StepName::GithubWebhook,
        StepName::SecurityBaseline,
    ];
    const BEST_EFFORT: bool = true;
    type Output = FirstBuildOutput;

    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<FirstBuildOutput>, ProviderError> {
        let now = OffsetDateTime::now_utc();
        let state = cx.previous::<FirstBuild>()?.unwrap_or_default();
        let mut repo = cx.output::<GithubRepository>()?;
        // The build goes where the secrets went (the repository's name then, found by its id).
        if let Some(current) = cx.recorded::<ActionsSecrets>()?.and_then(|s| s.full_name) {
            repo.full_name = current;
        }
        if state.action.is_empty() {
            // IAM is eventually consistent: give the role and its permissions time to propagate
            // before a run tries to assume it (parked, so the worker does other work meanwhile).
            let made = cx.finished_at(IamAttachment::NAME).max(cx.finished_at(IamRole::NAME));
            let delay = time::Duration::try_from(cx.settings.iam_propagation_delay).unwrap_or_default();
            if let Some(made) = made
                && now < made + delay
            {
                let mut state = state;
                if state.listed.is_empty() {
                    state.listed = initial_runs(cx, &repo).await?;
                }
                let recheck_in = Duration::try_from(made + delay - now).unwrap_or_default();
                return Ok(Ensured::Wait { state, recheck_in });
            }
            return start(cx, &repo, state.listed, now).await;
        }
        look(cx, &repo, state, now).await
    }
}

/// Every run of the initial commit (a template may have several workflows: build, lint, ...), newest first.
async fn initial_runs(cx: &Cx<'_>, repo: &RepoOutput) -> Result<Vec<WorkflowRun>, ProviderError> {
    let runs =
        cx.providers.github.list_runs(repo.owner(), repo.name(), Some(cx.branch.as_str()), None).await?;
    let initial_sha = runs.iter().map(|r| r.head_sha.clone()).next_back();
    Ok(runs.into_iter().filter(|r| Some(&r.head_sha) == initial_sha.as_ref()).collect())
}

/// First look: re-run what failed, note what is still going, or dispatch when nothing ran.
async fn start(
    cx: &Cx<'_>,
    repo: &RepoOutput,
    listed: Vec<WorkflowRun>,
    now: OffsetDateTime,
) -> Result<Ensured<FirstBuildOutput>, ProviderError> {
    let github = &cx.providers.github;
    let runs = if !listed.is_empty() && listed.iter().all(WorkflowRun::is_completed) {
        listed
    } else {
        initial_runs(cx, repo).await?
    };
    let mut state = FirstBuildOutput { watching_since: Some(now), looks: 1, ..Default::default() };
    if runs.is_empty() {
        let Some((run_id, url)) = dispatch_build(cx, repo).await? else {
            state.action = "none".into();
            state.note = Some(
                "No initial run and no workflow with a workflow_dispatch trigger: push to the default branch \
                 to build."
                    .into(),
            );
            return Ok(Ensured::Done(state));
        };
        state.action = "dispatch".into();
        state.runs.push(WatchedRun {
            id: run_id,
            name: String::new(),
            url,
            attempt: 1,
            rerun: true,
            conclusion: None,
            credential_reruns: 0,
            retry_at: None,
        });
    } else {
        state.action = "rerun".into();
        // Oldest first, so the build (usually the first workflow) is the one the page links to.
        for run in runs.into_iter().rev() {
            let mut watched = WatchedRun {
                id: run.id,
                name: run.name.clone().unwrap_or_default(),
                url: run.html_url.clone(),
                attempt: run.run_attempt,
                rerun: false,
                conclusion: None,
                credential_reruns: 0,
                retry_at: None,
            };
            if run.has_failed() {
                github.rerun_failed_jobs(repo.owner(), repo.name(), run.id).await?;
                watched.attempt = run.run_attempt + 1;
                watched.rerun = true;
            } else if run.is_completed() {
                watched.conclusion = run.conclusion.clone();
            }
            state.runs.push(watched);
        }
    }
    state.run_id = state.runs.first().map(|r| r.id);
    state.run_url = state.runs.first().map(|r| r.url.clone());
    // A re-run's attempt shows in the API a moment after it is accepted: look again soon.
    let catching_up = state.runs.iter().any(|w| w.rerun);
    settle_or_wait(cx, repo, state, now, catching_up).await
}

/// A later look: how each watched run's attempt stands now.
async fn look(
    cx: &Cx<'_>,
    repo: &RepoOutput,
    mut state: FirstBuildOutput,
    now: OffsetDateTime,
) -> Result<Ensured<FirstBuildOutput>, ProviderError> {
    let github = &cx.providers.github;
    state.looks += 1;
    let mut catching_up = false;
    for watched in state.runs.iter_mut().filter(|w| w.conclusion.is_none()) {
        let run = github.get_run(repo.owner(), repo.name(), watched.id).await?;
        if run.run_attempt < watched.attempt {
            // The API still shows the previous attempt (a webhook may already have announced the
            // new one finished): the answer is seconds away, not a build away.
            catching_up = true;
            continue;
        }
        if !run.is_completed() {
            continue;
        }
        if run.has_failed() && !watched.rerun {
            // It was already going when the secrets landed, so it ran without them: once more.
            github.rerun_failed_jobs(repo.owner(), repo.name(), run.id).await?;
            watched.attempt = run.run_attempt + 1;
            watched.rerun = true;
            catching_up = true;
            continue;
        }
        if run.has_failed() && watched.credential_reruns < CREDENTIAL_RERUNS {
            let due = match watched.retry_at {
                Some(at) => Some(at),
                None => github
                    .failure_cause(repo.owner(), repo.name(), run.id)
                    .await
                    .filter(|cause| role_not_assumable_yet(cause))
                    .map(|_| now + time::Duration::seconds(2 << watched.credential_reruns)),
            };
            if let Some(at) = due {
                catching_up = true;
                if now < at {
                    watched.retry_at = Some(at);
                    continue;
                }
                github.rerun_failed_jobs(repo.owner(), repo.name(), run.id).await?;
                watched.attempt = run.run_attempt + 1;
                watched.credential_reruns += 1;
                watched.retry_at = None;
                continue;
            }
        }
        watched.conclusion = Some(run.conclusion.clone().unwrap_or_else(|| "unknown".into()));
    }
    settle_or_wait(cx, repo, state, now, catching_up).await
}

/// Done when every run concluded (a failure names each failed run), parked otherwise, and done
/// with a note once the watch has lasted `build_wait`. `catching_up`: a re-run's attempt is not
/// visible yet, so the next look comes on the polling schedule even with a webhook.
async fn settle_or_wait(
    cx: &Cx<'_>,
    repo: &RepoOutput,
    mut state: FirstBuildOutput,
    now: OffsetDateTime,
    catching_up: bool,
) -> Result<Ensured<FirstBuildOutput>, ProviderError> {
    if state.runs.iter().all(|w| w.conclusion.is_some()) {
        let failed: Vec<&WatchedRun> = state
            .runs
            .iter()
            .filter(|w| {
                w.conclusion.as_deref() != Some("success") && w.conclusion.as_deref() != Some("skipped")
            })
            .collect();
        if failed.is_empty() {
            state.conclusion = Some("success".into());
            return Ok(Ensured::Done(state));
        }
        let mut causes = Vec::new();
        for run in &failed {
            let cause = cx.providers.github.failure_cause(repo.owner(), repo.name(), run.id).await;
            let conclusion = run.conclusion.as_deref().unwrap_or("badly");
            causes.push(match cause {
                Some(cause) => format!("{} ended {conclusion}: {cause} — see {}", display_name(run), run.url),
                None => format!("{} ended {conclusion} — see {}", display_name(run), run.url),
            });
        }
        return Err(ProviderError::new(
            System::GitHub,
            ErrorKind::Other,
            format!("the first build failed: {}", causes.join("; ")),
        ));
    }
    let since = state.watching_since.unwrap_or(now);
    let age = Duration::try_from(now - since).unwrap_or_default();
    if age >= cx.settings.build_wait {
        state.note = Some("still running when Shipyard stopped watching".into());
        return Ok(Ensured::Done(state));
    }
    Ok(Ensured::Wait { recheck_in: next_look(cx, age, catching_up), state })
}

fn display_name(run: &WatchedRun) -> String {
    if run.name.is_empty() { format!("run {}", run.id) } else { format!("the {} run", run.name) }
}

/// Builds are rarely done in their first seconds: look again after a third of the time watched
/// so far, within the configured bounds (a five-minute build costs about fifteen looks). With a
/// webhook, a finished run wakes the step, and the look is only a safety net against a lost delivery
/// (unless the API is still `catching_up` with a re-run, which no delivery will announce).
pub(crate) fn next_look(cx: &Cx<'_>, age: Duration, catching_up: bool) -> Duration {
    let hooked = cx.recorded::<GithubWebhook>().ok().flatten().is_some_and(|w| w.hook_id.is_some());
    if hooked && !catching_up {
        return cx.settings.webhook_safety_poll;
    }
    (age / 3).clamp(cx.settings.build_poll_min, cx.settings.build_poll_max)
}

/// Dispatches the first active workflow file that accepts `workflow_dispatch`; the run it started.
/// GitHub also lists dynamic workflows (Dependabot, CodeQL default setup) whose path is not under
/// `.github/workflows/`: they are not the template's build and cannot be dispatched.
async fn dispatch_build(cx: &Cx<'_>, repo: &RepoOutput) -> Result<Option<(u64, String)>, ProviderError> {
    let github = &cx.providers.github;
    let branch = cx.branch.as_str();
    let workflows = github.list_workflows(repo.owner(), repo.name()).await?;
    for workflow in
        workflows.iter().filter(|w| w.path.starts_with(".github/workflows/") && w.state == "active")
    {
        match github.dispatch_workflow(repo.owner(), repo.name(), workflow.file_name(), branch).await {
            Ok(DispatchOutcome::Started { run_id, html_url }) => return Ok(Some((run_id, html_url))),
            Ok(DispatchOutcome::Accepted) => {
                let runs = github
                    .list_runs(repo.owner(), repo.name(), Some(branch), Some("workflow_dispatch"))
                    .await?;
                return Ok(runs.first().map(|r| (r.id, r.html_url.clone())));
            }
            // No `workflow_dispatch` trigger (422), or a workflow GitHub will not dispatch (404).
            Err(e) if matches!(e.kind, ErrorKind::Invalid | ErrorKind::NotFound) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}
