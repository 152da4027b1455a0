//! The GitHub repository: generated from the template, then addressed by what its creation recorded.
//!
//! What the later steps need of the repository (ids, the `sub` claim prefix, the Actions key) is
//! recorded here once, so later steps read the repository only where a rename matters: the secrets
//! are sent to the name the recorded id has at that moment (a repository that took over the old
//! name must never receive them), and the first build follows them there.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Cx, Ensured, Phase, Step, taken};
use crate::{
    domain::{StepName, Visibility},
    github::{ActionsKey, Repo},
    provider::{ErrorKind, ProviderError, System},
};

/// Ours when our repository was generated from our template within this window before the
/// first generate request was recorded (clock skew between GitHub and us).
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
    /// Read while generation copied the content; none in rows recorded before it was, or when the
    /// read failed (then `oidc_subject` reads it and reports the failure as its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_claim_prefix: Option<String>,
    /// Read at the same time, for `actions_secrets` (which fetches it when it is missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions_key: Option<ActionsKey>,
}

impl RepoOutput {
    /// The owner part of `full_name`.
    pub fn owner(&self) -> &str {
        self.full_name.split_once('/').map_or("", |(owner, _)| owner)
    }

    /// The repository name part of `full_name`.
    pub fn name(&self) -> &str {
        self.full_name.split_once('/').map_or(&self.full_name, |(_, name)| name)
    }
}

impl Step for GithubRepository {
    const NAME: StepName = StepName::GithubRepository;
    const LABEL: &'static str = "GitHub repository from the template";
    const PHASE: Phase = Phase::Create;
    const DEPENDS_ON: &'static [StepName] = &[StepName::Preflight];
    type Output = RepoOutput;

    /// Generates the repository from the template (or adopts ours), waits for its content, applies
    /// the visibility and the default branch the form asked for. The `sub` claim prefix and the
    /// Actions key need only the repository's ids, so they are read while the content lands.
    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<RepoOutput>, ProviderError> {
        let github = &cx.providers.github;
        let repo = generate_or_adopt(cx).await?;
        // From here on the repository is addressed as created: whatever takes the name later is not ours.
        let (owner, repo_name) = (repo.owner.as_str(), repo.name.as_str());
        let content = async {
            if cx.service.visibility == Visibility::Internal && repo.visibility != "internal" {
                github.set_visibility(owner, repo_name, "internal").await?;
            }
            let wanted = cx.branch.as_str();
            github
                .wait_for_branch(owner, repo_name, &repo.default_branch, cx.settings.generate_timeout)
                .await?;
            // Read again after the content landed: the 201 may report the organization's default
            // branch setting before the template's content (and its branch) arrived.
            let landed = find_by_id(cx, repo.id).await?;
            if landed.default_branch == wanted {
                return Ok(landed);
            }
            github.rename_branch(owner, repo_name, &landed.default_branch, wanted).await?;
            github.wait_for_branch(owner, repo_name, wanted, cx.settings.generate_timeout).await?;
            find_by_id(cx, repo.id).await
        };
        let (landed, sub_claim_prefix, actions_key) = tokio::join!(
            content,
            github.oidc_sub_claim_prefix(&repo),
            github.actions_public_key(owner, repo_name)
        );
        let landed = landed?;
        Ok(Ensured::Done(RepoOutput {
            id: landed.id,
            full_name: landed.full_name,
            html_url: landed.html_url,
            ssh_url: landed.ssh_url,
            clone_url: landed.clone_url,
            default_branch: landed.default_branch,
            owner_id: landed.owner_id,
            sub_claim_prefix: sub_claim_prefix.ok(),
            actions_key: actions_key.ok(),
        }))
    }
}

/// Generates the repository, or adopts ours when the name is taken. Preflight has just found the
/// name free, so the create goes first: a taken name (a retry after a crash, or someone quicker)
/// answers 422, and only then is the holder looked at, adopted when it is ours and refused if not.
async fn generate_or_adopt(cx: &Cx<'_>) -> Result<Repo, ProviderError> {
    let github = &cx.providers.github;
    let (org, name) = (cx.org(), cx.name.as_str());
    // The window opens at the first generate request (recorded when this step first started, before
    // any request was sent) and closes when that request could no longer have created anything: a
    // Retry much later must not adopt a repository someone else generated under the name meanwhile.
    let first = cx.first_started_at(StepName::GithubRepository).unwrap_or_else(OffsetDateTime::now_utc);
    let description = Some(cx.service.description.as_str()).filter(|d| !d.is_empty());
    let private = cx.service.visibility != Visibility::Public;
    match github.generate_repo(&cx.template.owner, &cx.template.name, org, name, description, private).await {
        Ok(repo) => Ok(repo),
        Err(e) if e.kind == ErrorKind::Conflict => match github.find_repo(org, name).await? {
            Some(repo) if is_ours_within(&repo, cx, first + GENERATE_WINDOW) => Ok(repo),
            Some(repo) => {
                Err(taken(System::GitHub, format!("the repository {} already exists", repo.full_name)))
            }
            None => Err(e),
        },
        Err(e) => Err(e),
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

    /// Usually recorded by `github_repository` already; read here when it could not be.
    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<OidcSubjectOutput>, ProviderError> {
        let sub_claim_prefix = match cx.output::<GithubRepository>()?.sub_claim_prefix {
            Some(prefix) => prefix,
            None => cx.providers.github.oidc_sub_claim_prefix(&our_repo(cx).await?).await?,
        };
        Ok(Ensured::Done(OidcSubjectOutput { sub_claim_prefix }))
    }
}

/// Ours: generated from our template, no earlier than our first generate request (less the skew),
/// and no later than `window_end` (a crash may have hit between the create call and recording it;
/// anything made after that window was made by someone else). Without a first generate request
/// nothing can be ours. Anything else with the name belongs to someone else.
pub(super) fn is_ours_within(repo: &Repo, cx: &Cx<'_>, window_end: OffsetDateTime) -> bool {
    let Some(first) = cx.first_started_at(StepName::GithubRepository) else { return false };
    repo.template_full_name.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(&cx.template.full_name()))
        && repo.created_at.is_some_and(|at| at >= first - OWNERSHIP_SKEW && at <= window_end)
}

/// Ours for preflight: only once the generate step has started (a re-run preflight may find the
/// repository an earlier generate made), and inside that first request's window. Before it has
/// started, any repository with the name is someone else's, whatever template it came from.
pub(super) fn is_ours(repo: &Repo, cx: &Cx<'_>) -> bool {
    cx.first_started_at(StepName::GithubRepository)
        .is_some_and(|first| is_ours_within(repo, cx, first + GENERATE_WINDOW))
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
