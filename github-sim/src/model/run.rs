//! Workflow runs and their attempts; status is derived from timestamps, never stored.

use std::time::Duration;

use time::OffsetDateTime;

/// One attempt of a run; a re-run appends an attempt and re-reads secrets at that moment.
pub(crate) struct Attempt {
    pub queued_at: OffsetDateTime,
    pub missing_secrets: bool,
    pub triggering_actor: u64,
}

pub(crate) struct Run {
    pub id: u64,
    pub run_number: u64,
    pub workflow_id: u64,
    pub name: String,
    pub path: String,
    pub event: String,
    pub head_branch: String,
    pub head_sha: String,
    pub actor: u64,
    pub attempts: Vec<Attempt>,
}

/// What a run looks like at one moment.
pub(crate) struct RunState {
    pub status: &'static str,
    pub conclusion: Option<&'static str>,
    pub updated_at: OffsetDateTime,
}

impl Run {
    pub fn attempt(&self) -> &Attempt {
        self.attempts.last().expect("a run always has an attempt")
    }

    /// queued for the first half of `run_duration`, in_progress for the second, then completed.
    pub fn state(&self, now: OffsetDateTime, run_duration: Duration) -> RunState {
        let attempt = self.attempt();
        let elapsed = now - attempt.queued_at;
        let total = time::Duration::try_from(run_duration).unwrap_or(time::Duration::MAX);
        if elapsed >= total {
            let conclusion = if attempt.missing_secrets { "failure" } else { "success" };
            RunState {
                status: "completed",
                conclusion: Some(conclusion),
                updated_at: attempt.queued_at + total,
            }
        } else if elapsed >= total / 2 {
            RunState { status: "in_progress", conclusion: None, updated_at: attempt.queued_at + total / 2 }
        } else {
            RunState { status: "queued", conclusion: None, updated_at: attempt.queued_at }
        }
    }
}
