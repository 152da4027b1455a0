//! The create request, as typed (a form or a JSON body) and as parsed into domain types. Both the
//! HTML form and the API go through [`parse_service_request`], so they accept and refuse exactly
//! the same input with the same messages, every field checked at once.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::roles::{CheckedRole, RoleInput, check_role};
use crate::{
    config::Config,
    domain::{BranchName, Environment, IamNames, RoleKind, ServiceName, TeamSlug, TemplateRef, Visibility},
};

/// A message per field name, in the form's field names (`name`, `environment`, ...).
pub type FieldErrors = BTreeMap<String, String>;

/// The longest description we accept; GitHub cuts repository descriptions at 350.
pub const DESCRIPTION_MAX: usize = 350;
/// The branch a new service gets when the request names none.
pub const DEFAULT_BRANCH: &str = "main";

/// What the person typed, kept verbatim so an invalid form comes back as they left it.
/// Missing fields are empty: the parse step says what is missing, with the other problems.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ServiceInput {
    pub name: String,
    pub environment: String,
    pub visibility: String,
    pub template: String,
    pub default_branch: String,
    pub description: String,
    /// The owning team's slug (the form's select, the API's `team`).
    pub team: String,
    /// The form's optional extra roles, one of each kind (a release-tag role is the common one).
    pub role_branch: String,
    pub role_tag_pattern: String,
    pub role_environment: String,
    /// The API's extra roles (`"roles": [{"tag_pattern": "v*"}]`).
    #[serde(skip)]
    pub roles: Vec<RoleInput>,
}

impl ServiceInput {
    /// Every extra role asked for, with the prefix its errors are reported under: the form's own
    /// field names (`role_tag_pattern`), or `roles[0].tag_pattern` for the API.
    fn requested_roles(&self) -> Vec<(String, RoleInput)> {
        let form = [
            (RoleKind::Branch, &self.role_branch),
            (RoleKind::Tag, &self.role_tag_pattern),
            (RoleKind::Environment, &self.role_environment),
        ];
        let from_form = form
            .into_iter()
            .filter(|(_, value)| !value.trim().is_empty())
            .map(|(kind, value)| ("role_".to_owned(), RoleInput::of(kind, value)));
        let from_api = self.roles.iter().enumerate().map(|(i, role)| (format!("roles[{i}]."), role.clone()));
        from_form.chain(from_api).collect()
    }

    /// The blank form: private, branch `main`, the first environment and template preselected.
    pub fn blank(config: &Config) -> Self {
        Self {
            environment: config.environments.first().cloned().unwrap_or_default(),
            visibility: Visibility::default().as_str().to_owned(),
            template: config.templates.first().cloned().unwrap_or_default(),
            default_branch: DEFAULT_BRANCH.to_owned(),
            ..Self::default()
        }
    }
}

/// The API's body. Unknown fields are refused so a typo (`branch` for `default_branch`) is not
/// silently ignored; `null` counts as absent.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "payments-api", "environment": "dev", "template": "acme/service-template", "team": "payments"}))]
pub struct ServiceJson {
    #[schema(required = true, value_type = String, min_length = 2, max_length = 40, pattern = "^[a-z][a-z0-9]*(-[a-z0-9]+)*$")]
    name: Option<String>,
    #[schema(required = true, value_type = String)]
    environment: Option<String>,
    #[schema(value_type = Option<crate::domain::Visibility>)]
    visibility: Option<String>,
    #[schema(required = true, value_type = String)]
    template: Option<String>,
    default_branch: Option<String>,
    description: Option<String>,
    /// The owning team's slug.
    #[schema(required = true, value_type = String, min_length = 1, max_length = 100, pattern = "^[a-z0-9][a-z0-9_-]*$")]
    team: Option<String>,
    roles: Option<Vec<RoleInput>>,
}

impl From<ServiceJson> for ServiceInput {
    fn from(json: ServiceJson) -> Self {
        Self {
            name: json.name.unwrap_or_default(),
            environment: json.environment.unwrap_or_default(),
            visibility: json.visibility.unwrap_or_default(),
            template: json.template.unwrap_or_default(),
            default_branch: json.default_branch.unwrap_or_else(|| DEFAULT_BRANCH.to_owned()),
            description: json.description.unwrap_or_default(),
            team: json.team.unwrap_or_default(),
            roles: json.roles.unwrap_or_default(),
            ..Self::default()
        }
    }
}

/// A create request in which every part has been checked, including the IAM names it implies.
#[derive(Debug, Clone)]
pub struct ServiceRequest {
    pub name: ServiceName,
    pub environment: Environment,
    pub visibility: Visibility,
    pub template: TemplateRef,
    pub default_branch: BranchName,
    pub description: String,
    /// The owning team; none only where `SHIPYARD_TEAM_REQUIRED=false` and none was named.
    pub team: Option<TeamSlug>,
    pub iam: IamNames,
    /// Extra push roles, each with the prefix its field errors are reported under.
    pub roles: Vec<(String, CheckedRole)>,
}

impl ServiceRequest {
    /// One line for the audit trail: what was asked for, without the name (it has its own column).
    pub fn summary(&self) -> String {
        let mut summary = format!(
            "{} · {} · {} · {}",
            self.environment.as_str(),
            self.visibility.as_str(),
            self.template.full_name(),
            self.default_branch.as_str()
        );
        if let Some(team) = &self.team {
            summary.push_str(&format!(" · team {team}"));
        }
        for (_, role) in &self.roles {
            summary.push_str(&format!(" · role for {}", role.spec.describe()));
        }
        summary
    }
}

/// Parses every field and returns the request, or a message for each field that is wrong.
pub fn parse_service_request(config: &Config, input: &ServiceInput) -> Result<ServiceRequest, FieldErrors> {
    let mut errors = FieldErrors::new();
    let e = &mut errors;
    let name = check(e, "name", ServiceName::parse(&input.name));
    let environment = check(e, "environment", Environment::parse(&input.environment, &config.environments));
    let visibility = check(e, "visibility", Visibility::from_form(&input.visibility));
    let template = check(e, "template", TemplateRef::parse(&input.template, &config.templates));
    let default_branch = check(e, "default_branch", BranchName::parse(&input.default_branch));
    let description = check(e, "description", parse_description(&input.description));
    let team = match input.team.trim() {
        "" if !config.team_required => Some(None),
        raw => check(e, "team", TeamSlug::parse(raw)).map(Some),
    };

    let (Some(name), Some(environment), Some(default_branch)) = (name, environment, default_branch) else {
        return Err(errors);
    };
    let iam = IamNames::derive(&config.github_org, &name, &environment, &default_branch)
        .map_err(|message| {
            errors.insert(iam_field(config, &environment, &default_branch).to_owned(), message)
        })
        .ok();
    let mut roles = Vec::new();
    for (prefix, role) in input.requested_roles() {
        match check_role(config, &name, environment.as_str(), default_branch.as_str(), &role, &prefix) {
            Ok(role) => roles.push((prefix, role)),
            Err(role_errors) => errors.extend(role_errors),
        }
    }
    match (visibility, template, description, team, iam) {
        (Some(visibility), Some(template), Some(description), Some(team), Some(iam)) if errors.is_empty() => {
            Ok(ServiceRequest {
                name,
                environment,
                visibility,
                template,
                default_branch,
                description,
                team,
                iam,
                roles,
            })
        }
        _ => Err(errors),
    }
}

/// The parsed value, or none with the message recorded against `field`.
fn check<T>(errors: &mut FieldErrors, field: &str, result: Result<T, String>) -> Option<T> {
    result.map_err(|message| errors.insert(field.to_owned(), message)).ok()
}

/// Which field an IAM name overflow belongs to: the branch when no service name, however short,
/// would make the role fit (only the branch can fix it), the service name otherwise.
fn iam_field(config: &Config, environment: &Environment, branch: &BranchName) -> &'static str {
    let shortest = ServiceName::parse(&"a".repeat(ServiceName::MIN_LEN)).expect("a valid name");
    match IamNames::derive(&config.github_org, &shortest, environment, branch) {
        Ok(_) => "name",
        Err(_) => "default_branch",
    }
}

/// An optional one-line description: GitHub shows it as the repository's tagline.
fn parse_description(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    let length = s.chars().count();
    if length > DESCRIPTION_MAX {
        return Err(format!(
            "Use at most {DESCRIPTION_MAX} characters (this one has {length}, {} too many).",
            length - DESCRIPTION_MAX
        ));
    }
    if s.chars().any(char::is_control) {
        return Err("Use a single line of text, without line breaks or tabs.".into());
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let vars = [
            ("DATABASE_URL", "postgres://unused"),
            ("GITHUB_ORG", "acme"),
            ("GITHUB_TOKEN", "t"),
            ("GITHUB_OAUTH_CLIENT_ID", "id"),
            ("GITHUB_OAUTH_CLIENT_SECRET", "secret"),
            ("SHIPYARD_TEMPLATES", "acme/service-template"),
            ("SHIPYARD_PERMISSIONS_BOUNDARY", "arn:aws:iam::123456789012:policy/shipyard-boundary"),
        ];
        Config::from_vars(&vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()).unwrap()
    }

    fn input(name: &str, branch: &str) -> ServiceInput {
        ServiceInput {
            name: name.into(),
            environment: "staging".into(),
            template: "acme/service-template".into(),
            default_branch: branch.into(),
            team: "payments".into(),
            ..ServiceInput::default()
        }
    }

    #[test]
    fn a_complete_request_parses_with_its_iam_names() {
        let request = parse_service_request(&config(), &input("payments", "main")).unwrap();
        assert_eq!(request.iam.role, "gha.acme.payments.staging.main");
        assert_eq!(request.summary(), "staging · private · acme/service-template · main · team payments");
    }

    #[test]
    fn the_team_is_required_unless_configured_otherwise() {
        let without = ServiceInput { team: " ".into(), ..input("payments", "main") };
        let errors = parse_service_request(&config(), &without).unwrap_err();
        assert!(errors["team"].contains("Choose the team"), "{errors:?}");
        let optional = Config { team_required: false, ..config() };
        assert!(parse_service_request(&optional, &without).unwrap().team.is_none());
        let typo = ServiceInput { team: "Payments".into(), ..input("payments", "main") };
        assert!(parse_service_request(&optional, &typo).unwrap_err()["team"].contains("not a team slug"));
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let bad =
            ServiceInput { visibility: "secret".into(), description: "x".repeat(351), ..input("", "a..b") };
        let errors = parse_service_request(&config(), &bad).unwrap_err();
        let fields: Vec<&str> = errors.keys().map(String::as_str).collect();
        assert_eq!(fields, ["default_branch", "description", "name", "visibility"]);
    }

    #[test]
    fn a_long_service_name_is_blamed_for_an_overflowing_role() {
        let errors = parse_service_request(&config(), &input(&"a".repeat(40), "main-branch-x")).unwrap_err();
        assert!(errors["name"].contains("by 7 characters"), "{errors:?}");
    }

    #[test]
    fn a_branch_too_long_for_any_name_is_blamed_itself() {
        let errors = parse_service_request(&config(), &input("ab", &"b".repeat(50))).unwrap_err();
        assert!(errors["default_branch"].contains("IAM allows 64"), "{errors:?}");
        assert!(!errors.contains_key("name"));
    }

    #[test]
    fn a_description_with_a_line_break_is_refused() {
        let bad = ServiceInput { description: "one\ntwo".into(), ..input("payments", "main") };
        assert!(parse_service_request(&config(), &bad).unwrap_err().contains_key("description"));
    }
}
