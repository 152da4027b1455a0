//! Every REST route github-sim serves answers as GitHub's published OpenAPI description says: each status the
//! sim gives is exercised and its JSON body validated against the schema GitHub describes for that operation
//! and status (`openapi/schemas.json`, made by `scripts/openapi-schemas.sh` from `@octokit/openapi`).
//! A route added to the sim without an entry in [`COVERED`] (or [`EXEMPT`]) fails `every_route_is_covered`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::{ALICE, BOB, BOT, MALLORY, generate, oauth_token, start, start_with};
use github_sim::RunningSim;
use reqwest::Method;
use serde_json::{Value, json};

/// Each sim route (`METHOD path` as written in its `.route(...)`) and the operation of GitHub's description
/// it implements (GitHub's parameter names differ from the sim's in places).
const COVERED: &[(&str, &str, &str)] = &[
    ("GET", "/user", "GET /user"),
    ("GET", "/users/{login}", "GET /users/{username}"),
    ("GET", "/user/memberships/orgs/{org}", "GET /user/memberships/orgs/{org}"),
    ("GET", "/user/orgs", "GET /user/orgs"),
    ("GET", "/orgs/{org}", "GET /orgs/{org}"),
    ("GET", "/orgs/{org}/repos", "GET /orgs/{org}/repos"),
    ("GET", "/orgs/{org}/teams", "GET /orgs/{org}/teams"),
    ("GET", "/orgs/{org}/teams/{team_slug}", "GET /orgs/{org}/teams/{team_slug}"),
    (
        "GET",
        "/orgs/{org}/teams/{team_slug}/memberships/{username}",
        "GET /orgs/{org}/teams/{team_slug}/memberships/{username}",
    ),
    (
        "GET",
        "/orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}",
        "GET /orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}",
    ),
    (
        "PUT",
        "/orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}",
        "PUT /orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}",
    ),
    (
        "DELETE",
        "/orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}",
        "DELETE /orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}",
    ),
    ("GET", "/repos/{owner}/{repo}/teams", "GET /repos/{owner}/{repo}/teams"),
    ("GET", "/repos/{owner}/{repo}/collaborators", "GET /repos/{owner}/{repo}/collaborators"),
    (
        "GET",
        "/repos/{owner}/{repo}/collaborators/{username}",
        "GET /repos/{owner}/{repo}/collaborators/{username}",
    ),
    (
        "PUT",
        "/repos/{owner}/{repo}/collaborators/{username}",
        "PUT /repos/{owner}/{repo}/collaborators/{username}",
    ),
    (
        "DELETE",
        "/repos/{owner}/{repo}/collaborators/{username}",
        "DELETE /repos/{owner}/{repo}/collaborators/{username}",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/collaborators/{username}/permission",
        "GET /repos/{owner}/{repo}/collaborators/{username}/permission",
    ),
    ("GET", "/repos/{owner}/{repo}/rulesets", "GET /repos/{owner}/{repo}/rulesets"),
    ("POST", "/repos/{owner}/{repo}/rulesets", "POST /repos/{owner}/{repo}/rulesets"),
    ("GET", "/repos/{owner}/{repo}/rulesets/{ruleset_id}", "GET /repos/{owner}/{repo}/rulesets/{ruleset_id}"),
    ("PUT", "/repos/{owner}/{repo}/rulesets/{ruleset_id}", "PUT /repos/{owner}/{repo}/rulesets/{ruleset_id}"),
    (
        "DELETE",
        "/repos/{owner}/{repo}/rulesets/{ruleset_id}",
        "DELETE /repos/{owner}/{repo}/rulesets/{ruleset_id}",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/rules/branches/{*branch}",
        "GET /repos/{owner}/{repo}/rules/branches/{branch}",
    ),
    ("GET", "/orgs/{org}/rulesets", "GET /orgs/{org}/rulesets"),
    ("POST", "/orgs/{org}/rulesets", "POST /orgs/{org}/rulesets"),
    ("GET", "/orgs/{org}/rulesets/{ruleset_id}", "GET /orgs/{org}/rulesets/{ruleset_id}"),
    ("GET", "/repos/{owner}/{repo}", "GET /repos/{owner}/{repo}"),
    // Not in the published description, but GitHub serves it: it is where GitHub's own 301 for a
    // renamed repository points. Its body is the same `full-repository`, checked with that schema.
    ("GET", "/repositories/{repository_id}", "GET /repos/{owner}/{repo}"),
    ("PATCH", "/repos/{owner}/{repo}", "PATCH /repos/{owner}/{repo}"),
    ("DELETE", "/repos/{owner}/{repo}", "DELETE /repos/{owner}/{repo}"),
    (
        "GET",
        "/repos/{owner}/{repo}/actions/oidc/customization/sub",
        "GET /repos/{owner}/{repo}/actions/oidc/customization/sub",
    ),
    ("POST", "/repos/{owner}/{repo}/generate", "POST /repos/{template_owner}/{template_repo}/generate"),
    ("GET", "/repos/{owner}/{repo}/branches", "GET /repos/{owner}/{repo}/branches"),
    ("GET", "/repos/{owner}/{repo}/branches/{branch}", "GET /repos/{owner}/{repo}/branches/{branch}"),
    (
        "POST",
        "/repos/{owner}/{repo}/branches/{branch}/rename",
        "POST /repos/{owner}/{repo}/branches/{branch}/rename",
    ),
    ("GET", "/repos/{owner}/{repo}/git/ref/heads/{branch}", "GET /repos/{owner}/{repo}/git/ref/{ref}"),
    ("GET", "/repos/{owner}/{repo}/contents/{*path}", "GET /repos/{owner}/{repo}/contents/{path}"),
    ("PUT", "/repos/{owner}/{repo}/contents/{*path}", "PUT /repos/{owner}/{repo}/contents/{path}"),
    ("GET", "/repos/{owner}/{repo}/vulnerability-alerts", "GET /repos/{owner}/{repo}/vulnerability-alerts"),
    ("PUT", "/repos/{owner}/{repo}/vulnerability-alerts", "PUT /repos/{owner}/{repo}/vulnerability-alerts"),
    (
        "DELETE",
        "/repos/{owner}/{repo}/vulnerability-alerts",
        "DELETE /repos/{owner}/{repo}/vulnerability-alerts",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/automated-security-fixes",
        "GET /repos/{owner}/{repo}/automated-security-fixes",
    ),
    (
        "PUT",
        "/repos/{owner}/{repo}/automated-security-fixes",
        "PUT /repos/{owner}/{repo}/automated-security-fixes",
    ),
    (
        "DELETE",
        "/repos/{owner}/{repo}/automated-security-fixes",
        "DELETE /repos/{owner}/{repo}/automated-security-fixes",
    ),
    ("GET", "/repos/{owner}/{repo}/topics", "GET /repos/{owner}/{repo}/topics"),
    ("PUT", "/repos/{owner}/{repo}/topics", "PUT /repos/{owner}/{repo}/topics"),
    ("GET", "/repos/{owner}/{repo}/actions/secrets", "GET /repos/{owner}/{repo}/actions/secrets"),
    (
        "GET",
        "/repos/{owner}/{repo}/actions/secrets/public-key",
        "GET /repos/{owner}/{repo}/actions/secrets/public-key",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/actions/secrets/{name}",
        "GET /repos/{owner}/{repo}/actions/secrets/{secret_name}",
    ),
    (
        "PUT",
        "/repos/{owner}/{repo}/actions/secrets/{name}",
        "PUT /repos/{owner}/{repo}/actions/secrets/{secret_name}",
    ),
    (
        "DELETE",
        "/repos/{owner}/{repo}/actions/secrets/{name}",
        "DELETE /repos/{owner}/{repo}/actions/secrets/{secret_name}",
    ),
    ("GET", "/repos/{owner}/{repo}/hooks", "GET /repos/{owner}/{repo}/hooks"),
    ("POST", "/repos/{owner}/{repo}/hooks", "POST /repos/{owner}/{repo}/hooks"),
    ("GET", "/repos/{owner}/{repo}/hooks/{hook_id}", "GET /repos/{owner}/{repo}/hooks/{hook_id}"),
    ("PATCH", "/repos/{owner}/{repo}/hooks/{hook_id}", "PATCH /repos/{owner}/{repo}/hooks/{hook_id}"),
    ("DELETE", "/repos/{owner}/{repo}/hooks/{hook_id}", "DELETE /repos/{owner}/{repo}/hooks/{hook_id}"),
    ("GET", "/repos/{owner}/{repo}/actions/workflows", "GET /repos/{owner}/{repo}/actions/workflows"),
    (
        "GET",
        "/repos/{owner}/{repo}/actions/workflows/{workflow}",
        "GET /repos/{owner}/{repo}/actions/workflows/{workflow_id}",
    ),
    (
        "POST",
        "/repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches",
        "POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches",
    ),
    ("GET", "/repos/{owner}/{repo}/actions/runs", "GET /repos/{owner}/{repo}/actions/runs"),
    ("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}", "GET /repos/{owner}/{repo}/actions/runs/{run_id}"),
    (
        "POST",
        "/repos/{owner}/{repo}/actions/runs/{run_id}/rerun",
        "POST /repos/{owner}/{repo}/actions/runs/{run_id}/rerun",
    ),
    (
        "POST",
        "/repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs",
        "POST /repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt}",
        "GET /repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs",
        "GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt}/jobs",
        "GET /repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}/jobs",
    ),
    ("GET", "/repos/{owner}/{repo}/actions/jobs/{job_id}", "GET /repos/{owner}/{repo}/actions/jobs/{job_id}"),
    (
        "GET",
        "/repos/{owner}/{repo}/actions/jobs/{job_id}/logs",
        "GET /repos/{owner}/{repo}/actions/jobs/{job_id}/logs",
    ),
    (
        "PUT",
        "/repos/{owner}/{repo}/actions/oidc/customization/sub",
        "PUT /repos/{owner}/{repo}/actions/oidc/customization/sub",
    ),
    ("GET", "/orgs/{org}/actions/oidc/customization/sub", "GET /orgs/{org}/actions/oidc/customization/sub"),
    ("PUT", "/orgs/{org}/actions/oidc/customization/sub", "PUT /orgs/{org}/actions/oidc/customization/sub"),
    ("GET", "/app", "GET /app"),
    ("GET", "/orgs/{org}/installation", "GET /orgs/{org}/installation"),
    (
        "POST",
        "/app/installations/{id}/access_tokens",
        "POST /app/installations/{installation_id}/access_tokens",
    ),
    ("GET", "/orgs/{org}/memberships/{username}", "GET /orgs/{org}/memberships/{username}"),
    ("GET", "/repos/{owner}/{repo}/environments", "GET /repos/{owner}/{repo}/environments"),
    (
        "GET",
        "/repos/{owner}/{repo}/environments/{environment_name}",
        "GET /repos/{owner}/{repo}/environments/{environment_name}",
    ),
    (
        "PUT",
        "/repos/{owner}/{repo}/environments/{environment_name}",
        "PUT /repos/{owner}/{repo}/environments/{environment_name}",
    ),
    (
        "DELETE",
        "/repos/{owner}/{repo}/environments/{environment_name}",
        "DELETE /repos/{owner}/{repo}/environments/{environment_name}",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies",
        "GET /repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies",
    ),
    (
        "POST",
        "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies",
        "POST /repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/environments/{environment_name}/secrets",
        "GET /repos/{owner}/{repo}/environments/{environment_name}/secrets",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/environments/{environment_name}/secrets/public-key",
        "GET /repos/{owner}/{repo}/environments/{environment_name}/secrets/public-key",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}",
        "GET /repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}",
    ),
    (
        "PUT",
        "/repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}",
        "PUT /repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}",
    ),
    (
        "DELETE",
        "/repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}",
        "DELETE /repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}",
    ),
];

/// Source files whose routes are not part of GitHub's REST description, and why.
const EXEMPT: &[(&str, &str)] = &[
    ("oauth.rs", "the OAuth web flow lives on github.com, not in the REST API description"),
    ("pages.rs", "github.com web pages (avatars, repository and run pages), not REST"),
    ("admin.rs", "the sim's own /_sim/ control routes, which GitHub does not have"),
    ("push.rs", "a /_sim/ route standing in for `git push`, whose protocol is not REST"),
];

/// Single routes, in files that also serve REST, that are not part of GitHub's REST description, and why:
/// `(file name, METHOD, path, reason)`. Each must be a route the sim serves, in a file [`EXEMPT`] does not
/// already cover, and not also in [`COVERED`].
const EXEMPT_ROUTES: &[(&str, &str, &str, &str)] = &[
    (
        "routes.rs",
        "GET",
        "{issuer_path}/.well-known/openid-configuration",
        "the Actions OIDC issuer's OpenID Connect discovery document, served by \
         token.actions.githubusercontent.com (GHES: /_services/token), not by the REST API",
    ),
    (
        "routes.rs",
        "GET",
        "{issuer_path}/.well-known/jwks",
        "the Actions OIDC issuer's signing keys (JWKS), served next to its discovery document, not REST",
    ),
    (
        "jobs.rs",
        "GET",
        "/_job-logs/{job_id}/{key}",
        "the plain-text log download that GET .../actions/jobs/{job_id}/logs redirects to (on GitHub a \
         short-lived signed URL on blob storage), not REST",
    ),
];

fn exempt(file: &str, method: &str, path: &str) -> bool {
    EXEMPT.iter().any(|(exempt, _)| *exempt == file)
        || EXEMPT_ROUTES.iter().any(|(f, m, p, _)| *f == file && *m == method && *p == path)
}

/// `(file name, METHOD, path)` of every `.route("path", get(..).post(..))` in github-sim's sources.
fn sim_routes() -> Vec<(String, String, String)> {
    let mut files = Vec::new();
    collect_rs(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    let mut routes = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        for (path, methods) in parse_routes(&text) {
            routes.extend(methods.into_iter().map(|m| (name.clone(), m, path.clone())));
        }
    }
    routes
}

fn collect_rs(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Each `.route(` call's path literal and the method routers (`get(`, `.post(`, ...) in its arguments.
fn parse_routes(text: &str) -> Vec<(String, Vec<String>)> {
    let mut routes = Vec::new();
    for (start, _) in text.match_indices(".route(") {
        let args = &text[start + ".route(".len()..];
        let Some(quote) = args.find('"') else { continue };
        let Some(len) = args[quote + 1..].find('"') else { continue };
        let path = args[quote + 1..quote + 1 + len].to_string();
        let mut depth = 1;
        let end = args
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map_or(args.len(), |(i, _)| i);
        let inner = &args[..end];
        let methods = ["get", "post", "put", "patch", "delete"]
            .iter()
            .filter(|m| {
                inner
                    .match_indices(&format!("{m}("))
                    .any(|(i, _)| i == 0 || !inner[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_'))
            })
            .map(|m| m.to_ascii_uppercase())
            .collect();
        routes.push((path, methods));
    }
    routes
}

#[test]
fn the_route_scan_reads_every_method_of_a_chained_route() {
    let source = r#"Router::new()
        .route("/a/{x}", get(read).patch(update)
            .delete(remove))
        .route("/b", post(create))"#;
    let routes = parse_routes(source);
    assert_eq!(
        routes,
        [
            ("/a/{x}".to_string(), vec!["GET".into(), "PATCH".into(), "DELETE".into()]),
            ("/b".into(), vec!["POST".into()])
        ]
    );
}

#[test]
fn every_route_is_covered_or_exempt() {
    let routes = sim_routes();
    assert!(routes.len() > 30, "the route scan found the sim's routes: {routes:?}");
    let uncovered: Vec<String> = routes
        .iter()
        .filter(|(file, method, path)| !exempt(file, method, path))
        .filter(|(_, method, path)| !COVERED.iter().any(|(m, p, _)| m == method && p == path))
        .map(|(file, method, path)| format!("{method} {path} ({file})"))
        .collect();
    assert!(uncovered.is_empty(), "routes with no OpenAPI coverage in tests/openapi.rs: {uncovered:#?}");
    let stale: Vec<_> = COVERED
        .iter()
        .filter(|(m, p, _)| !routes.iter().any(|(_, method, path)| method == m && path == p))
        .collect();
    assert!(stale.is_empty(), "COVERED lists routes the sim does not serve: {stale:#?}");
    let stale_exemptions: Vec<_> = EXEMPT_ROUTES
        .iter()
        .filter(|(file, m, p, _)| {
            EXEMPT.iter().any(|(exempt, _)| exempt == file)
                || COVERED.iter().any(|(cm, cp, _)| cm == m && cp == p)
                || !routes.iter().any(|(f, method, path)| f == file && method == m && path == p)
        })
        .collect();
    assert!(
        stale_exemptions.is_empty(),
        "EXEMPT_ROUTES lists routes the sim does not serve there, or that are covered or exempt anyway: \
         {stale_exemptions:#?}"
    );
    let empty_files: Vec<_> =
        EXEMPT.iter().filter(|(file, _)| !routes.iter().any(|(f, _, _)| f == file)).collect();
    assert!(empty_files.is_empty(), "EXEMPT lists files that serve no routes: {empty_files:#?}");
    let schemas = Schemas::load();
    for (_, _, op) in COVERED {
        assert!(schemas.operations.contains_key(*op), "{op} is not in openapi/schemas.json");
    }
}

/// The committed schemas and a validator cache.
struct Schemas {
    operations: serde_json::Map<String, Value>,
    components: Value,
}

impl Schemas {
    fn load() -> Self {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/schemas.json");
        let document: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        Schemas {
            operations: document["operations"].as_object().unwrap().clone(),
            components: document["components"].clone(),
        }
    }

    /// The schema for `op` answering `status`; `Ok(None)` when GitHub describes that answer as bodiless.
    /// Error statuses an operation does not list get GitHub's common error bodies (`validation-error` for
    /// 422, else `basic-error`), which is what api.github.com sends for them.
    fn schema(&self, op: &str, status: u16) -> Result<Option<Value>, String> {
        let responses = self.operations.get(op).ok_or_else(|| format!("{op} not in schemas.json"))?;
        match responses.get(status.to_string().as_str()) {
            // api.github.com answers errors it describes as bodiless (a 404 "if the user is not a member")
            // with its usual `basic-error` all the same.
            Some(Value::Null) if status >= 400 => {
                Ok(Some(self.rooted(json!({"$ref": "#/components/schemas/basic-error"}))))
            }
            Some(Value::Null) => Ok(None),
            Some(schema) => Ok(Some(self.rooted(overlapping_alternatives(schema.clone())))),
            None if status == 422 => {
                Ok(Some(self.rooted(json!({"$ref": "#/components/schemas/validation-error"}))))
            }
            None if status >= 400 => {
                Ok(Some(self.rooted(json!({"$ref": "#/components/schemas/basic-error"}))))
            }
            None => Err(format!("{op} answered {status}, which GitHub's description does not list")),
        }
    }

    fn rooted(&self, schema: Value) -> Value {
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "allOf": [schema],
            "components": self.components,
        })
    }
}

/// Sends requests, checks statuses and bodies, and remembers every failure and what was exercised.
struct Walk {
    /// The sim requests go to.
    base: String,
    schemas: Schemas,
    failures: Vec<String>,
    exercised: BTreeMap<String, BTreeSet<u16>>,
}

impl Walk {
    fn new(sim: &RunningSim) -> Self {
        Walk { base: sim.url(), schemas: Schemas::load(), failures: Vec::new(), exercised: BTreeMap::new() }
    }

    fn sim_url(&self) -> String {
        self.base.clone()
    }

    fn switch_to(&mut self, sim: &RunningSim) {
        self.base = sim.url();
    }

    /// Sends `method path` (as `token`, with an optional JSON body), expects `status`, validates the body
    /// against `op`'s schema for it, and returns the body (`Null` when empty).
    async fn call(
        &mut self,
        op: &str,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        status: u16,
    ) -> Value {
        let mut request = common::http()
            .request(method.clone(), format!("{}{path}", self.base))
            .header("accept", "application/vnd.github+json")
            .header("user-agent", "github-sim-tests");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.check(op, &method, path, request, status).await
    }

    /// Like [`Walk::call`], with `text` as the request body as it is (to send JSON that does not parse).
    async fn call_raw(&mut self, op: &str, method: Method, path: &str, token: &str, text: &str, status: u16) {
        let request = common::http()
            .request(method.clone(), format!("{}{path}", self.base))
            .header("accept", "application/vnd.github+json")
            .header("user-agent", "github-sim-tests")
            .header("content-type", "application/json")
            .bearer_auth(token)
            .body(text.to_string());
        self.check(op, &method, path, request, status).await;
    }

    /// Sends `request`, expects `status` and validates the body against `op`'s schema for it.
    async fn check(
        &mut self,
        op: &str,
        method: &Method,
        path: &str,
        request: reqwest::RequestBuilder,
        status: u16,
    ) -> Value {
        let response = request.send().await.unwrap();
        let got = response.status().as_u16();
        let text = response.text().await.unwrap();
        let what = format!("{method} {path} ({op})");
        if got != status {
            self.failures.push(format!("{what}: expected {status}, got {got}: {text}"));
            return Value::Null;
        }
        self.exercised.entry(op.to_string()).or_default().insert(status);
        let value: Value = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() };
        match self.schemas.schema(op, status) {
            Err(message) => self.failures.push(format!("{what}: {message}")),
            Ok(None) if !text.is_empty() => {
                self.failures.push(format!("{what}: GitHub sends no body with {status}, the sim sent {text}"))
            }
            Ok(None) => {}
            Ok(Some(schema)) => {
                let validator = jsonschema::draft202012::new(&schema).expect("schema compiles");
                let errors: Vec<String> = validator
                    .iter_errors(&value)
                    .take(60)
                    .map(|e| format!("  at {}: {e}", e.instance_path()))
                    .collect();
                if !errors.is_empty() {
                    self.failures
                        .push(format!("{what} {status} does not match the schema:\n{}", errors.join("\n")));
                }
            }
        }
        value
    }

    fn finish(self) {
        let missing: Vec<&str> =
            COVERED.iter().map(|(_, _, op)| *op).filter(|op| !self.exercised.contains_key(*op)).collect();
        let mut failures = self.failures;
        if !missing.is_empty() {
            failures.push(format!("operations never exercised: {missing:?}"));
        }
        assert!(failures.is_empty(), "{} conformance failures:\n{}", failures.len(), failures.join("\n\n"));
    }
}

/// GitHub's description puts alternatives that overlap under a top-level `oneOf` (a 409 of the contents
/// API is `basic-error` or `repository-rule-violation-error`, and every plain error is both), where "exactly
/// one" can never hold; what it means is "one of these shapes", which is `anyOf`.
fn overlapping_alternatives(mut schema: Value) -> Value {
    if let Some(object) = schema.as_object_mut()
        && let Some(alternatives) = object.remove("oneOf")
    {
        object.insert("anyOf".into(), alternatives);
    }
    schema
}

fn seal(key_b64: &str, value: &str) -> String {
    let key = crypto_box::PublicKey::from_slice(&B64.decode(key_b64).unwrap()).unwrap();
    B64.encode(key.seal(&mut crypto_box::aead::OsRng, value.as_bytes()).unwrap())
}

use Method as M;

#[tokio::test]
async fn every_answer_validates_against_githubs_schema() {
    let sim = start().await;
    let none_scoped = oauth_token(&sim, "bob", "").await;
    let mut w = Walk::new(&sim);

    // Users and organizations.
    let op = "GET /user";
    w.call(op, M::GET, "/user", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/user", None, None, 401).await;
    w.call(op, M::GET, "/user", Some("ghp_not_a_token"), None, 401).await;
    let op = "GET /users/{username}";
    w.call(op, M::GET, "/users/alice", None, None, 200).await;
    w.call(op, M::GET, "/users/acme", None, None, 200).await;
    w.call(op, M::GET, "/users/nobody", None, None, 404).await;
    sim.sim().set_rate_limit_remaining("mallory", 0);
    w.call(op, M::GET, "/user", Some(MALLORY), None, 403).await;
    sim.sim().set_rate_limit_remaining("mallory", 100);
    let op = "GET /user/memberships/orgs/{org}";
    w.call(op, M::GET, "/user/memberships/orgs/acme", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/user/memberships/orgs/acme", Some(MALLORY), None, 404).await;
    w.call(op, M::GET, "/user/memberships/orgs/acme", Some(&none_scoped), None, 403).await;
    w.call(op, M::GET, "/user/memberships/orgs/acme", None, None, 401).await;
    let op = "GET /user/orgs";
    w.call(op, M::GET, "/user/orgs", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/user/orgs", Some(&none_scoped), None, 403).await;
    w.call(op, M::GET, "/user/orgs", None, None, 401).await;
    let op = "GET /orgs/{org}";
    w.call(op, M::GET, "/orgs/acme", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/orgs/nope", Some(BOT), None, 404).await;

    // Generating and reading repositories.
    let op = "POST /repos/{template_owner}/{template_repo}/generate";
    let new = |name: &str| json!({"name": name, "owner": "acme", "private": true});
    let path = "/repos/acme/service-template/generate";
    w.call(op, M::POST, path, Some(BOT), Some(new("svc")), 201).await;
    w.call(op, M::POST, path, Some(BOT), Some(new("doomed")), 201).await;
    w.call(op, M::POST, "/repos/acme/worker-template/generate", Some(BOT), Some(new("worker")), 201).await;
    w.call(op, M::POST, path, Some(BOT), Some(new("svc")), 422).await;
    w.call(op, M::POST, path, Some(BOT), Some(json!({})), 422).await;
    w.call(op, M::POST, "/repos/acme/nope/generate", Some(BOT), Some(new("x")), 404).await;
    let elsewhere = json!({"name": "x", "owner": "alice", "private": true});
    w.call(op, M::POST, path, Some(BOT), Some(elsewhere), 403).await;
    w.call(op, M::POST, path, None, Some(new("x")), 401).await;
    let op = "GET /orgs/{org}/repos";
    w.call(op, M::GET, "/orgs/acme/repos", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/orgs/nope/repos", Some(BOT), None, 404).await;
    let op = "GET /repos/{owner}/{repo}";
    w.call(op, M::GET, "/repos/acme/svc", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/repos/acme/service-template", Some(ALICE), None, 200).await;
    w.call(op, M::GET, "/repos/acme/svc", Some(MALLORY), None, 404).await;
    let id = w.call(op, M::GET, "/repos/acme/svc", Some(BOT), None, 200).await["id"].as_u64().unwrap();
    w.call(op, M::GET, &format!("/repositories/{id}"), Some(BOT), None, 200).await;
    w.call(op, M::GET, &format!("/repositories/{id}"), Some(MALLORY), None, 404).await;
    w.call(op, M::GET, "/repositories/999999999", Some(BOT), None, 404).await;
    let op = "PATCH /repos/{owner}/{repo}";
    w.call(op, M::PATCH, "/repos/acme/svc", Some(BOT), Some(json!({"description": "d"})), 200).await;
    w.call(op, M::PATCH, "/repos/acme/svc", Some(BOB), Some(json!({"description": "d"})), 403).await;
    w.call(op, M::PATCH, "/repos/acme/svc", Some(BOT), Some(json!({"visibility": "secret"})), 422).await;
    w.call(op, M::PATCH, "/repos/acme/nope", Some(BOT), Some(json!({})), 404).await;
    w.call(op, M::PATCH, "/repos/acme/doomed", Some(BOT), Some(json!({"archived": true})), 200).await;
    w.call(op, M::PATCH, "/repos/acme/doomed", Some(BOT), Some(json!({"description": "d"})), 403).await;
    let op = "GET /repos/{owner}/{repo}/actions/oidc/customization/sub";
    w.call(op, M::GET, "/repos/acme/svc/actions/oidc/customization/sub", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/repos/acme/nope/actions/oidc/customization/sub", Some(BOT), None, 404).await;

    // Branches, refs, contents.
    let op = "GET /repos/{owner}/{repo}/branches";
    w.call(op, M::GET, "/repos/acme/svc/branches", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/repos/acme/nope/branches", Some(BOT), None, 404).await;
    let op = "GET /repos/{owner}/{repo}/branches/{branch}";
    w.call(op, M::GET, "/repos/acme/svc/branches/main", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/repos/acme/svc/branches/nope", Some(BOT), None, 404).await;
    let op = "POST /repos/{owner}/{repo}/branches/{branch}/rename";
    let rename = |to: &str| Some(json!({"new_name": to}));
    w.call(op, M::POST, "/repos/acme/worker/branches/main/rename", Some(BOT), rename("trunk"), 201).await;
    w.call(op, M::POST, "/repos/acme/worker/branches/trunk/rename", Some(BOT), rename("trunk"), 422).await;
    w.call(op, M::POST, "/repos/acme/worker/branches/trunk/rename", Some(BOT), Some(json!({})), 422).await;
    w.call(op, M::POST, "/repos/acme/worker/branches/nope/rename", Some(BOT), rename("x"), 404).await;
    let not_admin = "/repos/acme/svc/branches/main/rename";
    w.call(op, M::POST, not_admin, Some(BOB), rename("x"), 403).await;
    let op = "GET /repos/{owner}/{repo}/git/ref/{ref}";
    w.call(op, M::GET, "/repos/acme/svc/git/ref/heads/main", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/repos/acme/svc/git/ref/heads/nope", Some(BOT), None, 404).await;
    let op = "GET /repos/{owner}/{repo}/contents/{path}";
    w.call(op, M::GET, "/repos/acme/svc/contents/.github/workflows", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/repos/acme/svc/contents/.github/workflows/build.yml", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/repos/acme/svc/contents/README.md", Some(BOT), None, 404).await;

    // Secrets.
    let op = "GET /repos/{owner}/{repo}/actions/secrets/public-key";
    let key = w.call(op, M::GET, "/repos/acme/svc/actions/secrets/public-key", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/repos/acme/nope/actions/secrets/public-key", Some(BOT), None, 404).await;
    let op = "PUT /repos/{owner}/{repo}/actions/secrets/{secret_name}";
    let key_id = key["key_id"].as_str().unwrap_or_default().to_string();
    let sealed = |value: &str| {
        Some(json!({"key_id": key_id, "encrypted_value": seal(key["key"].as_str().unwrap(), value)}))
    };
    for name in ["AWS_REGION", "GHA_DEFAULT_ROLE_ARN", "ECR_REPO_URL"] {
        let path = format!("/repos/acme/svc/actions/secrets/{name}");
        w.call(op, M::PUT, &path, Some(BOT), sealed("v"), 201).await;
    }
    w.call(op, M::PUT, "/repos/acme/svc/actions/secrets/AWS_REGION", Some(BOT), sealed("eu-west-1"), 204)
        .await;
    w.call(
        op,
        M::PUT,
        "/repos/acme/svc/actions/secrets/X",
        Some(BOT),
        Some(json!({"encrypted_value": "YQ=="})),
        422,
    )
    .await;
    w.call(op, M::PUT, "/repos/acme/nope/actions/secrets/X", Some(BOT), sealed("v"), 404).await;
    w.call(op, M::PUT, "/repos/acme/doomed/actions/secrets/X", Some(BOT), sealed("v"), 403).await;
    w.call(op, M::PUT, "/repos/acme/svc/actions/secrets/X", None, sealed("v"), 401).await;
    let op = "GET /repos/{owner}/{repo}/actions/secrets";
    w.call(op, M::GET, "/repos/acme/svc/actions/secrets", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/repos/acme/nope/actions/secrets", Some(BOT), None, 404).await;
    let op = "GET /repos/{owner}/{repo}/actions/secrets/{secret_name}";
    w.call(op, M::GET, "/repos/acme/svc/actions/secrets/AWS_REGION", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/repos/acme/svc/actions/secrets/NOPE", Some(BOT), None, 404).await;
    let put = "PUT /repos/{owner}/{repo}/actions/secrets/{secret_name}";
    w.call(put, M::PUT, "/repos/acme/svc/actions/secrets/TEMP", Some(BOT), sealed("v"), 201).await;
    let op = "DELETE /repos/{owner}/{repo}/actions/secrets/{secret_name}";
    w.call(op, M::DELETE, "/repos/acme/svc/actions/secrets/TEMP", Some(BOT), None, 204).await;
    w.call(op, M::DELETE, "/repos/acme/svc/actions/secrets/TEMP", Some(BOT), None, 404).await;

    // Workflows and runs.
    let op = "GET /repos/{owner}/{repo}/actions/workflows";
    w.call(op, M::GET, "/repos/acme/svc/actions/workflows", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/repos/acme/nope/actions/workflows", Some(BOT), None, 404).await;
    let op = "GET /repos/{owner}/{repo}/actions/workflows/{workflow_id}";
    w.call(op, M::GET, "/repos/acme/svc/actions/workflows/build.yml", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/repos/acme/svc/actions/workflows/nope.yml", Some(BOT), None, 404).await;
    let op = "POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches";
    let dispatches = "/repos/acme/svc/actions/workflows/build.yml/dispatches";
    w.call(op, M::POST, dispatches, Some(BOT), Some(json!({"ref": "main"})), 204).await;
    let details = Some(json!({"ref": "main", "return_run_details": true}));
    w.call(op, M::POST, dispatches, Some(BOT), details, 200).await;
    w.call(op, M::POST, dispatches, Some(BOT), Some(json!({"ref": "nope"})), 422).await;
    w.call(op, M::POST, dispatches, Some(BOT), Some(json!({})), 422).await;
    let no_trigger = "/repos/acme/worker/actions/workflows/ci.yml/dispatches";
    w.call(op, M::POST, no_trigger, Some(BOT), Some(json!({"ref": "trunk"})), 422).await;
    let missing = "/repos/acme/svc/actions/workflows/nope.yml/dispatches";
    w.call(op, M::POST, missing, Some(BOT), Some(json!({"ref": "main"})), 404).await;
    let op = "GET /repos/{owner}/{repo}/actions/runs";
    let runs = w.call(op, M::GET, "/repos/acme/svc/actions/runs?event=push", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/repos/acme/svc/actions/runs?per_page=1", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/repos/acme/nope/actions/runs", Some(BOT), None, 404).await;
    let push_run = runs["workflow_runs"][0]["id"].as_u64().unwrap_or_default();
    let run = format!("/repos/acme/svc/actions/runs/{push_run}");
    let op = "GET /repos/{owner}/{repo}/actions/runs/{run_id}";
    w.call(op, M::GET, &run, Some(BOT), None, 200).await;
    w.call(op, M::GET, "/repos/acme/svc/actions/runs/1", Some(BOT), None, 404).await;
    assert!(sim.sim().wait_for_run("acme", "svc", push_run, WAIT).await.is_some(), "the push run finishes");
    finished_job_answers(&mut w, &run).await;
    let op = "POST /repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs";
    w.call(op, M::POST, &format!("{run}/rerun-failed-jobs"), Some(BOT), None, 201).await;
    w.call(op, M::POST, &format!("{run}/rerun-failed-jobs"), Some(BOT), None, 403).await;
    w.call(op, M::POST, "/repos/acme/svc/actions/runs/1/rerun-failed-jobs", Some(BOT), None, 404).await;
    w.call("GET /repos/{owner}/{repo}/actions/runs/{run_id}", M::GET, &run, Some(BOT), None, 200).await;
    let op = "POST /repos/{owner}/{repo}/actions/runs/{run_id}/rerun";
    w.call(op, M::POST, &format!("{run}/rerun"), Some(BOT), None, 201).await;
    w.call(op, M::POST, "/repos/acme/svc/actions/runs/1/rerun", Some(BOT), None, 404).await;
    sim.sim().set_rerun_visibility_lag(Duration::ZERO);
    assert!(sim.sim().wait_for_run("acme", "svc", push_run, WAIT).await.is_some(), "the re-run finishes");
    let op = "GET /repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}";
    w.call(op, M::GET, &format!("{run}/attempts/2"), Some(BOT), None, 200).await;
    let op = "GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs";
    let all = w.call(op, M::GET, &format!("{run}/jobs?filter=all"), Some(BOT), None, 200).await;
    assert_eq!(all["total_count"], 3, "filter=all lists the job of each of the three attempts: {all}");

    hook_answers(&mut w).await;
    oidc_customization_answers(&mut w).await;
    environment_answers(&mut w).await;
    app_answers(&mut w, &none_scoped).await;
    let org_admin = oauth_token(&sim, "alice", "admin:org repo").await;
    owners_answers(&mut w, &org_admin).await;
    ruleset_answers(&mut w, &sim).await;
    files_and_security_answers(&mut w, &sim).await;

    // Deleting.
    let op = "DELETE /repos/{owner}/{repo}";
    w.call(op, M::DELETE, "/repos/acme/doomed", Some(BOB), None, 403).await;
    w.call(op, M::DELETE, "/repos/acme/doomed", Some(BOT), None, 204).await;
    w.call(op, M::DELETE, "/repos/acme/doomed", Some(BOT), None, 404).await;

    slow_answers(&mut w).await;
    limited_answers(&mut w).await;
    ghes_answers(&mut w).await;
    w.finish();
}

/// Repository webhooks: create (and GitHub's 422s), list, get, delete. Deliveries are checked in
/// tests/webhooks.rs; nothing listens at this hook's URL.
async fn hook_answers(w: &mut Walk) {
    let op = "POST /repos/{owner}/{repo}/hooks";
    let hook = |url: &str, content_type: &str, events: Value| {
        Some(
            json!({"name": "web", "config": {"url": url, "content_type": content_type, "secret": "s"}, "events": events}),
        )
    };
    let url = "http://127.0.0.1:9/hooks";
    let runs = json!(["workflow_run"]);
    let made =
        w.call(op, M::POST, "/repos/acme/svc/hooks", Some(BOT), hook(url, "json", runs.clone()), 201).await;
    w.call(op, M::POST, "/repos/acme/svc/hooks", Some(BOT), hook(url, "json", runs.clone()), 422).await;
    w.call(op, M::POST, "/repos/acme/svc/hooks", Some(BOT), hook("ftp://x/", "json", runs.clone()), 422)
        .await;
    w.call(op, M::POST, "/repos/acme/svc/hooks", Some(BOT), hook("http://x/", "xml", runs.clone()), 422)
        .await;
    w.call(op, M::POST, "/repos/acme/svc/hooks", Some(BOT), hook("http://x/", "json", json!(["nope"])), 422)
        .await;
    w.call(op, M::POST, "/repos/acme/svc/hooks", Some(BOB), hook("http://y/", "json", runs.clone()), 403)
        .await;
    w.call(op, M::POST, "/repos/acme/nope/hooks", Some(BOT), hook(url, "json", runs), 404).await;
    let id = made["id"].as_u64().unwrap_or_default();
    let op = "GET /repos/{owner}/{repo}/hooks";
    w.call(op, M::GET, "/repos/acme/svc/hooks", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/repos/acme/nope/hooks", Some(BOT), None, 404).await;
    let op = "GET /repos/{owner}/{repo}/hooks/{hook_id}";
    let one = format!("/repos/acme/svc/hooks/{id}");
    let got = w.call(op, M::GET, &one, Some(BOT), None, 200).await;
    assert_eq!(got["config"]["secret"], "********", "GitHub never shows a hook's secret: {got}");
    w.call(op, M::GET, "/repos/acme/svc/hooks/1", Some(BOT), None, 404).await;
    let op = "PATCH /repos/{owner}/{repo}/hooks/{hook_id}";
    let config = json!({"config": {"url": url, "content_type": "json", "secret": "s3cret"}, "active": true});
    let got = w.call(op, M::PATCH, &one, Some(BOT), Some(config.clone()), 200).await;
    assert_eq!(got["config"]["secret"], "********", "GitHub never shows a hook's secret: {got}");
    w.call(op, M::PATCH, &one, Some(BOT), Some(json!({"events": []})), 422).await;
    // Hooks are for repository admins; GitHub answers everyone else as if the hook did not exist.
    w.call(op, M::PATCH, &one, Some(BOB), Some(config.clone()), 404).await;
    w.call(op, M::PATCH, "/repos/acme/svc/hooks/1", Some(BOT), Some(config), 404).await;
    let op = "DELETE /repos/{owner}/{repo}/hooks/{hook_id}";
    w.call(op, M::DELETE, &one, Some(BOT), None, 204).await;
    w.call(op, M::DELETE, &one, Some(BOT), None, 404).await;
}

/// What only a slow GitHub shows: 409 "Git Repository is empty." before content lands, 403 on re-running a
/// run that is still going.
async fn slow_answers(w: &mut Walk) {
    let sim = start_with(|c| {
        c.generate_delay = Duration::from_secs(3600);
        c.run_duration = Duration::from_secs(3600);
    })
    .await;
    w.switch_to(&sim);
    assert_eq!(generate(&sim, BOT, "service-template", "empty").await.status(), 201);
    let op = "GET /repos/{owner}/{repo}/branches/{branch}";
    w.call(op, M::GET, "/repos/acme/empty/branches/main", Some(BOT), None, 409).await;
    let op = "POST /repos/{owner}/{repo}/branches/{branch}/rename";
    let rename = Some(json!({"new_name": "trunk"}));
    w.call(op, M::POST, "/repos/acme/empty/branches/main/rename", Some(ALICE), rename, 409).await;
    let op = "GET /repos/{owner}/{repo}/git/ref/{ref}";
    w.call(op, M::GET, "/repos/acme/empty/git/ref/heads/main", Some(BOT), None, 409).await;
    let op = "GET /repos/{owner}/{repo}/contents/{path}";
    w.call(op, M::GET, "/repos/acme/empty/contents/.github/workflows", Some(BOT), None, 409).await;
    let op = "POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches";
    let dispatches = "/repos/acme/service-template/actions/workflows/build.yml/dispatches";
    let details = Some(json!({"ref": "main", "return_run_details": true}));
    let run = w.call(op, M::POST, dispatches, Some(ALICE), details, 200).await;
    let run = format!("/repos/acme/service-template/actions/runs/{}", run["workflow_run_id"]);
    let op = "GET /repos/{owner}/{repo}/actions/runs/{run_id}";
    w.call(op, M::GET, &run, Some(ALICE), None, 200).await;
    let op = "POST /repos/{owner}/{repo}/actions/runs/{run_id}/rerun";
    w.call(op, M::POST, &format!("{run}/rerun"), Some(ALICE), None, 403).await;
    // A job that has not finished: no steps or completion time yet, and no log to download.
    let op = "GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs";
    let jobs = w.call(op, M::GET, &format!("{run}/jobs"), Some(ALICE), None, 200).await;
    assert_eq!(jobs["jobs"][0]["completed_at"], Value::Null, "the job is still going: {jobs}");
    let job = format!("/repos/acme/service-template/actions/jobs/{}", jobs["jobs"][0]["id"]);
    let op = "GET /repos/{owner}/{repo}/actions/jobs/{job_id}";
    w.call(op, M::GET, &job, Some(ALICE), None, 200).await;
    let op = "GET /repos/{owner}/{repo}/actions/jobs/{job_id}/logs";
    w.call(op, M::GET, &format!("{job}/logs"), Some(ALICE), None, 404).await;
}

/// The walk above proves nothing if the schemas accept anything: a repository missing its required fields
/// and an error with a numeric `status` must both be refused.
#[test]
fn the_schemas_refuse_bodies_that_break_the_contract() {
    let schemas = Schemas::load();
    let repo = schemas.schema("GET /repos/{owner}/{repo}", 200).unwrap().unwrap();
    let validator = jsonschema::draft202012::new(&repo).unwrap();
    assert!(!validator.is_valid(&json!({"id": 1, "name": "x", "full_name": "acme/x"})));
    let error = schemas.schema("GET /repos/{owner}/{repo}", 404).unwrap().unwrap();
    let validator = jsonschema::draft202012::new(&error).unwrap();
    assert!(validator.is_valid(&json!({"message": "Not Found", "status": "404"})));
    assert!(!validator.is_valid(&json!({"message": "Not Found", "status": 404})));
}

/// A secondary rate limit's 403 is GitHub's `basic-error` too.
async fn limited_answers(w: &mut Walk) {
    let sim = start_with(|c| c.secondary_limits.content_per_minute = 1).await;
    w.switch_to(&sim);
    let op = "POST /repos/{template_owner}/{template_repo}/generate";
    let path = "/repos/acme/service-template/generate";
    let new = |name: &str| Some(json!({"name": name, "owner": "acme", "private": true}));
    w.call(op, M::POST, path, Some(BOT), new("one"), 201).await;
    w.call(op, M::POST, path, Some(BOT), new("two"), 403).await;
}

const WAIT: Duration = Duration::from_secs(10);

/// Jobs of the finished first attempt of `run` (an API path), the attempt itself, and the log redirect.
async fn finished_job_answers(w: &mut Walk, run: &str) {
    let op = "GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs";
    let jobs = w.call(op, M::GET, &format!("{run}/jobs"), Some(BOT), None, 200).await;
    w.call(op, M::GET, &format!("{run}/jobs?filter=all"), Some(BOT), None, 200).await;
    w.call(op, M::GET, &format!("{run}/jobs"), Some(MALLORY), None, 404).await;
    w.call(op, M::GET, "/repos/acme/svc/actions/runs/1/jobs", Some(BOT), None, 404).await;
    let op = "GET /repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}/jobs";
    w.call(op, M::GET, &format!("{run}/attempts/1/jobs"), Some(BOT), None, 200).await;
    w.call(op, M::GET, &format!("{run}/attempts/2/jobs"), Some(BOT), None, 404).await;
    let op = "GET /repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}";
    w.call(op, M::GET, &format!("{run}/attempts/1"), Some(BOT), None, 200).await;
    w.call(op, M::GET, &format!("{run}/attempts/2"), Some(BOT), None, 404).await;
    let job = format!("/repos/acme/svc/actions/jobs/{}", jobs["jobs"][0]["id"]);
    let op = "GET /repos/{owner}/{repo}/actions/jobs/{job_id}";
    w.call(op, M::GET, &job, Some(BOT), None, 200).await;
    w.call(op, M::GET, "/repos/acme/svc/actions/jobs/1", Some(BOT), None, 404).await;
    let op = "GET /repos/{owner}/{repo}/actions/jobs/{job_id}/logs";
    w.call(op, M::GET, &format!("{job}/logs"), Some(BOT), None, 302).await;
    w.call(op, M::GET, "/repos/acme/svc/actions/jobs/1/logs", Some(BOT), None, 404).await;
}

/// The OIDC subject templates of the organization and of a repository, read and set.
async fn oidc_customization_answers(w: &mut Walk) {
    let org_sub = "/orgs/acme/actions/oidc/customization/sub";
    let keys = |keys: &[&str]| Some(json!({ "include_claim_keys": keys }));
    let op = "GET /orgs/{org}/actions/oidc/customization/sub";
    w.call(op, M::GET, org_sub, Some(BOT), None, 200).await;
    w.call(op, M::GET, org_sub, Some(MALLORY), None, 404).await;
    w.call(op, M::GET, "/orgs/nope/actions/oidc/customization/sub", Some(BOT), None, 404).await;
    w.call(op, M::GET, org_sub, None, None, 401).await;
    let op = "PUT /orgs/{org}/actions/oidc/customization/sub";
    w.call(op, M::PUT, org_sub, Some(ALICE), keys(&["repo", "context", "job_workflow_ref"]), 201).await;
    w.call(op, M::PUT, org_sub, Some(BOB), keys(&["repo"]), 403).await;
    w.call(op, M::PUT, org_sub, Some(MALLORY), keys(&["repo"]), 404).await;
    w.call(op, M::PUT, org_sub, Some(ALICE), Some(json!({})), 422).await;
    w.call(op, M::PUT, org_sub, Some(ALICE), keys(&["repo-name"]), 422).await;
    w.call(op, M::PUT, org_sub, None, keys(&["repo"]), 401).await;
    let op = "GET /orgs/{org}/actions/oidc/customization/sub";
    let set = w.call(op, M::GET, org_sub, Some(BOT), None, 200).await;
    assert_eq!(set["include_claim_keys"], json!(["repo", "context", "job_workflow_ref"]));

    let repo_sub = "/repos/acme/worker/actions/oidc/customization/sub";
    let read = "GET /repos/{owner}/{repo}/actions/oidc/customization/sub";
    let op = "PUT /repos/{owner}/{repo}/actions/oidc/customization/sub";
    for body in [
        json!({"use_default": false, "include_claim_keys": ["repo", "ref"]}),
        json!({"use_default": false}),
        json!({"use_default": true}),
    ] {
        w.call(op, M::PUT, repo_sub, Some(BOT), Some(body), 201).await;
        w.call(read, M::GET, repo_sub, Some(BOT), None, 200).await;
    }
    w.call(op, M::PUT, repo_sub, Some(BOT), Some(json!({})), 422).await;
    w.call_raw(op, M::PUT, repo_sub, BOT, r#"{"use_default": "#, 400).await;
    let bad = json!({"use_default": false, "include_claim_keys": ["a b"]});
    w.call(op, M::PUT, repo_sub, Some(BOT), Some(bad), 422).await;
    w.call(op, M::PUT, repo_sub, Some(BOB), Some(json!({"use_default": true})), 403).await;
    let missing = "/repos/acme/nope/actions/oidc/customization/sub";
    w.call(op, M::PUT, missing, Some(BOT), Some(json!({"use_default": true})), 404).await;
    w.call(op, M::PUT, repo_sub, None, Some(json!({"use_default": true})), 401).await;
}

const APP_ID: u64 = 424_242;
const INSTALLATION_ID: u64 = 31_000_001;

/// A JWT for the sandbox App, signed with its committed sandbox key: issued a minute ago, nine more to go.
fn app_jwt() -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({"iss": APP_ID, "iat": now - 60, "exp": now + 540});
    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(github_sim::SANDBOX_APP_PRIVATE_KEY.as_bytes()).unwrap();
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256), &claims, &key).unwrap()
}

/// The App endpoints (JWT), installation tokens, and organization memberships as users and as the App see
/// them.
async fn app_answers(w: &mut Walk, none_scoped: &str) {
    let jwt = app_jwt();
    let op = "GET /app";
    let app = w.call(op, M::GET, "/app", Some(&jwt), None, 200).await;
    assert_eq!((app["id"].as_u64(), app["owner"]["login"].as_str()), (Some(APP_ID), Some("acme")));
    w.call(op, M::GET, "/app", Some(BOT), None, 401).await;
    w.call(op, M::GET, "/app", None, None, 401).await;
    let op = "GET /orgs/{org}/installation";
    w.call(op, M::GET, "/orgs/acme/installation", Some(&jwt), None, 200).await;
    w.call(op, M::GET, "/orgs/nope/installation", Some(&jwt), None, 404).await;
    w.call(op, M::GET, "/orgs/acme/installation", Some(BOT), None, 401).await;
    let op = "POST /app/installations/{installation_id}/access_tokens";
    let tokens = format!("/app/installations/{INSTALLATION_ID}/access_tokens");
    let scoped = |permissions: Value| Some(json!({ "permissions": permissions }));
    let token =
        w.call(op, M::POST, &tokens, Some(&jwt), None, 201).await["token"].as_str().map(str::to_owned);
    let token = &token.unwrap_or_default();
    let narrow = w.call(op, M::POST, &tokens, Some(&jwt), scoped(json!({"metadata": "read"})), 201).await;
    let narrow = narrow["token"].as_str().unwrap_or_default();
    w.call(op, M::POST, &tokens, Some(&jwt), scoped(json!({"members": "write"})), 422).await;
    let one_repository =
        Some(json!({"repositories": ["service-template"], "permissions": {"contents": "read"}}));
    let limited = w.call(op, M::POST, &tokens, Some(&jwt), one_repository, 201).await;
    assert_eq!(limited["repository_selection"], "selected");
    let unknown = Some(json!({"repositories": ["no-such-repository"]}));
    w.call(op, M::POST, &tokens, Some(&jwt), unknown, 422).await;
    w.call(op, M::POST, "/app/installations/1/access_tokens", Some(&jwt), None, 404).await;
    w.call(op, M::POST, &tokens, Some(BOT), None, 401).await;
    w.call(op, M::POST, &tokens, Some(token), None, 401).await;
    w.call("GET /app", M::GET, "/app", Some(token), None, 401).await;

    let op = "GET /orgs/{org}/memberships/{username}";
    w.call(op, M::GET, "/orgs/acme/memberships/alice", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/orgs/acme/memberships/carol", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/orgs/acme/memberships/alice", Some(token), None, 200).await;
    w.call(op, M::GET, "/orgs/acme/memberships/alice", Some(narrow), None, 403).await;
    w.call(op, M::GET, "/orgs/acme/memberships/alice", Some(MALLORY), None, 403).await;
    w.call(op, M::GET, "/orgs/acme/memberships/alice", Some(none_scoped), None, 403).await;
    w.call(op, M::GET, "/orgs/acme/memberships/mallory", Some(BOT), None, 404).await;
    w.call(op, M::GET, "/orgs/nope/memberships/alice", Some(BOT), None, 404).await;
    w.call(op, M::GET, "/orgs/acme/memberships/alice", None, None, 401).await;
}

/// The organization's plan and settings, teams, team grants and collaborators (on `svc`, which the bot
/// created and administers).
async fn owners_answers(w: &mut Walk, org_admin: &str) {
    let op = "GET /orgs/{org}";
    let full = w.call(op, M::GET, "/orgs/acme", Some(org_admin), None, 200).await;
    assert_eq!(
        (full["plan"]["name"].as_str(), full["default_repository_permission"].as_str()),
        (Some("team"), Some("read")),
        "an owner with admin:org sees the plan and base permission: {full}"
    );
    let public = w.call(op, M::GET, "/orgs/acme", Some(BOB), None, 200).await;
    assert!(
        public.get("plan").is_none() && public.get("default_repository_permission").is_none(),
        "{public}"
    );

    let op = "GET /orgs/{org}/teams";
    w.call(op, M::GET, "/orgs/acme/teams", Some(BOB), None, 200).await;
    w.call(op, M::GET, "/orgs/acme/teams", Some(MALLORY), None, 403).await;
    let op = "GET /orgs/{org}/teams/{team_slug}";
    w.call(op, M::GET, "/orgs/acme/teams/payments", Some(BOB), None, 200).await;
    w.call(op, M::GET, "/orgs/acme/teams/nope", Some(BOB), None, 404).await;
    w.call(op, M::GET, "/orgs/acme/teams/payments", Some(MALLORY), None, 404).await;
    let op = "GET /orgs/{org}/teams/{team_slug}/memberships/{username}";
    w.call(op, M::GET, "/orgs/acme/teams/payments/memberships/bob", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/orgs/acme/teams/platform/memberships/alice", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/orgs/acme/teams/payments/memberships/alice", Some(BOT), None, 404).await;

    let grant = "/orgs/acme/teams/payments/repos/acme/svc";
    let op = "PUT /orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}";
    w.call(op, M::PUT, grant, Some(BOT), Some(json!({"permission": "maintain"})), 204).await;
    w.call(op, M::PUT, grant, Some(BOT), Some(json!({"permission": "owner"})), 422).await;
    w.call(op, M::PUT, grant, Some(BOB), Some(json!({"permission": "admin"})), 403).await;
    w.call(op, M::PUT, "/orgs/acme/teams/nope/repos/acme/svc", Some(BOT), None, 404).await;
    let op = "GET /orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}";
    w.call(op, M::GET, grant, Some(BOT), None, 204).await;
    let request = common::http()
        .get(format!("{}{grant}", w.sim_url()))
        .bearer_auth(BOT)
        .header("accept", "application/vnd.github.v3.repository+json")
        .header("user-agent", "github-sim-tests");
    let repo = w.check(op, &M::GET, grant, request, 200).await;
    assert_eq!(repo["role_name"], "maintain", "{repo}");
    w.call(op, M::GET, "/orgs/acme/teams/platform/repos/acme/svc", Some(BOT), None, 404).await;
    let op = "GET /repos/{owner}/{repo}/teams";
    let teams = w.call(op, M::GET, "/repos/acme/svc/teams", Some(BOT), None, 200).await;
    assert_eq!(teams[0]["permission"], "maintain", "{teams}");
    w.call(op, M::GET, "/repos/acme/svc/teams", Some(MALLORY), None, 404).await;

    let op = "GET /repos/{owner}/{repo}/collaborators/{username}/permission";
    let bob = w.call(op, M::GET, "/repos/acme/svc/collaborators/bob/permission", Some(BOT), None, 200).await;
    assert_eq!((bob["permission"].as_str(), bob["role_name"].as_str()), (Some("write"), Some("maintain")));
    w.call(op, M::GET, "/repos/acme/svc/collaborators/mallory/permission", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/repos/acme/svc/collaborators/nobody/permission", Some(BOT), None, 404).await;
    w.call(op, M::GET, "/repos/acme/svc/collaborators/bob/permission", Some(MALLORY), None, 404).await;
    let op = "PUT /repos/{owner}/{repo}/collaborators/{username}";
    let direct = "/repos/acme/svc/collaborators/carol";
    w.call(op, M::PUT, direct, Some(BOT), Some(json!({"permission": "triage"})), 201).await;
    w.call(op, M::PUT, "/repos/acme/svc/collaborators/shipyard-bot", Some(BOT), None, 204).await;
    w.call(op, M::PUT, direct, Some(BOT), Some(json!({"permission": "root"})), 422).await;
    w.call(op, M::PUT, direct, Some(BOB), Some(json!({"permission": "pull"})), 403).await;
    let op = "GET /repos/{owner}/{repo}/collaborators";
    w.call(op, M::GET, "/repos/acme/svc/collaborators", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/repos/acme/svc/collaborators?affiliation=direct", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/repos/acme/svc/collaborators", Some(MALLORY), None, 404).await;
    w.call(op, M::GET, "/repos/acme/service-template/collaborators", Some(BOB), None, 403).await;
    let op = "GET /repos/{owner}/{repo}/collaborators/{username}";
    w.call(op, M::GET, "/repos/acme/svc/collaborators/bob", Some(BOT), None, 204).await;
    w.call(op, M::GET, "/repos/acme/svc/collaborators/mallory", Some(BOT), None, 404).await;
    let op = "DELETE /repos/{owner}/{repo}/collaborators/{username}";
    w.call(op, M::DELETE, direct, Some(BOT), None, 204).await;
    w.call(op, M::DELETE, direct, Some(BOB), None, 403).await;
    let op = "DELETE /orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}";
    w.call(op, M::DELETE, grant, Some(BOT), None, 204).await;
    w.call(op, M::DELETE, grant, Some(BOB), None, 403).await;
}

/// A default-branch ruleset on `svc`: created, read, listed, updated, its rules on `main`, deleted; and
/// GitHub's refusals. On a sim of its own (the main walk's writes would hit the secondary rate limit),
/// then back to `main`.
async fn ruleset_answers(w: &mut Walk, main: &RunningSim) {
    let sim = start().await;
    assert_eq!(generate(&sim, BOT, "service-template", "svc").await.status(), 201);
    w.switch_to(&sim);
    let ruleset = json!({
        "name": "protect-default", "target": "branch", "enforcement": "active",
        "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}},
        "rules": [
            {"type": "deletion"}, {"type": "non_fast_forward"},
            {"type": "pull_request", "parameters": {
                "required_approving_review_count": 1, "require_code_owner_review": true,
                "dismiss_stale_reviews_on_push": false, "require_last_push_approval": false,
                "required_review_thread_resolution": false}},
        ],
    });
    let op = "POST /repos/{owner}/{repo}/rulesets";
    let created =
        w.call(op, M::POST, "/repos/acme/svc/rulesets", Some(BOT), Some(ruleset.clone()), 201).await;
    w.call(op, M::POST, "/repos/acme/svc/rulesets", Some(BOT), Some(ruleset.clone()), 422).await;
    let bad = json!({"name": "x", "enforcement": "active", "rules": [{"type": "pull_request"}]});
    w.call(op, M::POST, "/repos/acme/svc/rulesets", Some(BOT), Some(bad), 422).await;
    w.call(op, M::POST, "/repos/acme/svc/rulesets", Some(BOT), Some(json!({"enforcement": "active"})), 422)
        .await;
    w.call(op, M::POST, "/repos/acme/svc/rulesets", Some(BOB), Some(ruleset.clone()), 403).await;
    w.call(op, M::POST, "/repos/acme/nope/rulesets", Some(BOT), Some(ruleset.clone()), 404).await;
    let one = format!("/repos/acme/svc/rulesets/{}", created["id"]);
    let op = "GET /repos/{owner}/{repo}/rulesets/{ruleset_id}";
    w.call(op, M::GET, &one, Some(BOT), None, 200).await;
    w.call(op, M::GET, "/repos/acme/svc/rulesets/1", Some(BOT), None, 404).await;
    let op = "GET /repos/{owner}/{repo}/rulesets";
    w.call(op, M::GET, "/repos/acme/svc/rulesets", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/repos/acme/svc/rulesets", Some(MALLORY), None, 404).await;
    let op = "GET /repos/{owner}/{repo}/rules/branches/{branch}";
    let rules = w.call(op, M::GET, "/repos/acme/svc/rules/branches/main", Some(BOT), None, 200).await;
    assert_eq!(rules.as_array().map(Vec::len), Some(3), "{rules}");
    let none = w.call(op, M::GET, "/repos/acme/svc/rules/branches/feature", Some(BOT), None, 200).await;
    assert_eq!(none, json!([]));
    let op = "PUT /repos/{owner}/{repo}/rulesets/{ruleset_id}";
    w.call(op, M::PUT, &one, Some(BOT), Some(json!({"enforcement": "disabled"})), 200).await;
    w.call(op, M::PUT, &one, Some(BOT), Some(json!({"enforcement": "sometimes"})), 422).await;
    w.call(op, M::PUT, "/repos/acme/svc/rulesets/1", Some(BOT), Some(json!({})), 404).await;
    let op = "DELETE /repos/{owner}/{repo}/rulesets/{ruleset_id}";
    w.call(op, M::DELETE, &one, Some(BOB), None, 403).await;
    w.call(op, M::DELETE, &one, Some(BOT), None, 204).await;
    w.call(op, M::DELETE, &one, Some(BOT), None, 404).await;
    org_ruleset_answers(w, &sim, ruleset).await;
    w.switch_to(main);
}

/// An organization ruleset covering every repository's default branch: created (and GitHub's refusals),
/// listed, read, and shown in a repository's `rules/branches`.
async fn org_ruleset_answers(w: &mut Walk, sim: &RunningSim, mut ruleset: Value) {
    let owner = oauth_token(sim, "alice", "admin:org repo").await;
    let op = "POST /orgs/{org}/rulesets";
    w.call(op, M::POST, "/orgs/acme/rulesets", Some(&owner), Some(ruleset.clone()), 422).await;
    ruleset["conditions"]["repository_name"] = json!({"include": ["~ALL"], "exclude": []});
    let created = w.call(op, M::POST, "/orgs/acme/rulesets", Some(&owner), Some(ruleset.clone()), 201).await;
    w.call(op, M::POST, "/orgs/acme/rulesets", Some(&owner), Some(ruleset.clone()), 422).await;
    w.call(op, M::POST, "/orgs/acme/rulesets", Some(BOB), Some(ruleset), 404).await;
    let op = "GET /orgs/{org}/rulesets";
    w.call(op, M::GET, "/orgs/acme/rulesets", Some(&owner), None, 200).await;
    w.call(op, M::GET, "/orgs/acme/rulesets", Some(BOB), None, 404).await;
    let op = "GET /orgs/{org}/rulesets/{ruleset_id}";
    w.call(op, M::GET, &format!("/orgs/acme/rulesets/{}", created["id"]), Some(&owner), None, 200).await;
    w.call(op, M::GET, "/orgs/acme/rulesets/1", Some(&owner), None, 404).await;
    let op = "GET /repos/{owner}/{repo}/rules/branches/{branch}";
    let rules = w.call(op, M::GET, "/repos/acme/svc/rules/branches/main", Some(BOT), None, 200).await;
    assert_eq!(rules[0]["ruleset_source_type"], "Organization", "{rules}");
    // A repository's rulesets include its organization's (`includes_parents` defaults to true).
    let op = "GET /repos/{owner}/{repo}/rulesets/{ruleset_id}";
    let inherited = format!("/repos/acme/svc/rulesets/{}", created["id"]);
    let one = w.call(op, M::GET, &inherited, Some(BOT), None, 200).await;
    assert_eq!(one["source_type"], "Organization");
    w.call(op, M::GET, &format!("{inherited}?includes_parents=false"), Some(BOT), None, 404).await;
    let op = "GET /repos/{owner}/{repo}/rulesets";
    let listed = w.call(op, M::GET, "/repos/acme/svc/rulesets", Some(BOT), None, 200).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
}

/// Files written through the contents API (created, updated, GitHub's refusals), the security switches,
/// `security_and_analysis` (and the 422 without the licence) and topics. On a sim of its own, then back to
/// `main`.
async fn files_and_security_answers(w: &mut Walk, main: &RunningSim) {
    let sim = start().await;
    assert_eq!(generate(&sim, BOT, "service-template", "svc").await.status(), 201);
    w.switch_to(&sim);
    let file = "/repos/acme/svc/contents/.github/CODEOWNERS";
    let body = |content: &str| json!({ "message": "Add CODEOWNERS", "content": B64.encode(content) });
    let op = "PUT /repos/{owner}/{repo}/contents/{path}";
    let created = w.call(op, M::PUT, file, Some(BOT), Some(body("* @acme/payments\n")), 201).await;
    let sha = created["content"]["sha"].as_str().unwrap_or_default().to_string();
    w.call(op, M::PUT, file, Some(BOT), Some(body("* @acme/platform\n")), 422).await;
    let stale = json!({ "message": "m", "content": B64.encode("x"), "sha": "0".repeat(40) });
    w.call(op, M::PUT, file, Some(BOT), Some(stale), 409).await;
    let update = json!({ "message": "m", "content": B64.encode("* @acme/platform\n"), "sha": sha });
    w.call(op, M::PUT, file, Some(BOT), Some(update), 200).await;
    w.call(op, M::PUT, file, Some(BOT), Some(json!({ "content": B64.encode("x") })), 422).await;
    w.call(op, M::PUT, "/repos/acme/nope/contents/a.txt", Some(BOT), Some(body("x")), 404).await;
    let op = "GET /repos/{owner}/{repo}/contents/{path}";
    w.call(op, M::GET, file, Some(BOT), None, 200).await;
    w.call(op, M::GET, "/repos/acme/svc/contents/.github", Some(BOT), None, 200).await;

    let op = "PATCH /repos/{owner}/{repo}";
    let on = json!({ "security_and_analysis": {
        "secret_scanning": { "status": "enabled" }, "secret_scanning_push_protection": { "status": "enabled" } } });
    w.call(op, M::PATCH, "/repos/acme/svc", Some(BOT), Some(on.clone()), 200).await;
    let bad = json!({ "security_and_analysis": { "secret_scanning": { "status": "sometimes" } } });
    w.call(op, M::PATCH, "/repos/acme/svc", Some(BOT), Some(bad), 422).await;
    sim.sim().set_secret_protection("acme", false);
    w.call(op, M::PATCH, "/repos/acme/svc", Some(BOT), Some(on), 422).await;
    w.call("GET /repos/{owner}/{repo}", M::GET, "/repos/acme/svc", Some(BOT), None, 200).await;

    let alerts = "/repos/acme/svc/vulnerability-alerts";
    let fixes = "/repos/acme/svc/automated-security-fixes";
    w.call("GET /repos/{owner}/{repo}/vulnerability-alerts", M::GET, alerts, Some(BOT), None, 404).await;
    w.call("PUT /repos/{owner}/{repo}/automated-security-fixes", M::PUT, fixes, Some(BOT), None, 422).await;
    w.call("PUT /repos/{owner}/{repo}/vulnerability-alerts", M::PUT, alerts, Some(BOT), None, 204).await;
    w.call("GET /repos/{owner}/{repo}/vulnerability-alerts", M::GET, alerts, Some(BOT), None, 204).await;
    w.call("PUT /repos/{owner}/{repo}/automated-security-fixes", M::PUT, fixes, Some(BOT), None, 204).await;
    w.call("GET /repos/{owner}/{repo}/automated-security-fixes", M::GET, fixes, Some(BOT), None, 200).await;
    let nope = "/repos/acme/nope/automated-security-fixes";
    w.call("GET /repos/{owner}/{repo}/automated-security-fixes", M::GET, nope, Some(BOT), None, 404).await;
    w.call("DELETE /repos/{owner}/{repo}/automated-security-fixes", M::DELETE, fixes, Some(BOT), None, 204)
        .await;
    w.call("DELETE /repos/{owner}/{repo}/vulnerability-alerts", M::DELETE, alerts, Some(BOT), None, 204)
        .await;

    let topics = "/repos/acme/svc/topics";
    let op = "PUT /repos/{owner}/{repo}/topics";
    w.call(op, M::PUT, topics, Some(BOT), Some(json!({ "names": ["Shipyard", "dev"] })), 200).await;
    w.call(op, M::PUT, topics, Some(BOT), Some(json!({ "names": ["not valid"] })), 422).await;
    w.call(op, M::PUT, "/repos/acme/nope/topics", Some(BOT), Some(json!({ "names": [] })), 404).await;
    let op = "GET /repos/{owner}/{repo}/topics";
    let got = w.call(op, M::GET, topics, Some(BOT), None, 200).await;
    assert_eq!(got["names"], json!(["shipyard", "dev"]));
    w.call(op, M::GET, "/repos/acme/nope/topics", Some(BOT), None, 404).await;
    w.switch_to(main);
}

/// GHES without the subject customization endpoints answers 404 on all four.
async fn ghes_answers(w: &mut Walk) {
    let sim = start_with(|c| c.oidc_customization_endpoint = false).await;
    w.switch_to(&sim);
    let org_sub = "/orgs/acme/actions/oidc/customization/sub";
    let repo_sub = "/repos/acme/service-template/actions/oidc/customization/sub";
    let op = "GET /orgs/{org}/actions/oidc/customization/sub";
    w.call(op, M::GET, org_sub, Some(ALICE), None, 404).await;
    let op = "PUT /orgs/{org}/actions/oidc/customization/sub";
    w.call(op, M::PUT, org_sub, Some(ALICE), Some(json!({"include_claim_keys": ["repo"]})), 404).await;
    let op = "GET /repos/{owner}/{repo}/actions/oidc/customization/sub";
    w.call(op, M::GET, repo_sub, Some(ALICE), None, 404).await;
    let op = "PUT /repos/{owner}/{repo}/actions/oidc/customization/sub";
    w.call(op, M::PUT, repo_sub, Some(ALICE), Some(json!({"use_default": true})), 404).await;
}

/// Deployment environments of `acme/svc` and their secrets.
async fn environment_answers(w: &mut Walk) {
    let env = "/repos/acme/svc/environments/prod";
    let op = "PUT /repos/{owner}/{repo}/environments/{environment_name}";
    w.call(op, M::PUT, env, Some(BOT), None, 200).await;
    let rules = json!({
        "wait_timer": 5,
        "prevent_self_review": true,
        "reviewers": [{"type": "User", "id": 2002}],
        "deployment_branch_policy": {"protected_branches": false, "custom_branch_policies": true},
    });
    w.call(op, M::PUT, env, Some(BOT), Some(rules), 200).await;
    w.call(op, M::PUT, "/repos/acme/svc/environments/doomed", Some(BOT), Some(json!({})), 200).await;
    w.call(op, M::PUT, env, Some(BOT), Some(json!({"wait_timer": 43_201})), 422).await;
    w.call(op, M::PUT, "/repos/acme/svc/environments/a%2Cb", Some(BOT), None, 422).await;
    w.call(op, M::PUT, env, Some(BOB), None, 403).await;
    w.call(op, M::PUT, "/repos/acme/nope/environments/prod", Some(BOT), None, 404).await;
    w.call(op, M::PUT, env, None, None, 401).await;
    let op = "POST /repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies";
    // As an organization admin: the walk's bot is at GitHub's 80 writes a minute already.
    let policies = format!("{env}/deployment-branch-policies");
    w.call(op, M::POST, &policies, Some(ALICE), Some(json!({"name": "release/*"})), 200).await;
    w.call(op, M::POST, &policies, Some(ALICE), Some(json!({"name": "v*", "type": "tag"})), 200).await;
    w.call(op, M::POST, &policies, Some(ALICE), Some(json!({"name": "v*", "type": "tag"})), 303).await;
    w.call(op, M::POST, &policies, Some(ALICE), Some(json!({"name": "x", "type": "sha"})), 422).await;
    w.call(op, M::POST, &policies, Some(BOB), Some(json!({"name": "x"})), 403).await;
    let not_custom = "/repos/acme/svc/environments/doomed/deployment-branch-policies";
    w.call(op, M::POST, not_custom, Some(ALICE), Some(json!({"name": "x"})), 404).await;
    let op = "GET /repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies";
    w.call(op, M::GET, &policies, Some(BOT), None, 200).await;
    let op = "GET /repos/{owner}/{repo}/environments/{environment_name}";
    w.call(op, M::GET, env, Some(BOT), None, 200).await;
    w.call(op, M::GET, "/repos/acme/svc/environments/nope", Some(BOT), None, 404).await;
    let op = "GET /repos/{owner}/{repo}/environments";
    w.call(op, M::GET, "/repos/acme/svc/environments", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/repos/acme/svc/environments?per_page=1&page=2", Some(BOT), None, 200).await;
    w.call(op, M::GET, "/repos/acme/nope/environments", Some(BOT), None, 404).await;

    let op = "GET /repos/{owner}/{repo}/environments/{environment_name}/secrets/public-key";
    let key = w.call(op, M::GET, &format!("{env}/secrets/public-key"), Some(BOT), None, 200).await;
    w.call(op, M::GET, "/repos/acme/svc/environments/nope/secrets/public-key", Some(BOT), None, 404).await;
    let op = "PUT /repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}";
    let key_id = key["key_id"].as_str().unwrap_or_default().to_string();
    let sealed = |key_id: &str, value: &str| {
        Some(
            json!({"key_id": key_id, "encrypted_value": seal(key["key"].as_str().unwrap_or_default(), value)}),
        )
    };
    let secret = format!("{env}/secrets/DB_PASSWORD");
    w.call(op, M::PUT, &secret, Some(BOT), sealed(&key_id, "v"), 201).await;
    w.call(op, M::PUT, &secret, Some(BOT), sealed(&key_id, "w"), 204).await;
    w.call(op, M::PUT, &secret, Some(BOT), sealed("1", "v"), 422).await;
    w.call(op, M::PUT, "/repos/acme/svc/environments/nope/secrets/X", Some(BOT), sealed(&key_id, "v"), 404)
        .await;
    let op = "GET /repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}";
    w.call(op, M::GET, &secret, Some(BOT), None, 200).await;
    w.call(op, M::GET, &format!("{env}/secrets/NOPE"), Some(BOT), None, 404).await;
    let op = "GET /repos/{owner}/{repo}/environments/{environment_name}/secrets";
    w.call(op, M::GET, &format!("{env}/secrets"), Some(BOT), None, 200).await;
    w.call(op, M::GET, &format!("{env}/secrets"), Some(MALLORY), None, 404).await;
    let op = "DELETE /repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}";
    w.call(op, M::DELETE, &secret, Some(BOT), None, 204).await;
    w.call(op, M::DELETE, &secret, Some(BOT), None, 404).await;

    let op = "DELETE /repos/{owner}/{repo}/environments/{environment_name}";
    w.call(op, M::DELETE, "/repos/acme/svc/environments/doomed", Some(BOB), None, 403).await;
    w.call(op, M::DELETE, "/repos/acme/svc/environments/doomed", Some(BOT), None, 204).await;
    w.call(op, M::DELETE, "/repos/acme/svc/environments/doomed", Some(BOT), None, 404).await;
}
