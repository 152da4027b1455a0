//! The create steps. Each is an ensure: look, adopt what is ours, create what is missing.

use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Value, json};

use super::{Providers, Settings, StepContext};
use crate::{
    aws::{Ownership, policy},
    domain::{StepName, Visibility},
    github::Repo,
    provider::{ErrorKind, ProviderError, System},
};

/// A repository counts as ours after a crash between create and record when it was generated from
/// our template no earlier than this before the service row was written (clock skew allowance).
const OWNERSHIP_SKEW: time::Duration = time::Duration::seconds(60);

/// How often to look at the first build while it runs.
const BUILD_POLL: Duration = Duration::from_secs(1);

pub async fn run(
    step: StepName,
    p: &Providers,
    s: &Settings,
    ctx: &StepContext,
) -> Result<Value, ProviderError> {
    match step {
        StepName::Preflight => preflight(p, ctx).await,
        StepName::OidcProvider => Ok(json!({ "arn": p.aws.ensure_oidc_provider().await? })),
        StepName::EcrRepository => {
            let repo = p.aws.ensure_ecr_repository(ctx.name.as_str(), &ctx.tags).await?;
            Ok(json!({ "name": repo.name, "arn": repo.arn, "uri": repo.uri }))
        }
        StepName::GithubRepository => github_repository(p, s, ctx).await,
        StepName::OidcSubject => {
            let repo = existing_repo(p, ctx).await?;
            Ok(json!({ "sub_claim_prefix": p.github.oidc_sub_claim_prefix(&repo).await? }))
        }
        StepName::IamPolicy => {
            let repository_arn = ctx.output(StepName::EcrRepository, "arn")?;
            let arn = p.aws.ensure_ecr_push_policy(&ctx.iam.policy, &repository_arn, &ctx.tags).await?;
            Ok(json!({ "name": ctx.iam.policy, "arn": arn }))
        }
        StepName::IamRole => {
            let trust = policy::trust_policy(
                &ctx.output(StepName::OidcProvider, "arn")?,
                &ctx.output(StepName::OidcSubject, "sub_claim_prefix")?,
                ctx.branch.as_str(),
            );
            let arn = p.aws.ensure_role(&ctx.iam.role, &trust, &ctx.tags).await?;
            Ok(json!({ "name": ctx.iam.role, "arn": arn }))
        }
        StepName::IamAttachment => {
            p.aws.ensure_policy_attached(&ctx.iam.role, &ctx.output(StepName::IamPolicy, "arn")?).await?;
            Ok(json!({}))
        }
        StepName::ActionsSecrets => actions_secrets(p, s, ctx).await,
        StepName::FirstBuild => first_build(p, s, ctx).await,
        delete_step => Err(ProviderError::new(
            System::Shipyard,
            ErrorKind::Other,
            format!("internal: {delete_step} is not a create step"),
        )),
    }
}

/// Every name must be free (or already ours) in GitHub, ECR and IAM before anything is created.
/// The five look-ups are independent, so they run at once.
async fn preflight(p: &Providers, ctx: &StepContext) -> Result<Value, ProviderError> {
    let (name, id) = (ctx.name.as_str(), ctx.service.service_id);
    let (repo, template_usable, ecr, role, policy) = tokio::try_join!(
        p.github.find_repo(ctx.org(), name),
        p.github.template_is_usable(&ctx.template.owner, &ctx.template.name),
        p.aws.ecr_repository_ownership(name, id),
        p.aws.role_ownership(&ctx.iam.role, id),
        p.aws.policy_ownership(&ctx.iam.policy, id),
    )?;
    if let Some(repo) = repo
        && !is_ours(&repo, ctx)
    {
        return Err(taken(System::GitHub, format!("the repository {} already exists", repo.full_name)));
    }
    if !template_usable {
        return Err(ProviderError::new(
            System::GitHub,
            ErrorKind::Invalid,
            format!(
                "the template {} does not exist or is not a template repository",
                ctx.template.full_name()
            ),
        ));
    }
    if ecr == Ownership::Foreign {
        return Err(taken(System::Ecr, format!("the ECR repository {name} already exists")));
    }
    if role == Ownership::Foreign {
        return Err(taken(System::Iam, format!("the IAM role {} already exists", ctx.iam.role)));
    }
    if policy == Ownership::Foreign {
        return Err(taken(System::Iam, format!("the IAM policy {} already exists", ctx.iam.policy)));
    }
    Ok(json!({ "role_name": ctx.iam.role, "policy_name": ctx.iam.policy }))
}

fn taken(system: System, what: String) -> ProviderError {
    ProviderError::new(
        system,
        ErrorKind::Conflict,
        format!("{what} and was not created by Shipyard for this service; choose another name"),
    )
}

/// Ours: generated from our template, no earlier than our row (a crash may have hit between the
/// create call and recording it). Anything else with the name belongs to someone else.
pub(super) fn is_ours(repo: &Repo, ctx: &StepContext) -> bool {
    repo.template_full_name.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(&ctx.template.full_name()))
        && repo.created_at.is_some_and(|at| at >= ctx.service.created_at - OWNERSHIP_SKEW)
}

async fn existing_repo(p: &Providers, ctx: &StepContext) -> Result<Repo, ProviderError> {
    p.github.find_repo(ctx.org(), ctx.name.as_str()).await?.ok_or_else(|| {
        ProviderError::new(
            System::GitHub,
            ErrorKind::NotFound,
            format!("the repository {}/{} is gone; retry to create it again", ctx.org(), ctx.name),
        )
    })
}

/// Generates the repository from the template (or adopts ours), waits for its content, applies
/// the visibility and the default branch the form asked for.
async fn github_repository(p: &Providers, s: &Settings, ctx: &StepContext) -> Result<Value, ProviderError> {
    let (org, name) = (ctx.org(), ctx.name.as_str());
    let visibility = Visibility::parse(&ctx.service.visibility).unwrap_or_default();
    let repo = match p.github.find_repo(org, name).await? {
        Some(repo) if is_ours(&repo, ctx) => repo,
        Some(repo) => {
            return Err(taken(System::GitHub, format!("the repository {} already exists", repo.full_name)));
        }
        None => {
            let description = Some(ctx.service.description.as_str()).filter(|d| !d.is_empty());
            let private = visibility != Visibility::Public;
            match p
                .github
                .generate_repo(&ctx.template.owner, &ctx.template.name, org, name, description, private)
                .await
            {
                Ok(repo) => repo,
                // A timed-out generate may have succeeded: look once more and adopt it if it is ours.
                Err(e) if e.kind == ErrorKind::Conflict => match p.github.find_repo(org, name).await? {
                    Some(repo) if is_ours(&repo, ctx) => repo,
                    _ => return Err(e),
                },
                Err(e) => return Err(e),
            }
        }
    };
    if visibility == Visibility::Internal && repo.visibility != "internal" {
        p.github.set_visibility(org, name, "internal").await?;
    }
    let wanted = ctx.branch.as_str();
    if repo.default_branch != wanted {
        p.github.wait_for_branch(org, name, &repo.default_branch, s.generate_timeout).await?;
        p.github.rename_branch(org, name, &repo.default_branch, wanted).await?;
    }
    p.github.wait_for_branch(org, name, wanted, s.generate_timeout).await?;
    let repo = existing_repo(p, ctx).await?;
    Ok(json!({
        "id": repo.id,
        "full_name": repo.full_name,
        "html_url": repo.html_url,
        "ssh_url": repo.ssh_url,
        "clone_url": repo.clone_url,
        "default_branch": repo.default_branch,
        "owner_id": repo.owner_id,
    }))
}

/// The three secrets the template's workflow reads, sealed to the repository's key.
async fn actions_secrets(p: &Providers, s: &Settings, ctx: &StepContext) -> Result<Value, ProviderError> {
    let values = [
        ("AWS_REGION", s.region.clone()),
        ("GHA_DEFAULT_ROLE_ARN", ctx.output(StepName::IamRole, "arn")?),
        ("ECR_REPO_URL", ctx.output(StepName::EcrRepository, "uri")?),
    ];
    let sealed: Vec<(&str, SecretString)> =
        values.iter().map(|(n, v)| (*n, SecretString::from(v.clone()))).collect();
    p.github.put_secrets(ctx.org(), ctx.name.as_str(), &sealed).await?;
    Ok(json!({ "names": values.iter().map(|(n, _)| *n).collect::<Vec<_>>() }))
}

/// Re-runs the template's initial run (queued before the secrets and role existed), or dispatches
/// the workflow when there was none, then watches it to its conclusion.
async fn first_build(p: &Providers, s: &Settings, ctx: &StepContext) -> Result<Value, ProviderError> {
    tokio::time::sleep(s.iam_propagation_delay).await;
    let (org, name, branch) = (ctx.org(), ctx.name.as_str(), ctx.branch.as_str());
    let runs = p.github.list_runs(org, name, Some(branch), None).await?;
    let (action, run_id) = match runs.into_iter().next() {
        Some(run) => {
            // The list already says how it stands; only a run still going needs watching.
            let run = if run.is_completed() { run } else { watch_run(p, s, ctx, run.id).await? };
            if run.has_failed() {
                p.github.rerun_failed_jobs(org, name, run.id).await?;
                ("rerun", Some(run.id))
            } else {
                ("none", Some(run.id))
            }
        }
        None => match dispatch_first_workflow(p, ctx).await? {
            Some(run_id) => ("dispatch", Some(run_id)),
            None => ("none", None),
        },
    };
    let Some(run_id) = run_id else {
        return Ok(json!({
            "action": "none",
            "conclusion": null,
            "note": "No initial run and no workflow with a workflow_dispatch trigger: push to the default branch to build.",
        }));
    };
    let run = watch_run(p, s, ctx, run_id).await?;
    let outputs = json!({
        "action": action,
        "run_id": run.id,
        "run_url": run.html_url,
        "conclusion": run.conclusion,
        "note": if run.is_completed() { "" } else { "still running when Shipyard stopped watching" },
    });
    if run.has_failed() {
        return Err(ProviderError::new(
            System::GitHub,
            ErrorKind::Other,
            format!(
                "the first build ended {} — see {}",
                run.conclusion.as_deref().unwrap_or("badly"),
                run.html_url
            ),
        ));
    }
    Ok(outputs)
}

/// Polls a run until it completes or `build_wait` runs out; returns its latest state.
async fn watch_run(
    p: &Providers,
    s: &Settings,
    ctx: &StepContext,
    run_id: u64,
) -> Result<crate::github::WorkflowRun, ProviderError> {
    let deadline = tokio::time::Instant::now() + s.build_wait;
    loop {
        let run = p.github.get_run(ctx.org(), ctx.name.as_str(), run_id).await?;
        if run.is_completed() || tokio::time::Instant::now() >= deadline {
            return Ok(run);
        }
        tokio::time::sleep(BUILD_POLL.min(s.build_wait)).await;
    }
}

/// Dispatches the first workflow that accepts `workflow_dispatch`; the run it started, if any.
async fn dispatch_first_workflow(p: &Providers, ctx: &StepContext) -> Result<Option<u64>, ProviderError> {
    let (org, name, branch) = (ctx.org(), ctx.name.as_str(), ctx.branch.as_str());
    for workflow in p.github.list_workflows(org, name).await? {
        match p.github.dispatch_workflow(org, name, workflow.file_name(), branch).await {
            Ok(crate::github::DispatchOutcome::Started { run_id, .. }) => return Ok(Some(run_id)),
            Ok(crate::github::DispatchOutcome::Accepted) => {
                let runs = p.github.list_runs(org, name, Some(branch), Some("workflow_dispatch")).await?;
                return Ok(runs.first().map(|r| r.id));
            }
            Err(e) if e.kind == ErrorKind::Invalid => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}
