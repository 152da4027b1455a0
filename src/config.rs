//! Configuration, read once from the environment (and `.env` in development).
//!
//! A missing or malformed variable stops start-up with one line naming the variable and what is
//! expected. Secret values are [`SecretString`]s: redacted in `Debug`, never logged.

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    num::NonZeroU32,
    time::Duration,
};

use secrecy::SecretString;
use url::Url;

use crate::provider::RetryPolicy;

/// Everything Shipyard needs to run. Built by [`Config::from_env`] or, in tests, field by field.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`: the Postgres database (it holds credentials: kept secret).
    pub database_url: SecretString,
    /// `LISTEN_ADDR`: where the HTTP server listens (default `0.0.0.0:8080`).
    pub listen_addr: SocketAddr,
    /// `PUBLIC_URL`: how browsers reach Shipyard; decides the OAuth callback and whether cookies are `Secure`.
    pub public_url: Url,
    /// `GITHUB_ORG`: only active members of this organization may sign in; services are created in it.
    pub github_org: String,
    /// The server's own GitHub credential, for provisioning and membership re-checks: `GITHUB_TOKEN`, or
    /// `GITHUB_APP_ID` + `GITHUB_APP_PRIVATE_KEY` (exactly one of the two).
    pub github_credential: GitHubCredential,
    /// `GITHUB_OAUTH_CLIENT_ID` / `GITHUB_OAUTH_CLIENT_SECRET`: the OAuth app users sign in through.
    pub oauth_client_id: String,
    pub oauth_client_secret: SecretString,
    /// `GITHUB_API_URL` (default `https://api.github.com`).
    pub github_api_url: Url,
    /// `GITHUB_WEB_URL` (default `https://github.com`): where the OAuth pages live.
    pub github_web_url: Url,
    /// `GITHUB_OIDC_ISSUER` (default `https://token.actions.githubusercontent.com`): whose Actions
    /// tokens the AWS OIDC provider and the roles' trust accept; GHES: `https://HOST/_services/token`.
    pub github_oidc_issuer: crate::aws::policy::OidcIssuer,
    /// `SHIPYARD_TEMPLATES`: comma-separated `owner/repo` template repositories users may pick.
    pub templates: Vec<String>,
    /// `SHIPYARD_ENVIRONMENTS` (default `dev,staging,prod`): the names, in the order given.
    pub environments: Vec<String>,
    /// Where each environment's services are provisioned: entries `name=ACCOUNT_ID` or
    /// `name=ACCOUNT_ID/REGION` of `SHIPYARD_ENVIRONMENTS`. A plain `name` has no entry here and uses
    /// Shipyard's own account and region.
    pub environment_accounts: BTreeMap<String, Placement>,
    /// `SHIPYARD_PROVISIONER_ROLE` (default `shipyard-provisioner`): the role Shipyard assumes in
    /// every account an environment names.
    pub provisioner_role: String,
    /// `SHIPYARD_ADMINS`: GitHub users (numeric ids; logins still accepted) who may delete any service,
    /// besides org admins.
    pub admins: Vec<AdminRef>,
    /// `SHIPYARD_MEMBERSHIP_TTL_SECS` (default 900): how long a session trusts GitHub's last word on its
    /// membership and role before asking again.
    pub membership_ttl: Duration,
    /// `SHIPYARD_MEMBERSHIP_GRACE_SECS` (default 3600): how much longer that word is kept while GitHub
    /// cannot be asked; after that the session is refused until GitHub answers.
    pub membership_grace: Duration,
    /// `AWS_REGION` (default `us-east-1`); the rest of the AWS chain is the SDK's own.
    pub aws_region: String,
    /// `SHIPYARD_IAM_PROPAGATION_DELAY_SECS` (default 10): wait before the first build so a new role is assumable.
    pub iam_propagation_delay: Duration,
    /// `SHIPYARD_RECONCILER_CONCURRENCY` (default 4): how many services one process works on at once.
    pub reconciler_concurrency: usize,
    /// `SHIPYARD_DRIFT_INTERVAL_SECS` (default 3600): how often every ready service's resources are re-read.
    pub drift_interval: Duration,
    /// `LOG_FORMAT`: `text` (default) or `json`.
    pub log_format: LogFormat,
    /// How hard to retry transient provider errors. Only the longest wait for GitHub's primary rate limit
    /// to reset comes from the environment: `SHIPYARD_RATE_LIMIT_MAX_WAIT_SECS` (default 900).
    pub retry: RetryPolicy,
    /// How hard to use the server's GitHub credential: github.com's secondary limits (a constant; tests
    /// match github-sim's scaled-down limits).
    pub github_budget: crate::github::Budget,
    /// Timeouts and rate limits at the HTTP edge; `SHIPYARD_HEADER_READ_TIMEOUT_SECS` (default 10) sets
    /// the header-read timeout, which is also the keep-alive idle timeout. The rest are constants.
    pub edge: EdgeLimits,
    /// `SHIPYARD_WEBHOOK_URL` with `SHIPYARD_WEBHOOK_KEY` (both unset: no webhooks): where GitHub can
    /// reach Shipyard, and the server key each service's webhook secret is derived from. When set,
    /// every repository gets a `workflow_run` webhook that wakes its first build at once, and polling
    /// becomes a slow safety net.
    pub webhooks: Option<WebhookConfig>,
    /// `SHIPYARD_CLIENT_IP_HEADER` (unset: the TCP peer): a header in which the reverse proxy in front
    /// of Shipyard puts the client's address (its last value counts), for per-client rate limits.
    pub client_ip_header: Option<axum::http::HeaderName>,
    /// `SHIPYARD_PERMISSIONS_BOUNDARY` (required): the ARN of the IAM policy every role Shipyard creates
    /// carries as its permissions boundary, e.g. `arn:aws:iam::ACCOUNT:policy/shipyard-boundary`
    /// (`deploy/aws/shipyard-boundary.json`). It must lie outside `/shipyard/`, the path Shipyard writes.
    /// There is no default: the deploy policy refuses `CreateRole` without it, so a missing value would
    /// only surface later as every service failing.
    pub permissions_boundary: crate::aws::PermissionsBoundary,
    /// `SHIPYARD_CHECK_COOLDOWN_SECS` (default 60): a Check now within this long of the service's last
    /// drift check answers with that check's result instead of reading IAM, ECR and GitHub again
    /// (IAM's control plane is throttled per account, so unthrottled checks slow everyone down).
    pub check_cooldown: Duration,
    /// `SHIPYARD_CHECKS_PER_USER_PER_MINUTE` (default 10, also the burst): Check nows one user may run.
    pub checks_per_user_per_minute: NonZeroU32,
    /// `SHIPYARD_ALLOWED_VISIBILITIES` (default `private,internal`): the visibilities members may
    /// choose; an organization admin may choose any (a public repository is the org's decision).
    pub allowed_visibilities: Vec<crate::domain::Visibility>,
    /// `SHIPYARD_MAX_SERVICES_PER_USER` (default 50): live services one person may have created.
    pub max_services_per_user: u32,
    /// How every service's ECR repository is kept: `SHIPYARD_ECR_UNTAGGED_DAYS` (default 14) days before
    /// an untagged image expires, `SHIPYARD_ECR_KEEP_IMAGES` (default 200) `sha-` images kept, and
    /// `SHIPYARD_ECR_KMS_KEY` (unset: AES-256), the KMS key ARN new repositories are encrypted with.
    pub ecr: crate::aws::EcrRules,
    /// `SHIPYARD_TEAM_REQUIRED` (default true): every new service names its owning team.
    pub team_required: bool,
    /// `SHIPYARD_TEAM_PERMISSION` (default `maintain`: push and merge, but not edit rulesets or delete
    /// the repository): what the owning team is granted on the repository.
    pub team_permission: crate::domain::TeamPermission,
    /// `SHIPYARD_REQUIRED_APPROVALS` and `SHIPYARD_REQUIRED_CHECKS`: what the default branch's ruleset
    /// asks of a change.
    pub branch_protection: BranchProtection,
}

/// What the `shipyard-default-branch` ruleset requires before a change reaches the default branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchProtection {
    /// `SHIPYARD_REQUIRED_APPROVALS` (default 1): approving reviews a pull request needs, 0 to 10
    /// (GitHub's range for `required_approving_review_count`).
    pub required_approvals: u8,
    /// `SHIPYARD_REQUIRED_CHECKS` (default none): status checks (by name) that must pass; none: the
    /// ruleset has no `required_status_checks` rule.
    pub required_checks: Vec<String>,
}

/// The defaults the environment falls back to: one approval, no required checks.
impl Default for BranchProtection {
    fn default() -> Self {
        Self { required_approvals: 1, required_checks: Vec::new() }
    }
}

/// GitHub refuses a `required_approving_review_count` above this.
pub const MAX_REQUIRED_APPROVALS: u8 = 10;

/// The server's GitHub credential.
#[derive(Debug, Clone)]
pub enum GitHubCredential {
    /// A classic personal access token (a bot's) with `repo`, `delete_repo` and `read:org`.
    Token(SecretString),
    /// A GitHub App installed on `GITHUB_ORG` (recommended): short-lived installation tokens with
    /// fine-grained permissions. The key is the App's PEM private key.
    App { app_id: u64, private_key: SecretString },
}

/// Repository webhooks: where deliveries go and what their secrets are derived from.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// `SHIPYARD_WEBHOOK_URL` joined with [`WEBHOOK_PATH`]: the URL each repository hook posts to.
    pub url: Url,
    /// `SHIPYARD_WEBHOOK_KEY`: at least [`MIN_WEBHOOK_KEY_LEN`] characters. Each service's hook secret
    /// is an HMAC of its id under this key, so no secret is stored anywhere.
    pub key: SecretString,
}

/// Where Shipyard receives GitHub's deliveries.
pub const WEBHOOK_PATH: &str = "/webhooks/github";
/// A key shorter than this is refused: it is all that stands between a forged delivery and a wake-up.
pub const MIN_WEBHOOK_KEY_LEN: usize = 32;

/// Someone named in `SHIPYARD_ADMINS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRef {
    /// GitHub's numeric user id: stays with the person across renames.
    Id(i64),
    /// A login: deprecated, since a login can be renamed and then registered by someone else.
    Login(String),
}

impl AdminRef {
    /// Whether this names the GitHub user `github_id` / `login` (logins compare case-insensitively).
    pub fn names(&self, github_id: i64, login: &str) -> bool {
        match self {
            AdminRef::Id(id) => *id == github_id,
            AdminRef::Login(admin) => admin.eq_ignore_ascii_case(login),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Why the configuration could not be read. Displays as the one line start-up prints.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration error: {var} {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&std::env::vars().collect())
    }

    /// Reads the given variables; the process environment is never consulted (tests use this).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let env = Env(vars);
        let public_url = env.url("PUBLIC_URL", Some("http://localhost:8080"))?;
        let environments = env.environments()?;
        Ok(Self {
            database_url: env.secret("DATABASE_URL")?,
            listen_addr: env.parse(
                "LISTEN_ADDR",
                Some("0.0.0.0:8080"),
                "a socket address such as 0.0.0.0:8080",
            )?,
            public_url,
            github_org: env.name("GITHUB_ORG")?,
            github_credential: env.github_credential()?,
            oauth_client_id: env.required("GITHUB_OAUTH_CLIENT_ID")?,
            oauth_client_secret: env.secret("GITHUB_OAUTH_CLIENT_SECRET")?,
            github_api_url: env.url("GITHUB_API_URL", Some("https://api.github.com"))?,
            github_web_url: env.url("GITHUB_WEB_URL", Some("https://github.com"))?,
            github_oidc_issuer: {
                let raw = env.optional("GITHUB_OIDC_ISSUER");
                let raw = raw.as_deref().unwrap_or(crate::aws::policy::GITHUB_OIDC_URL);
                crate::aws::policy::OidcIssuer::parse(raw)
                    .map_err(|why| env.invalid("GITHUB_OIDC_ISSUER", &format!("is malformed: {why}")))?
            },
            templates: env.list("SHIPYARD_TEMPLATES", None, is_full_repo_name, "owner/repository names")?,
            environments: environments.iter().map(|(name, _)| name.clone()).collect(),
            environment_accounts: environments
                .into_iter()
                .filter_map(|(name, placement)| Some((name, placement?)))
                .collect(),
            provisioner_role: {
                let raw = env.optional("SHIPYARD_PROVISIONER_ROLE");
                let raw = raw.as_deref().unwrap_or("shipyard-provisioner");
                if !is_role_name(raw) {
                    return Err(env.invalid(
                        "SHIPYARD_PROVISIONER_ROLE",
                        &format!("is malformed: expected an IAM role name (A-Z a-z 0-9 +=,.@_-, at most 64), got {raw:?}"),
                    ));
                }
                raw.to_owned()
            },
            admins: env
                .list("SHIPYARD_ADMINS", Some(""), is_admin_ref, "GitHub user ids (or logins)")?
                .into_iter()
                .map(|item| match item.parse() {
                    Ok(id) => AdminRef::Id(id),
                    Err(_) => AdminRef::Login(item),
                })
                .collect(),
            membership_ttl: env.seconds("SHIPYARD_MEMBERSHIP_TTL_SECS", "900")?,
            membership_grace: env.seconds("SHIPYARD_MEMBERSHIP_GRACE_SECS", "3600")?,
            aws_region: env.parse("AWS_REGION", Some("us-east-1"), "an AWS region such as eu-west-1")?,
            iam_propagation_delay: Duration::from_secs(env.parse(
                "SHIPYARD_IAM_PROPAGATION_DELAY_SECS",
                Some("10"),
                "a whole number of seconds",
            )?),
            drift_interval: match env.seconds("SHIPYARD_DRIFT_INTERVAL_SECS", "3600")? {
                d if d.is_zero() => {
                    return Err(env.invalid("SHIPYARD_DRIFT_INTERVAL_SECS", "must be at least 1"));
                }
                d => d,
            },
            reconciler_concurrency: match env.parse::<usize>(
                "SHIPYARD_RECONCILER_CONCURRENCY",
                Some("4"),
                "a whole number from 1 to 256",
            )? {
                n @ 1..=256 => n,
                _ => return Err(env.invalid("SHIPYARD_RECONCILER_CONCURRENCY", "must be from 1 to 256")),
            },
            log_format: match env.optional("LOG_FORMAT").as_deref().unwrap_or("text") {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => return Err(env.invalid("LOG_FORMAT", "must be `text` or `json`")),
            },
            retry: RetryPolicy {
                rate_limit_wait: env.seconds("SHIPYARD_RATE_LIMIT_MAX_WAIT_SECS", "900")?,
                ..RetryPolicy::default()
            },
            github_budget: crate::github::Budget::GITHUB,
            edge: EdgeLimits {
                header_read_timeout: Duration::from_secs(
                    env.parse::<std::num::NonZeroU64>(
                        "SHIPYARD_HEADER_READ_TIMEOUT_SECS",
                        Some("10"),
                        "a whole number of seconds, at least 1",
                    )?
                    .get(),
                ),
                connections_per_peer: env.parse::<NonZeroU32>(
                    "SHIPYARD_MAX_CONNECTIONS_PER_PEER",
                    Some("512"),
                    "a whole number of connections, at least 1",
                )?,
                unauthenticated_burst: env.parse::<NonZeroU32>(
                    "SHIPYARD_UNAUTHENTICATED_BURST",
                    Some("20"),
                    "a whole number of requests, at least 1",
                )?,
                unauthenticated_per_minute: env.parse::<NonZeroU32>(
                    "SHIPYARD_UNAUTHENTICATED_PER_MINUTE",
                    Some("30"),
                    "a whole number of requests a minute, at least 1",
                )?,
            },
            webhooks: env.webhooks()?,
            client_ip_header: match env.optional("SHIPYARD_CLIENT_IP_HEADER") {
                None => None,
                Some(name) => {
                    Some(axum::http::HeaderName::try_from(name.to_ascii_lowercase()).map_err(|_| {
                        env.invalid(
                            "SHIPYARD_CLIENT_IP_HEADER",
                            &format!(
                                "is malformed: expected a header name such as X-Forwarded-For, got {name:?}"
                            ),
                        )
                    })?)
                }
            },
            permissions_boundary: {
                let raw = env.required("SHIPYARD_PERMISSIONS_BOUNDARY").map_err(|_| {
                    env.invalid(
                        "SHIPYARD_PERMISSIONS_BOUNDARY",
                        "is not set: expected the ARN of the boundary policy every role gets \
                         (deploy/aws/shipyard-boundary.json), e.g. arn:aws:iam::ACCOUNT:policy/shipyard-boundary",
                    )
                })?;
                crate::aws::PermissionsBoundary::parse(&raw).map_err(|why| {
                    env.invalid("SHIPYARD_PERMISSIONS_BOUNDARY", &format!("is malformed: {why}"))
                })?
            },
            check_cooldown: env.seconds("SHIPYARD_CHECK_COOLDOWN_SECS", "60")?,
            checks_per_user_per_minute: env.parse(
                "SHIPYARD_CHECKS_PER_USER_PER_MINUTE",
                Some("10"),
                "a whole number of checks, at least 1",
            )?,
            allowed_visibilities: env
                .list(
                    "SHIPYARD_ALLOWED_VISIBILITIES",
                    Some("private,internal"),
                    |v| crate::domain::Visibility::parse(v).is_some(),
                    "visibilities (private, internal, public)",
                )?
                .iter()
                .filter_map(|v| crate::domain::Visibility::parse(v))
                .collect(),
            max_services_per_user: env.parse(
                "SHIPYARD_MAX_SERVICES_PER_USER",
                Some("50"),
                "a whole number of services",
            )?,
            ecr: env.ecr_rules()?,
            team_required: env.parse("SHIPYARD_TEAM_REQUIRED", Some("true"), "true or false")?,
            team_permission: {
                let raw = env.optional("SHIPYARD_TEAM_PERMISSION");
                let raw = raw.as_deref().unwrap_or("maintain");
                crate::domain::TeamPermission::parse(raw).ok_or_else(|| {
                    env.invalid(
                        "SHIPYARD_TEAM_PERMISSION",
                        &format!(
                            "is malformed: expected one of pull, triage, push, maintain, admin, got {raw:?}"
                        ),
                    )
                })?
            },
            branch_protection: BranchProtection {
                required_approvals: match env.parse::<u8>(
                    "SHIPYARD_REQUIRED_APPROVALS",
                    Some("1"),
                    "a whole number of approving reviews from 0 to 10",
                )? {
                    n if n <= MAX_REQUIRED_APPROVALS => n,
                    _ => return Err(env.invalid("SHIPYARD_REQUIRED_APPROVALS", "must be from 0 to 10")),
                },
                required_checks: env.list(
                    "SHIPYARD_REQUIRED_CHECKS",
                    Some(""),
                    |name| name.len() <= 255,
                    "status check names",
                )?,
            },
        })
    }

    /// What start-up should warn about: settings that work but should change.
    pub fn warnings(&self) -> Vec<String> {
        let logins: Vec<&str> = self
            .admins
            .iter()
            .filter_map(|a| match a {
                AdminRef::Login(login) => Some(login.as_str()),
                AdminRef::Id(_) => None,
            })
            .collect();
        if logins.is_empty() {
            return Vec::new();
        }
        vec![format!(
            "SHIPYARD_ADMINS names logins ({}): a login can be renamed and registered again by someone else; \
             use numeric GitHub user ids (https://api.github.com/users/LOGIN shows `id`)",
            logins.join(", ")
        )]
    }

    /// Logs [`Config::warnings`], once, after tracing is set up.
    pub fn log_warnings(&self) {
        for warning in self.warnings() {
            tracing::warn!("{warning}");
        }
    }

    /// Whether `SHIPYARD_ADMINS` names this GitHub user.
    pub fn is_shipyard_admin(&self, github_id: i64, login: &str) -> bool {
        self.admins.iter().any(|admin| admin.names(github_id, login))
    }

    /// Cookies get `Secure` (and the `__Host-` prefix) when browsers reach us over https.
    pub fn cookies_secure(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// The OAuth callback GitHub redirects to.
    pub fn oauth_redirect_url(&self) -> Url {
        self.public_url.join("/auth/callback").expect("a path joins onto an http(s) URL")
    }
}

struct Env<'a>(&'a HashMap<String, String>);

impl Env<'_> {
    fn optional(&self, var: &str) -> Option<String> {
        self.0.get(var).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    fn required(&self, var: &'static str) -> Result<String, ConfigError> {
        self.optional(var).ok_or_else(|| ConfigError { var, problem: "is not set".into() })
    }

    fn invalid(&self, var: &'static str, problem: &str) -> ConfigError {
        ConfigError { var, problem: problem.into() }
    }

    fn secret(&self, var: &'static str) -> Result<SecretString, ConfigError> {
        self.required(var).map(SecretString::from)
    }

    fn parse<T: std::str::FromStr>(
        &self,
        var: &'static str,
        default: Option<&str>,
        expected: &str,
    ) -> Result<T, ConfigError> {
        let raw = match (self.optional(var), default) {
            (Some(v), _) => v,
            (None, Some(d)) => d.to_owned(),
            (None, None) => return Err(self.invalid(var, &format!("is not set: expected {expected}"))),
        };
        raw.parse().map_err(|_| self.invalid(var, &format!("is malformed: expected {expected}, got {raw:?}")))
    }

    fn url(&self, var: &'static str, default: Option<&str>) -> Result<Url, ConfigError> {
        let url: Url = self.parse(var, default, "an http(s) URL")?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(
                self.invalid(var, &format!("is malformed: expected an http(s) URL, got {:?}", url.as_str()))
            );
        }
        Ok(url)
    }

    fn seconds(&self, var: &'static str, default: &str) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(self.parse(var, Some(default), "a whole number of seconds")?))
    }

    /// `SHIPYARD_ECR_UNTAGGED_DAYS`, `SHIPYARD_ECR_KEEP_IMAGES` and `SHIPYARD_ECR_KMS_KEY`.
    fn ecr_rules(&self) -> Result<crate::aws::EcrRules, ConfigError> {
        // ECR's lifecycle rules count from 1; the upper bounds only catch a typo's extra digits.
        let bounded = |var: &'static str, default: &str, max: u16, unit: &str| {
            let expected = format!("a whole number of {unit} from 1 to {max}");
            match self.parse::<u16>(var, Some(default), &expected)? {
                n @ 1.. if n <= max => Ok(n),
                _ => Err(self.invalid(var, &format!("must be from 1 to {max}"))),
            }
        };
        Ok(crate::aws::EcrRules {
            untagged_days: bounded("SHIPYARD_ECR_UNTAGGED_DAYS", "14", 3650, "days")?,
            keep_images: bounded("SHIPYARD_ECR_KEEP_IMAGES", "200", 10_000, "images")?,
            kms_key: match self.optional("SHIPYARD_ECR_KMS_KEY") {
                None => None,
                Some(raw) => {
                    Some(crate::aws::KmsKeyArn::parse(&raw).map_err(|why| {
                        self.invalid("SHIPYARD_ECR_KMS_KEY", &format!("is malformed: {why}"))
                    })?)
                }
            },
        })
    }

    /// `SHIPYARD_WEBHOOK_URL` and `SHIPYARD_WEBHOOK_KEY`: both or neither.
    fn webhooks(&self) -> Result<Option<WebhookConfig>, ConfigError> {
        let key = self.optional("SHIPYARD_WEBHOOK_KEY");
        if self.optional("SHIPYARD_WEBHOOK_URL").is_none() {
            return match key {
                Some(_) => {
                    Err(self.invalid("SHIPYARD_WEBHOOK_URL", "is not set, but SHIPYARD_WEBHOOK_KEY is"))
                }
                None => Ok(None),
            };
        }
        let base = self.url("SHIPYARD_WEBHOOK_URL", None)?;
        let key = key.ok_or_else(|| {
            self.invalid(
                "SHIPYARD_WEBHOOK_KEY",
                "is not set: webhooks need a key to derive their secrets from",
            )
        })?;
        if key.len() < MIN_WEBHOOK_KEY_LEN {
            return Err(self.invalid(
                "SHIPYARD_WEBHOOK_KEY",
                &format!("is too short: use at least {MIN_WEBHOOK_KEY_LEN} random characters"),
            ));
        }
        // Appended, not joined: a base behind a path prefix (`https://host/shipyard`) keeps it.
        let url = format!("{}{WEBHOOK_PATH}", base.as_str().trim_end_matches('/'))
            .parse()
            .map_err(|_| self.invalid("SHIPYARD_WEBHOOK_URL", "is malformed: expected an http(s) URL"))?;
        Ok(Some(WebhookConfig { url, key: SecretString::from(key) }))
    }

    /// `GITHUB_TOKEN`, or `GITHUB_APP_ID` with `GITHUB_APP_PRIVATE_KEY`; never both, never neither.
    fn github_credential(&self) -> Result<GitHubCredential, ConfigError> {
        let token = self.optional("GITHUB_TOKEN");
        let app_id = self.optional("GITHUB_APP_ID");
        match (token, app_id) {
            (Some(_), Some(_)) => Err(self.invalid(
                "GITHUB_TOKEN",
                "is set together with GITHUB_APP_ID: configure exactly one GitHub credential (the App is recommended)",
            )),
            (None, None) => Err(self.invalid(
                "GITHUB_TOKEN",
                "is not set: set it (a classic token), or GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY for a GitHub App",
            )),
            (Some(token), None) => Ok(GitHubCredential::Token(SecretString::from(token))),
            (None, Some(_)) => {
                let app_id = self.parse("GITHUB_APP_ID", None, "the GitHub App's numeric id")?;
                // `.env` files and CI secrets often carry the PEM on one line with literal `\n`s.
                let pem = self.required("GITHUB_APP_PRIVATE_KEY")?.replace("\\n", "\n");
                if octocrab::auth::EncodingKey::from_rsa_pem(pem.as_bytes()).is_err() {
                    return Err(self.invalid(
                        "GITHUB_APP_PRIVATE_KEY",
                        "is malformed: expected the App's RSA private key in PEM (-----BEGIN RSA PRIVATE KEY-----)",
                    ));
                }
                Ok(GitHubCredential::App { app_id, private_key: SecretString::from(pem) })
            }
        }
    }

    fn name(&self, var: &'static str) -> Result<String, ConfigError> {
        let value = self.required(var)?;
        if is_github_login(&value) {
            Ok(value)
        } else {
            Err(self
                .invalid(var, &format!("is malformed: expected a GitHub organization login, got {value:?}")))
        }
    }

    fn list(
        &self,
        var: &'static str,
        default: Option<&str>,
        valid: fn(&str) -> bool,
        expected: &str,
    ) -> Result<Vec<String>, ConfigError> {
        let raw = match (self.optional(var), default) {
            (Some(v), _) => v,
            (None, Some(d)) => d.to_owned(),
            (None, None) => {
                return Err(self.invalid(var, &format!("is not set: expected comma-separated {expected}")));
            }
        };
        let items: Vec<String> =
            raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
        match items.iter().find(|item| !valid(item)) {
            Some(bad) => {
                Err(self
                    .invalid(var, &format!("is malformed: expected comma-separated {expected}, got {bad:?}")))
            }
            None if items.is_empty() && default != Some("") => {
                Err(self.invalid(var, &format!("is empty: expected comma-separated {expected}")))
            }
            None => Ok(items),
        }
    }
}

/// GitHub logins: alphanumerics and single hyphens, not at either end, at most 39 characters.
pub fn is_github_login(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 39
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// A numeric GitHub user id, or a login.
fn is_admin_ref(s: &str) -> bool {
    s.parse::<i64>().is_ok_and(|id| id > 0) || is_github_login(s)
}

fn is_full_repo_name(s: &str) -> bool {
    match s.split_once('/') {
        Some((owner, repo)) => {
            is_github_login(owner)
                && !repo.is_empty()
                && repo.len() <= 100
                && repo.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        }
        None => false,
    }
}

/// An environment's own account and region (the region `None`: Shipyard's `AWS_REGION`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub account_id: String,
    pub region: Option<String>,
}

impl<'a> Env<'a> {
    /// `SHIPYARD_ENVIRONMENTS`: `name`, `name=ACCOUNT_ID` or `name=ACCOUNT_ID/REGION`, comma-separated.
    fn environments(&self) -> Result<Vec<(String, Option<Placement>)>, ConfigError> {
        const VAR: &str = "SHIPYARD_ENVIRONMENTS";
        let raw = self.optional(VAR).unwrap_or_else(|| "dev,staging,prod".to_owned());
        let mut out: Vec<(String, Option<Placement>)> = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let bad = |why: &str| {
                self.invalid(
                    VAR,
                    &format!(
                        "is malformed: entry {entry:?} {why} (expected `name`, `name=ACCOUNT_ID` or \
                         `name=ACCOUNT_ID/REGION`, e.g. prod=222222222222/eu-west-1)"
                    ),
                )
            };
            let (name, placement) = match entry.split_once('=') {
                None => (entry, None),
                Some((name, place)) => {
                    let (account, region) = match place.trim().split_once('/') {
                        None => (place.trim(), None),
                        Some((account, region)) => (account.trim(), Some(region.trim())),
                    };
                    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(bad("has an account id that is not 12 digits"));
                    }
                    if let Some(region) = region
                        && !is_region(region)
                    {
                        return Err(bad("has a region that is not an AWS region such as eu-west-1"));
                    }
                    (
                        name.trim(),
                        Some(Placement { account_id: account.to_owned(), region: region.map(str::to_owned) }),
                    )
                }
            };
            if !is_environment_name(name) {
                return Err(bad("has a name that is not lower-case a-z, 0-9, at most 16 characters"));
            }
            if out.iter().any(|(seen, _)| seen == name) {
                return Err(bad("names an environment a second time"));
            }
            out.push((name.to_owned(), placement));
        }
        if out.is_empty() {
            return Err(self.invalid(VAR, "is empty: expected comma-separated environment names"));
        }
        Ok(out)
    }
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`: letters, dashes, a trailing number.
fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty())
        && parts[..parts.len() - 1].iter().all(|p| p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
}

/// IAM's role-name rule.
fn is_role_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

fn is_environment_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 16
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// Limits at the HTTP edge. [`Default`] is production's; tests shorten them.
#[derive(Debug, Clone, Copy)]
pub struct EdgeLimits {
    /// A connection that has not sent a whole request head within this time is closed (slow-loris).
    /// hyper also counts the wait for the next request on a keep-alive connection, so this is the
    /// idle timeout too: behind a proxy that reuses connections, it must exceed the proxy's.
    pub header_read_timeout: Duration,
    /// Unauthenticated work one client address may do at once ...
    pub unauthenticated_burst: NonZeroU32,
    /// ... and the rate at which that allowance refills.
    pub unauthenticated_per_minute: NonZeroU32,
    /// At most this many connections from one TCP peer address at once (`SHIPYARD_MAX_CONNECTIONS_PER_PEER`),
    /// so one client cannot take every slot of the global cap. Behind an ingress every connection
    /// comes from its few pods: this must exceed the ingress's upstream keep-alive pool per pod.
    pub connections_per_peer: NonZeroU32,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            unauthenticated_burst: NonZeroU32::new(20).expect("not zero"),
            unauthenticated_per_minute: NonZeroU32::new(30).expect("not zero"),
            connections_per_peer: NonZeroU32::new(512).expect("not zero"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn sandbox() -> HashMap<String, String> {
        [
            ("DATABASE_URL", "postgres://postgres@127.0.0.1/shipyard"),
            ("GITHUB_ORG", "acme"),
            ("GITHUB_TOKEN", "ghp_secret_value"),
            ("GITHUB_OAUTH_CLIENT_ID", "client"),
            ("GITHUB_OAUTH_CLIENT_SECRET", "client-secret-value"),
            ("SHIPYARD_TEMPLATES", "acme/service-template"),
            ("SHIPYARD_PERMISSIONS_BOUNDARY", "arn:aws:iam::123456789012:policy/shipyard-boundary"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn with(var: &str, value: &str) -> HashMap<String, String> {
        let mut vars = sandbox();
        vars.insert(var.to_owned(), value.to_owned());
        vars
    }

    #[test]
    fn the_minimal_sandbox_configuration_is_accepted_with_defaults() {
        let config = Config::from_vars(&sandbox()).unwrap();
        assert_eq!(config.listen_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(config.environments, ["dev", "staging", "prod"]);
        assert_eq!(config.github_api_url.as_str(), "https://api.github.com/");
        assert!(config.admins.is_empty());
        assert!(!config.cookies_secure());
        assert_eq!(config.oauth_redirect_url().as_str(), "http://localhost:8080/auth/callback");
        assert!(
            matches!(&config.github_credential, GitHubCredential::Token(t) if t.expose_secret() == "ghp_secret_value")
        );
        assert_eq!(config.membership_ttl, Duration::from_secs(900));
        assert_eq!(config.membership_grace, Duration::from_secs(3600));
        assert_eq!(config.retry.rate_limit_wait, Duration::from_secs(900));
    }

    #[test]
    fn the_branch_protection_settings_default_to_one_approval_and_no_checks() {
        let config = Config::from_vars(&sandbox()).unwrap();
        assert_eq!(
            config.branch_protection,
            BranchProtection { required_approvals: 1, required_checks: vec![] }
        );
        let mut vars = sandbox();
        vars.insert("SHIPYARD_REQUIRED_APPROVALS".into(), "2".into());
        vars.insert("SHIPYARD_REQUIRED_CHECKS".into(), "build, lint".into());
        let config = Config::from_vars(&vars).unwrap();
        assert_eq!(config.branch_protection.required_approvals, 2);
        assert_eq!(config.branch_protection.required_checks, ["build", "lint"]);
    }

    #[test]
    fn a_bad_required_approvals_value_is_named() {
        for bad in ["many", "-1", "11"] {
            let mut vars = sandbox();
            vars.insert("SHIPYARD_REQUIRED_APPROVALS".into(), bad.into());
            let error = Config::from_vars(&vars).unwrap_err().to_string();
            assert!(error.starts_with("configuration error: SHIPYARD_REQUIRED_APPROVALS "), "{bad}: {error}");
        }
    }

    #[test]
    fn a_missing_variable_is_named() {
        let mut vars = sandbox();
        vars.remove("GITHUB_TOKEN");
        let err = Config::from_vars(&vars).unwrap_err();
        assert_eq!(err.var, "GITHUB_TOKEN");
        assert!(err.to_string().contains("GITHUB_TOKEN is not set"), "{err}");
        assert!(err.to_string().contains("GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY"), "{err}");
    }

    /// The sandbox App's key (github-sim's; it signs nothing anywhere else).
    const PEM: &str = include_str!("../github-sim/sandbox-app.private-key.pem");

    fn app_vars() -> HashMap<String, String> {
        let mut vars = sandbox();
        vars.remove("GITHUB_TOKEN");
        vars.insert("GITHUB_APP_ID".into(), "424242".into());
        vars.insert("GITHUB_APP_PRIVATE_KEY".into(), PEM.into());
        vars
    }

    #[test]
    fn a_github_app_is_configured_by_its_id_and_private_key() {
        let config = Config::from_vars(&app_vars()).unwrap();
        assert!(matches!(config.github_credential, GitHubCredential::App { app_id: 424242, .. }));
        assert!(!format!("{config:?}").contains("PRIVATE KEY"), "the key is redacted");
    }

    #[test]
    fn a_private_key_on_one_line_with_escaped_newlines_is_accepted() {
        let mut vars = app_vars();
        vars.insert("GITHUB_APP_PRIVATE_KEY".into(), PEM.trim().replace('\n', "\\n"));
        assert!(matches!(Config::from_vars(&vars).unwrap().github_credential, GitHubCredential::App { .. }));
    }

    #[test]
    fn both_credentials_at_once_are_refused() {
        let mut vars = app_vars();
        vars.insert("GITHUB_TOKEN".into(), "ghp_x".into());
        let err = Config::from_vars(&vars).unwrap_err();
        assert!(err.to_string().contains("exactly one GitHub credential"), "{err}");
    }

    #[test]
    fn an_app_without_a_usable_private_key_is_refused() {
        let mut vars = app_vars();
        vars.remove("GITHUB_APP_PRIVATE_KEY");
        assert_eq!(Config::from_vars(&vars).unwrap_err().var, "GITHUB_APP_PRIVATE_KEY");
        vars.insert("GITHUB_APP_PRIVATE_KEY".into(), "not a key".into());
        let err = Config::from_vars(&vars).unwrap_err();
        assert_eq!(err.var, "GITHUB_APP_PRIVATE_KEY");
        assert!(!err.to_string().contains("not a key"), "the value is not echoed: {err}");
        vars.insert("GITHUB_APP_PRIVATE_KEY".into(), PEM.into());
        vars.insert("GITHUB_APP_ID".into(), "shipyard".into());
        assert_eq!(Config::from_vars(&vars).unwrap_err().var, "GITHUB_APP_ID");
    }

    #[test]
    fn shipyard_admins_are_numeric_ids_and_logins_are_still_accepted_with_a_warning() {
        let config = Config::from_vars(&with("SHIPYARD_ADMINS", "2002, carol")).unwrap();
        assert_eq!(config.admins, [AdminRef::Id(2002), AdminRef::Login("carol".into())]);
        assert!(config.is_shipyard_admin(2002, "renamed-bob"));
        assert!(config.is_shipyard_admin(9, "Carol"));
        assert!(!config.is_shipyard_admin(2001, "alice"));
        let warnings = config.warnings();
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("carol") && warnings[0].contains("numeric GitHub user ids"),
            "{warnings:?}"
        );
        let ids_only = Config::from_vars(&with("SHIPYARD_ADMINS", "2002")).unwrap();
        assert!(ids_only.warnings().is_empty());
    }

    #[test]
    fn the_owning_team_is_required_and_granted_maintain_unless_configured() {
        let config = Config::from_vars(&sandbox()).unwrap();
        assert!(config.team_required);
        assert_eq!(config.team_permission, crate::domain::TeamPermission::Maintain);
        let config = Config::from_vars(&with("SHIPYARD_TEAM_PERMISSION", "push")).unwrap();
        assert_eq!(config.team_permission, crate::domain::TeamPermission::Push);
        assert!(!Config::from_vars(&with("SHIPYARD_TEAM_REQUIRED", "false")).unwrap().team_required);
        let e = Config::from_vars(&with("SHIPYARD_TEAM_PERMISSION", "write")).unwrap_err();
        assert!(e.to_string().contains("SHIPYARD_TEAM_PERMISSION") && e.problem.contains("maintain"), "{e}");
    }

    #[test]
    fn environments_name_an_account_and_region_or_keep_shipyards_own() {
        let config = Config::from_vars(&with(
            "SHIPYARD_ENVIRONMENTS",
            "dev, staging=111111111111/eu-west-1,prod=222222222222",
        ))
        .unwrap();
        assert_eq!(config.environments, ["dev", "staging", "prod"]);
        assert_eq!(config.environment_accounts.get("dev"), None);
        assert_eq!(
            config.environment_accounts["staging"],
            Placement { account_id: "111111111111".into(), region: Some("eu-west-1".into()) }
        );
        assert_eq!(
            config.environment_accounts["prod"],
            Placement { account_id: "222222222222".into(), region: None }
        );
        assert_eq!(config.provisioner_role, "shipyard-provisioner");
        let config = Config::from_vars(&with("SHIPYARD_PROVISIONER_ROLE", "ops-shipyard")).unwrap();
        assert_eq!(config.provisioner_role, "ops-shipyard");
        assert!(config.environment_accounts.is_empty());
    }

    #[test]
    fn a_malformed_environment_entry_is_named() {
        for (value, why) in [
            ("dev,prod=2222", "not 12 digits"),
            ("prod=222222222222/mars", "not an AWS region"),
            ("prod=222222222222/", "not an AWS region"),
            ("Prod=222222222222", "not lower-case"),
            ("=222222222222", "not lower-case"),
            ("dev,dev=222222222222", "a second time"),
        ] {
            let err = Config::from_vars(&with("SHIPYARD_ENVIRONMENTS", value)).unwrap_err();
            assert_eq!(err.var, "SHIPYARD_ENVIRONMENTS", "{value}");
            let bad_entry = value.rsplit(',').next().unwrap();
            assert!(err.problem.contains(&format!("{bad_entry:?}")), "{value}: {}", err.problem);
            assert!(err.problem.contains(why), "{value}: {}", err.problem);
        }
        let err = Config::from_vars(&with("SHIPYARD_PROVISIONER_ROLE", "role/with/slash")).unwrap_err();
        assert_eq!(err.var, "SHIPYARD_PROVISIONER_ROLE");
    }

    #[test]
    fn malformed_variables_are_named_with_what_is_expected() {
        for (var, value) in [
            ("LISTEN_ADDR", "eighty-eighty"),
            ("PUBLIC_URL", "ftp://example.com"),
            ("GITHUB_API_URL", "not a url"),
            ("SHIPYARD_TEMPLATES", "just-a-name"),
            ("SHIPYARD_ENVIRONMENTS", "Dev"),
            ("SHIPYARD_ADMINS", "bad login!"),
            ("GITHUB_ORG", "-acme"),
            ("SHIPYARD_IAM_PROPAGATION_DELAY_SECS", "-1"),
            ("SHIPYARD_MEMBERSHIP_TTL_SECS", "15m"),
            ("SHIPYARD_MEMBERSHIP_GRACE_SECS", "-5"),
            ("SHIPYARD_RATE_LIMIT_MAX_WAIT_SECS", "soon"),
            ("SHIPYARD_ADMINS", "-1"),
            ("LOG_FORMAT", "xml"),
            ("SHIPYARD_CLIENT_IP_HEADER", "not a header"),
            ("SHIPYARD_HEADER_READ_TIMEOUT_SECS", "0"),
            ("SHIPYARD_PERMISSIONS_BOUNDARY", "shipyard-boundary"),
            ("SHIPYARD_TEAM_REQUIRED", "sometimes"),
            ("SHIPYARD_TEAM_PERMISSION", "write"),
            ("SHIPYARD_PERMISSIONS_BOUNDARY", "arn:aws:iam::123456789012:policy/shipyard/boundary"),
            ("SHIPYARD_ECR_UNTAGGED_DAYS", "0"),
            ("SHIPYARD_ECR_UNTAGGED_DAYS", "two weeks"),
            ("SHIPYARD_ECR_KEEP_IMAGES", "-1"),
            ("SHIPYARD_ECR_KEEP_IMAGES", "100000"),
            ("SHIPYARD_ECR_KMS_KEY", "alias/shipyard"),
        ] {
            let err = Config::from_vars(&with(var, value)).unwrap_err();
            assert_eq!(err.var, var, "{var}={value:?} gave {err}");
            assert!(err.to_string().contains("expected") || err.to_string().contains("must be"), "{err}");
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let debug = format!("{:?}", Config::from_vars(&sandbox()).unwrap());
        assert!(!debug.contains("ghp_secret_value"), "{debug}");
        assert!(!debug.contains("client-secret-value"), "{debug}");
        assert!(!debug.contains("postgres://"), "{debug}");
    }

    #[test]
    fn an_https_public_url_makes_cookies_secure() {
        let config = Config::from_vars(&with("PUBLIC_URL", "https://shipyard.example.com")).unwrap();
        assert!(config.cookies_secure());
    }

    #[test]
    fn the_ecr_rules_default_to_two_weeks_and_200_images_without_a_kms_key() {
        let config = Config::from_vars(&sandbox()).unwrap();
        assert_eq!(config.ecr, crate::aws::EcrRules { untagged_days: 14, keep_images: 200, kms_key: None });
        let key = "arn:aws:kms:us-east-1:123456789012:key/0b1e4ef5-9b0c-4e8f-a3c5-0c7f1d2e3a4b";
        let config = Config::from_vars(&with("SHIPYARD_ECR_KMS_KEY", key)).unwrap();
        assert_eq!(config.ecr.kms_key.map(|k| k.arn().to_owned()).as_deref(), Some(key));
    }

    #[test]
    fn the_permissions_boundary_is_required() {
        let mut vars = sandbox();
        vars.remove("SHIPYARD_PERMISSIONS_BOUNDARY");
        let err = Config::from_vars(&vars).unwrap_err();
        assert_eq!(err.var, "SHIPYARD_PERMISSIONS_BOUNDARY");
        assert!(err.to_string().contains("is not set"), "{err}");
        let config = Config::from_vars(&sandbox()).unwrap();
        assert_eq!(config.permissions_boundary.arn(), "arn:aws:iam::123456789012:policy/shipyard-boundary");
    }
}
