//! Extra push roles on a service: one more branch, release tags, or a deployment environment. Each
//! is parsed once here into what IAM and GitHub need: the role's name (its IAM role name's last
//! part, also its name in the API), the `sub` its trust admits, and where its ARN is stored.

pub use super::status::RoleKind;
use super::{BranchName, ServiceName, names::iam_clean};

/// The environment secret an environment role's ARN is stored in (each environment has its own).
pub const ENVIRONMENT_ROLE_SECRET: &str = "GHA_ENVIRONMENT_ROLE_ARN";

/// The longest environment name we accept; with the other parts it still has to fit IAM's 64.
pub const ENVIRONMENT_MAX: usize = 40;

/// A push role as asked for, checked: which runs it admits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRoleSpec {
    pub kind: RoleKind,
    /// The branch, the tag pattern (`v*`) or the environment, as given.
    pub value: String,
}

impl PushRoleSpec {
    /// The API's field for each kind: `{"branch": ...}`, `{"tag_pattern": ...}`, `{"environment": ...}`.
    pub fn field(kind: RoleKind) -> &'static str {
        match kind {
            RoleKind::Branch => "branch",
            RoleKind::Tag => "tag_pattern",
            RoleKind::Environment => "environment",
        }
    }

    /// Parses one value of `kind`; the error is the message for that field.
    pub fn parse(kind: RoleKind, raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        let value = match kind {
            RoleKind::Branch => {
                if s.contains('*') {
                    return Err("A branch role names exactly one branch; a wildcard is only allowed in a \
                                release-tag pattern."
                        .into());
                }
                BranchName::parse(s).map_err(|e| e.replace("Enter a default branch", "Enter a branch"))?;
                s.to_owned()
            }
            RoleKind::Tag => parse_tag_pattern(s)?,
            RoleKind::Environment => parse_environment(s)?,
        };
        Ok(Self { kind, value })
    }

    /// The role's name: the last part of its IAM role name, unique within the service.
    pub fn name(&self) -> String {
        match self.kind {
            RoleKind::Branch => iam_clean(&self.value),
            RoleKind::Tag => format!("tag-{}", iam_clean(self.value.trim_end_matches('*'))),
            RoleKind::Environment => format!("env-{}", iam_clean(&self.value)),
        }
    }

    /// The part of the `sub` claim after the repository's subject prefix that the trust admits.
    pub fn context(&self) -> String {
        match self.kind {
            RoleKind::Branch => format!("ref:refs/heads/{}", self.value),
            RoleKind::Tag => format!("ref:refs/tags/{}", self.value),
            RoleKind::Environment => format!("environment:{}", self.value),
        }
    }

    /// The `sub` claim the trust admits, after the repository's subject prefix.
    pub fn subject(&self, sub_claim_prefix: &str) -> String {
        format!("{sub_claim_prefix}:{}", self.context())
    }

    /// Only a tag pattern brings a wildcard of its own (`StringLike`); everything else is exact.
    pub fn is_pattern(&self) -> bool {
        self.kind == RoleKind::Tag && self.value.ends_with('*')
    }

    /// Where the ARN goes: a repository secret for branch and tag roles, named after what they admit
    /// (`GHA_BRANCH_RELEASE_ROLE_ARN`, `GHA_TAG_V_ROLE_ARN`), or the environment's own
    /// [`ENVIRONMENT_ROLE_SECRET`]. Two branches that fold to one name (`release-1`, `release_1`)
    /// are refused when the second is added, never stored over each other.
    pub fn secret(&self) -> String {
        let fold = |s: &str| -> String {
            s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
        };
        match self.kind {
            RoleKind::Branch => format!("GHA_BRANCH_{}_ROLE_ARN", fold(&self.value)),
            RoleKind::Tag => format!("GHA_TAG_{}_ROLE_ARN", fold(self.value.trim_end_matches('*'))),
            RoleKind::Environment => ENVIRONMENT_ROLE_SECRET.to_owned(),
        }
    }

    /// How the page and the audit trail say it: `branch release`, `tags v*`, `environment production`.
    pub fn describe(&self) -> String {
        match self.kind {
            RoleKind::Branch => format!("branch {}", self.value),
            RoleKind::Tag => format!("tags {}", self.value),
            RoleKind::Environment => format!("environment {}", self.value),
        }
    }
}

/// A literal prefix that is a valid ref name, then at most one `*`, at the end.
fn parse_tag_pattern(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("Enter a tag pattern, such as v*.".into());
    }
    let literal = s.strip_suffix('*').unwrap_or(s);
    if literal.is_empty() {
        return Err("A lone * would admit every tag; put a literal before it, such as v*.".into());
    }
    if literal.contains('*') {
        return Err("Only one *, at the end, after a literal prefix (such as v* or release-*).".into());
    }
    BranchName::parse(literal)
        .map_err(|e| e.replace("Not a valid git branch name", "Not a valid tag prefix"))
        .map(|_| s.to_owned())
}

/// GitHub allows more, but the name becomes part of an IAM role name: letters, digits, `.`, `_`, `-`.
fn parse_environment(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("Enter an environment name, such as production.".into());
    }
    if s.len() > ENVIRONMENT_MAX {
        return Err(format!("Use at most {ENVIRONMENT_MAX} characters (this one has {}).", s.len()));
    }
    if !s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
        return Err("Use letters, digits, . _ and - only.".into());
    }
    // The name is a path segment of GitHub API calls: `.` and `..` would be resolved away by the
    // HTTP client and steer the call to another endpoint.
    if s.starts_with('.') {
        return Err("An environment name cannot start with . (nor be . or ..).".into());
    }
    Ok(s.to_owned())
}

/// The IAM role name of an extra role of `service`: the service's prefix, then the role's name.
pub fn iam_role_name(org: &str, service: &ServiceName, environment: &str, role_name: &str) -> String {
    format!("gha.{}.{}.{}.{}", iam_clean(org), service, environment, role_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: RoleKind, value: &str) -> PushRoleSpec {
        PushRoleSpec::parse(kind, value).unwrap()
    }

    #[test]
    fn each_kind_admits_its_own_subject() {
        let prefix = "repo:acme/payments";
        assert_eq!(
            spec(RoleKind::Branch, "release").subject(prefix),
            "repo:acme/payments:ref:refs/heads/release"
        );
        assert_eq!(spec(RoleKind::Tag, "v*").subject(prefix), "repo:acme/payments:ref:refs/tags/v*");
        assert_eq!(
            spec(RoleKind::Environment, "production").subject(prefix),
            "repo:acme/payments:environment:production"
        );
        assert!(spec(RoleKind::Tag, "v*").is_pattern());
        assert!(!spec(RoleKind::Tag, "v1.0.0").is_pattern());
    }

    #[test]
    fn names_and_secrets_are_derived_per_kind() {
        let tag = spec(RoleKind::Tag, "v*");
        assert_eq!((tag.name(), tag.secret()), ("tag-v".into(), "GHA_TAG_V_ROLE_ARN".into()));
        let branch = spec(RoleKind::Branch, "release/1.2");
        assert_eq!(branch.name(), "release-1.2");
        assert_eq!(branch.secret(), "GHA_BRANCH_RELEASE_1_2_ROLE_ARN");
        let env = spec(RoleKind::Environment, "production");
        assert_eq!((env.name(), env.secret()), ("env-production".into(), ENVIRONMENT_ROLE_SECRET.into()));
    }

    #[test]
    fn wildcards_are_refused_everywhere_but_a_trailing_tag_star() {
        assert!(PushRoleSpec::parse(RoleKind::Branch, "release-*").unwrap_err().contains("wildcard"));
        assert!(PushRoleSpec::parse(RoleKind::Tag, "*").unwrap_err().contains("lone *"));
        assert!(PushRoleSpec::parse(RoleKind::Tag, "v*.*").unwrap_err().contains("Only one *"));
        assert!(PushRoleSpec::parse(RoleKind::Tag, "*v").unwrap_err().contains("Only one *"));
        assert!(PushRoleSpec::parse(RoleKind::Tag, "v..1*").unwrap_err().contains("tag prefix"));
        assert!(PushRoleSpec::parse(RoleKind::Environment, "prod*").is_err());
        assert!(PushRoleSpec::parse(RoleKind::Environment, "").is_err());
        assert!(PushRoleSpec::parse(RoleKind::Branch, "a b").is_err());
    }

    /// Values that would be a policy variable in the trust policy or a dot segment in a GitHub API
    /// path are refused, whatever the kind; their neighbours that are harmless are accepted.
    #[test]
    fn policy_variables_and_dot_segments_are_refused() {
        let cases: &[(RoleKind, &str, bool)] = &[
            (RoleKind::Branch, "${aws:username}", false),
            (RoleKind::Branch, "release-${x}", false),
            (RoleKind::Branch, ".", false),
            (RoleKind::Branch, "..", false),
            (RoleKind::Branch, ".hidden", false),
            (RoleKind::Branch, "a/.b", false),
            (RoleKind::Branch, "a/../b", false),
            (RoleKind::Branch, "price$5", true),
            (RoleKind::Branch, "release/1.2", true),
            (RoleKind::Tag, "${x}*", false),
            (RoleKind::Tag, "v${x}*", false),
            (RoleKind::Tag, ".v*", false),
            (RoleKind::Tag, "..*", false),
            (RoleKind::Tag, "release-*", true),
            (RoleKind::Environment, ".", false),
            (RoleKind::Environment, "..", false),
            (RoleKind::Environment, ".prod", false),
            (RoleKind::Environment, "${x}", false),
            (RoleKind::Environment, "prod.eu", true),
            (RoleKind::Environment, "prod.", true),
        ];
        for (kind, value, accepted) in cases {
            let parsed = PushRoleSpec::parse(*kind, value);
            assert_eq!(parsed.is_ok(), *accepted, "{kind:?} {value:?}: {parsed:?}");
        }
    }
}
