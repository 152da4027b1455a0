//! What someone's organization membership lets them do in Shipyard: the one rule sign-in, bearer tokens
//! and session re-checks share.

use std::fmt;

/// The organization role of someone Shipyard lets in. Only an *active* `admin` or `member` is one:
/// billing managers, pending invitations, outside collaborators and any role GitHub adds later are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgRole {
    /// An organization owner: may delete any service.
    Admin,
    /// A member: may create services and delete their own.
    Member,
}

impl OrgRole {
    /// The role GitHub's membership answer (`state`, `role` of `org-membership`) admits, if any.
    pub fn admitted(state: &str, role: &str) -> Option<OrgRole> {
        match (state, role) {
            ("active", "admin") => Some(OrgRole::Admin),
            ("active", "member") => Some(OrgRole::Member),
            _ => None,
        }
    }

    /// Reads a role stored by [`OrgRole::as_str`].
    pub fn parse(stored: &str) -> Option<OrgRole> {
        match stored {
            "admin" => Some(OrgRole::Admin),
            "member" => Some(OrgRole::Member),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OrgRole::Admin => "admin",
            OrgRole::Member => "member",
        }
    }

    pub fn is_admin(self) -> bool {
        self == OrgRole::Admin
    }
}

impl fmt::Display for OrgRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_admins_and_members_are_admitted() {
        assert_eq!(OrgRole::admitted("active", "admin"), Some(OrgRole::Admin));
        assert_eq!(OrgRole::admitted("active", "member"), Some(OrgRole::Member));
    }

    #[test]
    fn a_billing_manager_is_not_admitted() {
        assert_eq!(OrgRole::admitted("active", "billing_manager"), None);
    }

    #[test]
    fn a_role_github_adds_later_is_not_admitted() {
        assert_eq!(OrgRole::admitted("active", "security_manager"), None);
    }

    #[test]
    fn a_pending_invitation_is_not_admitted_whatever_its_role() {
        assert_eq!(OrgRole::admitted("pending", "admin"), None);
        assert_eq!(OrgRole::admitted("pending", "member"), None);
    }

    #[test]
    fn a_stored_role_reads_back() {
        for role in [OrgRole::Admin, OrgRole::Member] {
            assert_eq!(OrgRole::parse(role.as_str()), Some(role));
        }
        assert_eq!(OrgRole::parse("billing_manager"), None);
    }
}
