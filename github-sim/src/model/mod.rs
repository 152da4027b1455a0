//! The simulator's in-memory world. Everything lives behind one mutex in [`World`]; handlers lock, act, unlock.
//!
//! Time-driven behaviour (content landing after `generate_delay`, runs completing after `run_duration`) is
//! computed lazily: [`World::settle`] runs at the start of every request and every `Sim` call, so no background
//! task is needed and a run's secret snapshot is taken before any later secret write can be seen.

use crypto_box::SecretKey;
use std::collections::BTreeMap;
use std::time::Duration;
use time::OffsetDateTime;

use crate::faults::{Fault, Latency};
use crate::seed::Seed;

mod app;
mod environment;
mod ids;
mod run;

pub(crate) use app::{App, Installation, InstallationGrant, level_covers};
pub(crate) use environment::{BranchPolicy, DeploymentPolicy, Environment, Gate, RefKind, glob};

pub(crate) use ids::{now, random_digits, random_hex, random_token, ts};
pub(crate) use run::{Attempt, Outcome, Phase, Run};

pub(crate) struct User {
    pub id: u64,
    pub login: String,
    pub name: String,
    pub created_at: OffsetDateTime,
}

pub(crate) struct Membership {
    pub user_id: u64,
    pub role: String,
    pub state: String,
}

pub(crate) struct Org {
    pub id: u64,
    pub login: String,
    pub name: String,
    pub members: Vec<Membership>,
    pub created_at: OffsetDateTime,
    /// `free`, `team` or `enterprise`.
    pub plan: String,
    /// Members' base permission on every repository: `none`, `read`, `write`, `admin`.
    pub default_repository_permission: String,
    /// Organization rulesets (`POST /orgs/{org}/rulesets`): their conditions also name repositories.
    pub rulesets: Vec<Ruleset>,
    /// Secret Protection (Advanced Security) licences: without them a private or internal repository
    /// cannot have secret scanning.
    pub secret_protection: bool,
}

/// A repository or organization ruleset; conditions and rules are kept as GitHub's JSON.
#[derive(Clone)]
pub(crate) struct Ruleset {
    pub id: u64,
    pub name: String,
    /// `branch`, `tag` or `push`.
    pub target: String,
    /// `disabled`, `active` or `evaluate`.
    pub enforcement: String,
    pub bypass_actors: Vec<serde_json::Value>,
    pub conditions: serde_json::Value,
    pub rules: Vec<serde_json::Value>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A team: its members (with team role) and the repositories it was granted, by repository id.
pub(crate) struct Team {
    pub id: u64,
    pub org_id: u64,
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    /// (user id, `member` or `maintainer`).
    pub members: Vec<(u64, String)>,
    /// Repository id → permission (`pull`, `triage`, `push`, `maintain`, `admin`).
    pub repos: BTreeMap<u64, String>,
    pub created_at: OffsetDateTime,
}

/// A token's identity and granted scopes.
#[derive(Clone)]
pub(crate) struct Grant {
    pub user_id: u64,
    pub scopes: Vec<String>,
}

/// An authorization code waiting to be exchanged.
pub(crate) struct PendingCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub grant: Grant,
    pub code_challenge: Option<String>,
    pub issued_at: OffsetDateTime,
}

#[derive(Clone)]
pub(crate) struct Workflow {
    pub id: u64,
    pub name: String,
    pub path: String,
    pub on: Vec<String>,
    pub job: JobSpec,
    pub created_at: OffsetDateTime,
}

/// What a workflow's (single) job does, generically: the secrets it reads, whether it pushes an image to ECR
/// through OIDC, the environment it names, how much longer than `run_duration` it takes.
#[derive(Clone, Debug, Default)]
pub(crate) struct JobSpec {
    pub secrets: Vec<String>,
    pub environment: Option<String>,
    pub aws_push: Option<crate::seed::SeedAwsPush>,
    pub extra_duration: Duration,
    /// The workflow's and the job's `permissions:` (see [`crate::seed::SeedWorkflow::grants_id_token`]).
    pub permissions: Option<std::collections::BTreeMap<String, String>>,
    pub job_permissions: Option<std::collections::BTreeMap<String, String>>,
    /// The job may request an OIDC token.
    pub id_token: bool,
}

impl JobSpec {
    pub fn from_seed(w: &crate::seed::SeedWorkflow) -> Self {
        JobSpec {
            secrets: w.secrets.clone(),
            environment: w.environment.clone(),
            aws_push: w.aws_push.clone(),
            extra_duration: Duration::from_millis(w.extra_duration_ms),
            permissions: w.permissions.clone(),
            job_permissions: w.job_permissions.clone(),
            id_token: w.grants_id_token(),
        }
    }
}

/// A repository's OIDC subject template (`PUT .../actions/oidc/customization/sub`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum SubjectTemplate {
    /// `use_default: true`: `repo:...:ref:...` or `repo:...:environment:...`.
    #[default]
    Default,
    /// `use_default: false` without keys: the organization's template, if it has one.
    Organization,
    /// `use_default: false` with `include_claim_keys`.
    Custom(Vec<String>),
}

pub(crate) struct Branch {
    pub name: String,
    pub sha: String,
    /// The files at the branch's head besides the workflows (path → text), e.g. `.github/CODEOWNERS`.
    pub files: BTreeMap<String, String>,
}

/// A repository webhook (`POST /repos/{owner}/{repo}/hooks`).
#[derive(Clone)]
pub(crate) struct Hook {
    pub id: u64,
    pub repo_id: u64,
    pub url: String,
    /// `json` or `form`.
    pub content_type: String,
    /// Signs each delivery (`X-Hub-Signature-256`) when set.
    pub secret: Option<String>,
    pub insecure_ssl: String,
    pub events: Vec<String>,
    pub active: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Hook {
    pub fn wants(&self, event: &str) -> bool {
        self.active && self.events.iter().any(|e| e == event || e == "*")
    }
}

pub(crate) struct Secret {
    pub value: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

pub(crate) struct Repo {
    pub id: u64,
    pub owner_id: u64,
    pub owner_login: String,
    pub name: String,
    pub description: Option<String>,
    pub private: bool,
    pub visibility: String,
    pub archived: bool,
    pub is_template: bool,
    pub template_id: Option<u64>,
    pub default_branch: String,
    /// Empty until content lands.
    pub branches: Vec<Branch>,
    pub content_at: OffsetDateTime,
    pub content_landed: bool,
    /// Workflows that appear when content lands.
    pub pending_workflows: Vec<Workflow>,
    pub workflows: Vec<Workflow>,
    pub created_at: OffsetDateTime,
    pub pushed_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub immutable_subject: bool,
    pub subject_template: SubjectTemplate,
    /// Users with admin rights besides org admins (the creator).
    pub admins: Vec<u64>,
    pub creator: u64,
    pub queue_push_runs: bool,
    pub secret_key: SecretKey,
    pub key_id: String,
    pub secrets: BTreeMap<String, Secret>,
    pub runs: Vec<Run>,
    /// Tags (name → sha), pushed through [`crate::Sim::push_tag`].
    pub tags: BTreeMap<String, String>,
    /// Deployment environments, oldest first; deleted with the repository.
    pub environments: Vec<Environment>,
    /// Direct collaborators: user id → permission (`pull`, `triage`, `push`, `maintain`, `admin`).
    pub collaborators: BTreeMap<u64, String>,
    /// Pending invitations of people outside the organization: (invitation id, user id, permission,
    /// inviter id, when). They give no access until accepted.
    pub invitations: Vec<(u64, u64, String, u64, OffsetDateTime)>,
    pub rulesets: Vec<Ruleset>,
    /// Branch protection rules (classic, not rulesets), by branch name pattern.
    pub branch_protections: Vec<String>,
    /// Files that appear on the default branch when content lands (a template's files).
    pub pending_files: BTreeMap<String, String>,
    pub security: Security,
    /// Repository topics, lowercase, as `PUT .../topics` stored them.
    pub topics: Vec<String>,
    /// Commits made after the initial content (the contents API's, and tests' pushes of files).
    pub api_commits: usize,
}

/// The security features a repository admin switches: `security_and_analysis`, vulnerability alerts
/// (Dependabot alerts) and automated security fixes (Dependabot security updates).
#[derive(Clone, Debug, Default)]
pub(crate) struct Security {
    pub secret_scanning: bool,
    pub push_protection: bool,
    pub vulnerability_alerts: bool,
    pub automated_security_fixes: bool,
}

impl Repo {
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner_login, self.name)
    }

    pub fn branch(&self, name: &str) -> Option<&Branch> {
        self.branches.iter().find(|b| b.name == name)
    }

    /// `refs/heads/B`, `refs/tags/T`, or a bare branch or tag name → (full ref, sha).
    pub fn resolve_ref(&self, git_ref: &str) -> Option<(String, String)> {
        let branch = |name: &str| self.branch(name).map(|b| (format!("refs/heads/{name}"), b.sha.clone()));
        let tag = |name: &str| self.tags.get(name).map(|sha| (format!("refs/tags/{name}"), sha.clone()));
        if let Some(name) = git_ref.strip_prefix("refs/heads/") {
            branch(name)
        } else if let Some(name) = git_ref.strip_prefix("refs/tags/") {
            tag(name)
        } else {
            branch(git_ref).or_else(|| tag(git_ref))
        }
    }

    /// The environment called `name`, compared case-insensitively as GitHub does.
    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.is_named(name))
    }

    pub fn environment_mut(&mut self, name: &str) -> Option<&mut Environment> {
        self.environments.iter_mut().find(|e| e.is_named(name))
    }

    /// The values of the secrets `job` reads that are set now (what a job queued now will see): the
    /// repository's, overridden by those of the job's environment (GitHub's precedence). A job naming an
    /// environment that does not exist creates it, with no rules or secrets, as GitHub does.
    pub fn job_secrets(&mut self, job: &JobSpec, at: OffsetDateTime) -> BTreeMap<String, String> {
        let environment = match job.environment.as_deref() {
            Some(name) if self.environment(name).is_none() => {
                tracing::info!(repo = %self.full_name(), environment = name, "environment created by a job");
                self.environments.push(Environment::new(name, at));
                self.environments.last()
            }
            Some(name) => self.environment(name),
            None => None,
        };
        let read = |secrets: &BTreeMap<String, Secret>, n: &String| {
            secrets.get(n).map(|s| (n.clone(), String::from_utf8_lossy(&s.value).into_owned()))
        };
        job.secrets
            .iter()
            .filter_map(|n| environment.and_then(|e| read(&e.secrets, n)).or_else(|| read(&self.secrets, n)))
            .collect()
    }

    /// Queues a run of `workflow` on `git_ref` (`refs/heads/..` or `refs/tags/..`) at `sha`.
    #[allow(clippy::too_many_arguments)] // each is a distinct fact of the run; a struct would only rename them
    pub fn queue_run(
        &mut self,
        ids: (u64, u64),
        workflow: &Workflow,
        event: &str,
        git_ref: &str,
        sha: &str,
        actor: u64,
        at: OffsetDateTime,
    ) {
        let (run_id, job_id) = ids;
        let run_number = self.runs.iter().filter(|r| r.workflow_id == workflow.id).count() as u64 + 1;
        let head_branch = git_ref.strip_prefix("refs/heads/").or_else(|| git_ref.strip_prefix("refs/tags/"));
        let secrets = self.job_secrets(&workflow.job, at);
        self.runs.push(Run {
            id: run_id,
            run_number,
            workflow_id: workflow.id,
            name: workflow.name.clone(),
            path: workflow.path.clone(),
            event: event.to_string(),
            head_branch: head_branch.unwrap_or(git_ref).to_string(),
            git_ref: git_ref.to_string(),
            head_sha: sha.to_string(),
            actor,
            job: workflow.job.clone(),
            attempts: vec![Attempt::new(at, actor, job_id, secrets)],
        });
    }
}

/// A user's primary rate-limit window.
pub(crate) struct Budget {
    pub window_start: OffsetDateTime,
    pub used: u64,
}

pub(crate) struct World {
    pub users: Vec<User>,
    pub orgs: Vec<Org>,
    pub teams: Vec<Team>,
    pub tokens: BTreeMap<String, Grant>,
    pub codes: BTreeMap<String, PendingCode>,
    pub repos: Vec<Repo>,
    pub next_id: u64,
    pub faults: Vec<Fault>,
    pub latency: Vec<Latency>,
    /// Requests that reached a handler, counted per (method, path) so a long-running sim stays small.
    pub requests: BTreeMap<(String, String), usize>,
    /// Requests charged against a primary rate limit (all that reached auth, less 304s given back).
    pub charged: BTreeMap<(String, String), usize>,
    pub budgets: BTreeMap<String, Budget>,
    pub apps: Vec<App>,
    pub installations: Vec<Installation>,
    /// Installation access tokens by value.
    pub installation_tokens: BTreeMap<String, InstallationGrant>,
    /// Organization OIDC subject templates (`include_claim_keys`) by org id.
    pub org_subject_templates: BTreeMap<u64, Vec<String>>,
    pub hooks: Vec<Hook>,
    /// How far each run attempt's `workflow_run` events have been delivered, by (run id, attempt index):
    /// 1 requested, 2 in_progress, 3 completed. Kept for every attempt, hooks or not, so a hook created
    /// later hears only what happens after it.
    pub run_events: BTreeMap<(u64, usize), u8>,
}

impl World {
    pub fn from_seed(seed: &Seed) -> Self {
        let now = now();
        let mut users: Vec<User> = seed
            .users
            .iter()
            .map(|u| User { id: u.id, login: u.login.clone(), name: u.name.clone(), created_at: now })
            .collect();
        // Installation tokens act as the App's bot account, `{slug}[bot]`.
        users.extend(seed.apps.iter().map(|a| User {
            id: a.bot_user_id,
            login: format!("{}[bot]", a.slug),
            name: a.name.clone(),
            created_at: now,
        }));
        let tokens = seed
            .users
            .iter()
            .flat_map(|u| {
                u.tokens.iter().map(|t| (t.token.clone(), Grant { user_id: u.id, scopes: t.scopes.clone() }))
            })
            .collect();
        let user_id = |login: &str| users.iter().find(|u| u.login == login).map(|u| u.id);
        let orgs = seed
            .orgs
            .iter()
            .map(|o| Org {
                id: o.id,
                login: o.login.clone(),
                name: o.name.clone(),
                created_at: now,
                members: o
                    .members
                    .iter()
                    .filter_map(|m| {
                        Some(Membership {
                            user_id: user_id(&m.login)?,
                            role: m.role.clone(),
                            state: m.state.clone(),
                        })
                    })
                    .collect(),
                plan: o.plan.clone(),
                default_repository_permission: o.default_repository_permission.clone(),
                rulesets: Vec::new(),
                secret_protection: o.secret_protection,
            })
            .collect();
        let teams = seed
            .orgs
            .iter()
            .flat_map(|o| o.teams.iter().map(move |t| (o.id, t)))
            .map(|(org_id, t)| Team {
                id: t.id,
                org_id,
                slug: t.slug.clone(),
                name: t.name.clone(),
                description: t.description.clone(),
                members: t
                    .members
                    .iter()
                    .filter_map(|m| Some((user_id(&m.login)?, m.role.clone())))
                    .collect(),
                repos: BTreeMap::new(),
                created_at: now,
            })
            .collect();
        let mut world = World {
            teams,
            users,
            orgs,
            tokens,
            codes: BTreeMap::new(),
            repos: Vec::new(),
            next_id: 700_000_001,
            faults: Vec::new(),
            latency: Vec::new(),
            requests: BTreeMap::new(),
            charged: BTreeMap::new(),
            budgets: BTreeMap::new(),
            apps: Vec::new(),
            installations: Vec::new(),
            installation_tokens: BTreeMap::new(),
            org_subject_templates: BTreeMap::new(),
            hooks: Vec::new(),
            run_events: BTreeMap::new(),
        };
        world.seed_apps(seed, now);
        for r in &seed.repos {
            let Some((owner_id, owner_login)) = world.owner(&r.owner) else { continue };
            let workflows = r
                .workflows
                .iter()
                .map(|w| Workflow {
                    id: w.id,
                    name: w.name.clone(),
                    path: w.path.clone(),
                    on: w.on.clone(),
                    job: JobSpec::from_seed(w),
                    created_at: now,
                })
                .collect();
            let mut repo = new_repo(r.id, owner_id, owner_login, r.name.clone(), r.private, now);
            repo.description = r.description.clone();
            repo.is_template = r.is_template;
            repo.default_branch = r.default_branch.clone();
            repo.pending_workflows = workflows;
            repo.pending_files = r.files.clone();
            repo.immutable_subject = false;
            repo.queue_push_runs = false;
            world.repos.push(repo);
        }
        world.settle();
        world
    }

    /// Apps whose key does not parse are skipped with an error log (a seed mistake, not a request's).
    fn seed_apps(&mut self, seed: &Seed, now: OffsetDateTime) {
        for a in &seed.apps {
            let public_key = match jsonwebtoken::DecodingKey::from_rsa_pem(a.public_key_pem.as_bytes()) {
                Ok(key) => key,
                Err(error) => {
                    tracing::error!(app = %a.slug, %error, "seeded App has an unreadable public key; skipped");
                    continue;
                }
            };
            self.apps.push(App {
                id: a.id,
                slug: a.slug.clone(),
                name: a.name.clone(),
                public_key,
                bot_user_id: a.bot_user_id,
                created_at: now,
            });
            for i in &a.installations {
                let Some(org) = self.org(&i.account) else { continue };
                let installation = Installation {
                    id: i.id,
                    app_id: a.id,
                    account_id: org.id,
                    permissions: i.permissions.clone(),
                    created_at: now,
                };
                self.installations.push(installation);
            }
        }
    }

    pub fn app(&self, id: u64) -> Option<&App> {
        self.apps.iter().find(|a| a.id == id)
    }

    pub fn installation(&self, id: u64) -> Option<&Installation> {
        self.installations.iter().find(|i| i.id == id)
    }

    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn user(&self, id: u64) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    pub fn user_by_login(&self, login: &str) -> Option<&User> {
        self.users.iter().find(|u| u.login.eq_ignore_ascii_case(login))
    }

    pub fn org(&self, login: &str) -> Option<&Org> {
        self.orgs.iter().find(|o| o.login.eq_ignore_ascii_case(login))
    }

    /// An account (org or user) that can own repositories: (id, canonical login).
    pub fn owner(&self, login: &str) -> Option<(u64, String)> {
        self.org(login)
            .map(|o| (o.id, o.login.clone()))
            .or_else(|| self.user_by_login(login).map(|u| (u.id, u.login.clone())))
    }

    pub fn membership(&self, org_id: u64, user_id: u64) -> Option<&Membership> {
        self.orgs.iter().find(|o| o.id == org_id)?.members.iter().find(|m| m.user_id == user_id)
    }

    pub fn repo_index(&self, owner: &str, name: &str) -> Option<usize> {
        self.repos
            .iter()
            .position(|r| r.owner_login.eq_ignore_ascii_case(owner) && r.name.eq_ignore_ascii_case(name))
    }

    pub fn repo_by_id(&self, id: u64) -> Option<&Repo> {
        self.repos.iter().find(|r| r.id == id)
    }

    /// Lands content whose time has come, queuing the template's `push` runs with a secret snapshot.
    pub fn settle(&mut self) {
        let now = now();
        let mut run_ids: Vec<(u64, u64)> = Vec::new();
        for i in 0..self.repos.len() {
            let due = !self.repos[i].content_landed && self.repos[i].content_at <= now;
            if !due {
                continue;
            }
            let repo = &self.repos[i];
            let pushes = if repo.queue_push_runs {
                repo.pending_workflows.iter().filter(|w| w.on.iter().any(|e| e == "push")).count()
            } else {
                0
            };
            run_ids.clear();
            for _ in 0..pushes {
                let ids = (self.next_id(), self.next_id());
                run_ids.push(ids);
            }
            land_content(&mut self.repos[i], &run_ids);
        }
    }

    /// Records an API request that got past the fault layer.
    pub fn record_request(&mut self, method: &str, path: &str) {
        *self.requests.entry((method.to_string(), path.to_string())).or_default() += 1;
    }

    /// Records an API request that cost primary rate limit.
    pub fn record_charged(&mut self, method: &str, path: &str) {
        *self.charged.entry((method.to_string(), path.to_string())).or_default() += 1;
    }
}

/// A fresh, empty repository (no branches until content lands).
pub(crate) fn new_repo(
    id: u64,
    owner_id: u64,
    owner_login: String,
    name: String,
    private: bool,
    now: OffsetDateTime,
) -> Repo {
    let secret_key = SecretKey::generate(&mut crypto_box::aead::OsRng);
    Repo {
        id,
        owner_id,
        owner_login,
        name,
        description: None,
        private,
        visibility: if private { "private" } else { "public" }.to_string(),
        archived: false,
        is_template: false,
        template_id: None,
        default_branch: "main".into(),
        branches: Vec::new(),
        content_at: now,
        content_landed: false,
        pending_workflows: Vec::new(),
        workflows: Vec::new(),
        created_at: now,
        pushed_at: now,
        updated_at: now,
        immutable_subject: true,
        subject_template: SubjectTemplate::Default,
        admins: Vec::new(),
        creator: owner_id,
        queue_push_runs: true,
        key_id: random_digits(18),
        secret_key,
        secrets: BTreeMap::new(),
        runs: Vec::new(),
        tags: BTreeMap::new(),
        environments: Vec::new(),
        collaborators: BTreeMap::new(),
        invitations: Vec::new(),
        rulesets: Vec::new(),
        branch_protections: Vec::new(),
        pending_files: BTreeMap::new(),
        security: Security::default(),
        topics: Vec::new(),
        api_commits: 0,
    }
}

fn land_content(repo: &mut Repo, run_ids: &[(u64, u64)]) {
    let at = repo.content_at;
    let sha = random_hex(40);
    let files = std::mem::take(&mut repo.pending_files);
    repo.branches = vec![Branch { name: repo.default_branch.clone(), sha: sha.clone(), files }];
    repo.content_landed = true;
    repo.pushed_at = at;
    let mut workflows = std::mem::take(&mut repo.pending_workflows);
    for w in &mut workflows {
        w.created_at = at;
    }
    repo.workflows = workflows;
    if !repo.queue_push_runs {
        return;
    }
    let pushes: Vec<Workflow> =
        repo.workflows.iter().filter(|w| w.on.iter().any(|e| e == "push")).cloned().collect();
    let git_ref = format!("refs/heads/{}", repo.default_branch);
    for (workflow, ids) in pushes.iter().zip(run_ids) {
        let actor = repo.creator;
        repo.queue_run(*ids, workflow, "push", &git_ref, &sha, actor, at);
    }
}
