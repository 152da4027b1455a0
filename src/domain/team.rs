//! The owning team: a GitHub team's slug, and the permission Shipyard grants it on the repository.

use super::status::text_enum;

/// A team's slug as GitHub makes it from the team's name (`payments`, `platform-sre`): what the
/// create request, the database (`service.team`, checked the same way) and the API calls carry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TeamSlug(String);

impl TeamSlug {
    pub const MAX_LEN: usize = 100;

    /// Lower-case letters, digits, `-` and `_`, starting with a letter or digit, at most 100
    /// characters. Surrounding spaces are ignored; upper case is refused rather than folded, since
    /// a slug is an identifier GitHub made, not a name the person typed.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("Choose the team that owns this service.".into());
        }
        let valid_start = s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
        let valid_chars =
            s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !valid_start || !valid_chars || s.len() > Self::MAX_LEN {
            return Err(format!(
                "“{s}” is not a team slug: use the team's slug as GitHub shows it (lower-case letters, digits, - and _)."
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TeamSlug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

text_enum! {
    /// A repository role GitHub grants a team, weakest first (so `<` means "less access").
    TeamPermission {
        Pull = "pull",
        Triage = "triage",
        Push = "push",
        /// Push and merge, manage issues and settings short of the dangerous ones; not rulesets.
        Maintain = "maintain",
        Admin = "admin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slug_as_github_makes_it_is_accepted() {
        assert_eq!(TeamSlug::parse(" platform-sre_2 ").unwrap().as_str(), "platform-sre_2");
    }

    #[test]
    fn an_empty_or_mistyped_slug_is_refused_with_what_to_do() {
        assert!(TeamSlug::parse("").unwrap_err().contains("Choose the team"));
        for bad in ["Payments", "-payments", "pay ments", "acme/payments", &"a".repeat(101)] {
            assert!(TeamSlug::parse(bad).unwrap_err().contains("not a team slug"), "{bad}");
        }
    }

    #[test]
    fn permissions_order_from_weakest_to_strongest() {
        assert!(TeamPermission::Push < TeamPermission::Maintain);
        assert!(TeamPermission::Maintain < TeamPermission::Admin);
        assert_eq!(TeamPermission::parse("maintain"), Some(TeamPermission::Maintain));
    }
}
