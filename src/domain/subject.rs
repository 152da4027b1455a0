//! The prefix of the OIDC `sub` a repository's Actions tokens carry, parsed from what GitHub reports
//! (or what was recorded of it) into one of its two documented shapes, and the `sub` a trust admits.
//!
//! A prefix is the only part of a trust that is not built from our own checked values, so it is
//! never taken verbatim (security review H2/H3): a `*` in it would open a `StringLike` trust to
//! every repository. It must be `repo:OWNER/NAME` or `repo:OWNER@OWNER_ID/NAME@REPO_ID` with
//! names GitHub allows and, in the immutable form, exactly the ids recorded for the repository.
//!
//! For the immutable form the trust does not use the names at all: they change with a rename
//! (GitHub keeps them in the subject), the ids never do. The admitted `sub` is
//! `repo:*@OWNER_ID/*@REPO_ID:CONTEXT`, which is safe because an owner or repository name cannot
//! contain `@`, `/` or `:`, so each `*` can only stand for one name (see the tests).

use std::fmt;

/// Longest owner or repository name GitHub allows (100 for repositories, 39 for logins).
const NAME_MAX: usize = 100;

/// A checked subject prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectPrefix {
    /// `repo:OWNER@OWNER_ID/NAME@REPO_ID` (github.com): the trust is pinned on the ids.
    Immutable { owner_id: u64, repo_id: u64 },
    /// `repo:OWNER/NAME` (GitHub Enterprise Server, repositories from before immutable subjects):
    /// the names are all the token has, so the trust keeps them.
    Legacy { owner: String, name: String },
}

impl SubjectPrefix {
    /// Parses `raw` as the prefix of the repository whose ids are `owner_id` and `repo_id`;
    /// anything else (another shape, a wildcard, other ids) is refused with the reason.
    pub fn parse(raw: &str, owner_id: u64, repo_id: u64) -> Result<Self, String> {
        let refuse = |why: &str| {
            Err(format!(
                "the OIDC subject prefix {raw:?} is not repo:OWNER/NAME or repo:OWNER@{owner_id}/NAME@{repo_id} \
                 ({why})"
            ))
        };
        let Some((owner, name)) = raw.strip_prefix("repo:").and_then(|rest| rest.split_once('/')) else {
            return refuse("no repo:OWNER/NAME");
        };
        match (owner.split_once('@'), name.split_once('@')) {
            (None, None) => {
                if !is_name(owner) || !is_name(name) {
                    return refuse("a name with characters GitHub does not allow");
                }
                Ok(Self::Legacy { owner: owner.to_owned(), name: name.to_owned() })
            }
            (Some((owner, oid)), Some((name, rid))) => {
                if !is_name(owner) || !is_name(name) {
                    return refuse("a name with characters GitHub does not allow");
                }
                if oid != owner_id.to_string() || rid != repo_id.to_string() {
                    return refuse("the ids are not this repository's");
                }
                Ok(Self::Immutable { owner_id, repo_id })
            }
            _ => refuse("ids on one name only"),
        }
    }

    /// The `sub` a trust admits for runs in `context` (`ref:refs/heads/main`, `environment:prod`,
    /// `ref:refs/tags/v*`). A pattern (`StringLike`) for the immutable form, see [`Self::is_pattern`].
    pub fn subject(&self, context: &str) -> String {
        match self {
            Self::Immutable { owner_id, repo_id } => format!("repo:*@{owner_id}/*@{repo_id}:{context}"),
            Self::Legacy { owner, name } => format!("repo:{owner}/{name}:{context}"),
        }
    }

    /// Whether [`Self::subject`] must be matched as a pattern: the names are wildcards.
    pub fn is_pattern(&self) -> bool {
        matches!(self, Self::Immutable { .. })
    }

    /// The repository id the token's `repository_id` claim must equal (immutable form only:
    /// AWS evaluates the claim for github.com's issuer since 2026).
    pub fn repository_id(&self) -> Option<u64> {
        match self {
            Self::Immutable { repo_id, .. } => Some(*repo_id),
            Self::Legacy { .. } => None,
        }
    }
}

impl fmt::Display for SubjectPrefix {
    /// As the page shows it: the form the trust matches.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Immutable { owner_id, repo_id } => write!(f, "repo:*@{owner_id}/*@{repo_id}"),
            Self::Legacy { owner, name } => write!(f, "repo:{owner}/{name}"),
        }
    }
}

/// An owner login or repository name as GitHub allows them: letters, digits, `.`, `_`, `-`. So no
/// `@`, `/`, `:` (the subject's separators) and no `*`, `?` or `$` (IAM's wildcards and variables).
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= NAME_MAX
        && s != "."
        && s != ".."
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_documented_shapes_parse() {
        assert_eq!(
            SubjectPrefix::parse("repo:acme@1000/api@42", 1000, 42),
            Ok(SubjectPrefix::Immutable { owner_id: 1000, repo_id: 42 })
        );
        assert_eq!(
            SubjectPrefix::parse("repo:acme/api.v2", 1000, 42),
            Ok(SubjectPrefix::Legacy { owner: "acme".into(), name: "api.v2".into() })
        );
        let prefix = SubjectPrefix::Immutable { owner_id: 1000, repo_id: 42 };
        assert_eq!(prefix.subject("ref:refs/heads/main"), "repo:*@1000/*@42:ref:refs/heads/main");
        assert!(prefix.is_pattern());
        assert_eq!(prefix.repository_id(), Some(42));
    }

    #[test]
    fn wildcards_other_shapes_and_other_ids_are_refused() {
        for bad in [
            "repo:*",
            "repo:acme/*",
            "repo:*/api",
            "repo:acme/api*",
            "repo:acme/a?i",
            "repo:*@1000/*@42",
            "repo:acme@1000/api@4*",
            "repo:acme@*/api@42",
            "repo:acme@1000/api@43",
            "repo:acme@1001/api@42",
            "repo:acme@1000/api",
            "repo:acme/api@42",
            "repo:acme/api:ref:refs/heads/main",
            "repo:acme/api/x",
            "repo:acme/${aws:username}",
            "repo:acme/..",
            "repo:/api",
            "repo:acme/",
            "acme/api",
            "repo:acme api/x",
            "",
        ] {
            assert!(SubjectPrefix::parse(bad, 1000, 42).is_err(), "{bad:?} was accepted");
        }
    }
}
