//! The world the simulator starts with: OAuth apps, users and their tokens, organizations, repositories.
//!
//! A `Seed` is plain JSON so the sandbox binary can load one from a file (`seed.sandbox.json` is
//! [`Seed::sandbox`] serialized) and tests can tweak the default in code.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// Everything the simulator knows at start-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seed {
    pub oauth_apps: Vec<SeedOAuthApp>,
    pub users: Vec<SeedUser>,
    pub orgs: Vec<SeedOrg>,
    pub repos: Vec<SeedRepo>,
    /// GitHub Apps and where they are installed.
    #[serde(default)]
    pub apps: Vec<SeedApp>,
}

/// The sandbox App's private key (PKCS#1 PEM, as GitHub hands it out). A sandbox-only key: it signs
/// JWTs for github-sim and nothing else; committed so `make dev` and tests need no key generation.
pub const SANDBOX_APP_PRIVATE_KEY: &str = include_str!("../sandbox-app.private-key.pem");
const SANDBOX_APP_PUBLIC_KEY: &str = include_str!("../sandbox-app.public-key.pem");

/// A GitHub App: the public half of its key verifies the JWTs it signs (RS256).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedApp {
    pub id: u64,
    pub slug: String,
    pub name: String,
    /// SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub public_key_pem: String,
    /// The `{slug}[bot]` account installation tokens act as.
    pub bot_user_id: u64,
    pub installations: Vec<SeedInstallation>,
}

/// An installation of an App on an organization, with all of its repositories selected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedInstallation {
    pub id: u64,
    /// The organization login it is installed on.
    pub account: String,
    /// GitHub's permission names and levels: `administration: write`, `metadata: read`, ...
    pub permissions: BTreeMap<String, String>,
}

/// A registered OAuth app. `client_secret` is compared at the token endpoint, never logged.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedOAuthApp {
    pub client_id: String,
    pub client_secret: String,
    /// Registered callback URLs; GitHub's `redirect_uri` rules are applied against each.
    pub callback_urls: Vec<String>,
}

impl std::fmt::Debug for SeedOAuthApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeedOAuthApp")
            .field("client_id", &self.client_id)
            .field("callback_urls", &self.callback_urls)
            .finish_non_exhaustive()
    }
}

/// A user account with its personal access tokens (classic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedUser {
    pub login: String,
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub tokens: Vec<SeedToken>,
}

/// A personal access token (classic) and its scopes.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedToken {
    pub token: String,
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for SeedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeedToken").field("scopes", &self.scopes).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedOrg {
    pub login: String,
    pub id: u64,
    pub name: String,
    pub members: Vec<SeedMember>,
    /// GitHub plan: `free`, `team` or `enterprise` (what `GET /orgs/{org}` shows owners as `plan.name`).
    /// Rulesets on private repositories need `team` or better.
    #[serde(default = "SeedOrg::free")]
    pub plan: String,
    /// Base permission every member has on every repository: `none`, `read`, `write` or `admin`
    /// (GitHub's default for a new organization is `read`).
    #[serde(default = "SeedOrg::read")]
    pub default_repository_permission: String,
    /// Whether the organization has GitHub Secret Protection (Advanced Security) licences: without them,
    /// secret scanning cannot be enabled on private or internal repositories (GitHub's 422).
    #[serde(default)]
    pub secret_protection: bool,
    #[serde(default)]
    pub teams: Vec<SeedTeam>,
}

impl SeedOrg {
    fn free() -> String {
        "free".into()
    }

    fn read() -> String {
        "read".into()
    }
}

/// A team of an organization (visible to every member, GitHub's `closed` privacy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedTeam {
    pub slug: String,
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Members and their team role (`member` or `maintainer`).
    pub members: Vec<SeedTeamMember>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedTeamMember {
    pub login: String,
    /// `member` or `maintainer`.
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedMember {
    pub login: String,
    /// `admin`, `member` or `billing_manager`.
    pub role: String,
    /// `active` or `pending` (invited, not yet accepted: no access to org repositories).
    pub state: String,
}

/// A repository that exists before the simulation starts. Its content is present from the start and it
/// uses the legacy OIDC subject (`repo:OWNER/REPO`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedRepo {
    pub owner: String,
    pub name: String,
    pub id: u64,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub private: bool,
    #[serde(default)]
    pub is_template: bool,
    pub default_branch: String,
    #[serde(default)]
    pub workflows: Vec<SeedWorkflow>,
    /// Other files on the default branch (path → text), e.g. a template's own `.github/CODEOWNERS`;
    /// a repository generated from it gets them too.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, String>,
}

/// A workflow file in a seeded repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedWorkflow {
    pub id: u64,
    pub name: String,
    /// e.g. `.github/workflows/build.yml`
    pub path: String,
    /// Trigger events (`on:`), e.g. `push`, `workflow_dispatch`.
    pub on: Vec<String>,
    /// Repository secrets the workflow reads; a run fails when one was missing when it was queued.
    pub secrets: Vec<String>,
    /// The job pushes an image to ECR as configure-aws-credentials + docker/build-push-action would.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_push: Option<SeedAwsPush>,
    /// The job names this environment (its OIDC subject becomes `...:environment:NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// A run of this workflow takes this much longer than the sim's `run_duration`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub extra_duration_ms: u64,
    /// The workflow's top-level `permissions:` for the `GITHUB_TOKEN` (scope → `read`/`write`/`none`);
    /// `None`: no `permissions` key. Only `id-token: write` lets a job request an OIDC token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<BTreeMap<String, String>>,
    /// The job's own `permissions:`, which replace the workflow's for that job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_permissions: Option<BTreeMap<String, String>>,
}

/// Which secrets hold the inputs of the push: `role-to-assume`, `aws-region` and the ECR repository URL
/// (`ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedAwsPush {
    pub role_secret: String,
    pub region_secret: String,
    pub repository_secret: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl SeedWorkflow {
    /// A workflow that reads `secrets` and does nothing with AWS.
    pub fn new(id: u64, name: &str, file: &str, on: &[&str], secrets: &[&str]) -> Self {
        SeedWorkflow {
            id,
            name: name.into(),
            path: format!(".github/workflows/{file}"),
            on: on.iter().map(|s| s.to_string()).collect(),
            secrets: secrets.iter().map(|s| s.to_string()).collect(),
            aws_push: None,
            environment: None,
            extra_duration_ms: 0,
            permissions: None,
            job_permissions: None,
        }
    }

    /// `permissions:` as the templates write it for OIDC: `id-token: write`, `contents: read`.
    pub fn oidc_permissions() -> BTreeMap<String, String> {
        [("id-token", "write"), ("contents", "read")].map(|(k, v)| (k.to_string(), v.to_string())).into()
    }

    /// Whether a job of this workflow may request an OIDC token (GitHub sets `ACTIONS_ID_TOKEN_REQUEST_URL`
    /// only then): the job's permissions if it has any, else the workflow's; a scope they do not list is
    /// `none`, and without any `permissions` key the default token has no `id-token` scope.
    /// <https://docs.github.com/en/actions/writing-workflows/choosing-what-your-workflow-does/controlling-permissions-for-github_token>
    pub fn grants_id_token(&self) -> bool {
        self.job_permissions
            .as_ref()
            .or(self.permissions.as_ref())
            .is_some_and(|p| p.get("id-token").map(String::as_str) == Some("write"))
    }

    /// The sandbox templates' build: reads the role, region and repository secrets and pushes an image.
    pub fn aws_build(id: u64, name: &str, file: &str, on: &[&str]) -> Self {
        let push = SeedAwsPush {
            role_secret: "GHA_DEFAULT_ROLE_ARN".into(),
            region_secret: "AWS_REGION".into(),
            repository_secret: "ECR_REPO_URL".into(),
        };
        SeedWorkflow {
            aws_push: Some(push),
            permissions: Some(Self::oidc_permissions()),
            ..Self::new(id, name, file, on, &["AWS_REGION", "GHA_DEFAULT_ROLE_ARN", "ECR_REPO_URL"])
        }
    }
}

impl Seed {
    /// Reads a seed from a JSON file.
    pub fn from_file(path: impl AsRef<Path>) -> anyhow::Result<Self> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading seed {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing seed {}", path.display()))
    }

    /// The sandbox world: org `acme` (Team plan, base permission `read`, Secret Protection, teams `payments`
    /// with bob and `platform` with alice as maintainer), users alice/bob/carol/mallory, the provisioning bot, four templates
    /// (one with a build and a lint workflow, one whose build lacks `id-token: write`), and the `shipyard-sandbox` App installed on `acme` with the
    /// permissions Shipyard documents.
    pub fn sandbox() -> Self {
        let user = |login: &str, id: u64, name: &str, token: &str, scopes: &[&str]| SeedUser {
            login: login.into(),
            id,
            name: name.into(),
            tokens: vec![SeedToken {
                token: token.into(),
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
            }],
        };
        let member = |login: &str, role: &str, state: &str| SeedMember {
            login: login.into(),
            role: role.into(),
            state: state.into(),
        };
        let team = |slug: &str, id: u64, name: &str, members: &[(&str, &str)]| SeedTeam {
            slug: slug.into(),
            id,
            name: name.into(),
            description: None,
            members: members
                .iter()
                .map(|(login, role)| SeedTeamMember { login: (*login).into(), role: (*role).into() })
                .collect(),
        };
        let person_scopes = ["repo", "read:org", "delete_repo"];
        let template = |name: &str, id: u64, workflows: Vec<SeedWorkflow>| SeedRepo {
            owner: "acme".into(),
            name: name.into(),
            id,
            description: Some(format!("Template: {name}")),
            private: true,
            is_template: true,
            default_branch: "main".into(),
            workflows,
            files: BTreeMap::new(),
        };
        // A lint that needs nothing and ends after the build: the newest run of the first push is green while
        // the build, which needs the secrets, is red.
        // The same build with `permissions: contents: read` only: no OIDC token, so configure-aws-credentials fails.
        let build_without_oidc = SeedWorkflow {
            permissions: Some([("contents".to_string(), "read".to_string())].into()),
            ..SeedWorkflow::aws_build(5, "build", "build.yml", &["push", "workflow_dispatch"])
        };
        let lint = SeedWorkflow {
            extra_duration_ms: 500,
            ..SeedWorkflow::new(4, "lint", "lint.yml", &["push", "pull_request"], &[])
        };
        Seed {
            oauth_apps: vec![SeedOAuthApp {
                client_id: "shipyard-sandbox".into(),
                client_secret: "sandbox-client-secret".into(),
                callback_urls: vec![
                    "http://localhost:8080/auth/callback".into(),
                    "http://127.0.0.1/auth/callback".into(),
                ],
            }],
            users: vec![
                user("alice", 2001, "Alice Admin", "ghp_sandbox_alice", &person_scopes),
                user("bob", 2002, "Bob Builder", "ghp_sandbox_bob", &person_scopes),
                user("carol", 2003, "Carol Pending", "ghp_sandbox_carol", &person_scopes),
                user("mallory", 2004, "Mallory Outsider", "ghp_sandbox_mallory", &person_scopes),
                user(
                    "shipyard-bot",
                    2100,
                    "Shipyard Bot",
                    "ghp_sandbox_shipyard_bot",
                    &["repo", "delete_repo", "read:org", "workflow"],
                ),
            ],
            orgs: vec![SeedOrg {
                login: "acme".into(),
                id: 1000,
                name: "Acme Corp".into(),
                members: vec![
                    member("alice", "admin", "active"),
                    member("bob", "member", "active"),
                    member("carol", "member", "pending"),
                    member("shipyard-bot", "member", "active"),
                ],
                plan: "team".into(),
                default_repository_permission: "read".into(),
                secret_protection: true,
                teams: vec![
                    team("payments", 3001, "Payments", &[("bob", "member")]),
                    team("platform", 3002, "Platform", &[("alice", "maintainer")]),
                ],
            }],
            repos: vec![
                template(
                    "service-template",
                    500_001,
                    vec![SeedWorkflow::aws_build(1, "build", "build.yml", &["push", "workflow_dispatch"])],
                ),
                template(
                    "worker-template",
                    500_002,
                    vec![SeedWorkflow::aws_build(2, "ci", "ci.yml", &["push"])],
                ),
                template(
                    "multi-workflow-template",
                    500_003,
                    vec![
                        SeedWorkflow::aws_build(3, "build", "build.yml", &["push", "workflow_dispatch"]),
                        lint,
                    ],
                ),
                template("service-template-no-oidc", 500_004, vec![build_without_oidc]),
            ],
            apps: vec![SeedApp {
                id: 424_242,
                slug: "shipyard-sandbox".into(),
                name: "Shipyard (sandbox)".into(),
                public_key_pem: SANDBOX_APP_PUBLIC_KEY.into(),
                bot_user_id: 4_242_001,
                installations: vec![SeedInstallation {
                    id: 31_000_001,
                    account: "acme".into(),
                    permissions: Self::shipyard_app_permissions(),
                }],
            }],
        }
    }

    /// The installation permissions Shipyard's README asks for.
    pub fn shipyard_app_permissions() -> BTreeMap<String, String> {
        [
            ("actions", "write"),
            ("administration", "write"),
            ("contents", "write"),
            ("environments", "write"),
            ("members", "read"),
            ("metadata", "read"),
            ("repository_hooks", "write"),
            ("secrets", "write"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

impl Default for Seed {
    fn default() -> Self {
        Self::sandbox()
    }
}
