//! The Actions runner: executes a queued attempt as its workflow's job would, when its start time comes
//! (halfway through the run's duration), and stores the conclusion, steps and log on the attempt.
//!
//! The in-memory part (secrets the job reads, the OIDC token) runs under the world lock from [`Sim::world`];
//! a job that pushes to ECR is then handed to a background task that does what configure-aws-credentials,
//! amazon-ecr-login and docker push would do against `SimConfig::aws_endpoint_url` (moto), evaluating the IAM
//! trust and identity policies itself since moto does not ([`aws`]). Without an AWS endpoint the runner checks
//! only the secrets and says so in the log.

mod aws;
mod log;

use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

pub(crate) use log::JobLog;

use crate::Sim;
use crate::model::{Gate, Outcome, Phase, World, now};
use crate::oidc::{AWS_AUDIENCE, RunContext, claims};

/// A job that pushes an image: everything the background part needs, taken from the world.
pub(crate) struct PushJob {
    /// (repository id, run id, attempt index)
    pub key: (u64, u64, usize),
    pub log: JobLog,
    pub planned: Vec<String>,
    pub masks: Vec<String>,
    pub role_arn: String,
    pub region: String,
    pub repository_url: String,
    pub token: String,
    /// The token's claims: STS evaluates the trust with `sub`, `aud` and GitHub's own claim keys.
    pub claims: serde_json::Map<String, serde_json::Value>,
    pub tags: Vec<String>,
}

pub(crate) type JobSender = UnboundedSender<PushJob>;

const CONFIGURE: &str = "Run aws-actions/configure-aws-credentials@v4";
const LOGIN: &str = "Run aws-actions/amazon-ecr-login@v2";
const META: &str = "Run docker/metadata-action@v5";
const PUSH: &str = "Run docker/build-push-action@v6";

/// What configure-aws-credentials prints when it was given a role but the job has no OIDC token.
const NO_ID_TOKEN_HINT: &str = "It looks like you might be trying to authenticate with OIDC. Did you mean to set the \
                                `id-token` permission? If you are not trying to authenticate with OIDC and the action \
                                is working successfully, you can ignore this message.";
const NO_CREDENTIALS: &str = "Credentials could not be loaded, please check your action inputs: Could not load credentials from any providers";

/// Starts every attempt whose time has come. Called with the world locked, after content has settled.
pub(crate) fn start_due(world: &mut World, sim: &Sim) {
    let at = now();
    let run_duration = sim.settings().run_duration;
    let mut due = Vec::new();
    for (ri, repo) in world.repos.iter().enumerate() {
        for (ki, run) in repo.runs.iter().enumerate() {
            let index = run.attempts.len() - 1;
            if matches!(run.attempt().phase, Phase::Queued) && run.start_at(index, run_duration) <= at {
                due.push((ri, ki));
            }
        }
    }
    for (ri, ki) in due {
        start(world, sim, ri, ki);
    }
}

fn start(world: &mut World, sim: &Sim, ri: usize, ki: usize) {
    let repo = &world.repos[ri];
    let run = &repo.runs[ki];
    let index = run.attempts.len() - 1;
    let attempt = &run.attempts[index];
    let mut log = JobLog::default();
    let job = &run.job;
    // An environment's protection rules are judged before the job gets a runner, its secrets or a token.
    let environment = job.environment.as_deref().and_then(|name| repo.environment(name));
    match environment.map(|e| e.gate(&run.git_ref, &repo.branch_protections)) {
        Some(Gate::Refused(message)) => {
            log.line(&format!("Error: {message}"));
            log.line("Error: The deployment was rejected or didn't satisfy other protection rules.");
            let attempt = &mut world.repos[ri].runs[ki].attempts[index];
            // It never ran, so it never saw a secret (the environment's are withheld until its rules pass).
            attempt.secrets.clear();
            attempt.phase = Phase::Done(log.refused());
            return;
        }
        Some(Gate::Waiting) => {
            world.repos[ri].runs[ki].attempts[index].phase = Phase::Waiting;
            return;
        }
        Some(Gate::Open) | None => {}
    }
    log.begin("Set up job");
    log.line(&format!("Job is about to start running on the runner: GitHub Actions {}", attempt.job_id));
    log.begin("Run actions/checkout@v4");
    log.line(&format!("Checking out {} ({})", run.head_sha, run.git_ref));
    let mut planned: Vec<String> = vec!["Set up job".into(), "Run actions/checkout@v4".into()];
    match &job.aws_push {
        Some(_) => planned.extend([CONFIGURE, LOGIN, META, PUSH].map(String::from)),
        None => planned.push(format!("Run {}", run.name)),
    }
    log.begin(&planned[2]);
    let masks: Vec<String> = attempt.secrets.values().cloned().collect();
    if let Some(missing) = job.secrets.iter().find(|s| !attempt.secrets.contains_key(*s)) {
        log.fail(&format!("secret {missing} is not set: ${{{{ secrets.{missing} }}}} is empty"));
        return finish(world, (ri, ki, index), log, &planned, &masks);
    }
    let Some(push) = &job.aws_push else {
        log.line(&format!("{} finished", run.name));
        return finish(world, (ri, ki, index), log, &planned, &masks);
    };
    // Without `id-token: write` the runner sets no ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN, so the action
    // cannot use OIDC and finds no other credentials (its own wording, configure-aws-credentials v4).
    if !job.id_token {
        log.line(NO_ID_TOKEN_HINT);
        log.fail(NO_CREDENTIALS);
        return finish(world, (ri, ki, index), log, &planned, &masks);
    }
    let Some(sender) = sim.runner() else {
        log.line("AWS checks skipped: no --aws-endpoint-url");
        return finish(world, (ri, ki, index), log, &planned, &masks);
    };
    let secret = |name: &str| attempt.secrets.get(name).cloned().unwrap_or_default();
    let actor = world.user(attempt.triggering_actor);
    let context = RunContext {
        repo,
        run,
        attempt: index,
        actor_login: actor.map_or("ghost", |u| u.login.as_str()),
        actor_id: attempt.triggering_actor,
        org_template: world.org_subject_templates.get(&repo.owner_id).map(Vec::as_slice),
    };
    let claims = claims(sim.issuer().url(), AWS_AUDIENCE, now(), &context);
    let token = match sim.issuer().mint(&claims) {
        Ok(token) => token,
        Err(error) => {
            log.fail(&format!("Could not get an OIDC token: {error:#}"));
            return finish(world, (ri, ki, index), log, &planned, &masks);
        }
    };
    let short_sha: String = run.head_sha.chars().take(7).collect();
    // docker/metadata-action: `type=sha,prefix=sha-` and the branch or tag name, `/` made `-`.
    let tags = vec![format!("sha-{short_sha}"), run.head_branch.replace('/', "-")];
    let push_job = PushJob {
        key: (repo.id, run.id, index),
        log,
        planned,
        masks,
        role_arn: secret(&push.role_secret),
        region: secret(&push.region_secret),
        repository_url: secret(&push.repository_secret),
        token,
        claims,
        tags,
    };
    world.repos[ri].runs[ki].attempts[index].phase = Phase::Running;
    if let Err(returned) = sender.send(push_job) {
        let mut job = returned.0;
        job.log.fail("the runner is not available");
        finish(world, (ri, ki, index), job.log, &job.planned, &job.masks);
    }
}

/// Stores the outcome on the attempt at `(repo index, run index, attempt index)`.
fn finish(world: &mut World, at: (usize, usize, usize), log: JobLog, planned: &[String], masks: &[String]) {
    let (success, steps, log) = log.finish(planned, masks);
    let attempt = &mut world.repos[at.0].runs[at.1].attempts[at.2];
    attempt.phase = Phase::Done(Outcome { success, finished_at: now(), steps, log });
}

/// The background part: AWS checks and the push for each [`PushJob`]; also settles the world regularly so
/// attempts start on time when nobody is asking.
pub(crate) async fn run(sim: Sim, mut jobs: UnboundedReceiver<PushJob>, endpoint: String) {
    let clients = aws::Clients::new(&endpoint, sim.settings().iam_propagation_delay).await;
    loop {
        tokio::select! {
            Some(job) = jobs.recv() => {
                let (sim, clients) = (sim.clone(), clients.clone());
                tokio::spawn(async move { execute(&sim, &clients, job).await });
            }
            _ = tokio::time::sleep(Duration::from_millis(100)) => drop(sim.world()),
        }
    }
}

#[tracing::instrument(skip_all, fields(run_id = job.key.1, attempt = job.key.2 + 1))]
async fn execute(sim: &Sim, clients: &aws::Clients, mut job: PushJob) {
    aws::push(clients, sim.issuer(), &mut job).await;
    tracing::info!(failed = job.log.failed(), "job finished");
    let mut world = sim.world();
    let (repo_id, run_id, index) = job.key;
    let Some(ri) = world.repos.iter().position(|r| r.id == repo_id) else { return };
    let Some(ki) = world.repos[ri].runs.iter().position(|r| r.id == run_id) else { return };
    finish(&mut world, (ri, ki, index), job.log, &job.planned, &job.masks);
}
