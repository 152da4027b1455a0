//! Repository webhooks: each service's secret, the check of a delivery's signature, and the hook calls.
//!
//! The secret of a repository's hook is `hex(HMAC-SHA256(server key, "shipyard-webhook-repo:" + the
//! repository's numeric id))`: recomputable from the key and the delivery's own headers, so a delivery
//! is verified before any database work (an unsigned flood costs no SQL and its timing shows nothing
//! about which repositories are services), it is stored nowhere (not in the database, not in a log),
//! and one leaked secret says nothing about another repository's. (Secrets were once derived from the
//! service id; the webhook step PATCHes an adopted hook's config, so such hooks get the new secret.) GitHub signs each delivery
//! with it (`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`, "Validating webhook
//! deliveries"); [`verify_signature`] compares in constant time.

use hmac::{Hmac, Mac as _};
use http::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;

use super::client::{GitHub, repo_path};
use crate::provider::ProviderError;

type HmacSha256 = Hmac<Sha256>;

/// The webhook secret of the repository with GitHub id `repository_id` under the server key.
pub fn repository_secret(key: &SecretString, repository_id: u64) -> SecretString {
    let mut mac =
        HmacSha256::new_from_slice(key.expose_secret().as_bytes()).expect("HMAC takes any key length");
    mac.update(b"shipyard-webhook-repo:");
    mac.update(repository_id.to_string().as_bytes());
    SecretString::from(hex::encode(mac.finalize().into_bytes()))
}

/// Whether `header` (`sha256=<hex>`) is the HMAC of `body` under `secret`. Malformed is false; the
/// digest comparison takes the same time wherever the first difference is.
pub fn verify_signature(secret: &SecretString, body: &[u8], header: &str) -> bool {
    let Some(digest) = header.strip_prefix("sha256=").and_then(|hex| hex::decode(hex).ok()) else {
        return false;
    };
    let mut mac =
        HmacSha256::new_from_slice(secret.expose_secret().as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&digest).is_ok()
}

#[derive(Deserialize)]
struct HookJson {
    id: u64,
    #[serde(default)]
    config: HookConfigJson,
}

#[derive(Deserialize, Default)]
struct HookConfigJson {
    #[serde(default)]
    url: Option<String>,
}

impl GitHub {
    /// Ensures the repository has a `workflow_run` hook posting JSON to `url`, signed with `secret`;
    /// returns its id. A hook already posting to `url` is ours (the URL is Shipyard's own) and is
    /// adopted, so a step that runs twice makes one hook. GitHub never shows a hook's secret, so an
    /// adopted hook's config, events and `active` are PATCHed to ours (a hook made under an older
    /// secret derivation, or edited by hand, signs with the right secret again).
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}")))]
    pub async fn ensure_workflow_run_hook(
        &self,
        owner: &str,
        name: &str,
        url: &str,
        secret: &SecretString,
    ) -> Result<u64, ProviderError> {
        let path = format!("{}/hooks", repo_path(owner, name));
        let hooks: Vec<HookJson> =
            self.call("github:list_hooks", Method::GET, &path, None, &[]).await?.json("hooks")?;
        let config = json!({ "url": url, "content_type": "json", "insecure_ssl": "0", "secret": secret.expose_secret() });
        if let Some(hook) = hooks.iter().find(|h| h.config.url.as_deref() == Some(url)) {
            let body = json!({ "active": true, "events": ["workflow_run"], "config": config });
            let path = format!("{path}/{}", hook.id);
            self.call("github:update_hook", Method::PATCH, &path, Some(&body), &[]).await?;
            return Ok(hook.id);
        }
        let body = json!({ "name": "web", "active": true, "events": ["workflow_run"], "config": config });
        let hook: HookJson =
            self.call("github:create_hook", Method::POST, &path, Some(&body), &[]).await?.json("hook")?;
        Ok(hook.id)
    }

    /// Removes the hook. Already gone (404) counts as done.
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}"), hook = id))]
    pub async fn delete_hook(&self, owner: &str, name: &str, id: u64) -> Result<(), ProviderError> {
        let path = format!("{}/hooks/{id}", repo_path(owner, name));
        self.call("github:delete_hook", Method::DELETE, &path, None, &[404]).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretString {
        SecretString::from("k".repeat(32))
    }

    #[test]
    fn each_repository_has_its_own_secret_and_the_same_one_every_time() {
        let (a, b) = (41, 42);
        assert_eq!(
            repository_secret(&key(), a).expose_secret(),
            repository_secret(&key(), a).expose_secret()
        );
        assert_ne!(
            repository_secret(&key(), a).expose_secret(),
            repository_secret(&key(), b).expose_secret()
        );
    }

    #[test]
    fn a_signature_made_with_the_secret_verifies_and_nothing_else_does() {
        let secret = repository_secret(&key(), 7);
        let mut mac = HmacSha256::new_from_slice(secret.expose_secret().as_bytes()).unwrap();
        mac.update(b"{\"action\":\"completed\"}");
        let good = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert!(verify_signature(&secret, b"{\"action\":\"completed\"}", &good));
        assert!(!verify_signature(&secret, b"{\"action\":\"requested\"}", &good));
        assert!(!verify_signature(&repository_secret(&key(), 8), b"{\"action\":\"completed\"}", &good));
        assert!(!verify_signature(&secret, b"x", "sha1=00"));
        assert!(!verify_signature(&secret, b"x", "sha256=not-hex"));
        assert!(!verify_signature(&secret, b"x", ""));
    }
}
