//! One service's resources read back with the look-ups the ensures use, and compared with what the
//! ensures would write now. Nothing here changes anything.
//!
//! The budget of one check: GitHub 3 calls (the repository by id, the secret names, and the default
//! branch's ruleset by id, or the branch's rules when an organization ruleset covers it; none when
//! rulesets were skipped for the plan), a fourth, the repository's teams, for a service with an owning
//! team, plus one per ownership file Shipyard committed or kept (at most 2) and one each for Dependabot
//! alerts and security updates when they were switched on (secret scanning and topics come with the
//! repository, and so do security updates, which on also say the alerts are on), so at most 8 (GitHub's conditional requests make an unchanged answer a free 304 on the
//! primary limit); AWS 9 (GetOpenIDConnectProvider, DescribeRepositories, ListTagsForResource,
//! GetLifecyclePolicy, GetRole, ListRoleTags, ListAttachedRolePolicies, GetPolicy, GetPolicyVersion).
//! The repository's mutability and encryption come with DescribeRepositories.
//! Each extra push role adds GetRole, ListRoleTags and ListAttachedRolePolicies, and for an environment
//! role two GitHub calls: the environment's deployment rules (a third with custom branch policies) and
//! its secret names (a repository-wide role's secret is among the repository's, already read).

use super::{Finding, Problem};
use crate::{
    aws::{Ownership, branch_tag, mutability_matches, policy},
    db::roles::ServiceRole,
    domain::{Desired, RoleKind, StepName},
    github::{
        Repo, default_branch_only,
        rulesets::{DefaultBranchRules, Shortfall},
    },
    provider::ProviderError,
    provision::steps::{
        ActionsSecrets, BranchRuleset, Cx, EcrRepository, EcrSettings, GithubRepository, IamPolicy,
        OidcProvider, OwnershipFiles, RulesetState, SecurityBaseline, trust,
    },
};

/// Everything that differs from what Shipyard made, in the order the steps are shown.
pub async fn look(cx: &Cx<'_>, roles: &[ServiceRole]) -> Result<Vec<Finding>, ProviderError> {
    let mut findings = Vec::new();
    let found = repository_and_secrets(cx, &mut findings).await?;
    if let Some((repo, _)) = &found {
        // A repository whose default branch changed is finding enough: its teams cannot change.
        if !findings.iter().any(|f| f.resource == StepName::GithubRepository) {
            team_access(cx, &mut findings).await?;
        }
        // On another default branch the files are looked for where they are not: that finding says enough.
        if repo.default_branch == cx.branch.as_str() {
            ownership_files(cx, repo, &mut findings).await?;
        }
        security_baseline(cx, repo, &mut findings).await?;
    }
    oidc_provider(cx, &mut findings).await?;
    ecr_repository(cx, &mut findings).await?;
    role_and_attachment(cx, &mut findings).await?;
    policy_document(cx, &mut findings).await?;
    // A repository that is gone or archived is finding enough: its secrets cannot be read.
    if let Some((repo, _)) = &found {
        branch_ruleset(cx, &repo.owner, &repo.name, &mut findings).await?;
    }
    if let Some((_, secrets)) = &found
        && !findings.iter().any(|f| f.resource == StepName::GithubRepository)
    {
        for role in roles.iter().filter(|r| r.desired == Desired::Present) {
            push_role(cx, role, secrets, &mut findings).await?;
        }
    }
    Ok(findings)
}

/// An extra role as `PushRole` would make it, attached to the push policy, its ARN where its runs read it.
/// `repo_secrets` are the repository's secret names as [`repository_and_secrets`] read them: one
/// request serves the repository's secrets and every repository-wide role's.
async fn push_role(
    cx: &Cx<'_>,
    role: &ServiceRole,
    repo_secrets: &[String],
    findings: &mut Vec<Finding>,
) -> Result<(), ProviderError> {
    let aws = &cx.providers.aws;
    let name = role.name.as_str();
    let Some(found) = aws.get_role(&role.iam_role).await? else {
        findings.push(
            Finding::new(StepName::PushRole, Problem::Missing, &role.iam_role, "no such role").for_role(name),
        );
        return Ok(());
    };
    let tags = found.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    if Ownership::of_existing(tags, cx.service.service_id) != Ownership::Ours {
        findings.push(
            Finding::new(
                StepName::PushRole,
                Problem::NotOurs,
                format!("tag shipyard:service-id = {}", cx.service.service_id),
                found.tags.get("shipyard:service-id").map_or("no such tag", String::as_str),
            )
            .for_role(name),
        );
        return Ok(());
    }
    if let Some(finding) = boundary(cx, StepName::PushRole, found.permissions_boundary.as_deref()) {
        findings.push(finding.for_role(name));
    }
    let spec = role.spec();
    // What `PushRole` would write now: pinned on the repository's ids.
    let (trust, _) = trust::push_role(cx, &spec)?;
    if !policy::policies_equivalent(&found.trust_policy, &trust) {
        let (expected, got) = (trust.to_string(), found.trust_policy.to_string());
        findings.push(Finding::new(StepName::PushRole, Problem::TrustChanged, expected, got).for_role(name));
    }
    let policy_arn = cx.output::<IamPolicy>()?.arn;
    if !found.attached_policy_arns.contains(&policy_arn) {
        let got = found.attached_policy_arns.join(", ");
        findings.push(
            Finding::new(StepName::PushRoleAttachment, Problem::NotAttached, policy_arn, got).for_role(name),
        );
    }
    let repo = cx.output::<GithubRepository>()?;
    let (owner, repo_name) = repo.full_name.split_once('/').unwrap_or((cx.org(), cx.name.as_str()));
    let github = &cx.providers.github;
    let present = match role.kind {
        RoleKind::Environment => {
            // The gate: an environment with no deployment rule left lets any branch assume the role.
            // A team's own rules, whatever they are, are a gate too.
            let rules = github.environment_rules(owner, repo_name, &role.value).await?;
            if rules.is_some_and(|r| r.is_unprotected()) {
                let finding = Finding::new(
                    StepName::PushRoleSecret,
                    Problem::Unprotected,
                    default_branch_only(cx.branch.as_str()),
                    "no deployment rules: any branch may deploy",
                );
                findings.push(finding.for_role(name));
            }
            github.environment_secret_names(owner, repo_name, &role.value).await?.unwrap_or_default()
        }
        _ => repo_secrets.to_vec(),
    };
    if !present.contains(&role.secret) {
        let found = if present.is_empty() { "no secrets".to_owned() } else { present.join(", ") };
        findings.push(
            Finding::new(StepName::PushRoleSecret, Problem::Missing, &role.secret, found).for_role(name),
        );
    }
    Ok(())
}

/// The default branch protected as `BranchRuleset` left it: Shipyard's ruleset there, active and asking
/// no less; or the organization's ruleset still asking as much. A skipped ruleset (the plan has none)
/// is not drift, nor is a service made before the step existed.
async fn branch_ruleset(
    cx: &Cx<'_>,
    owner: &str,
    name: &str,
    findings: &mut Vec<Finding>,
) -> Result<(), ProviderError> {
    let Some(recorded) = cx.recorded::<BranchRuleset>()? else { return Ok(()) };
    let github = &cx.providers.github;
    let wanted = DefaultBranchRules::from(&cx.settings.branch_protection);
    let expected = || recorded.note.clone();
    match (recorded.state, recorded.ruleset_id) {
        (RulesetState::Skipped, _) => {}
        (RulesetState::CoveredByOrganization, _) => {
            let in_force = github.branch_rules(owner, name, cx.branch.as_str()).await?;
            let inherited: Vec<_> = in_force
                .into_iter()
                .filter(|r| r.ruleset_source_type != "Repository")
                .map(|r| r.rule)
                .collect();
            let short = wanted.shortfalls(&inherited);
            if !short.is_empty() {
                let found = short.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
                findings.push(Finding::new(StepName::BranchRuleset, Problem::Missing, expected(), found));
            }
        }
        (RulesetState::Active, id) => {
            let found = match id {
                Some(id) => github.ruleset(owner, name, id).await?,
                None => None,
            };
            let Some(found) = found else {
                let what = format!(
                    "{} (id {})",
                    recorded.ruleset_name.as_deref().unwrap_or_default(),
                    id.unwrap_or(0)
                );
                findings.push(Finding::new(
                    StepName::BranchRuleset,
                    Problem::Missing,
                    what,
                    "no ruleset with that id",
                ));
                return Ok(());
            };
            for short in wanted.ruleset_shortfalls(&found) {
                let problem = match &short {
                    Shortfall::NotActive(_) => Problem::NotActive,
                    Shortfall::Removed(_) => Problem::RuleRemoved,
                    Shortfall::Loosened(_) => Problem::RuleLoosened,
                };
                findings.push(Finding::new(StepName::BranchRuleset, problem, expected(), short.to_string()));
            }
        }
    }
    Ok(())
}

/// Each file `OwnershipFiles` committed or kept is still on the default branch (a skipped one is no drift).
/// Services made before the step existed recorded nothing and are not looked at.
async fn ownership_files(cx: &Cx<'_>, repo: &Repo, findings: &mut Vec<Finding>) -> Result<(), ProviderError> {
    let Some(recorded) = cx.recorded::<OwnershipFiles>()? else { return Ok(()) };
    let github = &cx.providers.github;
    for file in recorded.files.iter().filter(|f| f.expected()) {
        if github.get_file(&repo.owner, &repo.name, &file.path, cx.branch.as_str()).await?.is_none() {
            let found = format!("no {} on {}", file.path, cx.branch.as_str());
            findings.push(Finding::new(StepName::OwnershipFiles, Problem::Missing, &file.path, found));
        }
    }
    Ok(())
}

/// What `SecurityBaseline` switched on is still on, and its topics are still there. A part it skipped
/// (GitHub refused it for the licence) is no drift.
async fn security_baseline(
    cx: &Cx<'_>,
    repo: &Repo,
    findings: &mut Vec<Finding>,
) -> Result<(), ProviderError> {
    let Some(recorded) = cx.recorded::<SecurityBaseline>()? else { return Ok(()) };
    let github = &cx.providers.github;
    let off = |problem| Finding::new(StepName::SecurityBaseline, problem, "enabled", "disabled");
    // GitHub shows `security_and_analysis` to admins only: without it there is nothing to compare.
    if recorded.secret_scanning.on
        && let Some(security) = repo.security
    {
        if !security.secret_scanning {
            findings.push(off(Problem::SecretScanningOff));
        }
        if !security.push_protection {
            findings.push(off(Problem::PushProtectionOff));
        }
    }
    // The repository's `security_and_analysis` says whether security updates are on, and GitHub
    // switches them off with the alerts they need: on there means both are on, with no request of
    // their own (their endpoints answer 204/200 afresh each time, which counts against the limit).
    let updates_seen = repo.security.map(|s| s.dependabot_security_updates);
    let both_on = recorded.dependabot_security_updates.on && updates_seen == Some(true);
    if recorded.dependabot_alerts.on
        && !both_on
        && !github.vulnerability_alerts(&repo.owner, &repo.name).await?
    {
        findings.push(off(Problem::DependabotAlertsOff));
    }
    if recorded.dependabot_security_updates.on {
        let on = match updates_seen {
            Some(seen) => seen,
            None => github.automated_security_fixes(&repo.owner, &repo.name).await?,
        };
        if !on {
            findings.push(off(Problem::SecurityUpdatesOff));
        }
    }
    let missing: Vec<&str> =
        recorded.topics.iter().filter(|t| !repo.topics.contains(t)).map(String::as_str).collect();
    if !missing.is_empty() {
        let found = if repo.topics.is_empty() { "no topics".to_owned() } else { repo.topics.join(", ") };
        findings.push(Finding::new(
            StepName::SecurityBaseline,
            Problem::TopicMissing,
            missing.join(", "),
            found,
        ));
    }
    Ok(())
}

/// The repository as it is now, when it is there and not archived (what the later looks read), with
/// its Actions secrets' names.
async fn repository_and_secrets(
    cx: &Cx<'_>,
    findings: &mut Vec<Finding>,
) -> Result<Option<(Repo, Vec<String>)>, ProviderError> {
    let recorded = cx.output::<GithubRepository>()?;
    let github = &cx.providers.github;
    let Some(repo) = github.find_repo_by_id(recorded.id).await? else {
        findings.push(Finding::new(
            StepName::GithubRepository,
            Problem::Missing,
            format!("{} (id {})", recorded.full_name, recorded.id),
            "no repository with that id",
        ));
        return Ok(None);
    };
    if repo.archived {
        findings.push(Finding::new(
            StepName::GithubRepository,
            Problem::Archived,
            "not archived",
            "archived",
        ));
        // An archived repository is read-only: its secrets are of no use until it is unarchived.
        return Ok(None);
    }
    if repo.default_branch != cx.branch.as_str() {
        findings.push(Finding::new(
            StepName::GithubRepository,
            Problem::DefaultBranchChanged,
            cx.branch.as_str(),
            repo.default_branch.as_str(),
        ));
    }
    let present = github.secret_names(&repo.owner, &repo.name).await?;
    let missing: Vec<String> =
        cx.output::<ActionsSecrets>()?.names.into_iter().filter(|n| !present.contains(n)).collect();
    if !missing.is_empty() {
        findings.push(Finding::new(
            StepName::ActionsSecrets,
            Problem::Missing,
            missing.join(", "),
            if present.is_empty() { "no secrets".to_owned() } else { present.join(", ") },
        ));
    }
    Ok(Some((repo, present)))
}

/// The owning team has at least the permission `TeamAccess` grants (a grant raised by hand is not
/// drift; one lowered or removed is).
async fn team_access(cx: &Cx<'_>, findings: &mut Vec<Finding>) -> Result<(), ProviderError> {
    let Some(team) = cx.service.team.as_deref() else { return Ok(()) };
    let repo = cx.output::<GithubRepository>()?;
    let wanted = cx.settings.team_permission;
    let teams = cx.providers.github.repo_teams(repo.owner(), repo.name()).await?;
    let expected = format!("{team}: {wanted}");
    match teams.iter().find(|(slug, _)| slug == team).map(|(_, p)| *p) {
        None => findings.push(Finding::new(StepName::TeamAccess, Problem::Missing, expected, "no access")),
        Some(found) if found < wanted => findings.push(Finding::new(
            StepName::TeamAccess,
            Problem::PermissionLowered,
            expected,
            format!("{team}: {found}"),
        )),
        Some(_) => {}
    }
    Ok(())
}

async fn oidc_provider(cx: &Cx<'_>, findings: &mut Vec<Finding>) -> Result<(), ProviderError> {
    let arn = cx.output::<OidcProvider>()?.arn;
    let issuer = cx.providers.aws.oidc_issuer();
    match cx.providers.aws.find_oidc_provider(&arn).await? {
        None => {
            findings.push(Finding::new(StepName::OidcProvider, Problem::Missing, arn, "no such provider"))
        }
        Some(p) if p.url != issuer.key() => {
            findings.push(Finding::new(StepName::OidcProvider, Problem::UrlChanged, issuer.key(), p.url))
        }
        Some(p) if !p.client_ids.iter().any(|id| id == policy::GITHUB_OIDC_AUDIENCE) => {
            findings.push(Finding::new(
                StepName::OidcProvider,
                Problem::AudienceMissing,
                policy::GITHUB_OIDC_AUDIENCE,
                p.client_ids.join(", "),
            ))
        }
        Some(_) => {}
    }
    Ok(())
}

async fn ecr_repository(cx: &Cx<'_>, findings: &mut Vec<Finding>) -> Result<(), ProviderError> {
    let name = cx.output::<EcrRepository>()?.name;
    let aws = &cx.providers.aws;
    let Some(repo) = aws.find_ecr_repository(&name).await? else {
        findings.push(Finding::new(StepName::EcrRepository, Problem::Missing, name, "no such repository"));
        return Ok(());
    };
    if !repo.scan_on_push {
        findings.push(Finding::new(StepName::EcrRepository, Problem::ScanOnPushOff, "on", "off"));
    }
    // Only a configured key is expected: without one, whatever a repository was created with is fine.
    let wanted = aws.ecr_rules().encryption();
    if wanted.kms_key.is_some() && repo.encryption != wanted {
        findings.push(Finding::new(
            StepName::EcrRepository,
            Problem::EncryptionChanged,
            wanted.to_string(),
            repo.encryption.to_string(),
        ));
    }
    // A service made before the step existed has no settings to compare with (until it is retried).
    if cx.recorded::<EcrSettings>()?.is_none() {
        return Ok(());
    }
    let excluded = vec![branch_tag(cx.branch.as_str())];
    if !mutability_matches(&repo, &excluded) {
        let found = match repo.excluded_tags.as_slice() {
            [] => repo.tag_mutability.clone(),
            tags => format!("{} except {}", repo.tag_mutability, tags.join(", ")),
        };
        let expected = format!("{} except {}", crate::aws::TAG_MUTABILITY, excluded.join(", "));
        findings.push(Finding::new(StepName::EcrSettings, Problem::MutabilityChanged, expected, found));
    }
    let policy = aws.ecr_rules().lifecycle_policy();
    match aws.lifecycle_policy(&name).await? {
        None => findings.push(Finding::new(
            StepName::EcrSettings,
            Problem::Missing,
            aws.ecr_rules().summary(),
            "no lifecycle policy",
        )),
        Some(found) if found != policy => findings.push(Finding::new(
            StepName::EcrSettings,
            Problem::LifecyclePolicyChanged,
            policy.to_string(),
            found.to_string(),
        )),
        Some(_) => {}
    }
    Ok(())
}

async fn role_and_attachment(cx: &Cx<'_>, findings: &mut Vec<Finding>) -> Result<(), ProviderError> {
    let aws = &cx.providers.aws;
    let Some(role) = aws.get_role(&cx.iam.role).await? else {
        findings.push(Finding::new(
            StepName::IamRole,
            Problem::Missing,
            cx.iam.role.as_str(),
            "no such role",
        ));
        return Ok(());
    };
    let tags = role.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    if Ownership::of_existing(tags, cx.service.service_id) != Ownership::Ours {
        findings.push(Finding::new(
            StepName::IamRole,
            Problem::NotOurs,
            format!("tag shipyard:service-id = {}", cx.service.service_id),
            role.tags.get("shipyard:service-id").map_or("no such tag", String::as_str),
        ));
        return Ok(());
    }
    findings.extend(boundary(cx, StepName::IamRole, role.permissions_boundary.as_deref()));
    // What `IamRole` would write now: pinned on the repository's ids, so a trust still naming the
    // repository as it was called before a rename is a difference Repair rewrites.
    let trust = trust::default_role(cx)?;
    if !policy::policies_equivalent(&role.trust_policy, &trust) {
        findings.push(Finding::new(
            StepName::IamRole,
            Problem::TrustChanged,
            trust.to_string(),
            role.trust_policy.to_string(),
        ));
    }
    let policy_arn = cx.output::<IamPolicy>()?.arn;
    if !role.attached_policy_arns.contains(&policy_arn) {
        let found = if role.attached_policy_arns.is_empty() {
            "no attached policies".to_owned()
        } else {
            role.attached_policy_arns.join(", ")
        };
        findings.push(Finding::new(StepName::IamAttachment, Problem::NotAttached, policy_arn, found));
    }
    Ok(())
}

/// A role whose permissions boundary is not the configured one (none, or another policy).
fn boundary(cx: &Cx<'_>, step: StepName, found: Option<&str>) -> Option<Finding> {
    let wanted = cx.providers.aws.permissions_boundary()?.arn();
    (found != Some(wanted)).then(|| {
        Finding::new(step, Problem::BoundaryChanged, wanted, found.unwrap_or("no permissions boundary"))
    })
}

async fn policy_document(cx: &Cx<'_>, findings: &mut Vec<Finding>) -> Result<(), ProviderError> {
    let arn = cx.output::<IamPolicy>()?.arn;
    // What `IamPolicy` would write now.
    let wanted = policy::ecr_push_policy(&cx.output::<EcrRepository>()?.arn);
    match cx.providers.aws.get_policy_document(&arn).await? {
        None => findings.push(Finding::new(StepName::IamPolicy, Problem::Missing, arn, "no such policy")),
        Some(document) if !policy::policies_equivalent(&document, &wanted) => findings.push(Finding::new(
            StepName::IamPolicy,
            Problem::DocumentChanged,
            wanted.to_string(),
            document.to_string(),
        )),
        Some(_) => {}
    }
    Ok(())
}
