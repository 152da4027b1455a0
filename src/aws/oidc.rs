//! Reading the account's OIDC provider back, for the drift check (the ensure is in `iam_role.rs`).

use super::{Aws, error::OptionalExt};
use crate::provider::{ProviderError, System};

/// The OIDC provider as IAM describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcProviderView {
    /// As IAM returns it: the issuer URL without `https://`.
    pub url: String,
    pub client_ids: Vec<String>,
}

impl Aws {
    /// The provider with this ARN, or `None` when it does not exist.
    #[tracing::instrument(skip_all)]
    pub async fn find_oidc_provider(&self, arn: &str) -> Result<Option<OidcProviderView>, ProviderError> {
        let found = self
            .call(System::Iam, "iam:GetOpenIDConnectProvider", || {
                self.iam.get_open_id_connect_provider().open_id_connect_provider_arn(arn).send()
            })
            .await
            .optional()?;
        Ok(found.map(|out| OidcProviderView {
            url: out.url().unwrap_or_default().trim_start_matches("https://").to_owned(),
            client_ids: out.client_id_list().to_vec(),
        }))
    }
}
