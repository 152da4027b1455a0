//! One struct per page. Values are escaped by askama; nothing from a user or provider is marked safe.

use askama::Template;
use askama_web::WebTemplate;

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

#[derive(Template, WebTemplate)]
#[template(path = "services/index.html")]
pub struct InventoryPage {
    pub layout: Layout,
    pub services: Vec<InventoryRow>,
}

#[derive(Debug, Clone)]
pub struct InventoryRow {
    pub name: String,
}

/// The create form, blank or coming back with the typed values and a message per bad field.
#[derive(Template, WebTemplate)]
#[template(path = "services/new.html")]
pub struct NewServicePage {
    pub layout: Layout,
    pub org: String,
    pub environments: Vec<String>,
    pub templates: Vec<String>,
    pub values: crate::web::services::form::ServiceInput,
    pub errors: crate::web::services::form::FieldErrors,
    pub description_max: usize,
}

impl NewServicePage {
    /// The message for `field`, if it was refused.
    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
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
    pub created_at: String,
    pub in_progress: bool,
    pub steps: Vec<crate::web::services::view::StepView>,
    pub outputs: crate::web::services::view::Outputs,
    pub failure: Option<crate::web::services::view::Failure>,
}
