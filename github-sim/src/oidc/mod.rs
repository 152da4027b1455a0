//! The Actions OIDC issuer: an RS256 key pair made at start, tokens with GitHub's documented claims, and the
//! discovery documents (`/.well-known/openid-configuration`, `/.well-known/jwks`) under the issuer's path.
//!
//! github.com's issuer is `https://token.actions.githubusercontent.com`; GHES's is `https://HOST/_services/token`
//! (docs.github.com "OpenID Connect reference"). The sim serves the documents at the issuer URL's *path* on its
//! own address, since it cannot answer for the real host.

mod claims;
mod condition_keys;
pub(crate) mod routes;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::{Map, Value, json};
use sha2::Digest as _;

pub(crate) use claims::{RunContext, claims};
pub use condition_keys::{AWS_GITHUB_CLAIM_KEYS, trust_context};

/// github.com's Actions token issuer.
pub const GITHUB_COM_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// The audience configure-aws-credentials asks for by default.
pub(crate) const AWS_AUDIENCE: &str = "sts.amazonaws.com";

pub(crate) struct Issuer {
    url: String,
    kid: String,
    key: EncodingKey,
    n: String,
    e: String,
}

impl Issuer {
    /// A fresh 2048-bit key pair for `url` (no trailing slash).
    pub fn generate(url: &str) -> anyhow::Result<Self> {
        let private =
            rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).context("generating the OIDC key")?;
        let der = private.to_pkcs1_der().context("encoding the OIDC key")?;
        let n_bytes = private.n().to_bytes_be();
        let kid = hex::encode(&sha2::Sha256::digest(&n_bytes)[..20]).to_uppercase();
        Ok(Issuer {
            url: url.trim_end_matches('/').to_string(),
            kid,
            key: EncodingKey::from_rsa_der(der.as_bytes()),
            n: B64URL.encode(n_bytes),
            e: B64URL.encode(private.e().to_bytes_be()),
        })
    }

    /// The `iss` claim, e.g. `https://token.actions.githubusercontent.com`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The issuer without its scheme: the IAM provider URL and the condition-key prefix
    /// (`token.actions.githubusercontent.com:sub`).
    pub fn host_path(&self) -> &str {
        self.url.split_once("://").map_or(self.url.as_str(), |(_, rest)| rest)
    }

    /// The issuer URL's path (`""` on github.com, `/_services/token` on GHES): where the sim serves discovery.
    pub fn path(&self) -> &str {
        self.host_path().find('/').map_or("", |i| &self.host_path()[i..])
    }

    /// Signs `claims` as an RS256 JWT with this issuer's key id.
    pub fn mint(&self, claims: &Map<String, Value>) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, claims, &self.key).context("signing an OIDC token")
    }

    pub fn jwks(&self) -> Value {
        json!({ "keys": [{ "kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid, "n": self.n, "e": self.e }] })
    }

    pub fn configuration(&self) -> Value {
        json!({
            "issuer": self.url,
            "jwks_uri": format!("{}/.well-known/jwks", self.url),
            "subject_types_supported": ["public", "pairwise"],
            "response_types_supported": ["id_token"],
            "claims_supported": claims::SUPPORTED,
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid"],
        })
    }
}
