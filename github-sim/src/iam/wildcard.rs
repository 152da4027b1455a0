//! IAM's wildcard matching: `*` matches any run of characters (none included), `?` exactly one.

/// Whether `value` matches `pattern`, comparing characters exactly.
pub(crate) fn matches(pattern: &str, value: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let value: Vec<char> = value.chars().collect();
    // Greedy with backtracking to the last `*`: linear in practice, no recursion.
    let (mut p, mut v) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while v < value.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == value[v]) {
            p += 1;
            v += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, v));
            p += 1;
        } else if let Some((star_p, star_v)) = star {
            p = star_p + 1;
            v = star_v + 1;
            star = Some((star_p, star_v + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// Like [`matches`], ignoring ASCII case (IAM action names are case-insensitive).
pub(crate) fn matches_ignore_case(pattern: &str, value: &str) -> bool {
    matches(&pattern.to_ascii_lowercase(), &value.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn star_and_question_mark_follow_iam_rules() {
        let table = [
            ("*", "", true),
            ("*", "anything", true),
            ("repo:acme/*", "repo:acme/payments:ref:refs/heads/main", true),
            ("repo:acme/*:ref:refs/heads/main", "repo:acme/x:ref:refs/heads/dev", false),
            ("repo:acme/?:*", "repo:acme/x:ref", true),
            ("repo:acme/?:*", "repo:acme/xy:ref", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("exact", "exact", true),
            ("exact", "Exact", false),
            ("", "", true),
            ("", "x", false),
        ];
        for (pattern, value, expected) in table {
            assert_eq!(matches(pattern, value), expected, "{pattern:?} vs {value:?}");
        }
    }
}
