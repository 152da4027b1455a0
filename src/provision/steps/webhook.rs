//! The repository's `workflow_run` webhook: where GitHub can reach Shipyard (`SHIPYARD_WEBHOOK_URL`),
//! a finished run wakes the parked first build at once instead of at its next look. Its secret is
//! derived from the server key and the repository's id (`github::webhooks`), so it is never recorded.

use serde::{Deserialize, Serialize};

use super::{Cx, Ensured, Phase, Step, github::GithubRepository};
use crate::{domain::StepName, github::webhooks::repository_secret, provider::ProviderError};

pub struct GithubWebhook;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookOutput {
    /// The hook's id on GitHub; none when webhooks are off.
    #[serde(default)]
    pub hook_id: Option<u64>,
    /// Where it posts (no secret in it), or why there is no hook.
    pub note: String,
}

impl Step for GithubWebhook {
    const NAME: StepName = StepName::GithubWebhook;
    const LABEL: &'static str = "Webhook for build events";
    const PHASE: Phase = Phase::Create;
    const DEPENDS_ON: &'static [StepName] = &[StepName::GithubRepository];
    // Without the hook the first build is still polled: a refusal (a credential without the
    // webhooks permission) is shown, not fatal.
    const BEST_EFFORT: bool = true;
    type Output = WebhookOutput;

    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<WebhookOutput>, ProviderError> {
        let Some(webhooks) = &cx.settings.webhooks else {
            let note = "webhooks are off (SHIPYARD_WEBHOOK_URL is not set): the first build is polled".into();
            return Ok(Ensured::Done(WebhookOutput { hook_id: None, note }));
        };
        let repo = cx.output::<GithubRepository>()?;
        let secret = repository_secret(&webhooks.key, repo.id);
        let url = webhooks.url.as_str();
        let id =
            cx.providers.github.ensure_workflow_run_hook(repo.owner(), repo.name(), url, &secret).await?;
        Ok(Ensured::Done(WebhookOutput { hook_id: Some(id), note: format!("workflow_run events to {url}") }))
    }
}
