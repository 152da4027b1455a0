//! Encrypting a GitHub Actions secret for one repository.
//!
//! GitHub only accepts secret values sealed to the repository's public key: a libsodium sealed box
//! (`crypto_box_seal`: X25519 + XSalsa20-Poly1305, ephemeral sender key), sent as standard base64 with
//! padding (the API's pattern rejects URL-safe or unpadded base64).

use anyhow::{Context, anyhow};
use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use crypto_box::{PublicKey, aead::OsRng};

/// Seals `value` to the base64 X25519 key from `GET .../actions/secrets/public-key`; returns `encrypted_value`.
pub fn seal(public_key_b64: &str, value: &[u8]) -> anyhow::Result<String> {
    let key = B64.decode(public_key_b64.trim()).context("the repository public key is not base64")?;
    let key =
        PublicKey::from_slice(&key).map_err(|_| anyhow!("the repository public key is not 32 bytes"))?;
    let sealed = key.seal(&mut OsRng, value).map_err(|_| anyhow!("sealing the secret failed"))?;
    Ok(B64.encode(sealed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto_box::SecretKey;

    #[test]
    fn the_repository_key_holder_can_open_the_sealed_value() {
        let secret_key = SecretKey::generate(&mut OsRng);
        let public_b64 = B64.encode(secret_key.public_key().as_bytes());

        let sealed = seal(&public_b64, b"arn:aws:iam::123456789012:role/gha-acme-svc").unwrap();

        let opened = secret_key.unseal(&B64.decode(&sealed).unwrap()).unwrap();
        assert_eq!(opened, b"arn:aws:iam::123456789012:role/gha-acme-svc");
    }

    #[test]
    fn the_sealed_value_is_padded_standard_base64_of_48_extra_bytes() {
        let public_b64 = B64.encode(SecretKey::generate(&mut OsRng).public_key().as_bytes());
        let sealed = seal(&public_b64, b"eu-west-1").unwrap();
        assert_eq!(B64.decode(&sealed).unwrap().len(), 48 + "eu-west-1".len());
        assert_eq!(sealed.len() % 4, 0);
    }

    #[test]
    fn a_key_of_the_wrong_length_is_refused() {
        assert!(seal(&B64.encode([1u8; 16]), b"x").is_err());
        assert!(seal("not base64!", b"x").is_err());
    }
}
