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
