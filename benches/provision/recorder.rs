//! Timestamped logs of every GitHub and AWS call, so calls can be attributed to the step rows
//! (by time: in the one-at-a-time runs exactly one step is running at any moment).
//!
//! GitHub calls are read from github-sim's own per-request log line (it runs in this process),
//! so they are counted exactly as `Sim::request_count` counts them. AWS calls are recorded by a
//! pass-through wrapper around the SDK's default HTTP client: every attempt, with its duration.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_iam::config::Credentials;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::{
    http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
        SharedHttpConnector,
    },
    orchestrator::HttpRequest,
    runtime_components::RuntimeComponents,
};
use time::OffsetDateTime;
use tracing::{Event, Subscriber, field::Field};
use tracing_subscriber::layer::{Context, Layer};

/// One request github-sim answered (faulted ones excluded, like `request_count`).
#[derive(Debug, Clone)]
pub struct GithubCall {
    pub method: String,
    pub path: String,
    /// When the sim finished handling it (after the injected latency).
    pub at: OffsetDateTime,
}

/// A tracing layer that keeps github-sim's `request` events.
#[derive(Debug, Clone, Default)]
pub struct GithubLog(Arc<Mutex<Vec<GithubCall>>>);

impl GithubLog {
    pub fn calls(&self) -> Vec<GithubCall> {
        self.0.lock().unwrap().clone()
    }
}

#[derive(Default)]
struct RequestFields {
    message: Option<String>,
    method: Option<String>,
    path: Option<String>,
}

impl tracing::field::Visit for RequestFields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        match field.name() {
            "message" => self.message = Some(text),
            "method" => self.method = Some(text),
            "path" => self.path = Some(text),
            _ => {}
        }
    }
}

impl<S: Subscriber> Layer<S> for GithubLog {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if !event.metadata().target().starts_with("github_sim") {
            return;
        }
        let mut fields = RequestFields::default();
        event.record(&mut fields);
        if let (Some("request"), Some(method), Some(path)) =
            (fields.message.as_deref(), fields.method, fields.path)
        {
            self.0.lock().unwrap().push(GithubCall { method, path, at: OffsetDateTime::now_utc() });
        }
    }
}

/// One HTTP attempt the AWS SDK sent to moto.
#[derive(Debug, Clone)]
pub struct AwsCall {
    /// `CreateRole`, `DescribeRepositories`, ...
    pub operation: String,
    pub started: OffsetDateTime,
    pub finished: OffsetDateTime,
}

impl AwsCall {
    pub fn millis(&self) -> f64 {
        (self.finished - self.started).as_seconds_f64() * 1000.0
    }
}

#[derive(Debug, Clone, Default)]
pub struct AwsLog(Arc<Mutex<Vec<AwsCall>>>);

impl AwsLog {
    pub fn calls(&self) -> Vec<AwsCall> {
        self.0.lock().unwrap().clone()
    }
}

/// SDK config for moto (`MOTO_URL`, default http://127.0.0.1:5000): region us-east-1, static
/// test credentials, every request delayed by `latency` (moto answers in a few ms, real AWS does
/// not) and recorded in `log`.
pub async fn moto_sdk_config(log: &AwsLog, latency: Duration) -> SdkConfig {
    let url = std::env::var("MOTO_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".to_owned());
    let base = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "shipyard-bench"))
        .load()
        .await;
    // The client the SDK would pick by default; the loaded config does not expose it.
    let inner = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
        .build_https();
    base.to_builder().http_client(RecordingClient { inner, log: log.clone(), latency }).build()
}

#[derive(Debug)]
struct RecordingClient {
    inner: SharedHttpClient,
    log: AwsLog,
    latency: Duration,
}

impl HttpClient for RecordingClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let inner = self.inner.http_connector(settings, components);
        SharedHttpConnector::new(RecordingConnector { inner, log: self.log.clone(), latency: self.latency })
    }
}

#[derive(Debug)]
struct RecordingConnector {
    inner: SharedHttpConnector,
    log: AwsLog,
    latency: Duration,
}

impl HttpConnector for RecordingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let operation = operation_of(&request);
        let (inner, log, latency) = (self.inner.clone(), self.log.clone(), self.latency);
        let started = OffsetDateTime::now_utc();
        HttpConnectorFuture::new(async move {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            let result = inner.call(request).await;
            let finished = OffsetDateTime::now_utc();
            log.0.lock().unwrap().push(AwsCall { operation, started, finished });
            result
        })
    }
}

/// The operation the way AWS routes it: `X-Amz-Target` (ECR, JSON protocol) or the `Action=`
/// form field (IAM and STS, query protocol).
fn operation_of(request: &HttpRequest) -> String {
    if let Some(target) = request.headers().get("x-amz-target") {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    let body = request.body().bytes().unwrap_or_default();
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}
