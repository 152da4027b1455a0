//! The service inventory and (from the provisioning work on) creation and the service page.

use axum::{Extension, Router, routing::get};

use super::session::CurrentUser;
use crate::{
    app::AppState,
    error::AppError,
    templates::{InventoryPage, Layout},
};

pub fn router() -> Router<AppState> {
    Router::new().route("/services", get(inventory))
}

async fn inventory(Extension(user): Extension<CurrentUser>) -> Result<InventoryPage, AppError> {
    Ok(InventoryPage { layout: Layout::for_user(&user), services: Vec::new() })
}
