//! The API's description, OpenAPI 3.1, served at `GET /api/v1/openapi.json`. Paths, parameters,
//! bodies and success answers come from the `#[utoipa::path]` on each handler (the same attribute
//! routes it, see `api::router`); the problem answers are added here from [`ProblemCode`], so each
//! status lists exactly the codes the server sends with it.

use std::collections::BTreeMap;

use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::{
        ContentBuilder, HttpMethod, ObjectBuilder, RefOr, ResponseBuilder,
        path::Operation,
        schema::{AllOfBuilder, Schema, Type},
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme},
    },
};

use crate::{domain::ServiceStatus, error::ProblemCode};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Shipyard API",
        description = "Self-service repositories, registries and deploy roles. Authenticate with a GitHub token \
                       (`Authorization: Bearer <token>`) or the session cookie plus `X-CSRF-Token` on writes. Errors \
                       are problem documents (RFC 9457) whose `type` is a page on this Shipyard explaining the `code`.",
    ),
    components(schemas(Problem, ServiceResource, ServiceDetail, ServiceList, RoleList, RoleStatus)),
    tags((name = "services", description = "Services and their push roles"))
)]
pub struct ApiDoc;

/// A problem document (RFC 9457), sent as `application/problem+json`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Problem {
    /// `<PUBLIC_URL>/problems/<code>`: a page saying what the problem means and what to do.
    #[schema(format = "uri")]
    r#type: String,
    title: String,
    status: u16,
    code: ProblemCode,
    /// Safe to show: never internal details.
    detail: String,
    /// Quote it when reporting a problem.
    request_id: String,
    /// For `invalid`: a message per field.
    errors: Option<BTreeMap<String, String>>,
}

impl utoipa::PartialSchema for ProblemCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(ProblemCode::all().map(ProblemCode::as_str)))
            .into()
    }
}

impl ToSchema for ProblemCode {}

/// A push role's state.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum RoleStatus {
    Creating,
    Ready,
    Failed,
    Removing,
}

/// A service as every answer shows it (`view::service_json`, plus `urls.actions`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ServiceResource {
    name: String,
    status: ServiceStatus,
    environment: String,
    #[schema(value_type = String)]
    visibility: crate::domain::Visibility,
    template: String,
    default_branch: String,
    description: String,
    /// The owning team's slug.
    team: Option<String>,
    created_by: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    created_at: Option<String>,
    urls: ServiceUrls,
    /// Why the service failed, if it did.
    error: Option<ServiceError>,
    links: ServiceLinks,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ServiceUrls {
    html: Option<String>,
    ssh: Option<String>,
    ecr_repository: Option<String>,
    role_arn: Option<String>,
    /// The repository's Actions runs (absent on a deletion's answer).
    #[schema(required = false)]
    actions: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ServiceError {
    step: Option<crate::domain::StepName>,
    message: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ServiceLinks {
    #[schema(rename = "self")]
    self_: String,
    page: String,
    progress: String,
}

/// `GET /api/v1/services/{name}`: the service with its steps, outputs, runs, images, drift and roles.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ServiceDetail {
    #[serde(flatten)]
    service: ServiceResource,
    steps: Vec<crate::web::services::view::StepView>,
    /// What the steps produced (repository, registry, role, first build, rules...).
    #[schema(value_type = Object)]
    outputs: serde_json::Value,
    /// The latest Actions runs, looked up live (null when GitHub did not answer).
    #[schema(value_type = Option<Vec<Object>>)]
    runs: serde_json::Value,
    runs_error: Option<String>,
    /// The latest images in the registry, looked up live (null when AWS did not answer).
    #[schema(value_type = Option<Vec<Object>>)]
    images: serde_json::Value,
    images_error: Option<String>,
    /// The last drift check, if one ran.
    #[schema(value_type = Option<Object>)]
    drift: serde_json::Value,
    roles: Vec<crate::web::services::roles::RoleView>,
}

/// A page of live services, newest first. The same `next`/`prev` links are in the `Link` header.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ServiceList {
    services: Vec<ServiceResource>,
    /// The page number of an old `page=N` link; null on a cursor page.
    page: Option<i64>,
    per_page: i64,
    /// Exact up to 1,000 matches, null past that.
    total: Option<i64>,
    /// At least this many match (at most 1,000).
    total_at_least: i64,
    #[schema(format = "uri")]
    next: Option<String>,
    #[schema(format = "uri")]
    prev: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RoleList {
    roles: Vec<crate::web::services::roles::RoleView>,
}

/// Both ways in: a GitHub token as a bearer token, or the browser's session cookie.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "github_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A GitHub token of a member of the organization (`gh auth token`)."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "shipyard_session",
                "The browser session; writes also carry X-CSRF-Token.",
            ))),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            if path == OPENAPI_PATH {
                continue;
            }
            for (_, op) in operations(item) {
                op.security = Some(vec![
                    SecurityRequirement::new("github_token", Vec::<String>::new()),
                    SecurityRequirement::new("session", Vec::<String>::new()),
                ]);
            }
        }
    }
}

pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

fn operations(item: &mut utoipa::openapi::PathItem) -> Vec<(HttpMethod, &mut Operation)> {
    [
        (HttpMethod::Get, item.get.as_mut()),
        (HttpMethod::Post, item.post.as_mut()),
        (HttpMethod::Put, item.put.as_mut()),
        (HttpMethod::Patch, item.patch.as_mut()),
        (HttpMethod::Delete, item.delete.as_mut()),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.map(|op| (m, op)))
    .collect()
}

/// Which problem codes an operation can answer with, by what it is: every authenticated call can be
/// refused (401, 403, 429) or fail (500, 503); one on a service can find none (404); one that reads
/// input can refuse it (400, 422) and one that changes state can clash with it (409).
fn problem_codes(path: &str, method: &HttpMethod) -> Vec<ProblemCode> {
    use ProblemCode::*;
    if path == OPENAPI_PATH {
        return vec![Internal];
    }
    let mut codes =
        vec![Unauthorized, Forbidden, TooManyRequests, Internal, GithubUnavailable, MembershipUnconfirmed];
    if path.contains("{name}") {
        codes.push(NotFound);
    }
    let write = !matches!(method, HttpMethod::Get);
    if write || path == "/api/v1/services" {
        codes.extend([BadRequest, Invalid]);
    }
    if write {
        codes.push(Conflict);
    }
    if path == "/api/v1/services" && matches!(method, HttpMethod::Post) {
        codes.push(NameTaken);
    }
    codes
}

/// Adds what the handlers' attributes do not say: how to authenticate, and the problem answers.
pub fn finish(openapi: &mut utoipa::openapi::OpenApi) {
    Security.modify(openapi);
    Problems.modify(openapi);
    // The list filters by a live status; an empty value (as a form sends) means any.
    let live = ServiceStatus::ALL.iter().filter(|s| **s != ServiceStatus::Deleted).map(|s| s.as_str());
    let statuses: Vec<&str> = std::iter::once("").chain(live).collect();
    if let Some(list) = openapi.paths.paths.get_mut("/api/v1/services").and_then(|item| item.get.as_mut()) {
        for parameter in list.parameters.iter_mut().flatten() {
            if let RefOr::T(parameter) = parameter
                && parameter.name == "status"
            {
                parameter.schema = Some(
                    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(statuses.clone())).into(),
                );
            }
        }
    }
}

/// What this deployment accepts, from its configuration: the environments and templates a service may
/// have, so a request the description calls valid is one the server takes.
pub fn configure(openapi: &mut utoipa::openapi::OpenApi, config: &crate::config::Config) {
    let Some(components) = openapi.components.as_mut() else { return };
    let Some(RefOr::T(Schema::Object(service))) = components.schemas.get_mut("ServiceJson") else { return };
    let one_of = |values: Vec<String>| {
        ObjectBuilder::new().schema_type(Type::String).enum_values(Some(values)).build()
    };
    service.properties.insert("environment".into(), one_of(config.environments.clone()).into());
    service.properties.insert("template".into(), one_of(config.templates.clone()).into());
}

struct Problems;

impl Modify for Problems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            for (method, op) in operations(item) {
                let mut by_status: BTreeMap<u16, Vec<ProblemCode>> = BTreeMap::new();
                for code in problem_codes(path, &method) {
                    by_status.entry(code.status().as_u16()).or_default().push(code);
                }
                for (status, codes) in by_status {
                    let listed: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
                    let schema = AllOfBuilder::new()
                        .item(RefOr::Ref(utoipa::openapi::Ref::from_schema_name("Problem")))
                        .item(
                            ObjectBuilder::new()
                                .property(
                                    "status",
                                    ObjectBuilder::new()
                                        .schema_type(Type::Integer)
                                        .enum_values(Some([status])),
                                )
                                .property(
                                    "code",
                                    ObjectBuilder::new()
                                        .schema_type(Type::String)
                                        .enum_values(Some(listed.clone())),
                                ),
                        );
                    let title = codes.iter().map(|c| c.title()).collect::<Vec<_>>().join(" / ");
                    let response = ResponseBuilder::new()
                        .description(format!("{title} (code: {}).", listed.join(", ")))
                        .content(
                            "application/problem+json",
                            ContentBuilder::new().schema(Some(schema)).build(),
                        )
                        .build();
                    op.responses.responses.insert(status.to_string(), RefOr::T(response));
                }
            }
        }
    }
}
