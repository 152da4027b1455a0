//! What Shipyard reads from GitHub's answers: only the fields it uses, so an added or missing optional
//! field on GitHub's side (or GitHub Enterprise Server's) never breaks parsing.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::OrgRole;

/// A repository (`full-repository` / `repository` schema).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    /// Immutable; the key Shipyard records to recognise "its" repository after a rename.
    pub id: u64,
    pub name: String,
    pub full_name: String,
    pub owner: String,
    pub owner_id: u64,
    pub html_url: String,
    pub ssh_url: String,
    pub clone_url: String,
    pub default_branch: String,
    pub private: bool,
    /// `public`, `private` or `internal`.
    pub visibility: String,
    pub archived: bool,
    pub is_template: bool,
    /// `owner/name` of the template it was generated from, when it was.
    pub template_full_name: Option<String>,
    pub created_at: Option<OffsetDateTime>,
    pub topics: Vec<String>,
    /// Secret scanning and push protection; GitHub shows them only to admins of the repository.
    pub security: Option<SecretScanning>,
}

/// What `security_and_analysis` says about secret scanning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretScanning {
    pub secret_scanning: bool,
    pub push_protection: bool,
    /// `dependabot_security_updates`: GitHub turns them off with Dependabot alerts, so on means both are on.
    #[serde(default)]
    pub dependabot_security_updates: bool,
}

/// The signed-in user behind a token (`GET /user`). Key on `id`: logins can be renamed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GitHubUser {
    pub id: i64,
    pub login: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub avatar_url: String,
}

/// Someone's membership of an organization, as GitHub words it (`org-membership`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Membership {
    /// `active` or `pending` (invited, not yet accepted).
    pub state: String,
    /// `admin`, `member`, `billing_manager`, or whatever GitHub adds.
    pub role: String,
    /// The account the membership belongs to (`null` in GitHub's schema only for odd cases). A login
    /// can be renamed and taken by someone else, so a re-check compares this id, never the login.
    #[serde(default)]
    pub user: Option<MemberAccount>,
}

/// The account named in a membership: only its numeric id matters to Shipyard.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MemberAccount {
    pub id: i64,
}

impl Membership {
    /// Whether this membership is the one of the GitHub account with id `github_id` (false when GitHub
    /// names no account: an unknown holder is not the session's user).
    pub fn belongs_to(&self, github_id: i64) -> bool {
        self.user.as_ref().is_some_and(|u| u.id == github_id)
    }

    /// The role Shipyard admits this membership with, if any (see [`OrgRole::admitted`]).
    pub fn admitted_role(&self) -> Option<OrgRole> {
        OrgRole::admitted(&self.state, &self.role)
    }
}

/// A GitHub Actions workflow run (serialized when a step records what it saw).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowRun {
    pub id: u64,
    pub workflow_id: u64,
    #[serde(default)]
    pub name: Option<String>,
    pub event: String,
    #[serde(default)]
    pub head_branch: Option<String>,
    #[serde(default)]
    pub head_sha: String,
    /// `requested|queued|in_progress|waiting|pending|completed`.
    pub status: String,
    /// `success|failure|cancelled|...`, absent until completed.
    #[serde(default)]
    pub conclusion: Option<String>,
    #[serde(default = "first_attempt")]
    pub run_attempt: u32,
    pub html_url: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub created_at: Option<OffsetDateTime>,
}

fn first_attempt() -> u32 {
    1
}

impl WorkflowRun {
    pub fn is_completed(&self) -> bool {
        self.status == "completed"
    }

    /// Completed with a conclusion a re-run can fix.
    pub fn has_failed(&self) -> bool {
        self.is_completed()
            && matches!(self.conclusion.as_deref(), Some("failure" | "timed_out" | "cancelled"))
    }
}

/// A workflow file of a repository.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Workflow {
    pub id: u64,
    pub name: String,
    /// `.github/workflows/build.yml`.
    pub path: String,
    #[serde(default)]
    pub state: String,
}

impl Workflow {
    /// The file name (`build.yml`), which GitHub accepts wherever a workflow id is expected.
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// What a workflow dispatch told us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DispatchOutcome {
    /// GitHub created the run and said which (200 with `return_run_details`).
    Started { run_id: u64, html_url: String },
    /// GitHub accepted the dispatch without naming the run (204; older servers).
    Accepted,
}

/// Raw `repository` JSON; flattened into [`Repo`].
#[derive(Deserialize)]
pub(crate) struct RepoJson {
    id: u64,
    name: String,
    full_name: String,
    owner: OwnerJson,
    #[serde(default)]
    html_url: String,
    #[serde(default)]
    ssh_url: String,
    #[serde(default)]
    clone_url: String,
    #[serde(default)]
    default_branch: Option<String>,
    #[serde(default)]
    private: bool,
    #[serde(default)]
    visibility: Option<String>,
    #[serde(default)]
    archived: bool,
    #[serde(default)]
    is_template: bool,
    #[serde(default)]
    template_repository: Option<Box<TemplateJson>>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    created_at: Option<OffsetDateTime>,
    #[serde(default)]
    topics: Vec<String>,
    #[serde(default)]
    security_and_analysis: Option<SecurityJson>,
}

#[derive(Deserialize)]
struct SecurityJson {
    #[serde(default)]
    secret_scanning: Option<StatusJson>,
    #[serde(default)]
    secret_scanning_push_protection: Option<StatusJson>,
    #[serde(default)]
    dependabot_security_updates: Option<StatusJson>,
}

#[derive(Deserialize)]
struct StatusJson {
    status: String,
}

fn enabled(status: Option<StatusJson>) -> bool {
    status.is_some_and(|s| s.status == "enabled")
}

#[derive(Deserialize)]
struct OwnerJson {
    login: String,
    id: u64,
}

#[derive(Deserialize)]
struct TemplateJson {
    full_name: String,
}

impl From<RepoJson> for Repo {
    fn from(r: RepoJson) -> Self {
        // GitHub Enterprise Server before 3.x has no `visibility`; `private` says enough there.
        let visibility =
            r.visibility.unwrap_or_else(|| if r.private { "private" } else { "public" }.to_owned());
        Repo {
            id: r.id,
            name: r.name,
            full_name: r.full_name,
            owner: r.owner.login,
            owner_id: r.owner.id,
            html_url: r.html_url,
            ssh_url: r.ssh_url,
            clone_url: r.clone_url,
            default_branch: r.default_branch.unwrap_or_else(|| "main".to_owned()),
            private: r.private,
            visibility,
            archived: r.archived,
            is_template: r.is_template,
            template_full_name: r.template_repository.map(|t| t.full_name),
            created_at: r.created_at,
            topics: r.topics,
            security: r.security_and_analysis.map(|s| SecretScanning {
                secret_scanning: enabled(s.secret_scanning),
                push_protection: enabled(s.secret_scanning_push_protection),
                dependabot_security_updates: enabled(s.dependabot_security_updates),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_repository_names_its_template() {
        let json = r#"{"id":7,"name":"svc","full_name":"acme/svc","owner":{"login":"acme","id":1000},
            "private":true,"default_branch":"main","template_repository":{"id":1,"full_name":"acme/service-template"},
            "created_at":"2026-07-01T10:00:00Z"}"#;
        let repo: Repo = serde_json::from_str::<RepoJson>(json).unwrap().into();
        assert_eq!(repo.template_full_name.as_deref(), Some("acme/service-template"));
        assert_eq!(repo.visibility, "private");
        assert_eq!((repo.owner.as_str(), repo.owner_id), ("acme", 1000));
        assert!(repo.created_at.is_some());
    }

    #[test]
    fn a_pending_invitation_is_not_admitted() {
        let m: Membership = serde_json::from_str(r#"{"state":"pending","role":"admin","url":"x"}"#).unwrap();
        assert_eq!(m.admitted_role(), None);
    }

    #[test]
    fn a_workflow_is_addressable_by_its_file_name() {
        let w = Workflow {
            id: 1,
            name: "build".into(),
            path: ".github/workflows/build.yml".into(),
            state: "active".into(),
        };
        assert_eq!(w.file_name(), "build.yml");
    }
}
