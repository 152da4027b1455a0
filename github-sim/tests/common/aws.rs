//! IAM/ECR resources in moto, made with the AWS SDK directly, for the runner's push tests. These tests need
//! moto at `MOTO_URL`; names are unique per test because moto is shared.

use aws_config::BehaviorVersion;
use serde_json::json;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const AUDIENCE: &str = "sts.amazonaws.com";

pub fn moto_url() -> String {
    std::env::var("MOTO_URL").expect("these tests need moto: set MOTO_URL (e.g. http://127.0.0.1:5000)")
}

/// A name no other test (or run) uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

pub struct Aws {
    pub iam: aws_sdk_iam::Client,
    pub ecr: aws_sdk_ecr::Client,
}

pub async fn aws() -> Aws {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(moto_url())
        .region(aws_config::Region::new(REGION))
        .load()
        .await;
    Aws { iam: aws_sdk_iam::Client::new(&config), ecr: aws_sdk_ecr::Client::new(&config) }
}

/// A trust policy like Shipyard's: the provider, `aud` = sts.amazonaws.com and `sub` = `sub`.
pub fn trust(provider_arn: &str, issuer_host_path: &str, sub: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Federated": provider_arn },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": { "StringEquals": {
                format!("{issuer_host_path}:aud"): AUDIENCE,
                format!("{issuer_host_path}:sub"): sub,
            }},
        }],
    })
    .to_string()
}

/// Push rights: `ecr:GetAuthorizationToken` on `*`, the upload actions on `repository_arn`.
pub fn push_policy(repository_arn: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            { "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*" },
            {
                "Effect": "Allow",
                "Action": [
                    "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
                    "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage",
                ],
                "Resource": repository_arn,
            },
        ],
    })
    .to_string()
}

impl Aws {
    /// The provider for `issuer_host_path`, created with `client_ids` unless it already exists (the github.com
    /// one is shared with other tests; it gets `sts.amazonaws.com` added if missing).
    pub async fn ensure_provider(&self, issuer_host_path: &str, client_ids: &[&str]) -> String {
        let arn = format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{issuer_host_path}");
        if let Ok(existing) =
            self.iam.get_open_id_connect_provider().open_id_connect_provider_arn(&arn).send().await
        {
            for id in client_ids {
                if !existing.client_id_list().iter().any(|c| c == id) {
                    self.iam
                        .add_client_id_to_open_id_connect_provider()
                        .open_id_connect_provider_arn(&arn)
                        .client_id(*id)
                        .send()
                        .await
                        .unwrap();
                }
            }
            return arn;
        }
        let mut create = self
            .iam
            .create_open_id_connect_provider()
            .url(format!("https://{issuer_host_path}"))
            .thumbprint_list("6938fd4d98bab03faadb97b34396831e3780aea1");
        for id in client_ids {
            create = create.client_id_list(*id);
        }
        match create.send().await {
            Ok(created) => created.open_id_connect_provider_arn().unwrap().to_string(),
            Err(_) => arn, // created meanwhile by another test
        }
    }

    pub async fn create_role(&self, name: &str, trust: &str) -> String {
        self.create_bounded_role(name, trust, None).await
    }

    /// Creates a role, with `boundary` (a managed policy ARN) as its permissions boundary when given.
    pub async fn create_bounded_role(&self, name: &str, trust: &str, boundary: Option<&str>) -> String {
        let role = self
            .iam
            .create_role()
            .role_name(name)
            .assume_role_policy_document(trust)
            .set_permissions_boundary(boundary.map(str::to_owned))
            .send()
            .await
            .unwrap();
        role.role().unwrap().arn().to_string()
    }

    /// Creates a managed policy with `document`; attaches it to `role` when asked.
    pub async fn create_policy(&self, name: &str, document: &str, attach_to: Option<&str>) -> String {
        let policy =
            self.iam.create_policy().policy_name(name).policy_document(document).send().await.unwrap();
        let arn = policy.policy().unwrap().arn().unwrap().to_string();
        if let Some(role) = attach_to {
            self.iam.attach_role_policy().role_name(role).policy_arn(&arn).send().await.unwrap();
        }
        arn
    }

    /// (repository URL, repository ARN)
    pub async fn create_repository(&self, name: &str) -> (String, String) {
        let created = self.ecr.create_repository().repository_name(name).send().await.unwrap();
        let repo = created.repository().unwrap();
        (repo.repository_uri().unwrap().to_string(), repo.repository_arn().unwrap().to_string())
    }

    /// Every tag of every image in `repository`.
    pub async fn image_tags(&self, repository: &str) -> Vec<String> {
        let images = self.ecr.describe_images().repository_name(repository).send().await.unwrap();
        images.image_details().iter().flat_map(|d| d.image_tags().iter().cloned()).collect()
    }
}
