//! What someone's organization membership lets them do in Shipyard: the one rule sign-in, bearer tokens
//! and session re-checks share.

crate::domain::status::text_enum! {
    /// The organization role of someone Shipyard lets in. Only an *active* `admin` or `member` is one:
    /// billing managers, pending invitations, outside collaborators and any role GitHub adds later are not.
    OrgRole {
        /// An organization owner: may delete any service.
        Admin = "admin",
        /// A member: may create services and delete their own.
        Member = "member",
    }
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

    pub fn is_admin(self) -> bool {
        self == OrgRole::Admin
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
