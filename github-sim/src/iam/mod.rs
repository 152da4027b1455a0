//! A small, pure evaluator of IAM policy documents, as STS and IAM evaluate them.
//!
//! moto evaluates neither trust policies nor resource-scoped identity policies (research/moto-iam-probe.md),
//! so the sim's runner decides "would AWS have let this workflow assume the role and push" itself, reading the
//! documents from the AWS endpoint like any client and handing them to [`evaluate`].
//!
//! Covered: `Effect`, `Action`/`NotAction` (case-insensitive, `*`/`?` wildcards), `Resource`/`NotResource`
//! (case-sensitive wildcards), `Principal` (`"*"` or by kind: `Federated`, `AWS`, `Service`), and the string,
//! ARN, `Bool` and `Null` condition operators with `IfExists` and `ForAnyValue:`/`ForAllValues:`. Every
//! condition of a statement must hold; an explicit `Deny` wins over any `Allow`. Not covered (never holds):
//! numeric, date and IP operators; `NotPrincipal` statements are ignored.

mod condition;
mod wildcard;

use std::collections::BTreeMap;

use serde_json::Value;

use condition::Condition;

/// A policy document that is not JSON or has no usable `Statement`.
#[derive(Debug, thiserror::Error)]
#[error("the policy document is not valid: {0}")]
pub struct PolicyError(String);

/// A parsed policy document (identity or trust policy).
#[derive(Debug, Clone)]
pub struct Policy {
    statements: Vec<Statement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

/// `Action`/`NotAction`, `Resource`/`NotResource`: the patterns and whether the element is negated.
#[derive(Debug, Clone)]
struct Patterns {
    negated: bool,
    patterns: Vec<String>,
}

#[derive(Debug, Clone)]
struct Statement {
    sid: Option<String>,
    effect: Effect,
    actions: Option<Patterns>,
    resources: Option<Patterns>,
    /// `None`: no `Principal` element (identity policies). `Some` map kind → values; `"*"` is kind `*`.
    principal: Option<BTreeMap<String, Vec<String>>>,
    conditions: Vec<Condition>,
}

/// Request context keys (case-insensitive names) and their values.
#[derive(Debug, Clone, Default)]
pub struct Context {
    keys: BTreeMap<String, Vec<String>>,
}

impl Context {
    /// Adds a single-valued key.
    pub fn insert(&mut self, key: &str, value: &str) {
        self.keys.entry(key.to_ascii_lowercase()).or_default().push(value.to_string());
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Vec<String>> {
        self.keys.get(&key.to_ascii_lowercase())
    }
}

/// What is being asked: an action, on a resource (identity policies) or by a principal (trust policies).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub action: &'a str,
    /// `None` for a trust policy, which has no `Resource`.
    pub resource: Option<&'a str>,
    /// `(kind, value)`, e.g. `("Federated", "arn:aws:iam::123456789012:oidc-provider/token.actions...")`;
    /// `None` for identity policies.
    pub principal: Option<(&'a str, &'a str)>,
    pub context: &'a Context,
}

/// The outcome of evaluating every policy that applies to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// A `Deny` statement matched; names it.
    ExplicitDeny(String),
    /// Nothing allowed it. When a statement matched action, resource and principal but a condition failed,
    /// the reason names that condition.
    ImplicitDeny(Option<String>),
}

impl Policy {
    /// Parses a policy document (already URL-decoded).
    pub fn parse(document: &str) -> Result<Policy, PolicyError> {
        let value: Value = serde_json::from_str(document).map_err(|e| PolicyError(e.to_string()))?;
        let statements = match value.get("Statement") {
            Some(Value::Array(items)) => items.iter().map(Statement::parse).collect::<Result<_, _>>()?,
            Some(item @ Value::Object(_)) => vec![Statement::parse(item)?],
            _ => return Err(PolicyError("no Statement".into())),
        };
        Ok(Policy { statements })
    }

    /// The `Federated` principals the policy's `Allow` statements name (trust policies).
    pub fn federated_principals(&self) -> Vec<String> {
        self.statements
            .iter()
            .filter(|s| s.effect == Effect::Allow)
            .filter_map(|s| s.principal.as_ref()?.get("Federated"))
            .flatten()
            .cloned()
            .collect()
    }
}

impl Statement {
    fn parse(value: &Value) -> Result<Statement, PolicyError> {
        let effect = match value.get("Effect").and_then(Value::as_str) {
            Some("Allow") => Effect::Allow,
            Some("Deny") => Effect::Deny,
            other => return Err(PolicyError(format!("Effect {other:?} is neither Allow nor Deny"))),
        };
        let patterns = |plain: &str, negated: &str| {
            value
                .get(plain)
                .map(|v| Patterns { negated: false, patterns: string_list(v) })
                .or_else(|| value.get(negated).map(|v| Patterns { negated: true, patterns: string_list(v) }))
        };
        let principal = value.get("Principal").map(|p| match p {
            Value::Object(kinds) => kinds.iter().map(|(kind, v)| (kind.clone(), string_list(v))).collect(),
            other => BTreeMap::from([("*".to_string(), string_list(other))]),
        });
        let mut conditions = Vec::new();
        if let Some(Value::Object(operators)) = value.get("Condition") {
            for (operator, keys) in operators {
                let Value::Object(keys) = keys else {
                    return Err(PolicyError(format!("Condition {operator} is not an object")));
                };
                conditions.extend(keys.iter().map(|(key, values)| Condition::parse(operator, key, values)));
            }
        }
        Ok(Statement {
            sid: value.get("Sid").and_then(Value::as_str).map(str::to_string),
            effect,
            actions: patterns("Action", "NotAction"),
            resources: patterns("Resource", "NotResource"),
            principal,
            conditions,
        })
    }

    /// Whether action, resource and principal match (conditions aside).
    fn applies_to(&self, request: &Request) -> bool {
        let action = self.actions.as_ref().is_some_and(|a| {
            a.patterns.iter().any(|p| wildcard::matches_ignore_case(p, request.action)) != a.negated
        });
        let resource = match (request.resource, &self.resources) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(resource), Some(r)) => {
                r.patterns.iter().any(|p| wildcard::matches(p, resource)) != r.negated
            }
        };
        let principal = match (request.principal, &self.principal) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some((kind, value)), Some(kinds)) => {
                kinds.get("*").is_some_and(|v| v.iter().any(|p| p == "*"))
                    || kinds.get(kind).is_some_and(|v| v.iter().any(|p| p == "*" || p == value))
            }
        };
        action && resource && principal
    }

    fn check_conditions(&self, context: &Context) -> Result<(), String> {
        self.conditions.iter().try_for_each(|c| c.check(context))
    }

    fn name(&self) -> String {
        self.sid
            .as_ref()
            .map_or_else(|| "a statement without Sid".to_string(), |sid| format!("statement {sid}"))
    }
}

/// Evaluates `request` against every policy that applies to it: explicit deny, else allow, else implicit deny.
pub fn evaluate(policies: &[Policy], request: &Request) -> Decision {
    let statements = || policies.iter().flat_map(|p| &p.statements).filter(|s| s.applies_to(request));
    if let Some(deny) =
        statements().find(|s| s.effect == Effect::Deny && s.check_conditions(request.context).is_ok())
    {
        return Decision::ExplicitDeny(deny.name());
    }
    let mut reason = None;
    for statement in statements().filter(|s| s.effect == Effect::Allow) {
        match statement.check_conditions(request.context) {
            Ok(()) => return Decision::Allow,
            Err(why) => {
                reason.get_or_insert(why);
            }
        }
    }
    Decision::ImplicitDeny(reason)
}

/// A JSON string, number or bool, or an array of them, as strings (IAM compares everything as text).
pub(crate) fn string_list(value: &Value) -> Vec<String> {
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match value {
        Value::Array(items) => items.iter().filter_map(one).collect(),
        other => one(other).into_iter().collect(),
    }
}
