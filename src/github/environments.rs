//! Deployment environments and the secrets only their jobs see, and removing a repository secret.

use http::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::{
    classify::error,
    client::{GitHub, repo_path, seg},
    secrets::seal,
};
use crate::provider::{ErrorKind, ProviderError};

#[derive(Deserialize)]
struct PublicKeyJson {
    key_id: String,
    key: String,
}

#[derive(Deserialize)]
struct SecretsJson {
    secrets: Vec<SecretJson>,
}

#[derive(Deserialize)]
struct SecretJson {
    name: String,
}

fn environment_path(owner: &str, name: &str, environment: &str) -> String {
    format!("{}/environments/{}", repo_path(owner, name), seg(environment))
}

impl GitHub {
    /// Creates the environment, or leaves an existing one (and the protection rules a team gave
    /// it) as it is: an empty body changes nothing on an environment that exists.
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}"), environment = %environment))]
    pub async fn ensure_environment(
        &self,
        owner: &str,
        name: &str,
        environment: &str,
    ) -> Result<(), ProviderError> {
        let path = environment_path(owner, name, environment);
        self.call("github:put_environment", Method::PUT, &path, Some(&json!({})), &[]).await?;
        Ok(())
    }

    /// Creates or updates an environment secret, sealed to that environment's own public key.
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}"), environment = %environment))]
    pub async fn put_environment_secret(
        &self,
        owner: &str,
        name: &str,
        environment: &str,
        secret_name: &str,
        value: &SecretString,
    ) -> Result<(), ProviderError> {
        let base = format!("{}/secrets", environment_path(owner, name, environment));
        let key: PublicKeyJson = self
            .call("github:environment_public_key", Method::GET, &format!("{base}/public-key"), None, &[])
            .await?
            .json("environment public key")?;
        let sealed = seal(&key.key, value.expose_secret().as_bytes())
            .map_err(|e| error(ErrorKind::Other, format!("could not encrypt secret {secret_name}: {e}")))?;
        let body = json!({ "encrypted_value": sealed, "key_id": key.key_id });
        let path = format!("{base}/{}", seg(secret_name));
        self.call("github:put_environment_secret", Method::PUT, &path, Some(&body), &[]).await?;
        Ok(())
    }

    /// Names of an environment's secrets; `None` when the environment does not exist.
    pub async fn environment_secret_names(
        &self,
        owner: &str,
        name: &str,
        environment: &str,
    ) -> Result<Option<Vec<String>>, ProviderError> {
        let path = format!("{}/secrets?per_page=100", environment_path(owner, name, environment));
        let reply = self.call("github:list_environment_secrets", Method::GET, &path, None, &[404]).await?;
        if reply.status == http::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let secrets: SecretsJson = reply.json("environment secrets")?;
        Ok(Some(secrets.secrets.into_iter().map(|s| s.name).collect()))
    }

    /// Removes a repository secret; one that is gone already is done.
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}")))]
    pub async fn delete_secret(
        &self,
        owner: &str,
        name: &str,
        secret_name: &str,
    ) -> Result<(), ProviderError> {
        let path = format!("{}/actions/secrets/{}", repo_path(owner, name), seg(secret_name));
        self.call("github:delete_secret", Method::DELETE, &path, None, &[404]).await?;
        Ok(())
    }

    /// Removes an environment secret; one that is gone (or whose environment is) is done.
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}"), environment = %environment))]
    pub async fn delete_environment_secret(
        &self,
        owner: &str,
        name: &str,
        environment: &str,
        secret_name: &str,
    ) -> Result<(), ProviderError> {
        let path = format!("{}/secrets/{}", environment_path(owner, name, environment), seg(secret_name));
        self.call("github:delete_environment_secret", Method::DELETE, &path, None, &[404]).await?;
        Ok(())
    }
}
