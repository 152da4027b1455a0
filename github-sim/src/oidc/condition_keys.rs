//! The request context STS evaluates a trust policy with for an Actions token.
//!
//! `<issuer>:sub` and `<issuer>:aud` always; since January 2026 also GitHub's own claims (AWS what's-new
//! "AWS STS supports validation of identity provider claims", configure-aws-credentials README c993d61),
//! each as `<issuer>:<claim>` with the token's string value. A claim the token lacks (`environment` outside
//! an environment job) is absent from the context, so a positive condition on it does not hold.

use serde_json::{Map, Value};

use crate::iam::Context;

/// The GitHub claims STS accepts as trust-policy condition keys, besides `sub` and `aud`.
pub const AWS_GITHUB_CLAIM_KEYS: &[&str] = &[
    "repository",
    "repository_id",
    "repository_owner_id",
    "ref",
    "environment",
    "workflow",
    "job_workflow_ref",
    "actor",
    "actor_id",
    "enterprise_id",
];

/// The context for `AssumeRoleWithWebIdentity` with a token of `claims` from the issuer at `host_path`
/// (the issuer URL without `https://`, which is also the IAM provider's name).
pub fn trust_context(host_path: &str, claims: &Map<String, Value>) -> Context {
    let mut context = Context::default();
    for key in ["sub", "aud"].iter().chain(AWS_GITHUB_CLAIM_KEYS) {
        if let Some(value) = claims.get(*key).and_then(Value::as_str) {
            context.insert(&format!("{host_path}:{key}"), value);
        }
    }
    context
}
