//! IAM policy documents and ARNs, built by pure functions so they can be checked without AWS.
//!
//! moto does not validate trust policies (AWS does, since the June 2025 GitHub OIDC guardrail), so
//! the exact shape of what we send is pinned by the unit tests below rather than by the emulator.

use serde_json::{Value, json};

use crate::domain::{PushRoleSpec, SubjectPrefix};

/// github.com's Actions OIDC issuer (GHES uses `https://HOST/_services/token`, a GHEC enterprise with
/// its own issuer `https://token.actions.githubusercontent.com/SLUG`; see [`OidcIssuer`]).
pub const GITHUB_OIDC_URL: &str = "https://token.actions.githubusercontent.com";
/// The audience GitHub's token carries when `aws-actions/configure-aws-credentials` asks for it.
pub const GITHUB_OIDC_AUDIENCE: &str = "sts.amazonaws.com";
/// IAM path for Shipyard's roles and policies, so the portal's own credentials can be scoped to
/// `role/shipyard/*` and `policy/shipyard/*` (security-contracts §2.4).
pub const IAM_PATH: &str = "/shipyard/";

/// The issuer of the OIDC tokens GitHub Actions runs present: `https://` and a host, maybe a path.
/// Its URL without the scheme names the IAM OIDC provider and prefixes the claims' condition keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcIssuer(String);

impl OidcIssuer {
    pub fn github_com() -> Self {
        Self(GITHUB_OIDC_URL.to_owned())
    }

    /// An `https://` URL with a host, no query, fragment or trailing slash (IAM refuses the rest).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = url::Url::parse(raw.trim()).map_err(|e| format!("not a URL ({e})"))?;
        if url.scheme() != "https" || url.host_str().is_none() {
            return Err("must be an https:// URL with a host".into());
        }
        if url.query().is_some() || url.fragment().is_some() || url.username() != "" {
            return Err("must not carry a query, a fragment or credentials".into());
        }
        Ok(Self(url.as_str().trim_end_matches('/').to_owned()))
    }

    pub fn url(&self) -> &str {
        &self.0
    }

    /// `host[/path]`: the IAM provider's name and the prefix of its claims' condition keys.
    pub fn key(&self) -> &str {
        self.0.trim_start_matches("https://")
    }
}

/// The account Shipyard's credentials act in, and its partition (`aws`, `aws-us-gov`, `aws-cn`), both
/// from `GetCallerIdentity`: every ARN Shipyard writes is built from these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub partition: String,
    pub id: String,
}

impl Account {
    /// From the caller's ARN (`arn:PARTITION:sts::ACCOUNT:...`) and account id.
    pub fn from_caller(arn: &str, id: &str) -> Self {
        let partition = arn.split(':').nth(1).filter(|p| !p.is_empty()).unwrap_or("aws");
        Self { partition: partition.to_owned(), id: id.to_owned() }
    }

    /// ARN of the account's OIDC provider for `issuer` (IAM derives it from the URL without its scheme).
    pub fn oidc_provider_arn(&self, issuer: &OidcIssuer) -> String {
        format!("arn:{}:iam::{}:oidc-provider/{}", self.partition, self.id, issuer.key())
    }

    /// ARN of a Shipyard-managed IAM policy (they all live under [`IAM_PATH`]).
    pub fn policy_arn(&self, name: &str) -> String {
        format!("arn:{}:iam::{}:policy{IAM_PATH}{name}", self.partition, self.id)
    }

    /// ARN of a private ECR repository.
    pub fn ecr_repository_arn(&self, region: &str, name: &str) -> String {
        format!("arn:{}:ecr:{region}:{}:repository/{name}", self.partition, self.id)
    }
}

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
/// The repository is named by its checked [`SubjectPrefix`]: for immutable subjects by its ids only
/// (`StringLike sub = repo:*@OWNER_ID/*@REPO_ID:ref:refs/heads/BRANCH` and `StringEquals
/// repository_id`), so a rename of the repository or its organization keeps the trust; for the
/// legacy `repo:OWNER/NAME` form by exact `StringEquals` on the names. `aud` is always exact.
pub fn trust_policy(provider_arn: &str, issuer: &OidcIssuer, prefix: &SubjectPrefix, branch: &str) -> Value {
    let subject = prefix.subject(&format!("ref:refs/heads/{branch}"));
    trust_document("GitHubActionsDefaultBranchOnly", provider_arn, issuer, prefix, &subject, false)
}

/// Trust policy of an extra push role: only the runs `spec` admits (one branch, a deployment
/// environment, or tags matching a pattern: `...:ref:refs/tags/v*`, where the trailing `*` is the one
/// wildcard a value may bring). The repository is pinned as in [`trust_policy`].
pub fn push_role_trust_policy(
    provider_arn: &str,
    issuer: &OidcIssuer,
    prefix: &SubjectPrefix,
    spec: &PushRoleSpec,
) -> Value {
    let subject = prefix.subject(&spec.context());
    trust_document("GitHubActionsPushRole", provider_arn, issuer, prefix, &subject, spec.is_pattern())
}

fn trust_document(
    sid: &str,
    provider_arn: &str,
    issuer: &OidcIssuer,
    prefix: &SubjectPrefix,
    subject: &str,
    pattern: bool,
) -> Value {
    let key = issuer.key();
    let (sub, aud) = (format!("{key}:sub"), format!("{key}:aud"));
    let mut exact = serde_json::Map::new();
    exact.insert(aud, json!(GITHUB_OIDC_AUDIENCE));
    if let Some(id) = prefix.repository_id() {
        // The id is in the token whatever the subject template says, and a name can never fake it.
        exact.insert(format!("{key}:repository_id"), json!(id.to_string()));
    }
    let condition = if pattern || prefix.is_pattern() {
        json!({ "StringEquals": exact, "StringLike": { sub: subject } })
    } else {
        exact.insert(sub, json!(subject));
        json!({ "StringEquals": exact })
    };
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": sid,
            "Effect": "Allow",
            "Principal": { "Federated": provider_arn },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": condition,
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
        assert_eq!(
            trust_policy(PROVIDER, &OidcIssuer::github_com(), &legacy("acme", "api"), "main"),
            expected
        );
    }

    fn legacy(owner: &str, name: &str) -> SubjectPrefix {
        SubjectPrefix::Legacy { owner: owner.into(), name: name.into() }
    }

    const IMMUTABLE: SubjectPrefix = SubjectPrefix::Immutable { owner_id: 1000, repo_id: 42 };

    #[test]
    fn an_immutable_subject_is_pinned_on_the_ids_not_the_names() {
        let policy = trust_policy(PROVIDER, &OidcIssuer::github_com(), &IMMUTABLE, "trunk");
        assert_eq!(
            policy["Statement"][0]["Condition"],
            json!({
                "StringEquals": {
                    "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                    "token.actions.githubusercontent.com:repository_id": "42",
                },
                "StringLike": {
                    "token.actions.githubusercontent.com:sub": "repo:*@1000/*@42:ref:refs/heads/trunk",
                },
            })
        );
    }

    /// STS's verdict on `trust` for a token with `sub` and `repository_id`, by github-sim's evaluator.
    fn admits(trust: &Value, sub: &str, repository_id: &str) -> bool {
        use github_sim::iam::{Decision, Policy, Request, evaluate};
        let claims = json!({ "sub": sub, "aud": "sts.amazonaws.com", "repository_id": repository_id });
        let context =
            github_sim::trust_context("token.actions.githubusercontent.com", claims.as_object().unwrap());
        let request = Request {
            action: "sts:AssumeRoleWithWebIdentity",
            resource: None,
            principal: Some(("Federated", PROVIDER)),
            context: &context,
        };
        evaluate(&[Policy::parse(&trust.to_string()).unwrap()], &request) == Decision::Allow
    }

    /// The `*`s stand for names, and a name cannot contain `@`, `/` or `:`: so whatever other
    /// repository, owner, branch or environment a token comes from, its default subject does not
    /// match, even with the ids of ours spelled into its names or branch. Renames do match.
    #[test]
    fn the_id_pinned_subject_admits_renames_and_nothing_else() {
        let issuer = OidcIssuer::github_com();
        let main = trust_policy(PROVIDER, &issuer, &IMMUTABLE, "main");
        let production = PushRoleSpec::parse(crate::domain::RoleKind::Environment, "production").unwrap();
        let env = push_role_trust_policy(PROVIDER, &issuer, &IMMUTABLE, &production);
        for renamed in ["repo:acme@1000/api@42", "repo:acme-corp@1000/api-v2@42", "repo:x@1000/y.z_w@42"] {
            assert!(admits(&main, &format!("{renamed}:ref:refs/heads/main"), "42"), "{renamed}");
            assert!(admits(&env, &format!("{renamed}:environment:production"), "42"), "{renamed}");
        }
        // Owners, names and branches an attacker can choose (some not even valid on GitHub), with ids.
        let owners = ["acme", "evil", "acme-1000", "x1000", "acme.evil"];
        let names = ["api", "api-42", "42", "x@42", "api.42", "evil"];
        let refs = [
            "refs/heads/main",
            "refs/heads/dev",
            "refs/heads/main@42",
            "refs/heads/x@1000/y@42",
            "refs/heads/@1000/@42",
            "refs/tags/main",
            "refs/heads/mainx",
        ];
        let ids = [("1000", "43"), ("1001", "42"), ("2000", "7"), ("10000", "420"), ("100", "4")];
        let mut tried = 0;
        for owner in owners {
            for name in names {
                for (oid, rid) in ids {
                    for git_ref in refs {
                        for sub in [
                            format!("repo:{owner}@{oid}/{name}@{rid}:ref:{git_ref}"),
                            format!("repo:{owner}/{name}:ref:{git_ref}"),
                        ] {
                            // Ours by id only on the exact branch; the names may be anything.
                            let ours = oid == "1000" && rid == "42" && git_ref == "refs/heads/main";
                            assert!(!admits(&main, &sub, rid) || ours, "{sub} was admitted");
                            tried += 1;
                        }
                    }
                    let sub = format!("repo:{owner}@{oid}/{name}@{rid}:environment:production");
                    assert!(!admits(&main, &sub, rid), "{sub} was admitted by the branch role");
                    assert_eq!(admits(&env, &sub, rid), oid == "1000" && rid == "42", "{sub}");
                }
            }
        }
        assert!(tried > 1000);
        // A subject the pattern alone would take: a customized template on another repository that
        // spells our ids into free text (a workflow name may contain anything). The token's
        // repository id is its own, so the trust refuses it.
        let crafted = "repo:evil@5/x@6:workflow:y@1000/z@42:ref:refs/heads/main";
        assert!(!admits(&main, crafted, "6"));
        assert!(admits(&main, crafted, "42"), "only the repository_id condition refuses it");
    }

    #[test]
    fn a_legacy_subject_keeps_the_names_exactly() {
        let policy = trust_policy(PROVIDER, &OidcIssuer::github_com(), &legacy("acme", "api"), "main");
        assert!(!policy.to_string().contains('*'), "no wildcard for a legacy prefix");
        assert!(admits(&policy, "repo:acme/api:ref:refs/heads/main", "42"));
        assert!(!admits(&policy, "repo:acme/api2:ref:refs/heads/main", "42"));
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
        let account = Account::from_caller("arn:aws:iam::123456789012:user/shipyard", "123456789012");
        assert_eq!(account.oidc_provider_arn(&OidcIssuer::github_com()), PROVIDER);
        assert_eq!(
            account.policy_arn("ecr-push-api"),
            "arn:aws:iam::123456789012:policy/shipyard/ecr-push-api"
        );
        assert_eq!(
            account.ecr_repository_arn("eu-west-1", "api"),
            "arn:aws:ecr:eu-west-1:123456789012:repository/api"
        );
    }

    #[test]
    fn the_partition_comes_from_the_callers_arn() {
        let gov =
            Account::from_caller("arn:aws-us-gov:sts::123456789012:assumed-role/shipyard/s", "123456789012");
        assert_eq!(gov.policy_arn("p"), "arn:aws-us-gov:iam::123456789012:policy/shipyard/p");
        assert_eq!(
            gov.ecr_repository_arn("us-gov-west-1", "api"),
            "arn:aws-us-gov:ecr:us-gov-west-1:123456789012:repository/api"
        );
    }

    #[test]
    fn an_enterprise_server_issuer_names_the_provider_and_the_condition_keys() {
        let ghes = OidcIssuer::parse("https://github.example.com/_services/token/").unwrap();
        assert_eq!(ghes.key(), "github.example.com/_services/token");
        let policy = trust_policy(
            "arn:aws:iam::1:oidc-provider/github.example.com/_services/token",
            &ghes,
            &legacy("o", "r"),
            "main",
        );
        let conditions = &policy["Statement"][0]["Condition"]["StringEquals"];
        assert_eq!(conditions["github.example.com/_services/token:sub"], "repo:o/r:ref:refs/heads/main");
        assert_eq!(conditions["github.example.com/_services/token:aud"], "sts.amazonaws.com");
        for bad in ["http://token.example.com", "token.example.com", "https://t.example.com/?x=1"] {
            assert!(OidcIssuer::parse(bad).is_err(), "{bad}");
        }
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
        let main = trust_policy(PROVIDER, &OidcIssuer::github_com(), &legacy("acme", "api"), "main");
        assert!(!policies_equivalent(
            &main,
            &trust_policy(PROVIDER, &OidcIssuer::github_com(), &legacy("acme", "api"), "dev")
        ));
        let api = ecr_push_policy("arn:aws:ecr:us-east-1:1:repository/api");
        assert!(!policies_equivalent(&api, &ecr_push_policy("arn:aws:ecr:us-east-1:1:repository/web")));
    }
}
