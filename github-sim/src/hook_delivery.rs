//! Webhook deliveries, as GitHub makes them: a POST to the hook's URL with `X-GitHub-Event`,
//! `X-GitHub-Delivery` (a GUID), `X-GitHub-Hook-ID`, `X-GitHub-Hook-Installation-Target-Type`/`-ID`,
//! `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body with the hook's secret>` (only with a
//! secret), `User-Agent: GitHub-Hookshot/<id>`, and the payload as JSON (or `payload=` form-encoded for
//! `content_type: form`). Payloads follow `@octokit/openapi-webhooks` (checked by `tests/openapi.rs`).
//!
//! Run status is derived from time, so a background task looks every [`TICK`] for attempts that moved on
//! (`requested` → `in_progress` → `completed`) and sends what each moved through, in order. It builds
//! the payloads under the world lock and sends them after releasing it: a slow receiver never stalls
//! the API.

use std::time::Duration;

use hmac::{Hmac, Mac as _};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::Sim;
use crate::auth::Auth;
use crate::json::{self, Account};
use crate::model::{Hook, Repo, Run, World, now};

/// How often run transitions are looked for.
const TICK: Duration = Duration::from_millis(50);
/// GitHub gives up on a delivery after ten seconds.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The `workflow_run` actions, by the stage number kept in [`World::run_events`].
const ACTIONS: [&str; 3] = ["requested", "in_progress", "completed"];

/// One delivery, built under the lock and sent without it.
pub(crate) struct Delivery {
    url: String,
    form: bool,
    secret: Option<String>,
    event: &'static str,
    hook_id: u64,
    repo_id: u64,
    payload: Value,
}

/// Delivers run transitions until the sim is dropped.
pub(crate) async fn run(sim: Sim) {
    loop {
        tokio::time::sleep(TICK).await;
        let due = {
            let mut world = sim.world();
            due(&sim, &mut world)
        };
        for delivery in due {
            send(delivery).await;
        }
    }
}

fn stage(status: &str) -> u8 {
    match status {
        "completed" => 3,
        "in_progress" => 2,
        _ => 1,
    }
}

/// The `workflow_run` deliveries owed since the last look, and the bookkeeping that they were made.
fn due(sim: &Sim, world: &mut World) -> Vec<Delivery> {
    let (at, run_duration) = (now(), sim.settings().run_duration);
    let mut moved = Vec::new();
    for (r, repo) in world.repos.iter().enumerate() {
        for (k, run) in repo.runs.iter().enumerate() {
            for index in 0..run.attempts.len() {
                let reached = stage(run.state(index, at, run_duration).status);
                let told = world.run_events.get(&(run.id, index)).copied().unwrap_or(0);
                if reached > told {
                    moved.push((r, k, index, told, reached));
                }
            }
        }
    }
    let mut deliveries = Vec::new();
    for (r, k, index, told, reached) in moved {
        let (repo, run) = (&world.repos[r], &world.repos[r].runs[k]);
        let hooks: Vec<&Hook> =
            world.hooks.iter().filter(|h| h.repo_id == repo.id && h.wants("workflow_run")).collect();
        for stage in told + 1..=reached {
            let action = ACTIONS[usize::from(stage) - 1];
            for hook in &hooks {
                let payload = workflow_run_payload(sim, world, repo, run, index, action);
                deliveries.push(Delivery::new(hook, repo.id, "workflow_run", payload));
            }
        }
        let key = (run.id, index);
        world.run_events.insert(key, reached);
    }
    deliveries
}

impl Delivery {
    fn new(hook: &Hook, repo_id: u64, event: &'static str, payload: Value) -> Self {
        Delivery {
            url: hook.url.clone(),
            form: hook.content_type == "form",
            secret: hook.secret.clone(),
            event,
            hook_id: hook.id,
            repo_id,
            payload,
        }
    }
}

/// The `ping` a new hook receives (`webhook-ping`).
pub(crate) fn ping(
    sim: &Sim,
    world: &World,
    repo: &Repo,
    hook: &Hook,
    hook_body: &Value,
    sender: u64,
) -> Delivery {
    let base = sim.base_url();
    let mut payload = json!({
        "zen": "Keep it logically awesome.",
        "hook_id": hook.id,
        "hook": hook_body,
        "repository": repository(base, world, repo),
    });
    if let Some(user) = world.user(sender) {
        payload["sender"] = json::simple_user(base, &Account::user(user));
    }
    if let Some(org) = world.orgs.iter().find(|o| o.id == repo.owner_id) {
        payload["organization"] = organization(base, org);
    }
    Delivery::new(hook, repo.id, "ping", payload)
}

/// `webhook-workflow-run-{requested,in-progress,completed}` for attempt `index` of `run`, as it stood at
/// `action` (a late look still reports each step it missed with that step's status).
fn workflow_run_payload(
    sim: &Sim,
    world: &World,
    repo: &Repo,
    run: &Run,
    index: usize,
    action: &str,
) -> Value {
    let base = sim.base_url();
    let mut workflow_run = crate::runs::run_json(sim, world, repo, run, index);
    match action {
        "requested" => {
            workflow_run["status"] = json!("queued");
            workflow_run["conclusion"] = Value::Null;
        }
        "in_progress" => {
            workflow_run["status"] = json!("in_progress");
            workflow_run["conclusion"] = Value::Null;
        }
        _ => {}
    }
    let workflow = repo
        .workflows
        .iter()
        .find(|w| w.id == run.workflow_id)
        .map(|w| crate::actions::workflow_json(base, repo, w))
        .unwrap_or(Value::Null);
    let sender = world
        .user(run.attempts[index].triggering_actor)
        .map(|u| json::simple_user(base, &Account::user(u)))
        .unwrap_or(Value::Null);
    let mut payload = json!({
        "action": action,
        "workflow_run": workflow_run,
        "workflow": workflow,
        "repository": repository(base, world, repo),
        "sender": sender,
    });
    if let Some(org) = world.orgs.iter().find(|o| o.id == repo.owner_id) {
        payload["organization"] = organization(base, org);
    }
    payload
}

/// `repository-webhooks`: the repository as the REST API shows it to nobody in particular, without
/// `template_repository`, which webhook payloads do not carry.
fn repository(base: &str, world: &World, repo: &Repo) -> Value {
    let mut repository = json::full_repo(base, world, repo, &Auth(None));
    if let Some(fields) = repository.as_object_mut() {
        fields.remove("template_repository");
    }
    repository
}

/// `organization-simple-webhooks`.
fn organization(base: &str, org: &crate::model::Org) -> Value {
    let api = format!("{base}/orgs/{}", org.login);
    json!({
        "login": org.login,
        "id": org.id,
        "node_id": json::node_id("O_", org.id),
        "url": api,
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events"),
        "hooks_url": format!("{api}/hooks"),
        "issues_url": format!("{api}/issues"),
        "members_url": format!("{api}/members{{/member}}"),
        "public_members_url": format!("{api}/public_members{{/member}}"),
        "avatar_url": format!("{base}/avatars/u/{}?v=4", org.id),
        "description": Value::Null,
    })
}

/// `sha256=<hex>`: HMAC-SHA256 of exactly the bytes sent, keyed with the hook's secret.
pub(crate) fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Sends one delivery; a receiver that fails or is gone is logged, as GitHub records a failed delivery.
pub(crate) async fn send(delivery: Delivery) {
    let json = delivery.payload.to_string();
    let (body, content_type) = if delivery.form {
        let encoded: String =
            url::form_urlencoded::Serializer::new(String::new()).append_pair("payload", &json).finish();
        (encoded, "application/x-www-form-urlencoded")
    } else {
        (json, "application/json")
    };
    let mut request = client()
        .post(&delivery.url)
        .header("content-type", content_type)
        .header("user-agent", format!("GitHub-Hookshot/{}", &uuid::Uuid::new_v4().simple().to_string()[..7]))
        .header("x-github-event", delivery.event)
        .header("x-github-delivery", uuid::Uuid::new_v4().to_string())
        .header("x-github-hook-id", delivery.hook_id.to_string())
        .header("x-github-hook-installation-target-type", "repository")
        .header("x-github-hook-installation-target-id", delivery.repo_id.to_string());
    if let Some(secret) = &delivery.secret {
        request = request.header("x-hub-signature-256", signature(secret, body.as_bytes()));
    }
    match request.body(body).send().await {
        Ok(response) => {
            tracing::info!(
                event = delivery.event,
                hook = delivery.hook_id,
                status = response.status().as_u16(),
                "webhook delivered"
            )
        }
        Err(error) => {
            tracing::warn!(event = delivery.event, hook = delivery.hook_id, %error, "webhook delivery failed")
        }
    }
}

fn client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| reqwest::Client::builder().timeout(TIMEOUT).build().expect("an HTTP client"))
}
