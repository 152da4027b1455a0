//! Deployment environments and the secrets only their jobs see, and removing a repository secret.

use http::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::{
    classify::error,
    client::{GitHub, repo_path, seg},
    secrets::seal,
};
use crate::provider::{ErrorKind, ProviderError};

#[derive(Deserialize)]
struct PublicKeyJson {
    key_id: String,
    key: String,
}

#[derive(Deserialize)]
struct SecretsJson {
    secrets: Vec<SecretJson>,
}

#[derive(Deserialize)]
struct SecretJson {
    name: String,
}

/// The parts of GitHub's `environment` schema that say who may deploy.
#[derive(Debug, Clone, Deserialize)]
struct EnvironmentJson {
    #[serde(default)]
    protection_rules: Vec<RuleJson>,
    #[serde(default)]
    deployment_branch_policy: Option<BranchPolicyJson>,
}

#[derive(Debug, Clone, Deserialize)]
struct RuleJson {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    wait_timer: Option<u64>,
    #[serde(default)]
    reviewers: Vec<ReviewerJson>,
}

#[derive(Debug, Clone, Deserialize)]
struct ReviewerJson {
    #[serde(default)]
    reviewer: Option<ReviewerAccount>,
}

#[derive(Debug, Clone, Deserialize)]
struct ReviewerAccount {
    /// A user's login; teams carry `slug` instead.
    #[serde(default)]
    login: Option<String>,
    #[serde(default)]
    slug: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
struct BranchPolicyJson {
    protected_branches: bool,
    custom_branch_policies: bool,
}

#[derive(Deserialize)]
struct BranchPoliciesJson {
    branch_policies: Vec<BranchPolicyNameJson>,
}

#[derive(Deserialize)]
struct BranchPolicyNameJson {
    name: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

/// Who may deploy to an environment, as GitHub reports it: what the service page shows and what decides
/// whether an environment is the team's or still needs Shipyard's rule.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnvironmentRules {
    /// `protected branches only`, `custom: main, tag v*`, `reviewers: alice`, `wait timer: 5 min`, and any
    /// rule type GitHub adds (a deployment protection App) by its type, in GitHub's order.
    pub rules: Vec<String>,
}

impl EnvironmentRules {
    /// No rule at all: any branch of any writer may deploy (and assume an environment's role).
    pub fn is_unprotected(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules in words, `; `-separated.
    pub fn describe(&self) -> String {
        self.rules.join("; ")
    }

    /// Exactly Shipyard's rule for `branch` ([`default_branch_only`]), and nothing else.
    pub fn is_only(&self, branch: &str) -> bool {
        self.rules == [default_branch_only(branch)]
    }
}

/// Shipyard's rule for an environment it creates, in the words [`GitHub::environment_rules`] reports it:
/// a custom branch policy naming the default branch, the one branch the service's ruleset protects.
///
/// Not GitHub's "protected branches only": that counts only classic branch protection rules, not
/// rulesets ("if no branch protection rules are defined for any branch in the repository, then all
/// branches can deploy"), so with Shipyard's ruleset alone it would let every branch deploy.
pub fn default_branch_only(branch: &str) -> String {
    format!("custom: {branch}")
}

fn environment_path(owner: &str, name: &str, environment: &str) -> String {
    format!("{}/environments/{}", repo_path(owner, name), seg(environment))
}

impl GitHub {
    /// The environment's deployment rules; `None` when it does not exist. With custom branch policies,
    /// their names are read too (`GET .../deployment-branch-policies`).
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}"), environment = %environment))]
    pub async fn environment_rules(
        &self,
        owner: &str,
        name: &str,
        environment: &str,
    ) -> Result<Option<EnvironmentRules>, ProviderError> {
        let path = environment_path(owner, name, environment);
        let reply = self.call("github:get_environment", Method::GET, &path, None, &[404]).await?;
        if reply.status == http::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let found: EnvironmentJson = reply.json("environment")?;
        let mut rules = Vec::new();
        match found.deployment_branch_policy {
            Some(p) if p.protected_branches => rules.push("protected branches only".to_owned()),
            Some(p) if p.custom_branch_policies => {
                let path = format!("{path}/deployment-branch-policies?per_page=100");
                let listed: BranchPoliciesJson = self
                    .call("github:list_deployment_branch_policies", Method::GET, &path, None, &[])
                    .await?
                    .json("deployment branch policies")?;
                let names: Vec<String> = listed
                    .branch_policies
                    .iter()
                    .map(|p| match p.kind.as_deref() {
                        Some("tag") => format!("tag {}", p.name),
                        _ => p.name.clone(),
                    })
                    .collect();
                rules.push(if names.is_empty() {
                    "custom: no branch or tag may deploy".to_owned()
                } else {
                    format!("custom: {}", names.join(", "))
                });
            }
            _ => {}
        }
        for rule in &found.protection_rules {
            match rule.kind.as_str() {
                // Shown above, from the policy itself.
                "branch_policy" => {}
                "required_reviewers" => {
                    let names: Vec<String> = rule
                        .reviewers
                        .iter()
                        .filter_map(|r| r.reviewer.as_ref())
                        .filter_map(|a| a.login.clone().or_else(|| a.slug.clone()))
                        .collect();
                    rules.push(format!("reviewers: {}", names.join(", ")));
                }
                "wait_timer" => rules.push(format!("wait timer: {} min", rule.wait_timer.unwrap_or(0))),
                other => rules.push(other.replace('_', " ")),
            }
        }
        Ok(Some(EnvironmentRules { rules }))
    }

    /// Restricts the environment (creating it if needed) to jobs on `branch`: custom branch policies on,
    /// with a policy naming the branch (GitHub would answer a second one with a 303 to the first).
    /// Other settings are left out of the body, so they keep their values.
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}"), environment = %environment))]
    pub async fn protect_environment(
        &self,
        owner: &str,
        name: &str,
        environment: &str,
        branch: &str,
    ) -> Result<(), ProviderError> {
        let path = environment_path(owner, name, environment);
        let body = json!({
            "deployment_branch_policy": { "protected_branches": false, "custom_branch_policies": true }
        });
        self.call("github:put_environment", Method::PUT, &path, Some(&body), &[]).await?;
        // Policies outlive a `deployment_branch_policy: null`: look first, add only what is missing.
        let policies = format!("{path}/deployment-branch-policies");
        let listed: BranchPoliciesJson = self
            .call(
                "github:list_deployment_branch_policies",
                Method::GET,
                &format!("{policies}?per_page=100"),
                None,
                &[],
            )
            .await?
            .json("deployment branch policies")?;
        let named =
            |p: &BranchPolicyNameJson| p.name == branch && p.kind.as_deref().unwrap_or("branch") == "branch";
        if !listed.branch_policies.iter().any(named) {
            let body = json!({ "name": branch, "type": "branch" });
            self.call("github:create_deployment_branch_policy", Method::POST, &policies, Some(&body), &[])
                .await?;
        }
        Ok(())
    }

    /// Creates or updates an environment secret, sealed to that environment's own public key.
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}"), environment = %environment))]
    pub async fn put_environment_secret(
        &self,
        owner: &str,
        name: &str,
        environment: &str,
        secret_name: &str,
        value: &SecretString,
    ) -> Result<(), ProviderError> {
        let base = format!("{}/secrets", environment_path(owner, name, environment));
        let key: PublicKeyJson = self
            .call("github:environment_public_key", Method::GET, &format!("{base}/public-key"), None, &[])
            .await?
            .json("environment public key")?;
        let sealed = seal(&key.key, value.expose_secret().as_bytes())
            .map_err(|e| error(ErrorKind::Other, format!("could not encrypt secret {secret_name}: {e}")))?;
        let body = json!({ "encrypted_value": sealed, "key_id": key.key_id });
        let path = format!("{base}/{}", seg(secret_name));
        self.call("github:put_environment_secret", Method::PUT, &path, Some(&body), &[]).await?;
        Ok(())
    }

    /// Names of an environment's secrets; `None` when the environment does not exist.
    pub async fn environment_secret_names(
        &self,
        owner: &str,
        name: &str,
        environment: &str,
    ) -> Result<Option<Vec<String>>, ProviderError> {
        let path = format!("{}/secrets?per_page=100", environment_path(owner, name, environment));
        let reply = self.call("github:list_environment_secrets", Method::GET, &path, None, &[404]).await?;
        if reply.status == http::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let secrets: SecretsJson = reply.json("environment secrets")?;
        Ok(Some(secrets.secrets.into_iter().map(|s| s.name).collect()))
    }

    /// Removes a repository secret; one that is gone already is done.
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}")))]
    pub async fn delete_secret(
        &self,
        owner: &str,
        name: &str,
        secret_name: &str,
    ) -> Result<(), ProviderError> {
        let path = format!("{}/actions/secrets/{}", repo_path(owner, name), seg(secret_name));
        self.call("github:delete_secret", Method::DELETE, &path, None, &[404]).await?;
        Ok(())
    }

    /// Removes an environment secret; one that is gone (or whose environment is) is done.
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}"), environment = %environment))]
    pub async fn delete_environment_secret(
        &self,
        owner: &str,
        name: &str,
        environment: &str,
        secret_name: &str,
    ) -> Result<(), ProviderError> {
        let path = format!("{}/secrets/{}", environment_path(owner, name, environment), seg(secret_name));
        self.call("github:delete_environment_secret", Method::DELETE, &path, None, &[404]).await?;
        Ok(())
    }
}
