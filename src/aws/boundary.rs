//! The permissions boundary every role Shipyard creates carries (`SHIPYARD_PERMISSIONS_BOUNDARY`).
//!
//! Shipyard's own policy (`deploy/aws/shipyard-policy.json`) lets it write policies under `/shipyard/`
//! and attach them to its roles; a boundary it cannot write caps what any of those roles can ever do
//! (IAM grants a role only what its policies *and* its boundary allow), so even a compromised Shipyard
//! cannot mint an administrator. The boundary must therefore live outside the paths Shipyard writes.

use std::fmt;

use super::policy::IAM_PATH;

/// An IAM managed policy ARN (`arn:PARTITION:iam::ACCOUNT:policy/[PATH/]NAME`) outside `/shipyard/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionsBoundary(String);

impl PermissionsBoundary {
    /// Parses an ARN; the error says what is wrong (for the start-up line naming the variable).
    pub fn parse(arn: &str) -> Result<Self, String> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let ["arn", partition, "iam", "", account, resource] = parts.as_slice() else {
            return Err(format!(
                "expected an IAM policy ARN such as arn:aws:iam::123456789012:policy/shipyard-boundary, got {arn:?}"
            ));
        };
        let partition_ok =
            partition.starts_with("aws") && partition.chars().all(|c| c.is_ascii_lowercase() || c == '-');
        let account_ok = account.len() == 12 && account.chars().all(|c| c.is_ascii_digit());
        let Some(path_and_name) = resource.strip_prefix("policy/") else {
            return Err(format!("expected an IAM policy ARN (…:policy/NAME), got {arn:?}"));
        };
        let name = path_and_name.rsplit('/').next().unwrap_or_default();
        let name_ok = !name.is_empty()
            && name.len() <= 128
            && name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c));
        let path_ok = path_and_name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@-_/".contains(c))
            && !path_and_name.contains("//");
        if !(partition_ok && account_ok && name_ok && path_ok) {
            return Err(format!(
                "expected an IAM policy ARN such as arn:aws:iam::123456789012:policy/shipyard-boundary, got {arn:?}"
            ));
        }
        if format!("/{path_and_name}").starts_with(IAM_PATH) {
            return Err(format!(
                "names a policy under {IAM_PATH}, which Shipyard may rewrite: the boundary must be a policy Shipyard \
                 cannot change (e.g. arn:aws:iam::{account}:policy/shipyard-boundary)"
            ));
        }
        Ok(Self(arn.to_owned()))
    }

    pub fn arn(&self) -> &str {
        &self.0
    }

    /// The same policy (path and name) in `account`: each target account holds its own boundary
    /// (a role's boundary must be a policy of the role's account).
    pub fn in_account(&self, account: &str) -> Self {
        let mut parts: Vec<&str> = self.0.splitn(6, ':').collect();
        if parts.len() == 6 {
            parts[4] = account;
        }
        Self(parts.join(":"))
    }
}

impl fmt::Display for PermissionsBoundary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::PermissionsBoundary;

    #[test]
    fn a_policy_arn_outside_shipyards_path_is_a_boundary() {
        for ok in [
            "arn:aws:iam::123456789012:policy/shipyard-boundary",
            "arn:aws:iam::123456789012:policy/platform/shipyard-boundary",
            "arn:aws-cn:iam::123456789012:policy/b",
        ] {
            assert_eq!(PermissionsBoundary::parse(ok).unwrap().arn(), ok);
        }
    }

    #[test]
    fn anything_else_is_refused_saying_why() {
        for bad in [
            "",
            "shipyard-boundary",
            "arn:aws:iam::123456789012:role/shipyard-boundary",
            "arn:aws:iam::12345:policy/x",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::123456789012:policy/",
            "arn:aws:iam::123456789012:policy/bad name",
            "arn:aws:iam::aws:policy/AdministratorAccess",
        ] {
            assert!(PermissionsBoundary::parse(bad).unwrap_err().contains("expected"), "{bad}");
        }
        let under =
            PermissionsBoundary::parse("arn:aws:iam::123456789012:policy/shipyard/boundary").unwrap_err();
        assert!(under.contains("Shipyard may rewrite"), "{under}");
    }
}
