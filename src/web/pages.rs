//! One struct per page. Values are escaped by askama; nothing from a user or provider is marked safe.

use askama::Template;
use askama_web::WebTemplate;

use crate::domain::ServiceStatus;

use crate::web::session::CurrentUser;

/// What every page's header needs.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub user: Option<LayoutUser>,
    pub csrf_token: String,
}

#[derive(Debug, Clone)]
pub struct LayoutUser {
    pub login: String,
    pub avatar_url: String,
}

impl Layout {
    pub fn anonymous() -> Self {
        Self::default()
    }

    pub fn for_user(user: &CurrentUser) -> Self {
        Self {
            user: Some(LayoutUser {
                login: user.user.login.clone(),
                avatar_url: user.user.avatar_url.clone(),
            }),
            csrf_token: user.csrf_token.clone(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub layout: Layout,
    pub org: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub layout: Layout,
    pub title: String,
    pub message: String,
    pub request_id: String,
    /// Offer "Sign in again" (for failed sign-ins).
    pub retry_sign_in: bool,
}

/// `/problems/{code}`: the page a problem document's `type` points at.
#[derive(Template, WebTemplate)]
#[template(path = "problem.html")]
pub struct ProblemPage {
    pub layout: Layout,
    pub code: &'static str,
    pub status: u16,
    pub title: &'static str,
    pub meaning: &'static str,
    pub remedy: &'static str,
}

/// The live services, one page of them, with the filters that chose them (built in
/// `web::services::inventory`, which also makes every link so they keep the filters).
#[derive(Template, WebTemplate)]
#[template(path = "services/index.html")]
pub struct InventoryPage<'a> {
    pub layout: Layout,
    pub services: Vec<InventoryRow<'a>>,
    pub environments: Vec<String>,
    /// (value, label) for the status filter.
    pub statuses: Vec<(&'static str, String)>,
    /// Some filter is set: an empty list means "no match", not "no services yet".
    pub filtered: bool,
    pub q: String,
    pub environment: String,
    pub status: String,
    /// The owning-team filter, as typed.
    pub team: String,
    pub sort: &'static str,
    pub dir: &'static str,
    pub name_sort_url: String,
    pub created_sort_url: String,
    /// Nothing matches (counting stops past a thousand, so this is cheap).
    pub none_match: bool,
    /// "Showing 51–100 of 1,000+ services."
    pub count: String,
    /// "Page 2 of 3", or "Page 2" past a thousand, or nothing when the place is unknown.
    pub page_of: String,
    pub prev_url: Option<String>,
    pub next_url: Option<String>,
    /// The last page (`before=end`), offered when an old page number is past the end.
    pub last_page_url: String,
}

impl InventoryPage<'_> {
    /// Whether `env` is the chosen environment filter (to select it in the form).
    pub fn is_environment(&self, env: &str) -> bool {
        self.environment == env
    }

    pub fn is_status(&self, status: &str) -> bool {
        self.status == status
    }

    /// The arrow after a column heading when the list is sorted by it.
    pub fn sort_mark(&self, column: &str) -> &'static str {
        match (self.sort == column, self.dir) {
            (false, _) => "",
            (true, "asc") => " ▲",
            (true, _) => " ▼",
        }
    }
}

/// One service of the page, borrowed from the row read (a page is fifty of them).
#[derive(Debug, Clone)]
pub struct InventoryRow<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub environment: &'a str,
    /// The owning team's slug.
    pub team: Option<&'a str>,
    pub status: ServiceStatus,
    pub status_label: String,
    pub created_by_login: &'a str,
    pub created_by_avatar: &'a str,
    pub created_at: String,
    pub created_at_iso: String,
    /// Only http(s) URLs: these become links.
    pub html_url: Option<&'a str>,
    pub actions_url: Option<String>,
    pub ecr_repository_uri: Option<&'a str>,
}

/// The create form, blank or coming back with the typed values and a message per bad field.
#[derive(Template, WebTemplate)]
#[template(path = "services/new.html")]
pub struct NewServicePage {
    pub layout: Layout,
    pub org: String,
    pub environments: Vec<String>,
    pub templates: Vec<String>,
    pub values: crate::commands::request::ServiceInput,
    pub errors: crate::commands::request::FieldErrors,
    pub description_max: usize,
    /// The visibilities this person may choose (`SHIPYARD_ALLOWED_VISIBILITIES`; all for an org admin).
    pub visibilities: Vec<crate::domain::Visibility>,
    /// The teams this person may choose (all of the organization's for an org admin).
    pub teams: Vec<crate::github::Team>,
    /// Why the list is empty when GitHub did not give it.
    pub teams_error: Option<String>,
    /// `SHIPYARD_TEAM_REQUIRED`: without it the select offers "no owning team".
    pub team_required: bool,
    /// What the team will be granted (`SHIPYARD_TEAM_PERMISSION`), for the hint.
    pub team_permission: &'static str,
}

impl NewServicePage {
    /// The message for `field`, if it was refused.
    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }

    /// Whether the visibility radio `value` is offered to this person.
    pub fn offers(&self, value: &str) -> bool {
        self.visibilities.iter().any(|v| v.as_str() == value)
    }

    /// Whether the team `slug` is the chosen one.
    pub fn team_is(&self, slug: &str) -> bool {
        self.values.team.trim() == slug
    }

    /// Whether the visibility radio `value` is the chosen one (private when nothing was chosen).
    pub fn visibility_is(&self, value: &str) -> bool {
        self.values.visibility.trim() == value
            || (value == "private" && self.values.visibility.trim().is_empty())
    }
}

/// One service: its steps while it is being built, its outputs when ready, the error when failed.
#[derive(Template, WebTemplate)]
#[template(path = "services/show.html")]
pub struct ServicePage {
    pub layout: Layout,
    pub service: crate::db::services::Service,
    /// The Delete section: offered or not, allowed or not, and the form's values when it comes back.
    pub delete: crate::web::services::delete::DeleteSection,
    /// The owning team and the transfer form.
    pub owner: crate::web::services::team::OwnerSection,
    pub created_at: String,
    pub in_progress: bool,
    pub steps: Vec<crate::web::services::view::StepView>,
    pub outputs: crate::web::services::view::Outputs,
    pub failure: Option<crate::web::services::view::Failure>,
    /// The service's latest audit events, newest first.
    pub events: Vec<crate::web::audit::AuditRow>,
    /// The latest runs and the images in ECR, looked up live; none before the first build starts.
    pub live: Option<crate::web::services::live::Live>,
    /// What the last drift check found, for a ready or drifted service.
    pub drift: Option<crate::web::services::drift::DriftView>,
    /// Why this person may not press Retry, Repair or Check now (the delete rule); the page offers
    /// none of them then, and says why.
    pub owner_refusal: Option<String>,
    /// The push roles, and the forms to change them.
    pub roles: crate::web::services::roles::RolesSection,
}

/// The audit trail, newest first, optionally for one service and/or one actor.
#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub layout: Layout,
    pub events: Vec<crate::web::audit::AuditRow>,
    pub service: String,
    pub actor: String,
    /// More events match than the page shows (it shows the newest `limit`).
    pub truncated: bool,
    pub limit: i64,
}
