//! The GitHub repository: generated from the template, then always addressed by its recorded id.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Cx, Ensured, Phase, Step, taken};
use crate::{
    domain::{StepName, Visibility},
    github::Repo,
    provider::{ErrorKind, ProviderError, System},
};

/// Ours when our repository was generated from our template within this window before the
/// service row was written (clock skew between GitHub and us).
const OWNERSHIP_SKEW: time::Duration = time::Duration::seconds(60);

/// How long a generate call can take to create the repository on GitHub's side (its request
/// timeout, with margin): the end of the window in which an unrecorded repository can be ours.
pub(super) const GENERATE_WINDOW: time::Duration = time::Duration::seconds(120);

pub struct GithubRepository;

/// The repository as created. `id` is what every later step addresses it by.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RepoOutput {
    pub id: u64,
    pub full_name: String,
    pub html_url: String,
    pub ssh_url: String,
    pub clone_url: String,
    pub default_branch: String,
    pub owner_id: u64,
}

impl Step for GithubRepository {
    const NAME: StepName = StepName::GithubRepository;
    const LABEL: &'static str = "GitHub repository from the template";
    const PHASE: Phase = Phase::Create;
    const DEPENDS_ON: &'static [StepName] = &[StepName::Preflight];
    type Output = RepoOutput;

    /// Generates the repository from the template (or adopts ours), waits for its content, applies
    /// the visibility and the default branch the form asked for.
    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<RepoOutput>, ProviderError> {
        let github = &cx.providers.github;
        let (org, name) = (cx.org(), cx.name.as_str());
        let visibility = cx.service.visibility;
        // A window that is still open: this run may be the one that creates it.
        let window_end = OffsetDateTime::now_utc() + GENERATE_WINDOW;
        let repo = match github.find_repo(org, name).await? {
            Some(repo) if is_ours_within(&repo, cx, window_end) => repo,
            Some(repo) => {
                return Err(taken(
                    System::GitHub,
                    format!("the repository {} already exists", repo.full_name),
                ));
            }
            None => {
                let description = Some(cx.service.description.as_str()).filter(|d| !d.is_empty());
                let private = visibility != Visibility::Public;
                match github
                    .generate_repo(&cx.template.owner, &cx.template.name, org, name, description, private)
                    .await
                {
                    Ok(repo) => repo,
                    // A timed-out generate may have succeeded: look once more and adopt it if it is ours.
                    Err(e) if e.kind == ErrorKind::Conflict => match github.find_repo(org, name).await? {
                        Some(repo) if is_ours_within(&repo, cx, window_end) => repo,
                        _ => return Err(e),
                    },
                    Err(e) => return Err(e),
                }
            }
        };
        // From here on the repository is addressed by id: whatever holds the name now is not ours.
        let (owner, repo_name) = (repo.owner.clone(), repo.name.clone());
        if visibility == Visibility::Internal && repo.visibility != "internal" {
            github.set_visibility(&owner, &repo_name, "internal").await?;
        }
        let wanted = cx.branch.as_str();
        github
            .wait_for_branch(&owner, &repo_name, &repo.default_branch, cx.settings.generate_timeout)
            .await?;
        // Read again after the content landed: the 201 may report the organization's default
        // branch setting before the template's content (and its branch) arrived.
        let landed = find_by_id(cx, repo.id).await?;
        if landed.default_branch != wanted {
            github.rename_branch(&owner, &repo_name, &landed.default_branch, wanted).await?;
            github.wait_for_branch(&owner, &repo_name, wanted, cx.settings.generate_timeout).await?;
        }
        let repo = if landed.default_branch == wanted { landed } else { find_by_id(cx, repo.id).await? };
        Ok(Ensured::Done(RepoOutput {
            id: repo.id,
            full_name: repo.full_name,
            html_url: repo.html_url,
            ssh_url: repo.ssh_url,
            clone_url: repo.clone_url,
            default_branch: repo.default_branch,
            owner_id: repo.owner_id,
        }))
    }
}

pub struct OidcSubject;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OidcSubjectOutput {
    /// `repo:OWNER@OWNER_ID/REPO@REPO_ID` or `repo:OWNER/REPO`: what the repository's tokens start with.
    pub sub_claim_prefix: String,
}

impl Step for OidcSubject {
    const NAME: StepName = StepName::OidcSubject;
    const LABEL: &'static str = "Read the repository's OIDC subject";
    const PHASE: Phase = Phase::Create;
    const DEPENDS_ON: &'static [StepName] = &[StepName::GithubRepository];
    type Output = OidcSubjectOutput;

    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<OidcSubjectOutput>, ProviderError> {
        let repo = our_repo(cx).await?;
        let sub_claim_prefix = cx.providers.github.oidc_sub_claim_prefix(&repo).await?;
        Ok(Ensured::Done(OidcSubjectOutput { sub_claim_prefix }))
    }
}

/// Ours: generated from our template, no earlier than our row, and no later than `window_end`
/// (a crash may have hit between the create call and recording it; anything made after that
/// window was made by someone else). Anything else with the name belongs to someone else.
pub(super) fn is_ours_within(repo: &Repo, cx: &Cx<'_>, window_end: OffsetDateTime) -> bool {
    repo.template_full_name.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(&cx.template.full_name()))
        && repo.created_at.is_some_and(|at| at >= cx.service.created_at - OWNERSHIP_SKEW && at <= window_end)
}

/// Ours for preflight: a repository from our template made since our row (a retried preflight
/// may find the one an earlier pass made).
pub(super) fn is_ours(repo: &Repo, cx: &Cx<'_>) -> bool {
    is_ours_within(repo, cx, OffsetDateTime::now_utc() + GENERATE_WINDOW)
}

/// Our repository, found by the id `github_repository` recorded, under whatever name it has now.
pub(super) async fn our_repo(cx: &Cx<'_>) -> Result<Repo, ProviderError> {
    find_by_id(cx, cx.output::<GithubRepository>()?.id).await
}

async fn find_by_id(cx: &Cx<'_>, id: u64) -> Result<Repo, ProviderError> {
    cx.providers.github.find_repo_by_id(id).await?.ok_or_else(|| {
        ProviderError::new(
            System::GitHub,
            ErrorKind::NotFound,
            format!(
                "the repository {}/{} (id {id}) is gone; delete the service and create it again",
                cx.org(),
                cx.name
            ),
        )
    })
}
