//! [`Sim`] steering for Actions: logs, OIDC subject templates and tokens, tags and dispatches on any ref, the
//! re-run visibility lag, waiting for a run.

use std::time::Duration;

use crate::Sim;
use crate::handle::RunView;
use crate::model::{SubjectTemplate, Workflow, now};
use crate::oidc::{AWS_AUDIENCE, RunContext, claims};

impl Sim {
    /// The log of the newest attempt's job, once the runner has finished it.
    pub fn job_log(&self, owner: &str, repo: &str, run_id: u64) -> Option<String> {
        let world = self.world();
        let r = &world.repos[world.repo_index(owner, repo)?];
        let run = r.runs.iter().find(|run| run.id == run_id)?;
        run.attempt().outcome().map(|o| o.log.clone())
    }

    /// Sets a repository's subject template: `None` = GitHub's default (`use_default: true`), `Some(keys)` =
    /// `include_claim_keys`, `Some(&[])` = the organization's template. Panics on an unknown repository.
    pub fn set_repo_subject_template(&self, owner: &str, repo: &str, keys: Option<&[&str]>) {
        let mut world = self.world();
        let i = world
            .repo_index(owner, repo)
            .unwrap_or_else(|| panic!("github-sim: unknown repo {owner}/{repo}"));
        world.repos[i].subject_template = match keys {
            None => SubjectTemplate::Default,
            Some([]) => SubjectTemplate::Organization,
            Some(keys) => SubjectTemplate::Custom(keys.iter().map(|k| k.to_string()).collect()),
        };
    }

    /// Sets an organization's `include_claim_keys`. Panics on an unknown organization.
    pub fn set_org_subject_template(&self, org: &str, keys: &[&str]) {
        let mut world = self.world();
        let id = world.org(org).unwrap_or_else(|| panic!("github-sim: unknown org {org:?}")).id;
        world.org_subject_templates.insert(id, keys.iter().map(|k| k.to_string()).collect());
    }

    /// An OIDC token for the newest attempt of a run (audience `sts.amazonaws.com`), as the job would get.
    pub fn oidc_token(&self, owner: &str, repo: &str, run_id: u64) -> Option<String> {
        let world = self.world();
        let r = &world.repos[world.repo_index(owner, repo)?];
        let run = r.runs.iter().find(|run| run.id == run_id)?;
        let attempt = run.attempts.len() - 1;
        let actor_id = run.attempt().triggering_actor;
        let context = RunContext {
            repo: r,
            run,
            attempt,
            actor_login: world.user(actor_id).map_or("ghost", |u| u.login.as_str()),
            actor_id,
            org_template: world.org_subject_templates.get(&r.owner_id).map(Vec::as_slice),
        };
        self.issuer().mint(&claims(self.issuer().url(), AWS_AUDIENCE, now(), &context)).ok()
    }

    /// Pushes tag `tag` at the default branch's head and queues a `push` run of every workflow with that
    /// trigger on `refs/tags/TAG`. Returns the new run ids. Panics on an unknown or empty repository.
    pub fn push_tag(&self, owner: &str, repo: &str, tag: &str) -> Vec<u64> {
        let mut world = self.world();
        let i = world
            .repo_index(owner, repo)
            .unwrap_or_else(|| panic!("github-sim: unknown repo {owner}/{repo}"));
        let r = &world.repos[i];
        let sha =
            r.branch(&r.default_branch).map(|b| b.sha.clone()).expect("github-sim: the repository is empty");
        let pushes: Vec<Workflow> =
            r.workflows.iter().filter(|w| w.on.iter().any(|e| e == "push")).cloned().collect();
        let actor = r.creator;
        let mut ids = Vec::new();
        for workflow in &pushes {
            let run_ids = (world.next_id(), world.next_id());
            let r = &mut world.repos[i];
            r.queue_run(run_ids, workflow, "push", &format!("refs/tags/{tag}"), &sha, actor, now());
            ids.push(run_ids.0);
        }
        world.repos[i].tags.insert(tag.to_string(), sha);
        ids
    }

    /// Pushes a new branch `branch` at the default branch's head (as `git push origin HEAD:BRANCH` would) and
    /// queues a `push` run of every workflow with that trigger on it. Returns the new run ids. Panics on an
    /// unknown or empty repository, or a branch that exists.
    pub fn push_branch(&self, owner: &str, repo: &str, branch: &str) -> Vec<u64> {
        let mut world = self.world();
        let i = world
            .repo_index(owner, repo)
            .unwrap_or_else(|| panic!("github-sim: unknown repo {owner}/{repo}"));
        let r = &world.repos[i];
        assert!(r.branch(branch).is_none(), "github-sim: branch {branch} exists in {owner}/{repo}");
        let head = r.branch(&r.default_branch).expect("github-sim: the repository is empty");
        let (sha, files) = (head.sha.clone(), head.files.clone());
        let pushes: Vec<Workflow> =
            r.workflows.iter().filter(|w| w.on.iter().any(|e| e == "push")).cloned().collect();
        let actor = r.creator;
        world.repos[i].branches.push(crate::model::Branch {
            name: branch.to_string(),
            sha: sha.clone(),
            files,
        });
        let mut ids = Vec::new();
        for workflow in &pushes {
            let run_ids = (world.next_id(), world.next_id());
            let r = &mut world.repos[i];
            r.queue_run(run_ids, workflow, "push", &format!("refs/heads/{branch}"), &sha, actor, now());
            ids.push(run_ids.0);
        }
        ids
    }

    /// Pushes a new commit onto the existing branch `branch` (as `git commit && git push` would) and queues a
    /// `push` run of every workflow with that trigger on it. Returns the new run ids. Panics on an unknown
    /// repository or branch.
    pub fn push_commit(&self, owner: &str, repo: &str, branch: &str) -> Vec<u64> {
        let mut world = self.world();
        let i = world
            .repo_index(owner, repo)
            .unwrap_or_else(|| panic!("github-sim: unknown repo {owner}/{repo}"));
        let sha = crate::model::random_hex(40);
        let r = &mut world.repos[i];
        let head = r
            .branches
            .iter_mut()
            .find(|b| b.name == branch)
            .unwrap_or_else(|| panic!("github-sim: no branch {branch} in {owner}/{repo}"));
        head.sha = sha.clone();
        r.pushed_at = now();
        let pushes: Vec<Workflow> =
            r.workflows.iter().filter(|w| w.on.iter().any(|e| e == "push")).cloned().collect();
        let actor = r.creator;
        let mut ids = Vec::new();
        for workflow in &pushes {
            let run_ids = (world.next_id(), world.next_id());
            let r = &mut world.repos[i];
            r.queue_run(run_ids, workflow, "push", &format!("refs/heads/{branch}"), &sha, actor, now());
            ids.push(run_ids.0);
        }
        ids
    }

    /// Queues a `workflow_dispatch` run of the workflow file `file` (e.g. `build.yml`) on `git_ref` (a branch,
    /// a tag, or `refs/...`), whatever its triggers. Returns the run id, `None` if the workflow or ref is unknown.
    pub fn dispatch(&self, owner: &str, repo: &str, file: &str, git_ref: &str) -> Option<u64> {
        let mut world = self.world();
        let i = world.repo_index(owner, repo)?;
        let ids = (world.next_id(), world.next_id());
        let r = &mut world.repos[i];
        let workflow = r.workflows.iter().find(|w| w.path.rsplit('/').next() == Some(file))?.clone();
        let (full_ref, sha) = r.resolve_ref(git_ref)?;
        let actor = r.creator;
        r.queue_run(ids, &workflow, "workflow_dispatch", &full_ref, &sha, actor, now());
        Some(ids.0)
    }

    /// How long after a re-run the API keeps showing the previous attempt.
    pub fn set_rerun_visibility_lag(&self, lag: Duration) {
        *self.settings().rerun_visibility_lag.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = lag;
    }

    /// Waits (polling every 20 ms, up to `timeout`) until the run's newest attempt is completed.
    pub async fn wait_for_run(
        &self,
        owner: &str,
        repo: &str,
        run_id: u64,
        timeout: Duration,
    ) -> Option<RunView> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let view = self.runs(owner, repo).into_iter().find(|r| r.id == run_id);
            // A waiting run goes nowhere until a reviewer acts: it is as far as it will get.
            if view.as_ref().is_some_and(|v| v.status == "completed" || v.status == "waiting")
                || tokio::time::Instant::now() >= deadline
            {
                return view;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
