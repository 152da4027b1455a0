//! One `Condition` block entry (`"StringLike": {"key": ["v1", "v2"]}`) and how IAM evaluates it.
//!
//! Rules (AWS "IAM JSON policy elements: Condition operators" and "...: condition keys with multiple values"):
//! operator names are case-sensitive, key names are not, values are (except the `IgnoreCase` operators); the
//! values listed for one key are OR-ed; a key missing from the request makes a positive operator false and a
//! negated one true (`...IfExists` makes it true either way); `ForAnyValue:` holds when some request value
//! satisfies the operator, `ForAllValues:` when every one does (vacuously true for a missing key).

use serde_json::Value;

use super::{Context, wildcard};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Bool,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    None,
    ForAnyValue,
    ForAllValues,
}

/// A parsed condition: one operator applied to one key with its values.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    operator: String,
    base: Option<Base>,
    negated: bool,
    if_exists: bool,
    qualifier: SetQualifier,
    key: String,
    values: Vec<String>,
}

impl Condition {
    /// Parses `operator` and one `key: value(s)` pair. An operator the sim does not know never holds.
    pub(crate) fn parse(operator: &str, key: &str, values: &Value) -> Condition {
        let (qualifier, rest) = if let Some(rest) = operator.strip_prefix("ForAnyValue:") {
            (SetQualifier::ForAnyValue, rest)
        } else if let Some(rest) = operator.strip_prefix("ForAllValues:") {
            (SetQualifier::ForAllValues, rest)
        } else {
            (SetQualifier::None, operator)
        };
        let (rest, if_exists) = match rest.strip_suffix("IfExists") {
            Some(rest) => (rest, true),
            None => (rest, false),
        };
        let (base, negated) = match rest {
            "StringEquals" => (Some(Base::StringEquals), false),
            "StringNotEquals" => (Some(Base::StringEquals), true),
            "StringEqualsIgnoreCase" => (Some(Base::StringEqualsIgnoreCase), false),
            "StringNotEqualsIgnoreCase" => (Some(Base::StringEqualsIgnoreCase), true),
            "StringLike" | "ArnLike" | "ArnEquals" => (Some(Base::StringLike), false),
            "StringNotLike" | "ArnNotLike" | "ArnNotEquals" => (Some(Base::StringLike), true),
            "Bool" => (Some(Base::Bool), false),
            "Null" => (Some(Base::Null), false),
            _ => (None, false),
        };
        Condition {
            operator: operator.to_string(),
            base,
            negated,
            if_exists,
            qualifier,
            key: key.to_string(),
            values: super::string_list(values),
        }
    }

    /// `Ok(())` when the condition holds for `context`, else why not (one line, for a job log).
    pub(crate) fn check(&self, context: &Context) -> Result<(), String> {
        let Some(base) = self.base else {
            return Err(format!("condition operator {} is not supported", self.operator));
        };
        let actual = context.get(&self.key);
        if base == Base::Null {
            let want_absent = self.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
            return if actual.is_none() == want_absent {
                Ok(())
            } else {
                Err(format!("condition Null {} = {} does not hold", self.key, want_absent))
            };
        }
        let holds = match (actual, self.qualifier) {
            (None, SetQualifier::ForAllValues) => true,
            (None, SetQualifier::ForAnyValue) => false,
            (None, SetQualifier::None) => self.negated || self.if_exists,
            (Some(values), SetQualifier::ForAllValues) => {
                values.iter().all(|v| self.one_value_holds(base, v))
            }
            (Some(values), _) => values.iter().any(|v| self.one_value_holds(base, v)),
        };
        if holds {
            return Ok(());
        }
        let expected = self.values.join(", ");
        Err(match actual {
            None => format!("condition {} {}: the request has no {}", self.operator, self.key, self.key),
            Some(values) => {
                format!(
                    "condition {} {} = {} does not match {expected}",
                    self.operator,
                    self.key,
                    values.join(", ")
                )
            }
        })
    }

    fn one_value_holds(&self, base: Base, actual: &str) -> bool {
        let any = self.values.iter().any(|expected| match base {
            Base::StringEquals => expected == actual,
            Base::StringEqualsIgnoreCase | Base::Bool => expected.eq_ignore_ascii_case(actual),
            Base::StringLike => wildcard::matches(expected, actual),
            Base::Null => false,
        });
        any != self.negated
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Condition;
    use crate::iam::Context;

    fn context() -> Context {
        let mut context = Context::default();
        context.insert("token.actions.githubusercontent.com:sub", "repo:acme/payments:ref:refs/heads/main");
        context.insert("token.actions.githubusercontent.com:aud", "sts.amazonaws.com");
        context
    }

    #[test]
    fn operators_hold_as_iam_defines_them() {
        let sub = "token.actions.githubusercontent.com:sub";
        let table = [
            ("StringEquals", sub, json!("repo:acme/payments:ref:refs/heads/main"), true),
            (
                "StringEquals",
                sub,
                json!(["repo:acme/other:ref:refs/heads/main", "repo:acme/payments:ref:refs/heads/main"]),
                true,
            ),
            ("StringEquals", sub, json!("repo:acme/payments:ref:refs/heads/dev"), false),
            ("StringEquals", sub, json!("REPO:acme/payments:ref:refs/heads/main"), false),
            ("StringEqualsIgnoreCase", sub, json!("REPO:acme/payments:ref:refs/heads/main"), true),
            ("StringLike", sub, json!("repo:acme/*"), true),
            ("StringLike", sub, json!("repo:acme/payments:ref:refs/heads/?ain"), true),
            ("StringLike", sub, json!("repo:evil/*"), false),
            ("StringNotEquals", sub, json!("repo:acme/payments:ref:refs/heads/main"), false),
            ("StringNotEquals", sub, json!("repo:acme/other:ref:refs/heads/main"), true),
            ("StringNotLike", sub, json!("repo:acme/*"), false),
            ("StringNotLike", sub, json!("repo:evil/*"), true),
            // Key names are case-insensitive.
            (
                "StringEquals",
                "Token.Actions.GithubUserContent.com:SUB",
                json!("repo:acme/payments:ref:refs/heads/main"),
                true,
            ),
            // Operator names are case-sensitive: an unknown operator never holds.
            ("stringequals", sub, json!("repo:acme/payments:ref:refs/heads/main"), false),
            // Missing keys: positive false, negated true, IfExists true, Null true.
            ("StringEquals", "token.actions.githubusercontent.com:repository", json!("acme/payments"), false),
            (
                "StringNotEquals",
                "token.actions.githubusercontent.com:repository",
                json!("acme/payments"),
                true,
            ),
            ("StringEqualsIfExists", "token.actions.githubusercontent.com:repository", json!("x"), true),
            ("StringEqualsIfExists", sub, json!("x"), false),
            ("Null", "token.actions.githubusercontent.com:repository", json!("true"), true),
            ("Null", sub, json!("true"), false),
            ("Null", sub, json!(false), true),
            ("ForAnyValue:StringLike", sub, json!(["nope", "repo:acme/*"]), true),
            ("ForAnyValue:StringEquals", "missing:key", json!("x"), false),
            ("ForAllValues:StringEquals", "missing:key", json!("x"), true),
            ("ForAllValues:StringEquals", sub, json!(["repo:acme/payments:ref:refs/heads/main"]), true),
            ("ForAllValues:StringEquals", sub, json!(["other"]), false),
        ];
        let context = context();
        for (operator, key, values, expected) in table {
            let holds = Condition::parse(operator, key, &values).check(&context).is_ok();
            assert_eq!(holds, expected, "{operator} {key} {values}");
        }
    }

    #[test]
    fn a_failed_condition_says_what_the_request_had_and_what_the_policy_wanted() {
        let condition = Condition::parse(
            "StringEquals",
            "token.actions.githubusercontent.com:sub",
            &json!("repo:acme/other:ref:refs/heads/main"),
        );
        let why = condition.check(&context()).unwrap_err();
        assert_eq!(
            why,
            "condition StringEquals token.actions.githubusercontent.com:sub = \
             repo:acme/payments:ref:refs/heads/main does not match repo:acme/other:ref:refs/heads/main"
        );
    }
}
