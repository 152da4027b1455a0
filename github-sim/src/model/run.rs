//! Workflow runs and their attempts. Status is derived from timestamps; the conclusion is what the runner
//! decided when it executed the attempt (`runner/`), stored on the attempt.

use std::collections::BTreeMap;
use std::time::Duration;

use time::OffsetDateTime;

use super::JobSpec;

/// Where an attempt is in the runner's hands.
pub(crate) enum Phase {
    /// Waiting for its start time (the first half of the run's duration).
    Queued,
    /// Handed to the background runner (AWS checks under way).
    Running,
    /// Its environment's required reviewers have not approved it: nothing runs, its run shows `waiting`.
    Waiting,
    Done(Outcome),
}

/// What the runner decided, with the job's steps and log.
pub(crate) struct Outcome {
    pub success: bool,
    pub finished_at: OffsetDateTime,
    /// (step name, conclusion) in order; steps after a failure are `skipped`.
    pub steps: Vec<(String, &'static str)>,
    pub log: String,
}

/// One attempt of a run: a re-run appends one. Secrets are read when an attempt is queued.
pub(crate) struct Attempt {
    pub queued_at: OffsetDateTime,
    pub triggering_actor: u64,
    /// The id of this attempt's (single) job.
    pub job_id: u64,
    /// Unguessable part of the job log's download URL (GitHub hands out signed, short-lived URLs).
    pub log_key: String,
    /// Values of the secrets the workflow reads, as they were when the attempt was queued.
    pub secrets: BTreeMap<String, String>,
    pub phase: Phase,
}

impl Attempt {
    pub fn new(
        queued_at: OffsetDateTime,
        triggering_actor: u64,
        job_id: u64,
        secrets: BTreeMap<String, String>,
    ) -> Self {
        Attempt {
            queued_at,
            triggering_actor,
            job_id,
            log_key: super::random_hex(32),
            secrets,
            phase: Phase::Queued,
        }
    }

    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.phase {
            Phase::Done(outcome) => Some(outcome),
            _ => None,
        }
    }
}

pub(crate) struct Run {
    pub id: u64,
    pub run_number: u64,
    pub workflow_id: u64,
    pub name: String,
    pub path: String,
    pub event: String,
    /// Branch or tag name, as GitHub's `head_branch` reports it.
    pub head_branch: String,
    /// `refs/heads/BRANCH` or `refs/tags/TAG`.
    pub git_ref: String,
    pub head_sha: String,
    pub actor: u64,
    /// What the workflow's job does, as it was when the run was created.
    pub job: JobSpec,
    pub attempts: Vec<Attempt>,
}

/// What an attempt looks like at one moment.
pub(crate) struct RunState {
    pub status: &'static str,
    pub conclusion: Option<&'static str>,
    pub updated_at: OffsetDateTime,
}

impl Run {
    /// The newest attempt (what the runner works on).
    pub fn attempt(&self) -> &Attempt {
        self.attempts.last().expect("a run always has an attempt")
    }

    /// The attempt GitHub's API shows: a new attempt becomes visible only `lag` after it was queued, until then
    /// the run reads as the previous attempt (completed, its conclusion, its `run_attempt`).
    pub fn visible_attempt(&self, now: OffsetDateTime, lag: Duration) -> usize {
        let lag = time::Duration::try_from(lag).unwrap_or(time::Duration::MAX);
        (0..self.attempts.len())
            .rev()
            .find(|&i| i == 0 || self.attempts[i].queued_at + lag <= now)
            .unwrap_or(0)
    }

    /// How long one attempt takes: the sim's `run_duration` plus the workflow's own extra time.
    pub fn duration(&self, run_duration: Duration) -> time::Duration {
        time::Duration::try_from(run_duration + self.job.extra_duration).unwrap_or(time::Duration::MAX)
    }

    /// When the runner picks attempt `index` up: halfway through its duration.
    pub fn start_at(&self, index: usize, run_duration: Duration) -> OffsetDateTime {
        self.attempts[index].queued_at + self.duration(run_duration) / 2
    }

    /// queued for the first half of the duration, in_progress for the second half (and for as long as the
    /// runner is still at work), then completed with the runner's conclusion.
    pub fn state(&self, index: usize, now: OffsetDateTime, run_duration: Duration) -> RunState {
        let attempt = &self.attempts[index];
        let total = self.duration(run_duration);
        let half = attempt.queued_at + total / 2;
        if matches!(attempt.phase, Phase::Waiting) {
            return RunState { status: "waiting", conclusion: None, updated_at: half };
        }
        match attempt.outcome() {
            Some(outcome) if now >= attempt.queued_at + total => RunState {
                status: "completed",
                conclusion: Some(if outcome.success { "success" } else { "failure" }),
                updated_at: (attempt.queued_at + total).max(outcome.finished_at),
            },
            _ if now >= half => RunState { status: "in_progress", conclusion: None, updated_at: half },
            _ => RunState { status: "queued", conclusion: None, updated_at: attempt.queued_at },
        }
    }
}
