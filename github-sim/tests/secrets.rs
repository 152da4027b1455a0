//! Actions secrets: sealed-box round trip, 201 vs 204, GitHub's validation.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::{BOT, MALLORY, api, generate, get_json, octo, start};
use crypto_box::PublicKey;
use crypto_box::aead::OsRng;
use octocrab::models::repos::secrets::{CreateRepositorySecret, CreateRepositorySecretResponse};
use reqwest::Method;
use serde_json::{Value, json};

fn seal(key_b64: &str, value: &str) -> String {
    let key = PublicKey::from_slice(&B64.decode(key_b64).unwrap()).unwrap();
    B64.encode(key.seal(&mut OsRng, value.as_bytes()).unwrap())
}

#[tokio::test]
async fn a_sealed_secret_is_created_then_updated_and_decrypts_to_the_exact_value() {
    let sim = start().await;
    generate(&sim, BOT, "service-template", "payments").await;
    let client = octo(&sim, BOT);
    let repo = client.repos("acme", "payments");
    let secrets = repo.secrets();
    let key = secrets.get_public_key().await.unwrap();
    assert_eq!(B64.decode(&key.key).unwrap().len(), 32);

    let value = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments ünïcode";
    let sealed = seal(&key.key, value);
    let created = secrets
        .create_or_update_secret(
            "ecr_repo_url",
            &CreateRepositorySecret { key_id: &key.key_id, encrypted_value: &sealed },
        )
        .await
        .unwrap();
    assert_eq!(created, CreateRepositorySecretResponse::Created);
    assert_eq!(sim.sim().secrets("acme", "payments")["ECR_REPO_URL"], value, "stored uppercase, exact value");

    let sealed = seal(&key.key, "changed");
    let updated = secrets
        .create_or_update_secret(
            "ECR_REPO_URL",
            &CreateRepositorySecret { key_id: &key.key_id, encrypted_value: &sealed },
        )
        .await
        .unwrap();
    assert_eq!(updated, CreateRepositorySecretResponse::Updated);
    assert_eq!(sim.sim().secrets("acme", "payments")["ECR_REPO_URL"], "changed");

    let listed = secrets.get_secrets().await.unwrap();
    assert_eq!(listed.total_count, 1);
    assert_eq!(listed.secrets[0].name, "ECR_REPO_URL");
}

#[tokio::test]
async fn create_answers_201_with_an_empty_object_and_update_204_with_no_body() {
    let sim = start().await;
    generate(&sim, BOT, "service-template", "raw").await;
    let key: Value = get_json(&sim, "/repos/acme/raw/actions/secrets/public-key", BOT).await;
    let put = || {
        api(Method::PUT, &sim, "/repos/acme/raw/actions/secrets/AWS_REGION", BOT)
            .json(&json!({"encrypted_value": seal(key["key"].as_str().unwrap(), "eu-west-1"), "key_id": key["key_id"]}))
    };
    let first = put().send().await.unwrap();
    assert_eq!(first.status(), 201);
    assert_eq!(first.text().await.unwrap(), "{}");
    let second = put().send().await.unwrap();
    assert_eq!(second.status(), 204);
    assert_eq!(second.text().await.unwrap(), "");

    let deleted =
        api(Method::DELETE, &sim, "/repos/acme/raw/actions/secrets/aws_region", BOT).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    let again =
        api(Method::DELETE, &sim, "/repos/acme/raw/actions/secrets/AWS_REGION", BOT).send().await.unwrap();
    assert_eq!(again.status(), 404);
}

#[tokio::test]
async fn invalid_secret_writes_are_422_and_store_nothing() {
    let sim = start().await;
    generate(&sim, BOT, "service-template", "strict").await;
    let key: Value = get_json(&sim, "/repos/acme/strict/actions/secrets/public-key", BOT).await;
    let (k, id) = (key["key"].as_str().unwrap(), key["key_id"].clone());
    let sealed = seal(k, "v");
    let cases = [
        ("NAME", json!({"encrypted_value": sealed}), "\"key_id\" wasn't supplied."),
        ("NAME", json!({"encrypted_value": sealed, "key_id": "999"}), "key_id"),
        ("NAME", json!({"encrypted_value": sealed.trim_end_matches('='), "key_id": id}), "encrypted_value"),
        ("NAME", json!({"encrypted_value": B64.encode([7u8; 64]), "key_id": id}), "decrypted"),
        ("GITHUB_TOKEN", json!({"encrypted_value": sealed, "key_id": id}), "GITHUB_"),
        ("1ABC", json!({"encrypted_value": sealed, "key_id": id}), "Secret names"),
    ];
    for (name, body, expected) in cases {
        let response = api(Method::PUT, &sim, &format!("/repos/acme/strict/actions/secrets/{name}"), BOT)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{name} {body}");
        let error: Value = response.json().await.unwrap();
        assert!(error["message"].as_str().unwrap().contains(expected), "{error}");
    }
    assert!(sim.sim().secrets("acme", "strict").is_empty());
}

#[tokio::test]
async fn outsiders_cannot_see_the_public_key_of_a_private_repo() {
    let sim = start().await;
    generate(&sim, BOT, "service-template", "hidden").await;
    let response = api(Method::GET, &sim, "/repos/acme/hidden/actions/secrets/public-key", MALLORY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}
