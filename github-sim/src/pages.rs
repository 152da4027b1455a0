//! The few github.com web pages the sandbox links to: avatars, a repository page, a run page.
//! Anything else is GitHub's JSON 404.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::Sim;
use crate::error::ApiError;

pub(crate) fn router() -> Router<Sim> {
    Router::new().route("/avatars/u/{id}", get(get_avatar))
}

/// HTML-escapes text for the sim's pages.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A minimal HTML document; `body` must already be escaped.
pub(crate) fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{} · github-sim</title></head><body>{body}</body></html>",
        escape(title)
    ))
}

/// A generated SVG avatar: the account's initial on a colour derived from its id.
async fn get_avatar(State(sim): State<Sim>, Path(id): Path<u64>) -> Response {
    let login = {
        let world = sim.world();
        world
            .user(id)
            .map(|u| u.login.clone())
            .or_else(|| world.orgs.iter().find(|o| o.id == id).map(|o| o.login.clone()))
    };
    let Some(login) = login else { return ApiError::not_found().into_response() };
    let initial = login.chars().next().unwrap_or('?').to_ascii_uppercase();
    let hue = (id * 47) % 360;
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"64\" height=\"64\" viewBox=\"0 0 64 64\"><rect width=\"64\" height=\"64\" fill=\"hsl({hue},55%,45%)\"/><text x=\"32\" y=\"42\" font-family=\"sans-serif\" font-size=\"30\" fill=\"#fff\" text-anchor=\"middle\">{}</text></svg>",
        escape(&initial.to_string())
    );
    ([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "max-age=300")], svg).into_response()
}

/// `/{login}`: the account's name and repositories (the `html_url` of users and orgs).
fn account_page(sim: &Sim, login: &str) -> Response {
    let Some((_, login)) = sim.world().owner(login) else { return ApiError::not_found().into_response() };
    let repos: String = sim
        .repos(&login)
        .iter()
        .map(|r| format!("<li><a href=\"/{}\">{}</a></li>", escape(&r.full_name), escape(&r.name)))
        .collect();
    page(&login, &format!("<h1>{}</h1><ul>{repos}</ul>", escape(&login))).into_response()
}

/// `/{login}`, `/{owner}/{repo}` and `/{owner}/{repo}/actions/runs/{id}` as small HTML pages; else a JSON 404.
pub(crate) async fn fallback(State(sim): State<Sim>, uri: Uri) -> Response {
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let (owner, name) = match segments.as_slice() {
        [login] => return account_page(&sim, login),
        [o, r] | [o, r, "actions", "runs", _] => (*o, r.trim_end_matches(".git")),
        _ => return ApiError::not_found().into_response(),
    };
    let Some(repo) = sim.repo(owner, name) else {
        return (
            StatusCode::NOT_FOUND,
            page("Not Found", "<h1>404</h1><p>This is not the web page you are looking for.</p>"),
        )
            .into_response();
    };
    let mut body = format!(
        "<h1>{}</h1><p>{} repository · default branch <code>{}</code>{}</p>",
        escape(&repo.full_name),
        escape(&repo.visibility),
        escape(&repo.default_branch),
        repo.template_full_name
            .as_deref()
            .map(|t| format!(" · generated from {}", escape(t)))
            .unwrap_or_default()
    );
    if let [_, _, "actions", "runs", id] = segments.as_slice() {
        let run = sim.runs(owner, name).into_iter().find(|r| r.id.to_string() == *id);
        let Some(run) = run else { return ApiError::not_found().into_response() };
        body.push_str(&format!(
            "<h2>{} #{}</h2><p>{} on <code>{}</code>: {} {}</p>",
            escape(&run.name),
            run.run_number,
            escape(&run.event),
            escape(&run.head_branch),
            escape(&run.status),
            escape(run.conclusion.as_deref().unwrap_or(""))
        ));
    }
    page(&repo.full_name, &body).into_response()
}
