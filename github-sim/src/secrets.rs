//! Actions repository secrets. Values arrive sealed (libsodium `crypto_box_seal`) to the repository's
//! X25519 public key; the sim unseals them with its secret key so tests can read the exact plaintext.
//! Environment secrets (`environments.rs`) reuse the same checks and answers over their own key pair.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use crypto_box::SecretKey;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Sim;
use crate::access::{Access, find_repo, find_writable_repo};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, Body};
use crate::model::{Secret, now, ts};

/// GitHub's documented maximum secret size.
const MAX_SECRET_BYTES: usize = 48 * 1024;

pub(crate) fn router() -> Router<Sim> {
    Router::new()
        .route("/repos/{owner}/{repo}/actions/secrets", get(list_secrets))
        .route("/repos/{owner}/{repo}/actions/secrets/public-key", get(get_public_key))
        .route(
            "/repos/{owner}/{repo}/actions/secrets/{name}",
            get(get_secret).put(put_secret).delete(delete_secret),
        )
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}")))]
async fn get_public_key(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    // "Anyone with read access to the repository can use this endpoint" (private repos need `repo`).
    let i = find_repo(&world, &owner, &repo, &auth, Access::Pull)?;
    let r = &world.repos[i];
    Ok(Json(public_key_json(&r.secret_key, &r.key_id)))
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}")))]
async fn list_secrets(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Push)?;
    Ok(Json(list_json(&world.repos[i].secrets)))
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), secret = %name))]
async fn get_secret(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, name)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Push)?;
    get_json(&world.repos[i].secrets, &name).map(Json)
}

/// 201 `{}` when created, 204 when updated (octocrab maps exactly these two to Created/Updated).
#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), secret = %name))]
async fn put_secret(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, name)): Path<(String, String, String)>,
    Body(request): Body<PutSecret>,
) -> ApiResult<Response> {
    auth.require()?;
    let sealed = Sealed::parse(&name, request)?;
    let mut world = sim.world();
    let i = find_writable_repo(&world, &owner, &repo, &auth, Access::Push)?;
    let r = &mut world.repos[i];
    sealed.store(&r.secret_key, &r.key_id, &mut r.secrets, "repository")
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), secret = %name))]
async fn delete_secret(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, name)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    auth.require()?;
    let mut world = sim.world();
    let i = find_writable_repo(&world, &owner, &repo, &auth, Access::Push)?;
    remove(&mut world.repos[i].secrets, &name)
}

// The parts below are shared by repository and environment secrets (`environments.rs`): the same
// sealed-box format, key_id check, naming rules and answers, over a different key pair and secret map.

/// `actions-public-key`: the X25519 public key values must be sealed to, and its id.
pub(crate) fn public_key_json(key: &SecretKey, key_id: &str) -> Value {
    json!({ "key_id": key_id, "key": B64.encode(key.public_key().as_bytes()) })
}

/// `{total_count, secrets}` without values, by name.
pub(crate) fn list_json(secrets: &BTreeMap<String, Secret>) -> Value {
    let listed: Vec<Value> = secrets.iter().map(|(name, s)| secret_json(name, s)).collect();
    json!({ "total_count": listed.len(), "secrets": listed })
}

/// One `actions-secret` by its name as the caller wrote it (names are case-insensitive); 404 when unset.
pub(crate) fn get_json(secrets: &BTreeMap<String, Secret>, raw_name: &str) -> ApiResult<Value> {
    let name = raw_name.to_ascii_uppercase();
    let secret = secrets.get(&name).ok_or_else(ApiError::not_found)?;
    Ok(secret_json(&name, secret))
}

/// Deletes a secret by its name as the caller wrote it: 204, or 404 when unset.
pub(crate) fn remove(secrets: &mut BTreeMap<String, Secret>, raw_name: &str) -> ApiResult<StatusCode> {
    secrets.remove(&raw_name.to_ascii_uppercase()).ok_or_else(ApiError::not_found)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub(crate) struct PutSecret {
    encrypted_value: Option<String>,
    key_id: Option<String>,
}

/// A PUT body that passed GitHub's schema checks (done before the repository is looked up, as GitHub
/// validates the request first), not yet unsealed.
pub(crate) struct Sealed {
    name: String,
    encrypted: String,
    key_id: String,
}

impl Sealed {
    pub fn parse(raw_name: &str, request: PutSecret) -> ApiResult<Self> {
        let name = parse_secret_name(raw_name)?;
        let encrypted = request.encrypted_value.ok_or_else(|| ApiError::missing_field("encrypted_value"))?;
        let key_id = request.key_id.ok_or_else(|| ApiError::missing_field("key_id"))?;
        if !is_padded_base64(&encrypted) {
            return Err(ApiError::invalid(
                "Invalid request.\n\nFor 'properties/encrypted_value', the value does not match /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$/.",
            ));
        }
        Ok(Sealed { name, encrypted, key_id })
    }

    /// Unseals the value with `key` (the one `key_id` must name) and stores it in `secrets`: 201 `{}` when
    /// created, 204 when updated. `holder` ("repository", "environment") words the refusals.
    pub fn store(
        self,
        key: &SecretKey,
        key_id: &str,
        secrets: &mut BTreeMap<String, Secret>,
        holder: &str,
    ) -> ApiResult<Response> {
        let Sealed { name, encrypted, key_id: given } = self;
        if given != key_id {
            return Err(ApiError::invalid(format!(
                "Invalid request.\n\nBad key_id: it does not match the {holder}'s public key."
            )));
        }
        let sealed = B64
            .decode(&encrypted)
            .map_err(|_| ApiError::invalid("Invalid request.\n\nencrypted_value is not valid base64."))?;
        let value = key.unseal(&sealed).map_err(|_| {
            ApiError::invalid(format!(
                "Invalid request.\n\nencrypted_value could not be decrypted with the {holder}'s key."
            ))
        })?;
        if value.len() > MAX_SECRET_BYTES {
            return Err(ApiError::invalid("Invalid request.\n\nSecret value is too large (maximum 48 KB)."));
        }
        let now = now();
        match secrets.get_mut(&name) {
            Some(existing) => {
                existing.value = value;
                existing.updated_at = now;
                tracing::info!(secret = %name, "secret updated");
                Ok(StatusCode::NO_CONTENT.into_response())
            }
            None => {
                secrets.insert(name.clone(), Secret { value, created_at: now, updated_at: now });
                tracing::info!(secret = %name, "secret created");
                Ok((StatusCode::CREATED, Json(json!({}))).into_response())
            }
        }
    }
}

fn secret_json(name: &str, secret: &Secret) -> Value {
    json!({ "name": name, "created_at": ts(secret.created_at), "updated_at": ts(secret.updated_at) })
}

/// GitHub's secret naming rules: `[A-Za-z0-9_]`, not starting with a digit or `GITHUB_`; stored uppercase.
fn parse_secret_name(raw: &str) -> ApiResult<String> {
    let name = raw.to_ascii_uppercase();
    let valid_chars = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_chars || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(ApiError::invalid(
            "Secret names can only contain alphanumeric characters ([a-z], [A-Z], [0-9]) or underscores (_). Spaces are not allowed. Must start with a letter ([a-z], [A-Z]) or underscores (_).",
        ));
    }
    if name.starts_with("GITHUB_") {
        return Err(ApiError::invalid("Secret names must not start with GITHUB_."));
    }
    Ok(name)
}

/// The spec's pattern `^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$`.
fn is_padded_base64(value: &str) -> bool {
    let bytes = value.as_bytes();
    if bytes.is_empty() || !bytes.len().is_multiple_of(4) {
        return false;
    }
    let alphabet = |b: &u8| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/';
    let (body, last) = bytes.split_at(bytes.len() - 4);
    body.iter().all(alphabet)
        && match last {
            [a, b, b'=', b'='] => alphabet(a) && alphabet(b),
            [a, b, c, b'='] => alphabet(a) && alphabet(b) && alphabet(c),
            quad => quad.iter().all(alphabet),
        }
}

#[cfg(test)]
mod tests {
    use super::{is_padded_base64, parse_secret_name};

    #[test]
    fn padded_standard_base64_is_accepted() {
        assert!(is_padded_base64("YWJj"));
        assert!(is_padded_base64("YWI="));
        assert!(is_padded_base64("YQ=="));
    }

    #[test]
    fn unpadded_or_url_safe_base64_is_rejected() {
        assert!(!is_padded_base64("YQ"));
        assert!(!is_padded_base64("a-_b"));
        assert!(!is_padded_base64(""));
        assert!(!is_padded_base64("Y==="));
    }

    #[test]
    fn secret_names_are_uppercased_and_checked() {
        assert_eq!(parse_secret_name("aws_region").unwrap(), "AWS_REGION");
        assert!(parse_secret_name("github_token").is_err());
        assert!(parse_secret_name("1ABC").is_err());
        assert!(parse_secret_name("A-B").is_err());
    }
}
