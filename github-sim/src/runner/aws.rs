//! What configure-aws-credentials, amazon-ecr-login and docker push do, against the AWS endpoint, with the
//! authorization STS and ECR would apply evaluated by [`crate::iam`] (moto applies none of it):
//!
//! 1. `AssumeRoleWithWebIdentity`: the role (GetRole) must exist with exactly the ARN the secret names; the
//!    account's OIDC provider for the token's issuer (GetOpenIDConnectProvider) must exist and list the token's
//!    audience; the role's trust policy must allow `sts:AssumeRoleWithWebIdentity` for that provider with the
//!    token's `<issuer>:sub` / `<issuer>:aud` (AWS supports no other GitHub claims as condition keys).
//! 2. The role's managed (default version) and inline policies must allow `ecr:GetAuthorizationToken` on `*`
//!    and the layer-upload actions and `ecr:PutImage` on the repository's ARN, and so must the role's
//!    permissions boundary when it has one (AWS grants the intersection of the two).
//! 3. `PutImage` with a fresh manifest, once per tag.
//!
//! With an IAM propagation delay ([`crate::SimConfig::iam_propagation_delay`]) the runner sees IAM as a
//! region far from the write would: a role whose `CreateDate` is younger than the delay does not exist yet,
//! and a trust or managed policy version it has first seen less than the delay ago is not in force yet
//! (the document it saw before is). moto stamps roles and policy versions; a changed trust carries no
//! stamp, so it counts from when the runner first read it.
//!
//! Each failed check ends the job with one `Error:` line that names it.

use aws_config::BehaviorVersion;
use aws_sdk_iam::error::ProvideErrorMetadata;
use percent_encoding::percent_decode_str;
use sha2::Digest as _;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

use super::{LOGIN, META, PUSH, PushJob};
use crate::iam::{Context, Decision, Policy, Request, evaluate};
use crate::oidc::{AWS_AUDIENCE, Issuer, trust_context};

/// SDK clients for the sim's own reads (IAM, STS) and the configuration assumed-role clients start from.
#[derive(Clone)]
pub(crate) struct Clients {
    config: aws_config::SdkConfig,
    iam: aws_sdk_iam::Client,
    propagation: Arc<Propagation>,
}

impl Clients {
    pub async fn new(endpoint: &str, delay: std::time::Duration) -> Self {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .load()
            .await;
        let propagation = Arc::new(Propagation { delay, seen: Mutex::new(HashMap::new()) });
        Clients { iam: aws_sdk_iam::Client::new(&config), config, propagation }
    }

    /// The same, reading IAM in `account` (the role's): each account has its own IAM. The sim's own
    /// read-only view, through the endpoint's `AssumeRole` into that account.
    async fn in_account(&self, account: &str) -> Step<Clients> {
        let sts = aws_sdk_sts::Client::new(&self.config);
        let out = sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/github-sim-reader"))
            .role_session_name("github-sim")
            .send()
            .await
            .map_err(|e| failed(sdk_message("AssumeRole (the sim's view of the account)", &e)))?;
        let c = out.credentials.ok_or_else(|| failed("AssumeRole returned no credentials"))?;
        let credentials = aws_sdk_sts::config::Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            None,
            "github-sim-account-view",
        );
        let iam = aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(&self.config).credentials_provider(credentials).build(),
        );
        Ok(Clients { iam, config: self.config.clone(), propagation: self.propagation.clone() })
    }
}

/// What the runner has seen of IAM documents, to apply each only once it has propagated.
struct Propagation {
    delay: std::time::Duration,
    /// Per document (a role's trust, a managed policy): the one last read, since when, and the one in force before.
    seen: Mutex<HashMap<String, Seen>>,
}

struct Seen {
    current: String,
    since: OffsetDateTime,
    before: Option<String>,
}

impl Propagation {
    /// Whether something made at `made` (moto's `CreateDate`) is visible yet.
    fn visible(&self, made: OffsetDateTime) -> bool {
        OffsetDateTime::now_utc() - made >= self.delay
    }

    /// The document in force for `key` now, given that IAM answers `document`: written at `made` when moto
    /// stamps it (a policy version), else at `first` for the first one seen (the role's creation) and when
    /// first read for a change; `None` while a brand-new one has not propagated.
    fn in_force(
        &self,
        key: &str,
        document: &str,
        made: Option<OffsetDateTime>,
        first: Option<OffsetDateTime>,
    ) -> Option<String> {
        if self.delay.is_zero() {
            return Some(document.to_string());
        }
        let now = OffsetDateTime::now_utc();
        let mut seen = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = seen.entry(key.to_string()).or_insert_with(|| Seen {
            current: document.to_string(),
            since: made.or(first).unwrap_or(now),
            before: None,
        });
        if entry.current != document {
            let was = if now - entry.since >= self.delay {
                Some(entry.current.clone())
            } else {
                entry.before.clone()
            };
            *entry = Seen { current: document.to_string(), since: made.unwrap_or(now), before: was };
        }
        if now - entry.since >= self.delay { Some(entry.current.clone()) } else { entry.before.clone() }
    }
}

fn moto_time(at: Option<&aws_sdk_iam::primitives::DateTime>) -> Option<OffsetDateTime> {
    at.and_then(|t| OffsetDateTime::from_unix_timestamp_nanos(t.as_nanos()).ok())
}

/// Why the job failed: the one line its log shows after `Error: `.
struct Failed(String);

type Step<T> = Result<T, Failed>;

fn failed(message: impl Into<String>) -> Failed {
    Failed(message.into())
}

/// How long the AWS steps may take before the job fails (a hung endpoint must not leave a run in progress).
const STEPS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs the AWS steps, writing the job log; a failure is logged in the step it happened in.
pub(super) async fn push(clients: &Clients, issuer: &Issuer, job: &mut PushJob) {
    let outcome = tokio::time::timeout(STEPS_TIMEOUT, steps(clients, issuer, job)).await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(Failed(message))) => job.log.fail(&message),
        Err(_) => {
            job.log.fail(&format!("the AWS endpoint did not answer within {}s", STEPS_TIMEOUT.as_secs()))
        }
    }
}

async fn steps(clients: &Clients, issuer: &Issuer, job: &mut PushJob) -> Step<()> {
    job.log.line("with:");
    job.log.line(&format!("  role-to-assume: {}", job.role_arn));
    job.log.line(&format!("  aws-region: {}", job.region));
    let role = parse_role_arn(&job.role_arn)?;
    let clients = &clients.in_account(&role.account).await?;
    let policies = assume_role(clients, issuer, job, &role).await?;
    job.log.line("Assuming role with OIDC");
    let credentials = sts_credentials(clients, job).await?;
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&clients.config).credentials_provider(credentials.clone()).build(),
    );
    let identity =
        sts.get_caller_identity().send().await.map_err(|e| failed(sdk_message("GetCallerIdentity", &e)))?;
    let caller = identity.arn().unwrap_or_default().to_string();
    let partition = caller.split(':').nth(1).unwrap_or("aws").to_string();
    job.log.line(&format!("Authenticated as assumedRoleId {}", identity.user_id().unwrap_or_default()));

    job.log.begin(LOGIN);
    let target = parse_repository_url(&job.repository_url)?;
    if target.region != job.region {
        return Err(failed(format!(
            "the ECR repository is in region {} but aws-region is {}: docker login went to the wrong registry",
            target.region, job.region
        )));
    }
    authorize(&policies, &caller, "ecr:GetAuthorizationToken", "*")?;
    if target.account != role.account {
        // Another account's repository takes a push only if its repository policy grants it; Shipyard's grant none.
        return Err(failed(format!(
            "User: {caller} is not authorized to perform: ecr:InitiateLayerUpload on resource: \
             arn:{partition}:ecr:{}:{}:repository/{} because no resource-based policy allows the \
             ecr:InitiateLayerUpload action",
            target.region, target.account, target.name
        )));
    }
    let ecr = aws_sdk_ecr::Client::from_conf(
        aws_sdk_ecr::config::Builder::from(&clients.config)
            .credentials_provider(credentials)
            .region(aws_config::Region::new(target.region.clone()))
            .build(),
    );
    ecr.get_authorization_token()
        .send()
        .await
        .map_err(|e| failed(sdk_message("GetAuthorizationToken", &e)))?;
    job.log.line(&format!("Logging into registry {}", target.registry));

    job.log.begin(META);
    for tag in &job.tags {
        job.log.line(&format!("{}/{}:{tag}", target.registry, target.name));
    }

    job.log.begin(PUSH);
    let arn = format!("arn:{partition}:ecr:{}:{}:repository/{}", target.region, target.account, target.name);
    for action in [
        "ecr:BatchCheckLayerAvailability",
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "ecr:PutImage",
    ] {
        authorize(&policies, &caller, action, &arn)?;
    }
    let (manifest, digest) = manifest();
    for tag in &job.tags {
        ecr.put_image()
            .registry_id(&target.account)
            .repository_name(&target.name)
            .image_manifest(&manifest)
            .image_manifest_media_type("application/vnd.docker.distribution.manifest.v2+json")
            .image_tag(tag)
            .send()
            .await
            .map_err(|e| failed(sdk_message("PutImage", &e)))?;
        job.log.line(&format!("{tag}: digest: {digest} size: {}", manifest.len()));
    }
    Ok(())
}

struct RoleArn {
    partition: String,
    account: String,
    name: String,
}

fn parse_role_arn(arn: &str) -> Step<RoleArn> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", partition, "iam", "", account, resource] if resource.starts_with("role/") => Ok(RoleArn {
            partition: partition.to_string(),
            account: account.to_string(),
            name: resource.rsplit('/').next().unwrap_or_default().to_string(),
        }),
        _ => Err(failed("Could not assume role with OIDC: role-to-assume is not an IAM role ARN")),
    }
}

/// STS's checks for `AssumeRoleWithWebIdentity`; on success, the role's identity policies for later steps.
async fn assume_role(clients: &Clients, issuer: &Issuer, job: &PushJob, role: &RoleArn) -> Step<Grants> {
    let denied =
        |why: &str| failed(format!("Not authorized to perform sts:AssumeRoleWithWebIdentity: {why}"));
    let found = clients.iam.get_role().role_name(&role.name).send().await;
    let found = match found {
        Ok(output) => output.role,
        Err(e) if e.code() == Some("NoSuchEntity") => None,
        Err(e) => return Err(failed(sdk_message("GetRole", &e))),
    };
    let propagation = &clients.propagation;
    let made = moto_time(found.as_ref().map(|r| &r.create_date));
    let Some(found) =
        found.filter(|r| r.arn == job.role_arn && made.is_none_or(|made| propagation.visible(made)))
    else {
        return Err(denied("the role does not exist"));
    };
    let trust = decode(found.assume_role_policy_document().unwrap_or_default());
    let trust = propagation
        .in_force(&format!("trust {}", found.arn), &trust, None, made)
        .ok_or_else(|| denied("the role does not exist"))?;
    let trust = Policy::parse(&trust).map_err(|e| denied(&format!("the trust policy: {e}")))?;

    let provider_arn =
        format!("arn:{}:iam::{}:oidc-provider/{}", role.partition, role.account, issuer.host_path());
    let provider =
        clients.iam.get_open_id_connect_provider().open_id_connect_provider_arn(&provider_arn).send().await;
    let provider = match provider {
        Ok(provider) => provider,
        Err(e) if e.code() == Some("NoSuchEntity") => {
            return Err(failed(format!(
                "No OpenIDConnect provider found in your account for {} (no {provider_arn})",
                issuer.url()
            )));
        }
        Err(e) => return Err(failed(sdk_message("GetOpenIDConnectProvider", &e))),
    };
    let url = provider.url().unwrap_or_default();
    if url.trim_start_matches("https://") != issuer.host_path() {
        return Err(failed(format!(
            "the OIDC provider {provider_arn} is for {url}, not the token's issuer {}",
            issuer.url()
        )));
    }
    if !provider.client_id_list().iter().any(|id| id == AWS_AUDIENCE) {
        return Err(failed(format!(
            "Incorrect token audience: the OIDC provider {provider_arn} does not list audience {AWS_AUDIENCE} \
             (it lists: {})",
            provider.client_id_list().join(", ")
        )));
    }

    let context = trust_context(issuer.host_path(), &job.claims);
    let request = Request {
        action: "sts:AssumeRoleWithWebIdentity",
        resource: None,
        principal: Some(("Federated", &provider_arn)),
        context: &context,
    };
    match evaluate(std::slice::from_ref(&trust), &request) {
        Decision::Allow => {}
        Decision::ExplicitDeny(statement) => {
            return Err(denied(&format!("explicit deny in the trust policy's {statement}")));
        }
        Decision::ImplicitDeny(Some(reason)) => return Err(denied(&format!("trust {reason}"))),
        Decision::ImplicitDeny(None) => {
            let trusted = trust.federated_principals();
            return Err(denied(&if trusted.is_empty() || trusted.contains(&provider_arn) {
                "no statement of the trust policy allows it".to_string()
            } else {
                format!("the trust policy trusts {}, not {provider_arn}", trusted.join(", "))
            }));
        }
    }
    let boundary = match found.permissions_boundary().and_then(|b| b.permissions_boundary_arn()) {
        Some(arn) => Some(boundary_policy(clients, arn).await?),
        None => None,
    };
    Ok(Grants { identity: role_policies(clients, &role.name).await?, boundary })
}

/// What the assumed role may do: what its identity policies allow, within its boundary (if any).
struct Grants {
    identity: Vec<Policy>,
    boundary: Option<Policy>,
}

/// The default version of the managed policy a role has as its permissions boundary.
async fn boundary_policy(clients: &Clients, arn: &str) -> Step<Policy> {
    let document = default_version_document(clients, arn)
        .await
        .and_then(|d| d.ok_or_else(|| "NoSuchEntity: not propagated yet".to_string()))
        .map_err(|e| failed(format!("the role's permissions boundary {arn}: {e}")))?;
    Policy::parse(&document).map_err(|e| failed(format!("the role's permissions boundary is not valid: {e}")))
}

/// The document of a managed policy's default version, decoded (what IAM evaluates for it).
async fn default_version_document(clients: &Clients, arn: &str) -> Result<Option<String>, String> {
    let iam = &clients.iam;
    let policy = iam.get_policy().policy_arn(arn).send().await.map_err(|e| sdk_message("GetPolicy", &e))?;
    let version = policy.policy().and_then(|p| p.default_version_id()).unwrap_or("v1");
    let version = iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(version)
        .send()
        .await
        .map_err(|e| sdk_message("GetPolicyVersion", &e))?;
    let version = version.policy_version();
    let document = decode(version.and_then(|v| v.document()).unwrap_or_default());
    let made = moto_time(version.and_then(|v| v.create_date()));
    Ok(clients.propagation.in_force(&format!("policy {arn}"), &document, made, None))
}

/// The assumed-role credentials, from the endpoint's own `AssumeRoleWithWebIdentity` (moto grants it).
async fn sts_credentials(clients: &Clients, job: &PushJob) -> Step<aws_sdk_sts::config::Credentials> {
    let sts = aws_sdk_sts::Client::new(&clients.config);
    let output = sts
        .assume_role_with_web_identity()
        .role_arn(&job.role_arn)
        .role_session_name("GitHubActions")
        .web_identity_token(&job.token)
        .send()
        .await
        .map_err(|e| failed(sdk_message("AssumeRoleWithWebIdentity", &e)))?;
    let c = output.credentials.ok_or_else(|| failed("AssumeRoleWithWebIdentity returned no credentials"))?;
    Ok(aws_sdk_sts::config::Credentials::new(
        c.access_key_id,
        c.secret_access_key,
        Some(c.session_token),
        None,
        "github-sim-oidc",
    ))
}

/// The role's attached managed policies (their default versions) and inline policies.
async fn role_policies(clients: &Clients, role: &str) -> Step<Vec<Policy>> {
    let iam = &clients.iam;
    let mut documents = Vec::new();
    let attached = iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .map_err(|e| failed(sdk_message("ListAttachedRolePolicies", &e)))?;
    for arn in attached.attached_policies().iter().filter_map(|p| p.policy_arn()) {
        // A policy version too new to be in force (with none before it) grants nothing yet.
        documents.extend(default_version_document(clients, arn).await.map_err(failed)?);
    }
    let inline = iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .map_err(|e| failed(sdk_message("ListRolePolicies", &e)))?;
    for name in inline.policy_names() {
        let policy = iam
            .get_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .map_err(|e| failed(sdk_message("GetRolePolicy", &e)))?;
        documents.push(decode(&policy.policy_document));
    }
    documents
        .iter()
        .map(|d| Policy::parse(d).map_err(|e| failed(format!("a policy of the role is not valid: {e}"))))
        .collect()
}

/// IAM's verdict on one action, in the words AWS uses for an AccessDenied: the identity policies must
/// allow it, and so must the permissions boundary.
fn authorize(grants: &Grants, caller: &str, action: &str, resource: &str) -> Step<()> {
    let context = Context::default();
    let request = Request { action, resource: Some(resource), principal: None, context: &context };
    let why = match evaluate(&grants.identity, &request) {
        Decision::Allow => {
            match grants.boundary.as_ref().map(|b| evaluate(std::slice::from_ref(b), &request)) {
                None | Some(Decision::Allow) => return Ok(()),
                Some(Decision::ExplicitDeny(_)) => {
                    "with an explicit deny in a permissions boundary".to_string()
                }
                Some(Decision::ImplicitDeny(_)) => {
                    format!("because no permissions boundary allows the {action} action")
                }
            }
        }
        Decision::ExplicitDeny(_) => "with an explicit deny in an identity-based policy".to_string(),
        Decision::ImplicitDeny(Some(reason)) => {
            format!("because no identity-based policy allows it ({reason})")
        }
        Decision::ImplicitDeny(None) => {
            format!("because no identity-based policy allows the {action} action")
        }
    };
    Err(failed(format!(
        "User: {caller} is not authorized to perform: {action} on resource: {resource} {why}"
    )))
}

struct Repository {
    account: String,
    region: String,
    registry: String,
    name: String,
}

/// `ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME` (`.amazonaws.com.cn` in China).
fn parse_repository_url(url: &str) -> Step<Repository> {
    let bad = || failed("the ECR repository URL is not ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME");
    let (registry, name) = url.split_once('/').ok_or_else(bad)?;
    let labels: Vec<&str> = registry.split('.').collect();
    match labels.as_slice() {
        [account, "dkr", "ecr", region, "amazonaws", "com", ..] if !name.is_empty() => Ok(Repository {
            account: account.to_string(),
            region: region.to_string(),
            registry: registry.to_string(),
            name: name.to_string(),
        }),
        _ => Err(bad()),
    }
}

/// A Docker image manifest (schema 2) with a fresh config digest, so every push is a distinct image.
fn manifest() -> (String, String) {
    let config = format!("sha256:{}", crate::model::random_hex(64));
    let layer = format!("sha256:{}", crate::model::random_hex(64));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": { "mediaType": "application/vnd.docker.container.image.v1+json", "size": 1469, "digest": config },
        "layers": [{ "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 3623807, "digest": layer }],
    })
    .to_string();
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(manifest.as_bytes())));
    (manifest, digest)
}

/// IAM returns policy documents URL-encoded (RFC 3986).
fn decode(document: &str) -> String {
    percent_decode_str(document).decode_utf8_lossy().into_owned()
}

fn sdk_message(operation: &str, error: &(impl ProvideErrorMetadata + std::error::Error + 'static)) -> String {
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{operation}: {code}: {message}"),
        (Some(code), None) => format!("{operation}: {code}"),
        _ => format!("{operation}: {}", aws_sdk_iam::error::DisplayErrorContext(error)),
    }
}
