//! IAM policy documents and ARNs, built by pure functions so they can be checked without AWS.
//!
//! moto does not validate trust policies (AWS does, since the June 2025 GitHub OIDC guardrail), so
//! the exact shape of what we send is pinned by the unit tests below rather than by the emulator.

use serde_json::{Value, json};

/// GitHub Actions' OIDC issuer; also the key prefix of its claims in IAM conditions.
pub const GITHUB_OIDC_URL: &str = "https://token.actions.githubusercontent.com";
/// The audience GitHub's token carries when `aws-actions/configure-aws-credentials` asks for it.
pub const GITHUB_OIDC_AUDIENCE: &str = "sts.amazonaws.com";
/// IAM path for Shipyard's roles and policies, so the portal's own credentials can be scoped to
/// `role/shipyard/*` and `policy/shipyard/*` (security-contracts §2.4).
pub const IAM_PATH: &str = "/shipyard/";

const CLAIM_PREFIX: &str = "token.actions.githubusercontent.com";

/// The ECR actions a build needs to push (and, for layer caching, pull) one repository's images.
const ECR_PUSH_ACTIONS: [&str; 7] = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
];

/// Trust policy that lets only GitHub Actions runs on `branch` of one repository assume the role.
///
/// `sub_claim_prefix` is what GitHub's `oidc/customization/sub` endpoint says the repository's
/// subject starts with (for example `repo:acme/api` or the immutable `repo:acme@1/api@2` form).
/// Exact `StringEquals` on both `sub` and `aud`: a wildcard here would let other repositories in.
pub fn trust_policy(provider_arn: &str, sub_claim_prefix: &str, branch: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "GitHubActionsDefaultBranchOnly",
            "Effect": "Allow",
            "Principal": { "Federated": provider_arn },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    format!("{CLAIM_PREFIX}:sub"): format!("{sub_claim_prefix}:ref:refs/heads/{branch}"),
                    format!("{CLAIM_PREFIX}:aud"): GITHUB_OIDC_AUDIENCE,
                }
            }
        }]
    })
}

/// Permission policy: push to exactly one ECR repository, plus the registry login that cannot be scoped.
pub fn ecr_push_policy(repository_arn: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PushThisRepositoryOnly",
                "Effect": "Allow",
                "Action": ECR_PUSH_ACTIONS,
                "Resource": repository_arn,
            },
            {
                // GetAuthorizationToken has no resource-level permissions: `*` is the only valid resource.
                "Sid": "EcrLogin",
                "Effect": "Allow",
                "Action": "ecr:GetAuthorizationToken",
                "Resource": "*",
            }
        ]
    })
}

/// ARN of the account's GitHub OIDC provider (IAM derives it from the URL without its scheme).
pub fn oidc_provider_arn(account_id: &str) -> String {
    let host = GITHUB_OIDC_URL.trim_start_matches("https://");
    format!("arn:aws:iam::{account_id}:oidc-provider/{host}")
}

/// ARN of a Shipyard-managed IAM policy (they all live under [`IAM_PATH`]).
pub fn policy_arn(account_id: &str, name: &str) -> String {
    format!("arn:aws:iam::{account_id}:policy{IAM_PATH}{name}")
}

/// ARN of a private ECR repository.
pub fn ecr_repository_arn(region: &str, account_id: &str, name: &str) -> String {
    format!("arn:aws:ecr:{region}:{account_id}:repository/{name}")
}

/// Parses a policy document as IAM returns it: URL-encoded (RFC 3986) JSON.
pub fn decode_policy_document(encoded: &str) -> Result<Value, String> {
    let text = percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .map_err(|e| format!("policy document is not UTF-8 after URL-decoding: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("policy document is not JSON: {e}"))
}

/// True when two policy documents grant the same thing, whatever their formatting.
///
/// IAM and moto may reorder lists or collapse a one-element list to a string, so every list is
/// compared as a set and `["x"]` equals `"x"`; in IAM's grammar every list is a set.
pub fn policies_equivalent(a: &Value, b: &Value) -> bool {
    normalize(a) == normalize(b)
}

fn normalize(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), normalize(v))).collect()),
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(normalize).collect();
            items.sort_by_cached_key(Value::to_string);
            items.dedup();
            match <[Value; 1]>::try_from(items) {
                Ok([single]) => single,
                Err(items) => Value::Array(items),
            }
        }
        scalar => scalar.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROVIDER: &str = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";

    #[test]
    fn trust_policy_allows_only_the_default_branch_of_one_repository() {
        let expected = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "GitHubActionsDefaultBranchOnly",
                "Effect": "Allow",
                "Principal": { "Federated": PROVIDER },
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        "token.actions.githubusercontent.com:sub": "repo:acme/api:ref:refs/heads/main",
                        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com"
                    }
                }
            }]
        });
        assert_eq!(trust_policy(PROVIDER, "repo:acme/api", "main"), expected);
    }

    #[test]
    fn trust_policy_keeps_an_immutable_subject_prefix_verbatim() {
        let policy = trust_policy(PROVIDER, "repo:acme@1000/api@42", "trunk");
        let sub =
            &policy["Statement"][0]["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"];
        assert_eq!(sub, "repo:acme@1000/api@42:ref:refs/heads/trunk");
        assert!(!policy.to_string().contains('*'), "no wildcard may appear in a trust policy");
    }

    #[test]
    fn ecr_push_policy_is_scoped_to_one_repository_plus_login() {
        let repo = "arn:aws:ecr:us-east-1:123456789012:repository/api";
        let expected = json!({
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "PushThisRepositoryOnly",
                    "Effect": "Allow",
                    "Action": [
                        "ecr:BatchCheckLayerAvailability",
                        "ecr:BatchGetImage",
                        "ecr:CompleteLayerUpload",
                        "ecr:GetDownloadUrlForLayer",
                        "ecr:InitiateLayerUpload",
                        "ecr:PutImage",
                        "ecr:UploadLayerPart"
                    ],
                    "Resource": repo
                },
                { "Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*" }
            ]
        });
        assert_eq!(ecr_push_policy(repo), expected);
    }

    #[test]
    fn arns_follow_the_aws_formats() {
        assert_eq!(oidc_provider_arn("123456789012"), PROVIDER);
        assert_eq!(
            policy_arn("123456789012", "ecr-push-api"),
            "arn:aws:iam::123456789012:policy/shipyard/ecr-push-api"
        );
        assert_eq!(
            ecr_repository_arn("eu-west-1", "123456789012", "api"),
            "arn:aws:ecr:eu-west-1:123456789012:repository/api"
        );
    }

    #[test]
    fn a_url_encoded_document_decodes_to_the_same_json() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(
            decode_policy_document(encoded).unwrap(),
            json!({"Version": "2012-10-17", "Statement": []})
        );
        assert!(decode_policy_document("%7Bnot json").is_err());
    }

    #[test]
    fn reordered_lists_and_single_element_lists_are_equivalent() {
        let ours = ecr_push_policy("arn:aws:ecr:us-east-1:1:repository/api");
        let mut theirs = ours.clone();
        theirs["Statement"].as_array_mut().unwrap().reverse();
        theirs["Statement"][1]["Action"].as_array_mut().unwrap().reverse();
        theirs["Statement"][0]["Action"] = json!(["ecr:GetAuthorizationToken"]);
        assert!(policies_equivalent(&ours, &theirs));
    }

    #[test]
    fn a_different_branch_or_resource_is_not_equivalent() {
        let main = trust_policy(PROVIDER, "repo:acme/api", "main");
        assert!(!policies_equivalent(&main, &trust_policy(PROVIDER, "repo:acme/api", "dev")));
        let api = ecr_push_policy("arn:aws:ecr:us-east-1:1:repository/api");
        assert!(!policies_equivalent(&api, &ecr_push_policy("arn:aws:ecr:us-east-1:1:repository/web")));
    }
}
