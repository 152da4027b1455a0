//! AWS fault injection for tests, and the SDK config that points at moto.
//!
//! moto has no fault injection, so this wraps the SDK's HTTP client: a test says "the next N
//! `CreateRole` calls answer `Throttling`" and those requests are answered here, in the provider's
//! own error format, without reaching moto; later calls pass through untouched. The operation is
//! read the way AWS routes it: the `Action=` form field (IAM/STS query protocol) or the
//! `X-Amz-Target` header (ECR JSON protocol).
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_iam::config::Credentials;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::{
    http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
        SharedHttpConnector,
    },
    orchestrator::{HttpRequest, HttpResponse},
    runtime_components::RuntimeComponents,
};
use aws_smithy_types::body::SdkBody;

/// What an injected call answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 400 `Throttling` (query protocol) / `ThrottlingException` (JSON protocol).
    Throttling,
    /// HTTP 503 `ServiceUnavailable`.
    ServiceUnavailable,
    /// HTTP 403 `AccessDenied` (query) / 400 `AccessDeniedException` (JSON), like an IAM policy refusal.
    AccessDenied,
    /// HTTP 404 `NoSuchEntity`: what IAM answers for a role or policy created a moment ago, before the
    /// change reached the endpoint that serves the request (IAM is eventually consistent).
    NoSuchEntity,
}

/// One AWS request as the SDK sent it: the operation and its parameters (query form fields, or the
/// top-level fields of a JSON body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub service: &'static str,
    pub operation: String,
    pub params: std::collections::BTreeMap<String, String>,
}

/// The test's handle on the fault plan; cheap to clone, shared with the HTTP client.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<State>>);

#[derive(Debug, Default)]
struct State {
    plans: Vec<(String, usize, Fault)>,
    seen: Vec<String>,
    calls: Vec<Call>,
}

impl Faults {
    /// The next `times` calls of `operation` (e.g. `"CreateRole"`, `"CreateRepository"`) answer `fault`.
    pub fn inject(&self, operation: &str, times: usize, fault: Fault) {
        self.0.lock().unwrap().plans.push((operation.to_owned(), times, fault));
    }

    /// How many requests of `operation` the SDK sent (answered by a fault or by moto).
    pub fn calls(&self, operation: &str) -> usize {
        self.0.lock().unwrap().seen.iter().filter(|op| *op == operation).count()
    }

    /// Every request the SDK sent through this layer, in order.
    pub fn recorded_calls(&self) -> Vec<Call> {
        self.0.lock().unwrap().calls.clone()
    }

    fn record(&self, call: Call) -> Option<Fault> {
        let mut state = self.0.lock().unwrap();
        let operation = call.operation.clone();
        state.seen.push(operation.clone());
        state.calls.push(call);
        let plan = state.plans.iter_mut().find(|(op, left, _)| *op == operation && *left > 0)?;
        plan.1 -= 1;
        Some(plan.2)
    }
}

/// SDK config for moto (`MOTO_URL`, default http://127.0.0.1:5000), region us-east-1, static test
/// credentials, every request passing through `faults`.
pub async fn moto_sdk_config(faults: &Faults) -> SdkConfig {
    let base = moto_direct().await;
    // The same client the SDK picks by default (hyper 1 + rustls/aws-lc); the loaded config does
    // not expose it because the SDK only chooses it when a service client is built.
    let inner = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
        .build_https();
    base.to_builder().http_client(FaultyClient { inner, faults: faults.clone() }).build()
}

/// moto as is, without the fault layer or the STS check: the sandbox's own reads (which must not pass
/// through the check they serve).
async fn moto_direct() -> SdkConfig {
    let url = std::env::var("MOTO_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".to_owned());
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto-tests"))
        .load()
        .await
}

#[derive(Debug)]
struct FaultyClient {
    inner: SharedHttpClient,
    faults: Faults,
}

impl HttpClient for FaultyClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let inner = self.inner.http_connector(settings, components);
        SharedHttpConnector::new(FaultyConnector { inner, faults: self.faults.clone() })
    }
}

#[derive(Debug)]
struct FaultyConnector {
    inner: SharedHttpConnector,
    faults: Faults,
}

impl HttpConnector for FaultyConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (protocol, operation) = operation_of(&request);
        let call =
            Call { service: service_of(&request), operation: operation.clone(), params: params_of(&request) };
        let assume = (operation == "AssumeRole").then(|| call.params.clone());
        match self.faults.record(call) {
            Some(fault) => HttpConnectorFuture::ready(Ok(fault_response(protocol, &operation, fault))),
            None => match assume {
                // moto grants any AssumeRole; STS checks the role exists and trusts the caller.
                Some(params) => {
                    let inner = self.inner.clone();
                    HttpConnectorFuture::new(async move {
                        match sts_refusal(&params).await {
                            Some(message) => Ok(denied_response(&message)),
                            None => inner.call(request).await,
                        }
                    })
                }
                None => self.inner.call(request),
            },
        }
    }
}

/// What STS would answer an `AssumeRole` that moto grants regardless: the role must exist in its
/// account and its trust policy must allow `sts:AssumeRole` (and `sts:SetSourceIdentity` when a source
/// identity is set) for the caller, evaluated with github-sim's IAM evaluator. The caller is the
/// sandbox's own identity (moto's default account), the only one that assumes roles through this layer.
async fn sts_refusal(params: &std::collections::BTreeMap<String, String>) -> Option<String> {
    use aws_sdk_iam::error::ProvideErrorMetadata as _;
    use github_sim::iam::{Context, Decision, Policy, Request, evaluate};
    let role_arn = params.get("RoleArn").cloned().unwrap_or_default();
    let plain = moto_direct().await;
    let caller = aws_sdk_sts::Client::new(&plain).get_caller_identity().send().await.ok()?;
    let (caller_arn, caller_account) =
        (caller.arn().unwrap_or_default(), caller.account().unwrap_or_default());
    let refused =
        || format!("User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}");
    let parts: Vec<&str> = role_arn.splitn(6, ':').collect();
    let ["arn", _, "iam", "", account, resource] = parts.as_slice() else { return Some(refused()) };
    let Some(name) = resource.strip_prefix("role/").map(|r| r.rsplit('/').next().unwrap_or_default()) else {
        return Some(refused());
    };
    let iam = aws_sdk_iam::Client::new(&account_view(account).await);
    let role = match iam.get_role().role_name(name).send().await {
        Ok(out) => out.role?,
        Err(e) if e.code() == Some("NoSuchEntity") => return Some(refused()),
        Err(e) => return Some(format!("reading {role_arn}: {e:?}")),
    };
    if role.arn != role_arn {
        return Some(refused());
    }
    let document =
        percent_encoding::percent_decode_str(role.assume_role_policy_document().unwrap_or_default())
            .decode_utf8_lossy()
            .into_owned();
    let Ok(trust) = Policy::parse(&document) else { return Some(refused()) };
    let mut context = Context::default();
    context.insert("aws:PrincipalArn", caller_arn);
    context.insert("aws:PrincipalAccount", caller_account);
    if let Some(id) = params.get("ExternalId") {
        context.insert("sts:ExternalId", id);
    }
    if let Some(id) = params.get("SourceIdentity") {
        context.insert("sts:SourceIdentity", id);
    }
    let root = format!("arn:aws:iam::{caller_account}:root");
    let mut actions = vec!["sts:AssumeRole"];
    if params.contains_key("SourceIdentity") {
        actions.push("sts:SetSourceIdentity");
    }
    for action in actions {
        let allowed = [caller_arn, root.as_str()].iter().any(|principal| {
            let request =
                Request { action, resource: None, principal: Some(("AWS", principal)), context: &context };
            evaluate(std::slice::from_ref(&trust), &request) == Decision::Allow
        });
        if !allowed {
            return Some(format!(
                "User: {caller_arn} is not authorized to perform: {action} on resource: {role_arn}"
            ));
        }
    }
    None
}

/// An SDK config acting in `account` of moto, for the sandbox's own reads there (moto grants the assume;
/// it goes straight to moto, not through the STS check, which reads through this).
pub async fn account_view(account: &str) -> SdkConfig {
    let plain = &moto_direct().await;
    let out = aws_sdk_sts::Client::new(plain)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/sandbox-reader"))
        .role_session_name("sandbox")
        .send()
        .await
        .expect("moto grants the sandbox's own assume");
    let c = out.credentials.expect("credentials");
    plain
        .to_builder()
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
            Credentials::new(
                c.access_key_id,
                c.secret_access_key,
                Some(c.session_token),
                None,
                "sandbox-account-view",
            ),
        ))
        .build()
}

fn denied_response(message: &str) -> HttpResponse {
    let body = format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
         <Code>AccessDenied</Code><Message>{message}</Message></Error>\
         <RequestId>00000000-sts-gate</RequestId></ErrorResponse>"
    );
    let mut response = HttpResponse::new(403.try_into().expect("valid status"), SdkBody::from(body));
    response.headers_mut().insert("content-type", "text/xml");
    response
}

#[derive(Debug, Clone, Copy)]
enum Protocol {
    /// IAM and STS: form-encoded `Action=...`, XML errors.
    Query,
    /// ECR: `X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.Op`, JSON errors.
    Json,
}

fn operation_of(request: &HttpRequest) -> (Protocol, String) {
    if let Some(target) = request.headers().get("x-amz-target") {
        let op = target.rsplit('.').next().unwrap_or(target);
        return (Protocol::Json, op.to_owned());
    }
    let body = request.body().bytes().unwrap_or_default();
    let action = url::form_urlencoded::parse(body).find(|(k, _)| k == "Action").map(|(_, v)| v.into_owned());
    (Protocol::Query, action.unwrap_or_default())
}

/// Which service a request is for, from the endpoint's host or the JSON target (moto serves all on one port).
fn service_of(request: &HttpRequest) -> &'static str {
    if let Some(target) = request.headers().get("x-amz-target")
        && target.starts_with("AmazonEC2ContainerRegistry")
    {
        return "ecr";
    }
    let body = request.body().bytes().unwrap_or_default();
    let action = url::form_urlencoded::parse(body).find(|(k, _)| k == "Action").map(|(_, v)| v.into_owned());
    match action.as_deref() {
        Some("GetCallerIdentity" | "AssumeRoleWithWebIdentity" | "AssumeRole") => "sts",
        _ => "iam",
    }
}

fn params_of(request: &HttpRequest) -> std::collections::BTreeMap<String, String> {
    let body = request.body().bytes().unwrap_or_default();
    if request.headers().get("x-amz-target").is_some() {
        let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        return value
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())))
                    .collect()
            })
            .unwrap_or_default();
    }
    url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn fault_response(protocol: Protocol, operation: &str, fault: Fault) -> HttpResponse {
    let (query_status, json_status, query_code, json_code, message) = match fault {
        Fault::NoSuchEntity => (
            404,
            400,
            "NoSuchEntity",
            "RepositoryNotFoundException",
            format!("The entity this {operation} refers to cannot be found."),
        ),
        Fault::Throttling => (400, 400, "Throttling", "ThrottlingException", "Rate exceeded".to_owned()),
        Fault::ServiceUnavailable => (
            503,
            503,
            "ServiceUnavailable",
            "ServiceUnavailableException",
            "Service is unavailable. Please try again later.".to_owned(),
        ),
        Fault::AccessDenied => (
            403,
            400,
            "AccessDenied",
            "AccessDeniedException",
            format!(
                "User: arn:aws:iam::123456789012:user/shipyard is not authorized to perform: {operation}"
            ),
        ),
    };
    let (status, content_type, body) = match protocol {
        Protocol::Query => (
            query_status,
            "text/xml",
            format!(
                "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type>\
                 <Code>{query_code}</Code><Message>{message}</Message></Error>\
                 <RequestId>00000000-fault-injection</RequestId></ErrorResponse>"
            ),
        ),
        Protocol::Json => (
            json_status,
            "application/x-amz-json-1.1",
            serde_json::json!({ "__type": json_code, "message": message }).to_string(),
        ),
    };
    let mut response = HttpResponse::new(status.try_into().expect("valid status"), SdkBody::from(body));
    response.headers_mut().insert("content-type", content_type);
    response.headers_mut().insert("x-amzn-requestid", "00000000-fault-injection");
    response
}
