//! `integration` (`GET /app`) and `installation` (`GET /orgs/{org}/installation`), as GitHub's schemas
//! require them.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Account, node_id, simple_user};
use crate::model::{App, Installation, Org, World, level_covers, ts};

/// `integration`. The sim records neither who registered an App nor what it asks for, so it shows what its
/// installations show: the owner is the account of its first installation (the bot account when it has
/// none) and its permissions are the highest level any installation grants.
pub(crate) fn integration(base: &str, world: &World, app: &App) -> Value {
    let installations: Vec<&Installation> =
        world.installations.iter().filter(|i| i.app_id == app.id).collect();
    let owner_org = installations.first().and_then(|i| world.orgs.iter().find(|o| o.id == i.account_id));
    let owner = match (owner_org, world.user(app.bot_user_id)) {
        (Some(org), _) => simple_user(base, &Account::org(org)),
        (None, Some(bot)) => simple_user(base, &Account::user(bot)),
        (None, None) => Value::Null,
    };
    let mut permissions: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, level) in installations.iter().flat_map(|i| &i.permissions) {
        let have = permissions.entry(name.as_str()).or_insert(level.as_str());
        if !level_covers(have, level) {
            *have = level.as_str();
        }
    }
    let html_url = format!("{base}/apps/{}", app.slug);
    json!({
        "id": app.id,
        "slug": app.slug,
        "node_id": node_id("A_", app.id),
        "owner": owner,
        "name": app.name,
        "description": null,
        "external_url": html_url,
        "html_url": html_url,
        "created_at": ts(app.created_at),
        "updated_at": ts(app.created_at),
        "permissions": permissions,
        "events": [],
        "installations_count": installations.len(),
    })
}

/// `installation` of `app` on the organization `org`, with all its repositories selected.
pub(crate) fn installation(base: &str, app: &App, installation: &Installation, org: &Org) -> Value {
    json!({
        "id": installation.id,
        "account": simple_user(base, &Account::org(org)),
        "repository_selection": "all",
        "access_tokens_url": format!("{base}/app/installations/{}/access_tokens", installation.id),
        "repositories_url": format!("{base}/installation/repositories"),
        "html_url": format!("{base}/organizations/{}/settings/installations/{}", org.login, installation.id),
        "app_id": app.id,
        "app_slug": app.slug,
        "target_id": org.id,
        "target_type": "Organization",
        "permissions": installation.permissions,
        "events": [],
        "created_at": ts(installation.created_at),
        "updated_at": ts(installation.created_at),
        "single_file_name": null,
        "suspended_by": null,
        "suspended_at": null,
    })
}
