//! Names the user chooses, and the AWS names derived from them.

use std::fmt;

/// A service name: lower-case letters, digits and single hyphens, starting with a letter, 2 to 40
/// characters. It names the GitHub repository and the ECR repository, so it must suit both.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceName(String);

impl ServiceName {
    pub const MIN_LEN: usize = 2;
    pub const MAX_LEN: usize = 40;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("Enter a service name.".into());
        }
        if s.len() < Self::MIN_LEN || s.len() > Self::MAX_LEN {
            return Err(format!(
                "Use {} to {} characters (this one has {}).",
                Self::MIN_LEN,
                Self::MAX_LEN,
                s.chars().count()
            ));
        }
        if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err("Start with a lower-case letter.".into());
        }
        if !s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err("Use only lower-case letters, digits and hyphens.".into());
        }
        if s.ends_with('-') || s.contains("--") {
            return Err("Hyphens go between letters or digits, one at a time.".into());
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One of the configured environments (`SHIPYARD_ENVIRONMENTS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment(String);

impl Environment {
    pub fn parse(raw: &str, allowed: &[String]) -> Result<Self, String> {
        let s = raw.trim();
        if allowed.iter().any(|e| e == s) {
            Ok(Self(s.to_owned()))
        } else if s.is_empty() {
            Err("Choose an environment.".into())
        } else {
            Err(format!("Choose one of: {}.", allowed.join(", ")))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

crate::domain::status::text_enum! {
    /// Who can see the new GitHub repository. Private unless the user chooses otherwise.
    Visibility {
        Private = "private",
        Internal = "internal",
        Public = "public",
    }
}

// `text_enum!` derives a fixed set of traits, so the default is written out.
#[allow(clippy::derivable_impls)]
impl Default for Visibility {
    fn default() -> Self {
        Self::Private
    }
}

impl Visibility {
    /// The form's radio value; an empty one is the default, private.
    pub fn from_form(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "" => Ok(Self::default()),
            other => Self::parse(other).ok_or_else(|| "Choose private, internal or public.".into()),
        }
    }
}

/// A template repository from the configured list (`SHIPYARD_TEMPLATES`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRef {
    pub owner: String,
    pub name: String,
}

impl TemplateRef {
    pub fn parse(raw: &str, allowed: &[String]) -> Result<Self, String> {
        let s = raw.trim();
        match allowed.iter().find(|t| t.as_str() == s).and_then(|t| t.split_once('/')) {
            Some((owner, name)) => Ok(Self { owner: owner.to_owned(), name: name.to_owned() }),
            None if s.is_empty() => Err("Choose a template.".into()),
            None => Err(format!("Choose one of the offered templates: {}.", allowed.join(", "))),
        }
    }

    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

/// A branch name that git accepts (the rules of `git check-ref-format --branch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchName(String);

impl BranchName {
    pub const MAX_LEN: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        let bad = |why: &str| Err(format!("Not a valid git branch name: {why}."));
        if s.is_empty() {
            return Err("Enter a default branch (for example main).".into());
        }
        if s.len() > Self::MAX_LEN {
            return bad(&format!("at most {} characters", Self::MAX_LEN));
        }
        if s.chars().any(|c| c.is_ascii_control() || " ~^:?*[\\".contains(c)) {
            return bad("no spaces or any of ~ ^ : ? * [ \\");
        }
        if s.contains("..") || s.contains("@{") || s.contains("//") {
            return bad("no \"..\", \"@{\" or \"//\"");
        }
        // Git allows it, but the value lands in an IAM trust policy, where `${...}` is a policy variable.
        if s.contains("${") {
            return bad("no \"${\" (IAM would read it as a policy variable)");
        }
        if s == "@" || s.starts_with('/') || s.ends_with('/') || s.ends_with('.') || s.starts_with('-') {
            return bad("it cannot be \"@\", start with / or -, or end with / or .");
        }
        if s.split('/').any(|part| part.starts_with('.') || part.ends_with(".lock")) {
            return bad("no part may start with . or end with .lock");
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `s` with the characters IAM does not allow in names (such as `/` in a branch) made `-`.
pub(crate) fn iam_clean(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) { c } else { '-' }).collect()
}

/// The IAM names of a service: role `gha.<org>.<service>.<env>.<branch>` and policy `<role>-ecr-push`.
///
/// The parts are joined with `.`, which organization names, service names and environment names
/// cannot contain, so the first three dots always split the same way and two different services
/// can never map to one name (with `-` they could: `api`/`prod`/`dev-main` and `api-prod`/`dev`/`main`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamNames {
    pub role: String,
    pub policy: String,
}

impl IamNames {
    /// IAM's limits on role and managed policy names.
    pub const ROLE_MAX: usize = 64;
    pub const POLICY_MAX: usize = 128;

    /// Derives the names. Characters IAM does not allow in names (such as `/` in a branch) become
    /// `-`; that cannot collide between services, because the branch comes after the parts that
    /// identify the service, and a service has one default branch.
    /// Names that do not fit are an error saying which limit and by how much, never truncated.
    pub fn derive(
        org: &str,
        service: &ServiceName,
        env: &Environment,
        branch: &BranchName,
    ) -> Result<Self, String> {
        let role =
            format!("gha.{}.{}.{}.{}", iam_clean(org), service, env.as_str(), iam_clean(branch.as_str()));
        let policy = format!("{role}-ecr-push");
        if role.len() > Self::ROLE_MAX {
            return Err(format!(
                "The IAM role name {role:?} would be {} characters; IAM allows {}. Shorten the service name or \
                 branch by {} characters.",
                role.len(),
                Self::ROLE_MAX,
                role.len() - Self::ROLE_MAX
            ));
        }
        if policy.len() > Self::POLICY_MAX {
            return Err(format!(
                "The IAM policy name would be {} characters; IAM allows {}. Shorten it by {} characters.",
                policy.len(),
                Self::POLICY_MAX,
                policy.len() - Self::POLICY_MAX
            ));
        }
        Ok(Self { role, policy })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default branch lands in the trust policy and in API paths: no policy variables, no dot segments.
    #[test]
    fn branch_names_refuse_policy_variables_and_dot_segments() {
        for (raw, accepted) in [
            ("${aws:username}", false),
            ("main${x}", false),
            (".", false),
            ("..", false),
            (".main", false),
            ("a/..", false),
            ("a/./b", false),
            ("main", true),
            ("release/1.2", true),
            ("cost$", true),
            ("{braces}", true),
        ] {
            assert_eq!(BranchName::parse(raw).is_ok(), accepted, "{raw:?}");
        }
    }

    #[test]
    fn a_plain_lower_case_name_is_accepted() {
        assert_eq!(ServiceName::parse("payments-api").unwrap().as_str(), "payments-api");
        assert_eq!(ServiceName::parse("  ab  ").unwrap().as_str(), "ab");
    }

    #[test]
    fn names_outside_the_rule_are_rejected() {
        for bad in
            ["", "a", "Payments", "9lives", "pay_ments", "pay--ments", "payments-", "-payments", "pay ments"]
        {
            assert!(ServiceName::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn a_name_longer_than_40_characters_is_rejected() {
        assert!(ServiceName::parse(&"a".repeat(40)).is_ok());
        let err = ServiceName::parse(&"a".repeat(41)).unwrap_err();
        assert!(err.contains("2 to 40") && err.contains("41"), "{err}");
    }

    #[test]
    fn only_configured_environments_are_accepted() {
        let allowed = vec!["dev".to_owned(), "prod".to_owned()];
        assert_eq!(Environment::parse("prod", &allowed).unwrap().as_str(), "prod");
        assert!(Environment::parse("staging", &allowed).unwrap_err().contains("dev, prod"));
        assert!(Environment::parse("", &allowed).is_err());
    }

    #[test]
    fn visibility_defaults_to_private_and_rejects_others() {
        assert_eq!(Visibility::from_form("").unwrap(), Visibility::Private);
        assert_eq!(Visibility::from_form("internal").unwrap(), Visibility::Internal);
        assert!(Visibility::from_form("secret").is_err());
    }

    #[test]
    fn only_configured_templates_are_accepted() {
        let allowed = vec!["acme/service-template".to_owned()];
        let t = TemplateRef::parse("acme/service-template", &allowed).unwrap();
        assert_eq!((t.owner.as_str(), t.name.as_str()), ("acme", "service-template"));
        assert!(TemplateRef::parse("evil/template", &allowed).is_err());
    }

    #[test]
    fn branch_names_follow_git_rules() {
        for good in ["main", "trunk", "release/2026", "feature/x.y", "v1"] {
            assert!(BranchName::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "", "a..b", "a b", "a~", "a^", "a:b", "a?", "a*", "a[", "/a", "a/", "a.", ".a", "a//b", "@",
            "a@{b", "x.lock", "-a",
        ] {
            assert!(BranchName::parse(bad).is_err(), "{bad:?}");
        }
    }

    fn names(org: &str, service: &str, env: &str, branch: &str) -> Result<IamNames, String> {
        let envs = vec![env.to_owned()];
        IamNames::derive(
            org,
            &ServiceName::parse(service).unwrap(),
            &Environment::parse(env, &envs).unwrap(),
            &BranchName::parse(branch).unwrap(),
        )
    }

    #[test]
    fn iam_names_follow_the_documented_pattern() {
        let n = names("acme", "payments", "prod", "main").unwrap();
        assert_eq!(n.role, "gha.acme.payments.prod.main");
        assert_eq!(n.policy, "gha.acme.payments.prod.main-ecr-push");
        assert_eq!(
            names("acme", "payments", "dev", "release/1").unwrap().role,
            "gha.acme.payments.dev.release-1"
        );
    }

    #[test]
    fn services_whose_parts_hold_hyphens_get_distinct_role_names() {
        let envs = vec!["prod".to_owned(), "dev".to_owned()];
        let derive = |service: &str, env: &str, branch: &str| {
            IamNames::derive(
                "acme",
                &ServiceName::parse(service).unwrap(),
                &Environment::parse(env, &envs).unwrap(),
                &BranchName::parse(branch).unwrap(),
            )
            .unwrap()
        };
        let a = derive("api", "prod", "dev-main");
        let b = derive("api-prod", "dev", "main");
        assert_ne!(a.role, b.role);
        assert_ne!(a.policy, b.policy);
        let c = IamNames::derive(
            "acme-api",
            &ServiceName::parse("xx").unwrap(),
            &Environment::parse("dev", &envs).unwrap(),
            &BranchName::parse("main").unwrap(),
        )
        .unwrap();
        let d = IamNames::derive(
            "acme",
            &ServiceName::parse("api-xx").unwrap(),
            &Environment::parse("dev", &envs).unwrap(),
            &BranchName::parse("main").unwrap(),
        )
        .unwrap();
        assert_ne!(c.role, d.role);
    }

    #[test]
    fn a_role_name_over_64_characters_says_by_how_much() {
        let err = names("acme", &"a".repeat(40), "staging", "main-branch-x").unwrap_err();
        // gha. (4) + acme. (5) + 40 + .staging. (9) + 13 = 71
        assert!(err.contains("71 characters") && err.contains("by 7 characters"), "{err}");
    }
}
