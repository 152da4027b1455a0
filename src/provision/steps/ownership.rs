//! The ownership files on the default branch: `.github/CODEOWNERS` (`* @org/team`, so the owning team
//! reviews every change) and a Backstage `catalog-info.yaml` (the service in a software catalog, owned by
//! the team).
//!
//! Written through the contents API, one commit per missing file. The git data API could make both in
//! one commit but costs five writes (two blobs, a tree, a commit, the ref) against one or two, and a
//! crash between its calls leaves dangling objects; with one commit per file each file is read before
//! it is written, so a re-run after a crash commits only what is still missing. The commits say
//! `[skip ci]`: they land before the IAM role has propagated (`iam_propagation_delay`), so a build they
//! started could fail to assume it; the first build stays the re-run after that delay.

use serde::{Deserialize, Serialize};

use super::{Cx, Ensured, Phase, Step, github::our_repo};
use crate::{domain::StepName, provider::ProviderError};

pub struct OwnershipFiles;

/// Where GitHub looks for a CODEOWNERS file, in its order: a template that has one anywhere here keeps it.
const CODEOWNERS_PATHS: [&str; 3] = [".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"];
pub const CATALOG_PATH: &str = "catalog-info.yaml";

/// What happened to each file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OwnershipOutput {
    pub files: Vec<OwnedFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OwnedFile {
    /// Where the file is (for a template's CODEOWNERS, where the template has it).
    pub path: String,
    /// `committed` (Shipyard's content is there), `kept` (the template's own file, left alone) or
    /// `skipped` (not written, `note` says why).
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The commit that added it, when this run made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

impl OwnedFile {
    /// The file should be on the branch (it was committed or kept); a skipped one never was.
    pub fn expected(&self) -> bool {
        self.state != "skipped"
    }
}

impl Step for OwnershipFiles {
    const NAME: StepName = StepName::OwnershipFiles;
    const LABEL: &'static str = "Commit CODEOWNERS and catalog-info.yaml";
    const PHASE: Phase = Phase::Create;
    // After the secrets and the webhook, so nothing Shipyard writes later races its own commits.
    const DEPENDS_ON: &'static [StepName] =
        &[StepName::GithubRepository, StepName::ActionsSecrets, StepName::GithubWebhook];
    type Output = OwnershipOutput;

    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<OwnershipOutput>, ProviderError> {
        let repo = our_repo(cx).await?;
        let github = &cx.providers.github;
        let branch = cx.branch.as_str();
        let mut files = Vec::new();

        match cx.service.team.as_deref() {
            None => files.push(OwnedFile {
                path: CODEOWNERS_PATHS[0].to_owned(),
                state: "skipped".into(),
                note: Some("the service has no owning team, so there is nobody to name as code owner".into()),
                commit: None,
            }),
            Some(team) => {
                let wanted = codeowners(cx.org(), team);
                let mut found = None;
                for path in CODEOWNERS_PATHS {
                    if let Some(file) = github.get_file(&repo.owner, &repo.name, path, branch).await? {
                        found = Some((path, file));
                        break;
                    }
                }
                files.push(match found {
                    Some((path, file)) => present(path, file.text == wanted),
                    None => {
                        let path = CODEOWNERS_PATHS[0];
                        let message = "Add CODEOWNERS: the owning team reviews every change [skip ci]";
                        let made = github
                            .create_file(&repo.owner, &repo.name, path, branch, message, &wanted)
                            .await?;
                        committed(path, branch, made)
                    }
                });
            }
        }

        let wanted = catalog_info(cx);
        files.push(match github.get_file(&repo.owner, &repo.name, CATALOG_PATH, branch).await? {
            Some(file) => present(CATALOG_PATH, file.text == wanted),
            None => {
                let message = "Add catalog-info.yaml: the service in the software catalog [skip ci]";
                let made = github
                    .create_file(&repo.owner, &repo.name, CATALOG_PATH, branch, message, &wanted)
                    .await?;
                committed(CATALOG_PATH, branch, made)
            }
        });
        Ok(Ensured::Done(OwnershipOutput { files }))
    }
}

/// A file already on the branch: Shipyard's own from an earlier run, or the template's (left alone).
fn present(path: &str, ours: bool) -> OwnedFile {
    let (state, note) = if ours {
        ("committed", None)
    } else {
        ("kept", Some("the template already has this file; Shipyard left it alone".to_owned()))
    };
    OwnedFile { path: path.to_owned(), state: state.into(), note, commit: None }
}

/// A file Shipyard committed, or one the branch's rules refused it (an organization's, or Shipyard's
/// own ruleset when Repair puts back a file someone removed): skipped with GitHub's words, since only
/// a pull request can add it now.
fn committed(path: &str, branch: &str, made: Result<String, String>) -> OwnedFile {
    match made {
        Ok(sha) => {
            OwnedFile { path: path.to_owned(), state: "committed".into(), note: None, commit: Some(sha) }
        }
        Err(refusal) => OwnedFile {
            path: path.to_owned(),
            state: "skipped".into(),
            note: Some(format!(
                "GitHub's rules for {branch} refused a direct commit ({refusal}); add it by pull request"
            )),
            commit: None,
        },
    }
}

/// Every path owned by the team (`@org/team-slug` is GitHub's syntax for a team).
pub fn codeowners(org: &str, team: &str) -> String {
    format!("# Written by Shipyard: the owning team reviews every change.\n* @{org}/{team}\n")
}

/// A Backstage Component. Names, slugs and logins are restricted to characters that need no quoting
/// in YAML. Without a team the person who asked for the service owns it (`user:` entity reference).
pub fn catalog_info(cx: &Cx<'_>) -> String {
    let owner = match cx.service.team.as_deref() {
        Some(team) => team.to_owned(),
        None => format!("user:{}", cx.service.created_by_login),
    };
    let lifecycle = match cx.service.environment.as_str() {
        "prod" | "production" => "production",
        _ => "experimental",
    };
    format!(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\n  annotations:\n    \
         github.com/project-slug: {org}/{name}\nspec:\n  type: service\n  lifecycle: {lifecycle}\n  owner: {owner}\n",
        name = cx.name.as_str(),
        org = cx.org(),
    )
}
