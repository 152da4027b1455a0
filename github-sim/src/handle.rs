//! [`Sim`]: the handle tests use to inspect and steer the simulator (the same things `/_sim/` routes expose).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::SimConfig;
use crate::faults::{Fault, Latency, method_matches, path_matches};
use crate::model::{Repo, Run, World, new_repo, now};
use crate::oidc::Issuer;
use crate::runner::{JobSender, PushJob};
use crate::secondary::Limiter;
use crate::seed::SeedOAuthApp;

/// What [`Sim::new`] hands `build` to start the background runner with: its queue and the AWS endpoint.
pub(crate) type RunnerParts = (tokio::sync::mpsc::UnboundedReceiver<PushJob>, String);

/// A repository webhook as a test sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoHook {
    pub url: String,
    pub events: Vec<String>,
    /// What signs its deliveries (GitHub's API never shows it; the sandbox's owner may look).
    pub secret: Option<String>,
}

/// Cheap, cloneable handle onto the simulator's shared state.
#[derive(Clone)]
pub struct Sim {
    inner: Arc<Inner>,
}

struct Inner {
    world: Mutex<World>,
    settings: Settings,
    base_url: String,
    limiter: Limiter,
    issuer: Issuer,
    /// Hands push jobs to the background runner; `None` without an AWS endpoint.
    runner: Option<JobSender>,
}

/// The parts of [`SimConfig`] handlers consult.
pub(crate) struct Settings {
    pub generate_delay: Duration,
    pub run_duration: Duration,
    pub oidc_customization_endpoint: bool,
    pub code_ttl: Duration,
    pub initial_push_runs: bool,
    pub oauth_apps: Vec<SeedOAuthApp>,
    pub installation_token_ttl: Duration,
    /// Mutable so tests can change it mid-run ([`Sim::set_rerun_visibility_lag`]).
    pub rerun_visibility_lag: Mutex<Duration>,
    pub iam_propagation_delay: Duration,
}

/// A repository as tests see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepoView {
    pub id: u64,
    pub name: String,
    pub full_name: String,
    pub owner: String,
    pub owner_id: u64,
    pub private: bool,
    pub visibility: String,
    pub default_branch: String,
    pub archived: bool,
    pub is_template: bool,
    pub description: Option<String>,
    pub template_full_name: Option<String>,
    pub branches: Vec<String>,
    pub content_ready: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A workflow run as tests see it (status computed at the moment of the call).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunView {
    pub id: u64,
    pub workflow_id: u64,
    pub name: String,
    pub path: String,
    pub event: String,
    pub head_branch: String,
    pub head_sha: String,
    pub run_number: u64,
    pub status: String,
    pub conclusion: Option<String>,
    pub run_attempt: u32,
    pub html_url: String,
}

/// What an installation token was minted for: the repositories it was limited to (by their current
/// names; `None` for all of the installation's) and its permissions.
pub type TokenScope = (Option<Vec<String>>, BTreeMap<String, String>);

impl Sim {
    pub(crate) fn new(config: SimConfig, base_url: String) -> anyhow::Result<(Self, Option<RunnerParts>)> {
        let world = World::from_seed(&config.seed);
        let issuer = Issuer::generate(&config.oidc_issuer)?;
        let (runner, parts) = match config.aws_endpoint_url {
            Some(endpoint) => {
                let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
                (Some(sender), Some((receiver, endpoint)))
            }
            None => (None, None),
        };
        let settings = Settings {
            generate_delay: config.generate_delay,
            run_duration: config.run_duration,
            oidc_customization_endpoint: config.oidc_customization_endpoint,
            code_ttl: config.code_ttl,
            initial_push_runs: config.initial_push_runs,
            oauth_apps: config.seed.oauth_apps,
            installation_token_ttl: config.installation_token_ttl,
            rerun_visibility_lag: Mutex::new(config.rerun_visibility_lag),
            iam_propagation_delay: config.iam_propagation_delay,
        };
        let limiter = Limiter::new(config.secondary_limits);
        let inner = Inner { world: Mutex::new(world), settings, base_url, limiter, issuer, runner };
        Ok((Sim { inner: Arc::new(inner) }, parts))
    }

    /// Locks the world after landing any content and starting any attempt whose time has come.
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        let mut world = self.inner.world.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        world.settle();
        crate::runner::start_due(&mut world, self);
        world
    }

    pub(crate) fn issuer(&self) -> &Issuer {
        &self.inner.issuer
    }

    pub(crate) fn runner(&self) -> Option<&JobSender> {
        self.inner.runner.as_ref()
    }

    pub(crate) fn rerun_visibility_lag(&self) -> Duration {
        *self.settings().rerun_visibility_lag.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    pub(crate) fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    pub(crate) fn limiter(&self) -> &Limiter {
        &self.inner.limiter
    }

    pub fn repo(&self, owner: &str, name: &str) -> Option<RepoView> {
        let world = self.world();
        world.repo_index(owner, name).map(|i| repo_view(&world, &world.repos[i]))
    }

    pub fn repos(&self, owner: &str) -> Vec<RepoView> {
        let world = self.world();
        world
            .repos
            .iter()
            .filter(|r| r.owner_login.eq_ignore_ascii_case(owner))
            .map(|r| repo_view(&world, r))
            .collect()
    }

    /// Decrypted secret values by (uppercase) name.
    pub fn secrets(&self, owner: &str, repo: &str) -> BTreeMap<String, String> {
        let world = self.world();
        let Some(i) = world.repo_index(owner, repo) else { return BTreeMap::new() };
        world.repos[i]
            .secrets
            .iter()
            .map(|(name, s)| (name.clone(), String::from_utf8_lossy(&s.value).into_owned()))
            .collect()
    }

    /// Decrypted values of environment `environment`'s secrets by (uppercase) name; `None` when the
    /// repository or the environment does not exist (names compare case-insensitively, as on GitHub).
    pub fn environment_secrets(
        &self,
        owner: &str,
        repo: &str,
        environment: &str,
    ) -> Option<BTreeMap<String, String>> {
        let world = self.world();
        let e = world.repos[world.repo_index(owner, repo)?].environment(environment)?;
        Some(
            e.secrets
                .iter()
                .map(|(name, s)| (name.clone(), String::from_utf8_lossy(&s.value).into_owned()))
                .collect(),
        )
    }

    /// The repository's environment names, oldest first (empty when the repository does not exist).
    pub fn environments(&self, owner: &str, repo: &str) -> Vec<String> {
        let world = self.world();
        let Some(i) = world.repo_index(owner, repo) else { return Vec::new() };
        world.repos[i].environments.iter().map(|e| e.name.clone()).collect()
    }

    /// The repository's webhooks (where each posts, and for which events), oldest first.
    pub fn hooks(&self, owner: &str, repo: &str) -> Vec<RepoHook> {
        let world = self.world();
        let Some(i) = world.repo_index(owner, repo) else { return Vec::new() };
        let repo_id = world.repos[i].id;
        world
            .hooks
            .iter()
            .filter(|h| h.repo_id == repo_id)
            .map(|h| RepoHook { url: h.url.clone(), events: h.events.clone(), secret: h.secret.clone() })
            .collect()
    }

    /// The secret values the newest attempt of run `run_id` captured when it was queued (what its job
    /// sees: repository secrets overridden by its environment's); `None` for an unknown run.
    pub fn job_secrets(&self, owner: &str, repo: &str, run_id: u64) -> Option<BTreeMap<String, String>> {
        let world = self.world();
        let run = world.repos[world.repo_index(owner, repo)?].runs.iter().find(|r| r.id == run_id)?;
        Some(run.attempt().secrets.clone())
    }

    /// Runs, newest first (like the API).
    pub fn runs(&self, owner: &str, repo: &str) -> Vec<RunView> {
        let world = self.world();
        let Some(i) = world.repo_index(owner, repo) else { return Vec::new() };
        let repo = &world.repos[i];
        let mut runs: Vec<RunView> = repo.runs.iter().map(|run| self.run_view(repo, run)).collect();
        runs.reverse();
        runs
    }

    /// Creates a private repository "outside Shipyard": not from a template, one commit on `main`.
    /// Panics if the owner is not a seeded org or user.
    pub fn create_repo(&self, owner: &str, name: &str) {
        let mut world = self.world();
        let (owner_id, owner_login) =
            world.owner(owner).unwrap_or_else(|| panic!("github-sim: unknown owner {owner:?}"));
        if world.repo_index(owner, name).is_some() {
            return;
        }
        let id = world.next_id();
        let mut repo = new_repo(id, owner_id, owner_login, name.to_string(), true, now());
        repo.queue_push_runs = false;
        world.repos.push(repo);
        world.settle();
    }

    /// Deletes a repository out of band (as if someone deleted it on github.com).
    pub fn delete_repo(&self, owner: &str, name: &str) {
        let mut world = self.world();
        if let Some(i) = world.repo_index(owner, name) {
            world.repos.remove(i);
        }
    }

    pub fn inject_fault(&self, fault: Fault) {
        self.world().faults.push(fault);
    }

    pub fn clear_faults(&self) {
        self.world().faults.clear();
    }

    pub fn set_latency(&self, method: Option<&str>, path_pattern: &str, delay: Duration) {
        let latency =
            Latency { method: method.map(str::to_string), path_pattern: path_pattern.to_string(), delay };
        self.world().latency.push(latency);
    }

    pub fn clear_latency(&self) {
        self.world().latency.clear();
    }

    /// Every installation token minted so far (see [`TokenScope`]): the repositories it was limited to (by their current
    /// names; `None` for all of the installation's) and its permissions. No token values.
    pub fn installation_token_scopes(&self) -> Vec<TokenScope> {
        let world = self.world();
        world
            .installation_tokens
            .values()
            .map(|grant| {
                let repositories = grant.repositories.as_ref().map(|ids| {
                    ids.iter().filter_map(|id| world.repo_by_id(*id)).map(|r| r.name.clone()).collect()
                });
                (repositories, grant.permissions.clone())
            })
            .collect()
    }

    /// Requests matching method and pattern that got past the fault layer (faulted ones and those refused by
    /// the secondary rate limit are not counted; anything GitHub itself answered is, whatever the status,
    /// 304s included: see [`Sim::charged_count`]).
    pub fn request_count(&self, method: &str, path_pattern: &str) -> usize {
        let world = self.world();
        world
            .requests
            .iter()
            .filter(|((m, p), _)| method_matches(Some(method), m) && path_matches(path_pattern, p))
            .map(|(_, count)| count)
            .sum()
    }

    /// Requests matching method and pattern that were charged against a primary rate limit: those
    /// [`Sim::request_count`] counts, less the authorized ones answered `304 Not Modified` (free on GitHub).
    pub fn charged_count(&self, method: &str, path_pattern: &str) -> usize {
        let world = self.world();
        world
            .charged
            .iter()
            .filter(|((m, p), _)| method_matches(Some(method), m) && path_matches(path_pattern, p))
            .map(|(_, count)| count)
            .sum()
    }

    /// How many requests got a secondary-rate-limit answer (403 with `retry-after`) from the automatic
    /// limiter (injected faults are not counted here).
    pub fn secondary_limit_hits(&self) -> usize {
        self.limiter().hits()
    }

    /// Sets how many calls `login` has left in the current primary rate-limit window (5,000/h). At 0 the
    /// next API call gets GitHub's 403 "API rate limit exceeded" with `x-ratelimit-remaining: 0`.
    /// Panics if `login` is not a seeded user.
    pub fn set_rate_limit_remaining(&self, login: &str, remaining: u64) {
        let mut world = self.world();
        let id = world
            .user_by_login(login)
            .map(|u| u.id)
            .unwrap_or_else(|| panic!("github-sim: unknown user {login:?}"));
        let used = crate::auth::USER_LIMIT.saturating_sub(remaining);
        let budget = world
            .budgets
            .entry(format!("user:{id}"))
            .or_insert(crate::model::Budget { window_start: now(), used });
        budget.used = used;
    }

    /// Like [`Sim::set_rate_limit_remaining`], with the window resetting `reset_in` from now.
    pub fn set_rate_limit(&self, login: &str, remaining: u64, reset_in: Duration) {
        let id = self
            .world()
            .user_by_login(login)
            .map(|u| u.id)
            .unwrap_or_else(|| panic!("github-sim: unknown user {login:?}"));
        self.set_budget(format!("user:{id}"), remaining, reset_in);
    }

    /// Sets an App installation's remaining calls (its tokens share one budget) and when it resets.
    pub fn set_installation_rate_limit(&self, installation_id: u64, remaining: u64, reset_in: Duration) {
        self.set_budget(format!("installation:{installation_id}"), remaining, reset_in);
    }

    fn set_budget(&self, key: String, remaining: u64, reset_in: Duration) {
        let window = time::Duration::hours(1);
        let reset_in = time::Duration::try_from(reset_in).unwrap_or(window).min(window);
        let used = crate::auth::USER_LIMIT.saturating_sub(remaining);
        let budget = crate::model::Budget { window_start: now() + reset_in - window, used };
        self.world().budgets.insert(key, budget);
    }

    /// Makes `login` a member of `org` with `role` (`admin`, `member`, `billing_manager`) and `state`
    /// (`active`, `pending`), as an owner would on github.com. Panics on an unknown org or user.
    pub fn set_membership(&self, org: &str, login: &str, role: &str, state: &str) {
        let mut world = self.world();
        let user_id =
            world.user_by_login(login).map(|u| u.id).unwrap_or_else(|| panic!("unknown user {login:?}"));
        let org = world
            .orgs
            .iter_mut()
            .find(|o| o.login.eq_ignore_ascii_case(org))
            .unwrap_or_else(|| panic!("github-sim: unknown org {org:?}"));
        org.members.retain(|m| m.user_id != user_id);
        org.members.push(crate::model::Membership { user_id, role: role.into(), state: state.into() });
    }

    /// Adds a (classic) branch protection rule for the branch name pattern `pattern`, as a repository admin
    /// would in Settings → Branches. Rulesets are separate (`/rulesets`) and do not make a branch "protected"
    /// for an environment's "protected branches only".
    pub fn protect_branch(&self, owner: &str, repo: &str, pattern: &str) {
        let mut world = self.world();
        let i = world
            .repo_index(owner, repo)
            .unwrap_or_else(|| panic!("github-sim: unknown repo {owner}/{repo}"));
        world.repos[i].branch_protections.push(pattern.to_string());
    }

    /// Adds a "selected branches and tags" rule to an environment (GitHub's
    /// `POST .../environments/{name}/deployment-branch-policies`); it applies while the environment's
    /// `deployment_branch_policy` has `custom_branch_policies: true`. `tag` makes it match tags.
    pub fn add_deployment_policy(
        &self,
        owner: &str,
        repo: &str,
        environment: &str,
        pattern: &str,
        tag: bool,
    ) {
        let mut world = self.world();
        let id = world.next_id();
        let i = world
            .repo_index(owner, repo)
            .unwrap_or_else(|| panic!("github-sim: unknown repo {owner}/{repo}"));
        let e = world.repos[i]
            .environment_mut(environment)
            .unwrap_or_else(|| panic!("github-sim: no environment {environment} in {owner}/{repo}"));
        let kind = if tag { crate::model::RefKind::Tag } else { crate::model::RefKind::Branch };
        e.deployment_policies.push(crate::model::DeploymentPolicy { id, name: pattern.to_string(), kind });
    }

    /// Renames a user account, as its owner may on github.com: the id, tokens and memberships stay, and
    /// the old login is free for anyone to take.
    pub fn rename_user(&self, login: &str, new_login: &str) {
        let mut world = self.world();
        assert!(world.user_by_login(new_login).is_none(), "github-sim: login {new_login:?} is taken");
        let user = world
            .users
            .iter_mut()
            .find(|u| u.login.eq_ignore_ascii_case(login))
            .unwrap_or_else(|| panic!("github-sim: unknown user {login:?}"));
        user.login = new_login.into();
    }

    /// Removes `login` from `org` (no-op when not a member).
    pub fn remove_member(&self, org: &str, login: &str) {
        let mut world = self.world();
        let Some(user_id) = world.user_by_login(login).map(|u| u.id) else { return };
        if let Some(org) = world.orgs.iter_mut().find(|o| o.login.eq_ignore_ascii_case(org)) {
            org.members.retain(|m| m.user_id != user_id);
        }
    }

    /// The run as of its newest attempt (what the runner works on, regardless of the API's re-run lag).
    pub(crate) fn run_view(&self, repo: &Repo, run: &Run) -> RunView {
        let state = run.state(run.attempts.len() - 1, now(), self.settings().run_duration);
        RunView {
            id: run.id,
            workflow_id: run.workflow_id,
            name: run.name.clone(),
            path: run.path.clone(),
            event: run.event.clone(),
            head_branch: run.head_branch.clone(),
            head_sha: run.head_sha.clone(),
            run_number: run.run_number,
            status: state.status.to_string(),
            conclusion: state.conclusion.map(str::to_string),
            run_attempt: run.attempts.len() as u32,
            html_url: format!("{}/{}/actions/runs/{}", self.base_url(), repo.full_name(), run.id),
        }
    }
}

fn repo_view(world: &World, repo: &Repo) -> RepoView {
    RepoView {
        id: repo.id,
        name: repo.name.clone(),
        full_name: repo.full_name(),
        owner: repo.owner_login.clone(),
        owner_id: repo.owner_id,
        private: repo.private,
        visibility: repo.visibility.clone(),
        default_branch: repo.default_branch.clone(),
        archived: repo.archived,
        is_template: repo.is_template,
        description: repo.description.clone(),
        template_full_name: repo.template_id.and_then(|id| world.repo_by_id(id)).map(Repo::full_name),
        branches: repo.branches.iter().map(|b| b.name.clone()).collect(),
        content_ready: repo.content_landed,
        created_at: repo.created_at,
    }
}
