//! A job's log as the runner writes it (timestamped lines, `##[group]` per step, `Error: ...` on failure) and
//! its steps' conclusions. Secret values are masked as `***` on the way out, as GitHub masks them.

use time::macros::format_description;

/// The log and steps of one job while it runs.
#[derive(Default)]
pub(crate) struct JobLog {
    lines: Vec<String>,
    steps: Vec<(String, &'static str)>,
    failed: bool,
}

impl JobLog {
    /// Starts a step (it succeeds unless [`JobLog::fail`] is called before the next one).
    pub fn begin(&mut self, step: &str) {
        self.line(&format!("##[group]{step}"));
        self.steps.push((step.to_string(), "success"));
    }

    pub fn line(&mut self, text: &str) {
        let stamp = crate::model::now()
            .format(format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:7]Z"
            ))
            .unwrap_or_default();
        self.lines.push(format!("{stamp} {text}"));
    }

    /// Fails the current step with one clear line.
    pub fn fail(&mut self, message: &str) {
        self.line(&format!("Error: {message}"));
        if let Some(step) = self.steps.last_mut() {
            step.1 = "failure";
        }
        self.failed = true;
    }

    pub fn failed(&self) -> bool {
        self.failed
    }

    /// Closes a job refused before it started (its environment's rules): no steps ran, not even set-up.
    pub fn refused(self) -> crate::model::Outcome {
        let mut log = self.lines.join("\n");
        log.push('\n');
        crate::model::Outcome { success: false, finished_at: crate::model::now(), steps: Vec::new(), log }
    }

    /// Closes the job: `planned` steps not reached are `skipped` after a failure; "Complete job" always runs.
    /// Returns (success, steps, masked log text).
    pub fn finish(
        mut self,
        planned: &[String],
        masks: &[String],
    ) -> (bool, Vec<(String, &'static str)>, String) {
        let later = if self.failed { "skipped" } else { "success" };
        for step in planned {
            if !self.steps.iter().any(|(name, _)| name == step) {
                self.steps.push((step.clone(), later));
            }
        }
        self.begin("Complete job");
        self.line("Cleaning up orphan processes");
        let mut text = self.lines.join("\n");
        text.push('\n');
        for secret in masks.iter().filter(|s| !s.is_empty()) {
            text = text.replace(secret.as_str(), "***");
        }
        (!self.failed, self.steps, text)
    }
}
